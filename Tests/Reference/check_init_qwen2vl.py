"""Checks a Qwen2-VL directory made by `discern init-model --preset tiny-qwen2vl` against the Python libraries.

Run (from the repository root):
    DISCERN_INIT_MODEL_CHECK=/tmp/initcheck swift test --disable-swift-testing \
        --filter InitQwen2VLTests/testWritesInputsForThePythonCheck
    Tests/Reference/.venv/bin/python Tests/Reference/check_init_qwen2vl.py /tmp/initcheck [--write-fixture]

The Swift test writes /tmp/initcheck/qwen2vl/model (a tiny Qwen2-VL, seed 7), image-*.png (three synthetic 32 x 32
images and two sizes that smart_resize changes) and discern.json (texts with Discern's token ids, captions, and
the Embedder's L2-normalised image and text embeddings: E5-V prompts, no adapters).

Checks, each failing the script with a non-zero exit:
  1. `tokenizers.Tokenizer.from_file` and transformers' AutoTokenizer give Discern's ids for every text
     (add_special_tokens=True; Qwen2 adds nothing);
  2. Qwen2VLForConditionalGeneration.from_pretrained loads with no missing, unexpected or mismatched keys, and
     every parameter equals the file's tensor;
  3. AutoImageProcessor (Qwen2VLImageProcessor, PIL backend) reads the PNG files and Qwen2VLModel in float32 gives
     Discern's embeddings: the last hidden state at the prompt's last token, L2-normalised, one prompt at a time
     (max abs difference below EMBEDDING_TOLERANCE).
With --write-fixture it also writes Tests/ModelsTests/Fixtures/init-model/python_ids_qwen2vl.json (the tokenizer
file and the Python ids), which InitQwen2VLTests compares against on every run.
"""

import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file
from tokenizers import Tokenizer
from transformers import AutoImageProcessor, AutoTokenizer, Qwen2VLForConditionalGeneration

FIXTURE = Path(__file__).resolve().parent.parent / "ModelsTests" / "Fixtures" / "init-model" / "python_ids_qwen2vl.json"
IMAGE_TEMPLATE = "<image>\nSummary above image in one word:"  # make_model_fixtures.py's, Discern's defaults
TEXT_TEMPLATE = "<sent>\nSummary above sentence in one word:"
# Float32 against float32 through 3 + 4 small layers on unit-norm vectors, as EmbedTests measures (~3e-7 there).
EMBEDDING_TOLERANCE = 1e-5


def hub_key(key):
    """transformers 5.x in-memory names -> the hub layout the file uses."""
    if key.startswith("model.language_model."):
        return "model." + key[len("model.language_model."):]
    if key.startswith("model.visual."):
        return key[len("model."):]
    return key


def check_ids(model_dir, discern, failures):
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    auto = AutoTokenizer.from_pretrained(str(model_dir))
    python_ids = []
    for text, ids in zip(discern["texts"], discern["ids"]):
        expected = tokenizer.encode(text, add_special_tokens=True).ids
        python_ids.append(expected)
        if expected != ids:
            failures.append(f"tokenizers ids differ for {text!r}: python {expected}, discern {ids}")
        if auto(text, add_special_tokens=True)["input_ids"] != expected:
            failures.append(f"AutoTokenizer ({type(auto).__name__}) differs from tokenizers for {text!r}")
        if tokenizer.decode(expected, skip_special_tokens=False) != text:
            failures.append(f"tokenizers does not decode {text!r} back")
    print(f"token ids: {len(discern['texts'])} texts compared, {type(auto).__name__}, "
          f"vocab {tokenizer.get_vocab_size(with_added_tokens=True)}")
    return tokenizer, python_ids


def load_strictly(model_dir, failures):
    model, info = Qwen2VLForConditionalGeneration.from_pretrained(str(model_dir), output_loading_info=True,
                                                                  dtype=torch.float32)
    model.eval()
    for kind in ["missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"]:
        if info.get(kind):
            failures.append(f"from_pretrained {kind}: {info[kind]}")
    state = {hub_key(k): v for k, v in model.state_dict().items()}
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    weights = load_file(str(model_dir / "model.safetensors"))
    if set(state) != set(weights):
        failures.append(f"parameters differ from the file: {sorted(set(state) ^ set(weights))[:10]}")
    for name, tensor in weights.items():
        if name in state and not torch.equal(state[name], tensor):
            failures.append(f"{name}: loaded value differs from the file")
    print(f"load: {len(weights)} tensors, {sum(p.numel() for p in model.parameters())} parameters, "
          f"loading info {dict((k, len(v)) for k, v in info.items())}")
    return model


def last_hidden(model, ids, **vision):
    ids = torch.tensor([ids])
    if vision:  # which tokens are image tokens, for the M-RoPE positions (the processor's mm_token_type_ids)
        vision["mm_token_type_ids"] = (ids == model.config.image_token_id).int()
    with torch.no_grad():
        model.model.rope_deltas = None  # a stale cache would shift the next prompt's positions
        out = model.model(input_ids=ids, **vision).last_hidden_state
    return F.normalize(out[0, -1], dim=-1)


def embeddings(model, tokenizer, folder, discern):
    processor = AutoImageProcessor.from_pretrained(str(folder / "model"), backend="pil")
    config, merge = model.config, model.config.vision_config.spatial_merge_size
    images, grids = [], []
    for file in discern["images"]:
        batch = processor(images=[Image.open(folder / file).convert("RGB")], return_tensors="pt")
        grid = batch["image_grid_thw"]
        grids.append(grid[0].tolist())
        tokens = int(grid.prod()) // merge ** 2
        prompt = IMAGE_TEMPLATE.replace("<image>", "<|vision_start|>" + "<|image_pad|>" * tokens + "<|vision_end|>")
        ids = tokenizer.encode(prompt).ids
        assert ids.count(config.image_token_id) == tokens
        images.append(last_hidden(model, ids, pixel_values=batch["pixel_values"], image_grid_thw=grid))
    texts = [last_hidden(model, tokenizer.encode(TEXT_TEMPLATE.replace("<sent>", c)).ids) for c in discern["captions"]]
    print(f"images: grids {grids}")
    return torch.stack(images), torch.stack(texts)


def main():
    folder = Path(sys.argv[1]) / "qwen2vl"
    write_fixture = "--write-fixture" in sys.argv[2:]
    model_dir = folder / "model"
    discern = json.loads((folder / "discern.json").read_text())
    failures = []

    tokenizer, python_ids = check_ids(model_dir, discern, failures)
    model = load_strictly(model_dir, failures)
    images, texts = embeddings(model, tokenizer, folder, discern)
    for name, theirs in [("image", images), ("text", texts)]:
        ours = torch.tensor(discern[f"{name}_embeddings"], dtype=torch.float32).reshape(theirs.shape)
        error = (ours - theirs).abs().max().item()
        print(f"embeddings: {len(theirs)} {name}s, max abs difference {error:.2e}")
        if not error <= EMBEDDING_TOLERANCE:
            failures.append(f"{name} embeddings differ by {error}")

    if failures:
        print("FAILED:")
        for failure in failures:
            print("  " + failure)
        sys.exit(1)
    if write_fixture:
        fixture = {"tokenizer_json": (model_dir / "tokenizer.json").read_text(), "texts": discern["texts"], "ids": python_ids}
        FIXTURE.write_text(json.dumps(fixture, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
        print(f"wrote {FIXTURE}")
    print("OK")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
