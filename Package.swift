// swift-tools-version:6.0
import PackageDescription

// Clang's default keeps errno semantics for sqrtf, which turns every square root into a
// libm call and blocks vectorization (see shared notes). Descent never reads errno.
let engineFlags: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-fno-math-errno"])]

/// One kernels module per instruction set: the same source (KernelsPortable/Kernels.swift,
/// linked into the others) built for a different target CPU. The engine picks one at run
/// time from the CPU's features, so one binary runs on any x86-64 CPU.
/// The portable module declares the rules' scalars (see Kernels.swift); the others import it.
func kernels(_ name: String, cpu: String?, define: String, extra: [String] = []) -> Target {
    var flags = ["-Xcc", "-fno-math-errno"]
    if let cpu { flags += ["-target-cpu", cpu] }
    flags += extra
    let dependencies: [Target.Dependency] = name == "KernelsPortable" ? ["KernelInterface", "BlockQuantization"]
        : ["KernelInterface", "KernelsPortable", "BlockQuantization"]
    return .target(name: name, dependencies: dependencies, swiftSettings: [.unsafeFlags(flags), .define(define)])
}

let package = Package(
    name: "Descent",
    products: [
        // libdescent.so: the C ABI, carrying the Swift runtime (see DescentABI's linker
        // settings), so C programs and Python load it with no Swift toolchain.
        .library(name: "descent", type: .dynamic, targets: ["DescentABI"]),
    ],
    targets: [
        // The engine, pure Swift, no C-ABI concerns.
        .target(name: "Descent",
                dependencies: ["KernelInterface", "KernelsPortable", "KernelsAVX2", "KernelsAVX512",
                               "CPUFeatures", "Checksum", "BFloat16Matmul"],
                swiftSettings: engineFlags),
        // What the engine and every kernels module share: spans, formats, tables.
        .target(name: "KernelInterface", dependencies: ["BlockQuantization"], swiftSettings: engineFlags),
        // The inner loops of 8-bit state, one build per instruction set in one file: C, for
        // `restrict` (see its header). No contraction: every build gives the same bits.
        .target(name: "BlockQuantization", cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off"])]),
        kernels("KernelsPortable", cpu: nil, define: "KERNELS_PORTABLE"),
        kernels("KernelsAVX2", cpu: "haswell", define: "KERNELS_AVX2"),
        // skylake-avx512 prefers 256-bit vectors; the kernels are memory-bound loops that
        // gain from 512-bit loads and stores, so ask for them.
        kernels("KernelsAVX512", cpu: "skylake-avx512", define: "KERNELS_AVX512",
                extra: ["-Xcc", "-Xclang", "-Xcc", "-target-feature", "-Xcc", "-Xclang", "-Xcc", "-prefer-256-bit"]),
        // cpuid and the affinity mask (C, as Swift has neither).
        .target(name: "CPUFeatures"),
        // CRC-32C of checkpoint sections, with the SSE4.2 instruction where there is one.
        .target(name: "Checksum"),
        // bfloat16 matrix products for Muon from oneDNN, loaded at run time (dlopen): C,
        // as oneDNN's API is. vendor/ holds the oneDNN 3.2 headers it is written against.
        .target(name: "BFloat16Matmul", cSettings: [.headerSearchPath("vendor")],
                linkerSettings: [.linkedLibrary("dl"), .linkedLibrary("pthread")]),
        // include/descent.h as a Clang module, so the ABI layer sees the header's own types.
        .systemLibrary(name: "CDescent", path: "Sources/CDescent"),
        // The exported @_cdecl functions: validate, translate, catch, map to statuses.
        .target(name: "DescentABI", dependencies: ["Descent", "CDescent", "KernelInterface"],
                linkerSettings: [.unsafeFlags(["-static-stdlib", "-Xlinker", "-soname=libdescent.so"])]),
        .testTarget(name: "DescentTests", dependencies: ["Descent"], swiftSettings: engineFlags),
    ]
)
