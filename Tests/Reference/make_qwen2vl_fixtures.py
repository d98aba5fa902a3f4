"""Builds two tiny random Qwen2-VL models and the fixtures Discern's Qwen2-VL tests compare against (run with
Tests/Reference/.venv/bin/python; writes Tests/ModelsTests/Fixtures/qwen2vl-a and qwen2vl-b). The Qwen2-VL
counterpart of make_model_fixtures.py: the same prompts, captions, LoRA recipe, losses and key names.
qwen2vl_model_files.py writes each model directory.

Model "qwen2vl-a": Qwen2 48 wide x 2 layers, intermediate 64, 6 query / 2 key-value heads (head_dim 8),
    mrope_section [2, 1, 1], rope_theta 1e3, rms_norm_eps 1e-6, untied head, vocab_size padded to a multiple of
    32 past the tokenizer; vision 16 wide x 2 blocks, 1 head, mlp_ratio 4, patch 2. config.json in
    transformers 5's nested form (text_config.rope_parameters {rope_type default, rope_theta, mrope_section}),
    preprocessor_config.json with size {shortest_edge 64, longest_edge 400} (min / max pixels), weights in the
    hub layout (`model.*`, `visual.*`, `lm_head.weight`). eos_token_id <|endoftext|>.
Model "qwen2vl-b": Qwen2 32 wide x 3 layers, intermediate 48, 2 / 1 heads (head_dim 16), mrope_section [2, 3, 3],
    rope_theta 1e4, rms_norm_eps 1e-5, tied head (no lm_head tensor), vocab_size equal to the tokenizer's size;
    vision 24 wide x 3 blocks, 2 heads, mlp_ratio 2, patch 3. config.json in the older flat hub form
    (Qwen2-VL-2B-Instruct's: text fields at the top level, `rope_scaling: {type: mrope, mrope_section}`,
    top-level rope_theta, `in_chans` and `spatial_patch_size` in vision_config; transformers 5.24 loads it),
    preprocessor_config.json with min_pixels 144 / max_pixels 576 and otherwise only the patch, merge and
    temporal sizes, mean / std and class names (the rest defaults), weights in transformers' in-memory layout (`model.language_model.*`, `model.visual.*`).
    eos_token_id <|im_end|>.
Both: spatial merge 2, temporal patch 2, quick_gelu vision MLP, LayerNorm eps 1e-6 in the vision tower, and one
byte-level BPE tokenizer.json learned here with Qwen2's exact pipeline (transformers' Qwen2Converter): NFC
normalizer; pre-tokenizer Split on Qwen2's regex (Isolated) then ByteLevel (no prefix space, no regex of its
own); ByteLevel post-processor (adds nothing: no BOS) and decoder; then Qwen2-VL's 14 added special tokens in
Qwen's order right after the learned vocabulary (<|endoftext|> <|im_start|> <|im_end|> ... <|vision_start|>
<|vision_end|> <|vision_pad|> <|image_pad|> <|video_pad|>), whose ids config.json names as
vision_start_token_id, vision_end_token_id, image_token_id and video_token_id. bos_token_id is <|endoftext|>
as in the hub files, yet nothing prepends it. Weights are float32: N(0, 1/fan_in) for every matrix (and the
Conv3d), 1 + N(0, 0.1^2) for every norm weight (RMSNorm and LayerNorm), N(0, 0.1^2) for every bias.

How everything is computed (float64, so Discern's Double run can be held to ~1e-12 and its Float run to ~1e-6):
- The model is reloaded from the written files by transformers 5.24's Qwen2VLForConditionalGeneration in float64
  with SDPA attention (which keeps the softmax in float64). Patched, and nothing else: Qwen2VLRMSNorm computes in
  the input dtype (transformers casts to float32); both rotary embeddings keep their ANGLES in float32
  (position * inv_freq in float32, as transformers and Discern compute them) but take cos/sin in float64; the
  vision rotation runs in the input dtype (transformers casts q and k to float32). Then no float32 op is left
  but the two angle products.
- M-RoPE (text): inv_freq_j = theta^(-2j / head_dim); frequency j reads the t stream for j < s0, h for
  s0 <= j < s0 + s1, w after (mrope_section = [s0, s1, s2]); the same split for the second half of the head.
  The h and w streams get the low frequencies, so rope_theta is small here (1e3, 1e4) for them to matter:
  swapping h and w moves the base image embeddings by ~3e-3 (a) and ~3e-2 (b), far above a Float tolerance.
  Vision rotary: head_dim / 4 frequencies 10000^(-4j / head_dim), angles [row * f, column * f] over half the
  head, repeated for the other half (rotate_half), from each patch's own row and column.
- Images: three seeded random RGB images of different sizes (height x width: qwen2vl-a 8x16, 16x8, 12x12;
  qwen2vl-b 12x30, 18x12, 12x18), saved as inputs/image-{0,1,2}.png and read back through
  AutoImageProcessor.from_pretrained(dir, backend="pil") (Qwen2VLImageProcessorPil, what use_fast=False gives)
  as one batch. These sizes are multiples of patch * merge inside [min_pixels, max_pixels], so nothing is
  resampled (embed/ covers smart_resize). Image i takes N_i = grid_h * grid_w / merge^2 LLM positions.
- Prompts: E5-V's templates as VladVA uses them: "<image>\nSummary above image in one word:" with <image>
  written as <|vision_start|> + N_i x <|image_pad|> + <|vision_end|>, and "<sent>\nSummary above sentence in
  one word:" with the caption; each whole string is tokenised by tokenizer.json (no BOS). Every batch is padded
  on the LEFT with <|endoftext|> (Qwen2's pad token) to its longest row; the attention mask is 0 on padding,
  so padding is never attended to (causal mask AND key mask); outputs at padded rows are not fixtures.
- Positions: the model's own get_rope_index(ids, mm_token_type_ids = 1 exactly on <|image_pad|>,
  image_grid_thw, attention_mask) on the FINAL sequence, padding included: padded slots get 0 in all three
  streams and are skipped when counting; text tokens count 0, 1, 2, ... in all three streams; image i's tokens
  (row-major over its merged grid of R x C) get t = s, h = s + row, w = s + column, where s is the position the
  next text token would have had, and the text after the image continues at s + max(R, C).
  rope_deltas = (largest position + 1) - (number of real tokens), per row. A soft prompt replaces token rows one
  for one and counts as text, so it takes exactly the positions of the ids it replaces. These positions are
  passed explicitly to every forward below. For image batches they equal what the model computes on its own
  from mm_token_type_ids (checked here); for a text-only batch transformers itself would use 0..<T including
  the padding (a uniform shift, equal in exact arithmetic but not to the last float32-angle bit).
- Embeddings: the final hidden state (after the last RMSNorm) at the last position (every row's last token,
  thanks to left padding), L2-normalised.

fixtures.safetensors (float64 and int64; B = 3 rows; T = the padded length of that batch):
  pixel_values [patches, 3 * 2 * patch^2]   the processor's output for the 3 images, concatenated (float32
                                            values): per image, rows in merged-window order (every merge x merge
                                            window of patches contiguous), each row channel x temporal x patch^2
  image_grid_thw [3, 3]                     (1, grid_h, grid_w) per image, in patches
  image_ids, image_mask [B, T]              the 3 image prompts (image i in row i), left-padded; the mask
  image_position_ids [3, B, T]              (t, h, w) streams from get_rope_index, as above
  image_rope_deltas [B, 1]
  text_ids, text_mask, text_position_ids, text_rope_deltas     the same for the text prompts of `captions`
  ntp_ids, ntp_mask, ntp_position_ids, ntp_rope_deltas         the same for image prompt i + long caption i + eos
  ntp_targets [B, T]                        the next token (caption tokens and eos) at the position before it,
                                            -100 everywhere else: the last suffix row predicts the first caption
                                            token, the last caption token predicts eos
  vision.position_ids [patches, 2]          (row, column) of each patch in its image's patch grid, merged-window
                                            order: what the vision rotary reads
  vision.patch_embeddings [patches, embed]  the patch embedding (Conv3d = one matrix on each row) of the batch
  vision.last_hidden_state [patches, embed] the last block's output, before the merger
  vision.image_features [tokens, hidden]    the merger's output: one row per <|image_pad|>, images in order;
                                            attention is within each image only
  vision.single.{i}.patch_embeddings, vision.single.{i}.image_features    the tower on image i alone; equal to
                                            the batch's slices (checked to 1e-13)
  base.image_embeddings [B, hidden]         Qwen2VLModel on image_ids + pixel_values + image_grid_thw
  base.text_embeddings [B, hidden]          the same on text_ids
  base.text_logits [B, T, vocab]            Qwen2VLForConditionalGeneration's logits on text_ids at every slot;
                                            compare only where text_mask is 1
  adapted.*: PEFT LoRA (r 4, alpha 8, no dropout; A and B drawn N(0, 0.2^2)) on the LLM's seven projections
    only (model.language_model.layers.N.{self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj}; the regex is
    make_model_fixtures.py's and matches no visual.* module: checked), image and text soft prompts and a
    learnable logit scale. Input rows: token embeddings (zero on padding), the vision features on the
    <|image_pad|> rows, a soft prompt over the ids it replaces, then the LLM with the batch's mask and positions.
  adapted.soft_prompts.image [image suffix, hidden]   replaces the ids after <|vision_end|> (the template's
                                            "\nSummary above image in one word:"); initialised from their
                                            embeddings + N(0, 0.05^2)
  adapted.soft_prompts.text [text suffix, hidden]     replaces the ids the template adds after the caption
                                            (found with the one-word probe caption "a"): every row's last rows
  adapted.logit_scale [1]                   log(1 / 0.07)
  adapted.<module>.lora_{A,B}.weight        the LoRA tensors [r, in] and [out, r], hub names without the adapter
                                            name (adapted.model.layers.0.self_attn.q_proj.lora_A.weight)
  adapted.image_embeddings [B, hidden]      rows: padding, <|vision_start|>, N_i features, <|vision_end|>, image
                                            soft prompt; image_ids' mask and positions
  adapted.text_embeddings [B, hidden]       rows: padding, caption, text soft prompt; text_ids' mask and positions
  adapted.contrastive_loss [1]              (CE(S, I) + CE(S^T, I)) / 2, S = exp(logit_scale) * images @ texts^T,
                                            I = the identity pairing (image i with caption i)
  adapted.ntp_loss [1]                      mean cross-entropy of lm_head's logits against ntp_targets over the
                                            targets that are not -100; rows: padding, <|vision_start|>, N_i
                                            features, <|vision_end|>, image soft prompt, long caption, eos
  grad.<name>                               d(contrastive + ntp) / d(name) for every adapted LoRA tensor,
                                            soft_prompts.image, soft_prompts.text and logit_scale
fixtures.json: image_template, text_template, captions, long_captions, lora {r, alpha}, image_suffix_length,
  text_suffix_length, image_tokens (N_i), image_sizes ([height, width]), image_files, pad_token_id, eos_token_id,
  padding_side ("left").
embed/: image-{0,1,2}.png of sizes that make smart_resize round (with Python's round, halves to even), shrink
  to max_pixels and grow to min_pixels; captions.txt (one a line; the third is written in NFD, so the NFC
  normalizer matters); expected.safetensors {image_embeddings, text_embeddings} [3, hidden] float32: `discern
  embed` end to end, PNG files -> the processor -> Qwen2VLModel in float32 as a user would run it (the
  patches above change a float32 run by an ulp at most), the prompts above in one left-padded batch per kind,
  positions from get_rope_index.
Everything is seeded and runs on one thread: rerunning writes byte-identical files on any machine.
"""

import json
import math
import unicodedata
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers.models.qwen2_vl import modeling_qwen2_vl
from transformers.utils import logging as transformers_logging

from make_model_fixtures import (CAPTIONS, IMAGE_TEMPLATE, LONG_CAPTIONS, LORA_TARGETS, TEXT_TEMPLATE,
                                 _rms_norm_in_input_dtype, left_pad)
from qwen2vl_model_files import build_tokenizer, hub_key, load_model, write_config, write_preprocessor, write_weights


# Why each patch: see the docstring. The text rotary keeps transformers' M-RoPE recomposition (which
# frequency reads which stream); only cos/sin of the float32 angles are taken in float64.
def _mrope_cos_sin_of_float32_angles(self, x, position_ids):
    freqs = position_ids.expand(3, -1, -1)[..., None].float() * self.inv_freq.to(device=x.device, dtype=torch.float)
    freqs = freqs.double()
    cos = self.recomposition_frequencies(freqs.cos() * self.attention_scaling)
    sin = self.recomposition_frequencies(freqs.sin() * self.attention_scaling)
    return cos.to(x.dtype), sin.to(x.dtype)


def _vision_cos_sin_of_float32_angles(self, x, position_ids):
    freqs = (position_ids[..., None].float() * self.inv_freq.to(device=x.device, dtype=torch.float)).double()
    cos = self.recomposition_frequencies(freqs.cos() * self.attention_scaling)
    sin = self.recomposition_frequencies(freqs.sin() * self.attention_scaling)
    return cos.to(x.dtype), sin.to(x.dtype)


def _vision_rotary_in_input_dtype(q, k, cos, sin):
    cos, sin = cos.unsqueeze(-2).to(q.dtype), sin.unsqueeze(-2).to(q.dtype)
    rotate = modeling_qwen2_vl.rotate_half
    return q * cos + rotate(q) * sin, k * cos + rotate(k) * sin


modeling_qwen2_vl.Qwen2VLRMSNorm.forward = _rms_norm_in_input_dtype
modeling_qwen2_vl.Qwen2VLRotaryEmbedding.forward = _mrope_cos_sin_of_float32_angles
modeling_qwen2_vl.Qwen2VLVisionRotaryEmbedding.forward = _vision_cos_sin_of_float32_angles
modeling_qwen2_vl.apply_rotary_pos_emb_vision = _vision_rotary_in_input_dtype

OUT = Path(__file__).resolve().parent.parent / "ModelsTests" / "Fixtures"
EMBED_CAPTIONS = ["a red circle left of a blue square", "two shapes", unicodedata.normalize("NFD", "Ünïcode café 🎨 too")]

MODELS = {
    "qwen2vl-a": dict(
        seed=7, image_sizes=[(8, 16), (16, 8), (12, 12)], embed_sizes=[(28, 40), (9, 26), (3, 5)],
        pixels=dict(min=64, max=400), config_form="nested", layout="hub", eos="<|endoftext|>", vocab_multiple=32,
        text=dict(hidden_size=48, intermediate_size=64, num_hidden_layers=2, num_attention_heads=6,
                  num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=1e3, mrope_section=[2, 1, 1]),
        vision=dict(depth=2, embed_dim=16, num_heads=1, mlp_ratio=4, patch_size=2), tie=False),
    "qwen2vl-b": dict(
        seed=11, image_sizes=[(12, 30), (18, 12), (12, 18)], embed_sizes=[(40, 26), (15, 31), (4, 7)],
        pixels=dict(min=144, max=576), config_form="flat", layout="memory", eos="<|im_end|>", vocab_multiple=1,
        text=dict(hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=2,
                  num_key_value_heads=1, rms_norm_eps=1e-5, rope_theta=1e4, mrope_section=[2, 3, 3]),
        vision=dict(depth=3, embed_dim=24, num_heads=2, mlp_ratio=2, patch_size=3), tie=True),
}


def discern_name(peft_name):
    """PEFT parameter name -> Discern's (hub layout, no adapter name)."""
    return hub_key(peft_name.replace("base_model.model.", "", 1).replace(".default", ""))


def save_images(folder, sizes, seed):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for index, (h, w) in enumerate(sizes):
        paths.append(folder / f"image-{index}.png")
        Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8), "RGB").save(paths[-1])
    return paths


def preprocess(processor, paths):
    batch = processor(images=[Image.open(p).convert("RGB") for p in paths], return_tensors="pt")
    return batch["pixel_values"], batch["image_grid_thw"]


class Prompts:
    """Token ids of the templates, M-RoPE positions, padding: the model-independent bookkeeping."""

    def __init__(self, tokenizer, config, inner):
        self.tokenizer, self.config, self.inner = tokenizer, config, inner
        self.image_id, self.pad_id = config.image_token_id, tokenizer.token_to_id("<|endoftext|>")
        self.merge = config.vision_config.spatial_merge_size

    def image_tokens(self, grid):
        return [int(t * h * w) // self.merge ** 2 for t, h, w in grid.tolist()]

    def image_prompt(self, tokens):
        placeholder = "<|vision_start|>" + "<|image_pad|>" * tokens + "<|vision_end|>"
        ids = self.tokenizer.encode(IMAGE_TEMPLATE.replace("<image>", placeholder)).ids
        assert ids.count(self.image_id) == tokens, "the image placeholder did not tokenise to its tokens"
        return ids

    def text_prompt(self, caption):
        return self.tokenizer.encode(TEXT_TEMPLATE.replace("<sent>", caption)).ids

    def batch(self, sequences, grid=None):
        """Left-padded ids and mask with get_rope_index's positions and deltas."""
        ids, mask = left_pad(sequences, self.pad_id)
        kinds = (ids == self.image_id).int()
        positions, deltas = self.inner.get_rope_index(ids, mm_token_type_ids=kinds, attention_mask=mask,
                                                      image_grid_thw=grid if kinds.any() else None)
        return dict(ids=ids, mask=mask, position_ids=positions, rope_deltas=deltas)


def vision_fixtures(model, pixels, grid):
    visual, merge = model.model.visual, model.config.vision_config.spatial_merge_size
    fixtures = {"vision.position_ids": modeling_qwen2_vl.get_vision_position_ids(grid, merge)}
    with torch.no_grad():
        fixtures["vision.patch_embeddings"] = visual.patch_embed(pixels)
        out = visual(pixels, grid_thw=grid)
        fixtures["vision.last_hidden_state"] = out.last_hidden_state
        fixtures["vision.image_features"] = out.pooler_output
        patch_start = token_start = 0
        for i, row in enumerate(grid):
            patches = int(row.prod())
            alone = visual(pixels[patch_start:patch_start + patches], grid_thw=grid[i:i + 1])
            fixtures[f"vision.single.{i}.patch_embeddings"] = visual.patch_embed(pixels[patch_start:patch_start + patches])
            fixtures[f"vision.single.{i}.image_features"] = alone.pooler_output
            tokens = patches // merge ** 2
            for key, start, count in [("patch_embeddings", patch_start, patches), ("image_features", token_start, tokens)]:
                whole = fixtures[f"vision.{key}"][start:start + count]
                assert torch.allclose(fixtures[f"vision.single.{i}.{key}"], whole, rtol=0, atol=1e-13), (i, key)
            patch_start, token_start = patch_start + patches, token_start + tokens
    return fixtures


def base_fixtures(model, prompts, inputs):
    inner, pixels, grid, image_batch, text_batch = model.model, inputs["pixels"], inputs["grid"], inputs["image"], inputs["text"]
    with torch.no_grad():
        kinds = (image_batch["ids"] == prompts.image_id).int()
        own = inner(input_ids=image_batch["ids"], attention_mask=image_batch["mask"], pixel_values=pixels,
                    image_grid_thw=grid, mm_token_type_ids=kinds).last_hidden_state
        assert torch.equal(inner.rope_deltas, image_batch["rope_deltas"])
        inner.rope_deltas = None  # a stale cache would shift a later inputs_embeds-only forward
        hidden = inner(input_ids=image_batch["ids"], attention_mask=image_batch["mask"], pixel_values=pixels,
                       image_grid_thw=grid, position_ids=image_batch["position_ids"]).last_hidden_state
        assert torch.equal(own, hidden), "explicit positions differ from the model's own"
        out = model(input_ids=text_batch["ids"], attention_mask=text_batch["mask"],
                    position_ids=text_batch["position_ids"], output_hidden_states=True)
    return {"base.image_embeddings": F.normalize(hidden[:, -1], dim=-1),
            "base.text_embeddings": F.normalize(out.hidden_states[-1][:, -1], dim=-1),
            "base.text_logits": out.logits}


class Assembly:
    """The adapted path's input rows and LLM run: token embeddings (zero on padding), the image features on the
    <|image_pad|> rows in batch order, a soft prompt over the rows from each row's start, then the LLM with
    the batch's mask and M-RoPE positions."""

    def __init__(self, inner, features, image_id):
        self.inner, self.features, self.image_id = inner, features, image_id
        self.embed = inner.language_model.embed_tokens

    def hidden(self, batch, soft, starts, with_images):
        x = self.embed(batch["ids"]) * batch["mask"].unsqueeze(-1)
        if with_images:
            x = x.masked_scatter((batch["ids"] == self.image_id).unsqueeze(-1), self.features)
        x = torch.stack([torch.cat([x[b, :s], soft, x[b, s + len(soft):]]) for b, s in enumerate(starts)])
        return self.inner.language_model(inputs_embeds=x, attention_mask=batch["mask"],
                                         position_ids=batch["position_ids"]).last_hidden_state

    def embeddings(self, batch, soft, with_images):
        """Soft prompt in the last rows (where the suffix is); the last row's hidden state, L2-normalised."""
        length = batch["ids"].shape[1]
        return F.normalize(self.hidden(batch, soft, [length - len(soft)] * len(batch["ids"]), with_images)[:, -1], dim=-1)


def suffixes(config, prompts, image_batch, text_batch):
    """The ids the soft prompts replace: after <|vision_end|>, and what the text template adds after the caption
    (found with a one-word probe caption, as make_model_fixtures.py does)."""
    image_prompt = image_batch["ids"][0][image_batch["mask"][0].bool()].tolist()
    image_suffix = image_prompt[image_prompt.index(config.vision_end_token_id) + 1:]
    probe, probe_caption = prompts.text_prompt("a"), prompts.tokenizer.encode("a").ids
    text_suffix = probe[len(probe_caption):]
    for row in text_batch["ids"]:
        assert row[-len(text_suffix):].tolist() == text_suffix, "caption tokens merge with the prompt suffix"
    return image_suffix, text_suffix


def adapted_fixtures(model, prompts, inputs, base):
    pixels, grid, long_ids = inputs["pixels"], inputs["grid"], inputs["long_ids"]
    image_batch, text_batch, ntp_batch = inputs["image"], inputs["text"], inputs["ntp"]
    torch.manual_seed(23)
    lora = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=LORA_TARGETS)).double()
    lora_names = [key for key, _ in lora.named_parameters() if "lora_" in key]
    assert lora_names and all(".language_model.layers." in key for key in lora_names), lora_names
    inner = lora.base_model.model.model  # Qwen2VLModel: visual, language_model
    features = torch.cat(inner.get_image_features(pixels, grid, return_dict=True).pooler_output)
    assembly = Assembly(inner, features, prompts.image_id)
    image_suffix, text_suffix = suffixes(model.config, prompts, image_batch, text_batch)
    embed = assembly.embed
    with torch.no_grad():  # PEFT starts with B = 0 and the soft prompts equal the suffix: the base model
        for kind, batch, suffix in [("image", image_batch, image_suffix), ("text", text_batch, text_suffix)]:
            same = assembly.embeddings(batch, embed(torch.tensor(suffix)), kind == "image")
            assert torch.allclose(same, base[f"base.{kind}_embeddings"], rtol=0, atol=1e-13), kind
        for key, tensor in lora.named_parameters():
            if "lora_" in key:
                tensor.normal_(0, 0.2)
        noise = lambda n: 0.05 * torch.randn(n, model.config.text_config.hidden_size, dtype=torch.float64)
        image_soft = (embed(torch.tensor(image_suffix)) + noise(len(image_suffix))).requires_grad_(True)
        text_soft = (embed(torch.tensor(text_suffix)) + noise(len(text_suffix))).requires_grad_(True)
    logit_scale = torch.tensor(math.log(1 / 0.07), dtype=torch.float64, requires_grad=True)
    fixtures = {"adapted.soft_prompts.image": image_soft.detach().clone(),
                "adapted.soft_prompts.text": text_soft.detach().clone(),
                "adapted.logit_scale": logit_scale.detach().clone().reshape(1)}
    fixtures.update({"adapted." + discern_name(k): t.detach().clone() for k, t in lora.named_parameters() if "lora_" in k})

    image_embeddings = assembly.embeddings(image_batch, image_soft, True)
    text_embeddings = assembly.embeddings(text_batch, text_soft, False)
    logits = logit_scale.exp() * image_embeddings @ text_embeddings.T
    labels = torch.arange(len(long_ids))
    contrastive = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    length = ntp_batch["ids"].shape[1]
    hidden = assembly.hidden(ntp_batch, image_soft, [length - len(l) - len(image_suffix) for l in long_ids], True)
    ntp_logits = lora.base_model.model.lm_head(hidden)
    ntp = F.cross_entropy(ntp_logits.flatten(0, 1), ntp_batch["targets"].flatten(), ignore_index=-100)
    (contrastive + ntp).backward()

    fixtures.update({"adapted.image_embeddings": image_embeddings.detach(),
                     "adapted.text_embeddings": text_embeddings.detach(),
                     "adapted.contrastive_loss": contrastive.detach().reshape(1), "adapted.ntp_loss": ntp.detach().reshape(1),
                     "grad.soft_prompts.image": image_soft.grad, "grad.soft_prompts.text": text_soft.grad,
                     "grad.logit_scale": logit_scale.grad.reshape(1)})
    fixtures.update({"grad." + discern_name(k): t.grad for k, t in lora.named_parameters() if "lora_" in k})
    meta = dict(image_suffix_length=len(image_suffix), text_suffix_length=len(text_suffix))
    return fixtures, meta, (contrastive.item(), ntp.item())


def ntp_targets(batch, long_ids):
    targets = torch.full_like(batch["ids"], -100)
    length = batch["ids"].shape[1]
    for b, l in enumerate(long_ids):
        targets[b, length - len(l) - 1:length - 1] = torch.tensor(l)
    return targets


def model_inputs(directory, spec, processor, prompts):
    """Images, their pixel values and grids, and the three left-padded batches (image, text, ntp)."""
    image_files = save_images(directory / "inputs", spec["image_sizes"], spec["seed"])
    pixels, grid = preprocess(processor, image_files)
    tokens = prompts.image_tokens(grid)
    assert len(set(map(tuple, grid.tolist()))) == len(tokens), "the images must differ in size"
    image_prompts = [prompts.image_prompt(n) for n in tokens]
    eos = prompts.config.text_config.eos_token_id
    long_ids = [prompts.tokenizer.encode(c, add_special_tokens=False).ids + [eos] for c in LONG_CAPTIONS]
    ntp = prompts.batch([p + l for p, l in zip(image_prompts, long_ids)], grid)
    ntp["targets"] = ntp_targets(ntp, long_ids)
    return dict(files=image_files, pixels=pixels.double(), grid=grid, tokens=tokens, long_ids=long_ids, ntp=ntp,
                image=prompts.batch(image_prompts, grid), text=prompts.batch([prompts.text_prompt(c) for c in CAPTIONS]))


def build(name, spec, tokenizer):
    directory = OUT / name
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(directory / "tokenizer.json"))
    config = write_config(directory, spec, tokenizer)
    processor = write_preprocessor(directory, spec)
    write_weights(directory, spec, config)
    # Reload from the written files: the fixtures must describe what the files hold (float32 weights).
    model = load_model(directory, torch.float64)
    prompts = Prompts(Tokenizer.from_file(str(directory / "tokenizer.json")), model.config, model.model)
    inputs = model_inputs(directory, spec, processor, prompts)

    fixtures = {"pixel_values": inputs["pixels"], "image_grid_thw": inputs["grid"], "ntp_targets": inputs["ntp"]["targets"]}
    for kind in ["image", "text", "ntp"]:
        for key in ["ids", "mask", "position_ids", "rope_deltas"]:
            fixtures[f"{kind}_{key}"] = inputs[kind][key]
    fixtures.update(vision_fixtures(model, inputs["pixels"], inputs["grid"]))
    base = base_fixtures(model, prompts, inputs)
    adapted, meta, losses = adapted_fixtures(model, prompts, inputs, base)
    fixtures.update(base | adapted)
    fixtures = {k: (v.to(torch.float64) if v.is_floating_point() else v.to(torch.int64)).contiguous() for k, v in fixtures.items()}
    save_file(fixtures, str(directory / "fixtures.safetensors"), metadata={"format": "pt"})
    meta.update(image_template=IMAGE_TEMPLATE, text_template=TEXT_TEMPLATE, captions=CAPTIONS, long_captions=LONG_CAPTIONS,
                lora=dict(r=4, alpha=8), image_tokens=inputs["tokens"], image_sizes=[list(s) for s in spec["image_sizes"]],
                image_files=[str(p.relative_to(directory)) for p in inputs["files"]], pad_token_id=prompts.pad_id,
                eos_token_id=model.config.text_config.eos_token_id, padding_side="left")
    (directory / "fixtures.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    embed_fixture(directory, spec, processor, prompts)
    print(f"{name}: image tokens {inputs['tokens']}, contrastive {losses[0]:.6f} ntp {losses[1]:.6f}, files in {directory}")


def embed_fixture(directory, spec, processor, prompts):
    """`discern embed` end to end: PNG files -> the processor (resizing here) -> the float32 model."""
    folder = directory / "embed"
    files = save_images(folder, spec["embed_sizes"], spec["seed"] + 1)
    (folder / "captions.txt").write_text("\n".join(EMBED_CAPTIONS) + "\n")
    pixels, grid = preprocess(processor, files)
    print(f"  embed/: {spec['embed_sizes']} -> grids {grid.tolist()}")
    resized = [(h * spec["vision"]["patch_size"], w * spec["vision"]["patch_size"]) for _, h, w in grid.tolist()]
    assert resized != spec["embed_sizes"], "embed/ should exercise smart_resize"
    model = load_model(directory, torch.float32)
    prompts = Prompts(prompts.tokenizer, model.config, model.model)
    image_batch = prompts.batch([prompts.image_prompt(n) for n in prompts.image_tokens(grid)], grid)
    text_batch = prompts.batch([prompts.text_prompt(c) for c in EMBED_CAPTIONS])
    with torch.no_grad():
        images = model.model(input_ids=image_batch["ids"], attention_mask=image_batch["mask"], pixel_values=pixels,
                             image_grid_thw=grid, position_ids=image_batch["position_ids"]).last_hidden_state
        texts = model.model(input_ids=text_batch["ids"], attention_mask=text_batch["mask"],
                            position_ids=text_batch["position_ids"]).last_hidden_state
    expected = {"image_embeddings": F.normalize(images[:, -1], dim=-1).contiguous(),
                "text_embeddings": F.normalize(texts[:, -1], dim=-1).contiguous()}
    save_file(expected, str(folder / "expected.safetensors"), metadata={"format": "pt"})


if __name__ == "__main__":
    transformers_logging.disable_progress_bar()
    torch.set_num_threads(1)  # the summation order, so the last bits, follows the thread count: pin it
    shared_tokenizer = build_tokenizer()
    for model_name, model_spec in MODELS.items():
        build(model_name, model_spec, shared_tokenizer)
