import BcosEngine
import Foundation

/// Helpers shared by the post-hoc methods: the black baseline, batched evaluation of perturbed inputs, channel sums.
///
/// Every perturbation the methods make (a black window, a RISE mask, a superpixel set to its mean colour) is built
/// directly in the encoded space. Encoding is affine per pixel (`[x, 1 - x]`), so blending an encoded image with the
/// encoded black image, or averaging encoded values, equals doing the same to the RGB image and encoding the result.
enum MethodSupport {
    /// The encoded black image `[1, C, H, W]`: RGB 0, i.e. `[0, 0, 0, 1, 1, 1]` per pixel with AddInverse
    /// (all zero without it).
    static func blackInput(_ model: BcosModel, height: Int, width: Int) -> Tensor {
        model.encode(Tensor(shape: [1, model.config.imageChannels, height, width]))
    }

    /// Checks the input is one encoded image `[1, C, H, W]` with the model's channel count and a valid class.
    static func check(_ model: BcosModel, _ input: Tensor, target: Int, method: String) throws {
        precondition(input.shape.count == 4 && input.shape[0] == 1 && input.shape[1] == model.config.inputChannels,
                     "\(method) takes one encoded image [1, \(model.config.inputChannels), H, W], got \(input.shape)")
        guard (0..<model.config.numClasses).contains(target) else {
            throw BcosError("class index \(target) is out of range; this model has classes 0...\(model.config.numClasses - 1)")
        }
    }

    /// Images per batched forward + full backward (everything recorded): at most `preferred`, within about 512 MiB.
    static func gradientBatch(_ model: BcosModel, height: Int, width: Int, preferred: Int) -> Int {
        max(1, min(preferred, (512 << 20) / max(1, model.explainBytes(height: height, width: width))))
    }

    /// The logits of classes `targets` for `count` encoded inputs: `[count][targets.count]`.
    static func logitRows(_ model: BcosModel, targets: [Int], count: Int, shape: [Int], batch: Int,
                          fill: (_ i: Int, _ into: UnsafeMutableBufferPointer<Float>) -> Void) -> [[Float]] {
        let per = shape.reduce(1, *)
        var scores = [[Float]]()
        scores.reserveCapacity(count)
        model.logits(count: count, batch: batch, input: { range in
            var x = Tensor(shape: [range.count] + shape) // [n, C, H, W]
            x.data.withUnsafeMutableBufferPointer { buf in
                for (j, i) in range.enumerated() {
                    fill(i, UnsafeMutableBufferPointer(rebasing: buf[(j * per)..<((j + 1) * per)]))
                }
            }
            return x
        }) { range, logits in  // [n, K]
            let k = logits.shape[1]
            for j in 0..<range.count { scores.append(targets.map { logits.data[j * k + $0] }) }
            return true
        }
        return scores
    }

    /// Σ over channels of `[1, C, H, W]` (or `[C, H, W]`), as `[H*W]`.
    static func channelSum(_ t: Tensor) -> [Float] {
        let h = t.shape[t.shape.count - 2], w = t.shape[t.shape.count - 1], p = h * w
        let c = t.count / p
        var out = [Float](repeating: 0, count: p)
        for ch in 0..<c { for i in 0..<p { out[i] += t.data[ch * p + i] } }
        return out
    }

    /// Elementwise `a * b` of equally shaped tensors.
    static func product(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.shape == b.shape, "product of shapes \(a.shape) and \(b.shape)")
        var out = a
        for i in 0..<out.count { out.data[i] *= b.data[i] }
        return out
    }

    /// A map for one image from a per-channel tensor `[1, C, H, W]`: channel sum plus the `[C, H, W]` tensor.
    static func map(perChannel t: Tensor) -> AttributionMap {
        let h = t.shape[2], w = t.shape[3]
        return AttributionMap(height: h, width: w, values: channelSum(t), perChannel: t.item(0))
    }
}
