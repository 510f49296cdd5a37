import Foundation
#if canImport(UIKit) && !os(watchOS)
import UIKit
#endif

/// UIKit's lifecycle, where there is one: the client flushes when the app
/// goes to the background (inside a background task, so iOS lets the upload
/// finish) and checks the session when it returns. Elsewhere (macOS, Linux,
/// extensions) call ``Evtrack/applicationDidEnterBackground()`` and
/// ``Evtrack/applicationWillEnterForeground()`` yourself.
enum AppLifecycle {
    #if canImport(UIKit) && !os(watchOS)
    final class Observer: @unchecked Sendable {
        private var tokens: [NSObjectProtocol] = []

        init(_ client: Evtrack) {
            let nc = NotificationCenter.default
            tokens.append(nc.addObserver(forName: UIApplication.didEnterBackgroundNotification, object: nil, queue: .main) { [weak client] _ in
                client?.applicationDidEnterBackground()
            })
            tokens.append(nc.addObserver(forName: UIApplication.willEnterForegroundNotification, object: nil, queue: .main) { [weak client] _ in
                client?.applicationWillEnterForeground()
            })
        }

        deinit { tokens.forEach(NotificationCenter.default.removeObserver) }
    }

    static func observe(_ client: Evtrack) -> AnyObject? { Observer(client) }

    /// Runs work inside a UIKit background task; when iOS ends the task
    /// early, the work is cancelled (its events stay queued).
    static func runInBackground(_ work: @escaping @Sendable () async -> FlushResult) {
        Task { @MainActor in
            let app = UIApplication.shared
            let job = Task { _ = await work() }
            let task = BackgroundTask()
            task.id = app.beginBackgroundTask(withName: "evtrack-flush") {
                job.cancel()
                MainActor.assumeIsolated { task.end(app) }
            }
            await job.value
            task.end(app)
        }
    }

    @MainActor final class BackgroundTask {
        var id = UIBackgroundTaskIdentifier.invalid

        func end(_ app: UIApplication) {
            guard id != .invalid else { return }
            app.endBackgroundTask(id)
            id = .invalid
        }
    }
    #else
    static func observe(_ client: Evtrack) -> AnyObject? { nil }

    static func runInBackground(_ work: @escaping @Sendable () async -> FlushResult) {
        Task { _ = await work() }
    }
    #endif
}
