import BcosData
import BcosEngine
import BcosTestSupport
import Foundation
import XCTest

/// The real `bcos explore` binary in a private tmux server: it browses, inspects, shows neurons, survives
/// resizes (including a too-small window), exports PNGs that decode, and gives the terminal back on quit.
final class ExplorerEndToEndTests: CLITestCase {
    /// A 3-class image folder of 16x16 RGB images and a random model that fits it.
    func makeFixture() throws -> (data: String, model: String) {
        let root = tmp.file("data")
        var rng = SplitMix64(seed: 1)
        for split in ["train", "test"] {
            for (k, name) in ["left", "middle", "right"].enumerated() {
                let dir = "\(root)/\(split)/\(name)"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                for i in 0..<8 {
                    var rgb = [UInt8]()
                    for _ in 0..<16 {
                        for x in 0..<16 {
                            let on = x / 6 == k
                            rgb += [on ? 230 : UInt8(rng.next() % 40), UInt8(rng.next() % 256), on ? 40 : 120]
                        }
                    }
                    try PNG.write(Image(width: 16, height: 16, rgb: rgb), to: "\(dir)/\(i).png")
                }
            }
        }
        let model = tmp.file("toy.safetensors")
        _ = assertSuccess(["init", "--out", model, "--classes", "3", "--size", "16,16", "--widths", "4,4,6,6,6,8,8,8"])
        return (root, model)
    }

    func testExploreInTmux() throws {
        if ProcessInfo.processInfo.environment["BCOS_SKIP_TMUX"] == "1" { throw XCTSkip("BCOS_SKIP_TMUX=1") }
        guard let path = Tmux.find() else { throw XCTSkip("tmux is not installed") }
        let (data, model) = try makeFixture()
        let export = tmp.file("export")
        let tmux = try Tmux(path: path, width: 80, height: 24)
        defer { tmux.kill() }
        for (colour, sgr) in [("COLORTERM=truecolor", "38;2;"), ("COLORTERM=", "38;5;")] {
            try tmux.type("clear; env -u NO_COLOR TERM=tmux-256color \(colour) '\(Bcos.binary)' explore --data '\(data)' "
                          + "--model '\(model)' --export '\(export)'; echo EXPLORE-EXIT=$?")
            // Browser: predictions done, labels from the folder names.
            var screen = try tmux.waitFor("accuracy")
            XCTAssertTrue(screen.contains("left") || screen.contains("middle") || screen.contains("right"), screen)
            let coloured = tmux.capture(escapes: true)
            XCTAssertTrue(coloured.contains(sgr), "colour mode \(colour): \(coloured.prefix(600).debugDescription)")
            // Inspect the second image.
            try tmux.keys("Right")
            try tmux.keys("Enter")
            screen = try tmux.waitFor("completeness")
            XCTAssertTrue(screen.contains("inspect #1") && screen.contains("true class"), screen)
            // Resize bigger, too small, and back: every frame is redrawn.
            try tmux.command(["resize-window", "-t", "0", "-x", "200", "-y", "60"])
            screen = try tmux.waitFor("completeness")
            try tmux.command(["resize-window", "-t", "0", "-x", "50", "-y", "14"])
            try tmux.waitFor("terminal too small")
            try tmux.command(["resize-window", "-t", "0", "-x", "80", "-y", "24"])
            screen = try tmux.waitFor("completeness")
            // Export, twice: numbered names, nothing overwritten.
            try tmux.keys("e")
            try tmux.waitFor("exported")
            try tmux.keys("e")
            Thread.sleep(forTimeInterval: 0.3)
            // Neurons of the same image, help, and quit.
            try tmux.keys("n")
            try tmux.waitFor("layers (")
            try tmux.keys("?")
            try tmux.waitFor("press any key")
            try tmux.keys("Escape")
            try tmux.keys("q")
            screen = try tmux.waitFor("EXPLORE-EXIT=")
            XCTAssertTrue(screen.contains("EXPLORE-EXIT=0"), screen)
            XCTAssertEqual(tmux.flags("alternate_on cursor_flag mouse_any_flag"), "0 1 0", "terminal restored")
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: export).sorted()
        XCTAssertEqual(files.count, 20, "four exports of five PNGs each, all kept: \(files)")
        for f in files {
            let image = try PNG.read(export + "/" + f)
            XCTAssertGreaterThanOrEqual(max(image.width, image.height), 256, f)
        }
    }

    /// Ctrl-Z gives the terminal back to the shell (job control stops the explorer), `fg` takes it again and the
    /// screen is redrawn; then q still exits cleanly.
    func testCtrlZSuspendsToTheShellAndFgResumes() throws {
        if ProcessInfo.processInfo.environment["BCOS_SKIP_TMUX"] == "1" { throw XCTSkip("BCOS_SKIP_TMUX=1") }
        guard let path = Tmux.find() else { throw XCTSkip("tmux is not installed") }
        let (data, model) = try makeFixture()
        let tmux = try Tmux(path: path, width: 80, height: 24)
        defer { tmux.kill() }
        try tmux.type("clear; env -u NO_COLOR TERM=tmux-256color COLORTERM=truecolor '\(Bcos.binary)' explore "
                      + "--data '\(data)' --model '\(model)' --export '\(tmp.file("export"))'")
        try tmux.waitFor("accuracy")
        XCTAssertEqual(tmux.flags("alternate_on cursor_flag mouse_any_flag"), "1 0 1")
        try tmux.keys("C-z")
        // The shell reports the stopped job and prompts again; the terminal is the shell's.
        try tmux.waitFor("Stopped")
        try tmux.type("echo SHELL-IS-BACK")
        var screen = try tmux.waitFor("\nSHELL-IS-BACK")
        XCTAssertFalse(screen.contains("EXPLORE-EXIT"), "the explorer must be stopped, not ended:\n\(screen)")
        XCTAssertEqual(tmux.flags("alternate_on cursor_flag mouse_any_flag"), "0 1 0", "terminal handed back")
        // (A list such as `explore; echo` would go on when its first command stops: run the exit check after fg.)
        try tmux.type("fg; echo EXPLORE-EXIT=$?")
        screen = try tmux.waitFor("accuracy")
        XCTAssertEqual(tmux.flags("alternate_on cursor_flag mouse_any_flag"), "1 0 1",
                       "the explorer owns the screen again, mouse included:\n\(screen)")
        try tmux.keys("Enter")
        try tmux.waitFor("completeness")
        try tmux.keys("q")
        screen = try tmux.waitFor("\nEXPLORE-EXIT=")  // the output line, not the typed command
        XCTAssertTrue(screen.contains("\nEXPLORE-EXIT=0"), screen)
        XCTAssertEqual(tmux.flags("alternate_on cursor_flag mouse_any_flag"), "0 1 0", "terminal restored")
    }

    /// Without --model, a B-cos model (B > 1) opens before a piecewise-linear B = 1 baseline, whatever their names
    /// (the shipped CIFAR-10 pair sorts b1 before b2); `m` still reaches the baseline.
    func testExploreOpensTheBcosModelBeforeTheB1Baseline() throws {
        if ProcessInfo.processInfo.environment["BCOS_SKIP_TMUX"] == "1" { throw XCTSkip("BCOS_SKIP_TMUX=1") }
        guard let path = Tmux.find() else { throw XCTSkip("tmux is not installed") }
        let (data, _) = try makeFixture()
        let models = tmp.file("models")
        try FileManager.default.createDirectory(atPath: models, withIntermediateDirectories: true)
        for (name, b) in [("aaa-linear", "1"), ("zzz-bcos", "2")] {
            _ = assertSuccess(["init", "--out", "\(models)/\(name).safetensors", "--b", b, "--classes", "3",
                               "--size", "16,16", "--widths", "4,4,6,6,6,8,8,8"])
        }
        let tmux = try Tmux(path: path, width: 100, height: 30)
        defer { tmux.kill() }
        try tmux.type("clear; env -u NO_COLOR TERM=tmux-256color BCOS_MODELS=/nonexistent '\(Bcos.binary)' explore "
                      + "--data '\(data)' --models '\(models)' --export '\(tmp.file("export"))'; echo EXPLORE-EXIT=$?")
        let screen = try tmux.waitFor("accuracy")
        XCTAssertTrue(screen.contains("│ zzz-bcos │") && !screen.contains("aaa-linear"), screen)
        try tmux.keys("m")  // the model picker lists both; the next one is the baseline
        try tmux.waitFor("aaa-linear")
        try tmux.keys("Down")
        try tmux.keys("Enter")
        try tmux.waitFor("│ aaa-linear │")
        try tmux.keys("q")
        try tmux.waitFor("EXPLORE-EXIT=0")  // the typed command shows "=$?"
    }

    func testExploreRefusesAModelThatDoesNotFitTheData() throws {
        let (data, _) = try makeFixture()
        let gray = tmp.file("gray.safetensors")
        _ = assertSuccess(["init", "--out", gray, "--gray", "--classes", "3", "--widths", "4,4,4,4,4,4,4,4"])
        // The model given with --model is checked against the data first, naming both and the mismatch.
        assertUserError(["explore", "--data", data, "--model", gray], mentions: [data, gray, "3-channel", "takes 1"])
        assertUserError(["explore", "--data", tmp.file("missing")], mentions: ["missing"])
    }
}
