import ArgumentParser
import BcosData
import BcosTUI
import BcosEngine
import BcosExplain
import Foundation

/// `bcos bench`: explain latency, forward throughput, per-layer GFLOP/s and the B-cos overhead.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmark the engine: the full-width v1 CIFAR-10 net, --model, a zoo --arch, --methods or the explorer (--tui).",
        discussion: """
        Prints only bcos's own measurements. To compare with the official PyTorch code, run both back to back on the \
        same machine: tools/bench_compare.py (see tools/README.md and docs/PERFORMANCE.md).
        """)

    @Option(name: .long, help: "Model to benchmark (default: full-width v1 9-layer net, B=2, M=2, random weights).")
    var model: String?

    @Option(name: .long, help: "Instead of --model: a zoo architecture (e.g. resnet50) with random weights and batch norms calibrated on random images.")
    var arch: String?

    @Option(name: .long, help: "Batch size for the forward throughput and the per-layer table (default 64; 4 at 224 px).")
    var batch: Int?

    @Flag(name: .customLong("no-layers"), help: "Skip the per-layer table.")
    var noLayers = false

    @Option(name: .long, help: "Timed repetitions per measurement (median is reported).")
    var repeats: Int = 10

    @Option(name: .long, help: "Threads (default: all cores).")
    var threads: Int?

    @Flag(name: .long, help: "Few repetitions, for a smoke test.")
    var quick = false

    @Flag(name: .long, help: "Also time training steps (forward, loss, full backward, Adam) at --batch.")
    var train = false

    @Flag(name: .long, help: """
        Print the measurements as one JSON object instead of text: medians (explain_ms, forward_img_s, train_img_s), \
        the fastest runs (*_best_*), peak RSS and the per-layer rows.
        """)
    var json = false

    @Flag(name: .long, help: "Instead: key-to-frame latency and memory of the explorer on --data (default Fashion-MNIST) with --model (default: the shipped model).")
    var tui = false

    @Option(name: .long, help: "Dataset for --tui.")
    var data: String?

    @Flag(name: .long, help: "Instead: time one explanation with every attribution method (B-cos and post-hoc) on --model / --arch.")
    var methods = false

    @Option(name: .long, help: """
        With --methods: time explaining every cell's class of an N x N localisation grid instead (an image N times the \
        model's size), all classes from shared passes against one class at a time, and occlusion against full passes.
        """)
    var grid: Int?

    func run() throws {
        if let batch { guard batch >= 1 && batch <= 4096 else { throw BcosError("--batch must be in 1...4096, got \(batch)") } }
        guard repeats >= 1 else { throw BcosError("--repeats must be >= 1") }
        if let threads, threads < 1 { throw BcosError("--threads must be at least 1, got \(threads)") }
        if json && (tui || methods) { throw BcosError("--json goes with the explain/forward/train benchmark, not with --tui or --methods") }
        let n = threads ?? ProcessInfo.processInfo.activeProcessorCount
        Benchmark.setThreads(n)
        if tui { return try benchTUI() }
        var m: BcosModel
        if model != nil && arch != nil { throw BcosError("give either --model or --arch, not both") }
        if let model {
            m = try BcosModel.load(model)
        } else if let arch {
            m = try BcosModel.random(config: try Zoo.config(arch), seed: 1)
            // Random batch-norm statistics would shrink the signal layer by layer (into denormals); calibrate
            // them on random images as a training pass would.
            let s = m.config.imageSize
            var rng = SplitMix64(seed: 11)
            m.calibrateBatchNorms(m.encode(Tensor(shape: [2, 3, s[0], s[1]],
                                                  data: (0..<(6 * s[0] * s[1])).map { _ in rng.nextFloat() })))
        } else {
            m = try BcosModel.random(config: ModelConfig(b: 2, maxOut: 2, scale: 0.0562341, logitTemperature: 100,
                                                         logitBias: -2.197225), seed: 1)
        }
        let reps = quick ? 2 : repeats
        if let grid {
            guard methods else { throw BcosError("--grid goes with --methods") }
            guard grid >= 2 else { throw BcosError("--grid must be at least 2, got \(grid)") }
            return try benchGrid(m, name: model ?? arch ?? "v1_9layer full width (random weights)", n: grid, reps: reps)
        }
        if methods { return try benchMethods(m, name: model ?? arch ?? "v1_9layer full width (random weights)", reps: reps) }
        let cfg = m.config
        let (h, w) = (cfg.imageSize[0], cfg.imageSize[1])
        let batch = self.batch ?? (max(h, w) >= 128 ? 4 : 64)
        var rng = SplitMix64(seed: 3)
        let one = m.encode(Tensor(shape: [1, cfg.imageChannels, h, w],
                                  data: (0..<(cfg.imageChannels * h * w)).map { _ in rng.nextFloat() }))
        let many = m.encode(Tensor(shape: [batch, cfg.imageChannels, h, w],
                                   data: (0..<(batch * cfg.imageChannels * h * w)).map { _ in rng.nextFloat() }))
        let what = model ?? arch.map { "\($0) (random weights)" } ?? "v1_9layer full width, B=2, M=2, random weights"
        let say: (String) -> Void = { if !json { print($0) } }
        say("bcos bench: \(what), \(w)x\(h), \(n) threads")
        let big = max(h, w) >= 128
        let (explain, explainBest) = Benchmark.timed(repeats: quick ? 3 : max(reps, big ? 10 : 20), warmup: big ? 1 : 2) {
            _ = try? m.explain(one, target: .predicted)
        }
        let explainRSS = Benchmark.peakResidentMiB()
        let parts = Benchmark.explainParts(m, one, repeats: quick ? 3 : max(reps, big ? 5 : 20))
        let (forward, forwardBest) = Benchmark.timed(repeats: reps, warmup: 1) { _ = m.logits(many) }
        let ips = Double(batch) / forward
        var result: [String: Any] = [
            "model": what, "width": w, "height": h, "threads": n, "batch": batch,
            "explain_ms": explain * 1e3, "explain_best_ms": explainBest * 1e3, "explain_forward_ms": parts.forward * 1e3,
            "explain_backward_ms": parts.backward * 1e3, "explain_peak_rss_mib": explainRSS,
            "forward_img_s": ips, "forward_best_img_s": Double(batch) / forwardBest,
        ]
        say("")
        say(String(format: "explain (batch 1):       %8.2f ms", explain * 1e3))
        say(String(format: "  peak RSS after explaining: %.0f MiB", explainRSS))
        say(String(format: "  of which forward (recorded) %.2f ms, explanation backward %.2f ms",
                   parts.forward * 1e3, parts.backward * 1e3))
        say(String(format: "forward (batch %3d):     %8.1f img/s", batch, ips))
        if train {
            var tm = m
            var adam = Adam()
            let labels = (0..<batch).map { $0 % cfg.numClasses }
            let (step, stepBest) = Benchmark.timed(repeats: quick ? 2 : max(3, reps / 2), warmup: 1) {
                tm.trainStep(many, labels: labels, optimizer: &adam, lr: 1e-4)
            }
            let tps = Double(batch) / step
            let rss = Benchmark.peakResidentMiB()
            result["train_img_s"] = tps
            result["train_best_img_s"] = Double(batch) / stepBest
            result["train_peak_rss_mib"] = rss
            say(String(format: "train (batch %3d):       %8.1f img/s  (peak RSS %.0f MiB)", batch, tps, rss))
        }
        if noLayers { return try finish(result) }
        say("")
        say("per conv layer at batch \(batch), best of \(reps) interleaved runs: the B-cos layer, a plain conv of the same shapes, a bare sgemm")
        say("layer  shape                                        GFLOP   B-cos ms  GFLOP/s  conv ms  GFLOP/s  sgemm GFLOP/s  overhead")
        let rows = Benchmark.convLayers(m, batch: batch, repeats: reps)
        var totB = 0.0, totC = 0.0
        for r in rows {
            totB += r.bcosSeconds
            totC += r.convSeconds
            say(String(format: "%-6@ %-44@ %6.2f %9.2f %8.1f %8.2f %8.1f %14.1f %8.1f%%", r.layer as NSString,
                       r.shape as NSString, r.flops / 1e9, r.bcosSeconds * 1e3, r.flops / r.bcosSeconds / 1e9,
                       r.convSeconds * 1e3, r.flops / r.convSeconds / 1e9, r.flops / r.gemmSeconds / 1e9,
                       (r.bcosSeconds / r.convSeconds - 1) * 100))
        }
        say(String(format: "all conv layers: B-cos %.1f ms, plain conv %.1f ms -> B-cos overhead %.1f%%",
                   totB * 1e3, totC * 1e3, (totB / totC - 1) * 100))
        result["layers"] = rows.map { r -> [String: Any] in
            ["layer": r.layer, "shape": r.shape, "gflop": r.flops / 1e9, "bcos_ms": r.bcosSeconds * 1e3,
             "conv_ms": r.convSeconds * 1e3, "sgemm_ms": r.gemmSeconds * 1e3]
        }
        try finish(result)
    }

    /// With `--json`, the collected measurements as one object on stdout (the text was printed as it came).
    func finish(_ result: [String: Any]) throws {
        if json { try CLI.printJSON(result) }
    }

    /// Seconds per explanation of one image with each method (median; one run for the slow sampling methods).
    func benchMethods(_ m: BcosModel, name: String, reps: Int) throws {
        let cfg = m.config
        let (h, w) = (cfg.imageSize[0], cfg.imageSize[1])
        var rng = SplitMix64(seed: 5)
        let x = m.encode(Tensor(shape: [1, cfg.imageChannels, h, w],
                                data: (0..<(cfg.imageChannels * h * w)).map { _ in rng.nextFloat() }))
        let target = m.logits(x).argmaxRows()[0]
        print("bcos bench --methods: \(name), \(w)x\(h), \(Benchmark.threadsDescription)")
        print("method       network work                          seconds per explanation")
        let work = ["bcos": "1 forward + 1 explanation backward", "grad": "1 forward + 1 backward",
                    "ixg": "1 forward + 1 backward", "deeplift": "1 forward + 1 backward",
                    "gradcam": "1 forward + 1 backward", "intgrad": "50 forwards + backwards",
                    "occlusion": "one forward per window position", "rise": "2000 masked forwards (explorer: 500)",
                    "lime": "500 forwards + ridge fit"]
        for method in Methods.names {
            let a = try Methods.named(method)
            let slow = Methods.slow.contains(method)
            let t = Benchmark.median(repeats: slow ? 1 : max(3, reps), warmup: slow ? 0 : 1) {
                _ = try? a.attribute(m, input: x, target: target)
            }
            print(method.rightPad(12) + " " + (work[method] ?? "").rightPad(37) + String(format: " %10.3f", t))
        }
    }

    /// Seconds to explain every cell's class of one N x N grid, as `bcos localize` does: all classes from shared
    /// network passes (forwards shared between classes; occlusion recomputing only what each window reaches)
    /// against the baselines measured in the same run (one class at a time; occlusion with full forward passes).
    func benchGrid(_ m: BcosModel, name: String, n: Int, reps: Int) throws {
        let cfg = m.config
        let (h, w) = (cfg.imageSize[0] * n, cfg.imageSize[1] * n)
        try m.validateInput(height: h, width: w, what: "a \(n)x\(n) grid")
        var rng = SplitMix64(seed: 5)
        let x = m.encode(Tensor(shape: [1, cfg.imageChannels, h, w],
                                data: (0..<(cfg.imageChannels * h * w)).map { _ in rng.nextFloat() }))
        let targets = Array(0..<min(cfg.numClasses, n * n))
        print("bcos bench --methods --grid \(n): \(name), \(w)x\(h) grid, \(targets.count) classes, \(Benchmark.threadsDescription)")
        print("method       baseline                         baseline s    shared s   speed-up")
        for method in Methods.names {
            let slow = Methods.slow.contains(method)
            let runs = slow ? 1 : max(3, reps)
            let shared = try Methods.named(method, interactive: true, cell: min(cfg.imageSize[0], cfg.imageSize[1]))
            let together = Benchmark.median(repeats: runs, warmup: slow ? 0 : 1) {
                _ = try? shared.attribute(m, input: x, targets: targets)
            }
            var baseline: (String, Double)?
            if method == "occlusion", var full = shared as? Occlusion {
                full.localPasses = false
                baseline = ("full forward passes", Benchmark.median(repeats: 1, warmup: 0) {
                    _ = try? full.attribute(m, input: x, targets: targets)
                })
            } else if !["rise", "lime"].contains(method) {
                baseline = ("one class at a time", Benchmark.median(repeats: runs, warmup: slow ? 0 : 1) {
                    for t in targets { _ = try? shared.attribute(m, input: x, target: t) }
                })
            }
            let (what, seconds) = baseline ?? ("(masks shared already)", .nan)
            print(method.rightPad(12) + " " + what.rightPad(30)
                  + (seconds.isNaN ? "           -" : String(format: " %11.3f", seconds))
                  + String(format: " %11.3f", together)
                  + (seconds.isNaN ? "          -" : String(format: " %9.1fx", seconds / together)))
        }
    }

    func benchTUI() throws {
        let dataPath = data ?? Explore.defaultData
        let dataset = try Dataset.load(dataPath, split: .test)
        let path = model ?? Explore.shippedModelDirs().flatMap(Explore.modelFiles).first { p in
            (try? BcosModel.load(p))?.fits(classes: dataset.classes, channels: dataset.channels, height: dataset.height,
                                           width: dataset.width) ?? false
        }
        guard let path else { throw BcosError("no model for '\(dataPath)'; pass --model") }
        let explorer = Explorer(dataset: dataset, datasetName: "bench", models: [ModelEntry(name: Explore.name(path), path: path)],
                                initial: 0, exportDir: NSTemporaryDirectory(), width: 120, height: 40)
        let r = ExplorerBenchmark.run(explorer, keys: quick ? 40 : 400, rss: Benchmark.peakResidentMiB)
        func stats(_ v: [Double]) -> String {
            let s = v.sorted()
            return String(format: "median %6.2f ms  p95 %6.2f ms  max %6.2f ms  (n=%d)", s[s.count / 2],
                          s[min(s.count - 1, s.count * 95 / 100)], s.last ?? 0, s.count)
        }
        print("bcos bench --tui: \(path) on \(dataPath) (\(dataset.count) images), 120x40 frame, \(Benchmark.threadsDescription)")
        print(String(format: "predictions for all images: %.1f s (in the background)", r.predictSeconds))
        print("browse key -> frame:          " + stats(r.browseMs))
        print("inspect next image -> frame with its explanations: " + stats(r.inspectMs))
        print("neurons next layer -> frame with ranked neurons:   " + stats(r.neuronsMs))
        print(String(format: "peak RSS: %.0f MiB after predicting all %d images, %.0f MiB after %d browse keys "
                     + "(every 5th a page down), a jump to the end, %d inspected images and %d neuron layers",
                     r.rssStartMiB, r.imagesBrowsed, r.rssEndMiB, r.browseMs.count, r.inspectMs.count, r.neuronsMs.count))
    }
}
