"""Interop check, run by ./launch/test: Discern's checkpoints and exports used from the Python stack,
for each model family (the tiny LLaVA "gqa" and the tiny Qwen2-VL "qwen2vl-a"):

  1. trains a few steps of LoRA + soft prompts with `discern train`
     (data made with `discern prepare` from generated PNGs);
  2. reads the checkpoint with h5py and checks every documented field;
  3. exports it (`discern export --merge`);
  4. loads the LoRA adapter with PEFT asserting ZERO missing or unexpected adapter keys, every
     file tensor placed by PeftModel.from_pretrained, LoRA on exactly the LLM's 14 projections and
     non-zero trained B matrices;
  5. runs the export's own example.py (as the README shows it) and compares its image and text
     embeddings with `discern embed --adapters` (max abs <= 1e-4);
  6. does the same with the merged model through plain transformers (no PEFT).
Usage: python check_interop.py PATH/TO/discern WORK_DIR
"""

import json
import re
import runpy
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "ModelsTests" / "Fixtures"
LLAVA = FIXTURES / "gqa"
# Qwen2-VL trains on the same 16 x 16 shards: its image processor smart-resizes each image.
QWEN2VL = FIXTURES / "qwen2vl-a"
# Measured differences are ~1e-6 (float32, different GEMM kernels and summation orders); 1e-4
# leaves room for those on other CPUs and still fails on a missing or misnamed adapter tensor.
TOLERANCE = 1e-4
CAPTIONS = ["a red circle left of a blue square", "two shapes", "a small green triangle"]


def run(*arguments):
    result = subprocess.run([str(a) for a in arguments], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"FAILED: {' '.join(map(str, arguments))}\n{result.stdout}\n{result.stderr}")
    return result.stdout


PASSED = []


def check(condition, message):
    if not condition:
        print(f"interop: {len(PASSED)} passed, 1 failed")
        sys.exit(f"FAILED: {message}")
    PASSED.append(message)
    print(f"ok: {message}")


def make_data(work):
    rng = np.random.default_rng(0)
    lines = []
    for i in range(18):
        pixels = rng.integers(0, 256, size=(20 + i % 5, 16 + i % 3, 3), dtype=np.uint8)
        path = work / f"img{i}.png"
        Image.fromarray(pixels).save(path)
        lines.append(json.dumps({"image": path.name, "short": f"{CAPTIONS[i % 3]} {i}",
                                 "long": f"A scene number {i}. {CAPTIONS[(i + 1) % 3].capitalize()}."}))
    (work / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return work / "img0.png"


def main():
    discern, work = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    work.mkdir(parents=True, exist_ok=True)
    image = make_data(work)
    run(discern, "prepare", "--manifest", work / "manifest.jsonl", "--output", work / "data", "--image-size", "16")
    from transformers import LlavaForConditionalGeneration, Qwen2VLForConditionalGeneration
    for name, model, model_class in [("llava", LLAVA, LlavaForConditionalGeneration),
                                     ("qwen2vl", QWEN2VL, Qwen2VLForConditionalGeneration)]:
        check_family(discern, work / name, work / "data", image, model, model_class)
    print(f"interop: {len(PASSED)} passed, 0 failed")


def check_family(discern, work, data, image, model, model_class):
    """Train, read, export, load with PEFT, and compare example.py and the merged model with discern embed."""
    family = model.name
    run(discern, "train", "--model", model, "--data", data, "--run-dir", work / "run", "--steps", "3",
        "--global-batch", "6", "--set", "lora.rank=4", "--set", "optimizer.lr=5e-3", "--set", "optimizer.warmup=0")
    checkpoint = work / "run" / "step-00000003.h5"

    # 2. h5py reads every documented field.
    with h5py.File(checkpoint, "r") as f:
        attrs = dict(f.attrs)
        check(attrs["complete"] == 1 and attrs["format_version"] == 2 and attrs["step"] == 3, f"{family}: checkpoint attributes via h5py")
        build = {key: attrs[key] for key in ("build_version", "build_commit", "build_date", "build_configuration", "build_compiler")}
        check(all(isinstance(value, str) and value for value in build.values()) and build["build_configuration"].endswith("Swift runtime"),
              f"{family}: the checkpoint names the binary that wrote it ({build['build_version']}, {build['build_configuration']})")
        names = attrs["parameter_names"].split("\n")
        check(all(f"parameters/{n}" in f and f"optimizer/first_moment/{n}" in f and f"optimizer/second_moment/{n}" in f for n in names),
              f"{family}: checkpoint holds {len(names)} parameters with both AdamW moments")
        check("soft_prompts.image" in names and "logit_scale" in names, f"{family}: soft prompts and the logit scale are checkpointed")
        config = f["config"][()].decode()
        check("lora:" in config and "rank: 4" in config, f"{family}: the resolved YAML configuration is stored")

    # 3. Export.
    export = work / "export"
    run(discern, "export", "--checkpoint", checkpoint, "--output", export, "--merge")
    readme = (export / "README.md").read_text()
    example = (export / "example.py").read_text()
    check(example.strip() in readme, f"{family}: README.md shows example.py verbatim")

    # 4. PEFT loads the adapter with zero missing or unexpected adapter keys, and with the file's values.
    check_peft_load(family, model, model_class, export)

    # 5. The README's example.py against `discern embed --adapters`.
    captions = work / "captions.txt"
    captions.write_text("\n".join(CAPTIONS) + "\n")
    run(discern, "embed", "--model", model, "--adapters", export, "--images", image, "--texts", captions, "--output", work / "emb.h5")
    with h5py.File(work / "emb.h5", "r") as f:
        discern_images, discern_texts = f["image_embeddings"][:], f["text_embeddings"][:]
    error = embedding_error(export / "example.py", image, discern_images, discern_texts)
    check(error <= TOLERANCE, f"{family}: transformers + PEFT + spliced soft prompts == discern embed --adapters (max abs {error:.2e})")

    # 6. The merged model through plain transformers (the example with BASE = merged/, no PEFT).
    merged_source = example.replace(f'BASE = {json.dumps(str(model))}', f'BASE = {json.dumps(str(export / "merged"))}')
    merged_source = merged_source.replace("HAS_LORA = True", "HAS_LORA = False")
    check(f'BASE = {json.dumps(str(export / "merged"))}' in merged_source and "HAS_LORA = False" in merged_source,
          f"{family}: example.py names its base model and LoRA switch as documented")
    merged_file = export / "example_merged.py"
    merged_file.write_text(merged_source)
    error = embedding_error(merged_file, image, discern_images, discern_texts)
    check(error <= TOLERANCE, f"{family}: merged model through plain transformers == discern embed --adapters (max abs {error:.2e})")


def check_peft_load(family, model, model_class, export):
    from peft import PeftModel, set_peft_model_state_dict
    from safetensors.torch import load_file
    base = model_class.from_pretrained(str(model), dtype=torch.float32)
    peft_model = PeftModel.from_pretrained(base, str(export / "lora"))
    adapter = load_file(str(export / "lora" / "adapter_model.safetensors"))
    result = set_peft_model_state_dict(peft_model, adapter)
    missing = [k for k in result.missing_keys if "lora_" in k]
    check(not missing and not result.unexpected_keys, f"{family}: PEFT loads {len(adapter)} adapter tensors, 0 missing, 0 unexpected")
    # from_pretrained itself must have put the file's values in place: PEFT skips keys it cannot
    # place with only a warning, so the tensors are compared, not just counted.
    fresh = PeftModel.from_pretrained(model_class.from_pretrained(str(model), dtype=torch.float32), str(export / "lora"))
    # Matched by value (random A, trained B: no two alike), as LLaVA's file names are not its module names.
    loaded = [value for name, value in fresh.state_dict().items() if "lora_" in name]
    placed = sum(any(v.shape == value.shape and torch.equal(v, value) for v in loaded) for value in adapter.values())
    check(placed == len(adapter), f"{family}: PeftModel.from_pretrained places all {len(adapter)} adapter tensors ({placed} placed)")
    lora_modules = [n for n, m in peft_model.named_modules() if hasattr(m, "lora_A") and "default" in getattr(m, "lora_A", {})]
    check(len(lora_modules) == 14 and all("language_model" in n for n in lora_modules),
          f"{family}: LoRA attached to exactly the 14 LLM projections ({len(lora_modules)} modules)")
    b_norm = sum(float(v.abs().sum()) for k, v in adapter.items() if "lora_B" in k)
    check(b_norm > 0, f"{family}: trained LoRA B matrices are non-zero")


def embedding_error(example, image, discern_images, discern_texts):
    """Runs an export's example.py and returns its largest difference from discern's embeddings."""
    namespace = runpy.run_path(str(example), run_name="interop")
    python_images = namespace["embed_image"](str(image)).numpy()
    python_texts = np.concatenate([namespace["embed_text"](c).numpy() for c in CAPTIONS])
    return max(np.abs(python_images - discern_images).max(), np.abs(python_texts - discern_texts).max())


if __name__ == "__main__":
    main()
