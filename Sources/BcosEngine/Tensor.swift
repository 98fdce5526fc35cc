/// A dense, row-major Float32 tensor.
///
/// The engine keeps tensors as plain value types: `shape` plus a contiguous `data` buffer
/// (copy-on-write through `Array`). Layouts follow PyTorch: activations are `[N, C, H, W]`.
public struct Tensor: Sendable, Equatable {
    /// Extent of every dimension, outermost first.
    public var shape: [Int]
    /// Elements in row-major order; `data.count == shape.reduce(1, *)`.
    public var data: [Float]

    /// A tensor of `shape` filled with `value`.
    public init(shape: [Int], repeating value: Float = 0) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
        self.shape = shape
        self.data = [Float](repeating: value, count: shape.reduce(1, *))
    }

    /// A tensor of `shape` holding `data` (row-major, `data.count` must match the shape).
    public init(shape: [Int], data: [Float]) {
        precondition(data.count == shape.reduce(1, *),
                     "tensor data has \(data.count) elements but shape \(shape) needs \(shape.reduce(1, *))")
        self.shape = shape
        self.data = data
    }

    /// Number of elements.
    public var count: Int { data.count }

    /// The same elements viewed with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, data: data)
    }

    /// Image `n` of a batched tensor `[N, ...]`, as a tensor of shape `[...]`.
    public func item(_ n: Int) -> Tensor {
        precondition(!shape.isEmpty && n >= 0 && n < shape[0], "item \(n) out of range for shape \(shape)")
        let per = shape.dropFirst().reduce(1, *)
        return Tensor(shape: Array(shape.dropFirst()), data: Array(data[(n * per)..<((n + 1) * per)]))
    }

    /// Stacks equally shaped tensors along a new leading dimension.
    public static func stack(_ items: [Tensor]) -> Tensor {
        precondition(!items.isEmpty, "stack of no tensors")
        let s = items[0].shape
        var data = [Float]()
        data.reserveCapacity(items.count * items[0].count)
        for t in items {
            precondition(t.shape == s, "stack of mismatched shapes \(s) and \(t.shape)")
            data.append(contentsOf: t.data)
        }
        return Tensor(shape: [items.count] + s, data: data)
    }

    /// Largest absolute element (0 for an empty tensor).
    public var maxAbs: Float { data.reduce(0) { max($0, abs($1)) } }
}

extension Tensor {
    /// The index of the largest value in each row of a `[N, K]` tensor (the first on ties).
    public func argmaxRows() -> [Int] {
        let k = shape[1]
        return (0..<shape[0]).map { i in
            let row = data[(i * k)..<((i + 1) * k)]
            return row.indices.max { row[$0] < row[$1] }! - i * k
        }
    }
}

/// A pointer wrapper that lets disjoint slices of one buffer be written from concurrent workers.
///
/// Only used inside kernels whose iterations touch non-overlapping index ranges.
struct SharedPointer<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
    init(_ base: UnsafeMutablePointer<T>) { self.base = base }
}

/// A read-only pointer shared with concurrent workers.
struct SharedReadPointer<T>: @unchecked Sendable {
    let base: UnsafePointer<T>
    init(_ base: UnsafePointer<T>) { self.base = base }
}
