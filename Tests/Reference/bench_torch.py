#!/usr/bin/env python3
"""PyTorch twin of `discern bench --config configs/bench-small.yaml` (docs/performance.md).

The same LLaVA-shaped model and the same VladVA training step (soft prompts + LoRA, contrastive +
next-token loss) on the same batch shape, written the way a Python user would: real transformers
(LlavaForConditionalGeneration) and real PEFT LoRA, fp32 on the CPU; with `--autocast bf16` the
forward passes run under `torch.autocast("cpu", dtype=torch.bfloat16)`, PyTorch's own mixed
precision (oneDNN bf16 matmuls), as a PyTorch user on a bf16-capable CPU would run it. It times
warm-up-free steps, splits each step into the phases Discern reports, and writes the same JSON keys
as `discern bench`.

Usage: Tests/Reference/.venv/bin/python Tests/Reference/bench_torch.py --threads 1 [--steps 10]
       [--warmup 2] [--autocast bf16] [--json runs/bench/torch-1t.json]
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time
import warnings

BATCH = 8                      # image/caption pairs per step
CAPTION = 16                   # caption tokens per pair (all equal: no padding, no attention mask)
BOS, EOS = 1, 2
VOCAB = 1000
SOFT_PROMPT = 8                # rows of each soft prompt (image and text)
IMAGE_FEATURES = 64            # (64 / 8)^2 patches, CLS dropped ("default" strategy)
IMAGE_SEQUENCE = 1 + IMAGE_FEATURES + SOFT_PROMPT + CAPTION + 1   # BOS, image, soft prompt, caption, EOS = 90
TEXT_SEQUENCE = 1 + CAPTION + SOFT_PROMPT                         # BOS, caption, soft prompt = 25
IMAGE_POOL = 1 + IMAGE_FEATURES + SOFT_PROMPT - 1                 # 72: the image soft prompt's last row
TEXT_POOL = TEXT_SEQUENCE - 1                                     # 24: the text soft prompt's last row
NTP_TARGETS = CAPTION + 1                                         # 16 caption tokens and EOS per pair
LOGIT_SCALE_INIT = math.log(1 / 0.07)
LOGIT_SCALE_MAX = math.log(100.0)


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, required=True, help="intra-op threads (torch.set_num_threads)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps before the timed ones")
    parser.add_argument("--json", help="write the result to this file")
    parser.add_argument("--autocast", choices=["off", "bf16"], default="off",
                        help="run the forward passes under torch.autocast('cpu', dtype=torch.bfloat16)")
    arguments = parser.parse_args()
    if arguments.threads < 1 or arguments.steps < 1 or arguments.warmup < 0:
        parser.error("--threads and --steps must be at least 1, --warmup at least 0")
    return arguments


arguments = parse_arguments()
# The thread pools read these when torch loads, so they must be set before the import.
os.environ["OMP_NUM_THREADS"] = str(arguments.threads)
os.environ["MKL_NUM_THREADS"] = str(arguments.threads)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from peft import LoraConfig, get_peft_model  # noqa: E402
from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration  # noqa: E402

# PEFT 0.21 calls an API transformers 5.24 deprecates; the warning says nothing about the benchmark.
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
torch.set_num_threads(arguments.threads)
torch.set_num_interop_threads(1)
torch.manual_seed(0)


def analytic_flops():
    """Discern's FlopEstimate for this step (2 FLOPs per multiply-add, GEMM work only, LoRA not counted)."""
    d, inter, tokens = 256, 1024, IMAGE_FEATURES + 1
    vision_macs = (IMAGE_FEATURES * (3 * 8 * 8) * d                                   # patch embedding
                   + 3 * (tokens * (4 * d * d + 2 * d * inter) + 2 * tokens * tokens * d)  # the 3 layers used
                   + IMAGE_FEATURES * (d * 512 + 512 * 512))                            # projector
    vision = 2 * vision_macs * BATCH                                                    # forward only (frozen)

    def language_macs(b, n):
        return 4 * (b * n * (2 * 512 * 512 + 2 * 512 * 512 + 3 * 512 * 1376) + b * 2 * n * n * 512)
    # Forward plus the backward's input gradients; the frozen base gets no weight-gradient products.
    language = 4 * language_macs(BATCH, IMAGE_SEQUENCE) + 4 * language_macs(BATCH, TEXT_SEQUENCE)
    head = 4 * (BATCH * NTP_TARGETS) * VOCAB * 512
    return float(vision + language + head)


def build_model():
    vision = CLIPVisionConfig(hidden_size=256, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=4,
                              image_size=64, patch_size=8, num_channels=3, hidden_act="quick_gelu",
                              layer_norm_eps=1e-5)
    text = LlamaConfig(hidden_size=512, intermediate_size=1376, num_hidden_layers=4, num_attention_heads=8,
                       num_key_value_heads=8, head_dim=64, vocab_size=VOCAB, rms_norm_eps=1e-5, rope_theta=10000.0,
                       max_position_embeddings=256, attention_bias=False, mlp_bias=False, tie_word_embeddings=False,
                       bos_token_id=BOS, eos_token_id=EOS, pad_token_id=0, use_cache=False)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=VOCAB - 1,
                         projector_hidden_act="gelu", vision_feature_layer=-2,
                         vision_feature_select_strategy="default", multimodal_projector_bias=True,
                         tie_word_embeddings=False)
    # "sdpa" is what transformers picks on the CPU anyway; named so the benchmark does not depend on it.
    model = LlavaForConditionalGeneration._from_config(config, attn_implementation="sdpa").float()

    # LLaVA reads the image features after layer 3 of 4 (vision_feature_layer -2), so the 4th layer's
    # output is never used. Discern computes only the 3 layers used; so that the twin does not spend
    # time on the 4th either, it is removed and the features are read from the last layer instead
    # (hidden_states[-1] of the 3-layer tower IS hidden_states[-2] of the 4-layer one; checked below).
    pixels = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        four_layers = model.model.get_image_features(pixel_values=pixels, vision_feature_layer=-2,
                                                     vision_feature_select_strategy="default").pooler_output
        encoder = model.model.vision_tower.encoder   # transformers 5.x: no .vision_model level
        encoder.layers = encoder.layers[:3]
        model.config.vision_config.num_hidden_layers = 3
        model.config.vision_feature_layer = -1
        three_layers = model.model.get_image_features(pixel_values=pixels, vision_feature_layer=-1,
                                                      vision_feature_select_strategy="default").pooler_output
    if not torch.equal(torch.stack(list(four_layers)), torch.stack(list(three_layers))):
        sys.exit("bench_torch: the 3-layer tower does not reproduce the 4-layer tower's layer -2 features")

    # LoRA on the language model only: a suffix list like ["q_proj"] would also hit the CLIP tower's
    # q_proj/k_proj/v_proj, so the targets are one regex anchored in the language model.
    lora = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, bias="none",
                      target_modules=r".*language_model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)")
    model = get_peft_model(model, lora)   # freezes every base weight
    return model


class VladVA(torch.nn.Module):
    """The trainable extras around the PEFT model: two soft prompts and the contrastive logit scale."""

    def __init__(self):
        super().__init__()
        # Small random rows (the embedding table's own init scale); Discern initialises them from the
        # prompt's token embeddings, which has the same cost.
        self.image_prompt = torch.nn.Parameter(0.02 * torch.randn(SOFT_PROMPT, 512))
        self.text_prompt = torch.nn.Parameter(0.02 * torch.randn(SOFT_PROMPT, 512))
        self.logit_scale = torch.nn.Parameter(torch.tensor(LOGIT_SCALE_INIT))


def main():
    peft_model = build_model()
    llava = peft_model.base_model.model              # LlavaForConditionalGeneration with LoRA layers inside
    language_model = llava.model.language_model      # LlamaModel: hidden states after the final RMSNorm
    embed, lm_head = language_model.get_input_embeddings(), llava.lm_head
    extras = VladVA()

    lora_parameters = [p for p in peft_model.parameters() if p.requires_grad]
    base_trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad and "lora_" not in n]
    if base_trainable:
        sys.exit(f"bench_torch: base weights left trainable: {base_trainable[:3]}")
    extra_parameters = list(extras.parameters())
    trainable = lora_parameters + extra_parameters
    optimizer = torch.optim.AdamW([{"params": lora_parameters, "weight_decay": 0.01},
                                   {"params": extra_parameters, "weight_decay": 0.0}],
                                  lr=1e-4, betas=(0.9, 0.999), eps=1e-8)

    # One batch, drawn once.
    pixels = torch.randn(BATCH, 3, 64, 64)
    captions = torch.randint(3, VOCAB, (BATCH, CAPTION))
    targets = torch.cat([captions, torch.full((BATCH, 1), EOS)], dim=1).reshape(-1)   # (136,)
    bos, eos = torch.tensor([BOS]), torch.tensor([EOS])
    labels = torch.arange(BATCH)

    autocast = arguments.autocast == "bf16"

    def step():
        # PyTorch's recipe: the forward (and the loss) under autocast, backward and optimizer outside it.
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            t0, t1, t2, contrastive, ntp, loss = forward()
        loss.backward()
        t3 = time.perf_counter()

        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            extras.logit_scale.clamp_(0.0, LOGIT_SCALE_MAX)
        t4 = time.perf_counter()
        split = {"vision_forward": t1 - t0, "llm_forward": t2 - t1, "llm_backward": t3 - t2,
                 "optimizer": t4 - t3, "communication": 0.0}
        return t4 - t0, split, (contrastive.item(), ntp.item())

    def forward():
        t0 = time.perf_counter()
        with torch.no_grad():   # frozen tower and projector: no gradient flows into them
            image_features = llava.model.get_image_features(
                pixel_values=pixels, vision_feature_layer=-1, vision_feature_select_strategy="default").pooler_output
            image_features = torch.stack(list(image_features))                        # (8, 64, 512)
        t1 = time.perf_counter()

        caption_rows = embed(captions)                                                 # (8, 16, 512)
        bos_rows = embed(bos).expand(BATCH, 1, -1)
        image_inputs = torch.cat([bos_rows, image_features, extras.image_prompt.expand(BATCH, -1, -1),
                                  caption_rows, embed(eos).expand(BATCH, 1, -1)], dim=1)           # (8, 90, 512)
        text_inputs = torch.cat([bos_rows, caption_rows, extras.text_prompt.expand(BATCH, -1, -1)], dim=1)  # (8, 25, 512)
        image_hidden = language_model(inputs_embeds=image_inputs, use_cache=False).last_hidden_state
        text_hidden = language_model(inputs_embeds=text_inputs, use_cache=False).last_hidden_state
        image_embedding = F.normalize(image_hidden[:, IMAGE_POOL], dim=-1)            # (8, 512)
        text_embedding = F.normalize(text_hidden[:, TEXT_POOL], dim=-1)               # (8, 512)
        logits = extras.logit_scale.exp() * image_embedding @ text_embedding.T       # (8, 8)
        contrastive = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
        # Position 72 predicts caption[0], 72+i predicts caption[i], 88 predicts EOS: the head sees 136 rows.
        predicting = image_hidden[:, IMAGE_POOL:IMAGE_POOL + NTP_TARGETS].reshape(-1, 512)  # (136, 512)
        ntp = F.cross_entropy(lm_head(predicting), targets)
        loss = contrastive + ntp
        t2 = time.perf_counter()
        return t0, t1, t2, contrastive, ntp, loss

    first_loss = None
    for _ in range(arguments.warmup):
        _, _, losses = step()
        first_loss = first_loss or losses
    totals, splits = [], []
    for _ in range(arguments.steps):
        total, split, losses = step()
        first_loss = first_loss or losses
        totals.append(total)
        splits.append(split)

    median = statistics.median(totals)
    flops = analytic_flops()
    result = {
        "tool": "pytorch",
        "precision": "bf16-autocast" if autocast else "fp32",
        "torch_version": torch.__version__,
        "threads": arguments.threads,
        "ranks": 1,
        "steps": arguments.steps,
        "batch": BATCH,
        "seconds_per_step": {"median": median, "min": min(totals), "max": max(totals)},
        "samples_per_second": BATCH / median,
        "tokens_per_second": BATCH * (IMAGE_SEQUENCE + TEXT_SEQUENCE) / median,
        "flops_per_step": flops,
        "gflops": flops / median / 1e9,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "split_seconds": {key: statistics.median(s[key] for s in splits) for key in splits[0]},
        "first_loss": {"contrastive": first_loss[0], "ntp": first_loss[1]},
    }

    lora_count = sum(p.numel() for p in lora_parameters)
    total_count = sum(p.numel() for p in peft_model.parameters()) + sum(p.numel() for p in extra_parameters)
    print(f"pytorch {torch.__version__}, {result['precision']}, {arguments.threads} thread(s), attention "
          f"{llava.config.text_config._attn_implementation}, {total_count / 1e6:.2f}M parameters "
          f"({lora_count} LoRA + {sum(p.numel() for p in extra_parameters)} soft prompt/scale trainable)")
    print(f"batch {BATCH}, {arguments.warmup} warm-up + {arguments.steps} timed steps: "
          f"{median:.3f} s/step median (min {min(totals):.3f}, max {max(totals):.3f}), "
          f"{result['samples_per_second']:.2f} samples/s, {result['tokens_per_second']:.0f} tokens/s")
    print(f"analytic {flops:.4g} FLOP/step -> {result['gflops']:.1f} GFLOP/s; peak RSS "
          f"{result['peak_rss_bytes'] / 2**20:.0f} MiB; load average {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} CPUs (a busy machine slows multi-threaded runs most)")
    print("split (median s): " + ", ".join(f"{k} {v:.4f}" for k, v in result["split_seconds"].items()))
    print(f"first loss: contrastive {first_loss[0]:.4f} (ln 8 = {math.log(8):.4f}), "
          f"ntp {first_loss[1]:.4f} (ln 1000 = {math.log(1000):.4f})")
    if arguments.json:
        os.makedirs(os.path.dirname(os.path.abspath(arguments.json)), exist_ok=True)
        with open(arguments.json, "w") as file:
            json.dump(result, file, indent=2)
            file.write("\n")


if __name__ == "__main__":
    main()
