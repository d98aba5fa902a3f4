"""The files of a tiny random Qwen2-VL model directory, for make_qwen2vl_fixtures.py (whose docstring says what
each model is): tokenizer.json, config.json in either form, preprocessor_config.json in either form, float32
weights in either key layout, and loading them back through transformers.
"""

import json
import math

import torch
from safetensors.torch import save_file
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoImageProcessor, Qwen2VLConfig, Qwen2VLForConditionalGeneration

from make_model_fixtures import CAPTIONS, IMAGE_TEMPLATE, LONG_CAPTIONS, TEXT_TEMPLATE
from make_tokenizer_fixtures import training_corpus

# transformers.convert_slow_tokenizer.Qwen2Converter's pattern, the one in Qwen2-VL's tokenizer.json.
QWEN2_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
            "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
            "<|image_pad|>", "<|video_pad|>"]
LEARNED_VOCAB = 350  # 256 byte symbols + learned merges; small keeps embeddings and logits tiny


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
        config["architectures"] = ["Qwen2VLForConditionalGeneration"]  # as save_pretrained writes it
        config["text_config"].pop("architectures")
        config["vision_config"].pop("architectures")
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
