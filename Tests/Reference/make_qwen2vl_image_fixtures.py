"""Writes Tests/ImagesTests/Fixtures/qwen2vl/: reference outputs of transformers' Qwen2VLImageProcessorPil
(the PIL backend, bicubic) for the Swift port in Sources/Images (Qwen2VLImageProcessor, smartResize).

What it writes (run with Tests/Reference/.venv/bin/python; deterministic: a rerun gives identical files):
    configs/<name>/preprocessor_config.json   processor configs: three written by transformers' own
                                              save_pretrained (size: {shortest_edge, longest_edge}), one in the
                                              older hub layout (top-level min_pixels / max_pixels, no size)
    images/<name>.png / .jpg                  small inputs for sizes the CLIP fixtures do not have (the CLIP
                                              fixtures' own images, one level up, are inputs too)
    pixel_values.safetensors                  per case: `<case>.pixel_values` F32 (rows, columns), the whole
                                              tensor, for small cases; or `<case>.index` I32 (n,) into the
                                              flattened tensor and `<case>.values` F32 (n,) for larger ones
    manifest.json                             versions, every case (image, config, smart-resized size, the
                                              FNV-1a 64 of the uint8 image after resize, image_grid_thw, the
                                              tensor's shape) and the images transformers refuses
    smart_resize.json                         transformers' smart_resize on 684 (height, width, factor, min, max)
                                              cases: random ones, round-half-to-even ties, the 200:1 boundary and 100
                                              where the Double operation order decides floor / ceil

The min/max pixel counts are small (56*56 .. 28*28*64) so the tensors stay small; the layout and the
arithmetic are the same at Qwen2-VL's real 28*28*1280.
"""
import io
import json
import math
import sys
from pathlib import Path

import numpy as np
import PIL
import torch
import transformers
from PIL import Image
from safetensors.torch import save_file
from transformers import Qwen2VLImageProcessorPil as Processor
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

from make_image_fixtures import fnv1a64, fnv1a64_fast, photo

IMAGES_FIXTURES = Path(__file__).resolve().parents[1] / "ImagesTests" / "Fixtures"
OUT = IMAGES_FIXTURES / "qwen2vl"
SAMPLES_PER_CASE = 1024
# Above this many values a case stores samples instead of the whole tensor (75 KB of float32).
FULL_TENSOR_LIMIT = 20_000

# name -> processor keyword arguments. "older" is written by hand in the hub's older layout.
CONFIGS = {
    # Qwen2-VL's real geometry (patch 14, merge 2, two frames), CLIP mean/std, small pixel budget.
    "qwen2vl": dict(patch_size=14, merge_size=2, temporal_patch_size=2, min_pixels=56 * 56, max_pixels=28 * 28 * 64),
    # The same geometry with a tiny budget: whole tensors stay small.
    "tiny": dict(patch_size=14, merge_size=2, temporal_patch_size=2, min_pixels=28 * 28, max_pixels=28 * 28 * 4),
    # Another geometry: patch 8, merge 3, three frames, other mean/std.
    "odd": dict(patch_size=8, merge_size=3, temporal_patch_size=3, min_pixels=24 * 24 * 2, max_pixels=24 * 24 * 6,
                image_mean=[0.5, 0.4, 0.3], image_std=[0.2, 0.25, 0.3]),
}
OLDER = {"name": "older", "patch_size": 8, "merge_size": 2, "temporal_patch_size": 1,
         "min_pixels": 16 * 16 * 2, "max_pixels": 16 * 16 * 10,
         "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711]}

# New inputs: (file name, width, height, seed). Chosen for what smart_resize does with them.
NEW_IMAGES = [
    ("min_56x56.png", 56, 56, 21),          # exactly min_pixels of "qwen2vl", already a multiple of 28
    ("tiny_10x10.png", 10, 10, 22),         # far below min_pixels: round gives 0 x 0, the ceil branch
    ("half_70x98.png", 70, 98, 23),         # 70 / 28 = 2.5 -> 2, 98 / 28 = 3.5 -> 4 (ties to even)
    ("half_126x42.png", 126, 42, 24),       # 4.5 -> 4, 1.5 -> 2
    ("half_14x250.png", 14, 250, 25),       # 0.5 -> 0: the area is 0, below min, so the ceil branch
    ("line_1x150.png", 1, 150, 26),         # extreme aspect ratios below min_pixels
    ("line_150x1.png", 150, 1, 27),
    ("ratio_1x200.png", 1, 200, 28),        # exactly 200:1, still accepted
    ("wide_3000x20.jpg", 3000, 20, 29),     # above max_pixels, 150:1
    ("tall_20x3000.jpg", 20, 3000, 30),
    ("odd_301x199.jpg", 301, 199, 31),
    ("big_640x480.jpg", 640, 480, 32),      # above max_pixels of every config
    ("ratio_1x201.png", 1, 201, 33),        # refused: 201:1
    ("ratio_3000x14.jpg", 3000, 14, 34),    # refused: 214.3:1
]
# Inputs of the CLIP fixtures (one folder up), reused here.
CLIP_IMAGES = ["photo_500x375.jpg", "photo_800x600.jpg", "alpha_333x500.png", "square_336x336.png",
               "gray_64x48.png", "tiny_20x30.png", "tall_180x640.jpg", "cmyk_40x30.jpg"]
REFUSED = {"ratio_1x201.png", "ratio_3000x14.jpg"}

# (image, config) pairs; every image at least once with "qwen2vl", some with the others.
CASES = ([(image, "qwen2vl") for image, *_ in NEW_IMAGES if image not in REFUSED]
         + [(image, "qwen2vl") for image in CLIP_IMAGES]
         + [(image, "tiny") for image in ["photo_500x375.jpg", "half_70x98.png", "line_1x150.png", "tall_20x3000.jpg",
                                          "alpha_333x500.png"]]
         + [(image, "odd") for image in ["photo_800x600.jpg", "odd_301x199.jpg", "wide_3000x20.jpg", "tiny_10x10.png"]]
         + [(image, "older") for image in ["tall_180x640.jpg", "half_126x42.png", "gray_64x48.png"]])


def write_images():
    """name -> path of every input image; writes the new ones under OUT/images."""
    (OUT / "images").mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, width, height, seed in NEW_IMAGES:
        image = Image.fromarray(photo(width, height, seed))
        path = OUT / "images" / name
        if name.endswith(".jpg"):
            image.save(path, quality=85)
        else:
            image.save(path, optimize=True)
        paths[name] = path
    for name in CLIP_IMAGES:
        paths[name] = IMAGES_FIXTURES / name
    return paths


def write_configs():
    """name -> a processor loaded back from the preprocessor_config.json written for it."""
    processors = {}
    for name, kwargs in CONFIGS.items():
        folder = OUT / "configs" / name
        Processor(**kwargs).save_pretrained(folder)
        processors[name] = Processor.from_pretrained(folder)
    folder = OUT / "configs" / OLDER["name"]
    folder.mkdir(parents=True, exist_ok=True)
    older = {key: value for key, value in OLDER.items() if key != "name"}
    older |= {"image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2VLProcessor"}
    (folder / "preprocessor_config.json").write_text(json.dumps(older, indent=2) + "\n")
    processors[OLDER["name"]] = Processor.from_pretrained(folder)
    return processors


def resized_uint8(processor, image):
    """The processor's own resize of the RGB image, uint8 (height, width, 3), before rescaling."""
    chw = processor.process_image(image, do_convert_rgb=True)
    factor = processor.patch_size * processor.merge_size
    resized = processor.resize(chw, size=processor.size, resample=processor.resample, factor=factor)
    assert resized.dtype == np.uint8
    return np.ascontiguousarray(np.moveaxis(resized, 0, -1))


def run_case(processor, config_name, image_name, path, tensors):
    name = f"{Path(image_name).stem}.{config_name}"
    output = processor(images=Image.open(path), return_tensors="np")
    pixel_values, grid = output["pixel_values"], output["image_grid_thw"]
    assert pixel_values.dtype == np.float32 and grid.shape == (1, 3)
    resized = resized_uint8(processor, Image.open(path))
    # The resize above is the one the processor applied: its un-normalised output is those bytes.
    raw = processor(images=Image.open(path), do_rescale=False, do_normalize=False, return_tensors="np")["pixel_values"]
    patches, _, _ = processor.patchify(np.moveaxis(resized, -1, 0), patch_size=processor.patch_size,
                                       merge_size=processor.merge_size,
                                       temporal_patch_size=processor.temporal_patch_size)
    assert np.array_equal(patches, raw), name
    case = {"name": name, "image": str(path.relative_to(IMAGES_FIXTURES)), "config": config_name,
            "source_width": Image.open(path).size[0], "source_height": Image.open(path).size[1],
            "resized_width": int(resized.shape[1]), "resized_height": int(resized.shape[0]),
            "resized_fnv1a64": fnv1a64_fast(resized), "image_grid_thw": [int(v) for v in grid[0]],
            "rows": int(pixel_values.shape[0]), "columns": int(pixel_values.shape[1])}
    if pixel_values.size <= FULL_TENSOR_LIMIT:
        tensors[f"{name}.pixel_values"] = torch.from_numpy(pixel_values.copy())
        case["stored"] = "full"
    else:
        flat = pixel_values.reshape(-1)
        rng = np.random.default_rng(int(fnv1a64(name.encode()), 16))
        index = np.sort(rng.choice(flat.size, size=SAMPLES_PER_CASE, replace=False))
        tensors[f"{name}.index"] = torch.from_numpy(index.astype(np.int32))
        tensors[f"{name}.values"] = torch.from_numpy(flat[index].copy())
        case["stored"] = "samples"
    return case


def refused_case(processor, config_name, image_name, path):
    try:
        processor(images=Image.open(path), return_tensors="np")
    except ValueError as error:
        width, height = Image.open(path).size
        return {"image": str(path.relative_to(IMAGES_FIXTURES)), "config": config_name, "width": width,
                "height": height, "transformers_message": str(error)}
    raise AssertionError(f"transformers accepted {image_name}")


def other_orders(height, width, factor, minimum, maximum):
    """smart_resize's rescaling with the same maths in other Double operation orders (sqrt(a) / sqrt(b)
    for sqrt(a / b), side / (beta * factor) for side / beta / factor), only to pick test cases."""
    results = set()
    for split_sqrt, grouped in [(True, False), (False, True)]:
        if maximum < round(height / factor) * factor * round(width / factor) * factor:
            beta = math.sqrt(height * width) / math.sqrt(maximum) if split_sqrt else math.sqrt(height * width / maximum)
            scaled = [side / (beta * factor) if grouped else side / beta / factor for side in (height, width)]
            results.add(tuple(max(factor, math.floor(v) * factor) for v in scaled))
        else:
            beta = math.sqrt(minimum) / math.sqrt(height * width) if split_sqrt else math.sqrt(minimum / (height * width))
            scaled = [side * (beta / factor) if grouped else side * beta / factor for side in (height, width)]
            results.add(tuple(math.ceil(v) * factor for v in scaled))
    return results


def order_sensitive_cases(rng, count):
    """Sizes whose rescaled side is exactly a whole number of factors in exact arithmetic
    (max or min = width factor^2 n^2 / height), where floor / ceil see the last bit of the Double
    operations: kept only where another operation order gives another size."""
    cases = []
    while len(cases) < count:
        factor = int(rng.choice([28, 32, 16, 14]))
        height, n = int(rng.integers(1, 3000)), int(rng.integers(1, 80))
        width = int(rng.integers(max(1, height // 150), min(height * 150, 6000) + 1))
        pixels, remainder = divmod(width * factor * factor * n * n, height)
        if remainder or max(height, width) / min(height, width) > 200:
            continue
        for minimum, maximum in [(1, pixels), (pixels, 10 ** 12)]:
            hard = round(height / factor) * factor * round(width / factor) * factor
            if (maximum == pixels and hard > maximum) or (minimum == pixels and hard < minimum):
                expected = tuple(smart_resize(height, width, factor=factor, min_pixels=minimum, max_pixels=maximum))
                if other_orders(height, width, factor, minimum, maximum) - {expected}:
                    cases.append((height, width, factor, minimum, maximum))
    return cases[:count]


def smart_resize_table():
    """transformers' smart_resize on random and hand-picked sizes; an error is recorded as null."""
    rng = np.random.default_rng(20240917)
    budgets = [(56 * 56, 28 * 28 * 1280), (56 * 56, 28 * 28 * 64), (28 * 28, 28 * 28 * 4), (4 * 28 * 28, 16384 * 28 * 28),
               (3136, 3136), (1000, 5000), (1, 10 ** 9)]
    cases = []
    for _ in range(500):
        height, width = (int(v) for v in np.exp(rng.uniform(0, np.log(6000), 2)).round().clip(1, None))
        factor = int(rng.choice([28, 28, 28, 32, 16, 14, 24, 56]))
        minimum, maximum = budgets[int(rng.integers(len(budgets)))]
        cases.append((height, width, factor, minimum, maximum))
    for factor in (28, 32, 16):
        for k in range(12):
            tie = factor * k + factor // 2  # exactly halfway between two multiples
            cases.append((tie, factor * (k + 3), factor, 56 * 56, 28 * 28 * 1280))
            cases.append((factor * (k + 1), tie, factor, 56 * 56, 28 * 28 * 1280))
    for height, width in [(1, 200), (200, 1), (1, 201), (2, 401), (2, 400), (3000, 15), (15, 3000), (3000, 14), (1, 1),
                          (6000, 6000), (4000, 3000), (12, 2400)]:
        cases.append((height, width, 28, 56 * 56, 28 * 28 * 1280))
    cases += order_sensitive_cases(rng, 100)
    table = []
    for height, width, factor, minimum, maximum in cases:
        try:
            result = list(smart_resize(height, width, factor=factor, min_pixels=minimum, max_pixels=maximum))
        except ValueError:
            result = None
        table.append({"height": height, "width": width, "factor": factor, "min_pixels": minimum,
                      "max_pixels": maximum, "result": result})
    return table


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    paths = write_images()
    processors = write_configs()
    tensors, cases = {}, []
    for image_name, config_name in CASES:
        cases.append(run_case(processors[config_name], config_name, image_name, paths[image_name], tensors))
    refused = [refused_case(processors["qwen2vl"], "qwen2vl", name, paths[name]) for name in sorted(REFUSED)]
    save_file(tensors, str(OUT / "pixel_values.safetensors"), metadata={"generator": "make_qwen2vl_image_fixtures.py"})
    manifest = {"generator": "Tests/Reference/make_qwen2vl_image_fixtures.py",
                "versions": {"transformers": transformers.__version__, "pillow": PIL.__version__,
                             "numpy": np.__version__},
                "cases": cases, "refused": refused}
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    (OUT / "smart_resize.json").write_text(json.dumps(smart_resize_table(), separators=(",", ":")).replace("},{", "},\n{") + "\n")
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {len(cases)} cases, {len(refused)} refused images, {total / 1e6:.2f} MB under {OUT}")


if __name__ == "__main__":
    sys.exit(main())
