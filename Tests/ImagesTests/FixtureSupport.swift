import Foundation
import Images
import XCTest

/// Tests/ImagesTests/Fixtures/manifest.json, written by Tests/Reference/make_image_fixtures.py.
struct FixtureManifest: Decodable {
    struct Versions: Decodable {
        let pillow: String
        let transformers: String
        let libjpeg_turbo: String?
    }

    struct ImageEntry: Decodable {
        let file: String
        let pil_mode: String
        let width: Int
        let height: Int
        /// FNV-1a 64 of PIL's `convert("RGB")` bytes.
        let drop_fnv1a64: String
        /// FNV-1a 64 of transformers 5's `convert_to_rgb` bytes (alpha over white).
        let white_fnv1a64: String
        /// PIL's RGB decode of a JPEG, saved losslessly.
        let decoded_png: String?
        /// PIL saturates 16-bit grayscale to white above 255; we keep the high byte (its hash).
        let pil_saturates: Bool?
        let high_byte_fnv1a64: String?
    }

    /// PIL's `resize((width, height), BICUBIC)` of an image's RGB decode.
    struct Resize: Decodable {
        let image: String
        let width: Int
        let height: Int
        let fnv1a64: String
    }

    struct Case: Decodable {
        let name: String
        let image: String
        let mode: String
        let shortest_edge: Int
        let crop_height: Int
        let crop_width: Int
        let alpha: String
        let crop_fnv1a64: String
        let crop_png: String?
        let floats: String?
        let samples: String?
    }

    let versions: Versions
    let clip_mean: [Double]
    let clip_std: [Double]
    let images: [ImageEntry]
    let cases: [Case]
    let resizes: [Resize]
}

enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static func path(_ relative: String) -> String { directory.appendingPathComponent(relative).path }

    static func bytes(_ relative: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appendingPathComponent(relative)))
    }

    static func manifest() throws -> FixtureManifest {
        try JSONDecoder().decode(FixtureManifest.self, from: Data(contentsOf: directory.appendingPathComponent("manifest.json")))
    }

    /// Little-endian float32 file.
    static func floats(_ relative: String) throws -> [Float] {
        let raw = try bytes(relative)
        return stride(from: 0, to: raw.count, by: 4).map { i in
            Float(bitPattern: UInt32(raw[i]) | UInt32(raw[i + 1]) << 8 | UInt32(raw[i + 2]) << 16 | UInt32(raw[i + 3]) << 24)
        }
    }

    /// uint32 n, uint32 index[n], float32 value[n].
    static func samples(_ relative: String) throws -> (indices: [Int], values: [Float]) {
        let raw = try bytes(relative)
        func word(_ i: Int) -> UInt32 {
            UInt32(raw[4 * i]) | UInt32(raw[4 * i + 1]) << 8 | UInt32(raw[4 * i + 2]) << 16 | UInt32(raw[4 * i + 3]) << 24
        }
        let n = Int(word(0))
        return ((0..<n).map { Int(word(1 + $0)) }, (0..<n).map { Float(bitPattern: word(1 + n + $0)) })
    }
}

/// Largest |a - b| over two byte arrays of the same length.
func maxByteDifference(_ a: [UInt8], _ b: [UInt8]) -> Int {
    precondition(a.count == b.count, "maxByteDifference: \(a.count) vs \(b.count) bytes")
    var worst = 0
    for i in 0..<a.count { worst = max(worst, abs(Int(a[i]) - Int(b[i]))) }
    return worst
}

/// Largest |a - b| over two float arrays of the same length.
func maxFloatDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "maxFloatDifference: \(a.count) vs \(b.count) values")
    var worst: Float = 0
    for i in 0..<a.count { worst = max(worst, abs(a[i] - b[i])) }
    return worst
}
