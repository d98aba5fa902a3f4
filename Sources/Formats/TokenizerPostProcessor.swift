/// The `post_processor` stage: TemplateProcessing's `single` template (e.g. `<s> $A`).
struct TemplatePostProcessor: Sendable {
    /// nil entries stand for the sequence ($A); others are the ids of a special token.
    let single: [[Int32]?]

    /// The file's template, or nil for a post-processor that adds no tokens: ByteLevel (it only
    /// trims offsets, which Discern does not report). A Sequence may hold one template among those.
    static func template(of node: JSONNode) throws(FormatError) -> TemplatePostProcessor? {
        let object = try node.object()
        let type = try object.string("type")
        switch type {
        case "TemplateProcessing":
            return try TemplatePostProcessor(object)
        case "ByteLevel":
            return nil
        case "Sequence":
            var templates: [TemplatePostProcessor] = []
            for child in try object.required("processors").array() {
                if let template = try template(of: child) { templates.append(template) }
            }
            guard templates.count <= 1 else {
                throw FormatError(file: node.file, entry: "\(node.path).processors", "a Sequence may hold at most one TemplateProcessing")
            }
            return templates.first
        default:
            throw FormatError(file: node.file, entry: "\(node.path).type",
                              "post_processor type '\(type)' is not supported (supported: null, TemplateProcessing, ByteLevel, Sequence)")
        }
    }

    private init(_ object: JSONObjectNode) throws(FormatError) {
        let specials = try object.required("special_tokens").object()
        var single: [[Int32]?] = []
        for piece in try object.required("single").array() {
            let entry = try piece.object()
            if let sequence = entry.node("Sequence") {
                let id = try sequence.object().string("id")
                guard id == "A" else { throw sequence.failure("a single-sequence template can only use sequence A, not \(id)") }
                single.append(nil)
            } else if let special = entry.node("SpecialToken") {
                let name = try special.object().string("id")
                guard let definition = specials.node(name) else {
                    throw special.failure("special token '\(name)' is not defined in special_tokens")
                }
                let ids = try definition.object().required("ids").array().map { (id) throws(FormatError) -> Int32 in
                    let value = try id.integer()
                    guard value >= 0, value <= Int(Int32.max) else { throw id.failure("id \(value) is out of range") }
                    return Int32(value)
                }
                single.append(ids)
            } else {
                throw piece.failure("expected a Sequence or SpecialToken template piece")
            }
        }
        self.single = single
    }

    func apply(_ ids: [Int32], addSpecialTokens: Bool) -> [Int32] {
        var result: [Int32] = []
        result.reserveCapacity(ids.count + 2)
        for piece in single {
            if let special = piece {
                if addSpecialTokens { result.append(contentsOf: special) }
            } else {
                result.append(contentsOf: ids)
            }
        }
        return result
    }
}
