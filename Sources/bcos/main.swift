import ArgumentParser
import BcosData
import BcosEngine
import Foundation

/// The `bcos` command: run, explain and benchmark B-cos networks.
struct Bcos: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bcos",
        abstract: "Run, explain and benchmark B-cos networks (CPU, OpenBLAS).",
        subcommands: [Explore.self, Info.self, Explain.self, Neurons.self, Import.self, Train.self, Eval.self, Localize.self, Bench.self, Init.self],
        defaultSubcommand: Explore.self
    )
}

/// Runs the command; user-caused errors become one line on stderr and exit code 1.
func runMain() -> Never {
    do {
        var command = try Bcos.parseAsRoot()
        try command.run()
        Foundation.exit(0)
    } catch let error as BcosError {
        fail(error.message)
    } catch let error as DataError {
        fail(error.message)
    } catch {
        Bcos.exit(withError: error)
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("bcos: error: \(message)\n".utf8))
    Foundation.exit(1)
}

runMain()
