// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "bcos",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "bcos", targets: ["bcos"]),
        .library(name: "BcosEngine", targets: ["BcosEngine"]),
        .library(name: "BcosData", targets: ["BcosData"]),
        .library(name: "BcosExplain", targets: ["BcosExplain"]),
        .library(name: "BcosTUI", targets: ["BcosTUI"]),
        .executable(name: "bcos-fuzz", targets: ["BcosFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .target(name: "BcosEngine", dependencies: ["CBLAS"],
                swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
        .systemLibrary(name: "CJPEG", path: "Sources/CJPEG", pkgConfig: "libturbojpeg",
                       providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .target(name: "BcosData", dependencies: ["CPNG", "CJPEG", "CZlib"]),
        .target(name: "BcosExplain", dependencies: ["BcosEngine"]),
        .systemLibrary(name: "CNcurses", path: "Sources/CNcurses", pkgConfig: "ncursesw",
                       providers: [.apt(["libncurses-dev"])]),
        .target(name: "BcosTUI", dependencies: ["CNcurses", "BcosEngine", "BcosExplain", "BcosData"]),
        .executableTarget(name: "bcos", dependencies: [
            "BcosEngine", "BcosData", "BcosExplain", "BcosTUI",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Fuzz targets for the file parsers (docs/TESTING.md, "Fuzzing"); a replay tool unless built with -DBCOS_FUZZ.
        .systemLibrary(name: "CFuzz", path: "Sources/CFuzz"),
        .executableTarget(name: "BcosFuzz", dependencies: ["BcosEngine", "BcosData", "CFuzz"]),
        .target(name: "BcosTestSupport", dependencies: ["BcosEngine"], path: "Tests/BcosTestSupport"),
        .testTarget(name: "BcosEngineTests", dependencies: ["BcosEngine", "BcosTestSupport"],
                    exclude: ["Fixtures", "TrainFixtures", "ImportFixtures", "ArchFixtures"]),
        .testTarget(name: "BcosDataTests", dependencies: ["BcosData"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "BcosExplainTests", dependencies: ["BcosExplain", "BcosEngine", "BcosTestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "BcosTUITests", dependencies: ["BcosTUI", "BcosEngine", "BcosData", "BcosTestSupport"]),
        .testTarget(name: "BcosCLITests", dependencies: ["BcosEngine", "BcosData", "BcosTestSupport"],
                    exclude: ["Fixtures"]),
    ]
)
