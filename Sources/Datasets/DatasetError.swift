/// A problem with a data set directory, a shard, a manifest or a sample: the message names the
/// file (and the key, row or line inside it) and says what to do.
package struct DatasetError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file or directory the problem is about.
    package let file: String
    /// What is wrong and the fix.
    package let problem: String

    package init(file: String, _ problem: String) {
        self.file = file
        self.problem = problem
    }

    package var description: String { "\(file): \(problem)" }
}
