/// A dense, row-major fp32 tensor: a shape and the buffer holding its elements.
///
/// Invariants: `storage.count == shape.reduce(1, *)`, every dimension ≥ 0. The engine treats weight tensors as
/// immutable after loading; a `Tensor` is a value (the storage is shared, never copied), safe to pass between threads
/// as long as nobody writes through `storage.base` concurrently.
public struct Tensor: Sendable {
    /// Dimensions, outermost first (a Linear weight is `[outFeatures, inFeatures]` as in PyTorch).
    public let shape: [Int]
    /// The elements.
    public let storage: FloatBuffer

    /// Wraps `storage`; its count must equal the product of `shape`.
    public init(shape: [Int], storage: FloatBuffer) {
        precondition(storage.count == shape.reduce(1, *), "tensor storage does not match its shape")
        self.shape = shape
        self.storage = storage
    }

    /// A zero tensor of the given shape.
    public init(zeros shape: [Int]) {
        self.init(shape: shape, storage: FloatBuffer(count: shape.reduce(1, *)))
    }

    /// Number of elements.
    public var count: Int { storage.count }
    /// Pointer to the first element.
    public var data: UnsafeMutablePointer<Float> { storage.base }
    /// Size of the last dimension (row length of a matrix).
    public var columns: Int { shape.last ?? 1 }
    /// Product of all but the last dimension.
    public var rows: Int { shape.count <= 1 ? 1 : shape.dropLast().reduce(1, *) }
}
