import Foundation

/// SLIC superpixels (Achanta et al. 2012), our own implementation for LIME: k-means on (L*, a*, b*, y, x) with a
/// compactness weight, restricted to a neighbourhood of each centre, then connectivity enforced.
///
/// Defaults follow skimage `slic`: compactness 10 in CIELAB, 10 iterations, pieces smaller than half the average
/// superpixel merged into a neighbour (see `connected`). Grayscale images use L* = 100 · v.
public enum SLIC {
    /// Superpixel labels `[H*W]` (0..<count, each one 4-connected) of a planar image `[channels, H, W]` in [0, 1].
    ///
    /// - Parameters:
    ///   - segments: the number of superpixels to aim at (the grid of initial centres); the result may differ a little.
    ///   - compactness: weight m of the spatial distance: D² = d_lab² + (d_xy · m / S)², S = √(H·W / segments).
    public static func segment(_ image: [Float], channels: Int, height h: Int, width w: Int, segments: Int,
                               compactness: Double = 10, iterations: Int = 10) -> (labels: [Int], count: Int) {
        precondition(image.count == channels * h * w && h > 0 && w > 0, "SLIC of \(image.count) values for [\(channels), \(h), \(w)]")
        let p = h * w
        let lab = features(image, channels: channels, pixels: p) // [p, 3]
        let step = (Double(p) / Double(max(1, segments))).squareRoot()
        let ny = max(1, min(h, Int((Double(h) / step).rounded()))), nx = max(1, min(w, Int((Double(w) / step).rounded())))
        // Centres (L, a, b, y, x) on a regular grid: [K, 5].
        var centres = [Double]()
        for i in 0..<ny {
            for j in 0..<nx {
                let y = min(h - 1, Int((Double(i) + 0.5) * Double(h) / Double(ny)))
                let x = min(w - 1, Int((Double(j) + 0.5) * Double(w) / Double(nx)))
                centres += [lab[3 * (y * w + x)], lab[3 * (y * w + x) + 1], lab[3 * (y * w + x) + 2], Double(y), Double(x)]
            }
        }
        let k = centres.count / 5
        let spatial = compactness / step
        let radius = Int((2 * step).rounded(.up))
        var assigned = [Int](repeating: 0, count: p)
        for _ in 0..<max(1, iterations) {
            var best = [Double](repeating: .infinity, count: p)
            for c in 0..<k {
                let cl = centres[5 * c], ca = centres[5 * c + 1], cb = centres[5 * c + 2]
                let cy = centres[5 * c + 3], cx = centres[5 * c + 4]
                let iy = Int(cy.rounded()), ix = Int(cx.rounded())
                for y in max(0, iy - radius)..<min(h, iy + radius + 1) {
                    for x in max(0, ix - radius)..<min(w, ix + radius + 1) {
                        let i = y * w + x
                        let dl = lab[3 * i] - cl, da = lab[3 * i + 1] - ca, db = lab[3 * i + 2] - cb
                        let dy = (Double(y) - cy) * spatial, dx = (Double(x) - cx) * spatial
                        let d = dl * dl + da * da + db * db + dy * dy + dx * dx
                        if d < best[i] {
                            best[i] = d
                            assigned[i] = c
                        }
                    }
                }
            }
            var sums = [Double](repeating: 0, count: 5 * k) // [K, 5]
            var counts = [Double](repeating: 0, count: k)
            for i in 0..<p {
                let c = assigned[i]
                for f in 0..<3 { sums[5 * c + f] += lab[3 * i + f] }
                sums[5 * c + 3] += Double(i / w)
                sums[5 * c + 4] += Double(i % w)
                counts[c] += 1
            }
            for c in 0..<k where counts[c] > 0 {
                for f in 0..<5 { centres[5 * c + f] = sums[5 * c + f] / counts[c] }
            }
        }
        return connected(assigned, height: h, width: w, minSize: max(1, p / max(1, segments) / 2))
    }

    /// Makes every superpixel 4-connected. Each cluster keeps its largest connected piece, and any other piece of
    /// at least `minSize` pixels becomes a superpixel of its own; the remaining fragments are absorbed by growing
    /// the kept pieces into them (breadth first), so a fragment joins the kept piece nearest to it. On noisy images
    /// k-means leaves many small fragments; the SLIC paper's merge-into-the-previous-label would chain them all
    /// into a few giant segments, this keeps about one superpixel per cluster.
    static func connected(_ assigned: [Int], height h: Int, width w: Int, minSize: Int) -> (labels: [Int], count: Int) {
        let p = h * w
        func neighbours(_ i: Int) -> [Int] {
            let y = i / w, x = i % w
            var out = [Int]()
            if y > 0 { out.append(i - w) }
            if y < h - 1 { out.append(i + w) }
            if x > 0 { out.append(i - 1) }
            if x < w - 1 { out.append(i + 1) }
            return out
        }
        // Connected pieces of the k-means assignment.
        var piece = [Int](repeating: -1, count: p)
        var pieceSize = [Int](), pieceCluster = [Int]()
        for start in 0..<p where piece[start] < 0 {
            let id = pieceSize.count
            piece[start] = id
            var queue = [start], head = 0
            while head < queue.count {
                let i = queue[head]
                head += 1
                for j in neighbours(i) where piece[j] < 0 && assigned[j] == assigned[start] {
                    piece[j] = id
                    queue.append(j)
                }
            }
            pieceSize.append(queue.count)
            pieceCluster.append(assigned[start])
        }
        var largest = [Int: Int]() // cluster -> its largest piece
        for id in pieceSize.indices {
            let c = pieceCluster[id]
            if largest[c].map({ pieceSize[id] > pieceSize[$0] }) ?? true { largest[c] = id }
        }
        var label = [Int](repeating: -1, count: pieceSize.count) // piece -> superpixel, -1 for fragments
        var count = 0
        for id in pieceSize.indices where largest[pieceCluster[id]] == id || pieceSize[id] >= minSize {
            label[id] = count
            count += 1
        }
        var labels = piece.map { label[$0] }
        var queue = (0..<p).filter { labels[$0] >= 0 }, head = 0
        while head < queue.count {
            let i = queue[head]
            head += 1
            for j in neighbours(i) where labels[j] < 0 {
                labels[j] = labels[i]
                queue.append(j)
            }
        }
        return (labels, count)
    }

    /// CIELAB (D65) of sRGB pixels, or L* = 100 · v for other channel counts (first channel); `[p, 3]`.
    static func features(_ image: [Float], channels: Int, pixels p: Int) -> [Double] {
        guard channels == 3 else { return (0..<p).flatMap { [100 * Double(image[$0]), 0, 0] } }
        func linear(_ v: Float) -> Double {
            let c = Double(min(1, max(0, v)))
            return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4)
        }
        func f(_ t: Double) -> Double { t > 216.0 / 24389 ? cbrt(t) : (24389.0 / 27 * t + 16) / 116 }
        return (0..<p).flatMap { i in
            let r = linear(image[i]), g = linear(image[p + i]), b = linear(image[2 * p + i])
            let x = (0.412453 * r + 0.357580 * g + 0.180423 * b) / 0.95047
            let y = 0.212671 * r + 0.715160 * g + 0.072169 * b
            let z = (0.019334 * r + 0.119193 * g + 0.950227 * b) / 1.08883
            let fx = f(x), fy = f(y), fz = f(z)
            return [116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)]
        }
    }
}
