@testable import BcosTUI
import XCTest

/// The reducer: navigation, filters, sorting, model switches and stale results, without a terminal.
final class StateTests: XCTestCase {
    func state(width: Int = 80, height: Int = 24, count: Int = 40) -> AppState {
        var s = AppState(width: width, height: height, datasetName: "toy", classes: ["cat", "dog", "ship"],
                         labels: (0..<count).map { $0 % 3 }, imageWidth: 8, imageHeight: 8,
                         models: [ModelEntry(name: "a", path: "a"), ModelEntry(name: "b", path: "b")], modelIndex: 0)
        // Every fourth image is misclassified; confidence grows with the index.
        _ = reduce(&s, .predictions(generation: 0, start: 0, results: (0..<count).map { i in
            Prediction(predicted: i % 4 == 0 ? (i + 1) % 3 : i % 3, confidence: Float(i) / Float(count))
        }))
        return s
    }

    func testCursorMovesAndClampsAndScrolls() {
        var s = state()
        let layout = BrowserLayout(s)
        _ = reduce(&s, .key(.right))
        XCTAssertEqual(s.cursor, 1)
        _ = reduce(&s, .key(.down))
        XCTAssertEqual(s.cursor, 1 + layout.columns)
        _ = reduce(&s, .key(.char("G")))
        XCTAssertEqual(s.cursor, 39)
        XCTAssertGreaterThan(s.scrollRow, 0, "the last row is scrolled into view")
        _ = reduce(&s, .key(.right))
        XCTAssertEqual(s.cursor, 39, "clamped at the end")
        _ = reduce(&s, .key(.char("g")))
        XCTAssertEqual(s.cursor, 0)
        XCTAssertEqual(s.scrollRow, 0)
        _ = reduce(&s, .key(.pageDown))
        XCTAssertEqual(s.cursor, min(39, layout.perPage))
    }

    /// The layer list finds a B-cos layer by the paper's running index ("L2") as well as by name.
    func testLayerFinderTakesThePapersIndex() {
        var s = state()
        _ = reduce(&s, .modelReady(generation: 0, layers: [
            Layer(name: "conv1", shape: [1, 4, 8, 8], paperIndex: 1), Layer(name: "layer1.0.conv1", shape: [1, 4, 8, 8], paperIndex: 2),
            Layer(name: "layer1.0.add", shape: [1, 4, 8, 8]), Layer(name: "logits", shape: [1, 3]),
        ]))
        XCTAssertEqual(layerMatches(s, "l2"), [1])
        XCTAssertEqual(layerMatches(s, "layer1"), [1, 2])
        XCTAssertEqual(Layer.labelWidth(s.layers), 2)
        XCTAssertEqual(s.layers[0].label(width: 3), "L1  ")
        XCTAssertEqual(s.layers[2].label(width: 3), "    ")
    }

    func testFiltersAndSort() {
        var s = state()
        _ = reduce(&s, .key(.char("x")))
        XCTAssertEqual(s.visible, stride(from: 0, to: 40, by: 4).map { $0 })
        _ = reduce(&s, .key(.char("a")))
        XCTAssertEqual(s.visible.count, 40)
        _ = reduce(&s, .key(.char("/")))
        for c in "do" { _ = reduce(&s, .key(.char(c))) }
        _ = reduce(&s, .key(.enter))
        XCTAssertEqual(s.filter, .trueClass(1))
        XCTAssertTrue(s.visible.allSatisfy { s.labels[$0] == 1 })
        _ = reduce(&s, .key(.char("p")))
        for c in "ship" { _ = reduce(&s, .key(.char(c))) }
        _ = reduce(&s, .key(.enter))
        XCTAssertEqual(s.filter, .predictedClass(2))
        XCTAssertTrue(s.visible.allSatisfy { s.predictions[$0]?.predicted == 2 })
        _ = reduce(&s, .key(.char("a")))
        _ = reduce(&s, .key(.char("s")))
        XCTAssertEqual(s.sort, .confidenceDown)
        XCTAssertEqual(s.visible.first, 39)
        _ = reduce(&s, .key(.char("/")))
        for c in "zebra" { _ = reduce(&s, .key(.char(c))) }
        _ = reduce(&s, .key(.enter))
        XCTAssertTrue(s.status.contains("zebra"))
    }

    func testEnterAsksForTheExplanationOfThePredictedClass() {
        var s = state()
        _ = reduce(&s, .key(.right))
        let effects = reduce(&s, .key(.enter))
        XCTAssertEqual(s.screen, .inspect)
        XCTAssertEqual(s.current, 1)
        XCTAssertEqual(effects, [.inspect(image: 1, target: nil, generation: 0)])
        let next = reduce(&s, .key(.down))
        XCTAssertEqual(next, [.inspect(image: 1, target: 2, generation: 0)], "↓ explains the next class")
        XCTAssertEqual(reduce(&s, .key(.char("e"))), [.export(image: 1, screen: .inspect)])
        _ = reduce(&s, .key(.escape))
        XCTAssertEqual(s.screen, .browser)
    }

    func testModelSwitchDropsStaleResults() {
        var s = state()
        _ = reduce(&s, .key(.char("m")))
        _ = reduce(&s, .key(.down))
        let effects = reduce(&s, .key(.enter))
        XCTAssertEqual(effects, [.loadModel(index: 1, generation: 1)])
        XCTAssertEqual(s.modelIndex, 1)
        XCTAssertEqual(s.predictionsDone, 0)
        _ = reduce(&s, .predictions(generation: 0, start: 0, results: [Prediction(predicted: 0, confidence: 1)]))
        XCTAssertNil(s.predictions[0], "a result for the old model is dropped")
        _ = reduce(&s, .predictions(generation: 1, start: 0, results: [Prediction(predicted: 2, confidence: 0.5)]))
        XCTAssertEqual(s.predictions[0]?.predicted, 2)
    }

    func testQuitKeysAndHelp() {
        var s = state()
        _ = reduce(&s, .key(.char("?")))
        XCTAssertEqual(s.overlay, .help)
        _ = reduce(&s, .key(.char("j")))
        XCTAssertEqual(s.overlay, .none, "any key closes help")
        _ = reduce(&s, .key(.ctrlC))
        XCTAssertTrue(s.quit)
        var t = state()
        _ = reduce(&t, .key(.char("q")))
        XCTAssertTrue(t.quit)
    }

    func testJumpToIndex() {
        var s = state()
        _ = reduce(&s, .key(.char(":")))
        for c in "27" { _ = reduce(&s, .key(.char(c))) }
        _ = reduce(&s, .key(.enter))
        XCTAssertEqual(s.cursor, 27)
        XCTAssertEqual(s.current, 27)
    }

    func testComparisonMethodCyclesAndWaitsForTheBcosClass() {
        var s = state()
        _ = reduce(&s, .key(.enter))
        XCTAssertEqual(reduce(&s, .key(.char("o"))), [], "no class known yet: wait for the B-cos explanation")
        XCTAssertEqual(s.method, "grad")
        let inspect = InspectResult(image: 0, modelGeneration: 0, target: 1, logits: [0, 1, 0], colour: [], contributions: [],
                                    delta: [], deltaClasses: (1, 0), completenessError: 0, explainedValue: 1, width: 8, height: 8)
        XCTAssertEqual(reduce(&s, .inspectReady(inspect)), [.methods(names: ["grad"], image: 0, target: 1, generation: 0)])
        _ = reduce(&s, .methodReady(MethodResult(image: 0, modelGeneration: 0, target: 1, method: "ixg", rgb: [], seconds: 0)))
        XCTAssertNil(s.methodResult, "a result for another method is dropped")
        _ = reduce(&s, .methodReady(MethodResult(image: 0, modelGeneration: 0, target: 1, method: "grad", rgb: [], seconds: 0)))
        XCTAssertNotNil(s.methodResult)
        XCTAssertEqual(reduce(&s, .key(.char("o"))), [.methods(names: ["ixg"], image: 0, target: 1, generation: 0)])
        _ = reduce(&s, .key(.char("O")))
        _ = reduce(&s, .key(.char("O")))
        XCTAssertNil(s.method, "back to no comparison")
    }

    func testTwoMethodsSideBySide() {
        var s = state()
        _ = reduce(&s, .key(.enter))
        let inspect = InspectResult(image: 0, modelGeneration: 0, target: 1, logits: [0, 1, 0], colour: [], contributions: [],
                                    delta: [], deltaClasses: (1, 0), completenessError: 0, explainedValue: 1, width: 8, height: 8)
        _ = reduce(&s, .inspectReady(inspect))
        XCTAssertEqual(reduce(&s, .key(.char("o"))), [.methods(names: ["grad"], image: 0, target: 1, generation: 0)])
        XCTAssertEqual(reduce(&s, .key(.char("P"))), [.methods(names: ["grad", "lime"], image: 0, target: 1, generation: 0)],
                       "P cycles the second slot backwards to the last method; grad has not answered yet, so both are asked for")
        XCTAssertEqual(s.methods, ["grad", "lime"])
        _ = reduce(&s, .methodReady(MethodResult(image: 0, modelGeneration: 0, target: 1, method: "lime", rgb: [1], seconds: 0)))
        XCTAssertNil(s.methodResults[0])
        XCTAssertEqual(s.methodResults[1]?.method, "lime")
        _ = reduce(&s, .methodReady(MethodResult(image: 0, modelGeneration: 0, target: 1, method: "grad", rgb: [2], seconds: 0)))
        XCTAssertEqual(s.methodResults.map { $0?.method }, ["grad", "lime"])
        // Choosing in one slot the method the other shows reuses its map.
        for _ in 0..<7 { _ = reduce(&s, .key(.char("o"))) }
        XCTAssertEqual(s.methods, ["lime", "lime"])
        XCTAssertEqual(s.methodResults[0]?.rgb, [1])
        // A new image clears both maps and asks for both again once B-cos has explained it.
        _ = reduce(&s, .key(.char("p")))
        XCTAssertEqual(s.methods, ["lime", nil])
        _ = reduce(&s, .key(.char("p")))
        _ = reduce(&s, .key(.right))
        XCTAssertEqual(s.methodResults.compactMap { $0 }.count, 0)
        var next = inspect
        next.image = 1
        XCTAssertEqual(reduce(&s, .inspectReady(next)), [.methods(names: ["lime", "grad"], image: 1, target: 1, generation: 0)])
    }

    /// ImageNet-size images (224 or 299 px) shrink to thumbnails that fit several to a screen at every size.
    func testCTogglesNeuronTilesBetweenColourAndContributions() {
        var s = state()
        _ = reduce(&s, .key(.enter))
        _ = reduce(&s, .key(.char("n")))
        XCTAssertEqual(s.screen, .neurons)
        XCTAssertEqual(s.neuronTiles, .colour)
        _ = reduce(&s, .key(.char("c")))
        XCTAssertEqual(s.neuronTiles, .contributions)
        XCTAssertTrue(s.status.contains("contribution"), s.status)
        _ = reduce(&s, .key(.char("c")))
        XCTAssertEqual(s.neuronTiles, .colour)
    }

    func testLargeImagesShrinkToFit() {
        for (w, h) in [(80, 24), (120, 40), (200, 60)] {
            for size in [28, 32, 224, 299] {
                let s = AppState(width: w, height: h, datasetName: "x", classes: ["a"], labels: [0], imageWidth: size,
                                 imageHeight: size, models: [], modelIndex: 0)
                let l = BrowserLayout(s)
                XCTAssertGreaterThanOrEqual(l.columns * l.rows, 6, "\(size) px at \(w)x\(h)")
                XCTAssertLessThanOrEqual(l.columns * (max(l.thumbWidth, 10) + 1), w + 1, "\(size) px at \(w)x\(h)")
                XCTAssertLessThanOrEqual(l.rows * (l.thumbRows + 1), h - 3, "\(size) px at \(w)x\(h)")
                if size <= 32 && w >= 120 { XCTAssertEqual(l.shrink, 1, "small images stay full size") }
            }
        }
    }
}
