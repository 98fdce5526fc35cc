import BcosData
import Foundation
import XCTest

/// An input that hung the IDX reader, found while fuzzing it (docs/TESTING.md, "Fuzzing").
final class IDXFuzzFindingsTests: XCTestCase {
    /// A 1 MB gzip file of zeros (990 members of 1 MiB each) inflated to 1 GB, 4 s in a debug build, before its
    /// magic number was checked; the header is now inflated first.
    func testAGzipBombIsRefusedByItsHeaderBeforeItIsInflated() {
        let member = gzip([UInt8](repeating: 0, count: 1 << 20), level: 9)
        let bomb = Array([[UInt8]](repeating: member, count: 990).joined())
        XCTAssertLessThan(bomb.count, 1 << 20)
        let start = Date()
        assertDataError(try Dataset.parseIDX(bomb, name: "bomb.gz", magic: 0x803), "'bomb.gz'", "magic number is 0x00000000")
        XCTAssertLessThan(Date().timeIntervalSince(start), 1)
    }

    /// A gzipped file longer than its header promises is inflated only one byte past that, and says so.
    func testAGzippedFileLongerThanItsHeaderSaysStopsThere() {
        let labels: [UInt8] = [0, 0, 8, 1, 0, 0, 0, 3] + [UInt8](repeating: 7, count: 1000)
        assertDataError(try Dataset.parseIDX(gzip(labels), name: "long.gz", magic: 0x801),
                        "'long.gz'", "holds more than 3 data bytes", "promises 3 = 3")
        XCTAssertEqual(try Dataset.parseIDX(gzip(Array(labels.prefix(11))), name: "ok.gz", magic: 0x801).data, [7, 7, 7])
    }
}
