import Formats
import Foundation

/// SugarCrepe (Hsieh et al., 2023) as published: one JSON file per hard-negative category,
/// `{id: {"filename": COCO val2017 file, "caption": TEXT, "negative_caption": TEXT}}`.
package struct SugarCrepeBenchmark: Sendable {
    package struct Item: Sendable {
        package var image: String
        package var caption: String
        package var negative: String
    }
    /// Present categories in the published order, each with its items in file order.
    package var categories: [(name: String, items: [Item])]
    /// Categories whose file the folder lacks.
    package var missing: [String]
}

package enum SugarCrepeFiles {
    /// The seven categories, in the order of the paper's table.
    package static let categories = ["add_att", "add_obj", "replace_att", "replace_obj", "replace_rel", "swap_att", "swap_obj"]
    /// The paper's three groups: each reports the mean of its categories.
    package static let groups = ["add", "replace", "swap"]

    /// `path`: a folder holding any of the seven `CATEGORY.json` files, or one such file.
    package static func read(_ path: String, images root: String) throws -> SugarCrepeBenchmark {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FormatError(file: path, "no such SugarCrepe file or folder")
        }
        var files: [(category: String, file: String)] = []
        if isDirectory.boolValue {
            files = filesPresent(in: path)
            guard !files.isEmpty else {
                throw FormatError(file: path, "holds none of the SugarCrepe files (\(categories.map { $0 + ".json" }.joined(separator: ", ")))")
            }
        } else {
            let category = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            guard categories.contains(category) else {
                throw FormatError(file: path, "is not named after a SugarCrepe category (\(categories.joined(separator: ", "))); "
                                  + "the file name says which hard negatives it holds, so keep the published names")
            }
            files = [(category, path)]
        }
        var benchmark = SugarCrepeBenchmark(categories: [], missing: categories.filter { c in !files.contains { $0.category == c } })
        for (category, file) in files {
            let items = try readCategory(file, images: root)
            benchmark.categories.append((category, items))
        }
        return benchmark
    }

    static func filesPresent(in folder: String) -> [(category: String, file: String)] {
        categories.compactMap { category in
            let file = URL(fileURLWithPath: folder).appendingPathComponent(category + ".json").path
            return FileManager.default.fileExists(atPath: file) ? (category, file) : nil
        }
    }

    static func readCategory(_ file: String, images root: String) throws -> [SugarCrepeBenchmark.Item] {
        let document = try JSONNode.read(path: file).object()
        var items: [SugarCrepeBenchmark.Item] = [], places: [String] = []
        for (_, node) in document.nodes {
            let entry = try node.object()
            let image = URL(fileURLWithPath: root).appendingPathComponent(try entry.string("filename")).path
            items.append(.init(image: image, caption: try entry.string("caption"), negative: try entry.string("negative_caption")))
            places.append(node.path + ".filename")
        }
        guard !items.isEmpty else { throw FormatError(file: file, "holds no items; re-download the SugarCrepe file") }
        try requireImageFiles(items.map(\.image), places: places, file: file, root: root)
        return items
    }
}
