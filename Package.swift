// swift-tools-version:6.0
import PackageDescription

// Clang's default keeps errno semantics for sqrtf, which turns every square root into a
// libm call and blocks vectorization (see shared notes). Descent never reads errno.
let engineFlags: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-fno-math-errno"])]

let package = Package(
    name: "Descent",
    products: [
        // libdescent.so: the C ABI, carrying the Swift runtime (see DescentABI's linker
        // settings), so C programs and Python load it with no Swift toolchain.
        .library(name: "descent", type: .dynamic, targets: ["DescentABI"]),
    ],
    targets: [
        // The engine, pure Swift, no C-ABI concerns.
        .target(name: "Descent", swiftSettings: engineFlags),
        // include/descent.h as a Clang module, so the ABI layer sees the header's own types.
        .systemLibrary(name: "CDescent", path: "Sources/CDescent"),
        // The exported @_cdecl functions: validate, translate, catch, map to statuses.
        .target(name: "DescentABI", dependencies: ["Descent", "CDescent"],
                linkerSettings: [.unsafeFlags(["-static-stdlib", "-Xlinker", "-soname=libdescent.so"])]),
        .testTarget(name: "DescentTests", dependencies: ["Descent"], swiftSettings: engineFlags),
    ]
)
