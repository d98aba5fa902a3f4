/// Qwen2-VL's example.py and README bullets: images of their own sizes through the PIL image
/// processor, the image markup expanded to one `<|image_pad|>` per merged patch, M-RoPE
/// positions from the model's own get_rope_index. The interop check runs this file too.
extension ExportReadme {
    static func qwen2VLExample(model: String, hasLoRA: Bool, hasSoftPrompts: Bool) -> String {
        """
        # Embeds images and captions with a Discern export, using transformers + PEFT only.
        # Usage: python example.py IMAGE CAPTION [CAPTION ...]   (prints the cosine similarities)
        import json
        import sys
        from pathlib import Path

        import torch
        import torch.nn.functional as F
        from PIL import Image
        from safetensors.torch import load_file
        from transformers import AutoImageProcessor, PreTrainedTokenizerFast, Qwen2VLForConditionalGeneration

        EXPORT = Path(__file__).resolve().parent
        BASE = \(pythonString(model))  # the base model directory the adapters were trained on
        HAS_LORA = \(hasLoRA ? "True" : "False")
        HAS_SOFT_PROMPTS = \(hasSoftPrompts ? "True" : "False")

        model = Qwen2VLForConditionalGeneration.from_pretrained(BASE, dtype=torch.float32).eval()
        if HAS_LORA:
            from peft import PeftModel
            model = PeftModel.from_pretrained(model, str(EXPORT / "lora")).eval()
            qwen = model.get_base_model().model   # LoRA layers are injected into these modules
        else:
            qwen = model.model
        config = qwen.config
        tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(Path(BASE) / "tokenizer.json"))
        # Qwen2VLImageProcessorPil: smart_resize, bicubic, rescale, normalise, patches in merge-window order.
        processor = AutoImageProcessor.from_pretrained(BASE, backend="pil")
        if HAS_SOFT_PROMPTS:
            prompts = json.loads((EXPORT / "soft_prompts" / "soft_prompts.json").read_text())
            soft = load_file(str(EXPORT / "soft_prompts" / "soft_prompts.safetensors"))
            image_template, text_template = prompts["image_template"], prompts["text_template"]
        else:
            soft = {}
            image_template = "<image>\\nSummary above image in one word:"
            text_template = "<sent>\\nSummary above sentence in one word:"
        embed_tokens = qwen.language_model.get_input_embeddings()


        def summary_embedding(ids, inputs_embeds, grid=None):
            # M-RoPE positions from the token ids (text: one running index; image pads: rows and
            # columns of the merged grid), then the final hidden state (after the last RMSNorm)
            # at the last position, L2-normalised.
            kinds = (ids == config.image_token_id).int()
            positions, _ = qwen.get_rope_index(ids, mm_token_type_ids=kinds, image_grid_thw=grid)
            hidden = qwen.language_model(inputs_embeds=inputs_embeds, position_ids=positions).last_hidden_state
            return F.normalize(hidden[:, -1], dim=-1)


        def with_soft_prompt(inputs, name):
            # The soft prompt replaces the LAST rows: the template text after the image markup or the caption.
            if name not in soft:
                return inputs
            rows = soft[name].shape[0]
            return torch.cat([inputs[:, :-rows], soft[name][None]], dim=1)


        @torch.no_grad()
        def embed_image(path):
            batch = processor(images=[Image.open(path).convert("RGB")], return_tensors="pt")
            grid = batch["image_grid_thw"]
            features = qwen.visual(batch["pixel_values"], grid_thw=grid).pooler_output   # one row per merged patch
            markup = "<|vision_start|>" + "<|image_pad|>" * features.shape[0] + "<|vision_end|>"
            ids = torch.tensor([tokenizer(image_template.replace("<image>", markup))["input_ids"]])
            pads = (ids == config.image_token_id)[..., None]
            inputs = embed_tokens(ids).masked_scatter(pads, features)
            return summary_embedding(ids, with_soft_prompt(inputs, "image"), grid)


        @torch.no_grad()
        def embed_text(caption):
            ids = tokenizer(text_template.replace("<sent>", caption), return_tensors="pt")["input_ids"]
            return summary_embedding(ids, with_soft_prompt(embed_tokens(ids), "text"))


        if __name__ == "__main__":
            image = embed_image(sys.argv[1])
            for caption in sys.argv[2:]:
                print(f"{(image @ embed_text(caption).T).item():+.4f}  {caption}")

        """
    }

    /// "How the embedding is computed", Qwen2-VL's sequences.
    static let qwen2VLSequences = """
        - **Images.** `<|vision_start|> <image features> <|vision_end|> <image prompt>` (no BOS: Qwen2's tokenizer adds
          none). `<image>` in the template becomes `<|vision_start|><|image_pad|><|vision_end|>` with one `<|image_pad|>`
          per merged window of patches (`spatial_merge_size` squared) of the image at its own (smart-resized) size; the
          pads' rows are the merger's output, and the image soft prompt starts right after `<|vision_end|>`.
        - **Texts.** `<caption> <text prompt>`.
        - **Positions.** M-RoPE, from `get_rope_index` of the model: text tokens count up in all three streams, the image
          pads take (start, start + row, start + column) of the merged grid.
        """
}
