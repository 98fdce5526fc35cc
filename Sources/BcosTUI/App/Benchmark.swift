import BcosEngine
import Foundation

/// Latency of the explorer from a key press to its updated frame, measured headless (reduce, render, diff)
/// on a real dataset and model, plus the memory used while browsing.
public enum ExplorerBenchmark {
    public struct Report: Sendable {
        /// Key press to the next frame's bytes (reduce + render + diff), browser navigation, milliseconds.
        public var browseMs: [Double]
        /// Key press (next image in the inspect view) to the frame that shows its explanations, milliseconds.
        public var inspectMs: [Double]
        /// Key press (next layer in the neurons view) to the frame with the ranked neurons, milliseconds.
        public var neuronsMs: [Double]
        /// Seconds until every image had a prediction.
        public var predictSeconds: Double
        public var rssStartMiB: Double
        public var rssEndMiB: Double
        public var imagesBrowsed: Int
    }

    /// - Parameters:
    ///   - rss: reads the current resident memory in MiB.
    public static func run(_ explorer: Explorer, keys: Int, rss: () -> Double) -> Report {
        var previous: CellBuffer?
        func frameBytes() {
            let f = explorer.frame()
            _ = Renderer.diff(from: previous, to: f, mode: .truecolor)
            previous = f
        }
        func ms(_ t0: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6 }
        let t0 = DispatchTime.now().uptimeNanoseconds
        explorer.start()
        while explorer.state.predictionsDone < explorer.state.labels.count {
            explorer.drainInbox()
            Thread.sleep(forTimeInterval: 0.002)
        }
        let predict = ms(t0) / 1000
        frameBytes()
        let rssStart = rss()
        var browse = [Double]()
        for i in 0..<keys {
            let t = DispatchTime.now().uptimeNanoseconds
            explorer.dispatch(.key(i % 5 == 4 ? .pageDown : .right))
            frameBytes()
            browse.append(ms(t))
        }
        explorer.dispatch(.key(.char("G")))
        frameBytes()
        explorer.dispatch(.key(.char("g")))
        explorer.dispatch(.key(.enter))
        var inspect = [Double]()
        for _ in 0..<max(1, keys / 4) {
            let t = DispatchTime.now().uptimeNanoseconds
            explorer.dispatch(.key(.right))
            frameBytes()
            while explorer.state.inspect == nil {
                explorer.drainInbox()
                Thread.sleep(forTimeInterval: 0.0005)
            }
            frameBytes()
            inspect.append(ms(t))
        }
        explorer.dispatch(.key(.char("n")))
        var neurons = [Double]()
        for i in 0..<max(1, keys / 20) {
            let t = DispatchTime.now().uptimeNanoseconds
            if i > 0 { explorer.dispatch(.key(i % 2 == 0 ? .up : .down)) }
            frameBytes()
            while explorer.state.neurons == nil {
                explorer.drainInbox()
                Thread.sleep(forTimeInterval: 0.0005)
            }
            frameBytes()
            neurons.append(ms(t))
        }
        return Report(browseMs: browse, inspectMs: inspect, neuronsMs: neurons, predictSeconds: predict,
                      rssStartMiB: rssStart, rssEndMiB: rss(), imagesBrowsed: explorer.state.labels.count)
    }
}
