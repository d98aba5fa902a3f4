"""Builds two tiny random Qwen2-VL models and the fixtures Discern's Qwen2-VL tests compare against (run with
Tests/Reference/.venv/bin/python; writes Tests/ModelsTests/Fixtures/qwen2vl-a and qwen2vl-b). The Qwen2-VL
counterpart of make_model_fixtures.py: same prompts, captions, LoRA recipe, losses and key names.

Model "qwen2vl-a": Qwen2 48 wide x 2 layers, 6 query / 2 key-value heads (head_dim 8), mrope_section [2, 1, 1],
    rope_theta 1e6, untied head; vision 32 wide x 2 blocks, 4 heads, mlp_ratio 4, patch 2; vocab_size padded
    past the tokenizer. config.json in transformers 5's nested form (text_config.rope_parameters with
    mrope_section), preprocessor_config.json with size {shortest_edge, longest_edge}, weights in the hub
    layout (`model.*`, `visual.*`, `lm_head.weight`). Long captions end with <|endoftext|> (its eos).
Model "qwen2vl-b": Qwen2 32 wide x 3 layers, 2 / 1 heads (head_dim 16), mrope_section [2, 3, 3], rope_theta 1e4,
    tied head (no lm_head tensor); vision 24 wide x 3 blocks, 2 heads, mlp_ratio 2, patch 3; vocab_size equal
    to the tokenizer's size. config.json in the older flat hub form (Qwen2-VL-2B-Instruct's: text fields at
    the top, `rope_scaling: {type: mrope, mrope_section}`, top-level rope_theta, `in_chans` in vision_config),
    preprocessor_config.json with min_pixels / max_pixels, weights in transformers' in-memory layout
    (`model.language_model.*`, `model.visual.*`). Long captions end with <|im_end|> (its eos).
Both: spatial merge 2, temporal patch 2, quick_gelu vision MLP, vision LayerNorm eps 1e-6, a shared byte-level
BPE tokenizer.json trained here with Qwen2's exact normalizer (NFC), pre-tokenizer (Split on Qwen2's regex,
Isolated, then ByteLevel without its regex), ByteLevel post-processor (adds nothing: no BOS) and decoder, and
Qwen2-VL's added special tokens (<|endoftext|> <|im_start|> <|im_end|> ... <|vision_start|> <|vision_end|>
<|vision_pad|> <|image_pad|> <|video_pad|>, in Qwen's order after the learned vocabulary) whose ids
config.json names (image_token_id, video_token_id, vision_start_token_id, vision_end_token_id). bos_token_id
is <|endoftext|> as in the hub files, yet nothing prepends it. Weights are float32, drawn N(0, 1/fan_in) for
matrices, 1 + N(0, 0.1^2) for every norm weight (RMSNorm and LayerNorm) and N(0, 0.1^2) for every bias.

How everything is computed (float64 throughout, so Discern's Double run can be held to ~1e-12):
- The model is reloaded from the written files with transformers' Qwen2VLForConditionalGeneration
  (dtype float64, SDPA attention, which keeps the softmax in float64). Qwen2VLRMSNorm is patched to compute in
  the input dtype (transformers casts to float32), and both rotary embeddings keep their ANGLES in float32
  (position * inv_freq, as transformers and Discern compute them) but take cos/sin in float64; the vision
  rotation itself runs in the input dtype (transformers casts q and k to float32). No other change.
- Images: three seeded random RGB images of different sizes (qwen2vl-a 12x20, 20x12, 16x16; qwen2vl-b 12x24,
  18x12, 18x18, height x width), saved as inputs/image-{0,1,2}.png, then AutoImageProcessor.from_pretrained(dir,
  backend="pil") (Qwen2VLImageProcessorPil, what use_fast=False gives) on all three as one batch. The sizes
  are multiples of patch * merge inside [min_pixels, max_pixels], so no resampling happens here (embed/ covers
  smart_resize). Image i takes N_i = grid_h * grid_w / merge^2 LLM positions.
- Prompts: E5-V's templates as VladVA uses them: "<image>\nSummary above image in one word:" with <image>
  written as <|vision_start|> + N_i x <|image_pad|> + <|vision_end|>, and "<sent>\nSummary above sentence in one
  word:" with the caption; each whole string tokenised by tokenizer.json (no BOS). Batches are padded on the
  LEFT with <|endoftext|> (Qwen2's pad token); the attention mask is 0 on padding.
- Positions: the three M-RoPE streams (t, h, w) come from the model's own get_rope_index(input_ids,
  mm_token_type_ids = 1 on <|image_pad|>, image_grid_thw, attention_mask) on the FINAL sequence: padding is
  skipped (its positions are 0), text tokens count 0, 1, 2, ... in all three streams, image i's tokens get
  t = s, h = s + row, w = s + column of the merged grid (s = the next text position), and the text after
  the image continues at s + max(rows, columns). Soft prompts replace token rows one for one, so they take
  the positions of the text tokens they replace. rope_deltas = max position + 1 - real length. These
  positions are passed explicitly to every forward: for image batches they equal what the model computes
  itself (checked here); a text-only batch without position_ids would get 0..<T including the padding.
- Embeddings: the final hidden state (after the last RMSNorm) at the last position, L2-normalised.

fixtures.safetensors (float64 and int64; B = 3 rows, T = the padded length of each batch):
  pixel_values [patches, 3 * 2 * patch^2]     the processor's output for the 3 images (float32 values)
  image_grid_thw [3, 3]                       (1, grid_h, grid_w) per image
  image_ids, image_mask [B, T]                image prompts (left-padded) and their attention mask
  image_position_ids [3, B, T], image_rope_deltas [B, 1]    get_rope_index on image_ids
  text_ids, text_mask [B, T]                  text prompts of `captions`
  text_position_ids [3, B, T], text_rope_deltas [B, 1]
  ntp_ids, ntp_mask [B, T]                    image prompt + long caption + eos
  ntp_position_ids [3, B, T], ntp_rope_deltas [B, 1]
  ntp_targets [B, T]                          the next token at each position, -100 where no loss is taken
  vision.position_ids [patches, 2]            (row, column) of each patch, merged-window order
  vision.patch_embeddings [patches, embed]    the patch embedding (Conv3d) of the whole batch
  vision.last_hidden_state [patches, embed]   the last block's output, before the merger
  vision.image_features [tokens, hidden]      the merger's output: one row per <|image_pad|>, images in order
  vision.single.{i}.patch_embeddings, vision.single.{i}.image_features    image i run alone (equal to the
                                              slices of the batch ones to ~1e-15: attention stays per image)
  base.image_embeddings [B, hidden]           transformers' forward on image_ids (+ pixels, positions)
  base.text_embeddings [B, hidden]            transformers' forward on text_ids
  base.text_logits [B, T, vocab]              its logits; compare only where text_mask is 1
  adapted.*: PEFT LoRA (r 4, alpha 8, no dropout) with A and B drawn N(0, 0.2^2) on the LLM's seven
    projections ONLY (model.language_model.layers.N.{self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj};
    the regex matches no visual.* module), image and text soft prompts, a learnable logit scale:
  adapted.soft_prompts.image [image suffix, hidden]   replaces the ids after <|vision_end|> (the template's
                                              "\nSummary above image in one word:"), initialised from their
                                              embeddings + N(0, 0.05^2)
  adapted.soft_prompts.text [text suffix, hidden]     replaces the ids the template adds after the caption
                                              (found with the one-word probe caption "a"); the last rows
  adapted.logit_scale [1]                     log(1 / 0.07)
  adapted.<module>.lora_{A,B}.weight          the LoRA tensors, hub names without the adapter name
                                              (model.layers.N.self_attn.q_proj.lora_A.weight)
  adapted.image_embeddings, adapted.text_embeddings [B, hidden]   with LoRA and soft prompts; image rows:
                                              pad, <|vision_start|>, features, <|vision_end|>, soft prompt
  adapted.contrastive_loss [1]                (CE(S, I) + CE(S^T, I)) / 2, S = exp(logit_scale) * images @ texts^T
  adapted.ntp_loss [1]                        mean cross-entropy over the ntp_targets != -100 positions of
                                              pad, <|vision_start|>, features, <|vision_end|>, image soft prompt,
                                              long caption, eos; the last soft row predicts the first caption token
  grad.<name> for every adapted LoRA tensor, grad.soft_prompts.{image,text}, grad.logit_scale:
                                              d(contrastive + ntp) / d(name)
fixtures.json: templates, captions, long_captions, lora {r, alpha}, image_suffix_length, text_suffix_length,
  image_tokens (N_i per image), image_sizes ([height, width]), image_files, pad_token_id, eos_token_id,
  padding_side.
embed/: image-{0,1,2}.png (sizes that make smart_resize round, shrink to max_pixels and grow to min_pixels),
  captions.txt (one a line; the third is written decomposed, so NFC matters) and expected.safetensors
  {image_embeddings, text_embeddings} [3, hidden] float32: `discern embed` end to end, PNG files ->
  the processor -> Qwen2VLForConditionalGeneration in float32 as a user would run it (the prompts above,
  one left-padded batch per kind, positions from get_rope_index).
Everything is seeded: rerunning writes byte-identical files.
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
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoImageProcessor, Qwen2VLConfig, Qwen2VLForConditionalGeneration
from transformers.utils import logging as transformers_logging
from transformers.models.qwen2_vl import modeling_qwen2_vl

from make_model_fixtures import (CAPTIONS, IMAGE_TEMPLATE, LONG_CAPTIONS, LORA_TARGETS, TEXT_TEMPLATE,
                                 _rms_norm_in_input_dtype, left_pad)
from make_tokenizer_fixtures import training_corpus


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
# transformers.convert_slow_tokenizer.Qwen2Converter's pattern, the one in Qwen2-VL's tokenizer.json.
QWEN2_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
            "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
            "<|image_pad|>", "<|video_pad|>"]
LEARNED_VOCAB = 350  # 256 byte symbols + learned merges; small keeps embeddings and logits tiny
EMBED_CAPTIONS = ["a red circle left of a blue square", "two shapes", unicodedata.normalize("NFD", "Ünïcode café 🎨 too")]

MODELS = {
    "qwen2vl-a": dict(
        seed=7, image_sizes=[(8, 16), (16, 8), (12, 12)], embed_sizes=[(28, 40), (9, 26), (3, 5)],
        pixels=dict(min=64, max=400), config_form="nested", layout="hub", eos="<|endoftext|>", vocab_multiple=32,
        text=dict(hidden_size=48, intermediate_size=64, num_hidden_layers=2, num_attention_heads=6,
                  num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=1e6, mrope_section=[2, 1, 1]),
        vision=dict(depth=2, embed_dim=16, num_heads=2, mlp_ratio=4, patch_size=2), tie=False),
    "qwen2vl-b": dict(
        seed=11, image_sizes=[(12, 30), (18, 12), (12, 18)], embed_sizes=[(40, 26), (15, 31), (4, 7)],
        pixels=dict(min=144, max=576), config_form="flat", layout="memory", eos="<|im_end|>", vocab_multiple=1,
        text=dict(hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=2,
                  num_key_value_heads=1, rms_norm_eps=1e-5, rope_theta=1e4, mrope_section=[2, 3, 3]),
        vision=dict(depth=3, embed_dim=24, num_heads=2, mlp_ratio=2, patch_size=3), tie=True),
}


def build_tokenizer():
    """Qwen2's tokenizer.json pipeline (Qwen2Converter) over a BPE learned here; specials appended after it."""
    def pipeline(model):
        tokenizer = Tokenizer(model)
        tokenizer.normalizer = normalizers.NFC()
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        # Flags as in Qwen2-VL's hub file; neither stage reads them when making ids or text.
        tokenizer.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
        tokenizer.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
        return tokenizer

    trainer = trainers.BpeTrainer(vocab_size=LEARNED_VOCAB, show_progress=False, min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    learner = pipeline(models.BPE())
    # Mostly the strings the fixtures tokenise (short sequences keep the logits small), some others so that
    # words are also split into several pieces.
    corpus = [IMAGE_TEMPLATE, TEXT_TEMPLATE] * 200 + (CAPTIONS + LONG_CAPTIONS) * 20 + training_corpus()[:300]
    learner.train_from_iterator(corpus, trainer=trainer)
    learned = json.loads(learner.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in learned["merges"]]
    tokenizer = pipeline(models.BPE(vocab=learned["vocab"], merges=merges, dropout=None, unk_token=None,
                                    continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False,
                                    byte_fallback=False))
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    return tokenizer


def hub_key(key):
    """transformers 5.x in-memory names -> the hub layout (what save_pretrained writes)."""
    if key.startswith("model.language_model."):
        return "model." + key[len("model.language_model."):]
    if key.startswith("model.visual."):
        return key[len("model."):]
    if key == "lm_head.weight":
        return key
    raise ValueError(f"unexpected key {key}")


def discern_name(peft_name):
    """PEFT parameter name -> Discern's (hub layout, no adapter name)."""
    return hub_key(peft_name.replace("base_model.model.", "", 1).replace(".default", ""))


def write_config(directory, spec, tokenizer):
    ids = {name: tokenizer.token_to_id(f"<|{name}|>") for name in ["endoftext", "image_pad", "video_pad", "vision_start",
                                                                   "vision_end"]}
    size = tokenizer.get_vocab_size(with_added_tokens=True)
    vocab = -(-size // spec["vocab_multiple"]) * spec["vocab_multiple"]
    text, vision = dict(spec["text"]), dict(spec["vision"])
    rope = dict(rope_theta=text.pop("rope_theta"), mrope_section=text.pop("mrope_section"))
    text.update(vocab_size=vocab, bos_token_id=ids["endoftext"], eos_token_id=tokenizer.token_to_id(spec["eos"]),
                max_position_embeddings=256, hidden_act="silu")
    vision.update(hidden_size=text["hidden_size"], spatial_merge_size=2, temporal_patch_size=2, hidden_act="quick_gelu")
    top = dict(image_token_id=ids["image_pad"], video_token_id=ids["video_pad"], tie_word_embeddings=spec["tie"],
               vision_start_token_id=ids["vision_start"], vision_end_token_id=ids["vision_end"])
    if spec["config_form"] == "nested":
        config = Qwen2VLConfig(text_config=dict(rope_parameters=dict(rope_type="default", **rope), **text),
                               vision_config=vision, **top).to_dict()
        for key in ["transformers_version", "_name_or_path", "dtype", "output_hidden_states", "return_dict", "id2label",
                    "label2id", "chunk_size_feed_forward", "is_encoder_decoder", "problem_type", "output_attentions"]:
            for part in [config, config["text_config"], config["vision_config"]]:
                part.pop(key, None)
    else:  # the flat file of Qwen2-VL-2B-Instruct, transformers 4.41
        vision.update(in_chans=3, spatial_patch_size=vision["patch_size"])
        config = dict(architectures=["Qwen2VLForConditionalGeneration"], model_type="qwen2_vl", **text, **top,
                      rope_theta=rope["rope_theta"], rope_scaling=dict(type="mrope", mrope_section=rope["mrope_section"]),
                      use_sliding_window=False, sliding_window=256, max_window_layers=text["num_hidden_layers"],
                      attention_dropout=0.0, initializer_range=0.02, use_cache=True, torch_dtype="float32",
                      vision_config=vision)
    (directory / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    loaded = Qwen2VLConfig.from_pretrained(str(directory))
    assert loaded.text_config.rope_parameters["mrope_section"] == rope["mrope_section"], loaded.text_config.rope_parameters
    assert loaded.text_config.rope_parameters["rope_theta"] == rope["rope_theta"]
    assert loaded.tie_word_embeddings == spec["tie"] and loaded.text_config.vocab_size == vocab
    return loaded


def write_preprocessor(directory, spec):
    base = dict(patch_size=spec["vision"]["patch_size"], temporal_patch_size=2, merge_size=2,
                image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711],
                image_processor_type="Qwen2VLImageProcessor")
    pixels = spec["pixels"]
    if spec["config_form"] == "nested":
        extra = dict(size=dict(shortest_edge=pixels["min"], longest_edge=pixels["max"]), do_resize=True, resample=3,
                     do_rescale=True, rescale_factor=1 / 255, do_normalize=True, do_convert_rgb=True)
    else:  # Qwen2-VL-2B-Instruct's file: only these keys, the rest default
        extra = dict(min_pixels=pixels["min"], max_pixels=pixels["max"], processor_class="Qwen2VLProcessor")
    (directory / "preprocessor_config.json").write_text(json.dumps({**base, **extra}, indent=2, sort_keys=True) + "\n")
    processor = AutoImageProcessor.from_pretrained(str(directory), backend="pil")
    assert type(processor).__name__ == "Qwen2VLImageProcessorPil", type(processor)
    return processor


def write_weights(directory, spec, config):
    torch.manual_seed(spec["seed"])
    model = Qwen2VLForConditionalGeneration(config)
    with torch.no_grad():  # O(1) activations in every layer, norms and biases visibly non-trivial
        for key, tensor in model.named_parameters():
            if tensor.dim() >= 2:
                tensor.normal_(0, 1 / math.sqrt(tensor[0].numel()))
            elif key.endswith(".weight"):
                tensor.copy_(1 + 0.1 * torch.randn_like(tensor))
            else:
                tensor.normal_(0, 0.1)
    state = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    if config.tie_word_embeddings:
        state.pop("lm_head.weight")
    if spec["layout"] == "hub":
        state = {hub_key(k): v for k, v in state.items()}
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})


def load_model(directory, dtype):
    model, info = Qwen2VLForConditionalGeneration.from_pretrained(str(directory), dtype=dtype, attn_implementation="sdpa",
                                                                  output_loading_info=True)
    assert not any(info[k] for k in ["missing_keys", "unexpected_keys", "mismatched_keys"]), info
    return model.eval()


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


def store_batch(fixtures, name, batch):
    for key in ["ids", "mask", "position_ids", "rope_deltas"]:
        fixtures[f"{name}_{key}"] = batch[key]


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


def base_fixtures(model, prompts, pixels, grid, image_batch, text_batch):
    inner = model.model
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


def adapted_fixtures(model, prompts, pixels, grid, image_batch, text_batch, ntp_batch, long_ids):
    torch.manual_seed(23)
    lora = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=LORA_TARGETS)).double()
    lora_names = [key for key, _ in lora.named_parameters() if "lora_" in key]
    assert lora_names and all(".language_model.layers." in key for key in lora_names), lora_names
    with torch.no_grad():
        for key, tensor in lora.named_parameters():
            if "lora_" in key:
                tensor.normal_(0, 0.2)
    inner = lora.base_model.model.model  # Qwen2VLModel: visual, language_model
    embed, hidden_size = inner.language_model.embed_tokens, model.config.text_config.hidden_size
    image_prompt = image_batch["ids"][0][image_batch["mask"][0].bool()].tolist()
    image_suffix = image_prompt[image_prompt.index(model.config.vision_end_token_id) + 1:]
    probe, probe_caption = prompts.text_prompt("a"), prompts.tokenizer.encode("a").ids
    text_suffix = probe[len(probe_caption):]
    for row in text_batch["ids"]:
        assert row[-len(text_suffix):].tolist() == text_suffix, "caption tokens merge with the prompt suffix"
    with torch.no_grad():
        noise = lambda n: 0.05 * torch.randn(n, hidden_size, dtype=torch.float64)
        image_soft = (embed(torch.tensor(image_suffix)) + noise(len(image_suffix))).requires_grad_(True)
        text_soft = (embed(torch.tensor(text_suffix)) + noise(len(text_suffix))).requires_grad_(True)
    logit_scale = torch.tensor(math.log(1 / 0.07), dtype=torch.float64, requires_grad=True)
    fixtures = {"adapted.soft_prompts.image": image_soft.detach().clone(),
                "adapted.soft_prompts.text": text_soft.detach().clone(),
                "adapted.logit_scale": logit_scale.detach().clone().reshape(1)}
    for key, tensor in lora.named_parameters():
        if "lora_" in key:
            fixtures["adapted." + discern_name(key)] = tensor.detach().clone()

    features = torch.cat(inner.get_image_features(pixels, grid, return_dict=True).pooler_output)

    def run(batch, soft, starts, with_images):
        """Token embeddings, image features on the <|image_pad|> rows, soft rows from each start; the LLM."""
        x = embed(batch["ids"]) * batch["mask"].unsqueeze(-1)
        if with_images:
            x = x.masked_scatter((batch["ids"] == prompts.image_id).unsqueeze(-1), features)
        x = torch.stack([torch.cat([x[b, :s], soft, x[b, s + len(soft):]]) for b, s in enumerate(starts)])
        return inner.language_model(inputs_embeds=x, attention_mask=batch["mask"],
                                    position_ids=batch["position_ids"]).last_hidden_state

    length = image_batch["ids"].shape[1]
    hidden = run(image_batch, image_soft, [length - len(image_suffix)] * 3, True)
    image_embeddings = F.normalize(hidden[:, -1], dim=-1)
    length = text_batch["ids"].shape[1]
    text_embeddings = F.normalize(run(text_batch, text_soft, [length - len(text_suffix)] * 3, False)[:, -1], dim=-1)
    logits = logit_scale.exp() * image_embeddings @ text_embeddings.T
    labels = torch.arange(len(long_ids))
    contrastive = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    length = ntp_batch["ids"].shape[1]
    hidden = run(ntp_batch, image_soft, [length - len(l) - len(image_suffix) for l in long_ids], True)
    ntp_logits = lora.base_model.model.lm_head(hidden)
    ntp = F.cross_entropy(ntp_logits.flatten(0, 1), ntp_batch["targets"].flatten(), ignore_index=-100)
    (contrastive + ntp).backward()

    fixtures.update({"adapted.image_embeddings": image_embeddings.detach(),
                     "adapted.text_embeddings": text_embeddings.detach(),
                     "adapted.contrastive_loss": contrastive.detach().reshape(1), "adapted.ntp_loss": ntp.detach().reshape(1),
                     "grad.soft_prompts.image": image_soft.grad, "grad.soft_prompts.text": text_soft.grad,
                     "grad.logit_scale": logit_scale.grad.reshape(1)})
    for key, tensor in lora.named_parameters():
        if "lora_" in key:
            fixtures["grad." + discern_name(key)] = tensor.grad
    meta = dict(image_suffix_length=len(image_suffix), text_suffix_length=len(text_suffix))
    return fixtures, meta, (contrastive.item(), ntp.item())


def ntp_targets(batch, long_ids):
    targets = torch.full_like(batch["ids"], -100)
    length = batch["ids"].shape[1]
    for b, l in enumerate(long_ids):
        targets[b, length - len(l) - 1:length - 1] = torch.tensor(l)
    return targets


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

    image_files = save_images(directory / "inputs", spec["image_sizes"], spec["seed"])
    pixels, grid = preprocess(processor, image_files)
    pixels = pixels.double()
    tokens = prompts.image_tokens(grid)
    assert len(set(map(tuple, grid.tolist()))) == len(tokens), "the images must differ in size"
    image_prompts = [prompts.image_prompt(n) for n in tokens]
    eos = model.config.text_config.eos_token_id
    long_ids = [prompts.tokenizer.encode(c, add_special_tokens=False).ids + [eos] for c in LONG_CAPTIONS]
    image_batch = prompts.batch(image_prompts, grid)
    text_batch = prompts.batch([prompts.text_prompt(c) for c in CAPTIONS])
    ntp_batch = prompts.batch([p + l for p, l in zip(image_prompts, long_ids)], grid)
    ntp_batch["targets"] = ntp_targets(ntp_batch, long_ids)

    fixtures = {"pixel_values": pixels, "image_grid_thw": grid, "ntp_targets": ntp_batch["targets"]}
    for kind, batch in [("image", image_batch), ("text", text_batch), ("ntp", ntp_batch)]:
        store_batch(fixtures, kind, batch)
    fixtures.update(vision_fixtures(model, pixels, grid))
    fixtures.update(base_fixtures(model, prompts, pixels, grid, image_batch, text_batch))
    adapted, meta, losses = adapted_fixtures(model, prompts, pixels, grid, image_batch, text_batch, ntp_batch, long_ids)
    fixtures.update(adapted)
    fixtures = {k: (v.to(torch.float64) if v.is_floating_point() else v.to(torch.int64)).contiguous() for k, v in fixtures.items()}
    save_file(fixtures, str(directory / "fixtures.safetensors"), metadata={"format": "pt"})
    meta.update(image_template=IMAGE_TEMPLATE, text_template=TEXT_TEMPLATE, captions=CAPTIONS, long_captions=LONG_CAPTIONS,
                lora=dict(r=4, alpha=8), image_tokens=tokens, image_sizes=[list(s) for s in spec["image_sizes"]],
                image_files=[str(p.relative_to(directory)) for p in image_files], pad_token_id=prompts.pad_id,
                eos_token_id=eos, padding_side="left")
    (directory / "fixtures.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    embed_fixture(directory, spec, processor, prompts)
    print(f"{name}: image tokens {tokens}, contrastive {losses[0]:.6f} ntp {losses[1]:.6f}, files in {directory}")


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
    shared_tokenizer = build_tokenizer()
    for model_name, model_spec in MODELS.items():
        build(model_name, model_spec, shared_tokenizer)
