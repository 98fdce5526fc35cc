import BcosEngine
import BcosTestSupport
import Foundation
import XCTest

/// The training backward against central finite differences of an independent Double-precision reference
/// of the same network (`ReferenceNet`: naive loops, straight from BCOS_REFERENCE §1), for every layer and the loss.
final class GradientTests: XCTestCase {
    func checkGradients(b: Double, maxOut: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let cfg = ModelConfig(numClasses: 4, imageSize: [8, 8], widths: [3, 3, 4, 4, 4, 4, 4, 4], b: b, maxOut: maxOut,
                              scale: 0.3, logitTemperature: 0.5, logitBias: -1.1)
        let model = try BcosModel.random(config: cfg, seed: 21)
        let images = model.encode(TestSupport.random([3, 3, 8, 8], seed: 22))
        let labels = [1, 3, 1]
        let (loss, _, grads) = model.lossAndGradients(images, labels: labels)
        var ref = ReferenceNet(model)
        let inputs = (0..<3).map { images.item($0).data.map(Double.init) }
        let refLoss = ref.loss(inputs, labels: labels, c: 6, h: 8, w: 8)
        XCTAssertEqual(loss, refLoss, accuracy: 1e-5 * abs(refLoss), "loss vs Double reference", file: file, line: line)
        var rng = SplitMix64(seed: 5)
        for (layer, (node, key)) in model.weightNodes.enumerated() {
            let g = try XCTUnwrap(grads[node], "no gradient for \(key)")
            let scaleOfGrad = g.maxAbs
            for _ in 0..<6 {
                let j = Int(rng.next() % UInt64(g.count))
                let eps = 1e-6, saved = ref.weights[layer][j]
                ref.weights[layer][j] = saved + eps
                let up = ref.loss(inputs, labels: labels, c: 6, h: 8, w: 8)
                ref.weights[layer][j] = saved - eps
                let down = ref.loss(inputs, labels: labels, c: 6, h: 8, w: 8)
                ref.weights[layer][j] = saved
                let fd = (up - down) / (2 * eps)
                XCTAssertEqual(Double(g.data[j]), fd, accuracy: 2e-3 * Double(scaleOfGrad) + 1e-7,
                               "B=\(b) M=\(maxOut) \(key)[\(j)]", file: file, line: line)
            }
        }
    }

    func testTrainingGradientsMatchFiniteDifferencesB1() throws { try checkGradients(b: 1, maxOut: 2) }
    func testTrainingGradientsMatchFiniteDifferencesB1p5() throws { try checkGradients(b: 1.5, maxOut: 1) }
    func testTrainingGradientsMatchFiniteDifferencesB2() throws { try checkGradients(b: 2, maxOut: 2) }
    func testTrainingGradientsMatchFiniteDifferencesB2p5() throws { try checkGradients(b: 2.5, maxOut: 2) }

    func testLossGradientMatchesFiniteDifferences() {
        let logits = Tensor(shape: [2, 3], data: [0.3, -2, 7, 40, -35, 0])
        let labels = [2, 0]
        let (_, g) = Loss.bceOneHot(logits: logits, labels: labels)
        for j in 0..<6 {
            var up = logits, down = logits
            up.data[j] += 1e-2
            down.data[j] -= 1e-2
            let fd = (Loss.bceOneHot(logits: up, labels: labels).loss - Loss.bceOneHot(logits: down, labels: labels).loss) / 2e-2
            XCTAssertEqual(Double(g.data[j]), fd, accuracy: 1e-4)
        }
        // Stable at large |z|: softplus(40) - 40 = log1p(exp(-40)) ~ 0 for the right class.
        XCTAssertTrue(Loss.bceOneHot(logits: logits, labels: labels).loss.isFinite)
    }

    func testAdamMatchesTheTorchFormulas() {
        var adam = Adam()
        var p: [Float] = [1, -2]
        for g in [[0.5, -1.0], [0.25, 0.5]] as [[Float]] {
            adam.beginStep()
            adam.update(&p, grad: g, key: "w", lr: 0.1)
        }
        // Hand computation for the first coordinate, step 2: m = 0.1*0.5*0.9 + 0.1*0.25 = 0.07,
        // v = 0.001*0.25*0.999 + 0.001*0.0625 = 0.0003122..., p1 after step 1 = 1 - 0.1 = 0.9.
        let m = 0.07, v = 0.001 * 0.25 * 0.999 + 0.001 * 0.0625
        let expected = 0.9 - 0.1 / (1 - 0.81) * m / ((v / (1 - 0.998001)).squareRoot() + 1e-8)
        XCTAssertEqual(Double(p[0]), expected, accuracy: 1e-5, "float32 moments")
    }

    /// A few Adam steps on one batch drive the loss down (the whole training step points downhill).
    func testLossFallsOnAFixedBatch() throws {
        let cfg = ModelConfig(numClasses: 3, imageSize: [8, 8], widths: [4, 4, 6, 6, 6, 8, 8, 8], b: 2, maxOut: 2,
                              scale: 0.3, logitTemperature: 1, logitBias: -0.69)
        var model = try BcosModel.random(config: cfg, seed: 2)
        let x = model.encode(TestSupport.random([6, 3, 8, 8], seed: 3))
        let labels = [0, 1, 2, 0, 1, 2]
        var adam = Adam()
        let first = model.trainStep(x, labels: labels, optimizer: &adam, lr: 1e-2).loss
        var last = first
        for _ in 0..<30 { last = model.trainStep(x, labels: labels, optimizer: &adam, lr: 1e-2).loss }
        XCTAssertLessThan(last, 0.5 * first, "loss \(first) -> \(last)")
    }

    /// The autograd-style input gradient that post-hoc methods use (nothing detached) against finite differences
    /// of the Double reference.
    func testInputGradientMatchesFiniteDifferences() throws {
        for (b, m) in [(2.0, 2), (1.5, 1), (2.5, 2)] {
            let cfg = ModelConfig(numClasses: 4, imageSize: [8, 8], widths: [3, 3, 4, 4, 4, 4, 4, 4], b: b, maxOut: m,
                                  scale: 0.3, logitTemperature: 0.5, logitBias: -1.1)
            let model = try BcosModel.random(config: cfg, seed: 31)
            let x = model.encode(TestSupport.random([1, 3, 8, 8], seed: 32))
            let g = model.gradient(x, target: 2).input
            let ref = ReferenceNet(model)
            var xd = x.data.map(Double.init)
            var rng = SplitMix64(seed: 7)
            for _ in 0..<12 {
                let j = Int(rng.next() % UInt64(xd.count)), eps = 1e-6, saved = xd[j]
                xd[j] = saved + eps
                let up = ref.logits(xd, c: 6, h: 8, w: 8)[2]
                xd[j] = saved - eps
                let down = ref.logits(xd, c: 6, h: 8, w: 8)[2]
                xd[j] = saved
                XCTAssertEqual(Double(g.data[j]), (up - down) / (2 * eps), accuracy: 2e-3 * Double(g.maxAbs) + 1e-7,
                               "B=\(b) M=\(m) input[\(j)]")
            }
            if b != 1 {
                let w = try model.explain(x, target: .logit(2)).weights
                XCTAssertNotNil(TestSupport.compare(g.data, w.data), "for B != 1 the gradient is not W(x)")
            }
        }
    }
}
