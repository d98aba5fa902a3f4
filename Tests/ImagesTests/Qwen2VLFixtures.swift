import Foundation
import Formats
import Images
import XCTest

/// Tests/ImagesTests/Fixtures/qwen2vl/, written by Tests/Reference/make_qwen2vl_image_fixtures.py.
struct Qwen2VLManifest: Decodable {
    struct Versions: Decodable {
        let transformers: String
        let pillow: String
    }

    /// One image through one processor config.
    struct Case: Decodable {
        let name: String
        /// Relative to Tests/ImagesTests/Fixtures.
        let image: String
        /// A folder under qwen2vl/configs holding preprocessor_config.json.
        let config: String
        let source_width: Int
        let source_height: Int
        let resized_width: Int
        let resized_height: Int
        /// FNV-1a 64 of the uint8 (height, width, 3) image after the processor's resize.
        let resized_fnv1a64: String
        let image_grid_thw: [Int]
        let rows: Int
        let columns: Int
        /// "full": `<name>.pixel_values` holds the tensor; "samples": `<name>.index` / `<name>.values`.
        let stored: String
    }

    /// An image transformers refuses (aspect ratio above 200).
    struct Refused: Decodable {
        let image: String
        let config: String
        let width: Int
        let height: Int
        let transformers_message: String
    }

    let versions: Versions
    let cases: [Case]
    let refused: [Refused]
}

/// One row of smart_resize.json: transformers' smart_resize(height, width, factor, min, max),
/// `result` (height, width) or nil where it raised.
struct SmartResizeCase: Decodable {
    let height: Int
    let width: Int
    let factor: Int
    let min_pixels: Int
    let max_pixels: Int
    let result: [Int]?
}

enum Qwen2VLFixtures {
    static let directory = Fixtures.directory.appendingPathComponent("qwen2vl")

    static func manifest() throws -> Qwen2VLManifest {
        try JSONDecoder().decode(Qwen2VLManifest.self, from: Data(contentsOf: directory.appendingPathComponent("manifest.json")))
    }

    static func smartResizeTable() throws -> [SmartResizeCase] {
        try JSONDecoder().decode([SmartResizeCase].self, from: Data(contentsOf: directory.appendingPathComponent("smart_resize.json")))
    }

    static func configDirectory(_ name: String) -> URL {
        directory.appendingPathComponent("configs").appendingPathComponent(name)
    }

    static func pixelValues() throws -> SafetensorsFile {
        try SafetensorsFile(path: directory.appendingPathComponent("pixel_values.safetensors").path)
    }
}

extension SafetensorsFile {
    /// A little-endian I32 tensor as Ints.
    func int32s(_ name: String) throws -> [Int] {
        let tensor = try info(name)
        XCTAssertEqual(tensor.dtype, .I32, name)
        let bytes = try rawBytes(name)
        return (0..<tensor.elementCount).map { Int(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
    }
}
