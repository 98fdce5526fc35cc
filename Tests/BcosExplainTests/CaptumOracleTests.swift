import BcosEngine
@testable import BcosExplain
import BcosTestSupport
import Foundation
import XCTest

/// The committed Captum fixture: the model, the encoded input and Captum's float64 references (stored as float32).
///
/// Regenerate with (see tools/README.md):
///     python tools/make_captum_fixtures.py --v1 /tmp/bcos-v1
/// The model is the engine fixture `v1_b2_m2` (v1 9-layer net, B = 2, MaxOut 2, 10 classes) run by the official v1
/// modules; the input is one random 14x10 RGB image (non-square; its 4x3 Grad-CAM grid does not divide it). The
/// references are Captum 0.9's `Saliency(abs=False)`, `InputXGradient`, `IntegratedGradients` (Gauss–Legendre,
/// 50 steps, encoded black baseline), `DeepLift` (zero baseline), `Occlusion` (encoded black; windows 3 stride 1
/// and 4 stride 3) and `LayerGradCam` (output of conv 7, ReLU, nearest upsampling), plus the official explanation-
/// mode contribution map (`bcos`), each for the classes in `targets`, one class per call; and for the classes in
/// `samplingTargets`, Captum's `Lime` and RISE's mask recipe on our seeded streams (`lime.*`, `rise.*`).
struct CaptumFixture {
    let model: BcosModel
    let input: Tensor // [1, 6, 14, 10]
    let targets: [Int]
    let contents: Safetensors.Contents

    static let directory = TestSupport.repoRoot + "/Tests/BcosExplainTests/Fixtures/"

    static func load() throws -> CaptumFixture {
        let model = try BcosModel.load(TestSupport.fixture("v1_b2_m2.model.safetensors"))
        let contents = try Safetensors.load(directory + "captum.safetensors")
        guard let input = contents["input"], let list = contents.metadata["targets"] else {
            throw BcosError("captum.safetensors lacks the input or the targets; regenerate it (tools/README.md)")
        }
        return CaptumFixture(model: model, input: input, targets: list.split(separator: ",").compactMap { Int($0) },
                             contents: contents)
    }

    /// The reference `<method>.t<class>`.
    func ref(_ method: String, _ target: Int) throws -> Tensor {
        try tensor("\(method).t\(target)")
    }

    func tensor(_ key: String) throws -> Tensor {
        guard let t = contents[key] else { throw BcosError("captum.safetensors has no '\(key)'; regenerate it (tools/README.md)") }
        return t
    }

    /// The classes of the LIME and RISE references: logits near 0, where the sigmoid probabilities they score are
    /// not saturated (the top classes' are 1 on nearly every perturbed image).
    var samplingTargets: [Int] { (contents.metadata["sampling_targets"] ?? "").split(separator: ",").compactMap { Int($0) } }

    /// Bound on how far a float32 sigmoid probability of a perturbed image may be from the float64 one: a logit
    /// is within `rtol` of the logits' scale (the largest fixture logit), and the sigmoid's slope is at most 1/4.
    var probabilityTolerance: Double {
        CaptumFixture.rtol * Double(contents["logits"]?.maxAbs ?? 0) / 4
    }

    /// The tolerance of a single-pass quantity (gradient, logit, logit difference), relative to its scale: ours runs
    /// in float32 against a float64 reference. Each conv's outputs carry a rounding error of at most about 5e-7 of
    /// the patch norm (measured for PyTorch float32 on this model; BLAS kernels differ in order, not in size), and a
    /// gradient crosses the 9 layers twice (forward, then backward), so some 18 such errors add up to about 1e-5
    /// of the largest value. 5e-5 leaves a factor of a few for summation order. A real error (a wrong index, a
    /// detached factor, a wrong baseline or window) moves values by 1e-2 of max|ref| or more.
    static let rtol = 5e-5

    /// The six Captum methods and the official B-cos map with the reference keys of `values` and of `perChannel`.
    static let methods: [(method: any AttributionMethod, map: String, channels: String?)] = [
        (Gradient(), "saliency", "saliency"), (InputXGradient(), "ixg", nil), (DeepLift(), "deeplift", nil),
        (IntegratedGradients(), "intgrad", "intgrad"), (Occlusion(), "occlusion3x1", nil), (GradCAM(), "gradcam", nil),
        (BcosContributions(), "bcos", nil),
    ]

    /// What is wrong with `map` as `method`'s attribution of class `target`: `values` against the reference `mapKey`
    /// (an `[H, W]` map, or a `[C, H, W]` reference summed over channels), `perChannel` against `channelKey` if given.
    ///
    /// The tolerance is `rtol` times the scale of the quantity: the largest reference value over all the fixture's
    /// classes, or for a channel sum the largest per-channel value when that is larger. Rounding happens in the
    /// forward pass and the layers' weights, which every class shares, and in the summands of a channel sum, so a
    /// class whose map is small (a logit near its bias: class 3's B-cos map is 0.019 at most, the others' 0.7)
    /// carries the same absolute error as the others, not a proportionally smaller one.
    func problems(_ map: AttributionMap, mapKey: String, channelKey: String? = nil, target: Int,
                  rtol: Double = rtol) throws -> [String] {
        guard [map.height, map.width] == [input.shape[2], input.shape[3]] else { return ["map is \(map.height)x\(map.width)"] }
        // The reference as compared: an [H, W] map, or a [C, H, W] reference summed over channels.
        func values(_ key: String, _ t: Int) throws -> [Float] {
            let ref = try self.ref(key, t)
            return ref.shape.count == 3 ? Self.channelSum(ref) : ref.data
        }
        func scale(_ key: String, values: (String, Int) throws -> [Float]) throws -> Double {
            try targets.map { Double(try values(key, $0).map { abs($0) }.max() ?? 0) }.max() ?? 0
        }
        var found = [String]()
        func compare(_ ours: [Float], _ ref: [Float], _ what: String, scale: Double) {
            if (ref.map { abs($0) }.max() ?? 0) < 1e-3 { found.append("\(what): a zero reference would pass trivially") }
            if let problem = TestSupport.compare(ours, ref, rtol: 0, atol: rtol * scale) { found.append("\(what): \(problem)") }
            if ProcessInfo.processInfo.environment["BCOS_ORACLE_REPORT"] == "1" {
                let worst = zip(ours, ref).map { abs(Double($0) - Double($1)) }.max() ?? 0
                print("captum oracle \(what) class \(target): max |ours − ref| \(String(format: "%.2e", worst)) = "
                      + "\(String(format: "%.2e", worst / scale)) of scale \(String(format: "%.3g", scale))")
            }
        }
        let summands = Double(map.perChannel?.maxAbs ?? 0)
        compare(map.values, try values(mapKey, target), mapKey, scale: max(try scale(mapKey, values: values), summands))
        if let channelKey {
            guard let perChannel = map.perChannel else { return found + ["\(channelKey): no perChannel"] }
            compare(perChannel.data, try ref(channelKey, target).data, channelKey + " per channel",
                    scale: try scale(channelKey) { try ref($0, $1).data })
        }
        return found
    }

    /// Σ over channels of a `[C, H, W]` reference.
    static func channelSum(_ t: Tensor) -> [Float] {
        let p = t.shape[1] * t.shape[2]
        return (0..<p).map { i in Float((0..<t.shape[0]).reduce(0.0) { $0 + Double(t.data[$1 * p + i]) }) }
    }
}

/// Our post-hoc methods against Captum (BCOS_REFERENCE §7: the paper ran Captum's defaults), on `CaptumFixture`.
final class CaptumOracleTests: XCTestCase {
    /// `method`'s one-class path for every fixture class against the reference of the class (the several-class path
    /// is `MethodTests.testMultiTargetAttributionEqualsOneClassAtATime`).
    func checkMethod(_ method: any AttributionMethod, mapKey: String, channelKey: String? = nil,
                     file: StaticString = #filePath, line: UInt = #line) throws {
        let f = try CaptumFixture.load()
        for t in f.targets {
            let map = try method.attribute(f.model, input: f.input, target: t)
            for problem in try f.problems(map, mapKey: mapKey, channelKey: channelKey, target: t) {
                XCTFail("\(method.name) class \(t): \(problem)", file: file, line: line)
            }
        }
    }

    /// Captum `Saliency(abs=False)`: the signed full gradient, per encoded channel.
    func testGradientMatchesCaptumSaliency() throws {
        try checkMethod(Gradient(), mapKey: "saliency", channelKey: "saliency")
    }

    func testInputXGradientMatchesCaptum() throws {
        try checkMethod(InputXGradient(), mapKey: "ixg")
    }

    /// Captum's `DeepLift` with its zero baseline: B-cos nets have no module its rescale rule replaces.
    func testDeepLiftMatchesCaptum() throws {
        try checkMethod(DeepLift(), mapKey: "deeplift")
    }

    /// Captum's Gauss–Legendre rule, 50 steps, encoded black baseline: the same interpolants and weights, so the same
    /// sum, not just the same integral (the quadrature error here, with MaxOut switching along the path, is 4% to
    /// 2.4 times the gap f(x) − f(x̄)). Batching the interpolants changes only the rounding.
    func testIntegratedGradientsMatchesCaptum() throws {
        try checkMethod(IntegratedGradients(), mapKey: "intgrad", channelKey: "intgrad")
        try checkMethod(IntegratedGradients(batchSize: 7), mapKey: "intgrad", channelKey: "intgrad")
    }

    /// The default window and stride at 14x10 (3 and 1), and windows of 4 at stride 3 whose last row is cut at the
    /// border; both with local and with full forward passes. Captum gives every channel of a pixel the same value
    /// (the fixture stores one channel): ours is that value, not Captum's sum over channels (6 times it).
    func testOcclusionMatchesCaptum() throws {
        XCTAssertTrue(try Occlusion().geometry(height: 14, width: 10) == (3, 1))
        try checkMethod(Occlusion(), mapKey: "occlusion3x1")
        try checkMethod(Occlusion(window: 4, stride: 3), mapKey: "occlusion4x3")
        try checkMethod(Occlusion(window: 4, stride: 3, localPasses: false), mapKey: "occlusion4x3")
    }

    /// Captum `LayerGradCam` on conv 7's output with `relu_attributions=True`, upsampled by
    /// `LayerAttribution.interpolate(mode="nearest")` from 4x3 to 14x10.
    func testGradCAMMatchesCaptumLayerGradCam() throws {
        let f = try CaptumFixture.load()
        XCTAssertEqual(f.model.network.nodes[try GradCAM.layer(of: f.model)].name, "7")
        try checkMethod(GradCAM(), mapKey: "gradcam")
    }

    /// Captum's `Lime` with our LIME's settings on our sample stream (replayed in its generator), on a fixed 4x3
    /// grid of superpixels instead of our SLIC's. Two parts: our scoring of each sample as `explain` does it (off
    /// superpixels at their mean encoded colour, sigmoid probability) against the probabilities Captum's fit saw,
    /// and our `regressMany` (samples, lime's kernel, ridge) fed those probabilities against Captum's coefficients
    /// (sklearn `Ridge(alpha=1)` with sample weights).
    func testLIMEMatchesCaptumLimeOnTheSameSamples() throws {
        let f = try CaptumFixture.load()
        XCTAssertEqual(f.contents.metadata["lime"], "samples=100,seed=5,kernel_width=0.25,alpha=1.0")
        let lime = LIME(samples: 100, kernelWidth: 0.25, alpha: 1, seed: 5)
        let labels = try f.tensor("lime.segments").data.map { Int($0) } // [H*W]
        let k = (labels.max() ?? 0) + 1, c = f.input.shape[1], p = labels.count
        XCTAssertEqual(k, 12)
        var means = [Float](repeating: 0, count: c * k) // [C, K]
        for ch in 0..<c {
            for s in 0..<k {
                let pixels = (0..<p).filter { labels[$0] == s }
                means[ch * k + s] = Float(pixels.reduce(0.0) { $0 + Double(f.input.data[ch * p + $1]) } / Double(pixels.count))
            }
        }
        let targets = f.samplingTargets
        let references = try targets.map { try f.ref("lime.scores", $0).data } // [targets][samples]
        var ours = [[Float]]()                                                  // [samples][targets]
        let fits = lime.regressMany(features: k, batch: 16, outputs: targets.count) { samples in
            var x = Tensor(shape: [samples.count] + f.input.shape.dropFirst()) // [n, C, H, W]
            for (j, on) in samples.enumerated() {
                for ch in 0..<c {
                    for i in 0..<p { x.data[(j * c + ch) * p + i] = on[labels[i]] ? f.input.data[ch * p + i] : means[ch * k + labels[i]] }
                }
            }
            let logits = f.model.logits(x) // [n, K]
            ours += (0..<samples.count).map { j in targets.map { 1 / (1 + expf(-logits.data[j * logits.shape[1] + $0])) } }
            // The fit gets the reference probabilities, so that it is compared with Captum's alone.
            return (ours.count - samples.count..<ours.count).map { i in references.map { $0[i] } }
        }
        for (o, t) in targets.enumerated() {
            XCTAssertNil(TestSupport.compare(ours.map { $0[o] }, references[o], rtol: 0, atol: f.probabilityTolerance),
                         "lime probabilities, class \(t)")
            let ref = try f.ref("lime", t)
            XCTAssertGreaterThan(ref.maxAbs, 0.1, "a zero fit would pass trivially")
            // Captum trains sklearn on float32 copies of the samples, probabilities and weights: its coefficients
            // (at most 0.3) are good to a few 1e-7; 1e-5 is well above that and far below what a changed sample,
            // weight or penalty does (a kernel width of 0.26 for 0.25 moves them by 1e-3 to 3e-3).
            XCTAssertNil(TestSupport.compare(fits[o].coefficients.map { Float($0) }, ref.data, rtol: 0, atol: 1e-5),
                         "lime coefficients, class \(t)")
        }
    }

    /// RISE's own mask recipe (skimage `resize`, reflect mode, random crop) on our stream's grids and offsets, 4x4
    /// grid at p = 0.5 (cells of 4x3 px, so rows and columns differ), scored by the official model: the masks, the
    /// saliency from the reference probabilities, and `attribute` end to end.
    func testRISEMatchesItsAuthorsMasksOnTheSameStream() throws {
        let f = try CaptumFixture.load()
        XCTAssertEqual(f.contents.metadata["rise"], "masks=64,grid=4,keep=0.5,seed=11")
        let rise = RISE(masks: 64, grid: 4, keepProbability: 0.5, seed: 11, batchSize: 16)
        let h = f.input.shape[2], w = f.input.shape[3]
        let masks = try f.tensor("rise.masks") // [4, H, W]
        var rng = SplitMix64(seed: rise.seed)
        for i in 0..<masks.shape[0] {
            // Bilinear weights in float32: about 1e-7 of the mask's range [0, 1].
            XCTAssertNil(TestSupport.compare(rise.nextMask(height: h, width: w, rng: &rng), masks.item(i).data, rtol: 0, atol: 1e-6),
                         "mask \(i)")
        }
        let targets = f.samplingTargets
        let references = try targets.map { try f.ref("rise.scores", $0).data } // [targets][masks]
        var done = 0
        let fromReferences = rise.saliencies(height: h, width: w, batch: 16, outputs: targets.count) { group in
            defer { done += group.count }
            return (done..<(done + group.count)).map { i in references.map { $0[i] } }
        }
        let endToEnd = try rise.attribute(f.model, input: f.input, targets: targets)
        for (o, t) in targets.enumerated() {
            let ref = try f.ref("rise", t)
            XCTAssertGreaterThan(ref.maxAbs - (ref.data.min() ?? 0), 0.05, "a flat map would pass trivially")
            // The same probabilities: only the masks' float32 rounding (1e-7) and the storage of the map differ.
            XCTAssertNil(TestSupport.compare(fromReferences[o], ref.data, rtol: 0, atol: 1e-6), "rise from references, class \(t)")
            // Our probabilities: a pixel is a weighted mean of them with weights Σ_i M_i / (N p) <= 1 / p.
            XCTAssertNil(TestSupport.compare(endToEnd[o].values, ref.data, rtol: 0,
                                             atol: f.probabilityTolerance / Double(rise.keepProbability)), "rise class \(t)")
        }
    }

    /// Not Captum: the official v1 code's explanation mode (dynamic scales detached), Σ_c x · W(x).
    func testBcosContributionsMatchOfficialExplanationMode() throws {
        try checkMethod(BcosContributions(), mapKey: "bcos")
    }
}
