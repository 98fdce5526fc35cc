import BcosEngine
import BcosExplain
import BcosTestSupport
import XCTest

/// The grid pointing game (BCOS_REFERENCE §6): the cell score on synthetic maps, grid drawing and tiling on synthetic
/// predictions, the summary statistics against hand-computed numpy values, and one small end-to-end game.
final class LocalisationTests: XCTestCase {
    // MARK: score

    /// A `size x size` map that is `value` inside cell `k` of an `n x n` grid and `outside` elsewhere.
    func cellMap(size: Int, n: Int, cell k: Int, value: Float, outside: Float = 0) -> [Float] {
        let r = Localisation.cell(k, n: n, height: size, width: size)
        return (0..<(size * size)).map { i in
            let y = i / size, x = i % size
            return y >= r.y && y < r.y + r.h && x >= r.x && x < r.x + r.w ? value : outside
        }
    }

    func testAllMassInTheCellScoresOne() {
        for n in [2, 3] {
            for k in 0..<(n * n) {
                let map = cellMap(size: 6, n: n, cell: k, value: 2)
                XCTAssertEqual(Localisation.score(map: map, h: 6, w: 6, n: n, cell: k), 1, accuracy: 1e-12, "n \(n) cell \(k)")
                let other = (k + 1) % (n * n)
                XCTAssertEqual(Localisation.score(map: map, h: 6, w: 6, n: n, cell: other), 0, "n \(n) cell \(other)")
            }
        }
    }

    func testUniformMapScoresChance() {
        for (n, size) in [(2, 8), (3, 9), (3, 12)] {
            let map = [Float](repeating: 0.7, count: size * size)
            for k in 0..<(n * n) {
                XCTAssertEqual(Localisation.score(map: map, h: size, w: size, n: n, cell: k), 1 / Double(n * n),
                               accuracy: 1e-9, "\(n)x\(n) cell \(k)")
            }
        }
    }

    func testNegativeValuesAreIgnoredAndZeroMapsScoreZero() {
        // Cell 0 holds all the positive mass; huge negative values elsewhere must not count.
        let map = cellMap(size: 6, n: 3, cell: 0, value: 1, outside: -50)
        XCTAssertEqual(Localisation.score(map: map, h: 6, w: 6, n: 3, cell: 0), 1)
        // Half the positive mass is in cell 3 even though cell 3 also holds a large negative value.
        var mixed = [Float](repeating: 0, count: 16)
        mixed[0] = 1  // (0, 0): cell 0
        mixed[2] = 1  // (0, 2): cell 2 (row 0, column 1)
        mixed[15] = -8  // (3, 3): cell 3
        XCTAssertEqual(Localisation.score(map: mixed, h: 4, w: 4, n: 2, cell: 2), 0.5)
        XCTAssertEqual(Localisation.score(map: mixed, h: 4, w: 4, n: 2, cell: 3), 0)
        XCTAssertEqual(Localisation.score(map: [Float](repeating: 0, count: 16), h: 4, w: 4, n: 2, cell: 1), 0)
        XCTAssertEqual(Localisation.score(map: [Float](repeating: -1, count: 16), h: 4, w: 4, n: 2, cell: 1), 0)
    }

    func testSmoothingComesBeforeClamping() {
        // 2x2 map, one pixel per cell: +1 in cell 0, -3 in cell 2. The 3x3 mean (zero padding counted) of a 2x2 map
        // is the same everywhere: (1 - 3) / 9 < 0, so nothing is positive after smoothing. Clamping first would
        // spread 1/9 evenly and score 0.25; not smoothing scores 1.
        let map: [Float] = [1, -3, 0, 0]
        XCTAssertEqual(Localisation.score(map: map, h: 2, w: 2, n: 2, cell: 0), 1)
        XCTAssertEqual(Localisation.score(map: map, h: 2, w: 2, n: 2, cell: 0, smooth: 3), 0)
        // A single +9 at (1, 1) of a 4x4 map spreads 1 over the 3x3 block (0...2, 0...2): 4 pixels in cell 0,
        // 2 in cell 1 (rows 2-3), 2 in cell 2 (columns 2-3), 1 in cell 3.
        var spot = [Float](repeating: 0, count: 16)
        spot[5] = 9
        let scores = (0..<4).map { Localisation.score(map: spot, h: 4, w: 4, n: 2, cell: $0, smooth: 3) }
        for (got, want) in zip(scores, [4.0 / 9, 2.0 / 9, 2.0 / 9, 1.0 / 9]) { XCTAssertEqual(got, want, accuracy: 1e-6) }
    }

    /// For any map with positive mass the cells partition it (scores sum to 1), and rotating the map by 180 degrees
    /// moves the score of cell k to cell n² - 1 - k.
    func testScoresPartitionTheMassAndRotateWithTheMap() {
        var rng = SplitMix64(seed: 7)
        for n in [2, 3] {
            let size = 4 * n
            let map = (0..<(size * size)).map { _ in rng.nextFloat() * 2 - 0.8 }
            let rotated = Array(map.reversed())
            var total = 0.0
            for k in 0..<(n * n) {
                let s = Localisation.score(map: map, h: size, w: size, n: n, cell: k, smooth: 3)
                total += s
                XCTAssertEqual(Localisation.score(map: rotated, h: size, w: size, n: n, cell: n * n - 1 - k, smooth: 3), s,
                               accuracy: 1e-6, "n \(n) cell \(k)")
            }
            XCTAssertEqual(total, 1, accuracy: 1e-9)
        }
    }

    // MARK: grids

    func testTilingIsColumnMajor() {
        for n in [2, 3] {
            // Image k is constant 10 * k + channel, 2x3 pixels, 2 channels.
            let c = 2, h = 2, w = 3
            let images = (0..<(n * n)).flatMap { k in (0..<c).flatMap { ch in [Float](repeating: Float(10 * k + ch), count: h * w) } }
            let grid = Localisation.tile(images, n: n, channels: c, height: h, width: w)
            XCTAssertEqual(grid.shape, [c, n * h, n * w])
            for ch in 0..<c {
                for y in 0..<(n * h) {
                    for x in 0..<(n * w) {
                        let k = (x / w) * n + y / h  // row k mod n, column k div n
                        XCTAssertEqual(grid.data[(ch * n * h + y) * n * w + x], Float(10 * k + ch), "n \(n) (\(ch), \(y), \(x))")
                    }
                }
            }
        }
        let r = Localisation.cell(1, n: 2, height: 8, width: 8)
        XCTAssertEqual([r.y, r.x, r.h, r.w], [4, 0, 4, 4], "cell 1 is below cell 0")
    }

    /// Six classes with several images each, some wrong and some not confident.
    func syntheticPredictions() -> [Localisation.Prediction] {
        var rng = SplitMix64(seed: 3)
        var preds = [Localisation.Prediction]()
        for i in 0..<120 {
            let label = i % 6
            let logit = rng.nextFloat() * 6 - 1.5
            let predicted = i % 7 == 0 ? (label + 1) % 6 : label
            preds.append(.init(label: label, predicted: predicted, logit: logit))
        }
        return preds
    }

    func testPlanUsesConfidentCorrectImagesInLogitOrderAndDistinctClasses() {
        let preds = syntheticPredictions()
        let plan = Localisation.plan(preds, classes: 6, n: 2, grids: 1000)
        XCTAssertEqual(plan.qualifyingClasses, 6)
        XCTAssertEqual(plan.grids.count, plan.classes.count)
        XCTAssertGreaterThan(plan.grids.count, 5)
        var used = [[Int]](repeating: [], count: 6)
        for (members, classes) in zip(plan.grids, plan.classes) {
            XCTAssertEqual(members.count, 4)
            XCTAssertEqual(Set(classes).count, 4, "classes in one grid are distinct")
            for (i, cls) in zip(members, classes) {
                XCTAssertTrue(preds[i].correct && preds[i].confident, "image \(i) is not correct and confident")
                XCTAssertEqual(preds[i].label, cls)
                used[cls].append(i)
            }
        }
        XCTAssertEqual(Set(used.joined()).count, used.joined().count, "no image is used twice")
        for c in 0..<6 {
            let eligible = preds.indices.filter { preds[$0].label == c && preds[$0].correct && preds[$0].logit > 0 }
                .sorted { preds[$0].logit > preds[$1].logit }
            XCTAssertEqual(used[c], Array(eligible.prefix(used[c].count)), "class \(c) takes its most confident first")
        }
        // Stop condition: drawing ends only when at most n² classes have images left.
        let leftover = (0..<6).filter { c in
            preds.indices.contains { preds[$0].label == c && preds[$0].correct && preds[$0].confident && !used[c].contains($0) }
        }
        XCTAssertLessThanOrEqual(leftover.count, 4)
    }

    func testPlanIsDeterministicAndStopsAtRequestedCount() {
        let preds = syntheticPredictions()
        let a = Localisation.plan(preds, classes: 6, n: 2, grids: 3)
        XCTAssertEqual(a, Localisation.plan(preds, classes: 6, n: 2, grids: 3))
        XCTAssertEqual(a.grids.count, 3)
        XCTAssertEqual(Array(Localisation.plan(preds, classes: 6, n: 2, grids: 10).grids.prefix(3)), a.grids)
        let others = (43..<48).map { Localisation.plan(preds, classes: 6, n: 2, grids: 3, seed: $0) }
        XCTAssertTrue(others.contains { $0.grids != a.grids }, "the seed changes the draw")
    }

    func testNoGridUnlessMoreThanNSquaredClassesQualify() {
        // Classes 0...3 confident and correct, class 4 wrong, class 5 not confident: 4 qualify, a 2x2 needs 5.
        var preds = (0..<4).map { Localisation.Prediction(label: $0, predicted: $0, logit: 3) }
        preds.append(.init(label: 4, predicted: 0, logit: 5))
        preds.append(.init(label: 5, predicted: 5, logit: -0.1))
        let none = Localisation.plan(preds, classes: 6, n: 2, grids: 10)
        XCTAssertEqual(none.qualifyingClasses, 4)
        XCTAssertTrue(none.grids.isEmpty)
        // With class 5 confident, five classes of one image each make exactly one grid.
        preds[5].logit = 0.1
        let one = Localisation.plan(preds, classes: 6, n: 2, grids: 10)
        XCTAssertEqual(one.qualifyingClasses, 5)
        XCTAssertEqual(one.grids.count, 1)
    }

    // MARK: statistics

    func testSummaryMatchesNumpy() {
        // numpy.percentile([1, 2, 3, 4], [25, 50, 75]) = [1.75, 2.5, 3.25]
        let a = Localisation.Summary([4, 1, 3, 2])
        XCTAssertEqual([a.q1, a.median, a.q3, a.mean, a.min, a.max], [1.75, 2.5, 3.25, 2.5, 1, 4])
        // numpy.percentile([0.1, 0.9, 0.5, 0.3, 0.7], [25, 50, 75]) = [0.3, 0.5, 0.7]
        let b = Localisation.Summary([0.1, 0.9, 0.5, 0.3, 0.7])
        XCTAssertEqual(b.q1, 0.3, accuracy: 1e-12)
        XCTAssertEqual(b.median, 0.5, accuracy: 1e-12)
        XCTAssertEqual(b.q3, 0.7, accuracy: 1e-12)
        // numpy.percentile([0, 0, 1, 1, 1, 0.5], [25, 50, 75]) = [0.125, 0.75, 1.0]
        let c = Localisation.Summary([0, 0, 1, 1, 1, 0.5])
        XCTAssertEqual([c.q1, c.median, c.q3], [0.125, 0.75, 1.0])
        XCTAssertEqual(Localisation.Summary([0.4]).median, 0.4)
    }

    // MARK: end to end

    /// A random 6-class model and images labelled with its own predictions, so every image is correct; the logit
    /// bias makes every logit positive (confident).
    func tinyGame() throws -> (model: BcosModel, images: Localisation.Images) {
        let cfg = ModelConfig(numClasses: 6, imageChannels: 1, imageSize: [12, 12], widths: [4, 4, 6, 6, 6, 8, 8, 8],
                              b: 2, maxOut: 2, scale: 0.5, logitTemperature: 0.1, logitBias: 50)
        let model = try BcosModel.random(config: cfg, seed: 7)  // a seed that predicts all six classes
        var rng = SplitMix64(seed: 12)
        var pixels = [Float](), labels = [Int]()
        var perClass = [Int](repeating: 0, count: 6)
        for _ in 0..<40 where perClass.min()! < 3 {
            // Batches of varied images: a random brightness and contrast per image.
            let batch = (0..<16).flatMap { _ -> [Float] in
                let base = rng.nextFloat(), spread = rng.nextFloat()
                return (0..<144).map { _ in min(1, max(0, base + (rng.nextFloat() - 0.5) * spread)) }
            }
            let predicted = model.predict(model.encode(Tensor(shape: [16, 1, 12, 12], data: batch)))
            for (i, p) in predicted.enumerated() where perClass[p] < 3 {
                perClass[p] += 1
                labels.append(p)
                pixels += batch[(i * 144)..<((i + 1) * 144)]
            }
        }
        XCTAssertGreaterThan(perClass.filter { $0 > 0 }.count, 4, "the random model must predict at least 5 classes")
        let frozen = pixels
        let images = Localisation.Images(channels: 1, height: 12, width: 12, labels: labels) { indices in
            indices.flatMap { frozen[($0 * 144)..<(($0 + 1) * 144)] }
        }
        return (model, images)
    }

    func testEndToEndGameWithBcosExplanations() throws {
        let (model, images) = try tinyGame()
        let preds = Localisation.predictions(model, images: images, batchSize: 5)
        XCTAssertTrue(preds.allSatisfy { $0.correct && $0.confident })
        var calls = [Int]()
        let report = try Localisation.run(model, images: images, n: 2, grids: 3, methods: [BcosContributions()]) { done, total in
            calls.append(done)
            XCTAssertEqual(total, 3)
        }
        XCTAssertEqual(report.grids, 3)
        XCTAssertEqual(calls, [0, 1, 2, 3])
        XCTAssertEqual(report.methods.map(\.name), ["bcos"])
        let scores = report.methods[0].scores
        XCTAssertEqual(scores.count, 12)
        XCTAssertTrue(scores.allSatisfy { $0 >= 0 && $0 <= 1 }, "\(scores)")
        XCTAssertEqual(report.example.image.shape, [1, 24, 24])
        XCTAssertEqual(report.example.classIndex, report.plan.classes[0][0])
        XCTAssertEqual(report.example.maps.count, 1)

        let plot = Localisation.boxPlot(report.methods, title: "test", chance: 0.25)
        XCTAssertEqual(plot.rgb.count, plot.width * plot.height * 3)
        XCTAssertTrue(plot.rgb.contains { $0 != 255 }, "the box plot draws something")
        let picture = Localisation.examplePicture(report.example, className: "3")
        XCTAssertEqual(picture.rgb.count, picture.width * picture.height * 3)
        XCTAssertEqual(picture.width, 8 + 2 * (24 * 8 + 8), "two panels of 24 px upscaled 8 times")

        XCTAssertThrowsError(try Localisation.run(model, images: images, n: 3, grids: 1, methods: [BcosContributions()])) {
            XCTAssertTrue("\($0)".contains("a 3x3 grid needs more than 9 such classes"), "\($0)")
        }
    }

    /// Slow methods on fewer grids: the first grids' scores equal the full run's.
    func testGridLimitsPlayTheFirstGridsOnly() throws {
        let (model, images) = try tinyGame()
        let methods: [any AttributionMethod] = [BcosContributions(), Occlusion()]
        let full = try Localisation.run(model, images: images, n: 2, grids: 3, methods: methods)
        let limited = try Localisation.run(model, images: images, n: 2, grids: 3, methods: methods,
                                           gridLimits: ["occlusion": 1])
        XCTAssertEqual(limited.methods[0].scores, full.methods[0].scores)
        XCTAssertEqual(limited.methods[1].scores.count, 4, "one 2x2 grid")
        XCTAssertEqual(limited.methods[1].scores, Array(full.methods[1].scores.prefix(4)))
        XCTAssertEqual(limited.example.maps.count, 2, "the example grid has every method")
    }

    /// Several smoothings score the same maps: each equals a run with that smoothing alone.
    func testSeveralSmoothingsEqualSeparateRuns() throws {
        let (model, images) = try tinyGame()
        let methods: [any AttributionMethod] = [BcosContributions(), Gradient()]
        let both = try Localisation.run(model, images: images, n: 2, grids: 3, methods: methods, smooths: [1, 5])
        XCTAssertEqual(both.methods.map(\.name), ["bcos", "grad", "bcos", "grad"])
        XCTAssertEqual(both.methods.map(\.smooth), [1, 1, 5, 5])
        XCTAssertEqual(both.smooth, 1)
        for (i, sm) in [1, 5].enumerated() {
            let alone = try Localisation.run(model, images: images, n: 2, grids: 3, methods: methods, smooth: sm)
            XCTAssertEqual(both.methods[2 * i].scores, alone.methods[0].scores, "bcos, smooth \(sm)")
            XCTAssertEqual(both.methods[2 * i + 1].scores, alone.methods[1].scores, "grad, smooth \(sm)")
        }
        XCTAssertNotEqual(both.methods[0].scores, both.methods[2].scores, "smoothing changes the scores")
    }
}
