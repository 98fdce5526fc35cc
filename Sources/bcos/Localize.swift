import ArgumentParser
import BcosData
import BcosEngine
import BcosExplain
import Foundation

/// `bcos localize`: the paper's grid pointing game, scoring how well explanations localise the class they explain.
struct Localize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Localisation metric: the grid pointing game on a dataset split, test by default (median and quartiles per method).",
        discussion: """
        Correctly classified images with sigmoid(logit) > 0.5 of GRID x GRID different classes are tiled into \
        one grid (seed 42, drawn with our own generator, so the grids differ from the official ones). Each method \
        explains each cell's class on the whole grid; a cell scores the share of positive attribution inside it \
        (1 is perfect, 1/GRID^2 is chance). Prints median, quartiles and mean of all cells per method.
        """)

    @OptionGroup var context: ModelDataOptions

    @Option(name: .long, help: "Grid side: 2 (2x2) or 3 (3x3, the paper's).")
    var grid: Int = 3

    @Option(name: .long, help: "How many grids to play (fewer if confident images run out).")
    var grids: Int = 500

    @Option(name: .long, help: "Comma-separated attribution methods (\(Methods.names.joined(separator: ", "))), or 'all'.")
    var methods: String = "bcos"

    @Option(name: .customLong("slow-grids"), help: """
        Play intgrad, lime, rise and occlusion (the slow methods) on only the first N grids (default: all --grids).
        """)
    var slowGrids: Int?

    @Option(name: .long, help: """
        Odd mean-filter size for each map before clamping (1: none), or several separated by commas (e.g. 1,15: \
        every map is computed once and scored at each). The official analysis script's default is 15.
        """)
    var smooth: String = "1"

    @Option(name: .long, help: "Directory for localisation_boxplot.png and localisation_example.png (created if missing).")
    var out: String?

    @Flag(name: .long, help: "Replace existing PNGs in --out.")
    var force = false

    func run() throws {
        guard grid >= 2 else { throw BcosError("--grid must be at least 2 (the paper uses 2 or 3), got \(grid)") }
        guard grids >= 1 else { throw BcosError("--grids must be at least 1, got \(grids)") }
        let smooths = smooth.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !smooths.isEmpty, smooths.allSatisfy({ ($0 ?? 0) >= 1 && $0! <= 255 && $0! % 2 == 1 }), Set(smooths).count == smooths.count else {
            throw BcosError("--smooth '\(smooth)' must be odd numbers from 1 to 255 separated by commas (e.g. 1 or 1,15), each once")
        }
        try context.checkValues()
        if let slowGrids, slowGrids < 1 { throw BcosError("--slow-grids must be at least 1, got \(slowGrids)") }
        let limits = slowGrids.map { n in
            Dictionary(uniqueKeysWithValues: Methods.slow.map { ($0, n) })
        } ?? [:]
        _ = try Self.methods(methods, cell: 32)  // refuse a bad list before loading anything
        let m = try context.loadModel()
        let d = try context.loadDataset(for: m)
        let (model, data) = (context.model, context.data)
        try m.validateInput(height: grid * d.height, width: grid * d.width, what: "a \(grid)x\(grid) grid")
        let chosen = try Self.methods(methods, cell: min(d.height, d.width))
        let paths = try out.map { dir in
            try ["localisation_boxplot.png", "localisation_example.png"].map { try CLI.outputPath(dir, $0, force: force) }
        }

        let started = Date()
        var gridsStarted = started, lastReport = started
        let images = Localisation.Images(channels: d.channels, height: d.height, width: d.width, labels: d.labels) {
            d.batch($0).images
        }
        let report = try Localisation.run(m, images: images, n: grid, grids: grids, methods: chosen, gridLimits: limits,
                                          smooths: smooths.map { $0! }) {
            done, total in
            let now = Date()
            if done == 0 { gridsStarted = now }
            guard done == total || now.timeIntervalSince(lastReport) >= 2 else { return }
            lastReport = now
            FileHandle.standardError.write(Data(String(format: "localize: %d/%d grids, %.1f s\n", done, total,
                                                       now.timeIntervalSince(started)).utf8))
        }
        let seconds = Date().timeIntervalSince(started)
        let gridSeconds = Date().timeIntervalSince(gridsStarted)

        if let paths {
            // With several smoothings each box is labelled with its filter size.
            let labelled = report.methods.map { m -> Localisation.MethodScores in
                var m = m
                if report.smooths.count > 1 { m.name += m.smooth == 1 ? " raw" : " s\(m.smooth)" }
                return m
            }
            let smoothing = report.smooths.count > 1 ? "" : report.smooth == 1 ? "" : ", smoothed \(report.smooth)x\(report.smooth)"
            let plot = Localisation.boxPlot(labelled, title: "grid pointing game \(grid)x\(grid), \(report.grids) grids\(smoothing)",
                                            chance: 1 / Double(grid * grid))
            try PNG.write(Image(width: plot.width, height: plot.height, rgb: plot.rgb), to: paths[0], overwrite: force)
            let example = Localisation.examplePicture(report.example, className: m.classes[report.example.classIndex])
            try PNG.write(Image(width: example.width, height: example.height, rgb: example.rgb), to: paths[1],
                          overwrite: force)
        }
        if context.json {
            try CLI.printJSON([
                "model": model, "data": data, "grid": grid, "grids": report.grids, "requested_grids": grids,
                "smooth": report.smooth, "smooths": report.smooths, "images": d.count, "qualifying_classes": report.plan.qualifyingClasses,
                "seconds": seconds, "grid_seconds": gridSeconds, "files": paths ?? [],
                "methods": report.methods.map { method -> [String: Any] in
                    let s = method.summary
                    return ["name": method.name, "smooth": method.smooth, "median": s.median, "q1": s.q1, "q3": s.q3, "mean": s.mean,
                            "cells": s.count, "grids": s.count / (grid * grid), "scores": method.scores]
                },
            ])
            return
        }
        print("model     \(model)")
        print("data      \(data) (\(context.split), \(d.count) images; \(report.plan.qualifyingClasses) of \(d.classes.count) "
              + "classes have correct images with sigmoid > 0.5)")
        let shortfall = report.grids < grids ? " (asked for \(grids); confident images ran out)" : ""
        let smoothing = report.smooths.map { $0 == 1 ? "none" : "\($0)x\($0)" }.joined(separator: " and ")
        print("grids     \(report.grids) of \(grid)x\(grid)\(shortfall), smoothing \(smoothing), "
              + "chance \(String(format: "%.4f", 1 / Double(grid * grid)))")
        let rate = Double(report.grids) / max(gridSeconds, 1e-9)
        print(String(format: "time      %.1f s: %.1f s classifying, %.1f s on grids (", seconds, seconds - gridSeconds,
                     gridSeconds) + String(format: rate >= 1 ? "%.2f grids/s)" : "%.1f s/grid)", rate >= 1 ? rate : 1 / rate))
        print("")
        let width = max(8, report.methods.map(\.name.count).max() ?? 8)
        print("method".rightPad(width) + " smooth  grids  cells  median      Q1      Q3    mean")
        for method in report.methods {
            let s = method.summary
            print(method.name.rightPad(width) + String(method.smooth).leftPad(7) + String(s.count / (grid * grid)).leftPad(7)
                  + String(s.count).leftPad(7) + [s.median, s.q1, s.q3, s.mean].map { String(format: "%8.4f", $0) }.joined())
        }
        for path in paths ?? [] { print("wrote     \(path)") }
    }

    /// The methods a user listed (comma-separated names, or `all`), in the order given.
    ///
    /// Occlusion's window follows the size of one image, not of the grid: the v1 code's CIFAR-10 "Occ9" setting (9x9
    /// windows, stride 2, for 32 px images), scaled for other image sizes.
    static func methods(_ list: String, cell: Int) throws -> [any AttributionMethod] {
        let names = list.trimmingCharacters(in: .whitespaces).lowercased() == "all"
            ? Methods.names
            : list.split(separator: ",", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces).lowercased()
            }
        guard !list.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw BcosError("--methods is empty; methods are: \(Methods.names.joined(separator: ", ")), or all")
        }
        if names.contains("") {
            throw BcosError("--methods '\(list)' has an empty entry; list methods separated by single commas")
        }
        var seen = Set<String>()
        return try names.map { name in
            guard seen.insert(name).inserted else { throw BcosError("method '\(name)' is listed twice in --methods") }
            return try Methods.named(name, interactive: true, cell: cell)  // RISE with the paper's 500 masks
        }
    }
}
