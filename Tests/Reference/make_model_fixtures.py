"""Builds two tiny random LLaVA models in the classic hub layout and the fixtures Discern's model
tests compare against (run with Tests/Reference/.venv/bin/python; writes Tests/ModelsTests/Fixtures/).

Model "gqa":  legacy tokenizer, CLIP 32 wide x 3 layers (16x16 images, patch 4), Llama 48 wide x 2
              layers with 6 query / 2 key-value heads, 'default' feature selection (layer -2), untied head.
Model "mha":  Metaspace tokenizer, CLIP 24 wide x 2 layers (12x12, patch 6), Llama 32 wide x 3 layers,
              4 / 4 heads, 'full' feature selection (layer -1), tied head, rope_theta 5e5.

For each, in float64 (so Discern's Double run can be held to ~1e-12 and its Float run to ~1e-6):
  base/   the handcrafted E5-V prompts through transformers' own LlavaForConditionalGeneration:
          token ids, image and text embeddings, text logits.
  adapted/ PEFT LoRA (r 4, alpha 8, random non-zero A and B on the LLM's seven projections) plus image
          and text soft prompts replacing the prompt suffixes, a learnable logit scale: embeddings,
          the symmetric contrastive loss, the next-token loss on image + prompt + long caption, and the
          gradients of the total (contrastive + NTP) w.r.t. every LoRA tensor, both soft prompts and
          the logit scale.
Everything is seeded: rerunning writes identical files.
"""

import json
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import LlavaConfig, LlavaForConditionalGeneration
from transformers.models.llama import modeling_llama

# transformers' LlamaRMSNorm casts to float32 whatever the model dtype; in a float64 model that
# float32 island would cap the fixtures' precision at ~1e-7. Computing it in the input dtype is the
# same formula (a no-op change for float32 models), so float64 fixtures hold the exact math.
# Rotary ANGLES stay float32 (inv_freq and position * inv_freq, as every Llama was trained with, and
# as Discern computes them); only their cos/sin are taken in float64 here instead of float32, so the
# comparison is not limited by the last-ulp differences between two float32 cos implementations.
def _rms_norm_in_input_dtype(self, hidden_states):
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))


def _rope_cos_sin_of_float32_angles(self, x, position_ids):
    freqs = position_ids[..., None].float() * self.inv_freq.to(device=x.device, dtype=torch.float)
    emb = torch.cat((freqs, freqs), dim=-1).double()
    return (emb.cos() * self.attention_scaling).to(x.dtype), (emb.sin() * self.attention_scaling).to(x.dtype)


modeling_llama.LlamaRMSNorm.forward = _rms_norm_in_input_dtype
modeling_llama.LlamaRotaryEmbedding.forward = _rope_cos_sin_of_float32_angles

HERE = Path(__file__).resolve().parent
TOKENIZERS = HERE.parent / "FormatsTests" / "Fixtures"
OUT = HERE.parent / "ModelsTests" / "Fixtures"

IMAGE_TEMPLATE = "<image>\nSummary above image in one word:"
TEXT_TEMPLATE = "<sent>\nSummary above sentence in one word:"
CAPTIONS = ["a red circle left of a blue square", "a small green triangle", "two shapes"]
LONG_CAPTIONS = [
    "A large red circle sits on the left. A small blue square is on the right, below the centre.",
    "One small green triangle in the middle of the picture.",
    "There are two shapes: a yellow star above a purple hexagon.",
]
LORA_TARGETS = r"model\.language_model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"

MODELS = {
    "gqa": dict(
        tokenizer="tokenizer-legacy.json",
        vision=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
                    image_size=16, patch_size=4, hidden_act="quick_gelu"),
        text=dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=6,
                  num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-6, tie_word_embeddings=False),
        top=dict(vision_feature_select_strategy="default", vision_feature_layer=-2, tie_word_embeddings=False),
    ),
    "mha": dict(
        tokenizer="tokenizer-metaspace.json",
        vision=dict(hidden_size=24, intermediate_size=40, num_hidden_layers=2, num_attention_heads=2,
                    image_size=12, patch_size=6, hidden_act="quick_gelu"),
        text=dict(hidden_size=32, intermediate_size=72, num_hidden_layers=3, num_attention_heads=4,
                  num_key_value_heads=4, max_position_embeddings=256, rms_norm_eps=1e-5,
                  rope_theta=500000.0, tie_word_embeddings=True),
        top=dict(vision_feature_select_strategy="full", vision_feature_layer=-1, tie_word_embeddings=True),
    ),
}


def classic_key(key):
    """transformers 5.x runtime names -> the classic hub layout every version loads."""
    if key == "lm_head.weight":
        return "language_model.lm_head.weight"
    if key.startswith("model.language_model."):
        return "language_model.model." + key[len("model.language_model."):]
    if key.startswith("model.multi_modal_projector."):
        return key[len("model."):]
    if key.startswith("model.vision_tower."):
        rest = key[len("model.vision_tower."):]
        return "vision_tower." + (rest if rest.startswith("vision_model.") else "vision_model." + rest)
    raise ValueError(f"unexpected key {key}")


def discern_name(peft_name):
    """PEFT parameter name -> Discern's (classic layout, no adapter name)."""
    name = peft_name.replace("base_model.model.", "", 1).replace(".default", "")
    return classic_key(name)


def left_pad(sequences, pad_id):
    length = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), length), dtype=torch.long)
    for b, s in enumerate(sequences):
        ids[b, length - len(s):] = torch.tensor(s)
        mask[b, length - len(s):] = 1
    return ids, mask


def build(name, spec):
    torch.manual_seed(7 if name == "gqa" else 11)
    tokenizer = Tokenizer.from_file(str(TOKENIZERS / spec["tokenizer"]))
    image_id = tokenizer.token_to_id("<image>")
    pad_id = tokenizer.token_to_id("<pad>")
    vocab = tokenizer.get_vocab_size(with_added_tokens=True)
    config = LlavaConfig(
        vision_config=dict(model_type="clip_vision_model", **spec["vision"]),
        text_config=dict(model_type="llama", vocab_size=vocab, bos_token_id=1, eos_token_id=2, pad_token_id=pad_id,
                         **spec["text"]),
        image_token_index=image_id, projector_hidden_act="gelu", **spec["top"])
    model = LlavaForConditionalGeneration(config).eval()
    with torch.no_grad():  # larger than the default 0.02 init so every layer visibly matters
        for key, tensor in model.named_parameters():
            if tensor.dim() >= 2:
                tensor.normal_(0, 0.15)
            elif "norm" in key:
                tensor.copy_(1 + 0.1 * torch.randn_like(tensor))
            else:
                tensor.normal_(0, 0.1)

    directory = OUT / name
    directory.mkdir(parents=True, exist_ok=True)
    state = {classic_key(k): v.detach().float().contiguous() for k, v in model.state_dict().items()}
    if config.tie_word_embeddings:
        state.pop("language_model.lm_head.weight", None)
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    config_dict = config.to_dict()
    for key in ["transformers_version", "_name_or_path", "dtype", "output_hidden_states", "return_dict", "id2label",
                "label2id", "chunk_size_feed_forward", "is_encoder_decoder", "problem_type", "output_attentions"]:
        config_dict.pop(key, None)
    (directory / "config.json").write_text(json.dumps(config_dict, indent=2, sort_keys=True) + "\n")
    (directory / "tokenizer.json").write_text((TOKENIZERS / spec["tokenizer"]).read_text())

    # Reload from the written files: the fixtures must describe what the files hold (float32
    # weights), and a classic-layout file must load in this transformers version.
    # SDPA keeps the softmax in the model dtype (the eager path casts it to float32).
    model = LlavaForConditionalGeneration.from_pretrained(str(directory), dtype=torch.float64, attn_implementation="sdpa").eval()
    vision_config = config.vision_config
    grid = vision_config.image_size // vision_config.patch_size
    image_tokens = grid * grid + (1 if config.vision_feature_select_strategy == "full" else 0)

    def expand(ids):
        out = []
        for token in ids:
            out.extend([token] * image_tokens if token == image_id else [token])
        return out

    image_prompt = expand(tokenizer.encode(IMAGE_TEMPLATE).ids)
    text_prompts = [tokenizer.encode(TEXT_TEMPLATE.replace("<sent>", c)).ids for c in CAPTIONS]
    long_ids = [tokenizer.encode(c, add_special_tokens=False).ids + [2] for c in LONG_CAPTIONS]
    images = len(CAPTIONS)
    pixels = torch.randn(images, 3, vision_config.image_size, vision_config.image_size, dtype=torch.float64)
    fixtures = {"pixels": pixels}

    # --- base: handcrafted prompts through transformers' own forward ---------------------------
    image_ids, image_mask = left_pad([image_prompt] * images, pad_id)
    text_ids, text_mask = left_pad(text_prompts, pad_id)
    with torch.no_grad():
        out = model(input_ids=image_ids, attention_mask=image_mask, pixel_values=pixels, output_hidden_states=True)
        fixtures["base.image_embeddings"] = F.normalize(out.hidden_states[-1][:, -1], dim=-1)
        out = model(input_ids=text_ids, attention_mask=text_mask, output_hidden_states=True)
        fixtures["base.text_embeddings"] = F.normalize(out.hidden_states[-1][:, -1], dim=-1)
        fixtures["base.text_logits"] = out.logits
    fixtures["image_ids"] = image_ids
    fixtures["text_ids"] = text_ids

    # --- adapted: PEFT LoRA with non-zero B, soft prompts, contrastive + NTP --------------------
    torch.manual_seed(23)
    lora = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=LORA_TARGETS))
    lora = lora.double()
    with torch.no_grad():
        for key, tensor in lora.named_parameters():
            if "lora_" in key:
                tensor.normal_(0, 0.2)
    inner = lora.base_model.model.model  # LlavaModel: vision_tower, multi_modal_projector, language_model
    embed = inner.language_model.embed_tokens
    image_suffix = image_prompt[image_prompt.index(image_id) + image_tokens:]
    # The text soft prompt covers the tokens the template adds after the caption: found with a
    # one-word probe caption (docs/model.md explains the rule; Discern's PromptBuilder does the same).
    probe = tokenizer.encode(TEXT_TEMPLATE.replace("<sent>", "a")).ids
    text_suffix = probe[len(tokenizer.encode("a").ids):]
    for ids in text_prompts:
        assert ids[-len(text_suffix):] == text_suffix, "caption tokens merge with the prompt suffix"
    with torch.no_grad():
        image_soft = embed(torch.tensor(image_suffix)) + 0.05 * torch.randn(len(image_suffix), config.text_config.hidden_size, dtype=torch.float64)
        text_soft = embed(torch.tensor(text_suffix)) + 0.05 * torch.randn(len(text_suffix), config.text_config.hidden_size, dtype=torch.float64)
    image_soft.requires_grad_(True)
    text_soft.requires_grad_(True)
    logit_scale = torch.tensor(math.log(1 / 0.07), dtype=torch.float64, requires_grad=True)
    fixtures["adapted.soft_prompts.image"] = image_soft.detach().clone()
    fixtures["adapted.soft_prompts.text"] = text_soft.detach().clone()
    fixtures["adapted.logit_scale"] = logit_scale.detach().clone().reshape(1)
    for key, tensor in lora.named_parameters():
        if "lora_" in key:
            fixtures["adapted." + discern_name(key)] = tensor.detach().clone()

    def image_features():
        hidden = inner.vision_tower(pixels, output_hidden_states=True).hidden_states[config.vision_feature_layer]
        if config.vision_feature_select_strategy == "default":
            hidden = hidden[:, 1:]
        return inner.multi_modal_projector(hidden)

    def assemble(ids, mask, soft, soft_length, features=None):
        x = embed(ids.clamp(max=vocab - 1)) * mask.unsqueeze(-1)
        rows = []
        for b in range(ids.shape[0]):
            row = x[b]
            if features is not None:
                positions = (ids[b] == image_id).nonzero().flatten()
                row = row.index_put((positions,), features[b])
            start = ids.shape[1] - soft_length if soft_length else None
            if soft is not None:
                end = start + soft.shape[0]
                row = torch.cat([row[:start], soft, row[end:]])
            rows.append(row)
        return torch.stack(rows)

    def run(inputs, mask):
        return inner.language_model(inputs_embeds=inputs, attention_mask=mask).last_hidden_state

    features = image_features()
    # Image tower: [BOS] <image features> <image soft prompt>; embedding at the last position.
    x = assemble(image_ids, image_mask, image_soft, len(image_suffix), features)
    image_embeddings = F.normalize(run(x, image_mask)[:, -1], dim=-1)
    # Text tower: [BOS] caption <text soft prompt>, left-padded.
    x = assemble(text_ids, text_mask, text_soft, len(text_suffix))
    text_embeddings = F.normalize(run(x, text_mask)[:, -1], dim=-1)
    logits = logit_scale.exp() * image_embeddings @ text_embeddings.T
    labels = torch.arange(images)
    contrastive = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    # NTP: [BOS] <image features> <image soft prompt> <long caption> </s>, left-padded; the summary
    # position predicts the first caption token.
    ntp_sequences = [image_prompt + l for l in long_ids]
    ntp_ids, ntp_mask = left_pad(ntp_sequences, pad_id)
    targets = torch.full_like(ntp_ids, -100)
    for b, l in enumerate(long_ids):
        length = ntp_ids.shape[1]
        targets[b, length - len(l) - 1:length - 1] = torch.tensor(l)
    rows = []
    for b, l in enumerate(long_ids):  # soft prompt sits right before the caption in these rows
        row = assemble(ntp_ids[b:b + 1], ntp_mask[b:b + 1], None, 0, features[b:b + 1])[0]
        start = ntp_ids.shape[1] - len(l) - len(image_suffix)
        rows.append(torch.cat([row[:start], image_soft, row[start + len(image_suffix):]]))
    hidden = run(torch.stack(rows), ntp_mask)
    ntp_logits = lora.base_model.model.lm_head(hidden)
    ntp = F.cross_entropy(ntp_logits.reshape(-1, vocab), targets.reshape(-1), ignore_index=-100)
    total = contrastive + 1.0 * ntp
    total.backward()

    fixtures["ntp_ids"] = ntp_ids
    fixtures["ntp_targets"] = targets
    fixtures["adapted.image_embeddings"] = image_embeddings.detach()
    fixtures["adapted.text_embeddings"] = text_embeddings.detach()
    fixtures["adapted.contrastive_loss"] = contrastive.detach().reshape(1)
    fixtures["adapted.ntp_loss"] = ntp.detach().reshape(1)
    fixtures["grad.soft_prompts.image"] = image_soft.grad
    fixtures["grad.soft_prompts.text"] = text_soft.grad
    fixtures["grad.logit_scale"] = logit_scale.grad.reshape(1)
    for key, tensor in lora.named_parameters():
        if "lora_" in key:
            fixtures["grad." + discern_name(key)] = tensor.grad
    fixtures = {k: (v.to(torch.float64) if v.is_floating_point() else v.to(torch.int64)).contiguous() for k, v in fixtures.items()}
    save_file(fixtures, str(directory / "fixtures.safetensors"), metadata={"format": "pt"})
    meta = dict(image_template=IMAGE_TEMPLATE, text_template=TEXT_TEMPLATE, captions=CAPTIONS, long_captions=LONG_CAPTIONS,
                lora=dict(r=4, alpha=8), image_suffix_length=len(image_suffix), text_suffix_length=len(text_suffix),
                image_tokens=image_tokens)
    (directory / "fixtures.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    if name == "gqa":
        embed_fixture(directory, config, image_tokens)
    print(f"{name}: contrastive {contrastive.item():.6f} ntp {ntp.item():.6f}, files in {directory}")


def embed_fixture(directory, config, image_tokens):
    """`discern embed` end to end: PNG files -> transformers' CLIPImageProcessor (PIL backend) ->
    LlavaForConditionalGeneration, handcrafted prompts, float32 as a user would run it."""
    try:
        from transformers import CLIPImageProcessorPil as Processor
    except ImportError:
        from transformers import CLIPImageProcessor as Processor
    from PIL import Image
    import numpy as np

    folder = directory / "embed"
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(5)
    files = []
    for index, (w, h) in enumerate([(40, 28), (16, 16), (23, 50)]):
        y, x = np.mgrid[0:h, 0:w]
        pixels = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), ((x + y) * 7) % 256], -1)
        pixels = np.clip(pixels + rng.integers(-20, 20, size=pixels.shape), 0, 255).astype(np.uint8)
        path = folder / f"image-{index}.png"
        Image.fromarray(pixels, "RGB").save(path)
        files.append(path)
    captions = ["a red circle left of a blue square", "two shapes", "Ünïcode and emoji 🎨 too"]
    (folder / "captions.txt").write_text("\n".join(captions) + "\n")
    size = config.vision_config.image_size
    processor = Processor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    pixel_values = torch.tensor(processor(images=[Image.open(f).convert("RGB") for f in files], return_tensors="np")["pixel_values"])
    model = LlavaForConditionalGeneration.from_pretrained(str(directory), dtype=torch.float32).eval()
    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    image_id = config.image_token_index
    ids = []
    for token in tokenizer.encode(IMAGE_TEMPLATE).ids:
        ids.extend([token] * image_tokens if token == image_id else [token])
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids] * len(files)), pixel_values=pixel_values, output_hidden_states=True)
        images = F.normalize(out.hidden_states[-1][:, -1], dim=-1)
        text_ids, text_mask = left_pad([tokenizer.encode(TEXT_TEMPLATE.replace("<sent>", c)).ids for c in captions],
                                       tokenizer.token_to_id("<pad>"))
        out = model(input_ids=text_ids, attention_mask=text_mask, output_hidden_states=True)
        texts = F.normalize(out.hidden_states[-1][:, -1], dim=-1)
    save_file({"image_embeddings": images.contiguous(), "text_embeddings": texts.contiguous()}, str(folder / "expected.safetensors"),
              metadata={"format": "pt"})


if __name__ == "__main__":
    for model_name, model_spec in MODELS.items():
        build(model_name, model_spec)
