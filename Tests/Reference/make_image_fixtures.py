#!/usr/bin/env python3
"""Makes the image fixtures under Tests/ImagesTests/Fixtures/ (committed; rerun only to change them).

1. Draws deterministic photo-like test images (gradients, noise, hard-edged shapes, a
   checkerboard that aliases if antialiasing is wrong) and saves them as JPEG and PNG in the
   layouts a data set may contain: RGB, RGBA, grayscale, palette + tRNS, 16-bit, CMYK, progressive.
2. Records how PIL decodes each one (the RGB bytes after `convert("RGB")`, which drops alpha, and
   after transformers 5's `convert_to_rgb`, which composites onto white).
3. Runs transformers' CLIPImageProcessor (PIL backend) with the LLaVA-1.5 settings (shortest edge
   336, crop 336, bicubic, CLIP mean/std) and smaller/odd settings, in crop mode and in LLaVA's
   pad-to-square mode, and stores the uint8 image right after resize + crop and the float output.

Usage (from the repository root, with the reference venv of Tests/Reference/setup-venv, or any
Python with pillow, numpy and transformers):
    Tests/Reference/.venv/bin/python Tests/Reference/make_image_fixtures.py

Output layout (all little-endian):
    manifest.json                  what each file is, the versions used, every case's settings
    <image>.jpg / .png             the inputs
    decoded/<image>.png            PIL's RGB decode of a JPEG input (lossless, for a max-diff report)
    cases/<case>.crop.png          uint8 (crop_h, crop_w, 3) after resize + crop, before rescale
    cases/<case>.f32               float32 (3, crop_h, crop_w) processor output (small cases)
    cases/<case>.samples           uint32 n, uint32 index[n], float32 value[n] into the flat
                                   (3, crop_h, crop_w) output (336 cases: full floats are 1.3 MB)
Hashes are FNV-1a 64 of the raw bytes, as lowercase hex.
"""
import io
import json
import struct
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import PIL
import PIL.features
import transformers
from PIL import Image

try:  # transformers 5 names the PIL backend explicitly; 4.x has only the PIL one.
    from transformers import CLIPImageProcessorPil as Processor
except ImportError:
    from transformers import CLIPImageProcessor as Processor

OUT = Path(__file__).resolve().parents[1] / "ImagesTests" / "Fixtures"
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
SAMPLES_PER_CASE = 2048


def fnv1a64(data: bytes) -> str:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def fnv1a64_fast(array: np.ndarray) -> str:
    """FNV-1a over a uint8 array; the pure-Python loop is fine at these sizes (< 3 MB)."""
    return fnv1a64(np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def smooth_noise(rng, h, w, cell, amplitude):
    """Low-frequency noise: random values on a coarse grid, bilinearly enlarged."""
    coarse = rng.normal(0, amplitude, (h // cell + 2, w // cell + 2, 3)).astype(np.float32)
    channels = [np.asarray(Image.fromarray(coarse[..., c], mode="F").resize((w, h), Image.BILINEAR))
                for c in range(3)]
    return np.stack(channels, axis=-1)


def photo(w, h, seed):
    """A photo-like RGB uint8 image (h, w, 3)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    u, v = x / w, y / h
    img = np.empty((h, w, 3))
    img[..., 0] = 40 + 170 * u + 25 * np.sin(9 * v)
    img[..., 1] = 200 - 150 * v + 30 * np.sin(7 * u + 2 * v)
    img[..., 2] = 110 + 90 * np.cos(5 * (u + v))
    img += smooth_noise(rng, h, w, 16, 18) + rng.normal(0, 3, (h, w, 3))
    # Hard-edged shapes in saturated colours: bicubic overshoots at such edges, so the
    # clipping to 0..255 is exercised.
    for _ in range(6):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.05, 0.2) * min(w, h)
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.choice([0, 255], size=3)
    x0, y0 = int(rng.uniform(0, w * 0.6)), int(rng.uniform(0, h * 0.6))
    img[y0:y0 + h // 5, x0:x0 + w // 4] = rng.uniform(0, 255, 3)
    # A 1-pixel checkerboard: averages to grey only if the downscale antialiases correctly.
    cb = ((x.astype(int) + y.astype(int)) % 2 == 0)[: h // 6, : w // 6]
    img[: h // 6, : w // 6] = np.where(cb[..., None], 255.0, 0.0)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def raw_png(samples: np.ndarray, color_type: int, bit_depth: int) -> bytes:
    """A PNG written by hand, for layouts PIL cannot save (16-bit RGB)."""
    h, w = samples.shape[:2]
    dtype = ">u2" if bit_depth == 16 else "u1"
    rows = samples.astype(dtype).reshape(h, -1)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)
    header = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
            + png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))


def make_images():
    """name -> encoded bytes. Every name is written under OUT."""
    images = {}

    def save(name, image, **kwargs):
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG" if name.endswith(".jpg") else "PNG", **kwargs)
        images[name] = buffer.getvalue()

    save("photo_500x375.jpg", Image.fromarray(photo(500, 375, 1)), quality=90)
    save("photo_800x600.jpg", Image.fromarray(photo(800, 600, 2)), quality=85)
    rgba = np.dstack([photo(333, 500, 3), np.zeros((500, 333), np.uint8)])
    yy, xx = np.mgrid[0:500, 0:333]
    rgba[..., 3] = np.clip(255 * (xx / 250.0), 0, 255).astype(np.uint8)  # 0 (left) .. 255 (right)
    rgba[:60, :, 3] = 0  # fully transparent band whose colour PIL's drop keeps
    save("alpha_333x500.png", Image.fromarray(rgba, mode="RGBA"))
    save("square_336x336.png", Image.fromarray(photo(336, 336, 4)))
    save("gray_64x48.png", Image.fromarray(photo(64, 48, 5)).convert("L"))
    save("tiny_20x30.png", Image.fromarray(photo(20, 30, 6)))
    # Over 2:1 tall: Pillow 13 shrinks it with the vertical pass first.
    save("tall_180x640.jpg", Image.fromarray(photo(180, 640, 13)), quality=85)
    # Decoding layouts (small).
    save("gray_48x40.jpg", Image.fromarray(photo(48, 40, 7)).convert("L"), quality=90)
    save("cmyk_40x30.jpg", Image.fromarray(photo(40, 30, 8)).convert("CMYK"), quality=90)
    save("progressive_64x48.jpg", Image.fromarray(photo(64, 48, 9)), quality=80, progressive=True)
    palette = Image.fromarray(photo(40, 30, 10)).quantize(colors=16, method=Image.Quantize.MEDIANCUT)
    save("palette_40x30.png", palette, transparency=bytes([0, 128] + [255] * 14))
    la = np.dstack([photo(40, 30, 11)[..., 1], np.tile(np.arange(0, 240, 6, dtype=np.uint8), (30, 1))])
    save("gray_alpha_40x30.png", Image.fromarray(la, mode="LA"))
    rgb16 = photo(40, 30, 12).astype(np.uint16) * 257 + np.random.default_rng(12).integers(0, 200, (30, 40, 3)).astype(np.uint16)
    images["rgb16_40x30.png"] = raw_png(rgb16, color_type=2, bit_depth=16)
    # 16-bit grayscale: PIL opens it as "I;16" and convert("RGB") saturates every value above 255
    # to white. We keep the high byte instead (the image as viewers show it); the manifest
    # records both.
    images["gray16_40x30.png"] = raw_png(rgb16[..., 1], color_type=0, bit_depth=16)
    return images


def llava_expand2square(image, background):
    """LLaVA's expand2square (llava/mm_utils.py), verbatim in behaviour."""
    width, height = image.size
    if width == height:
        return image
    if width > height:
        result = Image.new(image.mode, (width, width), background)
        result.paste(image, (0, (width - height) // 2))
        return result
    result = Image.new(image.mode, (height, height), background)
    result.paste(image, ((height - width) // 2, 0))
    return result


def run_case(name, image_name, data, mode, shortest, crop_h, crop_w, full_floats, store_crop):
    processor = Processor(size={"shortest_edge": shortest}, crop_size={"height": crop_h, "width": crop_w},
                          resample=3, do_convert_rgb=True, image_mean=CLIP_MEAN, image_std=CLIP_STD)
    image = Image.open(io.BytesIO(data))
    if mode == "pad":
        # LLaVA's training path: convert("RGB") (drops alpha), then pad with int(mean * 255).
        image = llava_expand2square(image.convert("RGB"), tuple(int(x * 255) for x in processor.image_mean))
    floats = processor(images=image, return_tensors="np")["pixel_values"][0]
    crop = processor(images=image, do_rescale=False, do_normalize=False, return_tensors="np")["pixel_values"][0]
    assert crop.dtype == np.uint8 and floats.dtype == np.float32 and floats.shape == (3, crop_h, crop_w)
    crop_hwc = np.ascontiguousarray(np.moveaxis(crop, 0, -1))
    case = {"name": name, "image": image_name, "mode": mode, "shortest_edge": shortest,
            "crop_height": crop_h, "crop_width": crop_w,
            "alpha": "drop" if mode == "pad" else transformers_alpha(),
            "crop_fnv1a64": fnv1a64_fast(crop_hwc)}
    (OUT / "cases").mkdir(exist_ok=True)
    if store_crop:
        Image.fromarray(crop_hwc).save(OUT / "cases" / f"{name}.crop.png", optimize=True)
        case["crop_png"] = f"cases/{name}.crop.png"
    if full_floats:
        (OUT / "cases" / f"{name}.f32").write_bytes(floats.astype("<f4").tobytes())
        case["floats"] = f"cases/{name}.f32"
    else:
        flat = floats.reshape(-1)
        rng = np.random.default_rng(int(fnv1a64(name.encode()), 16))
        index = np.sort(rng.choice(flat.size, size=SAMPLES_PER_CASE, replace=False)).astype("<u4")
        body = struct.pack("<I", index.size) + index.tobytes() + flat[index].astype("<f4").tobytes()
        (OUT / "cases" / f"{name}.samples").write_bytes(body)
        case["samples"] = f"cases/{name}.samples"
    return case


def transformers_alpha():
    """How this transformers version's convert_to_rgb treats alpha: 5.x composites onto white."""
    probe = Image.new("RGBA", (1, 1), (0, 0, 0, 0))
    rgb = transformers.image_transforms.convert_to_rgb(probe, return_numpy=True) \
        if int(transformers.__version__.split(".")[0]) >= 5 else np.array(probe.convert("RGB"))
    return "compositeOnWhite" if int(np.asarray(rgb).reshape(-1)[0]) == 255 else "drop"


def main():
    # PIL warns that palette + tRNS images "should be converted to RGBA"; that file exists to
    # test exactly that layout.
    warnings.filterwarnings("ignore", message="Palette images with Transparency")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "decoded").mkdir(exist_ok=True)
    images = make_images()
    manifest = {"generator": "Tests/Reference/make_image_fixtures.py",
                "versions": {"pillow": PIL.__version__, "transformers": transformers.__version__,
                             "numpy": np.__version__,
                             "libjpeg_turbo": PIL.features.version("libjpeg_turbo")},
                "clip_mean": CLIP_MEAN, "clip_std": CLIP_STD, "images": [], "cases": []}
    for name, data in images.items():
        (OUT / name).write_bytes(data)
        opened = Image.open(io.BytesIO(data))
        drop = np.asarray(opened.convert("RGB"))
        white = np.asarray(transformers.image_transforms.convert_to_rgb(Image.open(io.BytesIO(data)),
                                                                        return_numpy=True))
        entry = {"file": name, "pil_mode": opened.mode, "width": opened.size[0], "height": opened.size[1],
                 "drop_fnv1a64": fnv1a64_fast(drop), "white_fnv1a64": fnv1a64_fast(white)}
        if opened.mode == "I;16":
            entry["pil_saturates"] = True
            entry["high_byte_fnv1a64"] = fnv1a64_fast(np.repeat((np.asarray(opened) >> 8)[..., None], 3, axis=-1))
        if name.endswith(".jpg") and opened.size[0] * opened.size[1] <= 500 * 375:
            Image.fromarray(drop).save(OUT / "decoded" / f"{Path(name).stem}.png", optimize=True)
            entry["decoded_png"] = f"decoded/{Path(name).stem}.png"
        manifest["images"].append(entry)

    cases = manifest["cases"]
    main_images = ["photo_500x375.jpg", "photo_800x600.jpg", "alpha_333x500.png", "square_336x336.png",
                   "gray_64x48.png", "tiny_20x30.png", "tall_180x640.jpg"]
    for image_name in main_images:
        stem = Path(image_name).stem
        data = images[image_name]
        # LLaVA-1.5's real settings: crop 336 and pad 336.
        cases.append(run_case(f"{stem}.crop336", image_name, data, "crop", 336, 336, 336,
                              full_floats=False, store_crop=image_name != "square_336x336.png"))
        cases.append(run_case(f"{stem}.pad336", image_name, data, "pad", 336, 336, 336,
                              full_floats=False, store_crop=image_name in ("photo_500x375.jpg", "alpha_333x500.png")))
        # Small settings with the full float output.
        cases.append(run_case(f"{stem}.crop64", image_name, data, "crop", 64, 64, 64,
                              full_floats=True, store_crop=True))
        cases.append(run_case(f"{stem}.pad64", image_name, data, "pad", 64, 64, 64,
                              full_floats=False, store_crop=True))
    # Odd sizes (odd crop offsets) and a crop larger than the resized image (transformers pads
    # with zeros, split ceil-first).
    for image_name, shortest, crop_h, crop_w, tag in [
            ("photo_500x375.jpg", 65, 63, 61, "odd"), ("alpha_333x500.png", 65, 63, 61, "odd"),
            ("photo_500x375.jpg", 48, 71, 80, "croplarger"), ("tiny_20x30.png", 47, 90, 33, "croplarger")]:
        cases.append(run_case(f"{Path(image_name).stem}.{tag}", image_name, images[image_name], "crop",
                              shortest, crop_h, crop_w, full_floats=True, store_crop=True))

    # PIL's resize on its own, for sizes the CLIP pipeline rarely produces: one axis unchanged
    # (a single pass), strong downscales, non-integer upscales.
    photo_rgb = Image.open(io.BytesIO(images["photo_500x375.jpg"])).convert("RGB")
    tiny_rgb = Image.open(io.BytesIO(images["tiny_20x30.png"])).convert("RGB")
    tall_rgb = Image.open(io.BytesIO(images["tall_180x640.jpg"])).convert("RGB")
    manifest["resizes"] = [
        {"image": image_name, "width": w, "height": h,
         "fnv1a64": fnv1a64_fast(np.asarray(source.resize((w, h), Image.BICUBIC)))}
        for image_name, source in [("photo_500x375.jpg", photo_rgb), ("tiny_20x30.png", tiny_rgb),
                                   ("tall_180x640.jpg", tall_rgb)]
        for w, h in [(source.size[0], 200), (300, source.size[1]), (7, 5), (123, 457), (1000, 61), (1, 1),
                     (64, 227), (100, 300), (170, 610)]]

    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {len(manifest['images'])} images, {len(cases)} cases, {total / 1e6:.2f} MB under {OUT}")


if __name__ == "__main__":
    sys.exit(main())
