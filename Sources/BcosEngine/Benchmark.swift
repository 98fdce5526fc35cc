import Foundation

/// Timing helpers behind `bcos bench`. Every ratio is against a baseline measured in the same run.
public enum Benchmark {
    /// Seconds taken by `body`, median of `repeats` runs after `warmup` unmeasured ones.
    public static func median(repeats: Int, warmup: Int = 1, _ body: () -> Void) -> Double {
        timed(repeats: repeats, warmup: warmup, body).median
    }

    /// Median and fastest of `repeats` timed runs of `body` after `warmup` unmeasured ones, in seconds. On a shared
    /// machine the fastest run is the least disturbed one.
    public static func timed(repeats: Int, warmup: Int = 1, _ body: () -> Void) -> (median: Double, best: Double) {
        for _ in 0..<warmup { body() }
        var times = [Double]()
        for _ in 0..<max(1, repeats) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        times.sort()
        return (times[times.count / 2], times[0])
    }

    /// Runs each body once per round, `repeats` rounds after one warm-up round; the fastest time of each body.
    public static func interleavedMinimum(repeats: Int, _ bodies: [() -> Void]) -> [Double] {
        var best = [Double](repeating: .infinity, count: bodies.count)
        for round in 0...max(1, repeats) {
            for (i, body) in bodies.enumerated() {
                let t0 = DispatchTime.now().uptimeNanoseconds
                body()
                let t = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                if round > 0 { best[i] = min(best[i], t) }
            }
        }
        return best
    }

    /// One B-cos conv layer timed three ways on the same input.
    public struct ConvTiming: Sendable {
        public var layer: String
        /// `[N, C_in, H, W] -> [N, C_out * M, oh, ow]`, kernel and stride.
        public var shape: String
        /// FLOPs of the plain convolution (2 per multiply-add, MaxOut branches included).
        public var flops: Double
        /// The full B-cos layer (conv + MaxOut + patch norm + dynamic scale).
        public var bcosSeconds: Double
        /// A plain convolution of the same shapes (im2col + GEMM).
        public var convSeconds: Double
        /// The bare `cblas_sgemm` of the same matrix shapes, no im2col.
        public var gemmSeconds: Double
    }

    /// Times every B-cos conv layer of `model` at batch `batch` with random inputs of the right shapes.
    public static func convLayers(_ model: BcosModel, batch: Int, repeats: Int) -> [ConvTiming] {
        var rng = SplitMix64(seed: 7)
        let cfg = model.config
        let input = Tensor(shape: [batch, cfg.inputChannels, cfg.imageSize[0], cfg.imageSize[1]],
                           data: (0..<(batch * cfg.inputChannels * cfg.imageSize[0] * cfg.imageSize[1])).map { _ in rng.nextFloat() })
        let trace = model.network.forward(input, record: .explanation)
        var rows = [ConvTiming]()
        for node in model.network.nodes {
            guard case .bcosConv(let layer) = node.op, let x = trace.outputs[node.inputs[0]] else { continue }
            let s = layer.conv
            let (oh, ow) = s.outputSize(x.shape[2], x.shape[3])
            let cols = batch * oh * ow
            let flops = 2.0 * Double(s.outChannels) * Double(s.patchSize) * Double(cols)
            var b = [Float](repeating: 0.5, count: s.patchSize * cols)
            var c = [Float](repeating: 0, count: s.outChannels * cols)
            let gemm = {
                layer.normalizedWeight.withUnsafeBufferPointer { wb in
                b.withUnsafeMutableBufferPointer { bb in
                c.withUnsafeMutableBufferPointer { cb in
                    _ = Engine.prepared
                    GEMM.parallel(m: s.outChannels, n: cols, k: s.patchSize, a: wb.baseAddress!, lda: s.patchSize,
                                  b: bb.baseAddress!, ldb: cols, c: cb.baseAddress!, ldc: cols)
                }}}
            }
            // Interleaved and best-of-N: the three variants see the same machine noise, and the minimum is the
            // least disturbed run of each.
            let times = interleavedMinimum(repeats: repeats, [
                { _ = layer.forward(x, record: .none) },
                { _ = ConvKernels.forward(x, weight: layer.normalizedWeight, shape: s) },
                gemm,
            ])
            let (bcos, conv, gemmTime) = (times[0], times[1], times[2])
            rows.append(ConvTiming(
                layer: node.name,
                shape: "[\(batch), \(s.inChannels), \(x.shape[2]), \(x.shape[3])] -> [\(batch), \(s.outChannels), \(oh), \(ow)] k\(s.kernelH) s\(s.stride)",
                flops: flops, bcosSeconds: bcos, convSeconds: conv, gemmSeconds: gemmTime))
        }
        return rows
    }

    /// Sets the number of threads for GEMM and for the engine's own loops.
    public static func setThreads(_ n: Int) {
        Engine.threads = max(1, n)
    }
}

extension Benchmark {
    /// Median seconds of the recorded forward pass and of the explanation backward for one image `[1, C, H, W]`.
    public static func explainParts(_ model: BcosModel, _ x: Tensor, repeats: Int) -> (forward: Double, backward: Double) {
        let net = model.network
        let trace = net.forward(x, record: .explanation)
        let last = net.nodes.count - 1
        var seed = Tensor(shape: trace.output.shape)
        seed.data[0] = 1
        let f = median(repeats: repeats, warmup: 2) { _ = net.forward(x, record: .explanation) }
        let b = median(repeats: repeats, warmup: 2) { _ = net.backwardExplain(trace, from: last, seed: seed) }
        return (f, b)
    }
}

extension Benchmark {
    /// Peak resident memory of this process so far, in MiB (getrusage).
    public static func peakResidentMiB() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }
}

extension Benchmark {
    /// "N threads", for report headers.
    public static var threadsDescription: String { "\(Engine.threads) threads" }
}
