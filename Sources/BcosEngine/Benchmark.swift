import Foundation

/// Timing helpers behind `bcos bench`. Every ratio is against a baseline measured in the same run.
public enum Benchmark {
    /// Seconds taken by `body`, median of `repeats` runs after `warmup` unmeasured ones.
    public static func median(repeats: Int, warmup: Int = 1, _ body: () -> Void) -> Double {
        for _ in 0..<warmup { body() }
        var times = [Double]()
        for _ in 0..<max(1, repeats) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        times.sort()
        return times[times.count / 2]
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
        let trace = model.network.forward(input, record: true)
        var rows = [ConvTiming]()
        for (i, node) in model.network.nodes.enumerated() {
            guard case .bcosConv(let layer) = node.op, let x = trace.outputs[node.inputs[0]] else { continue }
            let s = layer.conv
            let (oh, ow) = s.outputSize(x.shape[2], x.shape[3])
            let cols = batch * oh * ow
            let flops = 2.0 * Double(s.outChannels) * Double(s.patchSize) * Double(cols)
            let bcos = median(repeats: repeats) { _ = layer.forward(x, record: false) }
            let conv = median(repeats: repeats) { _ = ConvKernels.forward(x, weight: layer.normalizedWeight, shape: s) }
            var b = [Float](repeating: 0.5, count: s.patchSize * cols)
            var c = [Float](repeating: 0, count: s.outChannels * cols)
            let gemm = median(repeats: repeats) {
                layer.normalizedWeight.withUnsafeBufferPointer { wb in
                b.withUnsafeMutableBufferPointer { bb in
                c.withUnsafeMutableBufferPointer { cb in
                    GEMM.sgemm(m: s.outChannels, n: cols, k: s.patchSize, a: wb.baseAddress!, lda: s.patchSize,
                               b: bb.baseAddress!, ldb: cols, c: cb.baseAddress!, ldc: cols)
                }}}
            }
            _ = i
            rows.append(ConvTiming(
                layer: node.name,
                shape: "[\(batch), \(s.inChannels), \(x.shape[2]), \(x.shape[3])] -> [\(batch), \(s.outChannels), \(oh), \(ow)] k\(s.kernelH) s\(s.stride)",
                flops: flops, bcosSeconds: bcos, convSeconds: conv, gemmSeconds: gemm))
        }
        return rows
    }

    /// Sets the number of threads for GEMM and for the engine's own loops.
    public static func setThreads(_ n: Int) {
        GEMM.setThreads(n)
        Engine.threads = n
    }
}
