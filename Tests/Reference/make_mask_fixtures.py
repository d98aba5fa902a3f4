"""The Python twin of Discern's duplicate-masked contrastive loss (loss.mask_duplicates), for
Tests/TrainingTests/DuplicateMaskParityTests.swift (run with Tests/Reference/.venv/bin/python).

Six pairs with one hard negative each, float64, in torch: two pairs show the same image (equal
image ids), two have the same short caption up to case and spaces. Masking as open_clip-style
trainers do it: a duplicate key's logit is set to -inf in the query's row (never the query's own
positive, never a hard negative), both directions, then the symmetric cross-entropy. Autograd gives
the gradients. Writes duplicate-mask.json: the inputs (embeddings, logit scale, image ids, captions)
and the loss and gradients. Deterministic: rerunning gives the same file.
"""

import json
from pathlib import Path

import torch
import torch.nn.functional as F

FIXTURE = Path(__file__).resolve().parent.parent / "TrainingTests" / "Fixtures" / "duplicate-mask.json"
CAPTIONS = ["a red circle left of a blue square", "a small green triangle", "two shapes", "a star",
            "A small  green TRIANGLE ", "a yellow ring above a cross"]
IMAGE_IDS = [11, 12, 13, 11, 15, 16]


def normalised_caption(text):
    return " ".join(text.lower().split())


def main():
    torch.manual_seed(31)
    n, dim = len(CAPTIONS), 5
    images = F.normalize(torch.randn(n, dim, dtype=torch.float64), dim=-1).requires_grad_(True)
    texts = F.normalize(torch.randn(2 * n, dim, dtype=torch.float64), dim=-1).requires_grad_(True)  # captions, then negatives
    logit_scale = torch.tensor(1.6, dtype=torch.float64, requires_grad=True)
    keys = [normalised_caption(c) for c in CAPTIONS]
    duplicate = torch.tensor([[i != j and (IMAGE_IDS[i] == IMAGE_IDS[j] or keys[i] == keys[j]) for j in range(n)]
                              for i in range(n)])
    logits = logit_scale.exp() * images @ texts.T                      # (n, 2n): captions, then negatives
    rows = torch.cat([logits[:, :n].masked_fill(duplicate, float("-inf")), logits[:, n:]], dim=1)
    columns = logits[:, :n].T.masked_fill(duplicate, float("-inf"))   # text j against every image
    labels = torch.arange(n)
    loss = (F.cross_entropy(rows, labels) + F.cross_entropy(columns, labels)) / 2
    loss.backward()
    fixture = {
        "images": images.detach().flatten().tolist(), "texts": texts.detach().flatten().tolist(), "dim": dim,
        "logit_scale": logit_scale.item(), "image_ids": IMAGE_IDS, "captions": CAPTIONS,
        "masked_keys": int(duplicate.sum().item()) * 2,
        "loss": loss.item(), "d_images": images.grad.flatten().tolist(), "d_texts": texts.grad.flatten().tolist(),
        "d_logit_scale": logit_scale.grad.item(),
    }
    FIXTURE.write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {FIXTURE}: loss {loss.item():.12f}, {fixture['masked_keys']} masked entries")


if __name__ == "__main__":
    main()
