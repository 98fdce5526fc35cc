import ArgumentParser
import BcosData
import BcosEngine
import Foundation

/// `bcos eval`: accuracy overall and per class, and the confusion matrix.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a model on a dataset split: accuracy overall and per class, confusion matrix.")

    @OptionGroup var context: ModelDataOptions

    @Flag(name: .customLong("skip-bad"), help: "Skip unreadable images (and count them) instead of stopping.")
    var skipBad = false

    func run() throws {
        try context.checkValues()
        let m = try context.loadModel()
        let d = try context.loadDataset(for: m, skipBad: skipBad)
        let (model, data, split) = (context.model, context.data, context.split)
        let started = Date()
        let r = Evaluate.run(m, on: d)
        let seconds = Date().timeIntervalSince(started)
        if context.json {
            try CLI.printJSON([
                "model": model, "data": data, "split": split, "images": r.count, "correct": r.correct,
                "accuracy": r.accuracy, "classes": m.classes,
                "per_class_accuracy": r.perClass.map { $0 as Any? ?? NSNull() }, "confusion": r.confusion,
                "skipped": d.skipped, "seconds": seconds,
            ])
            return
        }
        print("model     \(model)")
        print("data      \(data) (\(split), \(r.count) images\(d.skipped > 0 ? ", \(d.skipped) skipped" : ""))")
        print(String(format: "accuracy  %.2f%% (%d/%d) in %.1f s", r.accuracy * 100, r.correct, r.count, seconds))
        print("")
        let names = m.classes.map { String($0.prefix(12)) }
        // Many classes (ImageNet): only the classes that have images, and the most frequent confusions instead of
        // the matrix (`--json` has everything).
        let many = m.classes.count > 20
        let shown = r.perClass.indices.filter { !many || r.perClass[$0] != nil }
        let width = max(6, shown.map { names[$0].count }.max() ?? 6)
        print("class".rightPad(width) + "  accuracy")
        for k in shown {
            print(names[k].rightPad(width) + "  " + (r.perClass[k].map { String(format: "%6.2f%%", $0 * 100) } ?? "     -"))
        }
        print("")
        if many {
            var pairs = [(truth: Int, predicted: Int, count: Int)]()
            for (t, row) in r.confusion.enumerated() {
                for (p, c) in row.enumerated() where p != t && c > 0 { pairs.append((t, p, c)) }
            }
            pairs.sort { $0.count != $1.count ? $0.count > $1.count : ($0.truth, $0.predicted) < ($1.truth, $1.predicted) }
            print("most frequent confusions (true -> predicted: images)")
            for pair in pairs.prefix(15) {
                print("  \(m.classes[pair.truth]) -> \(m.classes[pair.predicted]): \(pair.count)")
            }
            if pairs.isEmpty { print("  none") }
            return
        }
        print("confusion (rows: true class, columns: predicted)")
        print("".rightPad(width) + r.confusion.indices.map { String($0).leftPad(6) }.joined())
        for (k, row) in r.confusion.enumerated() {
            print(names[k].rightPad(width) + row.map { String($0).leftPad(6) }.joined())
        }
    }
}
