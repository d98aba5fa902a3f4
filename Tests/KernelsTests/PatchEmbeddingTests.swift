import Kernels
import TestSupport
import XCTest

/// Kernel (Double) against a direct convolution loop in Double: same 27-term sums in another
/// order, a few ulps of 1e-16 apart.
private let naiveTolerance = 1e-12

/// Gradient checks use Tolerance.finiteDifference (1e-6): the layer is linear in both images and
/// weight, so central differences are exact up to ~1e-10 rounding on these O(1) losses
/// (measured: 7e-10 relative).
final class PatchEmbeddingTests: XCTestCase {
    // A 2 x 3 grid of 3-pixel patches over 3 channels; width != height catches a swapped grid.
    let batch = 2, channels = 3, height = 6, width = 9, patch = 3, hidden = 5
    var gridH: Int { height / patch }
    var gridW: Int { width / patch }
    var numPatches: Int { gridH * gridW }
    var patchLength: Int { channels * patch * patch }

    struct Case {
        let images, weight, cotangent, patches, y: Buffer<Double>
    }

    func makeCase(seed: UInt64) -> Case {
        var random = TestRandom(seed: seed)
        return Case(images: random.buffer(batch * channels * height * width), weight: random.buffer(hidden * patchLength),
                    cotangent: random.buffer(batch * numPatches * hidden),
                    patches: Buffer(count: batch * numPatches * patchLength), y: Buffer(count: batch * numPatches * hidden))
    }

    func forward<T: KernelScalar>(_ images: Buffer<T>, _ weight: Buffer<T>, _ patches: Buffer<T>, _ y: Buffer<T>) {
        patchEmbeddingForward(images: images.pointer, weight: weight.pointer, patches: patches.pointer, y: y.pointer,
                              batch: batch, channels: channels, height: height, width: width, patch: patch, hidden: hidden)
    }

    func backward(_ c: Case, dWeight: Buffer<Double>?, dImages: Buffer<Double>?, scratch: Buffer<Double>?) {
        patchEmbeddingBackward(dy: c.cotangent.pointer, patches: c.patches.pointer, weight: c.weight.pointer,
                               dWeight: dWeight?.pointer, dImages: dImages?.pointer, patchGradient: scratch?.pointer,
                               batch: batch, channels: channels, height: height, width: width, patch: patch, hidden: hidden)
    }

    /// torch: conv2d(images, weight.view(hidden, channels, patch, patch), stride: patch)
    /// .flatten(2).transpose(1, 2), written as the convolution's own loops.
    func testForwardMatchesDirectConvolution() {
        let c = makeCase(seed: 61)
        forward(c.images, c.weight, c.patches, c.y)
        var expected = [Double](repeating: 0, count: c.y.count)
        for b in 0..<batch {
            for gy in 0..<gridH {
                for gx in 0..<gridW {
                    for h in 0..<hidden {
                        var s = 0.0
                        for ch in 0..<channels {
                            for ky in 0..<patch {
                                for kx in 0..<patch {
                                    let w = c.weight[((h * channels + ch) * patch + ky) * patch + kx]
                                    let pixel = c.images[((b * channels + ch) * height + gy * patch + ky) * width + gx * patch + kx]
                                    s += w * pixel
                                }
                            }
                        }
                        expected[((b * numPatches) + gy * gridW + gx) * hidden + h] = s
                    }
                }
            }
        }
        assertClose(c.y.array, expected, tolerance: naiveTolerance, "patch embedding vs direct convolution")
    }

    func testBackwardMatchesFiniteDifferences() {
        let c = makeCase(seed: 62)
        forward(c.images, c.weight, c.patches, c.y)
        let dWeight = Buffer<Double>(count: c.weight.count), dImages = Buffer<Double>(count: c.images.count)
        backward(c, dWeight: dWeight, dImages: dImages, scratch: Buffer(count: c.patches.count))
        func loss() -> Double {
            forward(c.images, c.weight, c.patches, c.y)
            return dot(c.y.pointer, c.cotangent.pointer, c.y.count)
        }
        assertClose(dImages.array, numericalGradient(c.images, loss), tolerance: Tolerance.finiteDifference,
                    "patch embedding dImages")
        assertClose(dWeight.array, numericalGradient(c.weight, loss), tolerance: Tolerance.finiteDifference,
                    "patch embedding dWeight")
    }

    func testFloatForwardMatchesDouble() {
        var random = TestRandom(seed: 63)
        let images: Buffer<Float> = random.buffer(batch * channels * height * width)
        let weight: Buffer<Float> = random.buffer(hidden * patchLength)
        let patches = Buffer<Float>(count: batch * numPatches * patchLength), y = Buffer<Float>(count: batch * numPatches * hidden)
        forward(images, weight, patches, y)
        let yDouble = Buffer<Double>(count: y.count)
        forward(widenedToDouble(images), widenedToDouble(weight), Buffer<Double>(count: patches.count), yDouble)
        assertClose(y.array, yDouble.array.map { Float($0) }, tolerance: Tolerance.float32, "patch embedding Float vs Double")
    }

    /// The frozen vision tower passes nil for both gradients (and no scratch); each gradient
    /// alone equals its value from the full backward.
    func testNilGradientsAreSkipped() {
        let c = makeCase(seed: 64)
        forward(c.images, c.weight, c.patches, c.y)
        let dWeight = Buffer<Double>(count: c.weight.count), dImages = Buffer<Double>(count: c.images.count)
        backward(c, dWeight: dWeight, dImages: dImages, scratch: Buffer(count: c.patches.count))
        backward(c, dWeight: nil, dImages: nil, scratch: nil)
        let dWeightOnly = Buffer<Double>(count: c.weight.count), dImagesOnly = Buffer<Double>(count: c.images.count)
        backward(c, dWeight: dWeightOnly, dImages: nil, scratch: nil)
        backward(c, dWeight: nil, dImages: dImagesOnly, scratch: Buffer(count: c.patches.count))
        XCTAssertEqual(dWeightOnly.array, dWeight.array, "dWeight alone")
        XCTAssertEqual(dImagesOnly.array, dImages.array, "dImages alone")
    }

    func testBackwardAccumulates() {
        let c = makeCase(seed: 65)
        forward(c.images, c.weight, c.patches, c.y)
        var random = TestRandom(seed: 66)
        let scratch = Buffer<Double>(count: c.patches.count)
        let once = [Buffer<Double>(count: c.weight.count), Buffer<Double>(count: c.images.count)]
        backward(c, dWeight: once[0], dImages: once[1], scratch: scratch)
        let start: [[Double]] = once.map { random.uniform($0.count) }
        let twice = start.map { Buffer($0) }
        backward(c, dWeight: twice[0], dImages: twice[1], scratch: scratch)
        backward(c, dWeight: twice[0], dImages: twice[1], scratch: scratch)
        for (k, name) in ["dWeight", "dImages"].enumerated() {
            let expected = zip(start[k], once[k].array).map { $0 + 2 * $1 }
            assertClose(twice[k].array, expected, tolerance: naiveTolerance, "patch embedding \(name) accumulates")
        }
    }

    /// im2col and col2im split patches over workers: bit-identical results.
    func testThreadedMatchesSingleThread() {
        let batch = 2, channels = 3, side = 96, patch = 8, hidden = 5
        let numPatches = (side / patch) * (side / patch), patchLength = channels * patch * patch
        var random = TestRandom(seed: 67)
        let images: Buffer<Double> = random.buffer(batch * channels * side * side)
        let weight: Buffer<Double> = random.buffer(hidden * patchLength)
        let dy: Buffer<Double> = random.buffer(batch * numPatches * hidden)
        let results: [[Double]] = [1, testThreadCount].map { threads in
            let patches = Buffer<Double>(count: batch * numPatches * patchLength), scratch = Buffer<Double>(count: patches.count)
            let y = Buffer<Double>(count: batch * numPatches * hidden), dImages = Buffer<Double>(count: images.count)
            withKernelThreads(threads) {
                patchEmbeddingForward(images: images.pointer, weight: weight.pointer, patches: patches.pointer, y: y.pointer,
                                      batch: batch, channels: channels, height: side, width: side, patch: patch, hidden: hidden)
                patchEmbeddingBackward(dy: dy.pointer, patches: patches.pointer, weight: weight.pointer, dWeight: nil,
                                       dImages: dImages.pointer, patchGradient: scratch.pointer, batch: batch,
                                       channels: channels, height: side, width: side, patch: patch, hidden: hidden)
            }
            return patches.array + dImages.array
        }
        assertBitIdentical(results[1], results[0], "threaded im2col / col2im")
    }
}
