@testable import BcosEngine
import BcosTestSupport
import XCTest

/// The fast kernels against naive references (llm.c style): GEMM, convolution (any kernel, stride, padding,
/// groups, batched or not), its input gradient (adjoint identity) and the patch norms.
final class KernelTests: XCTestCase {
    func testSgemmMatchesNaive() {
        for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
            let m = 7, n = 9, k = 5
            let a = TestSupport.random([m * k], seed: 1).data, b = TestSupport.random([k * n], seed: 2).data
            var c1 = [Float](repeating: 1, count: m * n), c2 = c1
            let lda = transA ? m : k, ldb = transB ? k : n
            GEMM.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda, b: b, ldb: ldb,
                       beta: 2, c: &c1, ldc: n)
            GEMM.naive(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda, b: b, ldb: ldb,
                       beta: 2, c: &c2, ldc: n)
            XCTAssertNil(TestSupport.compare(c1, c2, rtol: 1e-5), "transA \(transA) transB \(transB)")
        }
    }

    /// Direct 7-loop convolution in Double.
    func naiveConv(_ x: Tensor, _ w: [Float], _ s: ConvShape) -> Tensor {
        let n = x.shape[0], h = x.shape[2], wd = x.shape[3]
        let (oh, ow) = s.outputSize(h, wd)
        let cg = s.inChannels / s.groups, og = s.outChannels / s.groups
        var y = Tensor(shape: [n, s.outChannels, oh, ow])
        for img in 0..<n {
            for o in 0..<s.outChannels {
                let g = o / og
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var acc = 0.0
                        for c in 0..<cg {
                            for ky in 0..<s.kernelH {
                                for kx in 0..<s.kernelW {
                                    let iy = oy * s.stride - s.paddingH + ky, ix = ox * s.stride - s.paddingW + kx
                                    guard iy >= 0 && iy < h && ix >= 0 && ix < wd else { continue }
                                    let xv = x.data[((img * s.inChannels + g * cg + c) * h + iy) * wd + ix]
                                    let wv = w[((o * cg + c) * s.kernelH + ky) * s.kernelW + kx]
                                    acc += Double(xv) * Double(wv)
                                }
                            }
                        }
                        y.data[((img * s.outChannels + o) * oh + oy) * ow + ox] = Float(acc)
                    }
                }
            }
        }
        return y
    }

    let shapes: [(ConvShape, [Int])] = [
        (ConvShape(inChannels: 3, outChannels: 4, kernel: 3, stride: 1, padding: 1), [2, 3, 7, 6]),
        (ConvShape(inChannels: 4, outChannels: 6, kernel: 3, stride: 2, padding: 1), [3, 4, 9, 8]),
        (ConvShape(inChannels: 4, outChannels: 4, kernel: 1), [2, 4, 5, 5]),
        (ConvShape(inChannels: 6, outChannels: 4, kernel: 3, stride: 1, padding: 1, groups: 2), [2, 6, 5, 4]),
        (ConvShape(inChannels: 2, outChannels: 3, kernel: 7, stride: 2, padding: 3), [1, 2, 11, 13]),
        (ConvShape(inChannels: 2, outChannels: 3, kernel: 2, stride: 2, padding: 0), [2, 2, 6, 6]),
        (ConvShape(inChannels: 2, outChannels: 3, kernel: 3, stride: 1, padding: 0), [80, 2, 5, 5]),
        // Inception's rectangular kernels with per-axis padding.
        (ConvShape(inChannels: 3, outChannels: 4, kernelH: 1, kernelW: 7, paddingH: 0, paddingW: 3), [2, 3, 9, 10]),
        (ConvShape(inChannels: 3, outChannels: 2, kernelH: 7, kernelW: 1, paddingH: 3, paddingW: 0), [1, 3, 10, 9]),
        (ConvShape(inChannels: 4, outChannels: 4, kernelH: 3, kernelW: 1, stride: 2, paddingH: 1, paddingW: 0, groups: 2),
         [2, 4, 9, 7]),
        // One image with many groups (depthwise, ResNeXt-like, grouped 1x1): the group-parallel path.
        (ConvShape(inChannels: 6, outChannels: 6, kernel: 7, stride: 1, padding: 3, groups: 6), [1, 6, 9, 8]),
        (ConvShape(inChannels: 6, outChannels: 9, kernel: 3, stride: 2, padding: 1, groups: 3), [1, 6, 9, 9]),
        (ConvShape(inChannels: 8, outChannels: 4, kernel: 1, groups: 4), [1, 8, 5, 6]),
        (ConvShape(inChannels: 4, outChannels: 4, kernelH: 3, kernelW: 5, stride: 2, paddingH: 1, paddingW: 2, groups: 4),
         [1, 4, 9, 11]),
    ]

    func testConvForwardMatchesNaive() {
        for (i, (s, xs)) in shapes.enumerated() {
            let x = TestSupport.random(xs, seed: UInt64(i)), w = TestSupport.random(s.weightShape, seed: 50 + UInt64(i)).data
            let ours = ConvKernels.forward(x, weight: w, shape: s)
            let ref = naiveConv(x, w, s)
            XCTAssertEqual(ours.shape, ref.shape)
            XCTAssertNil(TestSupport.compare(ours.data, ref.data, rtol: 1e-5), "shape \(i)")
        }
    }

    /// <conv(x), g> = <x, conv^T(g)> for random x and g.
    func testConvBackwardIsTheAdjoint() {
        for (i, (s, xs)) in shapes.enumerated() {
            let x = TestSupport.random(xs, seed: UInt64(i)), w = TestSupport.random(s.weightShape, seed: 9).data
            let y = ConvKernels.forward(x, weight: w, shape: s)
            let g = TestSupport.random(y.shape, seed: 77)
            let gx = ConvKernels.backwardInput(g, weight: w, shape: s, inputH: xs[2], inputW: xs[3])
            let lhs = zip(y.data, g.data).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let rhs = zip(x.data, gx.data).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(lhs, rhs, accuracy: 1e-4 * abs(lhs), "shape \(i)")
        }
    }

    func testPatchNormsAreConvWithOnes() {
        for (i, (s, xs)) in shapes.enumerated() {
            let x = TestSupport.random(xs, seed: UInt64(i) + 3)
            let ours = ConvKernels.patchSquaredNorms(x, shape: s)
            let squares = Tensor(shape: x.shape, data: x.data.map { $0 * $0 })
            let ones = ConvShape(inChannels: s.inChannels, outChannels: s.groups, kernelH: s.kernelH, kernelW: s.kernelW,
                                 stride: s.stride, paddingH: s.paddingH, paddingW: s.paddingW, groups: s.groups)
            let ref = naiveConv(squares, [Float](repeating: 1, count: ones.weightShape.reduce(1, *)), ones)
            XCTAssertNil(TestSupport.compare(ours.data, ref.data, rtol: 1e-5), "shape \(i)")
        }
    }

    func testWeightsAreNormalisedOnce() {
        let w = TestSupport.random([4, 3, 3, 3], seed: 4)
        let layer = BcosConv2d(inChannels: 3, outChannels: 2, kernel: 3, maxOut: 2, weight: w)
        for r in 0..<4 {
            let row = layer.normalizedWeight[(r * 27)..<((r + 1) * 27)]
            XCTAssertEqual(row.reduce(0) { $0 + Double($1 * $1) }, 1, accuracy: 1e-5)
        }
        XCTAssertEqual(layer.weight, w, "raw weights are kept for saving and training")
    }
}
