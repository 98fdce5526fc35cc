import BcosEngine
import Foundation

/// RISE (Petsiuk et al. 2018) as its authors' code generates masks, with the B-cos paper's settings
/// (BCOS_REFERENCE §7):
///
///     saliency = Σ_i p_i M_i / (N · p)
///
/// - Masks: an s x s grid of cells kept with probability p, bilinearly upsampled (skimage `resize`, order 1,
///   mode "reflect") to (s + 1)·cell with cell = ⌈H / s⌉ (per axis), then cropped to H x W at a random offset in
///   [0, cell) per axis, exactly as RISE's `generate_masks`. s = 8, p = 0.1 as in the paper and RISE's code.
/// - A mask multiplies the RGB image (so hidden pixels go black), which is then encoded. Encoding is affine per
///   pixel, so this is computed as M·x + (1 − M)·black in the encoded space.
/// - p_i: the sigmoid probability of the target class (B-cos models are trained with BCE).
/// - N: 2000 by default. The paper used 500; RISE's own code uses 4000-8000 at 224 px. At 32 px, 500 masks leave
///   visible sampling noise and 2000 give a stable map at four times the cost (one forward pass per mask,
///   `batchSize` masks per pass).
/// - The masks come from `seed` (SplitMix64), so a map is reproducible. The v1 code's bug (only the last batch
///   counted) is not reproduced: every mask counts.
public struct RISE: AttributionMethod {
    public let name = "rise"
    /// N: number of random masks.
    public var masks: Int
    /// s: cells per side of the random grid.
    public var grid: Int
    /// p: probability that a grid cell is kept.
    public var keepProbability: Float
    public var seed: UInt64
    /// Masked images per forward pass (fewer for large images).
    public var batchSize: Int

    public init(masks: Int = 2000, grid: Int = 8, keepProbability: Float = 0.1, seed: UInt64 = 0, batchSize: Int = 32) {
        precondition(masks >= 1 && grid >= 1 && keepProbability > 0 && keepProbability <= 1 && batchSize >= 1,
                     "RISE needs masks >= 1, grid >= 1, 0 < keepProbability <= 1, batchSize >= 1")
        self.masks = masks
        self.grid = grid
        self.keepProbability = keepProbability
        self.seed = seed
        self.batchSize = batchSize
    }

    public func attribute(_ model: BcosModel, input: Tensor, target: Int) throws -> AttributionMap {
        try attribute(model, input: input, targets: [target])[0]
    }

    /// Every class from the same masked forward passes (the same masks for each).
    public func attribute(_ model: BcosModel, input: Tensor, targets: [Int]) throws -> [AttributionMap] {
        for t in targets { try MethodSupport.check(model, input, target: t, method: name) }
        let h = input.shape[2], w = input.shape[3], p = h * w, c = input.shape[1]
        let black = MethodSupport.blackInput(model, height: h, width: w)
        let batch = model.inferenceBatch(height: h, width: w, preferred: batchSize, budget: 256 << 20)
        let maps = saliencies(height: h, width: w, batch: batch, outputs: targets.count) { masks in
            MethodSupport.logitRows(model, targets: targets, count: masks.count, shape: [c, h, w],
                                    batch: batch) { i, buf in
                let m = masks[i]
                for ch in 0..<c {
                    for e in 0..<p {
                        let k = ch * p + e
                        buf[k] = m[e] * input.data[k] + (1 - m[e]) * black.data[k]
                    }
                }
            }.map { $0.map(sigmoid) }
        }
        return maps.map { AttributionMap(height: h, width: w, values: $0) }
    }

    /// The RISE saliency of any scorer: draws the `masks` masks (`[H*W]` each, values in [0, 1]) in groups of
    /// `batch`, asks `score` for one number per mask, and returns Σ_i score_i M_i / (N · p), `[H*W]`.
    public func saliency(height h: Int, width w: Int, batch: Int,
                         score: (_ masks: [[Float]]) throws -> [Float]) rethrows -> [Float] {
        try saliencies(height: h, width: w, batch: batch, outputs: 1) { try score($0).map { [$0] } }[0]
    }

    /// `saliency` for `outputs` scores per mask at once (one per class), from the same masks: `[outputs][H*W]`.
    public func saliencies(height h: Int, width w: Int, batch: Int, outputs: Int,
                           score: (_ masks: [[Float]]) throws -> [[Float]]) rethrows -> [[Float]] {
        var rng = SplitMix64(seed: seed)
        var sums = [[Double]](repeating: [Double](repeating: 0, count: h * w), count: outputs)
        var done = 0
        while done < masks {
            let group = (0..<min(batch, masks - done)).map { _ in nextMask(height: h, width: w, rng: &rng) }
            let scores = try score(group)
            precondition(scores.count == group.count && scores.allSatisfy { $0.count == outputs },
                         "RISE scorer returned \(scores.count) score rows for \(group.count) masks")
            for (m, row) in zip(group, scores) {
                for o in 0..<outputs {
                    let s = Double(row[o])
                    for e in 0..<(h * w) { sums[o][e] += s * Double(m[e]) }
                }
            }
            done += group.count
        }
        let norm = Double(masks) * Double(keepProbability)
        return sums.map { $0.map { Float($0 / norm) } }
    }

    /// One mask `[H*W]`: a random s x s binary grid, bilinearly upsampled to (s + 1)·cell and cropped at a random
    /// offset.
    func nextMask(height h: Int, width w: Int, rng: inout SplitMix64) -> [Float] {
        let s = grid
        let cells = (0..<(s * s)).map { _ in rng.nextFloat() < keepProbability ? Float(1) : 0 } // [s, s]
        let cellH = (h + s - 1) / s, cellW = (w + s - 1) / s
        let dy = Int(rng.next() % UInt64(cellH)), dx = Int(rng.next() % UInt64(cellW))
        let rows = Self.bilinearTaps(from: s, to: (s + 1) * cellH, offset: dy, count: h)
        let cols = Self.bilinearTaps(from: s, to: (s + 1) * cellW, offset: dx, count: w)
        var across = [Float](repeating: 0, count: s * w) // [s, w]: each grid row interpolated along x
        for r in 0..<s {
            for x in 0..<w {
                let t = cols[x]
                across[r * w + x] = cells[r * s + t.lo] * (1 - t.frac) + cells[r * s + t.hi] * t.frac
            }
        }
        var mask = [Float](repeating: 0, count: h * w)
        for y in 0..<h {
            let t = rows[y]
            for x in 0..<w { mask[y * w + x] = across[t.lo * w + x] * (1 - t.frac) + across[t.hi * w + x] * t.frac }
        }
        return mask
    }

    /// Linear-interpolation taps for output positions `offset ..< offset + count` of a resize from `n` to `size`
    /// samples: half-pixel centres (source = (dest + 1/2) · n / size − 1/2) and mirror edges (index −1 reads 1),
    /// as skimage `resize(order=1, mode="reflect")`.
    static func bilinearTaps(from n: Int, to size: Int, offset: Int, count: Int) -> [(lo: Int, hi: Int, frac: Float)] {
        func mirror(_ i: Int) -> Int {
            guard n > 1 else { return 0 }
            let period = 2 * (n - 1)
            var j = abs(i) % period
            if j >= n { j = period - j }
            return j
        }
        return (offset..<(offset + count)).map { d in
            let src = (Double(d) + 0.5) * Double(n) / Double(size) - 0.5
            let lo = Int(src.rounded(.down))
            return (mirror(lo), mirror(lo + 1), Float(src - Double(lo)))
        }
    }
}
