import Foundation

/// An error a user can cause (a file, a config, an argument). The message is one line that names the file or
/// value, says what is wrong and, where possible, what to do.
public struct BcosError: Error, CustomStringConvertible, Equatable {
    public let message: String

    /// Line breaks and other control characters in `message` (from what it quotes of a file: a tensor key, a config
    /// key, a pickle line) are escaped, so that it stays one line and cannot drive the terminal, whatever a file holds.
    public init(_ message: String) { self.message = message.escapingControls }

    public var description: String { message }
}

/// Reading a user's file without trapping or blocking: missing files, directories, FIFOs and devices are refused
/// with a one-line message naming the path (opening a FIFO for reading would wait for a writer forever).
public enum UserFile {
    /// Throws unless `path` is an existing regular file (symbolic links are followed). `what` names the role of
    /// the file in the message, e.g. "model" or "checkpoint".
    public static func checkRegular(_ path: String, what: String) throws {
        let attributes: [FileAttributeKey: Any]
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: (path as NSString).resolvingSymlinksInPath)
        } catch {
            throw BcosError("\(what) '\(path)' not found")
        }
        let type = attributes[.type] as? FileAttributeType
        if type == .typeDirectory {
            throw BcosError("\(what) '\(path)' is a directory; give a file")
        }
        guard type == .typeRegular else {
            throw BcosError("\(what) '\(path)' is not a regular file (a FIFO, socket or device); give a file")
        }
    }

    /// The bytes of the regular file at `path`.
    public static func read(_ path: String, what: String) throws -> Data {
        try checkRegular(path, what: what)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BcosError("cannot read \(what) '\(path)': permission denied")
        }
        return data
    }
}

extension String {
    /// The string with each line break and control character written as its escape (`\n`, `\u{1B}`, `\u{2028}`).
    var escapingControls: String {
        func plain(_ c: Unicode.Scalar) -> Bool { c.properties.generalCategory != .control && !Character(c).isNewline }
        guard !unicodeScalars.allSatisfy(plain) else { return self }
        return unicodeScalars.map { plain($0) ? String($0) : $0.escaped(asASCII: true) }.joined()
    }
}
