import BcosEngine
import XCTest

/// `BcosModel.fit`: the one check that a model takes a dataset's images (eval, localize, explain --data, the
/// explorer).
final class FitTests: XCTestCase {
    func model() throws -> BcosModel {
        let cfg = ModelConfig(numClasses: 3, imageChannels: 3, imageSize: [12, 10], widths: [6, 6, 8, 8, 8, 10, 10, 10],
                              b: 2, maxOut: 2, scale: 0.5, logitTemperature: 0.1, logitBias: -1.386,
                              classes: ["cat", "dog", "fish"])
        return try BcosModel.random(config: cfg, seed: 1)
    }

    func fit(_ m: BcosModel, _ classes: [String], channels: Int = 3, size: Int = 12) throws -> [Int]? {
        try m.fit(classes: classes, channels: channels, height: size, width: size, modelPath: "m.safetensors",
                  dataPath: "data")
    }

    func testFitRelabelsClassFoldersNamedAfterTheModelsClasses() throws {
        let m = try model()
        XCTAssertNil(try fit(m, ["cat", "dog", "fish"]))
        XCTAssertEqual(try fit(m, ["Fish", "cat"]), [2, 0])
        XCTAssertNil(try fit(m, ["a", "b", "c"]), "same count, other names: taken as they are")
        XCTAssertTrue(m.fits(classes: ["a", "b", "c"], channels: 3, height: 12, width: 10))
        XCTAssertFalse(m.fits(classes: ["fish", "cat"], channels: 3, height: 12, width: 10), "needs relabelling")
    }

    func testFitRefusesOtherClassesChannelsOrTooSmallImages() throws {
        let m = try model()
        XCTAssertThrowsError(try fit(m, ["cat", "horse"])) { error in
            XCTAssertEqual("\(error)", "dataset 'data' has 2 classes but model 'm.safetensors' has 3; name each class "
                           + "folder after one of the model's classes ('horse' is not one, e.g. 'cat', 'dog', 'fish')")
        }
        XCTAssertThrowsError(try fit(m, ["cat", "dog", "fish"], channels: 1)) { error in
            XCTAssertEqual("\(error)", "dataset 'data' has 1-channel images but model 'm.safetensors' takes 3")
        }
        XCTAssertThrowsError(try fit(m, ["cat", "dog", "fish"], size: 0)) { error in
            XCTAssertTrue("\(error)".hasPrefix("dataset 'data' images is 0x0, too small"), "\(error)")
        }
        XCTAssertFalse(m.fits(classes: ["cat", "dog", "fish"], channels: 1, height: 12, width: 10))
    }
}
