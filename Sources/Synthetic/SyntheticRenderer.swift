import Kernels

/// How scenes become pixels.
package struct SyntheticRendering: Sendable, Equatable {
    /// Output side S: images are (S, S, 3) RGB.
    package var imageSize: Int
    /// Sub-samples per pixel along each axis; coverage averaged over them gives anti-aliased
    /// edges (4 -> 16 samples a pixel).
    package var supersampling: Int
    /// Standard deviation of the per-pixel background noise in 0...255 units (0: plain).
    package var backgroundNoise: Double
    /// Background colour before noise: dark grey, so every shape colour, white included, stands out.
    package var background: (red: UInt8, green: UInt8, blue: UInt8)

    package init(imageSize: Int = 32, supersampling: Int = 4, backgroundNoise: Double = 3,
                background: (red: UInt8, green: UInt8, blue: UInt8) = (38, 38, 42)) {
        self.imageSize = imageSize
        self.supersampling = supersampling
        self.backgroundNoise = backgroundNoise
        self.background = background
    }

    package static func == (a: SyntheticRendering, b: SyntheticRendering) -> Bool {
        a.imageSize == b.imageSize && a.supersampling == b.supersampling && a.backgroundNoise == b.backgroundNoise
            && a.background == b.background
    }

    /// RGB pixels (imageSize, imageSize, 3) of `scene`; a pure function of scene and settings.
    package func render(_ scene: SyntheticScene) -> [UInt8] {
        let side = imageSize, samples = supersampling
        var pixels = [UInt8](repeating: 0, count: side * side * 3)
        var noise = Xoshiro256(seed: scene.noiseSeed)
        let base = [Double(background.red), Double(background.green), Double(background.blue)]
        let colours = scene.objects.map { object in
            let c = object.colour.rgb
            return [Double(c.red), Double(c.green), Double(c.blue)]
        }
        let perPixel = Double(samples * samples)
        var coverage = [Double](repeating: 0, count: scene.objects.count)
        for py in 0..<side {
            for px in 0..<side {
                // Noise is drawn for every pixel in raster order, so the stream never depends
                // on where the objects are.
                let jitter = backgroundNoise > 0 ? backgroundNoise * unitNoise(&noise) : 0
                for (k, object) in scene.objects.enumerated() {
                    coverage[k] = Double(covered(object, px: px, py: py, side: side, samples: samples)) / perPixel
                }
                let total = min(coverage.reduce(0, +), 1)
                for channel in 0..<3 {
                    var value = (base[channel] + jitter) * (1 - total)
                    for k in 0..<colours.count { value += coverage[k] * colours[k][channel] }
                    pixels[(py * side + px) * 3 + channel] = UInt8(max(0, min(255, value.rounded())))
                }
            }
        }
        return pixels
    }

    /// Zero-mean, unit-variance noise from four uniforms (Irwin-Hall): only + and *, so the
    /// bytes are the same on every platform (a Box-Muller draw would go through libm).
    func unitNoise(_ random: inout Xoshiro256) -> Double {
        let sum = random.nextUnit() + random.nextUnit() + random.nextUnit() + random.nextUnit()
        return (sum - 2) * 1.7320508075688772  // sqrt(3): the sum's variance is 4/12
    }

    /// How many of the pixel's samples fall inside the object.
    func covered(_ object: SyntheticObject, px: Int, py: Int, side: Int, samples: Int) -> Int {
        let scale = Double(side)
        let cx = object.x * scale, cy = object.y * scale, r = object.radius * scale
        // Quick reject: the pixel square misses the object's bounding box.
        if Double(px + 1) < cx - r || Double(px) > cx + r || Double(py + 1) < cy - r || Double(py) > cy + r { return 0 }
        var count = 0
        for sy in 0..<samples {
            let v = (Double(py) + (Double(sy) + 0.5) / Double(samples) - cy) / r
            for sx in 0..<samples {
                let u = (Double(px) + (Double(sx) + 0.5) / Double(samples) - cx) / r
                if object.shape.contains(u, v) { count += 1 }
            }
        }
        return count
    }
}

extension SyntheticShape {
    /// Whether the point (u, v) of the object's box [-1, 1]^2 (v downwards) is inside the
    /// shape. Proportions are tuned so shapes look about equally heavy and keep their
    /// outline at 8 px across.
    func contains(_ u: Double, _ v: Double) -> Bool {
        let au = abs(u), av = abs(v)
        switch self {
        case .circle:
            return u * u + v * v <= 0.92 * 0.92
        case .square:
            return au <= 0.8 && av <= 0.8
        case .triangle:
            // Apex at the top (v = -0.95), flat base at v = 0.8, full width at the base.
            guard v >= -0.95 && v <= 0.8 else { return false }
            return au <= (v + 0.95) / 1.75
        case .cross:
            let arm = 0.3
            return (au <= arm && av <= 0.95) || (av <= arm && au <= 0.95)
        case .ring:
            let d2 = u * u + v * v
            return d2 <= 0.95 * 0.95 && d2 >= 0.5 * 0.5
        case .diamond:
            return au + av <= 1.0
        }
    }
}
