import CQAnchorKernels

/// Qwen2's token embedding table `[V, d]` (rows are copied into the input when a token is embedded), in the storage
/// its ``ComputeBackend`` chose: fp32, or each value rounded to bf16 (nearest even) and stored in half the bytes —
/// exact for bf16 checkpoints such as Qwen2.5, whose table is 0.27 GB of the 0.5B model's 0.99 GB in bf16.
///
/// Invariants: `rows · width` values. Threading: immutable after loading; shared read-only.
struct EmbeddingTable: Sendable {
    let rows: Int, width: Int
    private let fp32: Tensor?
    /// bf16 values, two per float slot (a `FloatBuffer` for alignment and huge pages); nil for fp32.
    private let bf16: FloatBuffer?

    /// How the values are held.
    enum Storage: Sendable { case fp32, bf16 }

    init(_ table: Tensor, storage: Storage) {
        rows = table.rows
        width = table.columns
        switch storage {
        case .fp32:
            fp32 = table
            bf16 = nil
        case .bf16:
            let count = table.count
            let storage = FloatBuffer(count: (count + 1) / 2)
            let out = UnsafeMutableRawPointer(storage.base).assumingMemoryBound(to: UInt16.self)
            for i in 0..<count { out[i] = qa_bf16_from_float(table.data[i]) }
            fp32 = nil
            bf16 = storage
        }
    }

    /// Appends row `id` (0 ≤ id < rows, checked by the caller) as fp32 to `values`.
    func appendRow(_ id: Int, to values: inout [Float]) {
        if let fp32 {
            values.append(contentsOf: UnsafeBufferPointer(start: fp32.data + id * width, count: width))
        } else if let bf16 {
            let row = UnsafeRawPointer(bf16.base).assumingMemoryBound(to: UInt16.self) + id * width
            for j in 0..<width { values.append(Float(bitPattern: UInt32(row[j]) << 16)) }
        }
    }

    /// Bytes held.
    var byteCount: Int { fp32.map { $0.count * 4 } ?? (bf16?.count ?? 0) * 4 }
}
