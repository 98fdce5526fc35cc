import BcosData
import CZlib
import Foundation
import XCTest

/// A test case with a fresh temporary folder for each test, removed afterwards.
class ScratchTestCase: XCTestCase {
    private var temporary: TemporaryDirectory?

    override func setUpWithError() throws {
        temporary = try TemporaryDirectory()
    }

    override func tearDown() {
        temporary?.remove()
    }

    /// The path of `name` inside this test's temporary folder.
    func scratch(_ name: String) throws -> String {
        try XCTUnwrap(temporary).path(name)
    }
}

/// Asserts that `expression` throws a one-line `DataError` whose message contains every string of `phrases`
/// (file paths, sizes, the reason).
func assertDataError<T>(_ expression: @autoclosure () throws -> T, _ phrases: String...,
                        file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try expression(), file: file, line: line) { error in
        let message = "\(error)"
        XCTAssertTrue(error is DataError, "not a DataError: \(error)", file: file, line: line)
        XCTAssertFalse(message.contains("\n"), "message is not one line: \(message)", file: file, line: line)
        for phrase in phrases {
            XCTAssertTrue(message.contains(phrase), "message lacks '\(phrase)': \(message)", file: file, line: line)
        }
    }
}

/// `bytes` as a gzip stream (one member), compressed with zlib's deflate.
func gzip(_ bytes: [UInt8], level: Int32 = 6) -> [UInt8] {
    var stream = z_stream()
    precondition(bcos_deflate_init2(&stream, level, 15 + 16) == Z_OK, "deflateInit2 failed")
    defer { deflateEnd(&stream) }
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))))
    var input = bytes
    input.withUnsafeMutableBufferPointer { source in
        output.withUnsafeMutableBufferPointer { target in
            stream.next_in = source.baseAddress
            stream.avail_in = UInt32(source.count)
            stream.next_out = target.baseAddress
            stream.avail_out = UInt32(target.count)
            precondition(deflate(&stream, Z_FINISH) == Z_STREAM_END, "deflate did not finish")
        }
    }
    return Array(output[..<Int(stream.total_out)])
}

/// Writes `bytes` to `path`, creating the folders above it.
func writeFile(_ bytes: [UInt8], to path: String) throws {
    let url = URL(fileURLWithPath: path)
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(bytes).write(to: url)
}

/// The bytes of a file.
func readFile(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}
