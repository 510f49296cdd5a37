import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One `POST /v1/track`.
public struct UploadRequest: Sendable {
    public var url: URL
    public var headers: [String: String]
    public var body: Data
}

/// The server's answer.
public struct UploadResponse: Sendable {
    public var status: Int
    /// Header names in lower case.
    public var headers: [String: String]
    public var body: Data

    public init(status: Int, headers: [String: String] = [:], body: Data = Data()) {
        self.status = status
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
        self.body = body
    }

    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// Sends one request. Throw for a network failure (the batch is retried);
/// cancellation (at a shutdown deadline) must end the call.
public protocol Transport: Sendable {
    func send(_ request: UploadRequest) async throws -> UploadResponse
}

/// The default transport: URLSession, one request at a time, no cookies, no cache.
public final class URLSessionTransport: Transport {
    private let session: URLSession
    private let timeout: TimeInterval

    public init(timeout: TimeInterval = 30) {
        let c = URLSessionConfiguration.ephemeral
        c.httpCookieStorage = nil
        c.urlCache = nil
        c.timeoutIntervalForRequest = timeout
        c.httpMaximumConnectionsPerHost = 1
        session = URLSession(configuration: c)
        self.timeout = timeout
    }

    public func send(_ request: UploadRequest) async throws -> UploadResponse {
        var r = URLRequest(url: request.url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: timeout)
        r.httpMethod = "POST"
        for (k, v) in request.headers { r.setValue(v, forHTTPHeaderField: k) }
        r.httpBody = request.body
        let task = Locked<URLSessionDataTask?>(nil)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<UploadResponse, Error>) in
                let t = session.dataTask(with: r) { data, response, error in
                    if let error { return cont.resume(throwing: error) }
                    guard let http = response as? HTTPURLResponse else {
                        return cont.resume(throwing: URLError(.badServerResponse))
                    }
                    var headers: [String: String] = [:]
                    for (k, v) in http.allHeaderFields {
                        if let k = k as? String, let v = v as? String { headers[k.lowercased()] = v }
                    }
                    cont.resume(returning: UploadResponse(status: http.statusCode, headers: headers, body: data ?? Data()))
                }
                task.withLock { $0 = t }
                t.resume()
                if Task.isCancelled { t.cancel() }
            }
        } onCancel: {
            task.withLock { $0?.cancel() }
        }
    }
}
