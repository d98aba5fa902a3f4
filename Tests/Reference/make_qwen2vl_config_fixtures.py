"""Writes Qwen2-VL-2B-Instruct's config.json (reconstructed: the hub file is not fetched) and what transformers
5.24's Qwen2VLConfig resolves from each Qwen2-VL config.json fixture, for Qwen2VLConfigTests (run with
Tests/Reference/.venv/bin/python; writes Tests/ModelsTests/Fixtures/qwen2vl-2b-instruct/config.json and
Tests/ModelsTests/Fixtures/qwen2vl-config-expected.json). Deterministic: no randomness, sorted output.

The 2B file is the hub's older flat form: the Qwen2 text keys at the top level (28 layers, 1536 wide, 12 / 2
heads, MLP 8960, vocab 151936, tied), `rope_scaling: {type: mrope, mrope_section: [16, 24, 24]}` with top-level
rope_theta 1e6, and a vision_config written before transformers named its keys (`in_chans`,
`spatial_patch_size` next to `patch_size`; no hidden_act, so transformers' quick_gelu). The expected values are
read off the transformers objects the way its modeling code reads them (head_dim = hidden // heads,
mrope_section with the modeling default [16, 24, 24], MLP width int(embed_dim * mlp_ratio)), and the 2B
config also builds the model on the meta device to count its parameters.
"""
import json
import pathlib

import torch
from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "ModelsTests" / "Fixtures"

QWEN2VL_2B_INSTRUCT = {
    "architectures": ["Qwen2VLForConditionalGeneration"],
    "attention_dropout": 0.0,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "vision_start_token_id": 151652,
    "vision_end_token_id": 151653,
    "vision_token_id": 151654,
    "image_token_id": 151655,
    "video_token_id": 151656,
    "hidden_act": "silu",
    "hidden_size": 1536,
    "initializer_range": 0.02,
    "intermediate_size": 8960,
    "max_position_embeddings": 32768,
    "max_window_layers": 28,
    "model_type": "qwen2_vl",
    "num_attention_heads": 12,
    "num_hidden_layers": 28,
    "num_key_value_heads": 2,
    "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0,
    "sliding_window": 32768,
    "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.41.2",
    "use_cache": True,
    "use_sliding_window": False,
    "vision_config": {
        "depth": 32,
        "embed_dim": 1280,
        "mlp_ratio": 4,
        "num_heads": 16,
        "in_chans": 3,
        "hidden_size": 1536,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "spatial_patch_size": 14,
        "temporal_patch_size": 2,
    },
    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
    "vocab_size": 151936,
}


def resolved(config):
    """The values Discern's Qwen2VLConfig holds, as transformers' modeling code reads them."""
    text, vision = config.text_config, config.vision_config
    return {
        "text": {
            "vocab_size": text.vocab_size, "hidden_size": text.hidden_size, "intermediate_size": text.intermediate_size,
            "num_hidden_layers": text.num_hidden_layers, "num_attention_heads": text.num_attention_heads,
            "num_key_value_heads": text.num_key_value_heads, "head_dim": text.hidden_size // text.num_attention_heads,
            "hidden_act": text.hidden_act, "max_position_embeddings": text.max_position_embeddings,
            "rms_norm_eps": text.rms_norm_eps, "rope_theta": text.rope_parameters["rope_theta"],
            "bos_token_id": text.bos_token_id, "eos_token_id": text.eos_token_id, "pad_token_id": text.pad_token_id,
        },
        "mrope_section": text.rope_parameters.get("mrope_section", [16, 24, 24]),
        "tie_word_embeddings": config.tie_word_embeddings,
        "image_token_id": config.image_token_id, "video_token_id": config.video_token_id,
        "vision_start_token_id": config.vision_start_token_id, "vision_end_token_id": config.vision_end_token_id,
        "vision": {
            "depth": vision.depth, "embed_dim": vision.embed_dim, "hidden_size": vision.hidden_size,
            "num_heads": vision.num_heads, "mlp_ratio": vision.mlp_ratio, "mlp_width": int(vision.embed_dim * vision.mlp_ratio),
            "patch_size": vision.patch_size, "spatial_merge_size": vision.spatial_merge_size,
            "temporal_patch_size": vision.temporal_patch_size, "in_channels": vision.in_channels,
            "hidden_act": vision.hidden_act, "rope_theta": vision.rope_parameters["rope_theta"],
        },
    }


def parameter_count(config):
    with torch.device("meta"):
        model = Qwen2VLForConditionalGeneration(config)
    # Tied: lm_head shares the embedding's tensor, which parameters() lists once.
    return sum(parameter.numel() for parameter in model.parameters())


def main():
    directory = FIXTURES / "qwen2vl-2b-instruct"
    directory.mkdir(exist_ok=True)
    (directory / "config.json").write_text(json.dumps(QWEN2VL_2B_INSTRUCT, indent=2) + "\n")
    expected = {}
    for name in ["qwen2vl-a", "qwen2vl-b", "qwen2vl-2b-instruct"]:
        config = Qwen2VLConfig(**json.loads((FIXTURES / name / "config.json").read_text()))
        expected[name] = resolved(config)
        expected[name]["parameter_count"] = parameter_count(config)
    (FIXTURES / "qwen2vl-config-expected.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
