import ArgumentParser
import BcosEngine
import Foundation

/// `bcos info MODEL`: architecture, layers with output shapes, parameter count, classes and config.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a model: layers with output shapes, parameters, classes, config.")

    @Argument(help: "Model file (.safetensors with bcos.config metadata).")
    var model: String

    @Option(name: .long, help: "Input size H,W used to compute the shapes (default: the model's image_size).")
    var size: String?

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    func run() throws {
        let m = try BcosModel.load(model)
        var hw = m.config.imageSize
        if let size {
            let parts = size.split(separator: ",").compactMap { Int($0) }
            guard parts.count == 2, parts.allSatisfy({ $0 > 0 }) else {
                throw BcosError("--size '\(size)' must be H,W with positive integers, e.g. 32,32")
            }
            hw = parts
        }
        let shapes = m.network.shapes(input: [1, m.config.inputChannels, hw[0], hw[1]])
        let nodes = m.network.nodes
        if json {
            let layers: [[String: Any]] = nodes.indices.map { i in
                ["index": i, "name": nodes[i].name, "kind": nodes[i].op.kind, "output_shape": shapes[i],
                 "paper_index": m.convNodes.firstIndex(of: i).map { ($0 + 1) as Any } ?? NSNull()]
            }
            try CLI.printJSON([
                "model": model, "arch": m.config.arch, "parameters": m.network.parameterCount,
                "classes": m.classes, "layers": layers,
                "config": (try? JSONSerialization.jsonObject(with: Data(m.config.json().utf8))) ?? [:],
            ])
            return
        }
        print("model       \(model)")
        print("arch        \(m.config.arch) (B=\(m.config.b), MaxOut \(m.config.maxOut))")
        print("input       \(m.config.imageChannels == 3 ? "RGB" : "grayscale") \(m.config.imageSize[1])x\(m.config.imageSize[0])"
              + (m.config.addInverse ? ", AddInverse -> \(m.config.inputChannels) channels" : ""))
        print("parameters  \(m.network.parameterCount)")
        print("classes     \(m.classes.count): \(m.classes.prefix(20).joined(separator: ", "))\(m.classes.count > 20 ? ", ..." : "")")
        print("logit       x / \(m.config.logitTemperature) + \(m.config.logitBias)")
        print("")
        // Node number (#N), the paper's running index of B-cos layers (LN), name, shape.
        let convs = m.convNodes
        let nameWidth = max(9, nodes.map(\.name.count).max() ?? 0)
        print("    #     L  \("layer".rightPad(nameWidth)) output shape         op")
        for i in nodes.indices {
            let idx = String(i).leftPad(5), paper = convs.firstIndex(of: i).map { "L\($0 + 1)" } ?? ""
            let name = nodes[i].name.rightPad(nameWidth), shape = CLI.format(shapes[i]).rightPad(20)
            print("\(idx) \(paper.leftPad(5))  \(name) \(shape) \(nodes[i].op.kind)")
        }
        print("")
        print("config      \(m.config.json())")
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
    func rightPad(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}
