/// The byte ranges of all registered parameters, sorted by address, so that a new
/// parameter or gradient is checked against every parameter in O(log n). Registered
/// parameters never overlap one another, so sorting by start also sorts by end.
struct BufferIndex {
    private var entries: [(range: Range<UInt>, index: Int)] = []

    /// The parameter whose range overlaps `range`, if any.
    func overlapping(_ range: Range<UInt>) -> (range: Range<UInt>, index: Int)? {
        // The last entry starting before `range` ends is the only candidate: it has the
        // greatest end among all entries that start before `range` ends.
        let position = firstEntry(startingAtOrAfter: range.upperBound)
        guard position > 0 else { return nil }
        let candidate = entries[position - 1]
        return candidate.range.upperBound > range.lowerBound ? candidate : nil
    }

    mutating func insert(_ range: Range<UInt>, index: Int) {
        entries.insert((range, index), at: firstEntry(startingAtOrAfter: range.lowerBound))
    }

    /// Removes parameter `index`'s range (a parameter whose memory moved).
    mutating func remove(index: Int) {
        entries.removeAll { $0.index == index }
    }

    private func firstEntry(startingAtOrAfter address: UInt) -> Int {
        var low = 0, high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].range.lowerBound < address { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
