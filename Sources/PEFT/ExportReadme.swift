import ModelFiles

/// The README and example.py of an export: how to use the adapters with transformers + PEFT.
/// The interop check (Tests/Reference/check_interop.py) runs example.py, so this text is tested.
enum ExportReadme {
    static func example(family: ModelFamily, model: String, hasLoRA: Bool, hasSoftPrompts: Bool) -> String {
        switch family {
        case .llava: return llavaExample(model: model, hasLoRA: hasLoRA, hasSoftPrompts: hasSoftPrompts)
        case .qwen2VL: return qwen2VLExample(model: model, hasLoRA: hasLoRA, hasSoftPrompts: hasSoftPrompts)
        }
    }

    static func llavaExample(model: String, hasLoRA: Bool, hasSoftPrompts: Bool) -> String {
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
        from transformers import CLIPImageProcessor, LlavaForConditionalGeneration, PreTrainedTokenizerFast

        EXPORT = Path(__file__).resolve().parent
        BASE = \(pythonString(model))  # the base model directory the adapters were trained on
        HAS_LORA = \(hasLoRA ? "True" : "False")
        HAS_SOFT_PROMPTS = \(hasSoftPrompts ? "True" : "False")

        model = LlavaForConditionalGeneration.from_pretrained(BASE, dtype=torch.float32).eval()
        if HAS_LORA:
            from peft import PeftModel
            model = PeftModel.from_pretrained(model, str(EXPORT / "lora")).eval()
            llava = model.get_base_model().model   # LoRA layers are injected into these modules
        else:
            llava = model.model
        config = llava.config
        tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(Path(BASE) / "tokenizer.json"))
        if HAS_SOFT_PROMPTS:
            prompts = json.loads((EXPORT / "soft_prompts" / "soft_prompts.json").read_text())
            soft = load_file(str(EXPORT / "soft_prompts" / "soft_prompts.safetensors"))
            image_template, text_template = prompts["image_template"], prompts["text_template"]
        else:
            soft = {}
            image_template = "<image>\\nSummary above image in one word:"
            text_template = "<sent>\\nSummary above sentence in one word:"
        embed_tokens = llava.language_model.get_input_embeddings()
        size = config.vision_config.image_size
        processor = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})


        def summary_embedding(inputs_embeds):
            # The final hidden state (after the last RMSNorm) at the last position, L2-normalised.
            hidden = llava.language_model(inputs_embeds=inputs_embeds).last_hidden_state
            return F.normalize(hidden[:, -1], dim=-1)


        @torch.no_grad()
        def embed_image(path):
            pixels = processor(images=Image.open(path).convert("RGB"), return_tensors="pt")["pixel_values"]
            layer = config.vision_feature_layer
            hidden = llava.vision_tower(pixels, output_hidden_states=True).hidden_states[layer]
            if config.vision_feature_select_strategy == "default":
                hidden = hidden[:, 1:]   # drop the class token
            features = llava.multi_modal_projector(hidden)
            ids = tokenizer(image_template, return_tensors="pt")["input_ids"][0].tolist()
            at = ids.index(config.image_token_id)
            before = embed_tokens(torch.tensor([ids[:at]]))
            # The image soft prompt replaces the template tokens after <image>.
            after = soft["image"][None] if "image" in soft else embed_tokens(torch.tensor([ids[at + 1:]]))
            return summary_embedding(torch.cat([before, features, after], dim=1))


        @torch.no_grad()
        def embed_text(caption):
            ids = tokenizer(text_template.replace("<sent>", caption), return_tensors="pt")["input_ids"]
            inputs = embed_tokens(ids)
            if "text" in soft:   # the text soft prompt replaces the LAST rows: the template text after the caption
                rows = soft["text"].shape[0]
                inputs = torch.cat([inputs[:, :-rows], soft["text"][None]], dim=1)
            return summary_embedding(inputs)


        if __name__ == "__main__":
            image = embed_image(sys.argv[1])
            for caption in sys.argv[2:]:
                print(f"{(image @ embed_text(caption).T).item():+.4f}  {caption}")

        """
    }

    static let llavaSequences = """
        - **Images.** `[BOS] <image features> <image prompt>`.
        - **Texts.** `[BOS] <caption> <text prompt>`.
        """

    static func text(family: ModelFamily, model: String, hasLoRA: Bool, hasSoftPrompts: Bool, merged: Bool, checkpoint: String, step: Int) -> String {
        let code = example(family: family, model: model, hasLoRA: hasLoRA, hasSoftPrompts: hasSoftPrompts)
        let sequences: String
        switch family {
        case .llava: sequences = llavaSequences
        case .qwen2VL: sequences = qwen2VLSequences
        }
        var contents: [String] = []
        if hasLoRA { contents.append("- `lora/`: a PEFT LoRA adapter (`adapter_config.json`, `adapter_model.safetensors`).") }
        if hasSoftPrompts {
            contents.append("- `soft_prompts/`: `soft_prompts.safetensors` (tensors `image` and `text`, `[rows, hidden]`) and `soft_prompts.json` "
                + "(the prompt templates, the token ids each soft prompt replaces, and where its rows go).")
        }
        if merged { contents.append("- `merged/`: the base model with LoRA folded into its weights, a plain transformers model directory.") }
        contents.append("- `example.py`: the code below, as a file.")
        return """
        # Discern export

        Adapters trained by Discern (checkpoint `\(checkpoint)`, step \(step)) on the base model `\(model)`.

        \(contents.joined(separator: "\n"))

        ## How the embedding is computed

        The model is prompted to summarise its input in one word. The final hidden state (after the last RMSNorm) at the
        last position, L2-normalised, is the embedding.

        \(sequences)
        - **The soft prompts.** They replace the input embeddings of the template text after the placeholder: after
          the image features for images, and the last rows of the sequence for texts. PEFT's prompt tuning cannot do
          this, because it prepends its prompts before BOS. That is why the soft prompts are a separate file, spliced
          in as below.
        - **LoRA.** The adapter loads with `PeftModel.from_pretrained`. Its `target_modules` is a regular expression
          naming exactly the modules that were trained, under both the older and the newer transformers module
          names.\(merged ? "\n- **The merged model.** `merged/` needs no PEFT; the soft prompts still apply as shown." : "")

        ## Example (transformers + PEFT)

        ```bash
        python example.py photo.jpg "a red circle left of a blue square" "a blue circle left of a red square"
        ```

        ```python
        \(code)```
        """
    }

    static func pythonString(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
