import BcosEngine
import Foundation

/// Shared helpers for the test targets: fixture paths and elementwise comparison.
public enum TestSupport {
    /// Repository root (found from this file's path, so tests need no bundle resources).
    public static let repoRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// Path of an engine oracle fixture (`Tests/BcosEngineTests/Fixtures/NAME`).
    public static func fixture(_ name: String) -> String {
        repoRoot + "/Tests/BcosEngineTests/Fixtures/" + name
    }

    /// The oracle tolerance: `max |ours - ref| <= rtol * max |ref| + atol`.
    /// Returns nil when within tolerance, else a message naming the worst element.
    public static func compare(_ ours: [Float], _ ref: [Float], rtol: Double = 1e-4, atol: Double = 1e-6) -> String? {
        guard ours.count == ref.count else { return "element counts differ: \(ours.count) vs \(ref.count)" }
        var worst = 0.0, worstIndex = 0, refMax = 0.0
        for i in ref.indices {
            // A NaN or infinity on either side fails at once: `max` and `<=` would let it slip past.
            guard ours[i].isFinite, ref[i].isFinite else {
                return "non-finite value at element \(i): ours \(ours[i]) ref \(ref[i])"
            }
            refMax = max(refMax, abs(Double(ref[i])))
            let d = abs(Double(ours[i]) - Double(ref[i]))
            if d > worst { worst = d; worstIndex = i }
        }
        let tol = rtol * refMax + atol
        if worst <= tol { return nil }
        return "max |diff| \(worst) > tol \(tol) at element \(worstIndex): ours \(ours[worstIndex]) ref \(ref[worstIndex]) (max |ref| \(refMax))"
    }

    /// A tensor of uniform [0, 1) values.
    public static func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = SplitMix64(seed: seed)
        return Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in rng.nextFloat() })
    }
}
