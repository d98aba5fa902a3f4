"""Builds the tokenizer fixtures for Tests/FormatsTests (run with Tests/Reference/.venv/bin/python).

Two small Llama-style tokenizer.json files, made with the `tokenizers` library:
  A "legacy":    normalizer Sequence[Prepend("▁"), Replace(" ", "▁")], no pre-tokenizer, merges as "a b"
                 strings, decoder Sequence[Replace, ByteFallback, Fuse, Strip] (old Llama/LLaVA hub files).
  B "metaspace": no normalizer, pre-tokenizer Metaspace(prepend_scheme "first", split false), merges as
                 ["a", "b"] pairs, decoder Sequence[Metaspace, ByteFallback, Fuse] (newer files).
Both: BPE with byte_fallback, <unk>=0 <s>=1 </s>=2, <0x00>..<0xFF> = 3..258, learned pieces after that,
added tokens <image> and <pad> (special, like LLaVA-1.5), TemplateProcessing adding <s>. Each also has one
non-special added token with normalized=true (and lstrip in B) so those flags are exercised too.

Then a corpus of varied strings and, for both files, the ids that `tokenizers` and transformers'
PreTrainedTokenizerFast(tokenizer_file=...) produce with add_special_tokens=True, plus decode outputs.
The script refuses to write fixtures if the two Python libraries disagree. Deterministic: rerunning gives
byte-identical files (fixed seeds, sorted keys, no timestamps).
"""

import hashlib
import json
import random
import sys
import unicodedata
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

FIXTURES = Path(__file__).resolve().parent.parent / "FormatsTests" / "Fixtures"
SPACE = "\u2581"  # ▁, SentencePiece's visible space
VOCAB_SIZE = 1500  # learned pieces + 259 specials/bytes; small keeps fixtures tiny

COLOURS = ["red", "green", "blue", "yellow", "orange", "purple", "pink", "brown", "black", "white", "grey",
           "gray", "cyan", "magenta", "teal", "violet", "golden", "silver", "beige", "crimson"]
SHAPES = ["circle", "square", "triangle", "rectangle", "star", "hexagon", "pentagon", "ellipse", "diamond",
          "cross", "heart", "ring", "dot", "line", "arrow", "cube", "sphere", "cone", "cylinder", "oval"]
SIZES = ["small", "large", "tiny", "big", "huge", "medium", "little", "giant"]
RELATIONS = ["left of", "right of", "above", "below", "next to", "on top of", "under", "behind",
             "in front of", "near", "far from", "inside", "outside", "beside", "between"]
WORDS = ["a", "an", "the", "is", "are", "there", "and", "with", "of", "two", "three", "four", "one", "image",
         "picture", "photo", "shows", "contains", "object", "objects", "background", "center", "corner",
         "top", "bottom", "middle", "edge", "dark", "light", "bright", "striped", "dotted", "solid", "empty",
         "what", "where", "which", "colour", "color", "shape", "describe", "this", "scene", "please"]
ACCENTED = ["café", "naïve", "über", "señor", "façade", "crème", "brûlée", "déjà", "vu", "Ångström", "smörgåsbord",
            "jalapeño", "rôle", "coöperate", "élan", "fiancée", "piñata", "Zürich", "São", "Paulo"]


def training_corpus():
    rng = random.Random(1234)
    lines = []
    for _ in range(6000):
        n = rng.randint(1, 3)
        parts = []
        for _ in range(n):
            parts.append(f"a {rng.choice(SIZES)} {rng.choice(COLOURS)} {rng.choice(SHAPES)} "
                         f"{rng.choice(RELATIONS)} the {rng.choice(COLOURS)} {rng.choice(SHAPES)}")
        sentence = ", ".join(parts)
        if rng.random() < 0.3:
            sentence = sentence.capitalize() + "."
        lines.append(sentence)
    for _ in range(2000):
        lines.append(" ".join(rng.choice(WORDS + ACCENTED + COLOURS + SHAPES) for _ in range(rng.randint(3, 12))))
    for _ in range(500):
        lines.append(f"There are {rng.randint(0, 999)} objects; {rng.randint(0, 99)}% are {rng.choice(COLOURS)}!")
    return lines


def train_vocab_and_merges():
    """Learns pieces with SentencePiece-style spaces; returns (vocab dict, merges as pairs)."""
    specials = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    trainer_tokenizer = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    trainer_tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend(SPACE), normalizers.Replace(" ", SPACE)])
    trainer_tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=SPACE, prepend_scheme="never", split=True)
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=specials, show_progress=False,
                                  initial_alphabet=[SPACE], min_frequency=2)
    trainer_tokenizer.train_from_iterator(training_corpus(), trainer=trainer)
    model = json.loads(trainer_tokenizer.to_str())["model"]
    vocab = model["vocab"]
    for i, piece in enumerate(specials):
        assert vocab[piece] == i, (piece, vocab[piece])
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return vocab, merges


def build(variant, vocab, merges):
    tok = Tokenizer(models.BPE(vocab=dict(vocab), merges=list(merges), unk_token="<unk>", byte_fallback=True,
                               fuse_unk=True))
    if variant == "legacy":
        tok.normalizer = normalizers.Sequence([normalizers.Prepend(SPACE), normalizers.Replace(" ", SPACE)])
        tok.decoder = decoders.Sequence([decoders.Replace(SPACE, " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(content=" ", left=1, right=0)])
    else:
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=SPACE, prepend_scheme="first", split=False)
        tok.decoder = decoders.Sequence([decoders.Metaspace(replacement=SPACE, prepend_scheme="first", split=False),
                                         decoders.ByteFallback(), decoders.Fuse()])
    tok.post_processor = processors.TemplateProcessing(single="<s>:0 $A:0", pair="<s>:0 $A:0 <s>:1 $B:1",
                                                       special_tokens=[("<s>", 1)])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ["<unk>", "<s>", "</s>"]])
    tok.add_special_tokens([AddedToken("<image>", special=True, normalized=False),
                            AddedToken("<pad>", special=True, normalized=False)])
    if variant == "legacy":
        # Normalized tokens are matched after normalisation: with Prepend this one only matches at a
        # segment start or after a space (its pattern becomes "▁<box>").
        tok.add_tokens([AddedToken("<box>", special=False, normalized=True)])
    else:
        tok.add_tokens([AddedToken("<obj>", special=False, normalized=True, lstrip=True)])
    data = json.loads(tok.to_str())
    if variant == "legacy":
        data["model"]["merges"] = [f"{a} {b}" for a, b in data["model"]["merges"]]
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=False) + "\n"


def styled_caption(rng, styles, with_image, as_prompt):
    """A synthetic caption, in the shape the synthetic data set uses, in one of `styles` styles: as is,
    sentence case, upper case, with_image(caption), as_prompt(caption); the styles past those leave it as is."""
    caption = (f"a {rng.choice(SIZES)} {rng.choice(COLOURS)} {rng.choice(SHAPES)} {rng.choice(RELATIONS)} "
               f"a {rng.choice(COLOURS)} {rng.choice(SHAPES)}")
    style = rng.randrange(styles)
    if style == 1:
        return caption.capitalize() + "."
    if style == 2:
        return caption.upper()
    if style == 3:
        return with_image(caption)
    if style == 4:
        return as_prompt(caption)
    return caption


def corpus():
    """>= 2,000 varied strings: captions, unicode, whitespace, added tokens in odd places, random code points."""
    rng = random.Random(20261130)
    out = ["", " ", "  ", "\t", "\n", "\r\n", "a", "A", " a", "a ", "  a  b  ", "<image>", " <image>", "<image> ",
           "<image><image>", "<image> <image>", "x<image>y", "<imag", "<image", "image>", "<<image>>", "<pad>",
           "<s>", "</s>", "<unk>", "<s> hello </s>", "<box>", " <box>", "a <box> b", "a<box>b", "<obj>", "a <obj> b",
           "a   <obj>b", "a\t<obj>\nb", SPACE, SPACE + "a", "a" + SPACE + SPACE + "b", "<0x41>", "<0xZZ>", "\x00",
           "\x00a\x01", "\ufffd", "\u200b", "\u00a0a\u00a0", "e\u0301", "\u00e9", "cafe\u0301 caf\u00e9",
           "\U0001F600", "\U0001F468\u200D\U0001F469\u200D\U0001F467", "\U0001F1E9\U0001F1EA", "\U0001F44D\U0001F3FD",
           "日本語のテキスト", "中文 字符 测试", "한국어", "Ελληνικά", "русский текст", "עברית", "العربية", "हिन्दी",
           "ไทย", "12345", "3.14159", "1,000,000", "-42", "0x1F", "Tab\tseparated\tvalues", "line1\nline2\n\nline4",
           "trailing spaces   ", "   leading spaces", "multiple     inner     spaces", "\u3000full width space",
           "ＦＵＬＬ ｗｉｄｔｈ", "mixed 日本 and English", "emoji 🎨 in 🟥 text 🔺", "<image>\nDescribe this image.",
           "USER: <image>\nWhat shape is left of the red circle? ASSISTANT:", "\ud7ff\ue000\U0010ffff"]
    pools = COLOURS + SHAPES + SIZES + RELATIONS + WORDS + ACCENTED
    for _ in range(700):
        out.append(styled_caption(rng, 6, lambda c: "<image>\n" + c, lambda c: "USER: <image>\n" + c + "? ASSISTANT:"))
    # Word salad with unseen words, punctuation and numbers.
    punctuation = [".", ",", "!", "?", ";", ":", "-", "'", '"', "(", ")", "[", "]", "/", "\\", "&", "%", "#", "@"]
    for _ in range(500):
        parts = []
        for _ in range(rng.randint(1, 14)):
            r = rng.random()
            if r < 0.6:
                parts.append(rng.choice(pools))
            elif r < 0.75:
                parts.append(str(rng.randint(0, 10 ** rng.randint(1, 8))))
            elif r < 0.9:
                parts.append(rng.choice(punctuation))
            else:
                parts.append("".join(rng.choice("qwxzjkvbpy") for _ in range(rng.randint(1, 8))))
        sep = rng.choice([" ", " ", " ", "  ", "\t", "\n", ""])
        out.append(sep.join(parts))
    # Added tokens at edges and inside text, with whitespace variants.
    for _ in range(250):
        words = [rng.choice(pools) for _ in range(rng.randint(0, 5))]
        tokens = ["<image>", "<pad>", "<box>", "<obj>", "<s>", "</s>"]
        k = rng.randint(0, len(words))
        ws_left = rng.choice(["", " ", "  ", "\n", "\t"])
        ws_right = rng.choice(["", " ", "  ", "\n", "\t"])
        words.insert(k, ws_left + rng.choice(tokens) + ws_right)
        out.append(rng.choice([" ", "", " "]).join(words))
    # Unicode: scripts, accents in both normal forms, emoji sequences.
    scripts = [(0x4E00, 0x9FFF), (0x3040, 0x30FF), (0xAC00, 0xD7A3), (0x0391, 0x03C9), (0x0410, 0x044F),
               (0x05D0, 0x05EA), (0x0627, 0x064A), (0x0905, 0x0939), (0x1F300, 0x1F64F), (0x1F680, 0x1F6FF),
               (0x00C0, 0x00FF), (0x2200, 0x22FF), (0x2500, 0x257F)]
    for _ in range(400):
        lo, hi = rng.choice(scripts)
        text = "".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 12)))
        if rng.random() < 0.5:
            text = rng.choice(pools) + rng.choice([" ", ""]) + text + rng.choice([" ", "", "!"]) + rng.choice(pools)
        if rng.random() < 0.3:
            text = unicodedata.normalize(rng.choice(["NFC", "NFD", "NFKC", "NFKD"]), text)
        out.append(text)
    for word in ACCENTED:
        out.append(unicodedata.normalize("NFD", word))
        out.append(unicodedata.normalize("NFC", word) + " " + unicodedata.normalize("NFD", word))
    # Random code points, including controls and private use (never surrogates: not valid text).
    for _ in range(200):
        chars = []
        for _ in range(rng.randint(1, 10)):
            cp = rng.choice([rng.randint(0, 0x7F), rng.randint(0x80, 0x7FF), rng.randint(0x800, 0xFFFF),
                             rng.randint(0x10000, 0x10FFFF)])
            if 0xD800 <= cp <= 0xDFFF:
                cp = 0xFFFD
            chars.append(chr(cp))
        out.append("".join(chars))
    # Long strings (BPE over one long word in the legacy variant).
    for _ in range(20):
        out.append(" ".join(rng.choice(pools) for _ in range(rng.randint(40, 120))))
    return out


def expectations(path, texts):
    """ids and decodes from both Python libraries; stops if they disagree on any string."""
    tok = Tokenizer.from_file(str(path))
    fast = PreTrainedTokenizerFast(tokenizer_file=str(path))
    ids, decoded, decoded_keep = [], [], []
    for text in texts:
        a = tok.encode(text, add_special_tokens=True).ids
        b = fast(text, add_special_tokens=True)["input_ids"]
        if a != b:
            sys.exit(f"{path.name}: tokenizers and transformers disagree on {text!r}: {a} vs {b}")
        da = tok.decode(a, skip_special_tokens=True)
        if da != fast.decode(a, skip_special_tokens=True):
            sys.exit(f"{path.name}: decode disagrees on {text!r}")
        ids.append(a)
        decoded.append(da)
        decoded_keep.append(tok.decode(a, skip_special_tokens=False))
    unencoded = tok.encode("", add_special_tokens=False).ids
    return {
        "tokenizer": path.name,
        "vocab_size_with_added": tok.get_vocab_size(with_added_tokens=True),
        "vocab_size_model": tok.get_vocab_size(with_added_tokens=False),
        "empty_without_specials": unencoded,
        "ids": ids,
        "decoded": decoded,
        "decoded_keep_special": decoded_keep,
        "without_special_tokens": [tok.encode(t, add_special_tokens=False).ids for t in texts[:200]],
    }


def write(path, text):
    path.write_text(text, encoding="utf-8")
    print(f"{path.relative_to(FIXTURES.parent.parent.parent)}: {path.stat().st_size} bytes, "
          f"sha256 {hashlib.sha256(text.encode()).hexdigest()[:12]}")


def main():
    FIXTURES.mkdir(parents=True, exist_ok=True)
    vocab, merges = train_vocab_and_merges()
    texts = corpus()
    assert len(texts) >= 2000, len(texts)
    write(FIXTURES / "tokenizer-corpus.json", json.dumps({"strings": texts}, ensure_ascii=False, indent=0) + "\n")
    for variant in ["legacy", "metaspace"]:
        path = FIXTURES / f"tokenizer-{variant}.json"
        write(path, build(variant, vocab, merges))
        expected = expectations(path, texts)
        write(FIXTURES / f"tokenizer-{variant}-expected.json",
              json.dumps(expected, ensure_ascii=False, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
