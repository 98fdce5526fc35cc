import BcosData
import BcosEngine
import Foundation
import XCTest

/// `bcos train` / `bcos eval` end to end on a tiny generated image folder: checkpoints, exact resume,
/// Ctrl-C, and evaluation output.
final class TrainTests: CLITestCase {
    /// root/{train,test}/{left,right}/*.png: 12x12 images bright on the left or on the right half.
    func makeDataset(train: Int = 16, test: Int = 6) throws -> String {
        let root = tmp.file("data")
        var rng = SplitMix64(seed: 9)
        for (split, count) in [("train", train), ("test", test)] {
            for (label, name) in ["left", "right"].enumerated() {
                let dir = "\(root)/\(split)/\(name)"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                for i in 0..<count {
                    var rgb = [UInt8]()
                    for _ in 0..<12 {
                        for x in 0..<12 {
                            let bright = (x < 6) == (label == 0)
                            let noise = UInt8(rng.next() % 60)
                            let v = bright ? 190 + noise : noise
                            rgb += [v, UInt8(rng.next() % 256), v]
                        }
                    }
                    try PNG.write(Image(width: 12, height: 12, rgb: rgb), to: "\(dir)/\(i).png")
                }
            }
        }
        return root
    }

    func trainArgs(_ data: String, _ out: String, epochs: Int) -> [String] {
        ["train", "--data", data, "--out", out, "--widths", "4,4,4,4,4,4,4,4", "--epochs", "\(epochs)",
         "--batch", "8", "--lr", "0.01", "--seed", "3"]
    }

    func testTrainWritesModelAndCheckpointAndEvalReadsThem() throws {
        let data = try makeDataset()
        let out = tmp.file("m.safetensors")
        let log = assertSuccess(trainArgs(data, out, epochs: 3))
        XCTAssertTrue(log.contains("epoch 3/3"), log)
        XCTAssertTrue(log.contains("test acc"), log)
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp.file("m.train.safetensors")))
        let info = assertSuccess(["info", out])
        XCTAssertTrue(info.contains("left") && info.contains("right"), "class names come from the folders:\n\(info)")
        let evalJSON = try jsonObject(assertSuccess(["eval", "--model", out, "--data", data, "--json"]))
        XCTAssertEqual(evalJSON["images"] as? Int, 12)
        let confusion = try XCTUnwrap(evalJSON["confusion"] as? [[Int]])
        XCTAssertEqual(confusion.flatMap { $0 }.reduce(0, +), 12)
        let text = assertSuccess(["eval", "--model", out, "--data", data])
        XCTAssertTrue(text.contains("accuracy") && text.contains("confusion"), text)
        // `bcos info` on the training checkpoint describes the run: every epoch, with the images it saw.
        let run = assertSuccess(["info", tmp.file("m.train.safetensors")])
        XCTAssertTrue(run.contains("3 of 3 epochs done") && run.contains("training run"), run)
        let runJSON = try jsonObject(assertSuccess(["info", tmp.file("m.train.safetensors"), "--json"]))
        let history = try XCTUnwrap(runJSON["history"] as? [[String: Any]])
        XCTAssertEqual(history.map { $0["epoch"] as? Int }, [1, 2, 3])
        XCTAssertEqual(history.map { $0["images"] as? Int }, [32, 32, 32])
        let seconds = history.compactMap { $0["seconds"] as? Double }.reduce(0, +)
        XCTAssertEqual(try XCTUnwrap(runJSON["wall_seconds"] as? Double), seconds, accuracy: 1e-6)
        // A new run refuses to replace the model unless told to.
        assertUserError(trainArgs(data, out, epochs: 1), mentions: [out])
    }

    /// Three epochs in one go, and the same run stopped after one epoch and resumed, give the same weights,
    /// bit for bit (the schedule, shuffling, augmentation and Adam state all continue).
    func testResumeContinuesExactly() throws {
        let data = try makeDataset()
        let a = tmp.file("a.safetensors"), b = tmp.file("b.safetensors")
        _ = assertSuccess(trainArgs(data, a, epochs: 3))
        let first = assertSuccess(trainArgs(data, b, epochs: 3) + ["--stop-after", "1"])
        XCTAssertTrue(first.contains("stopped after epoch 1 of 3"), first)
        _ = assertSuccess(["train", "--out", b, "--resume"])
        let ta = try Safetensors.load(a), tb = try Safetensors.load(b)
        XCTAssertEqual(ta.tensors.map(\.name), tb.tensors.map(\.name))
        for (x, y) in zip(ta.tensors, tb.tensors) { XCTAssertEqual(x.tensor, y.tensor, x.name) }
        assertUserError(["train", "--out", tmp.file("none.safetensors"), "--resume"], mentions: ["none.train.safetensors"])
    }

    /// Bad values are refused before any data is read (a bad --lr used to surface only after an epoch, leaving NaN
    /// weights behind), and `--resume` refuses to change what defines the run or to continue on other classes.
    func testBadOptionsAndChangedResumesAreRefusedUpFront() throws {
        let missing = tmp.file("no-such-data")
        let out = tmp.file("v.safetensors")
        for (flag, value) in [("--lr", "nan"), ("--lr", "inf"), ("--lr", "0"), ("--weight-decay", "-1"), ("--max-batches", "0"),
                              ("--threads", "0"), ("--warmup", "-1"), ("--eval-limit", "-1"), ("--stop-after", "0"),
                              ("--checkpoint-minutes", "-1"), ("--b", "nan"), ("--epochs", "0")] {
            assertUserError(["train", "--data", missing, "--out", out, "\(flag)=\(value)"], mentions: [flag])
        }
        assertUserError(["train", "--data", missing, "--out", tmp.file("nofolder/m.safetensors")], mentions: ["nofolder", "mkdir"])
        assertUserError(["train", "--data", missing, "--out", tmp.path], mentions: ["is a directory"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))

        let data = try makeDataset(train: 8, test: 2)
        let first = assertSuccess(trainArgs(data, out, epochs: 2) + ["--stop-after", "1"])
        XCTAssertTrue(first.contains("stopped after epoch 1 of 2"), first)
        assertUserError(["train", "--out", out, "--resume", "--lr", "0.5"], mentions: ["--lr", "0.01"])
        assertUserError(["train", "--out", out, "--resume", "--widths", "8,8,8,8,8,8,8,8"], mentions: ["--widths", "4,4,4,4,4,4,4,4"])
        // The same data with its classes renamed is not the run's data.
        let renamed = tmp.file("renamed")
        for split in ["train", "test"] {
            try FileManager.default.createDirectory(atPath: "\(renamed)/\(split)", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: "\(data)/\(split)/left", toPath: "\(renamed)/\(split)/cat")
            try FileManager.default.copyItem(atPath: "\(data)/\(split)/right", toPath: "\(renamed)/\(split)/dog")
        }
        // (found once the data is read, so the "loading" progress line is on stdout already)
        let r = Bcos.result(["train", "--out", out, "--resume", "--data", renamed])
        XCTAssertEqual(r.status, 1, "\(r)")
        XCTAssertTrue(r.stderr.hasPrefix("bcos: error: ") && r.stderr.contains("'cat'") && r.stderr.contains("'left'")
                      && r.stderr.split(separator: "\n").count == 1, "\(r)")
        // Repeating the original command with --resume is fine: the values are the saved ones.
        let log = assertSuccess(trainArgs(data, out, epochs: 2) + ["--resume"])
        XCTAssertTrue(log.contains("epoch 2/2"), log)
    }

    /// Ctrl-C stops after the current batch, leaves a checkpoint, and `--resume` finishes the run.
    func testInterruptLeavesAResumableCheckpoint() throws {
        let data = try makeDataset(train: 40, test: 2)
        let out = tmp.file("int.safetensors")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Bcos.binary)
        process.arguments = trainArgs(data, out, epochs: 100_000) + ["--eval-limit", "0"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait for the first finished epoch (its checkpoint), then interrupt.
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: tmp.file("int.train.safetensors")) && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        Thread.sleep(forTimeInterval: 0.2)
        process.interrupt()
        process.waitUntilExit()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 0, output)
        XCTAssertTrue(output.contains("interrupted"), output)
        let state = try TrainingState.load(tmp.file("int.train.safetensors"))
        XCTAssertGreaterThanOrEqual(state.epoch, 1)
        let finish = state.epoch + 1
        let log = assertSuccess(["train", "--out", out, "--resume", "--epochs", "\(finish)"])
        XCTAssertTrue(log.contains("epoch \(finish)/\(finish)"), log)
        XCTAssertEqual(try TrainingState.load(tmp.file("int.train.safetensors")).epoch, finish)
    }
}
