@testable import BcosEngine
import BcosTestSupport
import XCTest

/// Layers beyond the 9-layer net (average pooling, residual add, channel concat, uncentred batch norm) and the
/// graph backward that sums gradients of nodes read twice.
final class GraphTests: XCTestCase {
    func conv(_ cin: Int, _ cout: Int, k: Int, s: Int = 1, p: Int = 0, m: Int = 1, b: Float = 2, seed: UInt64) -> Op {
        let w = TestSupport.random([cout * m, cin, k, k], seed: seed)
        return .bcosConv(BcosConv2d(inChannels: cin, outChannels: cout, kernel: k, stride: s, padding: p, maxOut: m,
                                    b: b, weight: Tensor(shape: w.shape, data: w.data.map { $0 - 0.5 })))
    }

    /// input -> a -> b(a) -> add(a, b) -> avgpool -> c -> concat(c, pool) -> batch norm -> classifier -> mean -> logit
    func residualDenseNet() -> Network {
        Network(nodes: [
            Node(name: "input", op: .input, inputs: []),
            Node(name: "a", op: conv(4, 6, k: 3, p: 1, m: 2, seed: 1), inputs: [0]),
            Node(name: "b", op: conv(6, 6, k: 3, p: 1, b: 1.5, seed: 2), inputs: [1]),
            Node(name: "add", op: .add, inputs: [1, 2]),
            Node(name: "pool", op: .avgPool(AvgPool2d(kernel: 3, stride: 2, padding: 1)), inputs: [3]),
            Node(name: "c", op: conv(6, 5, k: 1, seed: 3), inputs: [4]),
            Node(name: "cat", op: .concat, inputs: [5, 4]),
            Node(name: "bn", op: .affine(ChannelAffine(batchNormWeight: (0..<11).map { 0.5 + Float($0) / 10 },
                                                       runningVar: (0..<11).map { 1 + Float($0) })), inputs: [6]),
            Node(name: "cls", op: conv(11, 3, k: 1, m: 2, seed: 4), inputs: [7]),
            Node(name: "gap", op: .globalAvgPool, inputs: [8]),
            Node(name: "logits", op: .logit(LogitLayer(temperature: 0.5, bias: -1)), inputs: [9]),
        ])
    }

    func testShapesAndForwardAgree() {
        let net = residualDenseNet()
        let x = TestSupport.random([2, 4, 9, 7], seed: 5)
        let trace = net.forward(x, record: .explanation)
        let shapes = net.shapes(input: [2, 4, 9, 7])
        for i in net.nodes.indices { XCTAssertEqual(trace.outputs[i]!.shape, shapes[i], net.nodes[i].name) }
        XCTAssertEqual(shapes[4], [2, 6, 5, 4])
        XCTAssertEqual(shapes[6], [2, 11, 5, 4])
    }

    func testExplanationIsExactOnAGraph() {
        let net = residualDenseNet()
        let x = TestSupport.random([1, 4, 9, 7], seed: 6)
        let trace = net.forward(x, record: .explanation)
        for k in 0..<3 {
            var seed = Tensor(shape: [1, 3])
            seed.data[k] = 1
            let w = net.backwardExplain(trace, from: net.nodes.count - 1, seed: seed)
            // Completeness: every layer is bias-free, so Σ x·W = logit − bias.
            let sum = zip(x.data, w.data).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(sum, Double(trace.output.data[k]) + 1, accuracy: 1e-4 * max(1, abs(sum)))
            // Linearity of the frozen graph on another input.
            let other = TestSupport.random(x.shape, seed: 60 + UInt64(k))
            let frozen = Double(net.forward(other, frozen: trace).output.data[k]) + 1
            let dot = zip(other.data, w.data).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(frozen, dot, accuracy: 1e-4 * max(1, abs(dot)))
        }
    }

    /// <layer(x), g> = <x, layer^T(g)> for every linear layer.
    func testLinearLayersBackwardIsTheAdjoint() {
        let x = TestSupport.random([2, 3, 7, 6], seed: 1)
        func check(_ forward: (Tensor) -> Tensor, _ backward: (Tensor) -> Tensor, _ what: String) {
            let y = forward(x)
            let g = TestSupport.random(y.shape, seed: 2)
            let gx = backward(g)
            XCTAssertEqual(gx.shape, x.shape, what)
            let lhs = zip(y.data, g.data).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let rhs = zip(x.data, gx.data).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(lhs, rhs, accuracy: 1e-4 * abs(lhs), what)
        }
        for pool in [AvgPool2d(kernel: 2, stride: 2), AvgPool2d(kernel: 3, stride: 2, padding: 1), AvgPool2d(kernel: 3, stride: 1, padding: 1)] {
            check({ pool.forward($0) }, { pool.backward($0, inputH: 7, inputW: 6) }, "avgpool \(pool)")
        }
        check({ GlobalAvgPool.forward($0) }, { GlobalAvgPool.backward($0, inputH: 7, inputW: 6) }, "global pool")
        let bn = ChannelAffine(batchNormWeight: [1, 2, 3], runningVar: [0.5, 1, 4])
        check({ bn.forward($0) }, { bn.backward($0) }, "batch norm")
    }

    func testAvgPoolCountsPaddingLikePyTorch() {
        // count_include_pad=True: the corner window of a 3x3/1/1 pool over ones sees 4 of 9 cells.
        let y = AvgPool2d(kernel: 3, stride: 1, padding: 1).forward(Tensor(shape: [1, 1, 3, 3], repeating: 1))
        XCTAssertEqual(y.data[0], 4 / 9, accuracy: 1e-6)
        XCTAssertEqual(y.data[4], 1, accuracy: 1e-6)
    }

    func testBatchNormUncentredEval() {
        let bn = ChannelAffine(batchNormWeight: [2], runningVar: [3], eps: 1e-5)
        let y = bn.forward(Tensor(shape: [1, 1, 1, 2], data: [1, -4]))
        XCTAssertEqual(y.data[0], 2 / (3 + 1e-5).squareRoot(), accuracy: 1e-6)
        XCTAssertEqual(y.data[1], -8 / (3 + 1e-5).squareRoot(), accuracy: 1e-5)
    }

    func testConcatSplitsBack() {
        let a = TestSupport.random([2, 2, 3, 3], seed: 1), b = TestSupport.random([2, 3, 3, 3], seed: 2)
        let y = Concat.forward([a, b])
        XCTAssertEqual(y.shape, [2, 5, 3, 3])
        let parts = Concat.backward(y, channels: [2, 3])
        XCTAssertEqual(parts[0], a)
        XCTAssertEqual(parts[1], b)
    }

    func testSaveLoadRoundTrip() throws {
        let cfg = ModelConfig(numClasses: 4, imageChannels: 1, imageSize: [10, 12], widths: [3, 3, 4, 4, 4, 5, 5, 5],
                              b: 1.75, maxOut: 3, scale: 0.2, logitTemperature: 10, logitBias: -1.1,
                              classes: ["w", "x", "y", "z"])
        let model = try BcosModel.random(config: cfg, seed: 3)
        let path = NSTemporaryDirectory() + "bcos-roundtrip-\(UInt32.random(in: 0...UInt32.max)).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try model.save(to: path)
        XCTAssertThrowsError(try model.save(to: path), "saving over an existing file must be refused")
        let back = try BcosModel.load(path)
        XCTAssertEqual(back.config, cfg)
        XCTAssertEqual(back.stateDict().map(\.name), model.stateDict().map(\.name))
        for (a, b) in zip(back.stateDict(), model.stateDict()) { XCTAssertEqual(a.tensor, b.tensor) }
        let x = model.encode(TestSupport.random([1, 1, 10, 12], seed: 4))
        XCTAssertEqual(back.logits(x), model.logits(x))
    }

    func testHalfAndBFloatDecode() {
        XCTAssertEqual(Safetensors.halfToFloat(0x3C00), 1)
        XCTAssertEqual(Safetensors.halfToFloat(0xC000), -2)
        XCTAssertEqual(Safetensors.halfToFloat(0x0001), Float(pow(2.0, -24)))
        XCTAssertEqual(Safetensors.halfToFloat(0x7C00), .infinity)
        XCTAssertTrue(Safetensors.halfToFloat(0x7E00).isNaN)
    }

    func testInputTooSmallOrTooLargeIsRefused() throws {
        let cfg = ModelConfig(numClasses: 3, widths: [2, 2, 2, 2, 2, 2, 2, 2], paddings: [0, 0, 0, 0, 0, 0, 0, 0, 0],
                              b: 2, maxOut: 1)
        let model = try BcosModel.random(config: cfg, seed: 1)
        XCTAssertNoThrow(try model.validateInput(height: 64, width: 64, what: "x"))
        XCTAssertThrowsError(try model.validateInput(height: 32, width: 64, what: "image 'tiny.png'")) { error in
            XCTAssertTrue("\(error)".contains("tiny.png") && "\(error)".contains("too small"), "\(error)")
        }
        XCTAssertThrowsError(try model.validateInput(height: 64, width: 64, what: "big", maxBytes: 1000))
        XCTAssertEqual(ConvShape(inChannels: 1, outChannels: 1, kernel: 3).outputSize(2, 1).h, 0)
    }
}
