// Filled in by the model work (safetensors, tokenizer.json).
