import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct FileIOError: Error, CustomStringConvertible {
    var description: String
    var code: Int32
    init(_ what: String, _ path: String, errno e: Int32 = errno) {
        description = "\(what) \(path): \(String(cString: strerror(e)))"
        code = e
    }

    /// The file is fine but cannot be read now: no file descriptor or
    /// memory left, or (iOS Data Protection) locked while the device is.
    var isTemporary: Bool { [EMFILE, ENFILE, ENOMEM, EAGAIN, EBUSY, EPERM, EACCES].contains(code) }
}

/// read(2): FileIO's own `read` would hide it inside the enum.
private func readFD(_ fd: Int32, _ buf: UnsafeMutableRawPointer, _ n: Int) -> Int { read(fd, buf, n) }

/// The few POSIX calls the queue needs, with errors as values.
enum FileIO {
    static func writeFile(_ path: String, _ bytes: [UInt8], fsync sync: Bool) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileIOError("open", path) }
        defer { close(fd) }
        var off = 0
        try bytes.withUnsafeBytes { buf in
            while off < buf.count {
                let n = write(fd, buf.baseAddress! + off, buf.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileIOError("write", path)
                }
                off += n
            }
        }
        if sync, fsync(fd) != 0 { throw FileIOError("fsync", path) }
    }

    static func read(_ path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path).map { [UInt8]($0) }
    }

    /// The whole file, or why not (with errno: a caller can tell a file
    /// that is gone or broken from one that cannot be read for now).
    static func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileIOError("open", path) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { readFD(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileIOError("read", path)
            }
            if n == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<n])
        }
    }

    static func renameFile(_ from: String, _ to: String) throws {
        guard rename(from, to) == 0 else { throw FileIOError("rename", from + " → " + to) }
    }

    /// Makes a rename in dir durable.
    static func syncDirectory(_ dir: String) {
        let fd = open(dir, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    /// Writes path through a temporary file and a rename: readers see the old
    /// content or the new, never a part.
    static func replace(_ path: String, _ bytes: [UInt8], fsync sync: Bool) throws {
        let tmp = path + ".tmp"
        try writeFile(tmp, bytes, fsync: sync)
        try renameFile(tmp, path)
        if sync { syncDirectory((path as NSString).deletingLastPathComponent) }
    }

    static func list(_ dir: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
    }

    static func remove(_ path: String) { unlink(path) }

    static func makeDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw FileIOError("mkdir", path, errno: EIO)
        }
    }
}

/// An exclusive lock on a storage folder (flock on its `lock` file), held
/// while a client uses it: two clients on one queue would send its events
/// twice. The kernel releases it when the process dies.
final class FolderLock: Sendable {
    private let fd: Locked<Int32>

    init(_ dir: String) throws {
        let path = dir + "/lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EvtrackError.storageUnavailable(FileIOError("open", path).description) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw EvtrackError.storageInUse(dir)
        }
        self.fd = Locked(fd)
    }

    func release() {
        fd.withLock { fd in
            guard fd >= 0 else { return }
            flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }
    }

    deinit { release() }
}
