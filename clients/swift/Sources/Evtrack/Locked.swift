import Foundation

/// A value guarded by a lock. The client's front state (what `track` reads and
/// appends to) lives in one of these; everything else belongs to the
/// ``Pipeline`` actor.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()

    init(_ value: Value) { self.value = value }

    @inline(__always)
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
