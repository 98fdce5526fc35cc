import BcosTestSupport
import XCTest

/// The comparison every oracle test relies on must not let a NaN or an infinity through, wherever it sits.
final class SupportTests: XCTestCase {
    func testCompareFailsOnAnyNonFiniteValue() {
        let ref: [Float] = [0.5, -1, 2, 0.25, 3]
        XCTAssertNil(TestSupport.compare(ref, ref))
        for i in ref.indices {
            for bad in [Float.nan, .infinity, -.infinity] {
                var ours = ref
                ours[i] = bad
                XCTAssertNotNil(TestSupport.compare(ours, ref), "ours[\(i)] = \(bad) must fail")
                XCTAssertNotNil(TestSupport.compare(ref, ours), "ref[\(i)] = \(bad) must fail")
            }
        }
    }

    func testCompareNamesTheWorstElement() throws {
        let message = try XCTUnwrap(TestSupport.compare([1, 2, 3.5, 4], [1, 2, 3, 4], rtol: 1e-3, atol: 0))
        XCTAssertTrue(message.contains("element 2"), message)
        XCTAssertNil(TestSupport.compare([1, 2, 3.001, 4], [1, 2, 3, 4], rtol: 1e-3, atol: 0))
    }
}
