import BcosEngine
@testable import BcosExplain
import BcosTestSupport
import Foundation
import XCTest

/// The post-hoc attribution methods (BCOS_REFERENCE §7): one defining property each, on small random models.
final class MethodTests: XCTestCase {
    /// A narrow v1 9-layer net on 16x16 RGB (AddInverse), 4 classes: fast, and deep enough to be non-linear.
    /// B = 2 with the v1 CIFAR-10 layer scale; the temperature brings its logits to O(1), so that sigmoid
    /// probabilities (RISE, LIME) are not saturated.
    static func smallModel(seed: UInt64 = 1, maxOut: Int = 2) throws -> BcosModel {
        let cfg = ModelConfig(numClasses: 4, imageSize: [16, 16], widths: [8, 8, 12, 12, 12, 16, 16, 16],
                              maxOut: maxOut, scale: 0.0562341, logitTemperature: 1000)
        return try BcosModel.random(config: cfg, seed: seed)
    }

    /// An encoded random image `[1, 6, 16, 16]`.
    static func image(_ model: BcosModel, seed: UInt64 = 7) -> Tensor {
        model.encode(TestSupport.random([1, 3, 16, 16], seed: seed))
    }

    /// `g · v` and the central finite difference of the target logit along a random direction v.
    static func directionalDerivative(_ model: BcosModel, _ x: Tensor, target: Int, gradient g: Tensor,
                                      seed: UInt64) -> (analytic: Double, numeric: Double) {
        var direction = TestSupport.random(x.shape, seed: seed)
        for i in 0..<direction.count { direction.data[i] -= 0.5 }
        let analytic = zip(g.data, direction.data).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let eps: Float = 1e-3
        var plus = x, minus = x
        for i in 0..<x.count {
            plus.data[i] += eps * direction.data[i]
            minus.data[i] -= eps * direction.data[i]
        }
        return (analytic, (logit(model, plus, target) - logit(model, minus, target)) / (2 * Double(eps)))
    }

    static func logit(_ model: BcosModel, _ x: Tensor, _ target: Int) -> Double {
        Double(model.logits(x).data[target])
    }

    // MARK: - Gradient-based

    func testGradientMatchesFiniteDifferenceDirectionalDerivative() throws {
        let model = try Self.smallModel()
        let x = Self.image(model)
        let map = try Gradient().attribute(model, input: x, target: 2)
        let g = try XCTUnwrap(map.perChannel)
        XCTAssertEqual(g.shape, [6, 16, 16])
        let (analytic, numeric) = Self.directionalDerivative(model, x, target: 2, gradient: g, seed: 11)
        XCTAssertEqual(analytic, numeric, accuracy: 0.05 * abs(numeric) + 1e-4, "g·v \(analytic) vs finite difference \(numeric)")
        // values are the channel sums of the gradient.
        let sum = (0..<6).reduce(0.0) { $0 + Double(g.data[$1 * 256 + 17]) }
        XCTAssertEqual(Double(map.values[17]), sum, accuracy: 1e-5 * abs(sum))
    }

    /// The full gradient through ConvNeXt's position norm (not detached, unlike explanation mode) and layer scales.
    func testGradientThroughPositionNormMatchesFiniteDifferences() throws {
        var cfg = try Zoo.config("convnext_tiny", numClasses: 3)
        cfg.depths = [1, 1]
        cfg.dims = [4, 8]
        cfg.imageSize = [16, 16]
        var model = try BcosModel.random(config: cfg, seed: 2)
        // Random norm weights and layer scales instead of the all-ones initialisation.
        var weights = Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.name, $0.tensor) })
        var rng = SplitMix64(seed: 4)
        for (k, t) in weights where !k.hasSuffix("linear.weight") {
            weights[k] = Tensor(shape: t.shape, data: t.data.map { _ in 0.5 + rng.nextFloat() })
        }
        model = try BcosModel(config: cfg, weights: weights, source: "test")
        let x = Self.image(model)
        let g = try XCTUnwrap(try Gradient().attribute(model, input: x, target: 1).perChannel)
        let (analytic, numeric) = Self.directionalDerivative(model, x, target: 1, gradient: g, seed: 12)
        XCTAssertGreaterThan(abs(numeric), 1e-3, "the check must not be trivially satisfied")
        XCTAssertEqual(analytic, numeric, accuracy: 0.02 * abs(numeric), "g·v \(analytic) vs finite difference \(numeric)")
        // Explanation mode detaches the deviation: a different, linear map whose contributions sum to the logit.
        let e = try model.explain(x, target: .logit(1))
        XCTAssertLessThan(e.completenessError, 1e-4 * abs(e.explainedValue) + 1e-6)
    }

    func testInputXGradientIsInputTimesGradient() throws {
        let model = try Self.smallModel()
        let x = Self.image(model)
        let g = try XCTUnwrap(Gradient().attribute(model, input: x, target: 1).perChannel)
        let ixg = try InputXGradient().attribute(model, input: x, target: 1)
        XCTAssertEqual(try XCTUnwrap(ixg.perChannel).data, (0..<x.count).map { x.data[$0] * g.data[$0] })
        // Not the B-cos contribution map: the full gradient differs from W(x).
        let bcos = try BcosContributions().attribute(model, input: x, target: 1)
        XCTAssertNotNil(TestSupport.compare(ixg.values, bcos.values, rtol: 1e-3, atol: 0))
    }

    /// At B = 1 the net is piecewise linear (MaxOut of plain linear units), so its gradient is W(x) itself and the
    /// B-cos contribution map is Input×Gradient: the B = 1 row of the CIFAR-10 localisation table rests on this.
    func testAtBEqualOneTheContributionMapIsInputXGradient() throws {
        let cfg = ModelConfig(numClasses: 4, imageSize: [16, 16], widths: [8, 8, 12, 12, 12, 16, 16, 16],
                              b: 1, maxOut: 2, scale: 1.778279, logitTemperature: 1000)
        let model = try BcosModel.random(config: cfg, seed: 5)
        let x = Self.image(model)
        let ixg = try InputXGradient().attribute(model, input: x, target: 2)
        let bcos = try BcosContributions().attribute(model, input: x, target: 2)
        XCTAssertGreaterThan(bcos.values.map { abs($0) }.max() ?? 0, 0, "a zero map would pass trivially")
        XCTAssertNil(TestSupport.compare(ixg.values, bcos.values, rtol: 1e-4, atol: 1e-7))
    }

    func testDeepLiftIsInputXGradientForAZeroBaseline() throws {
        let model = try Self.smallModel()
        let x = Self.image(model)
        let ixg = try InputXGradient().attribute(model, input: x, target: 3)
        XCTAssertEqual(try DeepLift().attribute(model, input: x, target: 3).values, ixg.values)
        // With the black baseline it is (x − x̄) · ∇f(x).
        let black = model.encode(Tensor(shape: [1, 3, 16, 16]))
        let g = try XCTUnwrap(Gradient().attribute(model, input: x, target: 3).perChannel)
        let d = try XCTUnwrap(DeepLift(baseline: black).attribute(model, input: x, target: 3).perChannel)
        XCTAssertEqual(d.data, (0..<x.count).map { (x.data[$0] - black.data[$0]) * g.data[$0] })
    }

    func testGaussLegendreMatchesKnownRules() {
        func check(_ n: Int, _ nodes: [Double], _ weights: [Double]) {
            // Known rules on [-1, 1], mapped to [0, 1].
            let (t, w) = IntegratedGradients.gaussLegendre(n)
            let sorted = nodes.sorted()
            for i in 0..<n {
                XCTAssertEqual(t[i], (1 + sorted[i]) / 2, accuracy: 1e-14, "n=\(n) node \(i)")
                XCTAssertEqual(w[i], weights[nodes.firstIndex(of: sorted[i])!] / 2, accuracy: 1e-14, "n=\(n) weight \(i)")
            }
        }
        check(2, [-1 / 3.0.squareRoot(), 1 / 3.0.squareRoot()], [1, 1])
        check(3, [-(0.6.squareRoot()), 0, 0.6.squareRoot()], [5.0 / 9, 8.0 / 9, 5.0 / 9])
        let a = (5 - 2 * (10.0 / 7).squareRoot()).squareRoot() / 3, b = (5 + 2 * (10.0 / 7).squareRoot()).squareRoot() / 3
        let wa = (322 + 13 * 70.0.squareRoot()) / 900, wb = (322 - 13 * 70.0.squareRoot()) / 900
        check(5, [-b, -a, 0, a, b], [wb, wa, 128.0 / 225, wa, wb])
        // 50 points: weights sum to 1 and the rule integrates x^99 on [0, 1] exactly (degree 2n − 1).
        let (t, w) = IntegratedGradients.gaussLegendre(50)
        XCTAssertEqual(w.reduce(0, +), 1, accuracy: 1e-13)
        XCTAssertTrue(zip(t, t.dropFirst()).allSatisfy { $0 < $1 } && t.first! > 0 && t.last! < 1)
        XCTAssertEqual(zip(t, w).reduce(0) { $0 + $1.1 * pow($1.0, 99) }, 1.0 / 100, accuracy: 1e-13)
    }

    func testIntegratedGradientsCompletenessImprovesWithSteps() throws {
        // Without MaxOut a B = 2 net is continuously differentiable (lin·|lin|), so the quadrature converges
        // steadily; MaxOut switches along the path make the error of a given step count erratic.
        let model = try Self.smallModel(maxOut: 1)
        let x = Self.image(model)
        let fine = try IntegratedGradients().integrate(model, input: x, target: 0)
        let coarse = try IntegratedGradients(steps: 5).integrate(model, input: x, target: 0)
        let gap = abs(Double(fine.logit) - Double(fine.baselineLogit))
        XCTAssertGreaterThan(gap, 1e-2, "input and black baseline should score differently")
        XCTAssertLessThan(fine.completenessError, 0.05 * gap, "δ \(fine.completenessError) vs |f(x) − f(x̄)| \(gap)")
        XCTAssertLessThan(fine.completenessError, 0.2 * coarse.completenessError)
        XCTAssertEqual(Double(fine.logit), Self.logit(model, x, 0), accuracy: 1e-5)
        // The batch size changes only the rounding.
        let oneByOne = try IntegratedGradients(batchSize: 1).attribute(model, input: x, target: 0)
        XCTAssertNil(TestSupport.compare(oneByOne.values, fine.map.values, rtol: 1e-4, atol: 1e-7))
    }

    func testGradCAMIsNonNegativeAndConstantOnTheFeatureGrid() throws {
        let model = try Self.smallModel()
        let x = Self.image(model)
        // The input of the classifier (layer 8) is the output of layer 7.
        XCTAssertEqual(model.network.nodes[try GradCAM.layer(of: model)].name, "7")
        var positive = 0
        for target in 0..<4 {
            let map = try GradCAM().attribute(model, input: x, target: target)
            XCTAssertTrue(map.values.allSatisfy { $0 >= 0 })
            positive += map.values.filter { $0 > 0 }.count
            // 16 px at stride 4: every 4x4 block shows one cell of the 4x4 map.
            for y in 0..<16 { for xx in 0..<16 { XCTAssertEqual(map.values[y * 16 + xx], map.values[(y / 4 * 4) * 16 + xx / 4 * 4]) } }
        }
        XCTAssertGreaterThan(positive, 0, "some class should have a non-zero CAM")
    }

    // MARK: - Perturbation-based

    func testOcclusionOfAnAlreadyBlackRegionIsZero() throws {
        let model = try Self.smallModel()
        var rgb = TestSupport.random([1, 3, 16, 16], seed: 3)
        for c in 0..<3 { for y in 0..<8 { for x in 0..<8 { rgb.data[c * 256 + y * 16 + x] = 0 } } }
        let method = Occlusion(window: 4, stride: 2)
        let map = try method.attribute(model, input: model.encode(rgb), target: 1)
        // Pixels in rows and columns 0...5 are covered only by windows inside the black 8x8 corner.
        for y in 0..<6 { for x in 0..<6 { XCTAssertEqual(map.values[y * 16 + x], 0, "(\(y), \(x))") } }
        XCTAssertGreaterThan(map.values.filter { $0 != 0 }.count, 100)
        // The default geometry: 8x8 window, stride 4 at 32 px, scaled with the image.
        XCTAssertTrue(try Occlusion().geometry(height: 32, width: 32) == (8, 4))
        XCTAssertTrue(try Occlusion().geometry(height: 224, width: 224) == (56, 28))
        XCTAssertThrowsError(try Occlusion(window: 4, stride: 5).geometry(height: 16, width: 16))
    }

    func testOcclusionAveragesTheDropsOfTheWindowsCoveringAPixel() throws {
        // One window the size of the image: every pixel gets f(x) − f(black).
        let model = try Self.smallModel()
        let x = Self.image(model)
        let map = try Occlusion(window: 16, stride: 16).attribute(model, input: x, target: 2)
        let black = model.encode(Tensor(shape: [1, 3, 16, 16]))
        let drop = Self.logit(model, x, 2) - Self.logit(model, black, 2)
        for v in map.values { XCTAssertEqual(Double(v), drop, accuracy: 1e-4 * abs(drop) + 1e-6) }
    }

    /// Against the definition with full forward passes: windows of 5, stride 3 on 16 px (the last ones cut at the
    /// border), each pixel the mean drop of the windows covering it.
    func testOcclusionEqualsFullForwardPasses() throws {
        let model = try Self.smallModel()
        let x = Self.image(model)
        let black = model.encode(Tensor(shape: [1, 3, 16, 16]))
        let maps = try Occlusion(window: 5, stride: 3).attribute(model, input: x, targets: [0, 3])
        for (t, map) in zip([0, 3], maps) {
            var total = [Double](repeating: 0, count: 256), covered = [Double](repeating: 0, count: 256)
            let starts = [0, 3, 6, 9, 12]  // ceil((16 - 5) / 3) + 1 = 5 placements per axis; the last is cut to 4 px
            for y0 in starts {
                for x0 in starts {
                    var occluded = x
                    for c in 0..<6 {
                        for y in y0..<min(16, y0 + 5) {
                            for xx in x0..<min(16, x0 + 5) { occluded.data[c * 256 + y * 16 + xx] = black.data[c * 256 + y * 16 + xx] }
                        }
                    }
                    let drop = Self.logit(model, x, t) - Self.logit(model, occluded, t)
                    for y in y0..<min(16, y0 + 5) {
                        for xx in x0..<min(16, x0 + 5) {
                            total[y * 16 + xx] += drop
                            covered[y * 16 + xx] += 1
                        }
                    }
                }
            }
            let expected = (0..<256).map { Float(total[$0] / covered[$0]) }
            XCTAssertGreaterThan(expected.map { abs($0) }.max() ?? 0, 1e-3, "a flat map would pass trivially")
            XCTAssertNil(TestSupport.compare(map.values, expected, rtol: 1e-4, atol: 1e-6), "class \(t)")
            // The baseline that runs full forward passes gives the same map.
            let full = try Occlusion(window: 5, stride: 3, localPasses: false).attribute(model, input: x, target: t)
            XCTAssertNil(TestSupport.compare(map.values, full.values, rtol: 1e-4, atol: 1e-6), "class \(t), full passes")
        }
    }

    func testRISEFindsTheOnlyRegionThatMatters() {
        // A scorer that looks only at rows 10...13, columns 2...5: its mean visibility there.
        let region = Set((10..<14).flatMap { y in (2..<6).map { y * 16 + $0 } })
        let rise = RISE(masks: 500, seed: 5)
        let sal = rise.saliency(height: 16, width: 16, batch: 64) { masks in
            masks.map { m in region.reduce(0) { $0 + m[$1] } / Float(region.count) }
        }
        let inside = region.map { sal[$0] }.reduce(0, +) / Float(region.count)
        let outside = (0..<256).filter { !region.contains($0) }.map { sal[$0] }
        let best = sal.indices.max { sal[$0] < sal[$1] }!
        XCTAssertTrue(region.contains(best), "saliency peaks at \(best / 16), \(best % 16)")
        XCTAssertGreaterThan(inside, 1.5 * outside.reduce(0, +) / Float(outside.count))
        // A constant scorer gives about 1 everywhere: masks keep a fraction p of the image on average.
        let flat = rise.saliency(height: 16, width: 16, batch: 64) { Array(repeating: 1, count: $0.count) }
        XCTAssertEqual(flat.reduce(0, +) / 256, 1, accuracy: 0.1)
    }

    /// Several classes at once (one twice, out of order) against references made one class at a time without the
    /// multi-target path: Captum per class for its six methods and the official explanation mode for the B-cos map
    /// (`CaptumFixture`), and for RISE and LIME naive reimplementations from the same seeded mask and sample
    /// streams (`naiveRISE`, `naiveLIME`) on the small model, whose O(1) logits keep the probabilities unsaturated.
    func testMultiTargetAttributionEqualsOneClassAtATime() throws {
        let f = try CaptumFixture.load()
        let targets = [f.targets[1], f.targets[0], f.targets[1], f.targets[2]]
        for (method, mapKey, channelKey) in CaptumFixture.methods {
            let maps = try method.attribute(f.model, input: f.input, targets: targets)
            XCTAssertEqual(maps.count, targets.count, method.name)
            for (t, map) in zip(targets, maps) {
                for problem in try f.problems(map, mapKey: mapKey, channelKey: channelKey, target: t) {
                    XCTFail("\(method.name) class \(t) among \(targets): \(problem)")
                }
            }
        }
        XCTAssertThrowsError(try Occlusion().attribute(f.model, input: f.input, targets: [0, 99]))

        let model = try Self.smallModel()
        let x = Self.image(model)
        let classes = [2, 0, 2, 1, 3]
        // Scores differ from the naive ones only by float32 rounding of batched against single forward passes: logits
        // of size ~1 to ~1e-6, so probabilities to ~1e-6. A RISE value is a weighted mean of them (weights Σ M_i / Np
        // ≈ 1), and the ridge fit (alpha 1, 40 samples) moves a coefficient by at most √40 / 2 ≈ 3 times that.
        let rise = RISE(masks: 40, seed: 3, batchSize: 16)
        for (t, map) in zip(classes, try rise.attribute(model, input: x, targets: classes)) {
            let expected = Self.naiveRISE(rise, model, x, target: t)
            XCTAssertGreaterThan((expected.max() ?? 0) - (expected.min() ?? 0), 1e-2, "a flat map would pass trivially")
            XCTAssertNil(TestSupport.compare(map.values, expected, rtol: 0, atol: 1e-5), "rise class \(t)")
        }
        let lime = LIME(samples: 40, seed: 3, batchSize: 16)
        for (t, result) in zip(classes, try lime.explain(model, input: x, targets: classes)) {
            let (segments, coefficients) = Self.naiveLIME(lime, model, x, target: t)
            XCTAssertEqual(result.segments, segments, "lime class \(t)")
            XCTAssertGreaterThan(coefficients.map { abs($0) }.max() ?? 0, 1e-2, "zero coefficients would pass trivially")
            XCTAssertNil(TestSupport.compare(result.coefficients.map { Float($0) }, coefficients.map { Float($0) },
                                             rtol: 0, atol: 3e-5), "lime class \(t)")
        }
        // The distinct classes really differ, so a map given to the wrong class fails.
        let first = try rise.attribute(model, input: x, targets: [0, 1])
        XCTAssertNotNil(TestSupport.compare(first[0].values, first[1].values, rtol: 0, atol: 1e-3))
    }

    /// RISE for one class, written out: every mask from the seeded stream, applied to the RGB image, encoded, scored
    /// by the sigmoid of one full forward pass each, and Σ_i p_i M_i / (N p).
    static func naiveRISE(_ rise: RISE, _ model: BcosModel, _ x: Tensor, target: Int) -> [Float] {
        let h = x.shape[2], w = x.shape[3], p = h * w
        var rng = SplitMix64(seed: rise.seed)
        var sum = [Double](repeating: 0, count: p)
        for _ in 0..<rise.masks {
            let m = rise.nextMask(height: h, width: w, rng: &rng)
            var rgb = Tensor(shape: [1, 3, h, w])
            for ch in 0..<3 { for e in 0..<p { rgb.data[ch * p + e] = m[e] * x.data[ch * p + e] } }
            let score = 1 / (1 + exp(-logit(model, model.encode(rgb), target)))
            for e in 0..<p { sum[e] += score * Double(m[e]) }
        }
        return sum.map { Float($0 / (Double(rise.masks) * Double(rise.keepProbability))) }
    }

    /// LIME for one class, written out: the SLIC superpixels, the seeded on/off samples (the first all on), each
    /// scored by one full forward pass with the off superpixels at their mean colour, lime's kernel on the cosine
    /// distance, and ridge regression with an unpenalised intercept solved as one augmented system
    /// `(Aᵀ W A + diag(0, α, …, α)) θ = Aᵀ W y`, A = [1 | Z], by Gaussian elimination.
    static func naiveLIME(_ lime: LIME, _ model: BcosModel, _ x: Tensor, target: Int) -> (segments: [Int], coefficients: [Double]) {
        let c = x.shape[1], h = x.shape[2], w = x.shape[3], p = h * w
        let (labels, k) = SLIC.segment(Array(x.data[0..<(3 * p)]), channels: 3, height: h, width: w,
                                       segments: lime.segmentCount(height: h, width: w), compactness: lime.compactness)
        var mean = [[Double]](repeating: [Double](repeating: 0, count: k), count: c)
        for ch in 0..<c {
            for s in 0..<k {
                let pixels = (0..<p).filter { labels[$0] == s }
                mean[ch][s] = pixels.reduce(0.0) { $0 + Double(x.data[ch * p + $1]) } / Double(pixels.count)
            }
        }
        var rng = SplitMix64(seed: lime.seed)
        var a = [[Double]](repeating: [Double](repeating: 0, count: k + 1), count: k + 1), b = [Double](repeating: 0, count: k + 1)
        for i in 0..<lime.samples {
            let z = i == 0 ? [Bool](repeating: true, count: k) : (0..<k).map { _ in rng.next() & 1 == 1 }
            var image = x
            for ch in 0..<c { for e in 0..<p where !z[labels[e]] { image.data[ch * p + e] = Float(mean[ch][labels[e]]) } }
            let y = 1 / (1 + exp(-logit(model, image, target)))
            let on = Double(z.filter { $0 }.count)
            let distance = on == 0 ? 1 : 1 - on / (on.squareRoot() * Double(k).squareRoot())
            let weight = exp(-distance * distance / (lime.kernelWidth * lime.kernelWidth)).squareRoot()
            let row = [1.0] + z.map { $0 ? 1.0 : 0.0 }
            for r in 0...k {
                b[r] += weight * row[r] * y
                for q in 0...k { a[r][q] += weight * row[r] * row[q] }
            }
        }
        for r in 1...k { a[r][r] += lime.alpha }
        for col in 0...k {
            let pivot = (col...k).max { abs(a[$0][col]) < abs(a[$1][col]) }!
            a.swapAt(col, pivot)
            b.swapAt(col, pivot)
            for r in (col + 1)..<(k + 1) {
                let factor = a[r][col] / a[col][col]
                for q in col...k { a[r][q] -= factor * a[col][q] }
                b[r] -= factor * b[col]
            }
        }
        var theta = [Double](repeating: 0, count: k + 1)
        for r in stride(from: k, through: 0, by: -1) {
            theta[r] = (b[r] - ((r + 1)..<(k + 1)).reduce(0.0) { $0 + a[r][$1] * theta[$1] }) / a[r][r]
        }
        return (labels, Array(theta.dropFirst()))
    }

    func testRISEMasksAreSmoothUpsampledGrids() {
        var rng = SplitMix64(seed: 1)
        let rise = RISE()
        let mask = rise.nextMask(height: 32, width: 32, rng: &rng)
        XCTAssertTrue(mask.allSatisfy { $0 >= 0 && $0 <= 1 })
        // Bilinear upsampling: neighbouring pixels differ by at most one cell's slope (1 / cell size = 1/4).
        for y in 0..<32 { for x in 0..<31 { XCTAssertLessThanOrEqual(abs(mask[y * 32 + x + 1] - mask[y * 32 + x]), 0.25 + 1e-6) } }
        // skimage resize taps: 8 -> 36 samples, output 0 reads source −0.39 (mirrored to 1) and 0.
        let taps = RISE.bilinearTaps(from: 8, to: 36, offset: 0, count: 2)
        XCTAssertEqual(taps[0].lo, 1)
        XCTAssertEqual(taps[0].hi, 0)
        XCTAssertEqual(Double(taps[0].frac), 1 - (0.5 * 8 / 36 - 0.5).magnitude, accuracy: 1e-6)
    }

    func testLIMERecoversAPlantedLinearModel() {
        let k = 20
        var rng = SplitMix64(seed: 9)
        let beta = (0..<k).map { _ in Double(rng.nextFloat()) - 0.5 }
        let score: ([[Bool]]) -> [Float] = { samples in
            samples.map { z in Float(0.3 + zip(z, beta).reduce(0) { $0 + ($1.0 ? $1.1 : 0) }) }
        }
        // Ridge alpha 1 shrinks a little; the kernel weights sum to ~250 over 500 samples.
        let (coef, intercept) = LIME().regress(features: k, batch: 50, score: score)
        for f in 0..<k { XCTAssertEqual(coef[f], beta[f], accuracy: 0.03, "feature \(f)") }
        XCTAssertEqual(intercept, 0.3, accuracy: 0.1)
        // Without the penalty the fit is exact (noise-free targets).
        let (exact, b0) = LIME(alpha: 1e-9).regress(features: k, batch: 50, score: score)
        for f in 0..<k { XCTAssertEqual(exact[f], beta[f], accuracy: 1e-5) }
        XCTAssertEqual(b0, 0.3, accuracy: 1e-5)
    }

    func testLIMEKernelOnCosineDistance() {
        XCTAssertEqual(LIME.kernel([true, true, true, true], width: 0.25), 1, accuracy: 1e-12)
        // Half on: d = 1 − √½, weight = √exp(−d² / 0.0625).
        let d = 1 - 0.5.squareRoot()
        XCTAssertEqual(LIME.kernel([true, false, true, false], width: 0.25), exp(-d * d / 0.0625).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(LIME.kernel([false, false], width: 0.25), exp(-1 / 0.0625).squareRoot(), accuracy: 1e-12)
    }

    func testSLICGivesConnectedSuperpixelsThatRespectEdges() {
        // 32x32: left half red, right half blue, with mild noise.
        var rng = SplitMix64(seed: 4)
        var image = [Float](repeating: 0, count: 3 * 1024)
        for y in 0..<32 {
            for x in 0..<32 {
                let noise = { 0.05 * rng.nextFloat() }
                image[y * 32 + x] = x < 16 ? 0.9 + noise() : noise()
                image[1024 + y * 32 + x] = noise()
                image[2048 + y * 32 + x] = x < 16 ? noise() : 0.9 + noise()
            }
        }
        let segments = LIME().segmentCount(height: 32, width: 32)
        XCTAssertEqual(segments, 40)
        let (labels, count) = SLIC.segment(image, channels: 3, height: 32, width: 32, segments: segments)
        XCTAssertTrue((25...50).contains(count), "\(count) superpixels")
        XCTAssertEqual(Set(labels), Set(0..<count))
        for s in 0..<count {
            let pixels = labels.indices.filter { labels[$0] == s }
            XCTAssertTrue(pixels.allSatisfy { $0 % 32 < 16 } || pixels.allSatisfy { $0 % 32 >= 16 }, "superpixel \(s) crosses the edge")
            // 4-connected: a flood fill from one pixel reaches all of them.
            var seen: Set<Int> = [pixels[0]], stack = [pixels[0]]
            while let i = stack.popLast() {
                for j in [i - 32, i + 32, i % 32 > 0 ? i - 1 : -1, i % 32 < 31 ? i + 1 : -1]
                where j >= 0 && j < 1024 && labels[j] == s && !seen.contains(j) {
                    seen.insert(j)
                    stack.append(j)
                }
            }
            XCTAssertEqual(seen.count, pixels.count, "superpixel \(s) is not connected")
        }
    }

    func testLIMEEndToEnd() throws {
        let model = try Self.smallModel()
        let x = Self.image(model)
        let result = try LIME(samples: 60).explain(model, input: x, target: 1)
        XCTAssertEqual(result.segmentCount, result.coefficients.count)
        // Even on pure noise every k-means cluster keeps a superpixel: 10 asked for, 3x3 centres on 16x16.
        XCTAssertGreaterThanOrEqual(result.segmentCount, 8)
        XCTAssertEqual(result.map.values, result.segments.map { Float(result.coefficients[$0]) })
        let top = result.topSegments()
        XCTAssertLessThanOrEqual(top.count, 5)
        XCTAssertTrue(top.allSatisfy { result.coefficients[$0] > 0 })
        XCTAssertEqual(result.topMask(), result.segments.map { top.contains($0) })
    }

    // MARK: - Registry and all methods together

    func testRegistryNamesEveryMethodAndRefusesUnknownOnes() throws {
        XCTAssertEqual(Methods.names, ["bcos", "grad", "ixg", "intgrad", "deeplift", "gradcam", "occlusion", "rise", "lime"])
        for name in Methods.names { XCTAssertEqual(try Methods.named(name).name, name) }
        XCTAssertTrue(try Methods.named("bcos") is BcosContributions)
        XCTAssertThrowsError(try Methods.named("smoothgrad")) { error in
            let message = (error as? BcosError)?.message ?? ""
            XCTAssertTrue(message.contains("'smoothgrad'") && message.contains("intgrad, deeplift"), message)
        }
    }

    func testEveryMethodGivesAFiniteMapOfTheImageSize() throws {
        let model = try Self.smallModel()
        let x = Self.image(model)
        let methods: [any AttributionMethod] = [BcosContributions(), Gradient(), InputXGradient(),
                                                IntegratedGradients(steps: 8), DeepLift(), GradCAM(), Occlusion(),
                                                RISE(masks: 40), LIME(samples: 40)]
        for m in methods {
            let map = try m.attribute(model, input: x, target: 0)
            XCTAssertEqual([map.height, map.width], [16, 16], m.name)
            XCTAssertTrue(map.values.allSatisfy(\.isFinite), m.name)
            XCTAssertTrue(map.values.contains { $0 != 0 }, m.name)
        }
        XCTAssertThrowsError(try Gradient().attribute(model, input: x, target: 4))
    }

    /// Opt-in (BCOS_METHOD_TIMING=1): seconds per explanation of one 32x32 image with the full-width v1 CIFAR-10
    /// net, per method. Build in release for meaningful numbers.
    func testTimePerExplanationOnCIFARSizeModel() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["BCOS_METHOD_TIMING"] == "1", "set BCOS_METHOD_TIMING=1")
        let model = try BcosModel.random(config: ModelConfig(), seed: 0)
        let x = model.encode(TestSupport.random([1, 3, 32, 32], seed: 1))
        for name in Methods.names {
            let m = try Methods.named(name)
            let start = Date()
            _ = try m.attribute(model, input: x, target: 0)
            let seconds = String(format: "%8.3f", Date().timeIntervalSince(start))
            print("method \(name.padding(toLength: 10, withPad: " ", startingAt: 0)) \(seconds) s")
        }
    }
}
