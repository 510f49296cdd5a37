import CZlib
import Foundation

enum Gzip {
    /// gzip (RFC 1952) of data, at zlib's default level.
    static func compress(_ input: [UInt8]) -> Data? {
        var s = z_stream()
        // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
        guard deflateInit2_(&s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                            ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { deflateEnd(&s) }
        var out = [UInt8](repeating: 0, count: Int(deflateBound(&s, uLong(input.count))))
        let rc: Int32 = input.withUnsafeBufferPointer { inp in
            out.withUnsafeMutableBufferPointer { o in
                s.next_in = UnsafeMutablePointer(mutating: inp.baseAddress)
                s.avail_in = uInt(inp.count)
                s.next_out = o.baseAddress
                s.avail_out = uInt(o.count)
                return deflate(&s, Z_FINISH)
            }
        }
        guard rc == Z_STREAM_END else { return nil }
        return Data(out[0..<Int(s.total_out)])
    }

    /// The inflated bytes of a gzip stream, at most limit of them (tests and fixtures).
    static func decompress(_ input: Data, limit: Int = 64 << 20) -> Data? {
        var s = z_stream()
        guard inflateInit2_(&s, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { inflateEnd(&s) }
        var out = Data()
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        let input = [UInt8](input)
        return input.withUnsafeBufferPointer { inp -> Data? in
            s.next_in = UnsafeMutablePointer(mutating: inp.baseAddress)
            s.avail_in = uInt(inp.count)
            while true {
                let rc: Int32 = chunk.withUnsafeMutableBufferPointer { c in
                    s.next_out = c.baseAddress
                    s.avail_out = uInt(c.count)
                    return inflate(&s, Z_NO_FLUSH)
                }
                out.append(contentsOf: chunk[0..<(chunk.count - Int(s.avail_out))])
                if out.count > limit { return nil }
                if rc == Z_STREAM_END { return out }
                if rc != Z_OK { return nil }
            }
        }
    }

    /// CRC-32 (zlib's) of bytes.
    static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress else { return 0 }
        return UInt32(CZlib.crc32(0, base.assumingMemoryBound(to: Bytef.self), uInt(bytes.count)))
    }
}
