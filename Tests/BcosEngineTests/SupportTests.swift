@testable import BcosEngine
import BcosTestSupport
import Foundation
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

/// The engine sizes its worker pool from the cores it may run on (taskset, Slurm and cpusets narrow them).
final class EngineThreadsTests: XCTestCase {
    func testCoreListsParse() {
        XCTAssertEqual(Engine.coreCount(list: "0"), 1)
        XCTAssertEqual(Engine.coreCount(list: "0-3,8"), 5)
        XCTAssertEqual(Engine.coreCount(list: "2-2,4-7"), 5)
        XCTAssertNil(Engine.coreCount(list: ""))
        XCTAssertNil(Engine.coreCount(list: "3-1"))
        XCTAssertNil(Engine.coreCount(list: "a-b"))
    }

    func testAllowedCoresAreAtMostTheMachinesCores() throws {
        let n = try XCTUnwrap(Engine.allowedCores, "Linux has /proc/self/status")
        XCTAssertGreaterThanOrEqual(n, 1)
        XCTAssertLessThanOrEqual(n, ProcessInfo.processInfo.processorCount)
    }
}
