import ArgumentParser
import BcosEngine
import Foundation

/// `bcos init`: write a randomly initialised model (PyTorch's default conv init), e.g. to benchmark or to test.
struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a randomly initialised v1 9-layer B-cos model.")

    @Option(name: .long, help: "Output model file (.safetensors).")
    var out: String

    @Option(name: .long, help: "B-cos exponent B.")
    var b: Double = 2

    @Option(name: .customLong("max-out"), help: "MaxOut group size M.")
    var maxOut: Int = 2

    @Option(name: .long, help: "Comma-separated widths of the 8 hidden layers.")
    var widths: String = "64,64,128,128,128,256,256,256"

    @Option(name: .long, help: "Number of classes.")
    var classes: Int = 10

    @Flag(name: .long, help: "Grayscale input (2 encoded channels) instead of RGB (6).")
    var gray = false

    @Option(name: .long, help: "Image size H,W.")
    var size: String = "32,32"

    @Option(name: .long, help: "v1 layer scale (default: the v1 CIFAR-10 value for B, 10^(-2+1.5(2.5-B))).")
    var scale: Double?

    @Option(name: .long, help: "Logit temperature T (default 1).")
    var temperature: Double = 1

    @Option(name: .long, help: "Logit bias (default log(1/(K-1))).")
    var bias: Double?

    @Option(name: .long, help: "Random seed.")
    var seed: UInt64 = 0

    @Flag(name: .long, help: "Replace an existing file.")
    var force = false

    func run() throws {
        guard temperature.isFinite, temperature > 0 else {
            throw BcosError("--temperature must be a positive number, got \(temperature)")
        }
        let ws = widths.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard ws.count == 8, let list = ws as? [Int], list.allSatisfy({ $0 > 0 }) else {
            throw BcosError("--widths '\(widths)' must be 8 positive integers separated by commas")
        }
        let hw = size.split(separator: ",").compactMap { Int($0) }
        guard hw.count == 2, hw.allSatisfy({ $0 > 0 }) else { throw BcosError("--size '\(size)' must be H,W, e.g. 32,32") }
        guard (2...ModelConfig.maxClasses).contains(classes) else {
            throw BcosError("--classes must be between 2 and \(ModelConfig.maxClasses), got \(classes)")
        }
        let cfg = ModelConfig(numClasses: classes, imageChannels: gray ? 1 : 3, imageSize: hw, widths: list, b: b,
                              maxOut: maxOut, scale: scale ?? Foundation.pow(10, -2 + 1.5 * (2.5 - b)),
                              logitTemperature: temperature, logitBias: bias ?? Foundation.log(1 / Double(classes - 1)))
        try cfg.validate("--out '\(out)'")
        let m = try BcosModel.random(config: cfg, seed: seed)
        try m.save(to: out, overwrite: force)
        print("wrote \(out): \(m.network.parameterCount) parameters, B=\(b), M=\(maxOut)")
    }
}
