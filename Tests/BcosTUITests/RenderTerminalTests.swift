import CNcurses
import Foundation
import XCTest
import BcosTestSupport
@testable import BcosTUI

/// Key decoding, and the real terminal layer driven inside a private tmux server.
///
/// The tmux tests run this test binary again inside tmux with BCOS_TUI_HARNESS set, where `setUp` turns into a
/// small app: a frame with text, box lines and half-block cells of known colours, the last key, and commands (q quit, e exit(3), f fatalError, w write to stderr, Ctrl-L redraw).
/// Skipped when tmux is not installed or BCOS_SKIP_TMUX=1.
final class RenderTerminalTests: XCTestCase {
    func testCharacterKeys() {
        XCTAssertEqual(Key(character: 3), .ctrlC)
        XCTAssertEqual(Key(character: 12), .ctrlL)
        XCTAssertEqual(Key(character: 13), .enter)
        XCTAssertEqual(Key(character: 10), .enter)
        XCTAssertEqual(Key(character: 9), .tab)
        XCTAssertEqual(Key(character: 27), .escape)
        XCTAssertEqual(Key(character: 127), .backspace)
        XCTAssertEqual(Key(character: 8), .backspace)
        XCTAssertEqual(Key(character: 4), .char("\u{4}"))
        XCTAssertEqual(Key(character: UInt32(("q" as Unicode.Scalar).value)), .char("q"))
        XCTAssertEqual(Key(character: 0x00E9), .char("é"))
        XCTAssertNil(Key(character: 0xD800))
    }

    func testKeyCodes() {
        XCTAssertEqual(Key(keyCode: KEY_UP), .up)
        XCTAssertEqual(Key(keyCode: KEY_DOWN), .down)
        XCTAssertEqual(Key(keyCode: KEY_LEFT), .left)
        XCTAssertEqual(Key(keyCode: KEY_RIGHT), .right)
        XCTAssertEqual(Key(keyCode: KEY_ENTER), .enter)
        XCTAssertEqual(Key(keyCode: KEY_BTAB), .backTab)
        XCTAssertEqual(Key(keyCode: KEY_PPAGE), .pageUp)
        XCTAssertEqual(Key(keyCode: KEY_NPAGE), .pageDown)
        XCTAssertEqual(Key(keyCode: KEY_HOME), .home)
        XCTAssertEqual(Key(keyCode: KEY_END), .end)
        XCTAssertEqual(Key(keyCode: KEY_BACKSPACE), .backspace)
        XCTAssertEqual(Key(keyCode: bcos_key_f(1)), .function(1))
        XCTAssertEqual(Key(keyCode: bcos_key_f(12)), .function(12))
        XCTAssertNil(Key(keyCode: KEY_IC))
        XCTAssertNil(Key(keyCode: bcos_key_resize))
        XCTAssertNil(Key(keyCode: bcos_key_mouse))
    }

    func testMouseEvents() {
        XCTAssertEqual(Key(mouseX: 4, y: 7, state: bcos_button1_pressed), .mouseClick(x: 4, y: 7))
        XCTAssertEqual(Key(mouseX: 1, y: 2, state: bcos_button4_pressed), .wheelUp(x: 1, y: 2))
        XCTAssertEqual(Key(mouseX: 1, y: 2, state: bcos_button5_pressed), .wheelDown(x: 1, y: 2))
        XCTAssertNil(Key(mouseX: 1, y: 2, state: bcos_button1_released))
    }

    func testOpeningWithoutATerminalThrows() throws {
        guard isatty(STDIN_FILENO) == 0 || isatty(STDOUT_FILENO) == 0 else {
            throw XCTSkip("stdin and stdout are a terminal here")
        }
        XCTAssertThrowsError(try Terminal(colorOverride: nil)) { error in
            XCTAssertTrue("\(error)".contains("interactive terminal"), "\(error)")
        }
    }

    // MARK: tmux

    override func setUp() {
        super.setUp()
        if ProcessInfo.processInfo.environment["BCOS_TUI_HARNESS"] != nil { runHarness() }
    }

    func testTmuxFrameColoursKeysAndResize() throws {
        let pane = try HarnessPane()
        defer { pane.tmux.kill() }
        let tmux = pane.tmux
        try pane.start("q")
        let colored = tmux.capture(escapes: true)
        XCTAssertTrue(colored.contains("\u{1B}[38;2;255;0;0m\u{1B}[48;2;0;0;255m▀"), colored)
        XCTAssertTrue(colored.contains("\u{1B}[38;2;1;2;3m\u{1B}[48;2;250;251;252m▀"), colored)
        let first = tmux.capture()
        XCTAssertTrue(first.contains("┌ harness ──"), first)
        XCTAssertTrue(first.contains("▀▀ █▀▄─│┌┐└┘"), first)
        XCTAssertTrue(first.contains("size 80x24"), first)
        Thread.sleep(forTimeInterval: 0.5)  // five more get_wch timeouts
        XCTAssertEqual(tmux.capture(), first, "ncurses must not repaint over the frame")

        // Keys by tmux name (or raw bytes) and how the harness shows them; a mouse release leaves no junk behind.
        let keys: [([[String]], String)] = [
            ([["a"]], "char(\"a\")"), ([["Up"]], "up"), ([["Down"]], "down"), ([["Left"]], "left"),
            ([["Right"]], "right"), ([["Enter"]], "enter"), ([["Tab"]], "tab"), ([["BTab"]], "backTab"),
            ([["BSpace"]], "backspace"), ([["PPage"]], "pageUp"), ([["NPage"]], "pageDown"), ([["Home"]], "home"),
            ([["End"]], "end"), ([["F5"]], "function(5)"), ([["C-c"]], "ctrlC"), ([["Escape"]], "escape"),
            ([["é"]], "char(\"é\")"), ([Tmux.mouse(0, x: 4, y: 2)], "mouseClick(x: 4, y: 2)"),
            ([Tmux.mouse(3, x: 4, y: 2), ["x"]], "char(\"x\")"),
            ([Tmux.mouse(64, x: 6, y: 3)], "wheelUp(x: 6, y: 3)"),
            ([Tmux.mouse(65, x: 6, y: 3)], "wheelDown(x: 6, y: 3)"),
        ]
        var screen = ""
        for (presses, shown) in keys {
            for names in presses { try tmux.command(["send-keys", "-t", "0"] + names) }
            screen = try tmux.waitFor("last key: \(shown) ")
        }
        XCTAssertTrue(screen.contains("▀▀ █▀▄─│┌┐└┘"), screen)

        try tmux.command(["resize-window", "-x", "60", "-y", "20"])
        screen = try tmux.waitFor("size 60x20")
        XCTAssertTrue(screen.contains("last key: resize"), screen)
        XCTAssertTrue(screen.contains("▀▀ █▀▄─│┌┐└┘"), screen)
        XCTAssertTrue(screen.split(separator: "\n").last?.hasPrefix("└") == true, screen)
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertEqual(tmux.capture(), screen, "no repaint after the resize either")
        try tmux.keys("C-l")
        try tmux.waitFor("last key: ctrlL")

        // Anything on stderr waits until the terminal is back.
        try tmux.keys("w")
        screen = try tmux.waitFor("last key: char(\"w\")")
        XCTAssertFalse(screen.contains("stderr-during-session"), screen)
        try tmux.keys("q")
        XCTAssertTrue(try pane.finished("q", exit: 0).contains("stderr-during-session"))
    }

    func testTmuxRestoresAfterExitSignalsAndCrashes() throws {
        let pane = try HarnessPane()
        defer { pane.tmux.kill() }
        let tmux = pane.tmux

        // exit() without restore: the atexit hook. With xterm-256color: SGR 1006 mouse reports.
        try pane.start("e", term: "xterm-256color")
        try tmux.command(["send-keys", "-t", "0"] + Tmux.mouse(0, x: 70, y: 20, sgr: true))
        try tmux.waitFor("last key: mouseClick(x: 70, y: 20) ")
        try tmux.keys("e")
        _ = try pane.finished("e", exit: 3)

        // (SIGINT takes the same path; sh would also abort the line that reports the result.)
        for (name, signal) in [("term", SIGTERM), ("hup", SIGHUP)] {
            try pane.start(name)
            let pid = try XCTUnwrap(Tmux.number(after: "pid ", in: tmux.capture()))
            kill(pid_t(pid), signal)
            _ = try pane.finished(name, exit: 128 + signal)
        }

        // A crash (fatalError, as for an uncaught error at top level): restored, and the message is readable.
        try pane.start("f")
        try tmux.keys("w")
        try tmux.waitFor("last key: char(\"w\")")
        try tmux.keys("f")
        let screen = try pane.finished("f", exit: 128 + SIGILL)
        XCTAssertTrue(screen.contains("Fatal error: harness crash"), screen)
        XCTAssertTrue(screen.contains("stderr-during-session"), screen)
    }

    func testTmuxColourModesAndUnknownTerm() throws {
        let pane = try HarnessPane()
        defer { pane.tmux.kill() }
        let tmux = pane.tmux

        // 256 colours from TERM alone; NO_COLOR drops colour but keeps the characters.
        try pane.start("p256", env: "COLORTERM=")
        XCTAssertTrue(tmux.capture(escapes: true).contains("\u{1B}[38;5;196m\u{1B}[48;5;21m▀"))
        XCTAssertTrue(tmux.capture().contains("mode 256"))
        try tmux.keys("q")
        _ = try pane.finished("p256", exit: 0)
        try pane.start("none", env: "NO_COLOR=1")
        let plain = tmux.capture(escapes: true)
        XCTAssertFalse(plain.contains("38;2;") || plain.contains("38;5;"), plain)
        XCTAssertTrue(plain.contains("mode none") && plain.contains("▀▀ █▀▄─│┌┐└┘"), plain)
        try tmux.keys("q")
        _ = try pane.finished("none", exit: 0)

        // An unknown TERM is an error message, not a crash or a garbled terminal.
        try tmux.type("TERM=no-such-term BCOS_TUI_HARNESS=1 '\(pane.binary)' \(pane.test)")
        try tmux.waitFor("HARNESS-ERROR unknown terminal type \"no-such-term\"")
        XCTAssertEqual(tmux.flags("alternate_on cursor_flag"), "0 1")
    }

    /// The app side of the tmux tests (this test binary run inside tmux with BCOS_TUI_HARNESS set); never returns.
    private func runHarness() -> Never {
        let terminal: Terminal
        do {
            terminal = try Terminal(colorOverride: nil)
        } catch {
            print("HARNESS-ERROR \(error)")
            exit(2)
        }
        var lastKey = "none"
        while true {
            let (w, h) = terminal.size
            var frame = CellBuffer(width: w, height: h)
            frame.box(x: 0, y: 0, width: w, height: h, title: "harness", highlighted: true)
            frame.put("size \(w)x\(h) pid \(getpid()) mode \(terminal.colorMode.rawValue)", x: 2, y: 1)
            frame.put("last key: \(lastKey)", x: 2, y: 2)
            frame.drawImage([255, 0, 0, 1, 2, 3, 0, 0, 255, 250, 251, 252], width: 2, height: 2, x: 2, y: 3)
            frame.put("█▀▄─│┌┐└┘", x: 5, y: 3)
            terminal.present(frame)
            guard let key = terminal.readKey(timeoutMs: 100) else { continue }
            lastKey = "\(key)"
            switch key {
            case .char("q"):
                terminal.restore()
                exit(0)
            case .char("e"): exit(3)
            case .char("f"): fatalError("harness crash")
            case .char("w"): FileHandle.standardError.write(Data("stderr-during-session\n".utf8))
            case .ctrlL: terminal.invalidate()
            default: break
            }
        }
    }
}

/// A private tmux server whose shell runs this test binary as the harness and checks the terminal afterwards.
private struct HarnessPane {
    let tmux: Tmux
    let binary = CommandLine.arguments[0]
    /// Any test of the class: `setUp` turns into the harness before it runs.
    let test = "BcosTUITests.RenderTerminalTests/testCharacterKeys"

    /// Skips when tmux is missing or BCOS_SKIP_TMUX=1.
    init() throws {
        if ProcessInfo.processInfo.environment["BCOS_SKIP_TMUX"] == "1" { throw XCTSkip("BCOS_SKIP_TMUX=1") }
        guard let path = Tmux.find() else { throw XCTSkip("tmux is not installed") }
        tmux = try Tmux(path: path, width: 80, height: 24)
    }

    /// Runs the harness from the shell and waits for its first frame. tmux-256color is what programs see inside
    /// tmux (tmux's key sequences, X10 mouse reports). The shell notes the tty modes before and says afterwards
    /// whether they came back, with the exit status.
    func start(_ name: String, term: String = "tmux-256color", env: String = "COLORTERM=truecolor",
               file: StaticString = #filePath, line: UInt = #line) throws {
        try tmux.command(["clear-history", "-t", "0"])
        try tmux.type("clear; printf 'MARK-%s\\n' \(name); S0=$(stty -g); "
            + "env -u NO_COLOR -u COLORTERM LC_ALL=C.UTF-8 TERM=\(term) \(env) BCOS_TUI_HARNESS=1 "
            + "SWIFT_BACKTRACE=enable=no '\(binary)' \(test); "
            + "echo \"DONE-\(name) EXIT=$? TTY=$([ \"$(stty -g)\" = \"$S0\" ] && echo same || echo changed)\"")
        try tmux.waitFor("size ")
        XCTAssertEqual(tmux.flags("alternate_on cursor_flag mouse_any_flag"), "1 0 1", name, file: file, line: line)
    }

    /// Waits for the shell to report the exit and checks that the terminal is as before: same tty modes, main
    /// screen with the text from before, cursor shown, mouse and keypad modes off. Returns screen and scrollback.
    func finished(_ name: String, exit: Int32, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        try tmux.waitFor("DONE-\(name) EXIT=")
        let screen = tmux.capture(history: true)
        XCTAssertTrue(screen.contains("DONE-\(name) EXIT=\(exit) TTY=same"), screen, file: file, line: line)
        XCTAssertTrue(screen.contains("MARK-\(name)\n"), "main screen back: \(screen)", file: file, line: line)
        XCTAssertFalse(screen.contains("last key"), screen, file: file, line: line)
        XCTAssertEqual(tmux.flags("alternate_on cursor_flag mouse_any_flag keypad_cursor_flag"), "0 1 0 0", name,
                       file: file, line: line)
        return screen
    }
}


