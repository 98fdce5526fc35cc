import BcosData
import XCTest

/// The one-line contract of `DataError` (docs/TESTING.md, "Fuzzing": the fuzz targets check every message).
final class DataErrorTests: XCTestCase {
    /// A file or folder name with a line break (a class folder, say) or another control character (ESC, which
    /// drives the terminal) is escaped, so the message stays one plain line.
    func testLineBreaksAndControlCharactersInQuotedNamesAreEscaped() {
        let error = DataError("image 'cats\nand dogs/1.png' is truncated\r\n or corrupt\u{2028}\u{1B}[2J\t")
        XCTAssertEqual(error.message, #"image 'cats\nand dogs/1.png' is truncated\r\n or corrupt\u{2028}\u{1B}[2J\t"#)
        XCTAssertEqual(DataError("plain").message, "plain")
    }
}
