/// A problem with a file a user supplied (weights, index, tokenizer): the message names the file,
/// the entry inside it (tensor, JSON key) and what is wrong, so the user can fix or replace the file.
package struct FormatError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file the problem was found in, as the caller named it.
    package let file: String
    /// The tensor name or JSON path inside the file, when the problem is about one entry.
    package let entry: String?
    /// What is wrong, in words.
    package let problem: String

    package init(file: String, entry: String? = nil, _ problem: String) {
        self.file = file
        self.entry = entry
        self.problem = problem
    }

    package var description: String {
        if let entry { return "\(file): '\(entry)': \(problem)" }
        return "\(file): \(problem)"
    }
}
