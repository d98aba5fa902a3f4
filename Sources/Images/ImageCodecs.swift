import CImageCodecs
import Foundation

/// What decoding does with an alpha channel or a PNG transparency (tRNS) chunk.
public enum AlphaHandling: String, Sendable, Codable {
    /// Keep the stored colour and ignore alpha: PIL's `Image.convert("RGB")`, which LLaVA's
    /// training code and transformers 4.x use.
    case drop
    /// Composite over opaque white with PIL's integer `alpha_composite`, as transformers 5.x's
    /// `CLIPImageProcessor` (`convert_to_rgb`) does.
    case compositeOnWhite
}

/// The image file formats `decodeImage` reads, recognised by their first bytes.
public enum ImageFormat: String, Sendable {
    case jpeg, png, webp

    /// JPEG starts FF D8 FF, PNG starts 89 'P' 'N' 'G', WebP 'RIFF' (4 bytes of size) 'WEBP'.
    public init?(sniffing bytes: some Collection<UInt8>) {
        let head = Array(bytes.prefix(12))
        if head.count >= 3, head[0] == 0xFF, head[1] == 0xD8, head[2] == 0xFF {
            self = .jpeg
        } else if head.starts(with: [0x89, 0x50, 0x4E, 0x47]) {
            self = .png
        } else if head.count == 12, head.starts(with: Array("RIFF".utf8)), Array(head[8...]) == Array("WEBP".utf8) {
            self = .webp
        } else {
            return nil
        }
    }
}

/// Decodes a JPEG, PNG or WebP held in memory into 8-bit RGB. `source` names the data in errors
/// (a file path, a data-set key).
public func decodeImage(data: [UInt8], source: String, alpha: AlphaHandling = .drop) throws -> RGBImage {
    guard !data.isEmpty else {
        throw ImageError(.empty, source: source, "the file is empty, not a JPEG, PNG or WebP image; "
                         + "re-export it or remove it from the data set")
    }
    guard let format = ImageFormat(sniffing: data) else {
        throw ImageError(.notAnImage, source: source, "not a JPEG, PNG or WebP (\(describeSignature(data))); "
                         + "convert it to JPEG or PNG, e.g. with PIL: Image.open(path).convert(\"RGB\").save(\"x.png\")")
    }
    var decoded = ic_image()
    let status = data.withUnsafeBufferPointer { bytes in
        switch format {
        case .jpeg: ic_decode_jpeg(bytes.baseAddress, bytes.count, &decoded)
        case .png: ic_decode_png(bytes.baseAddress, bytes.count,
                                 alpha == .drop ? IC_ALPHA_DROP : IC_ALPHA_WHITE, &decoded)
        case .webp: ic_decode_webp(bytes.baseAddress, bytes.count,
                                   alpha == .drop ? IC_ALPHA_DROP : IC_ALPHA_WHITE, &decoded)
        }
    }
    guard status == IC_OK, let pixels = decoded.pixels else {
        throw codecError(status, message: decoderMessage(&decoded), format: format, source: source)
    }
    defer { ic_free(pixels) }
    let width = Int(decoded.width), height = Int(decoded.height)
    let bytes = [UInt8](UnsafeBufferPointer(start: pixels, count: width * height * 3))
    return RGBImage(width: width, height: height, pixels: bytes)
}

/// `decodeImage` for Foundation `Data`.
public func decodeImage(data: Data, source: String, alpha: AlphaHandling = .drop) throws -> RGBImage {
    try decodeImage(data: [UInt8](data), source: source, alpha: alpha)
}

/// Reads and decodes a JPEG, PNG or WebP file.
public func loadImage(path: String, alpha: AlphaHandling = .drop) throws -> RGBImage {
    let data: Data
    do {
        data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
        throw ImageError(.unreadable, source: path,
                         "cannot read the file (\(error.localizedDescription)); check the path and permissions")
    }
    return try decodeImage(data: data, source: path, alpha: alpha)
}

/// Encodes an image as an 8-bit RGB PNG file in memory.
public func encodePNG(_ image: RGBImage) throws -> [UInt8] {
    try encode(image, name: "PNG", with: ic_encode_png)
}

/// Encodes an image as a lossless WebP in memory: decoding it gives the same pixels back.
public func encodeWebPLossless(_ image: RGBImage) throws -> [UInt8] {
    try encode(image, name: "WebP", with: ic_encode_webp_lossless)
}

private typealias CEncoder = (UnsafePointer<UInt8>?, Int32, Int32, UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?,
                              UnsafeMutablePointer<Int>?, UnsafeMutablePointer<CChar>?) -> ic_status

private func encode(_ image: RGBImage, name: String, with encoder: CEncoder) throws -> [UInt8] {
    var output: UnsafeMutablePointer<UInt8>?
    var size = 0
    var message = [CChar](repeating: 0, count: Int(IC_MESSAGE_CAPACITY))
    let status = image.pixels.withUnsafeBufferPointer { pixels in
        encoder(pixels.baseAddress, Int32(image.width), Int32(image.height), &output, &size, &message)
    }
    guard status == IC_OK, let output else {
        let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw ImageError(.encodingFailed, source: "\(name) encoder", text)
    }
    defer { ic_free(output) }
    return [UInt8](UnsafeBufferPointer(start: output, count: size))
}

/// Encodes an image as PNG and writes it to `path`, replacing any file there.
public func writePNG(_ image: RGBImage, to path: String) throws {
    let png = try encodePNG(image)
    do {
        try Data(png).write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
        throw ImageError(.unreadable, source: path,
                         "cannot write the PNG (\(error.localizedDescription)); check the folder exists and is writable")
    }
}

private func decoderMessage(_ decoded: inout ic_image) -> String {
    withUnsafeBytes(of: &decoded.message) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
}

private func codecError(_ status: ic_status, message: String, format: ImageFormat, source: String) -> ImageError {
    let name = switch format { case .jpeg: "JPEG"; case .png: "PNG"; case .webp: "WebP" }
    switch status {
    case IC_ERROR_TRUNCATED:
        return ImageError(.truncated, source: source, "truncated \(name): \(message); "
                          + "the file was cut short (interrupted download or copy), fetch it again")
    case IC_ERROR_TOO_LARGE:
        return ImageError(.tooLarge, source: source, "\(name) too large: \(message); "
                          + "downscale it before adding it to the data set")
    case IC_ERROR_MEMORY:
        return ImageError(.outOfMemory, source: source, "\(name) decoder: \(message)")
    case IC_ERROR_UNSUPPORTED:
        return ImageError(.unsupported, source: source, "unsupported \(name): \(message); "
                          + "re-save it as an 8-bit RGB \(name)")
    default:
        return ImageError(.corrupt, source: source, "corrupt \(name): \(message); "
                          + "the file is damaged, re-download it or re-encode it from the original")
    }
}

/// Names common formats other than JPEG, PNG and WebP so the error says what the file actually is.
private func describeSignature(_ data: [UInt8]) -> String {
    let head = Array(data.prefix(12))
    func starts(_ prefix: [UInt8], at offset: Int = 0) -> Bool {
        head.count >= offset + prefix.count && Array(head[offset..<offset + prefix.count]) == prefix
    }
    let hex = head.prefix(8).map { String(format: "%02X", $0) }.joined(separator: " ")
    if starts(Array("GIF8".utf8)) { return "it is a GIF" }
    if starts(Array("BM".utf8)) { return "it looks like a BMP" }
    if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) { return "it is a TIFF" }
    if starts(Array("ftyp".utf8), at: 4) { return "it is an ISO media file (HEIC/AVIF/MP4)" }
    if starts([0x89, 0x50, 0x4E]) || starts([0xFF, 0xD8]) { return "a damaged signature: \(hex)" }
    return "it starts with bytes \(hex)"
}
