import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A heap block of `Float`s aligned to 64 bytes (one cache line, one AVX-512 register), owned by this object.
///
/// Invariants: `count >= 0`; `base` points at `count` initialised floats (zero-filled at creation) and stays valid
/// until the buffer is released. Threading: the buffer itself has no synchronisation. Weight buffers are written
/// once while a model loads and only read afterwards, so they may be shared between threads; workspace buffers
/// belong to one engine and are only touched under that engine's lock.
public final class FloatBuffer: @unchecked Sendable {
    /// Number of floats.
    public let count: Int
    /// First float (64-byte aligned). Never null, even for `count == 0`.
    public let base: UnsafeMutablePointer<Float>

    /// Buffers of at least `hugePageThreshold` bytes are placed on 2 MiB boundaries, padded to whole 2 MiB pages and
    /// advised to use transparent huge pages: sgemm streams whole weight matrices, and 4 KiB pages cost a TLB miss
    /// every 1024 floats. The threshold keeps the padding (< 2 MiB per buffer) under ~12% of any such buffer.
    static let hugePageBytes = 2 << 20
    static let hugePageThreshold = 16 << 20

    /// Allocates `count` zeroed floats.
    public init(count: Int) {
        precondition(count >= 0, "FloatBuffer count must be non-negative")
        self.count = count
        var bytes = max(count, 16) * MemoryLayout<Float>.stride
        let huge = bytes >= Self.hugePageThreshold
        if huge { bytes = (bytes + Self.hugePageBytes - 1) / Self.hugePageBytes * Self.hugePageBytes }
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: huge ? Self.hugePageBytes : 64)
        if huge { _ = madvise(raw, bytes, Int32(MADV_HUGEPAGE)) }    // advice only: failure is harmless
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        base = raw.bindMemory(to: Float.self, capacity: bytes / MemoryLayout<Float>.stride)
    }

    /// Allocates a buffer holding a copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { src in
            if let s = src.baseAddress { base.update(from: s, count: values.count) }
        }
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }

    /// The contents as an array (copies).
    public func toArray() -> [Float] { Array(UnsafeBufferPointer(start: base, count: count)) }
}

/// A grow-only scratch buffer: `reserve(n)` returns a pointer to at least `n` floats, reallocating only when the
/// request exceeds every earlier one. Engines keep one per intermediate so that steady-state calls allocate nothing.
///
/// Threading: not synchronised; owned by one engine and used under its lock.
final class Scratch: @unchecked Sendable {
    private var buffer = FloatBuffer(count: 0)

    /// Pointer to at least `count` floats. Contents are unspecified (left over from earlier use).
    func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
        if buffer.count < count { buffer = FloatBuffer(count: count) }
        return buffer.base
    }

    /// Bytes currently held.
    var byteCount: Int { buffer.count * MemoryLayout<Float>.stride }
}
