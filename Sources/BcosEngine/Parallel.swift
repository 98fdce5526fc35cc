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
    /// Worker threads of the engine: the cores this process may run on (its CPU affinity, which `taskset`, Slurm
    /// and container cpusets narrow), else the machine's. BLAS runs single-threaded inside them.
    nonisolated(unsafe) public static var threads: Int = allowedCores ?? ProcessInfo.processInfo.activeProcessorCount

    /// The number of cores in this process's affinity mask (Linux: `Cpus_allowed_list` of /proc/self/status,
    /// e.g. `0-3,8`), nil where it cannot be read.
    static var allowedCores: Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }) else { return nil }
        return coreCount(list: line.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces))
    }

    /// The cores in a Linux CPU list such as `0-3,8`; nil if it does not parse.
    static func coreCount(list: String) -> Int? {
        var n = 0
        for part in list.split(separator: ",") {
            let ends = part.split(separator: "-").map { Int($0) }
            guard !ends.isEmpty, ends.count <= 2, let lo = ends.first!, let hi = ends.last!, lo <= hi else { return nil }
            n += hi - lo + 1
        }
        return n > 0 ? n : nil
    }

    /// Puts OpenBLAS in single-threaded mode once (its own threads would spin against ours) and returns `threads`.
    static var prepared: Int {
        _ = blasSetup
        return threads
    }

    private static let blasSetup: Void = GEMM.setThreads(1)
}

/// Reusable scratch buffers, so that hot loops do not fault in fresh multi-megabyte pages on every call.
enum Scratch {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var free: [(pointer: UnsafeMutablePointer<Float>, capacity: Int)] = []

    /// Lends `body` a buffer of at least `count` floats (contents undefined); thread-safe.
    static func with<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
        let want = max(count, 1)
        lock.lock()
        var buffer: (pointer: UnsafeMutablePointer<Float>, capacity: Int)
        if let i = free.firstIndex(where: { $0.capacity >= want }) {
            buffer = free.remove(at: i)
        } else {
            buffer = (.allocate(capacity: want), want)
        }
        lock.unlock()
        defer {
            lock.lock()
            free.append(buffer)
            // Keep a handful; release the smallest beyond that.
            if free.count > 8, let smallest = free.indices.min(by: { free[$0].capacity < free[$1].capacity }) {
                free.remove(at: smallest).pointer.deallocate()
            }
            lock.unlock()
        }
        return body(buffer.pointer)
    }
}

/// Lets `parallelFor` hand a non-escaping loop body to Dispatch; the body only touches disjoint memory.
private struct UncheckedClosure: @unchecked Sendable {
    let body: (Int) -> Void
    init(_ body: @escaping (Int) -> Void) { self.body = body }
}
