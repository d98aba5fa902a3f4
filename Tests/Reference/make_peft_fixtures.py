"""What PEFT 0.21 + transformers 5.24 do with a Qwen2-VL LoRA adapter, for Discern's export tests (run with
Tests/Reference/.venv/bin/python; writes Tests/ModelsTests/Fixtures/qwen2vl-a-peft.json). No weights, only names:

  module_names     every module of Qwen2VLForConditionalGeneration (transformers 5.24's in-memory names,
                   `model.language_model.*`, `model.visual.*`, `lm_head`)
  hub_module_names the same modules under the hub layout (`model.*`, `visual.*`): the module names of
                   transformers before 4.52, which an adapter's target_modules should also match
  lora_modules     where get_peft_model attaches LoRA for target_modules = the seven projection names (only the
                   LLM has modules of these names)
  adapter_keys     the keys save_pretrained writes for that adapter, sorted: what PeftModel.from_pretrained places
  hub_keys_load    how many of the adapter's tensors PeftModel.from_pretrained places when the same keys are
                   written under the hub layout (`base_model.model.model.layers.*`): 0, as PEFT 0.21 has no
                   conversion mapping for model_type "qwen2_vl" (it only warns about missing adapter keys)
"""

import json
import tempfile
import warnings
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import Qwen2VLForConditionalGeneration
from transformers.utils import logging as transformers_logging

from qwen2vl_model_files import hub_key

FIXTURES = Path(__file__).resolve().parent.parent / "ModelsTests" / "Fixtures"
MODEL = FIXTURES / "qwen2vl-a"
PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def load():
    return Qwen2VLForConditionalGeneration.from_pretrained(str(MODEL), dtype=torch.float32)


def hub_module_name(name):
    return hub_key(name + ".weight")[:-len(".weight")] if name.startswith("model.") else name


def main():
    base = load()
    modules = [name for name, _ in base.named_modules() if name]
    torch.manual_seed(0)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=PROJECTIONS, init_lora_weights=False))
    prefix = "base_model.model."
    lora = sorted(name[len(prefix):] for name, module in peft_model.named_modules() if "default" in getattr(module, "lora_A", {}))
    with tempfile.TemporaryDirectory() as folder:
        peft_model.save_pretrained(folder)
        adapter = load_file(f"{folder}/adapter_model.safetensors")
        hub = {prefix + hub_module_name(key[len(prefix):].rsplit(".lora_", 1)[0]) + ".lora_" + key.rsplit(".lora_", 1)[1]: value
               for key, value in adapter.items()}
        save_file(hub, f"{folder}/adapter_model.safetensors")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reloaded = PeftModel.from_pretrained(load(), folder)
        values = [value for name, value in reloaded.state_dict().items() if "lora_" in name]
        hub_placed = sum(any(torch.equal(v, value) for v in values) for value in adapter.values())
    fixture = dict(module_names=modules, hub_module_names=[hub_module_name(m) for m in modules], lora_modules=lora,
                   adapter_keys=sorted(adapter), hub_keys_load=hub_placed)
    (FIXTURES / "qwen2vl-a-peft.json").write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"{len(modules)} modules, LoRA on {len(lora)}, {len(adapter)} adapter keys, hub-named keys placed: {hub_placed}")


if __name__ == "__main__":
    transformers_logging.disable_progress_bar()
    main()
