import BcosEngine
import BcosTestSupport
import XCTest

/// Properties of explanation mode that cannot hold by accident: W(x) is the gradient of the network with its
/// dynamic factors frozen at x (checked by finite differences and by exact linearity), and contributions sum
/// to the explained value.
final class PropertyTests: XCTestCase {
    func smallModel(b: Double, maxOut: Int, gray: Bool = false, seed: UInt64 = 1) throws -> BcosModel {
        let cfg = ModelConfig(numClasses: 5, imageChannels: gray ? 1 : 3, imageSize: [12, 10],
                              widths: [6, 6, 8, 8, 8, 10, 10, 10], b: b, maxOut: maxOut,
                              scale: 0.5, logitTemperature: 0.1, logitBias: -1.386)
        return try BcosModel.random(config: cfg, seed: seed)
    }

    /// The frozen network is exactly linear: f_frozen(x') - bias = Σ W(x) · x' for any x'. Both sides are
    /// compared with the Double reference's frozen network (`ReferenceNet`, no code shared with the engine).
    /// Tolerance: float32 sums of the terms W_i·x'_i carry errors ~1e-7 of Σ|W_i·x'_i|; 1e-4 of it leaves
    /// three orders of magnitude for any BLAS kernel's rounding while a wrong W is off by O(1). The engine's
    /// logit includes the bias, so it also carries the float32 rounding of the biased value (a few ulps).
    func testFrozenNetworkIsTheLinearMapW() throws {
        var worst = 0.0
        defer { print("frozen network vs Double reference: worst error \(worst) of the tolerance") }
        for (b, m) in [(1.0, 1), (1.5, 2), (2.0, 2), (2.5, 1)] {
            let model = try smallModel(b: b, maxOut: m)
            let ref = ReferenceNet(model)
            let x = model.encode(TestSupport.random([1, 3, 12, 10], seed: 5))
            let frozen = ref.freeze(at: x.data.map(Double.init), c: 6, h: 12, w: 10)
            let trace = model.network.forward(x, record: .explanation)
            for k in 0..<5 {
                let e = try model.explain(x, target: .logit(k))
                for s in 0..<3 {
                    let other = TestSupport.random(x.shape, seed: 100 + UInt64(s))
                    let exact = ref.scores(other.data.map(Double.init), c: 6, h: 12, w: 10, frozen: frozen)[k]
                    let logit = model.network.forward(other, frozen: trace).output.data[k]
                    var dot = 0.0, terms = 0.0
                    for i in 0..<other.count {
                        dot += Double(other.data[i]) * Double(e.weights.data[i])
                        terms += abs(Double(other.data[i]) * Double(e.weights.data[i]))
                    }
                    let tolForward = 1e-4 * terms + 4 * Double(logit.ulp)
                    worst = max(worst, abs(dot - exact) / (1e-4 * terms),
                                abs(Double(logit) - model.config.logitBias - exact) / tolForward)
                    XCTAssertEqual(dot, exact, accuracy: 1e-4 * terms, "Σ W(x)·x', B=\(b) M=\(m) class \(k)")
                    XCTAssertEqual(Double(logit) - model.config.logitBias, exact, accuracy: tolForward,
                                   "frozen forward, B=\(b) M=\(m) class \(k)")
                }
            }
        }
    }

    /// W(x) is the gradient of the Double reference's frozen network, coordinate by coordinate. That network is
    /// linear, so its central differences are exact up to Double rounding (~1e-13 here); the tolerance is the
    /// float32 budget of the explanation backward, 1e-4 of W's largest entry.
    func testFiniteDifferencesOfFrozenNetwork() throws {
        let model = try smallModel(b: 2, maxOut: 2, seed: 9)
        let ref = ReferenceNet(model)
        let x = model.encode(TestSupport.random([1, 3, 12, 10], seed: 6))
        let xd = x.data.map(Double.init)
        let frozen = ref.freeze(at: xd, c: 6, h: 12, w: 10)
        let e = try model.explain(x, target: .logit(2))
        let tol = 1e-4 * Double(e.weights.maxAbs)
        var worst = 0.0
        defer { print("W(x) vs differences of the frozen Double reference: worst error \(worst) of the tolerance") }
        var rng = SplitMix64(seed: 4)
        for _ in 0..<40 {
            let i = Int(rng.next() % UInt64(x.count))
            let fd = ref.finiteDifference(xd, c: 6, h: 12, w: 10, logit: 2, coordinate: i, eps: 1e-3, frozen: frozen)
            worst = max(worst, abs(Double(e.weights.data[i]) - fd) / tol)
            XCTAssertEqual(Double(e.weights.data[i]), fd, accuracy: tol, "coordinate \(i)")
        }
    }

    /// At B = 1 without MaxOut nothing is dynamic, so W(x) is also the true gradient: central differences of the
    /// Double reference (unfrozen; linear, so exact up to Double rounding) agree within the float32 budget.
    func testB1ExplanationIsTheGradient() throws {
        let model = try smallModel(b: 1, maxOut: 1, seed: 3)
        let ref = ReferenceNet(model)
        let x = model.encode(TestSupport.random([1, 3, 12, 10], seed: 8))
        let xd = x.data.map(Double.init)
        let e = try model.explain(x, target: .logit(1))
        let tol = 1e-4 * Double(e.weights.maxAbs)
        var worst = 0.0
        defer { print("B = 1: W(x) vs differences of the Double reference: worst error \(worst) of the tolerance") }
        for i in stride(from: 0, to: x.count, by: 37) {
            let fd = ref.finiteDifference(xd, c: 6, h: 12, w: 10, logit: 1, coordinate: i, eps: 1e-3)
            worst = max(worst, abs(Double(e.weights.data[i]) - fd) / tol)
            XCTAssertEqual(Double(e.weights.data[i]), fd, accuracy: tol, "coordinate \(i)")
        }
    }

    func testCompletenessForEveryTargetKind() throws {
        for gray in [false, true] {
            let model = try smallModel(b: 2, maxOut: 2, gray: gray, seed: 11)
            let x = model.encode(TestSupport.random([1, gray ? 1 : 3, 12, 10], seed: 12))
            let targets: [ExplanationTarget] = [
                .predicted, .logit(4), .topTwoDelta, .difference(0, 3),
                .neuron(layer: "0", channel: 1, position: .max), .neuron(layer: "5", channel: 3, position: .sum),
                .neuron(layer: "7", channel: 0, position: .at(y: 1, x: 2)),
            ]
            for t in targets {
                let e = try model.explain(x, target: t)
                let mass = e.contributions.data.reduce(0.0) { $0 + abs(Double($1)) }
                XCTAssertLessThan(e.completenessError, 1e-5 * max(1, mass), "\(t) gray=\(gray)")
            }
            let delta = try model.explain(x, target: .topTwoDelta)
            guard case .difference(let a, let b) = delta.target else { return XCTFail("top-2 delta did not resolve") }
            let wa = try model.explain(x, target: .logit(a)).weights.data
            let wb = try model.explain(x, target: .logit(b)).weights.data
            XCTAssertNil(TestSupport.compare(delta.weights.data, zip(wa, wb).map { $0 - $1 }), "Δ map = W_a - W_b")
        }
    }

    func testNeuronExplanationStartsAtTheLargestActivation() throws {
        let model = try smallModel(b: 2, maxOut: 2)
        let x = model.encode(TestSupport.random([1, 3, 12, 10], seed: 2))
        let e = try model.explain(x, target: .neuron(layer: "3", channel: 2, position: .max))
        guard case .neuron(_, _, .at(let y, let xx)) = e.target else { return XCTFail("position not resolved") }
        let act = model.network.forward(x, record: .explanation).outputs[try model.layerIndex("3")]!
        let h = act.shape[2], w = act.shape[3]
        let plane = Array(act.data[(2 * h * w)..<(3 * h * w)])
        XCTAssertEqual(plane[y * w + xx], plane.max()!)
        XCTAssertEqual(e.explainedValue, Double(abs(plane.max()!)), accuracy: 1e-6 * max(1, e.explainedValue))
    }

    /// `explainNeurons` ranks and explains from one forward pass: the same neurons as ranking the layer's
    /// activations, each explanation equal to explaining that neuron alone.
    func testNeuronsFromOneForwardPassEqualOneAtATime() throws {
        let model = try smallModel(b: 2, maxOut: 2)
        let x = model.encode(TestSupport.random([1, 3, 12, 10], seed: 2))
        let act = model.network.forward(x, record: .explanation).outputs[try model.layerIndex("3")]!
        let h = act.shape[2], w = act.shape[3]
        for byMean in [false, true] {
            let neurons = try model.explainNeurons(x, layer: "3", top: 4, byMean: byMean)
            XCTAssertEqual(neurons.count, 4)
            XCTAssertEqual(neurons.map(\.neuron.activation), neurons.map(\.neuron.activation).sorted(by: >))
            for (n, e) in neurons {
                let plane = Array(act.data[(n.channel * h * w)..<((n.channel + 1) * h * w)])
                XCTAssertEqual(plane[n.y * w + n.x], plane.max()!)
                XCTAssertEqual(n.activation, byMean ? plane.reduce(0, +) / Float(h * w) : plane.max()!, accuracy: 1e-6)
                let alone = try model.explain(x, target: .neuron(layer: "3", channel: n.channel, position: .at(y: n.y, x: n.x)))
                XCTAssertEqual(e.target, alone.target)
                XCTAssertNil(TestSupport.compare(e.weights.data, alone.weights.data, rtol: 1e-6, atol: 1e-9), "W(x) of \(n)")
                XCTAssertNil(TestSupport.compare(e.contributions.data, alone.contributions.data, rtol: 1e-6, atol: 1e-9))
                XCTAssertEqual(e.explainedValue, alone.explainedValue)
            }
        }
    }

    /// `logits(count:batch:input:)` covers every input once, in order, as one forward pass of all would, and stops
    /// when asked.
    func testBatchedLogitsCoverEveryInputInOrder() throws {
        let model = try smallModel(b: 1.5, maxOut: 2)
        let all = model.encode(TestSupport.random([37, 3, 12, 10], seed: 3))
        let per = all.count / 37
        var ranges = [Range<Int>](), rows = [Float]()
        model.logits(count: 37, batch: 8, input: {
            Tensor(shape: [$0.count] + Array(all.shape.dropFirst()), data: Array(all.data[($0.lowerBound * per)..<($0.upperBound * per)]))
        }) { range, logits in
            ranges.append(range)
            rows += logits.data
            return true
        }
        XCTAssertEqual(ranges, [0..<8, 8..<16, 16..<24, 24..<32, 32..<37])
        XCTAssertNil(TestSupport.compare(rows, model.logits(all).data, rtol: 1e-5))
        var batches = 0
        model.logits(count: 37, batch: 8, input: { _ in all.item(0).reshaped([1] + Array(all.shape.dropFirst())) }) { _, _ in
            batches += 1
            return false
        }
        XCTAssertEqual(batches, 1)
    }

    func testBatchedForwardEqualsPerImageForward() throws {
        let model = try smallModel(b: 1.5, maxOut: 2)
        let batch = model.encode(TestSupport.random([37, 3, 12, 10], seed: 3))
        let all = model.logits(batch)
        for n in [0, 17, 36] {
            let one = model.logits(batch.item(n).reshaped([1] + Array(batch.shape.dropFirst())))
            XCTAssertNil(TestSupport.compare(one.data, Array(all.data[(n * 5)..<((n + 1) * 5)]), rtol: 1e-5), "image \(n)")
        }
    }
}
