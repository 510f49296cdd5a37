// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Evtrack",
    platforms: [.iOS(.v15), .macOS(.v12), .tvOS(.v15), .watchOS(.v8)],
    products: [
        .library(name: "Evtrack", targets: ["Evtrack"]),
        .executable(name: "evtrack-cli", targets: ["evtrack-cli"]),
        .executable(name: "evtrack-bench", targets: ["evtrack-bench"]),
    ],
    targets: [
        // The system's zlib (gzip request bodies, CRC-32 of queue records):
        // part of every Apple SDK and of libc6-dev/zlib1g-dev on Linux.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .target(name: "Evtrack", dependencies: ["CZlib"]),
        .executableTarget(name: "evtrack-cli", dependencies: ["Evtrack"]),
        .executableTarget(name: "evtrack-bench", dependencies: ["Evtrack"]),
        .testTarget(name: "EvtrackTests", dependencies: ["Evtrack"]),
    ],
    swiftLanguageModes: [.v6]
)
