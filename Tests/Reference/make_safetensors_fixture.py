"""Writes a tiny safetensors file with Python's `safetensors` library, for the Swift reader's interop test
(run with Tests/Reference/.venv/bin/python). One tensor per dtype Discern reads, plus a scalar, an empty
tensor and a non-ASCII name. The expected values sit next to it as JSON (floats as written AFTER rounding
to the dtype, so the Swift test compares exactly). Deterministic: rerunning gives identical files.
"""

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

FIXTURES = Path(__file__).resolve().parent.parent / "FormatsTests" / "Fixtures"


def main():
    base = torch.arange(24, dtype=torch.float64).reshape(2, 3, 4) * 0.37 - 4.1
    tensors = {
        "weights.f32": base.to(torch.float32),
        "weights.f16": base.to(torch.float16),
        "weights.bf16": base.to(torch.bfloat16),
        "weights.f64": base.clone(),
        "special.f16": torch.tensor([0.0, -0.0, 65504.0, 6.0e-8, float("inf"), float("-inf")], dtype=torch.float16),
        "special.bf16": torch.tensor([1.0e38, -3.0e-39, 1.0, float("inf")], dtype=torch.bfloat16),
        "counts.i64": torch.tensor([-(2 ** 62), -1, 0, 2 ** 62], dtype=torch.int64),
        "counts.i32": torch.tensor([[-7, 8], [9, -(2 ** 31)]], dtype=torch.int32),
        "counts.i16": torch.tensor([-300, 300], dtype=torch.int16),
        "counts.i8": torch.tensor([-128, 127, 5], dtype=torch.int8),
        "counts.u8": torch.tensor([0, 200, 255], dtype=torch.uint8),
        "mask.bool": torch.tensor([True, False, True], dtype=torch.bool),
        "scalar": torch.tensor(2.5, dtype=torch.float32),
        "empty": torch.zeros(0, 3, dtype=torch.float32),
        "größe.ü": torch.tensor([1.5], dtype=torch.float32),
    }
    path = FIXTURES / "python-written.safetensors"
    save_file(tensors, str(path), metadata={"format": "pt", "source": "make_safetensors_fixture.py"})
    dtype_names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
                   torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
                   torch.bool: "BOOL"}
    expected = {}
    for name, tensor in tensors.items():
        if tensor.dtype.is_floating_point:
            # The Float32 values the reader must produce (exact: repr of a float round-trips); JSON has no
            # infinities, so those are spelled out.
            values = [v if abs(v) != float("inf") else ("inf" if v > 0 else "-inf")
                      for v in tensor.to(torch.float32).to(torch.float64).flatten().tolist()]
        else:
            values = [int(v) for v in tensor.to(torch.int64).flatten().tolist()]
        expected[name] = {"dtype": dtype_names[tensor.dtype], "shape": list(tensor.shape), "values": values}
    (FIXTURES / "python-written.json").write_text(json.dumps(expected, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
                                                  encoding="utf-8")
    print(f"{path.name}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
