import Foundation
import Dispatch

/// Runs `body(i)` for `i` in `0..<count`, spread over the machine's cores when the work is large enough.
///
/// - Parameters:
///   - count: number of independent iterations; each must touch disjoint memory.
///   - grain: rough number of scalar operations per iteration; small loops stay on the calling thread.
func parallelFor(_ count: Int, grain: Int = 1 << 16, _ body: (Int) -> Void) {
    if count <= 1 || count * grain < 1 << 17 || Engine.threads <= 1 {
        for i in 0..<count { body(i) }
        return
    }
    let workers = min(Engine.threads, count)
    withoutActuallyEscaping(body) { body in
        let job = UncheckedClosure(body)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var i = w
            while i < count {
                job.body(i)
                i += workers
            }
        }
    }
}

/// Process-wide engine settings.
public enum Engine {
    /// Threads used by the engine's own loops (GEMM threads are set through `GEMM.setThreads`).
    nonisolated(unsafe) public static var threads: Int = ProcessInfo.processInfo.activeProcessorCount
}

/// Lets `parallelFor` hand a non-escaping loop body to Dispatch; the body only touches disjoint memory.
private struct UncheckedClosure: @unchecked Sendable {
    let body: (Int) -> Void
    init(_ body: @escaping (Int) -> Void) { self.body = body }
}
