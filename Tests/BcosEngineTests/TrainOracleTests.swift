import BcosEngine
import BcosTestSupport
import Foundation
import XCTest

/// One and two full training steps (forward, BCE loss, backward through the non-detached dynamic scale, patch
/// norm and weight normalisation, Adam update) against the official v1 code.
///
/// Fixtures: `python tools/make_train_fixtures.py --v1 /tmp/bcos-v1` (see tools/README.md), computed in float64.
final class TrainOracleTests: XCTestCase {
    static let cases = ["train_b1_m2", "train_b1p5_m2", "train_b2_m2", "train_b2p5_m2", "train_b2_m1"]

    func path(_ name: String) -> String { TestSupport.repoRoot + "/Tests/BcosEngineTests/TrainFixtures/" + name }

    func testTrainingStepsMatchOfficialCode() throws {
        for name in Self.cases {
            var model = try BcosModel.load(path(name + ".model.safetensors"))
            let f = try Safetensors.load(path(name + ".train.safetensors"))
            let x = try XCTUnwrap(f["input"])
            let labels = try XCTUnwrap(f["labels"]).data.map { Int($0) }
            let lr = Double(f.metadata["lr"] ?? "") ?? 1e-3

            let (loss, logits, grads) = model.lossAndGradients(x, labels: labels)
            XCTAssertNil(TestSupport.compare(logits.data, try XCTUnwrap(f["logits"]).data), "\(name) logits")
            let refLoss = Double(try XCTUnwrap(f["loss"]).data[0])
            XCTAssertEqual(loss, refLoss, accuracy: 1e-4 * abs(refLoss), "\(name) loss")
            for (node, key) in model.weightNodes {
                let g = try XCTUnwrap(grads[node])
                XCTAssertNil(TestSupport.compare(g.data, try XCTUnwrap(f["grad." + key]).data), "\(name) grad \(key)")
            }

            var adam = Adam()
            let (loss1, _) = model.trainStep(x, labels: labels, optimizer: &adam, lr: lr)
            XCTAssertEqual(loss1, refLoss, accuracy: 1e-4 * abs(refLoss))
            for (key, t) in model.stateDict() {
                XCTAssertNil(TestSupport.compare(t.data, try XCTUnwrap(f["step1." + key]).data), "\(name) step 1 \(key)")
            }
            let (loss2, _) = model.trainStep(x, labels: labels, optimizer: &adam, lr: lr)
            let refLoss2 = Double(try XCTUnwrap(f["loss2"]).data[0])
            XCTAssertEqual(loss2, refLoss2, accuracy: 1e-4 * abs(refLoss2), "\(name) loss after step 1")
            for (key, t) in model.stateDict() {
                XCTAssertNil(TestSupport.compare(t.data, try XCTUnwrap(f["step2." + key]).data), "\(name) step 2 \(key)")
            }
        }
    }
}
