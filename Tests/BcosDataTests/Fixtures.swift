import Foundation
import XCTest

/// Committed test data: regenerate with `python3 tools/make_png_fixtures.py` (with Pillow installed for the
/// resize oracle).
enum Fixtures {
    static func path(_ name: String) throws -> String {
        let root = try XCTUnwrap(Bundle.module.resourceURL, "test bundle has no resources")
        return root.appendingPathComponent("Fixtures").appendingPathComponent(name).path
    }

    static func json<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
        let data = try Data(contentsOf: URL(fileURLWithPath: path(name)))
        return try JSONDecoder().decode(type, from: data)
    }
}

/// A fresh directory under the system temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("bcos-data-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String {
        url.appendingPathComponent(name).path
    }

    func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}
