import Kernels

/// One named tensor of the model. The name is the Hugging Face key (classic hub layout, see
/// docs/model.md), so loading, checkpoints, export and fixtures share one vocabulary.
public final class Parameter<T: KernelScalar>: @unchecked Sendable {
    public let name: String
    public let shape: [Int]
    public let count: Int
    public let trainable: Bool
    /// The values, `count` elements, row-major in `shape`.
    public let value: UnsafeMutablePointer<T>
    /// The gradient, same layout; nil for a frozen parameter, which therefore gets no gradient work.
    public let gradient: UnsafeMutablePointer<T>?

    init(name: String, shape: [Int], trainable: Bool, value: UnsafeMutablePointer<T>, gradient: UnsafeMutablePointer<T>?) {
        self.name = name
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.trainable = trainable
        self.value = value
        self.gradient = gradient
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
/// each see a single flat vector. Frozen parameters live in their own allocation.
public final class ParameterTable<T: KernelScalar>: @unchecked Sendable {
    public let parameters: [Parameter<T>]
    public let trainableValues: Buffer<T>
    public let trainableGradients: Buffer<T>
    private let frozenStorage: Buffer<T>
    private let index: [String: Int]

    public init(_ specs: [ParameterSpec]) {
        var seen = Set<String>()
        for spec in specs {
            precondition(seen.insert(spec.name).inserted, "parameter \(spec.name) declared twice")
            precondition(spec.shape.allSatisfy { $0 >= 0 }, "parameter \(spec.name) has a negative dimension")
        }
        let trainableCount = specs.filter(\.trainable).reduce(0) { $0 + $1.count }
        let frozenCount = specs.filter { !$0.trainable }.reduce(0) { $0 + $1.count }
        trainableValues = Buffer(count: trainableCount)
        trainableGradients = Buffer(count: trainableCount)
        frozenStorage = Buffer(count: frozenCount)
        var trainableOffset = 0, frozenOffset = 0
        var parameters: [Parameter<T>] = []
        for spec in specs {
            if spec.trainable {
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

    public func zeroGradients() { trainableGradients.zero() }
}
