import Foundation
import HDF5Files

/// What made an embeddings file, as its attributes: the model, the adapters, the prompts and the
/// image mode (docs/export.md, "The embeddings file").
package struct EmbeddingProvenance: Sendable {
    package var model: String, adapters: String?, imagePrompt: String, textPrompt: String, imageMode: String

    package init(model: String, adapters: String?, imagePrompt: String, textPrompt: String, imageMode: String) {
        (self.model, self.adapters, self.imagePrompt, self.textPrompt, self.imageMode) = (model, adapters, imagePrompt, textPrompt, imageMode)
    }

    func write(to file: H5File) throws {
        try file.setAttribute("model", .string(model))
        try file.setAttribute("adapters", .string(adapters ?? "none"))
        try file.setAttribute("image_prompt", .string(imagePrompt))
        try file.setAttribute("text_prompt", .string(textPrompt))
        try file.setAttribute("image_mode", .string(imageMode))
    }
}

/// The file `discern embed --images/--texts` writes (docs/export.md, "The embeddings file"):
/// /image_embeddings [images, width] and /text_embeddings [texts, width] (float32,
/// L2-normalised), /image_files and /texts, and the provenance attributes. Written to a
/// temporary file and renamed, so a killed run leaves no half-written file.
package struct EmbeddingsFile {
    package var imageEmbeddings: [Float], textEmbeddings: [Float], width: Int
    package var imageFiles: [String], texts: [String]
    package var provenance: EmbeddingProvenance

    package init(imageEmbeddings: [Float], textEmbeddings: [Float], width: Int, imageFiles: [String], texts: [String],
                model: String, adapters: String?, imagePrompt: String, textPrompt: String, imageMode: String) {
        (self.imageEmbeddings, self.textEmbeddings, self.width) = (imageEmbeddings, textEmbeddings, width)
        (self.imageFiles, self.texts) = (imageFiles, texts)
        provenance = EmbeddingProvenance(model: model, adapters: adapters, imagePrompt: imagePrompt, textPrompt: textPrompt, imageMode: imageMode)
    }

    package func write(to output: String) throws {
        _ = removeStaleTemporaries(of: output)   // left by a killed earlier run writing the same file
        let temporary = output + ".tmp-\(getpid())"
        do {
            let file = try H5File.create(temporary)
            try file.write(imageEmbeddings, shape: [imageFiles.count, width], to: "/image_embeddings")
            try file.write(textEmbeddings, shape: [texts.count, width], to: "/text_embeddings")
            try file.write(imageFiles, shape: [imageFiles.count], to: "/image_files")
            try file.write(texts, shape: [texts.count], to: "/texts")
            try provenance.write(to: file)
            try file.close()
            try durableRename(from: temporary, to: output)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
    }
}
