import BcosData
import XCTest

/// The one-line contract of `DataError` (docs/TESTING.md, "Fuzzing": the fuzz targets check every message).
final class DataErrorTests: XCTestCase {
    /// A file or folder name with a line break (a class folder, say) is escaped, so the message stays one line.
    func testLineBreaksInQuotedNamesAreEscaped() {
        let error = DataError("image 'cats\nand dogs/1.png' is truncated\r\n or corrupt\u{2028}")
        XCTAssertEqual(error.message, #"image 'cats\nand dogs/1.png' is truncated\r\n or corrupt\u{2028}"#)
        XCTAssertEqual(DataError("plain").message, "plain")
    }
}
