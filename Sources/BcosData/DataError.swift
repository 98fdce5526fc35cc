import Foundation

/// A problem with a data file that the user supplied or asked for.
///
/// The message is one line that names the file and says what to do about it, ready to print as is,
/// e.g. `image 'cat.png' is truncated or corrupt (libpng: IDAT: CRC error); re-export or re-download it`.
public struct DataError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The one-line message.
    public let message: String

    /// Creates an error with a one-line message that names the file and the fix.
    /// Line breaks and other control characters in `message` (from what it quotes of a file: a tensor key, a config
    /// key, a pickle line) are escaped, so that it stays one line and cannot drive the terminal, whatever a file holds.
    public init(_ message: String) { self.message = message.escapingControls }

    /// The message.
    public var description: String { message }
}

/// Reads a whole file into memory, turning a missing, unreadable or directory path into a `DataError`.
///
/// - Parameters:
///   - path: the file to read.
///   - kind: what the file should be ("image", "dataset file"), used in messages.
/// - Returns: the file's bytes; possibly empty (the decoder reports that, naming the format).
func readWholeFile(_ path: String, kind: String) throws -> [UInt8] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw DataError("\(kind) '\(path)' not found; check the path")
    }
    guard !isDirectory.boolValue else {
        throw DataError("\(kind) '\(path)' is a directory; give the path of a file")
    }
    do {
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    } catch CocoaError.fileReadNoPermission {
        throw DataError("cannot read \(kind) '\(path)': permission denied; check the file's permissions")
    } catch {
        throw DataError("cannot read \(kind) '\(path)': \(error.localizedDescription)")
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
