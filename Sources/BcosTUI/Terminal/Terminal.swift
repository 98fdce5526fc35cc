import CNcurses
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the terminal could not be opened, in words for the user.
public struct TerminalError: Error, CustomStringConvertible {
    /// What went wrong and what to do about it.
    public let message: String
    /// The message.
    public var description: String { message }
}

/// The interactive terminal: ncurses for input, modes and resizes; our own bytes for everything on screen.
///
/// How drawing coexists with ncurses: ncurses owns the tty modes (raw, noecho, nonl), the alternate screen,
/// keypad and mouse modes, and turns input into keys (`wget_wch` on a private 1x1 window, never `stdscr`).
/// Nothing is ever drawn through ncurses; `present` writes `Renderer.diff` output straight to fd 1. ncurses
/// repaints only a window it is asked to read from once that window has been touched, so its model stays
/// blank and untouched and it never writes over our cells. The two moments when ncurses clears the screen
/// itself (its first refresh, and the refresh after a resize) are taken inside `init` and inside `readKey`
/// before `.resize` is returned, and the frame after either is a full redraw.
///
/// One `Terminal` at a time per process. Until `restore` (or deinit), SIGTERM, SIGHUP, SIGINT, SIGQUIT and the
/// crash signals (SIGABRT, SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGFPE: `fatalError`, an uncaught error at top
/// level) put the terminal back with precomputed bytes and `tcsetattr` (both safe in a signal handler) and then
/// hand the signal to whoever had it before (the default action, or Swift's backtracer); `exit` restores through an
/// atexit hook. Standard error is captured in a temporary file while the screen is ours (anything written there
/// would scribble over the frame, and the alternate screen would swallow a crash message) and written out after
/// the terminal is restored.
public final class Terminal {
    /// The colour depth frames are rendered with: the override, or `ColorDepth.detect` at start.
    public let colorMode: ColorMode
    /// The window keys are read from; never drawn into.
    private let input: UnsafeMutablePointer<WINDOW>
    /// What the terminal shows now; nil after `invalidate`, so the next frame starts with a clear.
    private var lastFrame: CellBuffer?
    /// The timeout currently set on `input`, to skip redundant `wtimeout` calls.
    private var inputTimeoutMs: Int32 = -2
    /// False once this instance restored the terminal (a later `Terminal` has its own session).
    private var isOpen = true
    /// Whether input and output may go to the terminal: this instance is open and no signal or exit restored it.
    private var canUse: Bool { isOpen && TTYSession.isActive }

    /// setlocale, newterm on /dev/tty-equivalent stdin/stdout (fails with a clear thrown error for an unknown TERM
    /// or when stdout is not a terminal), raw mode (so Ctrl-C arrives as a key), noecho, keypad, nonl, curs_set(0),
    /// set_escdelay(25), mouse clicks + wheel (mousemask, mouseinterval 0), and installs SIGTERM/SIGHUP handlers
    /// and an atexit hook that restore the terminal.
    /// - Parameter colorOverride: the `--color` choice; nil picks from the environment and terminfo.
    /// - Throws: `TerminalError` when stdin or stdout is not a terminal, TERM is unset, unknown or cannot move
    ///   the cursor, or another `Terminal` is open.
    public init(colorOverride: ColorMode?) throws {
        guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else {
            throw TerminalError(message: "the explorer needs an interactive terminal, but standard "
                + (isatty(STDIN_FILENO) == 1 ? "output" : "input") + " is not one (run it without redirecting)")
        }
        let environment = Self.environment()
        guard let term = environment["TERM"], !term.isEmpty else {
            throw TerminalError(message: "TERM is not set; set it to your terminal's type, e.g. TERM=xterm-256color")
        }
        guard !TTYSession.isActive else {
            throw TerminalError(message: "a terminal session is already open in this process")
        }
        // LC_CTYPE only: ncurses needs it to decode UTF-8 input, while LC_ALL would also switch LC_NUMERIC and make
        // C number formatting and parsing (strtod, printf) use a decimal comma in some locales.
        setlocale(LC_CTYPE, "")
        tcgetattr(STDOUT_FILENO, TTYSession.shellModes)
        TTYSession.installHandlers()
        guard let screen = newterm(nil, bcos_stdout(), bcos_stdin()) else {
            throw TerminalError(message: "unknown terminal type \"\(term)\" (TERM); set TERM to a type this system's "
                + "terminfo knows, e.g. TERM=xterm-256color")
        }
        guard Self.capability("cup") != nil, let input = newwin(1, 1, 0, 0) else {
            endwin()
            delscreen(screen)
            throw TerminalError(message: "terminal type \"\(term)\" (TERM) cannot move the cursor; "
                + "set TERM to your terminal's type, e.g. TERM=xterm-256color")
        }
        self.input = input
        raw()
        noecho()
        nonl()
        keypad(input, true)
        leaveok(input, true)
        curs_set(0)
        set_escdelay(25)
        mouseinterval(0)
        let mouse = mousemask(bcos_button1_pressed | bcos_button4_pressed | bcos_button5_pressed, nil) != 0
        colorMode = colorOverride ?? ColorDepth.detect(environment: environment, colors: Int(tigetnum("colors")))

        // For the signal path, which may not call ncurses: reset SGR, mouse off, keypad off, cursor on, main screen.
        var emergency = "\u{1B}[0m"
        if mouse { emergency += "\u{1B}[?1006l\u{1B}[?1003l\u{1B}[?1002l\u{1B}[?1000l" }
        emergency += (Self.capability("rmkx") ?? "") + (Self.capability("cnorm") ?? "\u{1B}[?25h")
            + (Self.capability("rmcup") ?? "")
        TTYSession.begin(screen: screen, input: input, emergencyBytes: Array(emergency.utf8))
        // ncurses' first refresh clears the screen; take it now so it cannot wipe a frame later.
        wrefresh(input)
    }

    deinit {
        restore()
    }

    /// Columns and rows, as ncurses last saw them (updated when `.resize` is delivered).
    public var size: (width: Int, height: Int) {
        (Int(bcos_cols()), Int(bcos_lines()))
    }

    /// Waits up to timeoutMs for a key (get_wch); nil on timeout.
    ///
    /// Input ncurses decodes but `Key` has no case for (Insert, a mouse release) is skipped within the same wait.
    /// On a resize, ncurses' own pending clear is flushed before `.resize` is returned and the next `present`
    /// redraws everything. After `restore` it returns nil at once.
    /// - Parameter timeoutMs: 0 polls; a negative value waits without limit.
    public func readKey(timeoutMs: Int) -> Key? {
        guard canUse else { return nil }
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(max(0, timeoutMs))
        while true {
            var remaining = Int32(-1)
            if timeoutMs >= 0 {
                let left = clock.now.duration(to: deadline).components
                let ms = max(0, left.seconds * 1000 + left.attoseconds / 1_000_000_000_000_000)
                remaining = Int32(clamping: ms)
            }
            if remaining != inputTimeoutMs {
                wtimeout(input, remaining)
                inputTimeoutMs = remaining
            }
            var wch: wint_t = 0
            let rc = wget_wch(input, &wch)
            if rc == OK, let key = Key(character: UInt32(wch)) { return key }
            if rc == bcos_key_code_yes {
                let code = Int32(wch)
                if code == bcos_key_resize {
                    // ncurses has resized its model and wants to clear the screen; let it, then redraw all.
                    wrefresh(input)
                    invalidate()
                    return .resize
                }
                if code == bcos_key_mouse {
                    var event = MEVENT()
                    if getmouse(&event) == OK, let key = Key(mouseX: event.x, y: event.y, state: event.bstate) {
                        return key
                    }
                } else if let key = Key(keyCode: code) {
                    return key
                }
            }
            // ERR is a timeout (or an interrupted read); anything else was input we do not report.
            if rc == ERR || remaining == 0 { return nil }
        }
    }

    /// Writes Renderer.diff(last frame -> buffer) straight to the terminal fd and flushes once (ncurses' own screen
    /// model is never used for drawing, so ncurses must not redraw over it: never touch stdscr).
    public func present(_ buffer: CellBuffer) {
        guard canUse else { return }
        var bytes = Renderer.diff(from: lastFrame, to: buffer, mode: colorMode)
        if !bytes.isEmpty {
            bytes.withUTF8 { TTYSession.writeAll(STDOUT_FILENO, $0) }
        }
        lastFrame = buffer
    }

    /// Next present redraws everything (after resize, Ctrl-L).
    public func invalidate() {
        lastFrame = nil
    }

    /// Ctrl-Z: hands the terminal back to the shell (endwin: shell modes, main screen, cursor, mouse off) and stops
    /// the process as SIGTSTP's default action would; after `fg` (SIGCONT) it takes the terminal again and the next
    /// `present` redraws everything. A process no shell controls (an orphaned process group) is not stopped by the
    /// kernel: then this returns at once and the screen is simply redrawn.
    public func suspend() {
        guard canUse else { return }
        TTYSession.writeAll(STDOUT_FILENO, "\u{1B}[0m")
        endwin()
        let previous = signal(SIGTSTP, SIG_DFL)
        raise(SIGTSTP)
        signal(SIGTSTP, previous)
        // The first refresh after endwin puts back the program modes (raw, keypad, mouse, alternate screen).
        wrefresh(input)
        invalidate()
    }

    /// Restores the terminal (endwin, cursor visible, SGR reset, mouse off); idempotent.
    ///
    /// Also writes out what went to standard error meanwhile. Afterwards `present` does nothing and `readKey`
    /// returns nil; a new `Terminal` may be opened.
    public func restore() {
        guard isOpen else { return }
        isOpen = false
        TTYSession.restore()
    }

    /// A terminfo string capability with padding (`$<5>`) removed; nil when the terminal lacks it.
    private static func capability(_ name: String) -> String? {
        guard let raw = tigetstr(name), Int(bitPattern: raw) != -1 else { return nil }
        var text = String(cString: raw)
        while let start = text.range(of: "$<"), let end = text[start.upperBound...].firstIndex(of: ">") {
            text.removeSubrange(start.lowerBound...end)
        }
        return text
    }

    /// The variables `ColorDepth.detect` reads, through libc so this layer needs no Foundation.
    private static func environment() -> [String: String] {
        var result: [String: String] = [:]
        for name in ["TERM", "COLORTERM", "NO_COLOR"] {
            if let value = getenv(name) { result[name] = String(cString: value) }
        }
        return result
    }
}

/// Process-wide state of the open terminal, reachable from signal handlers and the atexit hook.
///
/// Everything a signal handler touches is allocated before the handlers can see `active` set, and the handler
/// path only calls async-signal-safe functions (write, tcsetattr, dup2, lseek, read, fstat, close, sigaction, raise).
private enum TTYSession {
    /// 1 while a Terminal owns the tty; whoever exchanges it back to 0 restores, exactly once.
    nonisolated(unsafe) static let active: UnsafeMutablePointer<Int32> = zeroed(Int32.self)
    /// 1 once the signal handlers and the atexit hook are installed (they stay; they check `active`).
    nonisolated(unsafe) static let handlersInstalled: UnsafeMutablePointer<Int32> = zeroed(Int32.self)
    /// The tty modes before ncurses changed them.
    nonisolated(unsafe) static let shellModes: UnsafeMutablePointer<termios> = zeroed(termios.self)
    /// The signals that restore the terminal, and the actions they had before ours.
    static let signals: [Int32] = [SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGABRT, SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGFPE]
    nonisolated(unsafe) static let previousActions: UnsafeMutablePointer<sigaction> = zeroed(sigaction.self,
                                                                                             signals.count)
    /// The ncurses screen and input window, released by the normal restore path.
    nonisolated(unsafe) static var screen: OpaquePointer?
    nonisolated(unsafe) static var input: UnsafeMutablePointer<WINDOW>?
    /// Restore bytes for the signal path (no ncurses there), and a scratch buffer for copying stderr back.
    nonisolated(unsafe) static var emergencyBytes: UnsafeMutableBufferPointer<UInt8> = .init(start: nil, count: 0)
    nonisolated(unsafe) static let scratch: UnsafeMutableBufferPointer<UInt8> = .allocate(capacity: 4096)
    /// The real stderr (dup'd) and the temporary file that stands in for it while the screen is ours; -1 if none.
    nonisolated(unsafe) static var realStderr: Int32 = -1
    nonisolated(unsafe) static var capturedStderr: Int32 = -1
    /// At most this much captured stderr is written back (the end of it).
    static let stderrReplayLimit = 64 * 1024

    static var isActive: Bool { active.pointee != 0 }

    private static func zeroed<T>(_ type: T.Type, _ count: Int = 1) -> UnsafeMutablePointer<T> {
        let p = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<T>.stride * count,
                                                 alignment: MemoryLayout<T>.alignment)
        p.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<T>.stride * count)
        return p.bindMemory(to: T.self, capacity: count)
    }

    /// Installs the signal handlers (before newterm, so ncurses keeps its own SIGINT/SIGTERM handlers out) and the
    /// atexit hook, once per process.
    static func installHandlers() {
        guard bcos_atomic_exchange(handlersInstalled, 1) == 0 else { return }
        for (i, sig) in signals.enumerated() {
            _ = bcos_install_signal_handler(sig, { sig, info, _ in TTYSession.handleSignal(sig, info) },
                                            previousActions + i)
        }
        atexit { TTYSession.restore() }
    }

    /// Records the session and starts capturing stderr; from here on the handlers restore.
    static func begin(screen: OpaquePointer, input: UnsafeMutablePointer<WINDOW>, emergencyBytes bytes: [UInt8]) {
        self.screen = screen
        self.input = input
        emergencyBytes.deallocate()
        emergencyBytes = .allocate(capacity: bytes.count)
        _ = emergencyBytes.initialize(from: bytes)
        captureStderr()
        _ = bcos_atomic_exchange(active, 1)
    }

    /// The normal path (restore(), deinit, exit): ncurses puts back what it changed.
    static func restore() {
        guard bcos_atomic_exchange(active, 0) == 1 else { return }
        writeAll(STDOUT_FILENO, "\u{1B}[0m")
        if let input { delwin(input) }
        endwin()
        writeAll(STDOUT_FILENO, "\u{1B}[0m\u{1B}[?25h")
        if let screen { delscreen(screen) }
        input = nil
        screen = nil
        releaseStderr()
    }

    /// The signal path: precomputed bytes and the saved tty modes, then the signal goes on to its previous action.
    static func handleSignal(_ sig: Int32, _ info: UnsafeMutablePointer<siginfo_t>?) {
        if bcos_atomic_exchange(active, 0) == 1 {
            writeAll(STDOUT_FILENO, UnsafeBufferPointer(emergencyBytes))
            tcsetattr(STDOUT_FILENO, TCSADRAIN, shellModes)
            releaseStderr()
        }
        if let i = signals.firstIndex(of: sig) {
            _ = bcos_restore_signal_handler(sig, previousActions + i)
        }
        // A fault the kernel raised happens again when we return, now with the previous action and the real
        // context (so a backtracer shows the faulting frame). Everything else is raised again; it is blocked
        // while this handler runs, so it is delivered as soon as we return.
        switch sig {
        case SIGILL, SIGSEGV, SIGBUS, SIGFPE:
            if let info, info.pointee.si_code > 0 { return }
        default: break
        }
        raise(sig)
    }

    /// Points fd 2 at an unlinked temporary file, if stderr is the terminal.
    private static func captureStderr() {
        guard isatty(STDERR_FILENO) == 1 else { return }
        let directory = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array("\(directory)/bcos-tui-stderr-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { return }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        let saved = dup(STDERR_FILENO)
        guard saved >= 0, dup2(fd, STDERR_FILENO) >= 0 else {
            close(fd)
            if saved >= 0 { close(saved) }
            return
        }
        realStderr = saved
        capturedStderr = fd
    }

    /// Puts the real stderr back and copies the end of what was captured onto it. Async-signal-safe.
    private static func releaseStderr() {
        guard realStderr >= 0, capturedStderr >= 0 else { return }
        dup2(realStderr, STDERR_FILENO)
        close(realStderr)
        realStderr = -1
        var info = stat()
        if fstat(capturedStderr, &info) == 0, info.st_size > 0 {
            let start = max(0, Int(info.st_size) - stderrReplayLimit)
            if lseek(capturedStderr, off_t(start), SEEK_SET) >= 0 {
                while true {
                    let n = read(capturedStderr, scratch.baseAddress, scratch.count)
                    if n <= 0 { break }
                    writeAll(STDERR_FILENO, UnsafeBufferPointer(rebasing: scratch[0..<n]))
                }
            }
        }
        close(capturedStderr)
        capturedStderr = -1
    }

    /// write(2) until everything is out; gives up on errors other than EINTR/EAGAIN (the terminal is gone).
    static func writeAll(_ fd: Int32, _ bytes: UnsafeBufferPointer<UInt8>) {
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = write(fd, p, left)
            if n > 0 {
                p += n
                left -= n
            } else if n < 0, errno == EINTR || errno == EAGAIN {
                continue
            } else {
                return
            }
        }
    }

    /// Writes a string (normal path only: it may allocate).
    static func writeAll(_ fd: Int32, _ text: String) {
        var text = text
        text.withUTF8 { writeAll(fd, $0) }
    }
}
