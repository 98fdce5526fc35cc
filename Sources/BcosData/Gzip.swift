import CZlib

/// Decompresses gzip (or zlib) data with zlib's inflate, which detects the header itself.
///
/// Concatenated gzip members (what `cat a.gz b.gz` or `pigz` produce) decompress to the concatenation of their
/// contents.
///
/// - Parameters:
///   - bytes: the whole compressed stream.
///   - name: what to call the data in error messages, usually its path.
///   - maxBytes: the most output bytes allowed (default 4 GiB), so a corrupt or hostile file cannot exhaust memory.
///   - prefix: stop once this many bytes are out and return them; the rest of the stream is neither inflated nor
///     checked. nil (the default): the whole stream.
/// - Returns: the decompressed bytes (at most `prefix` of them).
/// - Throws: `DataError` naming `name` if the data is empty, not gzip/zlib, corrupt, truncated, or would inflate
///   to more than `maxBytes`.
public func gunzip(_ bytes: [UInt8], name: String, maxBytes: Int = 1 << 32, prefix: Int? = nil) throws -> [UInt8] {
    guard !bytes.isEmpty else {
        throw DataError("file '\(name)' is empty (0 bytes); re-download it")
    }
    var stream = z_stream()
    // 15 + 32: the largest window, and accept either a gzip or a zlib header.
    guard bcos_inflate_init2(&stream, 15 + 32) == Z_OK else {
        throw DataError("cannot decompress '\(name)': zlib failed to start (out of memory?)")
    }
    defer { inflateEnd(&stream) }
    var output: [UInt8] = []
    if bytes.count >= 18, bytes[0] == 0x1F, bytes[1] == 0x8B {
        // A gzip trailer ends with the size of the last member's contents mod 2^32: exact for one member < 4 GiB.
        // Deflate cannot expand more than 1032-fold, which bounds what a corrupt trailer can make us reserve.
        let size = bytes.suffix(4).reversed().reduce(0) { $0 << 8 | Int($1) }
        output.reserveCapacity(min(size, maxBytes, bytes.count * 1032, prefix ?? Int.max))
    }
    // Output comes in chunks of up to 1 MiB; a small input gets a smaller one (any size works, more just loop).
    var chunk = [UInt8](repeating: 0, count: min(1 << 20, max(1 << 12, bytes.count * 4)))
    try bytes.withUnsafeBufferPointer { input in
        guard let base = input.baseAddress else { return }
        var consumed = 0  // bytes of `input` handed to zlib so far; avail_in is 32-bit, so feed at most 4 GiB at once
        while true {
            if stream.avail_in == 0 && consumed < input.count {
                let piece = min(input.count - consumed, Int(UInt32.max))
                stream.next_in = UnsafeMutablePointer(mutating: base + consumed)
                stream.avail_in = UInt32(piece)
                consumed += piece
            }
            let status = chunk.withUnsafeMutableBufferPointer { out in
                stream.next_out = out.baseAddress
                stream.avail_out = UInt32(out.count)
                return inflate(&stream, Z_NO_FLUSH)
            }
            let produced = chunk.count - Int(stream.avail_out)
            guard output.count + produced <= maxBytes else {
                throw DataError("file '\(name)' decompresses to more than \(maxBytes) bytes; "
                                + "it is corrupt or not a dataset file")
            }
            output.append(contentsOf: chunk[..<produced])
            if let prefix, output.count >= prefix {
                output.removeSubrange(prefix...)
                return
            }
            let inputLeft = stream.avail_in > 0 || consumed < input.count
            switch status {
            case Z_STREAM_END:
                guard inputLeft else { return }
                inflateReset(&stream)  // another gzip member follows
            case Z_OK where inputLeft || produced == chunk.count:
                continue
            case Z_OK, Z_BUF_ERROR:
                // All input consumed, output space to spare, and no end of stream: the file stops early.
                throw DataError("file '\(name)' is truncated (the compressed stream ends early); re-download it")
            default:
                let reason = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                throw DataError("file '\(name)' is not gzip data or is corrupt (zlib: \(reason)); re-download it")
            }
        }
    }
    return output
}
