/// Every configuration field: its dotted path, type, default and meaning. The YAML loader, the
/// `--set` overrides, the error messages and docs/config.md all come from this one table.
package struct ConfigField: Sendable {
    package enum Kind: String, Sendable { case int, double, bool, string, path }
    package let path: String
    package let kind: Kind
    package let defaultValue: ConfigValue
    package let help: String
    /// Allowed values for a string field (empty = any).
    package let choices: [String]
    /// Allowed values for a numeric field (nil = any value of the type).
    package let range: ConfigRange?

    init(_ path: String, _ kind: Kind, _ defaultValue: ConfigValue, _ help: String, choices: [String] = [], range: ConfigRange? = nil) {
        self.path = path
        self.kind = kind
        self.defaultValue = defaultValue
        self.help = help
        self.choices = choices
        self.range = range
    }
}

package enum ConfigValue: Sendable, Equatable, CustomStringConvertible {
    case int(Int), double(Double), bool(Bool), string(String), null

    package var description: String {
        switch self {
        case .int(let v): return String(v)
        case .double(let v): return String(v)
        case .bool(let v): return String(v)
        case .string(let v): return v.isEmpty ? "\"\"" : v.contains("\n") ? v.debugDescription : v
        case .null: return "null"
        }
    }
}

package enum ConfigSchema {
    /// Upper bounds that keep counts far from Int overflow and Double -> Int conversion traps.
    enum Limits {
        static let count: Double = 0x1p40
        static let batch: Double = 0x1p24
        static let benchSize: Double = 0x1p20
    }

    package static let fields: [ConfigField] = [
        // Where things are
        ConfigField("model", .path, .string(""), "Hugging Face LLaVA model directory (config.json, tokenizer.json, safetensors). Relative paths resolve against the current directory."),
        ConfigField("data", .path, .string(""), "Directory of training shards made by `discern prepare` or `discern synth` (its train/ split)."),
        ConfigField("run_dir", .path, .string("checkpoints/run"), "Where metrics.jsonl and checkpoints go."),
        // The run
        ConfigField("seed", .int, .int(1234), "Seed of the data order, the adapter initialisation and the LoRA dropout masks; same seed, same run."),
        ConfigField("steps", .int, .int(100), "Optimizer steps to train.", range: .from(1, to: Limits.count)),
        ConfigField("global_batch", .int, .int(32), "Image/caption pairs per optimizer step over all ranks; must divide by the number of ranks.", range: .from(1, to: Limits.batch)),
        ConfigField("micro_batch", .int, .int(0), "Pairs per rank per forward/backward chunk (GradCache); 0 = the whole local batch at once. The contrastive gradient is exact either way.", range: .from(0, to: Limits.batch)),
        ConfigField("threads", .int, .int(0), "Compute threads per rank for the non-GEMM kernels; 0 = OPENBLAS_NUM_THREADS or 1.", range: .from(0, to: 4096)),
        ConfigField("log_every", .int, .int(10), "Print a progress line every N steps (metrics.jsonl gets every step).", range: .from(1, to: Limits.count)),
        // Prompts
        ConfigField("prompts.image", .string, .string("<image>\nSummary above image in one word:"), "Image prompt template; `<image>` marks where the visual tokens go."),
        ConfigField("prompts.text", .string, .string("<sent>\nSummary above sentence in one word:"), "Text prompt template; `<sent>` is replaced by the caption."),
        ConfigField("image.mode", .string, .string("crop"), "Image preprocessing: `crop` (the Hugging Face processor) or `pad` (LLaVA training: pad to a square first).", choices: RunConfiguration.ImageMode.allCases.map(\.rawValue)),
        // What trains
        ConfigField("train.mode", .string, .string("adapters"), "`adapters`: soft prompts and/or LoRA on a frozen base (VladVA). `full`: every base weight trains (generative pre-training of a tiny model).", choices: RunConfiguration.TrainMode.allCases.map(\.rawValue)),
        ConfigField("train.soft_prompts", .bool, .bool(true), "Replace the prompt suffixes by trainable soft prompts, initialised from their token embeddings."),
        ConfigField("train.lora", .bool, .bool(true), "Train LoRA adapters on `lora.target_modules`."),
        ConfigField("lora.rank", .int, .int(16), "LoRA rank r.", range: .from(1, to: 65536)),
        ConfigField("lora.alpha", .double, .double(16), "LoRA alpha; the update is scaled by alpha / r.", range: .above(0, upTo: 1e6)),
        ConfigField("lora.dropout", .double, .double(0), "Dropout on the LoRA input during training (PEFT's lora_dropout), in the language model's adapters. Masks are a pure function of (seed, step, module, sample, position), so ranks, micro-batches and resumes agree.", range: .unitHalfOpen),
        ConfigField("lora.target_modules", .string, .string(#"(language_model\.)?model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"#), "Regular expression over module names in the model family's naming (full match, PEFT's meaning of a string); default: the LLM's seven projections of LLaVA (`language_model.model.layers.N...`) and Qwen2-VL (`model.layers.N...`)."),
        // Losses
        ConfigField("loss.contrastive", .double, .double(1), "Weight of the global-batch contrastive loss (short captions); 0 turns it off.", range: .from(0, to: 1e6)),
        ConfigField("loss.ntp", .double, .double(1), "Weight lambda of the next-token loss on long captions, conditioned on image + image prompt; 0 turns it off.", range: .from(0, to: 1e6)),
        ConfigField("loss.ntp_captions", .string, .string("long"), "Captions the next-token loss reads: `long` (VladVA), `short`, or `both` (generative pre-training).", choices: RunConfiguration.NTPCaptions.allCases.map(\.rawValue)),
        ConfigField("loss.hard_negatives", .int, .int(0), "Hard negative captions per pair in the contrastive loss (NegCLIP; 0 = none): up to this many of each pair's stored negatives (discern synth --train-negatives, or `negatives` in a prepare manifest; types in name order) join the text keys of the whole global batch, so images must prefer their caption over every caption and every hard negative. The train split must carry them.", range: .from(0, to: 16)),
        ConfigField("loss.mask_duplicates", .bool, .bool(true), "False negatives masked: two pairs of the global batch that show the same image (identical stored pixels) or the same short caption (equal after lowercasing and collapsing whitespace) are not negatives of each other: each leaves the other's softmax denominator, in both directions, while every pair keeps its own positive. Hard negatives are never masked. metrics.jsonl counts the masked entries (`masked_keys`)."),
        ConfigField("loss.logit_scale", .double, .double(2.659260036932778), "Initial log of the contrastive logit scale (ln(1/0.07), CLIP's).", range: .from(0, to: 20)),
        ConfigField("loss.learn_logit_scale", .bool, .bool(true), "Learn the logit scale (clamped to [0, loss.max_logit_scale] after each step); false keeps it fixed."),
        ConfigField("loss.max_logit_scale", .double, .double(4.605170185988092), "Upper clamp of the log logit scale (ln 100).", range: .above(0, upTo: 20)),
        // Optimizer
        ConfigField("optimizer.lr", .double, .double(1e-4), "Peak learning rate (AdamW).", range: .positive),
        ConfigField("optimizer.weight_decay", .double, .double(0.01), "Decoupled weight decay on LoRA and base weights; never on soft prompts, norms, biases or the logit scale.", range: .from(0, to: 10)),
        ConfigField("optimizer.beta1", .double, .double(0.9), "AdamW beta1.", range: .unitHalfOpen),
        ConfigField("optimizer.beta2", .double, .double(0.999), "AdamW beta2.", range: .unitHalfOpen),
        ConfigField("optimizer.eps", .double, .double(1e-8), "AdamW epsilon.", range: .above(0, upTo: 1)),
        ConfigField("optimizer.warmup", .double, .double(0.03), "Linear warmup: a fraction of `steps` when below 1, else a number of steps.", range: .from(0, to: Limits.count)),
        ConfigField("optimizer.schedule", .string, .string("cosine"), "Learning-rate schedule after warmup.", choices: RunConfiguration.Schedule.allCases.map(\.rawValue)),
        ConfigField("optimizer.min_lr_ratio", .double, .double(0), "Final learning rate as a fraction of the peak (cosine and linear).", range: .unit),
        ConfigField("optimizer.grad_clip", .double, .double(1.0), "Clip the global gradient norm to this value; 0 turns clipping off.", range: .from(0, to: 1e12)),
        // Memory
        ConfigField("memory.half_weights", .bool, .bool(false), "Keep frozen base weights stored as F16/BF16 in their memory-mapped safetensors files and widen each to float32 per use (one shared buffer) instead of copying them: a 7B base takes ~14 GB instead of ~28 GB. Results are bit-identical; costs a widening pass per use. Refused with train.mode full (those weights train)."),
        ConfigField("memory.recompute", .bool, .bool(false), "Activation recomputation: keep only each transformer layer's input in the forward and re-run one layer's forward right before its backward. Gradients are bit-identical; costs about one more forward per step."),
        ConfigField("memory.compute", .string, .string("fp32"), "Precision of the products with frozen weights. `fp32`: every GEMM in float32. `bf16`: each frozen weight is held as bf16 (BF16 safetensors used in place, other dtypes converted once at load) and every product with it (forward and input gradient) is a bf16 x bf16 GEMM with float32 accumulation; adapters, soft prompts, norms, softmax, losses, gradients and AdamW stay float32. Needs a CPU with native bf16 dot products (AVX512_BF16 or AMX-BF16; `discern doctor` says). `auto`: bf16 on such a CPU, else fp32; the run says at start which it uses. Results differ from fp32 by bf16 rounding (docs/performance.md).", choices: RunConfiguration.ComputeSetting.allCases.map(\.rawValue)),
        // Checkpoints
        ConfigField("checkpoint.every", .int, .int(100), "Write a checkpoint every N steps (and at the end); 0 = only at the end.", range: .from(0, to: Limits.count)),
        ConfigField("checkpoint.keep", .int, .int(3), "How many recent checkpoints to keep in run_dir.", range: .from(1, to: 1_000_000)),
        // Benchmark (`discern bench` only; training ignores this section)
        ConfigField("bench.family", .string, .string("llava"), "Model family of the benchmark model: `llava` (CLIP + projector + Llama) or `qwen2_vl` (Qwen2-VL's ViT + patch merger + Qwen2 with M-RoPE, one square image of bench.image_size).", choices: BenchConfiguration.Family.allCases.map(\.rawValue)),
        ConfigField("bench.weights", .string, .string("memory"), "Base weights of the benchmark model: `memory` = random float32 weights made in memory; `float16` / `bfloat16` = random 16-bit safetensors written to bench.model_dir and loaded like any model directory (with memory.half_weights they stay 16-bit). A directory written before is reused when its fingerprint (family, shape, format, seed) matches, rewritten when it is another bench model's, and never overwritten when it is not a bench model.", choices: BenchConfiguration.Weights.allCases.map(\.rawValue)),
        ConfigField("bench.model_dir", .path, .string("checkpoints/bench-model"), "Where a benchmark model with weights on disk is written (once per fingerprint) and loaded from."),
        ConfigField("bench.warmup", .int, .int(2), "Untimed steps before the timed ones.", range: .from(0, to: 1_000_000)),
        ConfigField("bench.image_size", .int, .int(64), "Benchmark model: side of the (square) image in pixels; a multiple of bench.patch_size (LLaVA) or of bench.patch_size x bench.merge_size (Qwen2-VL).", range: .from(1, to: Limits.benchSize)),
        ConfigField("bench.patch_size", .int, .int(8), "Benchmark model: the vision tower's patch size.", range: .from(1, to: Limits.benchSize)),
        ConfigField("bench.merge_size", .int, .int(2), "Qwen2-VL benchmark model: patches per side of the window the merger joins into one LLM token (spatial_merge_size); leave it at 2 for LLaVA.", range: .from(1, to: Limits.benchSize)),
        ConfigField("bench.temporal_patch_size", .int, .int(2), "Qwen2-VL benchmark model: frames per patch (temporal_patch_size; a still image is repeated); leave it at 2 for LLaVA.", range: .from(1, to: Limits.benchSize)),
        ConfigField("bench.vision_hidden", .int, .int(256), "Benchmark model: vision tower width (CLIP hidden_size, Qwen2-VL embed_dim).", range: .from(1, to: Limits.benchSize)),
        ConfigField("bench.vision_intermediate", .int, .int(1024), "Benchmark model: vision MLP width (CLIP intermediate_size; Qwen2-VL embed_dim x mlp_ratio, e.g. 5120 for mlp_ratio 4 at 1280).", range: .from(1, to: Limits.benchSize)),
        ConfigField("bench.vision_layers", .int, .int(4), "Benchmark model: vision layers (CLIP: LLaVA reads layer -2, so the last one is never computed; Qwen2-VL depth: all run).", range: .from(1, to: Limits.benchSize)),
        ConfigField("bench.vision_heads", .int, .int(4), "Benchmark model: vision attention heads (Qwen2-VL: head size a multiple of 4, for the 2-D rotary).", range: .from(1, to: Limits.benchSize)),
        ConfigField("bench.text_hidden", .int, .int(512), "Benchmark model: language model width (Llama, Qwen2).", range: .from(1, to: Limits.benchSize)),
        ConfigField("bench.text_intermediate", .int, .int(1376), "Benchmark model: language model MLP width.", range: .from(1, to: Limits.benchSize)),
        ConfigField("bench.text_layers", .int, .int(4), "Benchmark model: language model layers.", range: .from(1, to: Limits.benchSize)),
        ConfigField("bench.text_heads", .int, .int(8), "Benchmark model: language model attention heads.", range: .from(1, to: Limits.benchSize)),
        ConfigField("bench.text_kv_heads", .int, .int(8), "Benchmark model: language model key/value heads (fewer than text_heads: grouped-query attention).", range: .from(1, to: Limits.benchSize)),
        ConfigField("bench.tie_word_embeddings", .bool, .bool(false), "Benchmark model: the output head is the token embedding table (no lm_head tensor), as in Qwen2-VL-2B."),
        ConfigField("bench.vocab_size", .int, .int(1000), "Benchmark model: vocabulary size.", range: .from(1, to: Limits.benchSize)),
        ConfigField("bench.max_positions", .int, .int(256), "Benchmark model: max_position_embeddings.", range: .from(1, to: Limits.benchSize)),
        ConfigField("bench.caption_tokens", .int, .int(16), "Tokens per (random) caption.", range: .from(1, to: Limits.benchSize)),
        ConfigField("bench.prompt_tokens", .int, .int(8), "Positions of each prompt suffix (the soft prompts' length).", range: .from(1, to: Limits.benchSize)),
        // Distributed jobs
        ConfigField("distributed.timeout", .double, .double(600), "Seconds a rank may wait in one collective (all-reduce, all-gather, barrier) before it concludes that a rank or host is unreachable and exits with status 75, so the job can be requeued and resumed with `--resume auto`; 0 = wait forever, otherwise at least 1. Ranks wait there for the slowest rank's step and for rank 0's checkpoint writes, so keep it well above both (a 7B step takes ~320 s). A rank whose launcher (mpirun's orted, srun's slurmstepd) is gone exits as well, whatever this is.", range: .from(0, to: 1e7)),
    ]

    package static let byPath: [String: ConfigField] = Dictionary(uniqueKeysWithValues: fields.map { ($0.path, $0) })
}
