"""Writes Tests/DatasetsTests/Fixtures/qwen2vl-data/: a small `discern prepare` manifest of PNGs of several
sizes, and what transformers' Qwen2VLImageProcessorPil (loaded from the Qwen2-VL test model directory
Tests/ModelsTests/Fixtures/qwen2vl-a) makes of each image: the smart-resized size and the FNV-1a 64 of the
uint8 image after its resize (the bytes a format 3 shard stores), and the image it refuses.

What it writes (run with Tests/Reference/.venv/bin/python; deterministic: a rerun gives identical files):
    images/<name>.png     photo-like inputs (make_image_fixtures.photo), sizes chosen for smart_resize's branches
    manifest.jsonl        one line per image, the last one the image transformers refuses (aspect ratio 201:1)
    expected.json         versions, per accepted line: image, line number, source and resized size, resized_fnv1a64;
                          the refused line with transformers' message
"""
import json
import sys
from pathlib import Path

import numpy as np
import PIL
import transformers
from PIL import Image
from transformers import Qwen2VLImageProcessorPil as Processor

from make_image_fixtures import fnv1a64_fast, photo
from make_qwen2vl_image_fixtures import resized_uint8

TESTS = Path(__file__).resolve().parents[1]
MODEL = TESTS / "ModelsTests" / "Fixtures" / "qwen2vl-a"
OUT = TESTS / "DatasetsTests" / "Fixtures" / "qwen2vl-data"

# (file name, width, height, seed); qwen2vl-a: factor 4, 64...400 pixels.
IMAGES = [
    ("small_10x7.png", 10, 7, 41),      # 10 / 4 = 2.5 -> 2 (ties to even), 7 / 4 -> 2: 8 x 8 = 64 pixels, kept
    ("tiny_5x3.png", 5, 3, 42),         # rounds to 4 x 4 = 16 < 64: the ceil branch
    ("wide_30x18.png", 30, 18, 43),     # 7.5 -> 8, 4.5 -> 4 (ties to even): 32 x 16 = 512 > 400, the floor branch
    ("tall_9x26.png", 9, 26, 44),       # 8 x 24 = 192
    ("big_64x48.png", 64, 48, 45),      # far above 400 pixels
    ("line_150x1.png", 150, 1, 46),     # 150:1 below min_pixels
]
REFUSED = ("refused_201x1.png", 201, 1, 47)  # 201:1: transformers raises


def main():
    (OUT / "images").mkdir(parents=True, exist_ok=True)
    processor = Processor.from_pretrained(MODEL)
    lines, cases, refused = [], [], None
    for number, (name, width, height, seed) in enumerate(IMAGES + [REFUSED], start=1):
        path = OUT / "images" / name
        Image.fromarray(photo(width, height, seed)).save(path, optimize=True)
        lines.append(json.dumps({"image": f"images/{name}", "short": f"picture {number}", "long": f"a long caption of picture {number}"}))
        if (name, width, height, seed) == REFUSED:
            try:
                processor(images=Image.open(path), return_tensors="np")
            except ValueError as error:
                refused = {"image": f"images/{name}", "line": number, "transformers_message": str(error)}
                continue
            raise AssertionError(f"transformers accepted {name}")
        resized = resized_uint8(processor, Image.open(path))
        cases.append({"image": f"images/{name}", "line": number, "source_width": width, "source_height": height,
                      "resized_width": int(resized.shape[1]), "resized_height": int(resized.shape[0]),
                      "resized_fnv1a64": fnv1a64_fast(resized)})
    (OUT / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    expected = {"generator": "Tests/Reference/make_qwen2vl_data_fixtures.py",
                "model": "Tests/ModelsTests/Fixtures/qwen2vl-a",
                "versions": {"transformers": transformers.__version__, "pillow": PIL.__version__, "numpy": np.__version__},
                "cases": cases, "refused": refused}
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {len(cases)} cases and 1 refused image, {total / 1e3:.1f} kB under {OUT}")


if __name__ == "__main__":
    sys.exit(main())
