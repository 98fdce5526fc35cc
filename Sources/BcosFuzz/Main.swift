import Foundation
#if BCOS_FUZZ
import CFuzz
#endif

/// `bcos-fuzz`: coverage-guided fuzz targets for the parsers of users' files (docs/TESTING.md, "Fuzzing").
///
/// Built with `-sanitize=fuzzer,address -DBCOS_FUZZ` it is a libFuzzer binary, `bcos-fuzz <target> [libFuzzer
/// options] [corpus folders]`: libFuzzer's own `main` runs and calls the two `LLVMFuzzer*` functions below. Built
/// plainly (as `swift build` does) it replays files through a target, so a finding can be rerun without sanitizers:
/// `bcos-fuzz <target> <file or folder>...`.
@main
struct BcosFuzz {
    /// The name inputs get in error messages, checked to appear in each message.
    static let inputName = "fuzz-input"

    static func main() {
        let args = CommandLine.arguments
        guard args.count >= 2, let target = FuzzTarget.named(args[1]) else { usage() }
        #if BCOS_FUZZ
        fuzz(target)
        #else
        exit(replay(target, paths: Array(args.dropFirst(2))))
        #endif
    }

    static func usage() -> Never {
        let names = FuzzTarget.all.map { "  \($0.name): \($0.summary)" }.joined(separator: "\n")
        FileHandle.standardError.write(Data("usage: bcos-fuzz <target> [options or inputs...]; targets:\n\(names)\n".utf8))
        exit(2)
    }

    /// Runs `target` over every file in `paths` (folders: their files), printing one line each.
    ///
    /// - Returns: the exit status: 0, or 1 when a path cannot be read.
    static func replay(_ target: FuzzTarget, paths: [String]) -> Int32 {
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                print("error: '\(path)' not found")
                return 1
            }
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files += names.sorted().map { path + "/" + $0 }
            } else {
                files.append(path)
            }
        }
        var rejected = 0
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                print("error: cannot read '\(file)'")
                return 1
            }
            let start = Date()
            let message = target.check([UInt8](data), inputName: inputName)
            let ms = Int(Date().timeIntervalSince(start) * 1000)
            rejected += message == nil ? 0 : 1
            print("\(file) (\(data.count) bytes, \(ms) ms): \(message ?? "parsed")")
        }
        print("\(target.name): \(files.count) inputs, \(files.count - rejected) parsed, \(rejected) rejected")
        return 0
    }
}

#if BCOS_FUZZ
/// The target named by argv[1].
nonisolated(unsafe) var fuzzTarget: FuzzTarget?

/// libFuzzer's per-input callback (also what libFuzzer's own `main` would call, should the linker pick it).
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    _ = fuzzTarget?.check(bytes, inputName: BcosFuzz.inputName)
    return 0
}

extension BcosFuzz {
    /// Hands the process to libFuzzer with the target's name taken out of argv. SwiftPM makes this program's
    /// `main` the Swift one, so libFuzzer's own `main` never runs; `LLVMFuzzerRunDriver` is its documented way in.
    static func fuzz(_ target: FuzzTarget) -> Never {
        fuzzTarget = target
        var argv = CommandLine.arguments.enumerated().filter { $0.offset != 1 }.map { strdup($0.element) }
        argv.append(nil)
        var argc = Int32(argv.count - 1)
        let status = argv.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var base = buffer.baseAddress
            return LLVMFuzzerRunDriver(&argc, &base) { data, size in fuzzerTestOneInput(data, size) }
        }
        exit(status)
    }
}
#endif
