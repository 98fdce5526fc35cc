import CNcurses

/// One input event from the terminal: a key, a resize or a mouse event.
public enum Key: Equatable, Sendable {
    /// A printable character, or a control character without a case of its own (Ctrl-D is "\u{4}").
    case char(Character)
    /// Arrow keys.
    case up, down, left, right
    /// Return / Enter (keypad Enter too).
    case enter
    /// A lone Esc (25 ms escape delay).
    case escape
    /// Tab.
    case tab
    /// Shift-Tab.
    case backTab
    /// Page Up, Page Down, Home, End.
    case pageUp, pageDown, home, end
    /// Backspace (DEL, ^H or the terminfo backspace key).
    case backspace
    /// The terminal changed size; `Terminal.size` is already updated and the next present redraws everything.
    case resize
    /// Ctrl-C arrives as a key (raw mode), not as SIGINT.
    case ctrlC
    /// Ctrl-L: the user asks for a redraw.
    case ctrlL
    /// Ctrl-Z (raw mode delivers it as a key, not as SIGTSTP): suspend to the shell.
    case ctrlZ
    /// Left button pressed at column x, row y (0-based).
    case mouseClick(x: Int, y: Int)
    /// Wheel turned up (away from the user) over column x, row y.
    case wheelUp(x: Int, y: Int)
    /// Wheel turned down over column x, row y.
    case wheelDown(x: Int, y: Int)
    /// Function key Fn, n >= 1.
    case function(Int)
}

extension Key {
    /// The key for a character `wget_wch` returned with OK; nil for a value that is no Unicode scalar.
    init?(character code: UInt32) {
        switch code {
        case 3: self = .ctrlC
        case 9: self = .tab
        case 10, 13: self = .enter
        case 12: self = .ctrlL
        case 26: self = .ctrlZ
        case 27: self = .escape
        case 8, 127: self = .backspace
        default:
            guard let scalar = Unicode.Scalar(code) else { return nil }
            self = .char(Character(scalar))
        }
    }

    /// The key for a key code `wget_wch` returned with KEY_CODE_YES; nil for KEY_MOUSE, KEY_RESIZE (the terminal
    /// handles those) and keys without a case here.
    init?(keyCode code: Int32) {
        switch code {
        case KEY_UP: self = .up
        case KEY_DOWN: self = .down
        case KEY_LEFT: self = .left
        case KEY_RIGHT: self = .right
        case KEY_ENTER: self = .enter
        case KEY_BTAB: self = .backTab
        case KEY_PPAGE: self = .pageUp
        case KEY_NPAGE: self = .pageDown
        case KEY_HOME: self = .home
        case KEY_END: self = .end
        case KEY_BACKSPACE: self = .backspace
        case bcos_key_f(1)...bcos_key_f(63): self = .function(Int(code - bcos_key_f(0)))
        default: return nil
        }
    }

    /// The key for a mouse event (column, row, ncurses button state); nil for buttons and releases not reported.
    init?(mouseX x: Int32, y: Int32, state: mmask_t) {
        if state & bcos_button1_pressed != 0 || state & bcos_button1_clicked != 0 {
            self = .mouseClick(x: Int(x), y: Int(y))
        } else if state & bcos_button4_pressed != 0 {
            self = .wheelUp(x: Int(x), y: Int(y))
        } else if state & bcos_button5_pressed != 0 {
            self = .wheelDown(x: Int(x), y: Int(y))
        } else {
            return nil
        }
    }
}
