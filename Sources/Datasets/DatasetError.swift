/// A problem with a data set directory, a shard, a manifest or a sample: the message names the
/// file (and the key, row or line inside it) and says what to do.
public struct DatasetError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file or directory the problem is about.
    public let file: String
    /// What is wrong and the fix.
    public let problem: String

    public init(file: String, _ problem: String) {
        self.file = file
        self.problem = problem
    }

    public var description: String { "\(file): \(problem)" }
}
