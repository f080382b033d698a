import Foundation
import Testing
@testable import Descent
import KernelInterface

/// The checkpoint format on its own: exact resume, corruption caught anywhere, failed
/// loads that change nothing. (Every algorithm and schedule through the C ABI, files and
/// crashes are in Tests/c/test_checkpoint.c.)
@Suite struct CheckpointTests {
    /// An AdamW (amsgrad) optimizer over two groups and three parameters of its own
    /// memory, with a StepLR on it, a gradient drawn from `seed` per step.
    final class Run {
        let opt: Optimizer
        let schedule: StepLR
        let sizes = [5, 17, 3]
        var params: [UnsafeMutablePointer<Float>] = []
        var grads: [UnsafeMutablePointer<Float>] = []

        init(_ values: [[Float]]? = nil) throws {
            var hp = Hyperparameters.defaults(for: .adamW)
            hp[.amsgrad] = 1
            opt = try Optimizer(algorithm: .adamW, defaults: hp)
            try opt.addGroup()
            hp[.lr] = 0.01
            try opt.addGroup(hp)
            for (i, size) in sizes.enumerated() {
                let p = UnsafeMutablePointer<Float>.allocate(capacity: size)
                let g = UnsafeMutablePointer<Float>.allocate(capacity: size)
                for k in 0 ..< size { p[k] = values?[i][k] ?? Float(k) * 0.1 - 0.3 }
                g.initialize(repeating: 0, count: size)
                params.append(p)
                grads.append(g)
                try opt.addParameter(group: i == 2 ? 1 : 0, param: p, grad: g, count: size)
            }
            schedule = try StepLR(opt, stepSize: 2, gamma: 0.5)
        }

        func step(_ n: Int) throws {
            for _ in 0 ..< n {
                let t = Float(opt.parameters[0].step)
                for (g, size) in zip(grads, sizes) {
                    for k in 0 ..< size { g[k] = Float((k * 37 + Int(t) * 11) % 19) * 0.1 - 0.9 }
                }
                try opt.step()
                try schedule.step()
            }
        }

        var values: [[Float]] { zip(params, sizes).map { Array(UnsafeBufferPointer(start: $0, count: $1)) } }

        /// Parameters, state, step counts and lrs, bit for bit.
        var snapshot: [UInt32] {
            var bits = values.joined().map(\.bitPattern)
            for (i, size) in sizes.enumerated() {
                for name in ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"] {
                    if let s = try! opt.state(named: name, ofParameter: i) {
                        bits += UnsafeBufferPointer(start: s, count: size).map(\.bitPattern)
                    }
                }
                bits.append(UInt32(try! opt.stepCount(ofParameter: i)))
            }
            bits += opt.groups.map { UInt32(truncatingIfNeeded: $0[.lr].bitPattern) }
            return bits
        }

        deinit { (params + grads).forEach { $0.deallocate() } }
    }

    @Test func resumeIsExact() throws {
        let straight = try Run()
        try straight.step(7)
        let first = try Run()
        try first.step(4)
        let bytes = first.opt.checkpoint()
        #expect(bytes.count == first.opt.checkpointSize())
        let resumed = try Run(first.values)
        try bytes.withUnsafeBytes { try resumed.opt.loadCheckpoint($0) }
        #expect(resumed.schedule.lastEpoch == 4)
        try resumed.step(3)
        #expect(resumed.snapshot == straight.snapshot)
    }

    @Test func everyFlippedByteIsCaughtAndChangesNothing() throws {
        let source = try Run()
        try source.step(2)
        var bytes = source.opt.checkpoint()
        let target = try Run()
        try target.step(1)
        let before = target.snapshot
        for i in bytes.indices {
            bytes[i] ^= 0x20
            let error = bytes.withUnsafeBytes { raw in
                Result { () throws(DescentError) in try target.opt.loadCheckpoint(raw) }
            }
            bytes[i] ^= 0x20
            guard case .failure(let failure) = error else {
                Issue.record("byte \(i) flipped was accepted")
                continue
            }
            #expect(failure.kind == .corruptCheckpoint, "byte \(i): \(failure.message)")
        }
        #expect(target.snapshot == before)
        for cut in [0, 10, 24, 100, bytes.count - 1] {
            #expect(throws: DescentError.self) { try bytes[..<cut].withUnsafeBytes { try target.opt.loadCheckpoint($0) } }
        }
        #expect(target.snapshot == before)
    }

    @Test func mismatchesSayWhatDiffers() throws {
        let source = try Run()
        try source.step(1)
        let bytes = source.opt.checkpoint()
        let other = try Optimizer(algorithm: .adam)
        try other.addGroup()
        #expect(throws: DescentError(.mismatch, "checkpoint is of a AdamW optimizer, this one is Adam")) {
            try bytes.withUnsafeBytes { try other.loadCheckpoint($0) }
        }
        let fewer = try Optimizer(algorithm: .adamW)
        try fewer.addGroup()
        #expect(throws: DescentError(.mismatch, "checkpoint has 2 param groups, this optimizer has 1")) {
            try bytes.withUnsafeBytes { try fewer.loadCheckpoint($0) }
        }
        let target = try Run()
        let extra = try ExponentialLR(target.opt, gamma: 0.9)
        let before = target.snapshot
        #expect(throws: DescentError(.mismatch, "checkpoint has schedules [StepLR], this optimizer has [StepLR, ExponentialLR] (create the same schedules, in the same order, before loading)")) {
            try bytes.withUnsafeBytes { try target.opt.loadCheckpoint($0) }
        }
        #expect(target.snapshot == before)
        withExtendedLifetime(extra) {}
    }

    // MARK: Format versions 2, 3 and 4

    /// A 24-byte header of format `version` with `count` sections.
    static func header(version: UInt32, sections count: UInt32) -> [UInt8] {
        var writer = ByteWriter()
        writer.raw(CheckpointFormat.magic)
        writer.u32(version)
        writer.u32(CheckpointFormat.byteOrderMark)
        writer.u32(count)
        writer.bytes.withUnsafeBytes { writer.u32(CheckpointFormat.crc(0, $0)) }
        return writer.bytes
    }

    @Test func versionTwoFilesLoadAndVersionsKeepTheirSectionCounts() throws {
        let source = try Run()
        try source.step(2)
        let sections = Self.sections(source.opt.checkpoint())
        #expect(sections.map { String(decoding: $0.tag, as: UTF8.self) } == ["OPTM", "GRPS", "PARM", "STAT", "SCHD", "ALGS"])
        #expect(sections[5].payload.isEmpty, "AdamW keeps no state over all parameters")
        // Versions 2 and 3: parameter records without shapes; version 2 without ALGS.
        var older = sections
        older[0].payload = Self.withoutMaster(sections[0].payload)
        older[2].payload = Self.withoutShapes(sections[2].payload)
        for (version, count) in [(UInt32(3), 6), (2, 5)] {
            let bytes = Self.assemble(Self.header(version: version, sections: UInt32(count))[...], Array(older.prefix(count)))
            let target = try Run()
            try bytes.withUnsafeBytes { try target.opt.loadCheckpoint($0) }
            #expect(target.opt.checkpoint() == source.opt.checkpoint())
        }
        let target = try Run()
        // A version 2 header over six sections, or version 3 over five, is refused.
        for (version, count, kept) in [(UInt32(2), UInt32(6), 6), (3, 5, 5)] {
            let bytes = Self.assemble(Self.header(version: version, sections: count)[...], Array(sections.prefix(kept)))
            #expect(throws: DescentError(.corruptCheckpoint, "checkpoint has \(count) sections, format version \(version) has \(kept == 6 ? 5 : 6)")) {
                try bytes.withUnsafeBytes { try target.opt.loadCheckpoint($0) }
            }
        }
    }

    /// Version 4's parameter records as versions 2 and 3 wrote them: without the shape
    /// that follows each 32-byte record.
    static func withoutShapes(_ payload: [UInt8]) -> [UInt8] {
        var records: [UInt8] = []
        var offset = 0
        while offset < payload.count {
            records += payload[offset ..< offset + 32]
            let dimensions = (0 ..< 4).reduce(0) { $0 | Int(payload[offset + 32 + $1]) << (8 * $1) }
            offset += 32 + 8 + 8 * dimensions
        }
        return records
    }

    /// Version 6's OPTM payload as versions before it wrote it: without the master-copy
    /// slot, the last (its record: shape, format, reserved, name length, name).
    static func withoutMaster(_ payload: [UInt8]) -> [UInt8] {
        var optm = payload
        #expect(Array(optm.suffix(12)) == Array("master_param".utf8))
        optm.removeLast(8 + 12)
        optm[24] -= 1  // the slot count, a little-endian u32 after two u32 and two u64
        return optm
    }

    /// The checkpoint's sections as (tag, payload), and back with fresh CRCs.
    static func sections(_ bytes: [UInt8]) -> [(tag: [UInt8], payload: [UInt8])] {
        var result: [(tag: [UInt8], payload: [UInt8])] = []
        var offset = CheckpointFormat.headerSize
        while offset < bytes.count {
            let length = (0 ..< 8).reduce(0) { $0 | Int(bytes[offset + 8 + $1]) << (8 * $1) }
            result.append((Array(bytes[offset ..< offset + 4]), Array(bytes[offset + 16 ..< offset + 16 + length])))
            offset += CheckpointFormat.sectionFraming + length
        }
        return result
    }

    static func assemble(_ header: ArraySlice<UInt8>, _ sections: [(tag: [UInt8], payload: [UInt8])]) -> [UInt8] {
        var bytes = Array(header)
        for (tag, payload) in sections {
            var framing = ByteWriter()
            framing.raw(tag)
            framing.u32(0)
            framing.u64(UInt64(payload.count))
            framing.raw(payload)
            bytes += framing.bytes
            framing.bytes.withUnsafeBytes { framing.u32(CheckpointFormat.crc(0, $0)) }
            bytes += framing.bytes.suffix(4)
        }
        return bytes
    }

    /// A group record of version 2 with only these (id, value) pairs.
    static func group(_ pairs: [(UInt32, Double)]) -> [UInt8] {
        var writer = ByteWriter()
        writer.u32(0)
        writer.u32(UInt32(pairs.count))
        writer.f64(0)
        for (id, value) in pairs {
            writer.u32(id)
            writer.u32(0)
            writer.f64(value)
        }
        return writer.bytes
    }

    @Test func versionTwoGroupsAreIdValuePairsWithDefaultsForMissingIds() throws {
        let source = try Run()
        try source.step(2)
        let bytes = source.opt.checkpoint()
        #expect(bytes[8] == 6, "the header says format version 6")
        var sections = Self.sections(bytes)
        // Group 0 with lr alone, group 1 with lr and amsgrad: the rest are AdamW's defaults.
        sections[1].payload = Self.group([(1, 0.125)]) + Self.group([(10, 1), (1, 0.25)])
        let target = try Run()
        try Self.assemble(bytes[..<CheckpointFormat.headerSize], sections).withUnsafeBytes {
            try target.opt.loadCheckpoint($0)
        }
        var expected = Hyperparameters.defaults(for: .adamW)
        expected[.lr] = 0.125
        #expect(target.opt.groups[0] == expected)
        expected[.lr] = 0.25
        expected[.amsgrad] = 1
        #expect(target.opt.groups[1] == expected)

        // An id no algorithm has, an id of another algorithm's, an id twice: corrupt.
        for (pairs, message) in [([(UInt32(200), 1.0)], "checkpoint group 0 has unknown option id 200"),
                                 ([(2, 0.9)], "checkpoint group 0: AdamW has no hyperparameter 'momentum'"),
                                 ([(1, 0.1), (1, 0.2)], "checkpoint group 0: hyperparameter 'lr' is given twice")] {
            sections[1].payload = Self.group(pairs) + Self.group([])
            let before = target.snapshot
            #expect(throws: DescentError(.corruptCheckpoint, message)) {
                try Self.assemble(bytes[..<CheckpointFormat.headerSize], sections).withUnsafeBytes {
                    try target.opt.loadCheckpoint($0)
                }
            }
            #expect(target.snapshot == before)
        }
    }

    @Test func versionTwoSlotsMustBeTheAlgorithms() throws {
        let source = try Run()
        try source.step(1)
        let bytes = source.opt.checkpoint()
        var sections = Self.sections(bytes)
        // The first slot's name, "exp_avg", renamed "exp_avx" in OPTM.
        let optm = sections[0].payload
        let at = optm.indices.first { Array(optm[$0 ..< min($0 + 7, optm.count)]) == Array("exp_avg".utf8) }!
        sections[0].payload[at + 6] = UInt8(ascii: "x")
        let target = try Run()
        #expect(throws: DescentError(.mismatch, "checkpoint holds AdamW state slots [exp_avx, exp_avg_sq, max_exp_avg_sq, master_param] in other shapes or formats than this library's [exp_avg, exp_avg_sq, max_exp_avg_sq, master_param]")) {
            try Self.assemble(bytes[..<CheckpointFormat.headerSize], sections).withUnsafeBytes {
                try target.opt.loadCheckpoint($0)
            }
        }
    }

    /// Sizes that would overflow a sum if added before being checked: 20 slots of
    /// 2^57 − 1 elements each, every one present, in a small file with valid CRCs.
    @Test func craftedSlotSizesAreRefusedNotTrapped() throws {
        let source = try Run()
        try source.step(1)
        let bytes = source.opt.checkpoint()
        var sections = Self.sections(bytes)
        var optm = ByteWriter()
        optm.u32(UInt32(Algorithm.adamW.rawValue))
        optm.u32(0)
        optm.u64(2)
        optm.u64(1)
        optm.u32(20)
        optm.u32(0)
        for k in 0 ..< 20 {
            optm.u8(1)
            optm.u8(1)
            optm.zeros(2)
            let name = Array("slot\(k)".utf8)
            optm.u32(UInt32(name.count))
            optm.raw(name)
        }
        var parm = ByteWriter()
        parm.u64(0)
        parm.u64(UInt64(Optimizer.maxCount))
        parm.i64(1)
        parm.u32((1 << 20) - 1)
        parm.u32(0)
        parm.u32(1)
        parm.u32(UInt32(ElementFormat.float32.rawValue))
        parm.u64(UInt64(Optimizer.maxCount))
        sections[0].payload = optm.bytes
        sections[2].payload = parm.bytes
        let target = try Run()
        #expect(throws: DescentError(.corruptCheckpoint, "checkpoint section STAT holds \(sections[3].payload.count) bytes, too few for parameter 0's state")) {
            try Self.assemble(bytes[..<CheckpointFormat.headerSize], sections).withUnsafeBytes {
                try target.opt.loadCheckpoint($0)
            }
        }
    }

    @Test func aGroupsInitialLRMustBeAnLR() throws {
        let source = try Run()
        try source.step(1)
        let bytes = source.opt.checkpoint()
        var sections = Self.sections(bytes)
        var group = Self.group([(1, 0.1)])
        group[0] = 1  // has initial_lr
        withUnsafeBytes(of: Double.nan.bitPattern.littleEndian) { group.replaceSubrange(8 ..< 16, with: $0) }
        sections[1].payload = group + Self.group([])
        let target = try Run()
        #expect(throws: DescentError(.corruptCheckpoint, "checkpoint group 0 has initial_lr nan; an lr must be finite and >= 0")) {
            try Self.assemble(bytes[..<CheckpointFormat.headerSize], sections).withUnsafeBytes {
                try target.opt.loadCheckpoint($0)
            }
        }
    }

    /// Version 1 knew five algorithms: a version 1 file naming a later one is corrupt.
    @Test func versionOneKnowsFiveAlgorithms() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../fixtures/checkpoint-v1/adam-warmup-cosine-chained.ckpt")
        var bytes = try [UInt8](Data(contentsOf: fixture))
        #expect(bytes[8] == 1)
        var sections = Self.sections(bytes)
        sections[0].payload[0] = UInt8(Algorithm.adamax.rawValue)
        bytes = Self.assemble(bytes[..<CheckpointFormat.headerSize], sections)
        let target = try Optimizer(algorithm: .adamax)
        #expect(throws: DescentError(.corruptCheckpoint, "checkpoint format version 1 has no algorithm id 6")) {
            try bytes.withUnsafeBytes { try target.loadCheckpoint($0) }
        }
    }
}

/// Adafactor's state is sized by shapes, which checkpoints hold from format version 4.
@Suite struct FactoredCheckpointTests {
    /// An Adafactor optimizer over a 3 × 5 matrix, stepped twice.
    static func optimizer(shaped: Bool = true) throws -> (Optimizer, [UnsafeMutablePointer<Float>]) {
        let buffers = (0 ..< 2).map { _ in UnsafeMutablePointer<Float>.allocate(capacity: 15) }
        buffers[0].initialize(repeating: 0.5, count: 15)
        buffers[1].initialize(repeating: 0.25, count: 15)
        let opt = try Optimizer(algorithm: .adafactor)
        try opt.addGroup()
        try opt.addParameter(group: 0, param: buffers[0], grad: buffers[1], count: 15)
        if shaped { try opt.setShape([3, 5], ofParameter: 0) }
        return (opt, buffers)
    }

    @Test func olderVersionsAndCraftedShapesAreRefused() throws {
        let (source, sourceBuffers) = try Self.optimizer()
        defer { sourceBuffers.forEach { $0.deallocate() } }
        try source.step()
        try source.step()
        let bytes = source.checkpoint()
        var sections = CheckpointTests.sections(bytes)
        let (target, targetBuffers) = try Self.optimizer()
        defer { targetBuffers.forEach { $0.deallocate() } }
        // Version 3 holds no shapes: its factors are sized as one value each, so this
        // STAT is too long; with a STAT of that size, the missing shapes are refused.
        var older = sections
        older[2].payload = CheckpointTests.withoutShapes(sections[2].payload)
        let versionThree = CheckpointTests.assemble(CheckpointTests.header(version: 3, sections: 6)[...], older)
        #expect(throws: DescentError(.corruptCheckpoint, "checkpoint section STAT holds 32 bytes, its parameters need 8")) {
            try versionThree.withUnsafeBytes { try target.loadCheckpoint($0) }
        }
        older[3].payload = Array(older[3].payload.prefix(8))
        let resized = CheckpointTests.assemble(CheckpointTests.header(version: 3, sections: 6)[...], older)
        #expect(throws: DescentError(.mismatch, "parameter 0 has shape (none: format version 3) in the checkpoint, [3, 5] in this optimizer (Adafactor's state depends on it)")) {
            try resized.withUnsafeBytes { try target.loadCheckpoint($0) }
        }
        // Dimensions whose product overflows are refused, not trapped on.
        var record = Array(sections[2].payload.prefix(32))
        var shape = ByteWriter()
        shape.u32(2)
        shape.u32(UInt32(ElementFormat.float32.rawValue))
        shape.u64(1 << 40)
        shape.u64(1 << 40)
        record += shape.bytes
        sections[2].payload = record
        #expect(throws: DescentError(.corruptCheckpoint, "checkpoint parameter 0 has a shape that does not hold its 15 elements")) {
            try CheckpointTests.assemble(bytes[..<CheckpointFormat.headerSize], sections).withUnsafeBytes {
                try target.loadCheckpoint($0)
            }
        }
        // A flat parameter cannot take a matrix's state.
        let (flat, flatBuffers) = try Self.optimizer(shaped: false)
        defer { flatBuffers.forEach { $0.deallocate() } }
        #expect(throws: DescentError(.mismatch, "parameter 0 has shape [3, 5] in the checkpoint, [15] in this optimizer (Adafactor's state depends on it)")) {
            try bytes.withUnsafeBytes { try flat.loadCheckpoint($0) }
        }
        try bytes.withUnsafeBytes { try target.loadCheckpoint($0) }
        #expect(target.checkpoint() == bytes)
    }
}
