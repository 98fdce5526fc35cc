import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A private tmux server with one 'sh' pane; every call waits for tmux to finish.
public struct Tmux {
    public let path: String
    /// One socket per server: a new server on the name of one just killed can meet it still shutting down.
    public let socket = "bcos-render-test-\(getpid())-\(UUID().uuidString.prefix(8))"

    public static func find() -> String? {
        ["/usr/bin/tmux", "/usr/local/bin/tmux", "/opt/homebrew/bin/tmux"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    /// A mouse report as `send-keys -H` bytes: X10 encoding (tmux-256color) or SGR 1006 (xterm-256color).
    public static func mouse(_ button: Int, x: Int, y: Int, sgr: Bool = false) -> [String] {
        let bytes = sgr ? Array("\u{1B}[<\(button);\(x + 1);\(y + 1)M".utf8)
            : Array("\u{1B}[M".utf8) + [UInt8(32 + button), UInt8(33 + x), UInt8(33 + y)]
        return ["-H"] + bytes.map { String($0, radix: 16) }
    }

    /// The number after `prefix` in `text` (e.g. "pid 1234").
    public static func number(after prefix: String, in text: String) -> Int? {
        guard let range = text.range(of: prefix) else { return nil }
        return Int(text[range.upperBound...].prefix { $0.isNumber })
    }

    public init(path: String, width: Int, height: Int) throws {
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
    public func command(_ arguments: [String]) throws -> String {
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
    public func type(_ line: String) throws {
        try command(["send-keys", "-t", "0", "-l", line])
        try command(["send-keys", "-t", "0", "Enter"])
    }

    /// Presses keys by tmux name ("a", "Up", "C-c", "F5").
    public func keys(_ names: String...) throws {
        try command(["send-keys", "-t", "0"] + names)
    }

    /// The visible pane (and its scrollback when `history`), with SGR sequences when `escapes`.
    public func capture(escapes: Bool = false, history: Bool = false) -> String {
        let options = (escapes ? ["-e"] : []) + (history ? ["-S", "-"] : [])
        return (try? command(["capture-pane", "-p", "-t", "0"] + options)) ?? ""
    }

    /// tmux format variables, space-separated ("1 0").
    public func flags(_ names: String) -> String {
        let format = names.split(separator: " ").map { "#{\($0)}" }.joined(separator: " ")
        return ((try? command(["display-message", "-p", "-t", "0", format])) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Polls the pane until it shows `text` (10 s at most); returns the screen.
    @discardableResult
    public func waitFor(_ text: String, seconds: Double = 10) throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        var screen = ""
        while Date() < deadline {
            screen = capture()
            if screen.contains(text) { return screen }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw TmuxError(message: "waited \(seconds) s for \"\(text)\"; the pane shows:\n\(screen)")
    }

    public func kill() {
        _ = try? command(["kill-server"])
    }
}

public struct TmuxError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
