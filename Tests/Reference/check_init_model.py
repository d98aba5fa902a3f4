"""Checks a model directory made by `discern init-model` against the Python libraries.

Run (from the repository root):
    DISCERN_INIT_MODEL_CHECK=/tmp/initcheck swift test --disable-swift-testing \
        --filter InitModelTests/testWritesInputsForThePythonCheck
    Tests/Reference/.venv/bin/python Tests/Reference/check_init_model.py /tmp/initcheck [--write-fixture]

The Swift test writes /tmp/initcheck/model (a tiny model, seed 7) and /tmp/initcheck/discern.json
(texts with Discern's token ids, three synthetic images as CLIP-normalised pixels, their short captions,
and Discern's final hidden states at the summary position of the E5-V image and text prompts).

Checks, each failing the script with a non-zero exit:
  1. `tokenizers.Tokenizer.from_file` and transformers' PreTrainedTokenizerFast(tokenizer_file=...)
     give Discern's ids for every text (add_special_tokens=True);
  2. LlavaForConditionalGeneration.from_pretrained loads with no missing, unexpected or mismatched keys,
     and every parameter equals the file's tensor (a tower left at random init would differ);
  3. a forward with images runs, and the summary hidden states (after the final RMSNorm) match Discern's
     (float32 both sides, max abs difference below 1e-4).
With --write-fixture it also writes Tests/ModelsTests/Fixtures/init-model/python_ids.json (the tokenizer
file and the Python ids), which InitModelTests compares against on every run.
"""

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer
from transformers import LlavaForConditionalGeneration, PreTrainedTokenizerFast

FIXTURE = Path(__file__).resolve().parent.parent / "ModelsTests" / "Fixtures" / "init-model" / "python_ids.json"
HIDDEN_TOLERANCE = 1e-4  # float32 through 4 small layers on both sides; measured differences are ~1e-6


def runtime_keys(classic):
    """Keys a classic hub key may have in transformers' module tree (4.x keeps it; 5.x moves the towers
    under `model.` and drops the vision tower's `vision_model.`)."""
    keys = [classic]
    for old, new in [("language_model.model.", "model.language_model."), ("language_model.lm_head.", "lm_head."),
                     ("vision_tower.vision_model.", "model.vision_tower."), ("vision_tower.", "model.vision_tower."),
                     ("multi_modal_projector.", "model.multi_modal_projector.")]:
        if classic.startswith(old):
            keys.append(new + classic[len(old):])
    return keys


def main():
    folder = Path(sys.argv[1])
    write_fixture = "--write-fixture" in sys.argv[2:]
    model_dir = folder / "model"
    discern = json.loads((folder / "discern.json").read_text())
    failures = []

    # 1. Token ids.
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    fast = PreTrainedTokenizerFast(tokenizer_file=str(model_dir / "tokenizer.json"))
    python_ids = []
    for text, ids in zip(discern["texts"], discern["ids"]):
        expected = tokenizer.encode(text, add_special_tokens=True).ids
        python_ids.append(expected)
        if expected != ids:
            failures.append(f"tokenizers ids differ for {text!r}: python {expected}, discern {ids}")
        if fast(text, add_special_tokens=True)["input_ids"] != expected:
            failures.append(f"PreTrainedTokenizerFast differs from tokenizers for {text!r}")
    print(f"token ids: {len(discern['texts'])} texts compared, vocab {tokenizer.get_vocab_size(with_added_tokens=True)}")

    # 2. Strict load.
    model, info = LlavaForConditionalGeneration.from_pretrained(model_dir, output_loading_info=True,
                                                                dtype=torch.float32)
    model.eval()
    for kind in ["missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"]:
        if info.get(kind):
            failures.append(f"from_pretrained {kind}: {info[kind]}")
    state = model.state_dict()
    weights = load_file(str(model_dir / "model.safetensors"))
    for name, tensor in weights.items():
        key = next((k for k in runtime_keys(name) if k in state), None)
        if key is None:
            failures.append(f"{name}: no such parameter in the loaded model")
        elif not torch.equal(state[key], tensor):
            failures.append(f"{name}: loaded value differs from the file")
    params = sum(p.numel() for p in model.parameters())
    print(f"load: {len(weights)} tensors, {params} parameters, loading info {dict((k, len(v)) for k, v in info.items())}")

    # 3. Forward and hidden-state parity.
    config = model.config
    grid = config.vision_config.image_size // config.vision_config.patch_size
    image_tokens = grid * grid
    images = len(discern["captions"])
    pixels = torch.tensor(discern["pixels"], dtype=torch.float32).reshape(images, 3, config.vision_config.image_size,
                                                                          config.vision_config.image_size)
    prompt = tokenizer.encode("<image>\nSummary above image in one word:").ids
    at = prompt.index(config.image_token_index)
    expanded = prompt[:at] + [config.image_token_index] * image_tokens + prompt[at + 1:]
    with torch.no_grad():
        out = model(input_ids=torch.tensor([expanded] * images), pixel_values=pixels, output_hidden_states=True)
        image_hidden = out.hidden_states[-1][:, -1, :]
        text_hidden = []
        for caption in discern["captions"]:
            ids = tokenizer.encode(caption + "\nSummary above sentence in one word:").ids
            text_out = model(input_ids=torch.tensor([ids]), output_hidden_states=True)
            text_hidden.append(text_out.hidden_states[-1][0, -1, :])
        text_hidden = torch.stack(text_hidden)
    if not torch.isfinite(out.logits).all():
        failures.append("the forward gave non-finite logits")
    for name, ours, theirs in [("image", discern["image_hidden"], image_hidden), ("text", discern["text_hidden"], text_hidden)]:
        ours = torch.tensor(ours, dtype=torch.float32).reshape(theirs.shape)
        error = (ours - theirs).abs().max().item()
        print(f"forward: {name} summary hidden states max abs difference {error:.2e} (scale {theirs.abs().max().item():.2f})")
        if error > HIDDEN_TOLERANCE:
            failures.append(f"{name} hidden states differ by {error}")
    print(f"forward: logits {tuple(out.logits.shape)}")

    if failures:
        print("FAILED:")
        for failure in failures:
            print("  " + failure)
        sys.exit(1)
    if write_fixture:
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        fixture = {"tokenizer_json": (model_dir / "tokenizer.json").read_text(), "texts": discern["texts"], "ids": python_ids}
        FIXTURE.write_text(json.dumps(fixture, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
        print(f"wrote {FIXTURE}")
    print("OK")


if __name__ == "__main__":
    main()
