import CNcurses
import Foundation
import XCTest
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

/// A private tmux server with one 'sh' pane; every call waits for tmux to finish.
private struct Tmux {
    let path: String
    /// One socket per server: a new server on the name of one just killed can meet it still shutting down.
    let socket = "bcos-render-test-\(getpid())-\(UUID().uuidString.prefix(8))"

    static func find() -> String? {
        ["/usr/bin/tmux", "/usr/local/bin/tmux", "/opt/homebrew/bin/tmux"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    /// A mouse report as `send-keys -H` bytes: X10 encoding (tmux-256color) or SGR 1006 (xterm-256color).
    static func mouse(_ button: Int, x: Int, y: Int, sgr: Bool = false) -> [String] {
        let bytes = sgr ? Array("\u{1B}[<\(button);\(x + 1);\(y + 1)M".utf8)
            : Array("\u{1B}[M".utf8) + [UInt8(32 + button), UInt8(33 + x), UInt8(33 + y)]
        return ["-H"] + bytes.map { String($0, radix: 16) }
    }

    /// The number after `prefix` in `text` (e.g. "pid 1234").
    static func number(after prefix: String, in text: String) -> Int? {
        guard let range = text.range(of: prefix) else { return nil }
        return Int(text[range.upperBound...].prefix { $0.isNumber })
    }

    init(path: String, width: Int, height: Int) throws {
        self.path = path
        try command(["-f", "/dev/null", "new-session", "-d", "-x", "\(width)", "-y", "\(height)",
                     "env PS1='$ ' sh"])
        try command(["set-option", "-g", "default-size", "\(width)x\(height)"])
    }

    /// Runs tmux with `arguments` and returns its output; throws when it fails.
    ///
    /// posix_spawn and waitpid rather than Foundation's Process, whose waitUntilExit never returned for the tmux
    /// client that starts the server. Output goes through a file: the server inherits the client's descriptors,
    /// so a pipe would never reach end-of-file.
    @discardableResult
    func command(_ arguments: [String]) throws -> String {
        let outputPath = NSTemporaryDirectory() + "\(socket)-\(UUID().uuidString)"
        defer { unlink(outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([path, "-L", socket] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, environ)
        guard spawned == 0 else { throw TmuxError(message: "cannot start \(path): error \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw TmuxError(message: "tmux \(arguments.joined(separator: " ")) (status \(status)): \(output)")
        }
        return output
    }

    /// Types a line into the shell and presses Enter.
    func type(_ line: String) throws {
        try command(["send-keys", "-t", "0", "-l", line])
        try command(["send-keys", "-t", "0", "Enter"])
    }

    /// Presses keys by tmux name ("a", "Up", "C-c", "F5").
    func keys(_ names: String...) throws {
        try command(["send-keys", "-t", "0"] + names)
    }

    /// The visible pane (and its scrollback when `history`), with SGR sequences when `escapes`.
    func capture(escapes: Bool = false, history: Bool = false) -> String {
        let options = (escapes ? ["-e"] : []) + (history ? ["-S", "-"] : [])
        return (try? command(["capture-pane", "-p", "-t", "0"] + options)) ?? ""
    }

    /// tmux format variables, space-separated ("1 0").
    func flags(_ names: String) -> String {
        let format = names.split(separator: " ").map { "#{\($0)}" }.joined(separator: " ")
        return ((try? command(["display-message", "-p", "-t", "0", format])) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Polls the pane until it shows `text` (10 s at most); returns the screen.
    @discardableResult
    func waitFor(_ text: String) throws -> String {
        let deadline = Date().addingTimeInterval(10)
        var screen = ""
        while Date() < deadline {
            screen = capture()
            if screen.contains(text) { return screen }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw TmuxError(message: "waited 10 s for \"\(text)\"; the pane shows:\n\(screen)")
    }

    func kill() {
        _ = try? command(["kill-server"])
    }
}

private struct TmuxError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
