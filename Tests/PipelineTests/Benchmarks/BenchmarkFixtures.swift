import Foundation
import Images

/// The standard benchmarks in their published formats, in miniature, written by the tests:
/// a Karpathy-split Flickr30k and COCO (5 captions per image, train / val / test splits), the
/// seven SugarCrepe files over COCO val2017 file names, and Winoground's examples.jsonl. Images
/// are small scenes (sky, ground, a sun, a box) encoded as PNG, and real photographs (JPEG) taken
/// from the image tests' fixtures. docs/eval.md shows `discern eval` on exactly these files
/// (DISCERN_BENCHMARK_FIXTURES=DIR keeps a copy in DIR).
struct BenchmarkFixtures {
    let root: URL
    var flickr: URL { root.appendingPathComponent("flickr30k/dataset_flickr30k.json") }
    var flickrImages: URL { root.appendingPathComponent("flickr30k/images") }
    var coco: URL { root.appendingPathComponent("coco/dataset_coco.json") }
    var cocoImages: URL { root.appendingPathComponent("coco/images") }
    var sugarCrepe: URL { root.appendingPathComponent("sugarcrepe") }
    var sugarCrepeImages: URL { root.appendingPathComponent("coco/images/val2017") }
    var winoground: URL { root.appendingPathComponent("winoground/data/examples.jsonl") }
    var winogroundImages: URL { root.appendingPathComponent("winoground/data/images") }

    static let photographs = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../ImagesTests/Fixtures").standardized
    static let colours: [(name: String, rgb: (UInt8, UInt8, UInt8))] = [
        ("red", (200, 40, 30)), ("green", (40, 170, 60)), ("blue", (30, 60, 200)), ("yellow", (230, 210, 40)),
        ("white", (240, 240, 240)), ("black", (20, 20, 20)), ("orange", (240, 140, 20)), ("purple", (120, 40, 160)),
    ]

    static func sunColour(_ n: Int) -> Int { n % colours.count }
    static func boxColour(_ n: Int) -> Int { (n * 3 + 1) % colours.count }

    /// Scene `n`: a vertical sky gradient, a ground band, a sun disc and a box; colours from n
    /// unless given (indices into `colours`).
    static func scene(_ n: Int, sun: Int? = nil, box: Int? = nil, size: Int = 40) -> RGBImage {
        let sun = colours[sun ?? sunColour(n)].rgb, box = colours[box ?? boxColour(n)].rgb
        let horizon = size / 2 + (n % 5) * 2, sunX = 6 + (n * 7) % (size - 12), boxX = (n * 11 + 3) % (size - 10)
        var pixels = [UInt8](repeating: 0, count: size * size * 3)
        for y in 0..<size {
            for x in 0..<size {
                var c: (UInt8, UInt8, UInt8) = y < horizon ? (UInt8(90 + y * 2), UInt8(140 + y), 230) : (UInt8(60 + n * 9 % 80), 110, 50)
                if (x - sunX) * (x - sunX) + (y - 8) * (y - 8) <= 20 { c = sun }
                if x >= boxX, x < boxX + 10, y >= horizon - 8, y < horizon + 2 { c = box }
                pixels.replaceSubrange((y * size + x) * 3..<(y * size + x) * 3 + 3, with: [c.0, c.1, c.2])
            }
        }
        return RGBImage(width: size, height: size, pixels: pixels)
    }

    /// Five captions for scene n, the way annotators word one picture five times.
    static func captions(_ n: Int) -> [String] {
        let sun = colours[sunColour(n)].name, box = colours[boxColour(n)].name
        return ["A \(sun) sun above a \(box) box.", "a \(box) box standing in a field under a \(sun) sun",
                "A \(box) crate on the grass with the \(sun) sun in the sky", "\(sun) sun, \(box) box, green ground",
                "An outdoor scene with a \(box) box and a \(sun) sun. "]
    }

    static func write(to root: URL) throws -> BenchmarkFixtures {
        let fixtures = BenchmarkFixtures(root: root)
        try fixtures.writeFlickr()
        try fixtures.writeCOCO()
        try fixtures.writeSugarCrepe()
        try fixtures.writeWinoground()
        return fixtures
    }

    func png(_ n: Int, at url: URL, sun: Int? = nil, box: Int? = nil) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(try encodePNG(Self.scene(n, sun: sun, box: box))).write(to: url)
    }

    func json(_ value: Any, at url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .prettyPrinted]).write(to: url)
    }

    /// One Karpathy `images[]` entry; `sentences[].raw` as published (tokens too, which Discern ignores).
    static func entry(_ n: Int, file: String, folder: String?, split: String, captions: [String]) -> [String: Any] {
        var entry: [String: Any] = ["filename": file, "imgid": n, "split": split, "sentids": Array(n * 5..<n * 5 + captions.count),
                                    "sentences": captions.enumerated().map { i, raw in
                                        ["raw": raw, "imgid": n, "sentid": n * 5 + i,
                                         "tokens": raw.lowercased().split { !$0.isLetter }.map(String.init)] as [String: Any]
                                    }]
        if let folder { entry["filepath"] = folder }
        return entry
    }

    /// Flickr30k: no filepath. Test: three photographs (JPEG) and two scenes (PNG); train and val one scene each.
    func writeFlickr() throws {
        let photos = [("photo_500x375.jpg", ["A sunlit street with houses", "buildings along a road on a sunny day",
                                             "A photograph of a town", "houses and a blue sky", "A quiet street in daylight"]),
                      ("progressive_64x48.jpg", ["a small blurry photograph", "A tiny picture of colours", "a low resolution image",
                                                 "A small colourful photo", "blurred colours in a small frame"]),
                      ("gray_48x40.jpg", ["A black and white photograph", "a grey picture", "a monochrome image",
                                          "A greyscale photo of shapes", "shades of grey"])]
        var images: [[String: Any]] = []
        for (i, (file, captions)) in photos.enumerated() {
            let name = "10000\(92795 + i).jpg"
            try FileManager.default.createDirectory(at: flickrImages, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: Self.photographs.appendingPathComponent(file), to: flickrImages.appendingPathComponent(name))
            images.append(Self.entry(i, file: name, folder: nil, split: "test", captions: captions))
        }
        for (n, split) in [(3, "test"), (4, "test"), (5, "train"), (6, "val")] {
            let name = "20000\(n).png"
            try png(n, at: flickrImages.appendingPathComponent(name))
            images.append(Self.entry(n, file: name, folder: nil, split: split, captions: Self.captions(n)))
        }
        try json(["dataset": "flickr30k", "images": images], at: flickr)
    }

    /// COCO: filepath val2014 / train2014 (restval), split test / restval / val.
    func writeCOCO() throws {
        var images: [[String: Any]] = []
        for (i, (n, folder, split)) in [(10, "val2014", "test"), (11, "val2014", "test"), (12, "val2014", "test"), (13, "val2014", "test"),
                                        (14, "train2014", "restval"), (15, "val2014", "val")].enumerated() {
            let name = String(format: "COCO_%@_%012d.png", folder, 391_895 + i)
            try png(n, at: cocoImages.appendingPathComponent(folder).appendingPathComponent(name))
            images.append(Self.entry(i, file: name, folder: folder, split: split, captions: Self.captions(n)))
        }
        try json(["dataset": "coco", "images": images], at: coco)
    }

    /// The seven categories over three val2017 images, items sharing images and positive captions.
    func writeSugarCrepe() throws {
        let files = (0..<3).map { String(format: "%012d.png", 139 + $0 * 146) }
        for (k, file) in files.enumerated() { try png(20 + k, at: sugarCrepeImages.appendingPathComponent(file)) }
        let changes: [String: (String) -> String] = [
            "add_att": { $0.replacingOccurrences(of: " box", with: " wooden box") }, "add_obj": { $0 + " and a dog" },
            "replace_att": { $0.replacingOccurrences(of: "sun", with: "moon") }, "replace_obj": { $0.replacingOccurrences(of: "box", with: "ball") },
            "replace_rel": { $0.replacingOccurrences(of: "above", with: "below") },
            "swap_att": { _ in "A box above a sun." }, "swap_obj": { $0.replacingOccurrences(of: "sun above a", with: "box above a") },
        ]
        for (c, category) in ["add_att", "add_obj", "replace_att", "replace_obj", "replace_rel", "swap_att", "swap_obj"].enumerated() {
            var items: [String: Any] = [:]
            for item in 0..<(2 + c % 2) {
                let k = (c + item) % 3
                let caption = Self.captions(20 + k)[0]
                items["\(item)"] = ["filename": files[k], "caption": caption, "negative_caption": changes[category]!(caption)]
            }
            try json(items, at: sugarCrepe.appendingPathComponent(category + ".json"))
        }
    }

    /// Three examples, two images each: `<images>/ex_N_img_M.png`, as the Hugging Face copy unpacks.
    /// The captions hold the same words in another order; image 1 swaps image 0's two colours.
    func writeWinoground() throws {
        var lines: [String] = []
        for n in 0..<3 {
            let first = n * 2 % 8, second = (n * 2 + 3) % 8
            try png(30 + n, at: winogroundImages.appendingPathComponent("ex_\(n)_img_0.png"), sun: first, box: second)
            try png(30 + n, at: winogroundImages.appendingPathComponent("ex_\(n)_img_1.png"), sun: second, box: first)
            let a = Self.colours[first].name, b = Self.colours[second].name
            let line: [String: Any] = ["id": n, "caption_0": "the \(a) sun is above the \(b) box", "caption_1": "the \(b) sun is above the \(a) box",
                                       "image_0": "ex_\(n)_img_0", "image_1": "ex_\(n)_img_1", "tag": "Adjective-Color",
                                       "secondary_tag": "", "num_main_preds": 1, "collapsed_tag": "Object"]
            lines.append(String(decoding: try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys]), as: UTF8.self))
        }
        try FileManager.default.createDirectory(at: winoground.deletingLastPathComponent(), withIntermediateDirectories: true)
        try (lines.joined(separator: "\n") + "\n").write(to: winoground, atomically: true, encoding: .utf8)
    }
}
