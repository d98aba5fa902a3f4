import Kernels

/// One named tensor of the model. The name is the Hugging Face key (classic hub layout, see
/// docs/model.md), so loading, checkpoints, export and fixtures share one vocabulary.
public final class Parameter<T: KernelScalar>: @unchecked Sendable {
    public let name: String
    public let shape: [Int]
    public let count: Int
    public let trainable: Bool
    /// The gradient, same layout; nil for a frozen parameter, which therefore gets no gradient work.
    public let gradient: UnsafeMutablePointer<T>?
    /// Non-nil for a frozen weight kept in 16-bit storage: it has no T values of its own. Read it
    /// with `readable()` (the whole matrix) or `copyRow` (one row); `value` is unavailable.
    public let half: HalfMatrix?
    @usableFromInline let storage: UnsafeMutablePointer<T>?
    private let widening: WidenedWeightScratch<T>?
    /// Set when the model computes in bf16 and this frozen weight is held as bf16: its values
    /// for the bf16 GEMMs, read in place, and the buffer their activation operand is narrowed into.
    public let bfloat16: (weight: UnsafePointer<UInt16>, operands: BFloat16OperandScratch)?

    init(name: String, shape: [Int], trainable: Bool, value: UnsafeMutablePointer<T>, gradient: UnsafeMutablePointer<T>?) {
        self.name = name
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.trainable = trainable
        self.storage = value
        self.gradient = gradient
        half = nil
        widening = nil
        bfloat16 = nil
    }

    init(name: String, shape: [Int], half: HalfMatrix, widening: WidenedWeightScratch<T>, operands: BFloat16OperandScratch?) {
        precondition(shape == [half.rows, half.columns], "parameter \(name): 16-bit matrix (\(half.rows), \(half.columns)) for shape \(shape)")
        self.name = name
        self.shape = shape
        self.count = half.count
        trainable = false
        storage = nil
        gradient = nil
        self.half = half
        self.widening = widening
        if let operands {
            guard let weight = half.alignedBFloat16 else { preconditionFailure("parameter \(name): bf16 compute needs its weight as aligned bf16, not \(half.format)") }
            bfloat16 = (weight, operands)
        } else {
            bfloat16 = nil
        }
    }

    /// The values, `count` elements, row-major in `shape`, writable (loading, initialisation, the
    /// optimizer). A 16-bit parameter has none: asking is a programmer error.
    @inlinable
    public var value: UnsafeMutablePointer<T> {
        guard let storage else { preconditionFailure("\(name) stays in 16-bit storage: read it with readable() or copyRow") }
        return storage
    }

    /// The values for reading: `value` itself, or a 16-bit weight widened into the model's one
    /// shared scratch buffer, valid until another 16-bit weight is widened (see
    /// WidenedWeightScratch: use the pointer for one GEMM, then let go of it).
    public func readable() -> UnsafePointer<T> {
        if let storage { return UnsafePointer(storage) }
        return widening!.widened(half!, for: self)
    }

    /// Copies row `row` of a 2-D parameter into `destination` (shape[1] values), widening only
    /// that row when the parameter is 16-bit: embedding lookups touch a few rows of a big table.
    public func copyRow(_ row: Int, into destination: UnsafeMutablePointer<T>) {
        precondition(shape.count == 2 && row >= 0 && row < shape[0], "\(name): row \(row) of shape \(shape)")
        let width = shape[1]
        if let storage {
            destination.update(from: storage + row * width, count: width)
        } else if let half {
            widenHalf(half.bytes + 2 * row * width, format: half.format, into: destination, count: width)
        }
    }
}

public struct ParameterSpec: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let trainable: Bool
    public init(_ name: String, _ shape: [Int], trainable: Bool) {
        self.name = name
        self.shape = shape
        self.trainable = trainable
    }
    public var count: Int { shape.reduce(1, *) }
}

/// Every parameter of a model. Trainable parameters are slices of ONE values allocation and ONE
/// gradient allocation, in declaration order: the all-reduce, the clipping norm and the optimizer
/// each see a single flat vector. Frozen parameters live in their own allocation, except those
/// given as 16-bit matrices (`halfWeights`), which get no T storage at all and share one
/// widening buffer sized for the largest of them (allocated on first use: in bf16 compute
/// nothing widens a whole weight).
public final class ParameterTable<T: KernelScalar>: @unchecked Sendable {
    public let parameters: [Parameter<T>]
    public let trainableValues: Buffer<T>
    public let trainableGradients: Buffer<T>
    private let frozenStorage: Buffer<T>
    /// The buffer 16-bit weights are widened into; nil when there are none.
    public let widening: WidenedWeightScratch<T>?
    /// The precision of the products with the 16-bit weights (ComputePrecision).
    public let compute: ComputePrecision
    private let index: [String: Int]

    /// `halfWeights`: frozen 2-D parameters (by name) that stay in 16-bit storage; each must name a
    /// frozen spec of the matrix's shape (the caller picks them; a mistake is a programmer error).
    /// `compute` bf16: every one of them must be aligned bf16 and T Float; the Linear layers over
    /// them then run bf16 GEMMs (ComputePrecision).
    public init(_ specs: [ParameterSpec], halfWeights: [String: HalfMatrix] = [:], compute: ComputePrecision = .fp32) {
        precondition(compute == .fp32 || T.self == Float.self, "bf16 compute is for Float models, not \(T.self)")
        self.compute = compute
        var seen = Set<String>()
        for spec in specs {
            precondition(seen.insert(spec.name).inserted, "parameter \(spec.name) declared twice")
            precondition(spec.shape.allSatisfy { $0 >= 0 }, "parameter \(spec.name) has a negative dimension")
            precondition(halfWeights[spec.name] == nil || !spec.trainable, "parameter \(spec.name) trains and cannot stay 16-bit")
        }
        precondition(halfWeights.keys.allSatisfy(seen.contains), "16-bit weights for undeclared parameters")
        let trainableCount = specs.filter(\.trainable).reduce(0) { $0 + $1.count }
        let frozenCount = specs.filter { !$0.trainable && halfWeights[$0.name] == nil }.reduce(0) { $0 + $1.count }
        trainableValues = Buffer(count: trainableCount)
        trainableGradients = Buffer(count: trainableCount)
        frozenStorage = Buffer(count: frozenCount)
        let largestHalf = halfWeights.values.map(\.count).max()
        let widening = largestHalf.map { WidenedWeightScratch<T>(capacity: $0) }
        self.widening = widening
        let operands = compute == .bf16 ? BFloat16OperandScratch() : nil
        var trainableOffset = 0, frozenOffset = 0
        var parameters: [Parameter<T>] = []
        for spec in specs {
            if let half = halfWeights[spec.name], let widening {
                parameters.append(Parameter(name: spec.name, shape: spec.shape, half: half, widening: widening, operands: operands))
            } else if spec.trainable {
                parameters.append(Parameter(name: spec.name, shape: spec.shape, trainable: true,
                                            value: trainableValues.pointer + trainableOffset,
                                            gradient: trainableGradients.pointer + trainableOffset))
                trainableOffset += spec.count
            } else {
                parameters.append(Parameter(name: spec.name, shape: spec.shape, trainable: false,
                                            value: frozenStorage.pointer + frozenOffset, gradient: nil))
                frozenOffset += spec.count
            }
        }
        self.parameters = parameters
        index = Dictionary(uniqueKeysWithValues: parameters.enumerated().map { ($1.name, $0) })
    }

    /// The parameter called `name`; a missing name is a programmer error (models declare
    /// every name they later look up, at construction time, never in a hot loop).
    public subscript(name: String) -> Parameter<T> {
        guard let position = index[name] else { preconditionFailure("no parameter named \(name)") }
        return parameters[position]
    }

    public func contains(_ name: String) -> Bool { index[name] != nil }
    public var trainable: [Parameter<T>] { parameters.filter(\.trainable) }
    public var frozen: [Parameter<T>] { parameters.filter { !$0.trainable } }
    /// Frozen parameters kept in 16-bit storage.
    public var halfParameters: [Parameter<T>] { parameters.filter { $0.half != nil } }
    /// T values allocated for frozen parameters (16-bit ones excluded).
    public var frozenValueCount: Int { frozenStorage.count }

    public func zeroGradients() { trainableGradients.zero() }
}
