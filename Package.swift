// swift-tools-version:6.0
import PackageDescription

// Clang's default keeps errno semantics for sqrtf, which turns every square root into a
// libm call and blocks vectorization (see shared notes). Descent never reads errno.
let engineFlags: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-fno-math-errno"])]

let package = Package(
    name: "Descent",
    products: [
        // libdescent.so: the C ABI. Build with `-Xswiftc -static-stdlib` so that it carries
        // the Swift runtime (CMakeLists.txt does).
        .library(name: "descent", type: .dynamic, targets: ["DescentABI"]),
    ],
    targets: [
        // The engine, pure Swift, no C-ABI concerns.
        .target(name: "Descent", swiftSettings: engineFlags),
        // include/descent.h as a Clang module, so the ABI layer sees the header's own types.
        .systemLibrary(name: "CDescent", path: "Sources/CDescent"),
        // The exported @_cdecl functions: validate, translate, catch, map to statuses.
        .target(name: "DescentABI", dependencies: ["Descent", "CDescent"]),
        .testTarget(name: "DescentTests", dependencies: ["Descent"], swiftSettings: engineFlags),
    ]
)
