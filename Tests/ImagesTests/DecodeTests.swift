import Foundation
import Images
import TestSupport
import XCTest

final class DecodeTests: XCTestCase {
    /// libjpeg-turbo versions agree on the integer IDCT and upsampling used by default, so PIL
    /// (its bundled libjpeg-turbo) and the system library decode the same bytes; 0 would flag any
    /// drift. A different libjpeg on another machine may be off by a level or two: raise this
    /// only with a measurement.
    static let jpegMaxByteDifference = 0

    func testPNGDecodesExactlyLikePIL() throws {
        let manifest = try Fixtures.manifest()
        for entry in manifest.images where entry.file.hasSuffix(".png") {
            let data = try Fixtures.bytes(entry.file)
            if entry.pil_saturates == true {
                // A deliberate difference from PIL, which turns 16-bit grey above 255 into white.
                let image = try decodeImage(data: data, source: entry.file)
                XCTAssertEqual(fnv1a64(image.pixels), entry.high_byte_fnv1a64, "\(entry.file): high byte of each sample")
                XCTAssertNotEqual(fnv1a64(image.pixels), entry.drop_fnv1a64, "\(entry.file): PIL's saturated decode")
                continue
            }
            for (alpha, expected) in [(AlphaHandling.drop, entry.drop_fnv1a64),
                                      (.compositeOnWhite, entry.white_fnv1a64)] {
                let image = try decodeImage(data: data, source: entry.file, alpha: alpha)
                XCTAssertEqual(image.width, entry.width, entry.file)
                XCTAssertEqual(image.height, entry.height, entry.file)
                XCTAssertEqual(fnv1a64(image.pixels), expected, "\(entry.file) (\(entry.pil_mode)), alpha \(alpha)")
            }
        }
    }

    func testJPEGDecodesLikePIL() throws {
        let manifest = try Fixtures.manifest()
        for entry in manifest.images where entry.file.hasSuffix(".jpg") {
            let image = try loadImage(path: Fixtures.path(entry.file))
            XCTAssertEqual(image.width, entry.width, entry.file)
            XCTAssertEqual(image.height, entry.height, entry.file)
            if let reference = entry.decoded_png {
                let expected = try loadImage(path: Fixtures.path(reference))
                let difference = maxByteDifference(image.pixels, expected.pixels)
                print("JPEG decode \(entry.file) (\(entry.pil_mode)): max |ours - PIL| = \(difference) "
                      + "(PIL \(manifest.versions.pillow), its libjpeg-turbo \(manifest.versions.libjpeg_turbo ?? "?"))")
                XCTAssertLessThanOrEqual(difference, Self.jpegMaxByteDifference, entry.file)
            } else if Self.jpegMaxByteDifference == 0 {
                XCTAssertEqual(fnv1a64(image.pixels), entry.drop_fnv1a64, entry.file)
            }
        }
    }

    func testPNGEncodeRoundTrips() throws {
        var pixels = [UInt8](repeating: 0, count: 7 * 5 * 3)
        for i in pixels.indices { pixels[i] = UInt8(truncatingIfNeeded: i * 37 + 11) }
        let image = RGBImage(width: 7, height: 5, pixels: pixels)
        let png = try encodePNG(image)
        XCTAssertEqual(ImageFormat(sniffing: png), .png)
        XCTAssertEqual(try decodeImage(data: png, source: "round trip"), image)

        let path = FileManager.default.temporaryDirectory.appendingPathComponent("discern-images-\(getpid()).png").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try writePNG(image, to: path)
        XCTAssertEqual(try loadImage(path: path), image)
    }

    func testWebPLosslessRoundTrips() throws {
        let image = RGBImage(width: 7, height: 5, pixels: (0..<105).map { UInt8(truncatingIfNeeded: $0 * 37 + 11) })
        let webp = try encodeWebPLossless(image)
        XCTAssertEqual(ImageFormat(sniffing: webp), .webp)
        XCTAssertEqual(try decodeImage(data: webp, source: "round trip"), image)
    }

    // MARK: Bad input: a clear thrown error naming the file, never a crash.

    private func assertThrows(_ data: [UInt8], _ kind: ImageError.Kind, mentioning words: [String],
                              file: StaticString = #filePath, line: UInt = #line) {
        do {
            let image = try decodeImage(data: data, source: "bad/input.bin")
            XCTFail("decoded \(image.width) x \(image.height) from bad data", file: file, line: line)
        } catch let error as ImageError {
            XCTAssertEqual(error.kind, kind, error.description, file: file, line: line)
            XCTAssertTrue(error.description.hasPrefix("bad/input.bin: "), error.description, file: file, line: line)
            for word in words {
                XCTAssertTrue(error.description.contains(word), "'\(word)' missing in: \(error.description)",
                              file: file, line: line)
            }
        } catch {
            XCTFail("unexpected error type: \(error)", file: file, line: line)
        }
    }

    func testTruncatedJPEGThrows() throws {
        let jpeg = try Fixtures.bytes("photo_500x375.jpg")
        // libjpeg would fill the missing rows with grey; PIL and we refuse the file instead.
        for keep in [3, 200, jpeg.count / 2, jpeg.count - 300] {
            assertThrows(Array(jpeg.prefix(keep)), .truncated, mentioning: ["truncated JPEG", "Premature end"])
        }
    }

    func testCorruptJPEGThrowsLibjpegMessage() throws {
        var jpeg = try Fixtures.bytes("photo_500x375.jpg")
        // The frame header (SOF0, FF C0) says 7-bit samples, which no baseline JPEG has.
        let frame = try XCTUnwrap((2..<jpeg.count - 1).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
        jpeg[frame + 4] = 7
        assertThrows(jpeg, .corrupt, mentioning: ["corrupt JPEG: ", "precision 7"])
    }

    func testTruncatedPNGThrows() throws {
        let png = try Fixtures.bytes("square_336x336.png")
        for keep in [8, 30, png.count / 2, png.count - 20] {
            assertThrows(Array(png.prefix(keep)), .truncated, mentioning: ["truncated PNG"])
        }
    }

    func testGarbageAfterPNGSignatureThrows() {
        var data: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var state: UInt32 = 12345
        for _ in 0..<500 {
            state = state &* 1_103_515_245 &+ 12345
            data.append(UInt8(truncatingIfNeeded: state >> 16))
        }
        assertThrows(data, .corrupt, mentioning: ["corrupt PNG"])
        assertThrows(Array(data.prefix(6)), .corrupt, mentioning: ["corrupt PNG", "signature"])
    }

    func testDamagedPNGChecksumThrows() throws {
        var png = try Fixtures.bytes("gray_64x48.png")
        png[20] ^= 0xFF  // inside IHDR: its CRC no longer matches
        assertThrows(png, .corrupt, mentioning: ["corrupt PNG"])
    }

    func testTruncatedWebPThrows() throws {
        let webp = try encodeWebPLossless(RGBImage(width: 16, height: 16, pixels: (0..<768).map { UInt8(truncatingIfNeeded: $0 * 13) }))
        // Cut inside the header: libwebp says it needs more data; cut inside the pixels: damaged.
        assertThrows(Array(webp.prefix(16)), .truncated, mentioning: ["truncated WebP"])
        assertThrows(Array(webp.prefix(webp.count - 8)), .corrupt, mentioning: ["corrupt WebP", "cut short"])
    }

    func testEmptyAndTextAndOtherFormatsThrow() {
        assertThrows([], .empty, mentioning: ["empty", "not a JPEG, PNG or WebP"])
        assertThrows(Array("a caption, not a picture\n".utf8), .notAnImage, mentioning: ["not a JPEG, PNG or WebP"])
        assertThrows(Array("GIF89a\u{1}\u{0}\u{1}\u{0}".utf8), .notAnImage, mentioning: ["not a JPEG, PNG or WebP", "GIF"])
    }

    func testRandomlyDamagedFilesNeverCrash() throws {
        // Flipped and truncated bytes in every part of small files: decoding must return an image
        // or throw an ImageError (libjpeg accepts some damaged entropy data with a warning, as PIL
        // does), never trap, hang or print.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        var decoded = 0, refused = 0
        for file in ["progressive_64x48.jpg", "cmyk_40x30.jpg", "palette_40x30.png", "rgb16_40x30.png"] {
            let original = try Fixtures.bytes(file)
            for _ in 0..<150 {
                var data = original
                for _ in 0..<(1 + next(4)) { data[next(data.count)] = UInt8(next(256)) }
                if next(4) == 0 { data = Array(data.prefix(next(data.count))) }
                do {
                    _ = try decodeImage(data: data, source: file, alpha: next(2) == 0 ? .drop : .compositeOnWhite)
                    decoded += 1
                } catch is ImageError {
                    refused += 1
                }
            }
        }
        XCTAssertGreaterThan(refused, 0)
        print("damaged files: \(decoded) decoded, \(refused) refused with ImageError")
    }

    func testMissingFileThrowsWithPath() {
        XCTAssertThrowsError(try loadImage(path: "/nonexistent/discern/cat.jpg")) { error in
            XCTAssertEqual((error as? ImageError)?.kind, .unreadable)
            XCTAssertTrue("\(error)".contains("/nonexistent/discern/cat.jpg"), "\(error)")
        }
    }
}
