/// CLIP's patch embedding: Conv2d(channels -> hidden, kernel = stride = patch, no bias), done as
/// im2col + one GEMM. Each patch is flattened in the order of torch's conv weight
/// (hidden, channels, kh, kw), so the Hugging Face weight, viewed as (hidden, patchLength)
/// with patchLength = channels * patch * patch, is used as it is. Patches are numbered
/// row-major over the (height / patch, width / patch) grid, as torch's
/// `conv(x).flatten(2).transpose(1, 2)` orders them.
///
/// Image sides must be multiples of the patch: the image preprocessing resizes to the
/// configured size, so anything else is a programmer error (torch would silently drop the
/// remainder).

/// patches = im2col(images); y = patches W^T
@inlinable
public func patchEmbeddingForward<T: KernelScalar>(
    images: UnsafePointer<T>,         // images: (batch, channels, height, width)
    weight: UnsafePointer<T>,         // weight: (hidden, channels * patch * patch)
    patches: UnsafeMutablePointer<T>, // patches: (batch, numPatches, channels * patch * patch),
                                      //   caller's scratch, overwritten; the backward reads it
    y: UnsafeMutablePointer<T>,       // y: (batch * numPatches, hidden), overwritten
    batch: Int, channels: Int, height: Int, width: Int, patch: Int, hidden: Int
) {
    checkPatchGeometry(height: height, width: width, patch: patch)
    let numPatches = (height / patch) * (width / patch), patchLength = channels * patch * patch
    imagesToPatches(images: images, patches: patches, batch: batch, channels: channels,
                    height: height, width: width, patch: patch)
    gemm(transB: true, m: batch * numPatches, n: hidden, k: patchLength, patches, weight, y)
}

/// Adds the gradients of `patchEmbeddingForward` into every non-nil gradient buffer. The
/// vision tower is normally frozen, so both are usually nil and this costs nothing.
@inlinable
public func patchEmbeddingBackward<T: KernelScalar>(
    dy: UnsafePointer<T>,             // dy: (batch * numPatches, hidden)
    patches: UnsafePointer<T>,        // patches: (batch * numPatches, patchLength), from the forward
    weight: UnsafePointer<T>,         // weight: (hidden, patchLength)
    dWeight: UnsafeMutablePointer<T>?,  // dWeight: (hidden, patchLength), +=
    dImages: UnsafeMutablePointer<T>?,  // dImages: (batch, channels, height, width), +=
    patchGradient: UnsafeMutablePointer<T>?,  // patchGradient: (batch * numPatches, patchLength),
                                      //   caller's scratch, needed only when dImages is not nil
    batch: Int, channels: Int, height: Int, width: Int, patch: Int, hidden: Int
) {
    checkPatchGeometry(height: height, width: width, patch: patch)
    let rows = batch * (height / patch) * (width / patch), patchLength = channels * patch * patch
    // y = patches W^T  =>  dW = dy^T patches
    if let dWeight {
        gemm(transA: true, m: hidden, n: patchLength, k: rows, dy, patches, beta: 1, dWeight)
    }
    // y = patches W^T  =>  dpatches = dy W, then col2im: patches never overlap (stride =
    // kernel), so col2im is the inverse permutation of im2col, added into dImages.
    if let dImages {
        guard let patchGradient else {
            preconditionFailure("patchEmbeddingBackward: dImages needs the patchGradient scratch")
        }
        gemm(m: rows, n: patchLength, k: hidden, dy, weight, patchGradient)
        addPatchesToImages(patches: patchGradient, images: dImages, batch: batch, channels: channels,
                           height: height, width: width, patch: patch)
    }
}

@inlinable
func checkPatchGeometry(height: Int, width: Int, patch: Int) {
    precondition(patch > 0 && height % patch == 0 && width % patch == 0,
                 "patch embedding: image \(height)x\(width) is not a whole number of \(patch)-pixel patches")
}

/// im2col for kernel = stride = patch: patches[b, gy * gridW + gx, (c * patch + ky) * patch + kx]
/// = images[b, c, gy * patch + ky, gx * patch + kx]. Each (c, ky) is one contiguous run of
/// `patch` pixels in both layouts, copied as a block.
@inlinable
func imagesToPatches<T: KernelScalar>(
    images: UnsafePointer<T>, patches: UnsafeMutablePointer<T>,
    batch: Int, channels: Int, height: Int, width: Int, patch: Int
) {
    let gridH = height / patch, gridW = width / patch, patchLength = channels * patch * patch
    parallelFor(batch * gridH * gridW, grain: parallelRowGrain(rowLength: patchLength)) { range in
        for row in range {
            let b = row / (gridH * gridW), gy = (row / gridW) % gridH, gx = row % gridW
            let destination = patches + row * patchLength
            for c in 0..<channels {
                for ky in 0..<patch {
                    let source = images + ((b * channels + c) * height + gy * patch + ky) * width + gx * patch
                    (destination + (c * patch + ky) * patch).update(from: source, count: patch)
                }
            }
        }
    }
}

/// col2im, the adjoint of `imagesToPatches`: images[b, c, y, x] += the patch element it was
/// copied to. Every pixel belongs to exactly one patch, so workers over patches never collide.
@inlinable
func addPatchesToImages<T: KernelScalar>(
    patches: UnsafePointer<T>, images: UnsafeMutablePointer<T>,
    batch: Int, channels: Int, height: Int, width: Int, patch: Int
) {
    let gridH = height / patch, gridW = width / patch, patchLength = channels * patch * patch
    parallelFor(batch * gridH * gridW, grain: parallelRowGrain(rowLength: patchLength)) { range in
        for row in range {
            let b = row / (gridH * gridW), gy = (row / gridW) % gridH, gx = row % gridW
            let source = patches + row * patchLength
            for c in 0..<channels {
                for ky in 0..<patch {
                    let target = images + ((b * channels + c) * height + gy * patch + ky) * width + gx * patch
                    let run = source + (c * patch + ky) * patch
                    for kx in 0..<patch { target[kx] += run[kx] }
                }
            }
        }
    }
}
