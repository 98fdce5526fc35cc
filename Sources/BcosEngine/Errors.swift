/// An error a user can cause (a file, a config, an argument). The message is one line that names the file or
/// value, says what is wrong and, where possible, what to do.
public struct BcosError: Error, CustomStringConvertible, Equatable {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
