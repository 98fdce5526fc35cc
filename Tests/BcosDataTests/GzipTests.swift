import BcosData
import XCTest

final class GzipTests: XCTestCase {
    /// Random bytes (incompressible) and a long compressible run, both larger than gunzip's 1 MiB output chunk.
    func testRoundTrip() throws {
        var generator = SplitMix64(seed: 3)
        let random = (0..<(3 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let repetitive = (0..<(5 << 20)).map { UInt8($0 % 7) }
        for data in [random, repetitive, [42]] {
            XCTAssertEqual(try gunzip(gzip(data), name: "x.gz"), data)
        }
        XCTAssertEqual(try gunzip(gzip([]), name: "empty-content.gz"), [])
    }

    func testConcatenatedMembersAndZlibHeader() throws {
        let first = Array("hello, ".utf8), second = Array("world".utf8)
        XCTAssertEqual(try gunzip(gzip(first) + gzip(second), name: "two.gz"), first + second)
        // A zlib stream: header 78 9C, then the same deflate data; inflate with 15 + 32 accepts both.
        let zlibStream: [UInt8] = [0x78, 0x9C, 0xCB, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00, 0x06, 0x2C, 0x02, 0x15]
        XCTAssertEqual(try gunzip(zlibStream, name: "hello.z"), Array("hello".utf8))
    }

    func testCorruptTruncatedAndForeignInput() throws {
        let packed = gzip((0..<100_000).map { UInt8($0 % 251) })
        var corrupt = packed
        for index in 20..<60 { corrupt[index] ^= 0x5A }
        assertDataError(try gunzip(corrupt, name: "bad.gz"), "'bad.gz'", "is not gzip data or is corrupt (zlib: ")
        var wrongCRC = packed
        wrongCRC[wrongCRC.count - 6] ^= 1  // the CRC-32 of the contents, in the trailer
        assertDataError(try gunzip(wrongCRC, name: "crc.gz"), "'crc.gz'", "incorrect data check")
        for keep in [packed.count - 3, packed.count / 2, 5] {
            assertDataError(try gunzip(Array(packed.prefix(keep)), name: "cut.gz"), "'cut.gz'", "is truncated")
        }
        assertDataError(try gunzip(Array("plain text".utf8), name: "a.txt"), "'a.txt'", "not gzip data")
        assertDataError(try gunzip([], name: "none.gz"), "'none.gz'", "is empty")
        assertDataError(try gunzip(packed + Array("junk".utf8), name: "tail.gz"), "'tail.gz'")
    }

    func testOutputLimit() throws {
        let packed = gzip([UInt8](repeating: 0, count: 3 << 20))
        assertDataError(try gunzip(packed, name: "bomb.gz", maxBytes: 1 << 20), "'bomb.gz'", "more than 1048576")
        XCTAssertEqual(try gunzip(packed, name: "ok.gz", maxBytes: 3 << 20).count, 3 << 20)
    }
}
