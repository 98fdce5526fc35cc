import BcosEngine
@testable import BcosExplain
import BcosTestSupport
import XCTest

/// The one picture pipeline (`ExplanationViews`, `NeuronView`, `MethodView`): what `bcos explain`, `bcos neurons`
/// and the explorer draw is what the separate explanations and picture functions give.
final class ExplanationViewsTests: XCTestCase {
    func testViewsEqualSeparateExplanationsAndPictures() throws {
        let model = try MethodTests.smallModel()
        let x = MethodTests.image(model)
        let v = try ExplanationViews(model: model, input: x, target: .logit(2), smooth: 3, overlay: true)
        let e = try model.explain(x, target: .logit(2))
        let d = try model.explain(x, target: .topTwoDelta)
        XCTAssertEqual(v.explanation.weights.data, e.weights.data)
        XCTAssertEqual(v.delta?.contributions.data, d.contributions.data)
        let image = Pictures.imageRGB(x, channels: 3)
        XCTAssertEqual(v.image, image)
        XCTAssertEqual(v.colour, Visualize.composite(Visualize.colourExplanation(input: e.input, weights: e.weights, smooth: 3)))
        XCTAssertEqual(v.contributions.rgb, Pictures.signedMap(e.contributions.data, over: image).rgb)
        XCTAssertEqual(v.deltaMap?.rgb, Pictures.signedMap(d.contributions.data, over: image).rgb)
        guard case .difference(let a, let b) = d.target else { return XCTFail("top-2 Δ did not resolve") }
        let classes = model.classes
        XCTAssertEqual(v.tiles(classes: classes).map(\.title),
                       ["image", "explanation \(classes[2])", "contributions \(classes[2])", "delta \(classes[a]) - \(classes[b])"])
        XCTAssertEqual(v.tiles(classes: classes).map { $0.range != nil }, [false, false, true, true])
        let plain = try ExplanationViews(model: model, input: x, target: .predicted, delta: false)
        XCTAssertNil(plain.delta)
        XCTAssertEqual(plain.tiles(classes: classes).count, 3)
    }

    func testNeuronViewsAreTheEnginesNeuronsWithTheirPictures() throws {
        let model = try MethodTests.smallModel()
        let x = MethodTests.image(model)
        let views = try NeuronView.top(3, of: "4", model: model, input: x)
        let engine = try model.explainNeurons(x, layer: "4", top: 3)
        XCTAssertEqual(views.map(\.neuron), engine.map(\.neuron))
        for (v, n) in zip(views, engine) {
            XCTAssertEqual(v.colour, Pictures.colour(n.explanation, smooth: 1))
            XCTAssertEqual(v.contributions.rgb, Visualize.signedColours(n.explanation.contributions.data).rgb)
        }
    }

    /// The extras a method adds travel with its map, so callers need not know the method's type.
    func testMethodViewsCarryWhatTheMethodAdds() throws {
        let model = try MethodTests.smallModel()
        let x = MethodTests.image(model)
        let ig = try MethodView(IntegratedGradients(steps: 8), model: model, input: x, target: 1)
        let direct = try IntegratedGradients(steps: 8).integrate(model, input: x, target: 1)
        XCTAssertEqual(ig.attribution.map.values, direct.map.values)
        XCTAssertEqual(ig.attribution.integrated?.completenessError, direct.completenessError)
        XCTAssertNil(ig.topSuperpixels)
        let lime = try MethodView(LIME(samples: 40), model: model, input: x, target: 1)
        let mask = try XCTUnwrap(lime.attribution.superpixels).topMask(5)
        XCTAssertEqual(lime.topSuperpixels, Pictures.imageRGB(x, channels: 3, mask: mask))
        XCTAssertEqual(lime.tiles(className: "b").map(\.title), ["image", "lime b", "lime top 5"])
        let grad = try MethodView(Gradient(), model: model, input: x, target: 1)
        XCTAssertNil(grad.attribution.integrated)
        XCTAssertNil(grad.attribution.superpixels)
        XCTAssertEqual(grad.signed.rgb, Visualize.signedColours(grad.attribution.map.values).rgb)
    }
}
