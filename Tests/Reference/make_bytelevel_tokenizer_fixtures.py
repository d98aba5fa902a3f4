"""Builds the byte-level tokenizer fixtures for Tests/FormatsTests (run with Tests/Reference/.venv/bin/python).

Two small byte-level BPE tokenizer.json files, trained with the `tokenizers` library:
  "qwen2": exactly Qwen2 / Qwen2-VL's configuration: normalizer NFC, pre-tokenizer Sequence[Split(Qwen2's
           regex, Isolated), ByteLevel(add_prefix_space false, use_regex false)], BPE without byte fallback or
           unk token, post-processor and decoder ByteLevel, merges as ["a", "b"] pairs. Added after the
           vocabulary, in Qwen2-VL's order: <|endoftext|> <|im_start|> <|im_end|> <|object_ref_start|> ...
           <|vision_start|> <|vision_end|> <|vision_pad|> <|image_pad|> <|video_pad|> (special), then
           <tool_call> (not special, as in Qwen2.5) and <cafe\u0301> (not special, normalized: its pattern is NFC).
  "gpt2":  GPT-2's layout: no normalizer, pre-tokenizer ByteLevel(add_prefix_space true, use_regex true: GPT-2's
           own regex), merges as "a b" strings, post-processor null, decoder ByteLevel, <|endoftext|> special.
Vocabulary: the 256 byte characters, then learned pieces up to VOCAB_SIZE.

Then a corpus of varied strings (tokenizer-bytelevel-corpus.json) and, for both files, the ids that `tokenizers`
and transformers' PreTrainedTokenizerFast(tokenizer_file=...) produce, plus decode outputs, and decodes of
random id sequences (which are often invalid UTF-8, so U+FFFD replacement is exercised). The script refuses
to write fixtures if the two Python libraries disagree. Deterministic: rerunning gives byte-identical files.
"""

import json
import random
import sys
import unicodedata

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from make_tokenizer_fixtures import ACCENTED, COLOURS, FIXTURES, RELATIONS, SHAPES, SIZES, WORDS, expectations, styled_caption, write

QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                 r"\s*[\r\n]+|\s+(?!\S)|\s+")
VOCAB_SIZE = 2000
QWEN2_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                  "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                  "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]
NORMALIZED_TOKEN = "<cafe\u0301>"
MULTILINGUAL = ["日本語のテキスト", "中文字符测试", "한국어 문장", "Ελληνικά", "русский текст", "עברית", "العربية",
                "हिन्दी", "ไทย", "emoji 🎨 🟥 🔺", "naïve café", "Zürich São Paulo"]


def training_corpus():
    rng = random.Random(4321)
    lines = []
    for _ in range(5000):
        lines.append(f"A {rng.choice(SIZES)} {rng.choice(COLOURS)} {rng.choice(SHAPES)} is {rng.choice(RELATIONS)} "
                     f"the {rng.choice(COLOURS)} {rng.choice(SHAPES)}.")
    for _ in range(2000):
        words = [rng.choice(WORDS + ACCENTED + COLOURS + SHAPES) for _ in range(rng.randint(3, 12))]
        lines.append(" ".join(words) + rng.choice(["", "\n", "  ", "!", "?", "'s", "'re", " 12", " 2026."]))
    for _ in range(1000):
        lines.append(rng.choice(MULTILINGUAL) + " " + rng.choice(MULTILINGUAL))
    for _ in range(500):
        lines.append(f"It's {rng.randint(0, 9999)} o'clock; we'll see {rng.randint(0, 99)}% they've done.\n\n")
    # Made-up words and text in other scripts over small alphabets, so that enough pairs repeat for
    # VOCAB_SIZE pieces, multi-byte ones among them.
    alphabets = ["etaoinshrdlucmfwyp", "日本語中文字符测试的是", "가나다라마바사아자", "абвгдежзиклмно", "αβγδεζηθικλμ", "🎨🟥🔺😀👍"]
    for _ in range(4000):
        letters = rng.choice(alphabets)
        lines.append(" ".join("".join(rng.choice(letters[:8]) for _ in range(rng.randint(2, 6)))
                              for _ in range(rng.randint(2, 8))))
    return lines


def byte_level_base(pre_tokenizer, normalizer):
    tok = Tokenizer(models.BPE(byte_fallback=False, unk_token=None))
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    return tok


def build(variant):
    if variant == "qwen2":
        pre = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
                                       pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False,
                                                                use_regex=False)])
        tok = byte_level_base(pre, normalizers.NFC())
    else:
        tok = byte_level_base(pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True), None)
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, show_progress=False, min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(training_corpus(), trainer=trainer)
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    if variant == "qwen2":
        tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in QWEN2_SPECIALS])
        tok.add_tokens([AddedToken("<tool_call>", special=False, normalized=False),
                        AddedToken(NORMALIZED_TOKEN, special=False, normalized=True)])
    else:
        tok.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
    data = json.loads(tok.to_str())
    # The Python constructor ignores these (the decoder does too); written as Qwen2's and GPT-2's files have them.
    data["decoder"] = {"type": "ByteLevel", "add_prefix_space": variant == "gpt2", "trim_offsets": variant == "gpt2",
                       "use_regex": variant == "gpt2"}
    if variant == "qwen2":
        data["model"]["continuing_subword_prefix"] = data["model"]["end_of_word_suffix"] = ""
    if variant == "gpt2":
        data["model"]["merges"] = [f"{a} {b}" for a, b in data["model"]["merges"]]
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=False) + "\n"


def nfc_sensitive(rng):
    """Combining marks in both orders (NFC reorders and composes them, by the tables' Unicode version) and
    precomposed characters in decomposed form."""
    marks = [chr(c) for c in range(0x300, 0x1F000) if unicodedata.combining(chr(c))]
    out = ["a" + m + "\u0301" for m in rng.sample(marks, 150)] + ["a\u0323" + m for m in rng.sample(marks, 50)]
    # Marks added in Unicode 10-14: tokenizers' NFC tables (Unicode 9) do not know them.
    out += ["a" + chr(c) + "\u0301" for c in [0x7FD, 0x8D3, 0xD3B, 0xD3C, 0x1ABF, 0x1DF6, 0x11442, 0x11C3F]]
    composed = [chr(c) for c in range(0xC0, 0x30000) if unicodedata.decomposition(chr(c)).split(" ")[0][:1] != "<"
                and unicodedata.normalize("NFD", chr(c)) != chr(c)]
    for ch in rng.sample(composed, 250):
        out.append(unicodedata.normalize("NFD", ch) + rng.choice(["", " ", "x", "\u0301"]))
    out += [chr(c) for c in [0x340, 0x341, 0x343, 0x344, 0x374, 0x37E, 0x387, 0x212B, 0x2126, 0xF900, 0x2F800]]
    out += ["\u1100\u1161\u11a8", "\u1100\u1161", "\uac00\u11a8", "e\u0301\u0323", "e\u0323\u0301"]
    return out


def corpus():
    """>= 2,000 varied strings aimed at the Qwen2 and GPT-2 regexes, NFC and the added tokens."""
    rng = random.Random(20261203)
    out = ["", " ", "  ", "\t", "\n", "\r\n", "\r", "\n\n", " \n", "\n ", "  \n  ", "\t\n\t", "a", " a", "a ",
           "a  b", "a\tb", "a\n\nb", "a \n b", "x\r\n\r\ny", "   leading", "trailing   ", "end\n", "end \n",
           "it's", "IT'S", "It'S", "we'll", "WE'LL", "they've", "They'Ve", "you're", "I'm", "I'M", "he'd",
           "HE'D", "don't", "DON'T", "'s", "'S", "'ſ", "'ſx", "''s", "' s", "o'clock", "rock'n'roll",
           "’s curly", "12345", "1 2 3", "3.14159", "1,000,000", "-42", "０１２", "٣٤٥", "Ⅻ ⅻ", "½ ²", "x²",
           "abc123def", "123abc", "!!!", "?!...", " ...", "...\n", " !!\n\n", "--->", "(a)", "[b]", "{c}",
           "a.b,c;d:e", "\"quoted\"", "path/to/file.txt", "C:\\dir", "#tag @user", "100% & $5", "~^`|",
           "\u00a0nbsp\u00a0", "\u3000ideographic space", "\u2028line sep", "\u0085nel", "\u200b zero width",
           "\u200d", "e\u0301", "\u00e9", "cafe\u0301 caf\u00e9", "\U0001F600", "\U0001F600\U0001F600",
           "\U0001F468\u200D\U0001F469\u200D\U0001F467", "\U0001F1E9\U0001F1EA", "\U0001F44D\U0001F3FD",
           "日本語のテキスト", "中文 字符 测试", "한국어", "Ελληνικά", "русский текст", "עברית", "العربية", "हिन्दी",
           "ไทย", "mixed 日本 and English", "emoji 🎨 in 🟥 text 🔺", "\x00", "\x00a\x01", "\x7f", "\ufffd",
           "\ud7ff\ue000\U0010ffff", "\U000E0041", "\u0378", "\U00031350", "\U0001E030\U0001E031",
           "x\u088fy", "ab\u0c5ccd", "7\U00011de0 8", "\ua7ce\ua7cf"]
    out += QWEN2_SPECIALS + ["<tool_call>", NORMALIZED_TOKEN, unicodedata.normalize("NFC", NORMALIZED_TOKEN),
                             "<cafe>", "<|im_start|>user\nDescribe this image.<|im_end|>\n<|im_start|>assistant\n",
                             "<|vision_start|><|image_pad|><|image_pad|><|vision_end|>Describe.",
                             "<|endoftext|><|endoftext|>", "x<|endoftext|>y", " <|im_end|> ", "<|im_end", "|im_end|>",
                             "<<|im_end|>>", "<|IM_END|>"]
    pools = COLOURS + SHAPES + SIZES + RELATIONS + WORDS + ACCENTED
    specials = QWEN2_SPECIALS + ["<tool_call>", NORMALIZED_TOKEN]
    for _ in range(500):  # captions, in the shapes the prompts use
        out.append(styled_caption(rng, 5, lambda c: "<|vision_start|>" + "<|image_pad|>" * rng.randint(1, 4) + "<|vision_end|>" + c,
                                  lambda c: f"<|im_start|>user\n{c}?<|im_end|>\n<|im_start|>assistant\n"))
    contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Re", "'rE", "'VE", "'M", "'LL",
                    "'lL", "'D", "'x", "'", "''", "'ſ"]
    punctuation = list(".,!?;:-'\"()[]/\\&%#@*+=<>|~^`") + ["...", "!!", "?!", "--", "—", "…", "«", "»", "“", "”"]
    whitespace = [" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", " \n", "\n ", " \t ", "\u00a0", "\u3000",
                  "\u2009", "\r", "\f", "\v"]
    for _ in range(900):  # word salad: contractions, digits, punctuation runs, whitespace runs
        parts = []
        for _ in range(rng.randint(1, 14)):
            r = rng.random()
            if r < 0.4:
                word = rng.choice(pools)
                parts.append(word.upper() if rng.random() < 0.15 else word)
            elif r < 0.5:
                parts.append(rng.choice(pools) + rng.choice(contractions))
            elif r < 0.65:
                parts.append(str(rng.randint(0, 10 ** rng.randint(1, 12))))
            elif r < 0.8:
                parts.append("".join(rng.choice(punctuation) for _ in range(rng.randint(1, 4))))
            else:
                parts.append(rng.choice(whitespace))
        out.append("".join(p + rng.choice(whitespace[:6] + [""]) for p in parts))
    for _ in range(250):  # added tokens at edges and inside text, with whitespace around
        words = [rng.choice(pools) for _ in range(rng.randint(0, 5))]
        k = rng.randint(0, len(words))
        words.insert(k, rng.choice(["", " ", "\n", "\t"]) + rng.choice(specials) + rng.choice(["", " ", "\n", "  "]))
        out.append(rng.choice([" ", ""]).join(words))
    scripts = [(0x4E00, 0x9FFF), (0x3040, 0x30FF), (0xAC00, 0xD7A3), (0x0391, 0x03C9), (0x0410, 0x044F),
               (0x05D0, 0x05EA), (0x0627, 0x064A), (0x0900, 0x097F), (0x1F300, 0x1F64F), (0x1F680, 0x1F6FF),
               (0x00C0, 0x024F), (0x2200, 0x22FF), (0x2500, 0x257F), (0x0E00, 0x0E7F), (0x2000, 0x206F)]
    for _ in range(350):  # scripts, with Latin words around
        lo, hi = rng.choice(scripts)
        text = "".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 12)))
        if rng.random() < 0.5:
            text = rng.choice(pools) + rng.choice([" ", ""]) + text + rng.choice([" ", "", "!", "\n"]) + rng.choice(pools)
        out.append(text)
    out += nfc_sensitive(rng)
    for _ in range(200):  # random code points, controls and private use (never surrogates)
        chars = []
        for _ in range(rng.randint(1, 10)):
            cp = rng.choice([rng.randint(0, 0x7F), rng.randint(0x80, 0x7FF), rng.randint(0x800, 0xFFFF),
                             rng.randint(0x10000, 0x10FFFF)])
            chars.append(chr(0xFFFD if 0xD800 <= cp <= 0xDFFF else cp))
        out.append("".join(chars))
    for _ in range(20):  # long strings
        out.append(" ".join(rng.choice(pools) for _ in range(rng.randint(40, 120))))
    return out


def random_id_sequences(tok, rng):
    """Id sequences decode must turn into text: single bytes that are not valid UTF-8 on their own, added tokens."""
    size = tok.get_vocab_size(with_added_tokens=True)
    return [[rng.randrange(size) for _ in range(rng.randint(1, 8))] for _ in range(300)]


def byte_level_expectations(path, texts, with_decodes):
    """The Llama script's expectations (ids and decodes from both Python libraries, which must agree), plus
    decodes of random id sequences. Without `with_decodes` the corpus decodes are left out of the file (to
    keep it small; both variants share the decoder)."""
    expected = expectations(path, texts)
    tok = Tokenizer.from_file(str(path))
    fast = PreTrainedTokenizerFast(tokenizer_file=str(path))
    sequences = random_id_sequences(tok, random.Random(path.name))
    random_decoded = [tok.decode(s, skip_special_tokens=False) for s in sequences]
    for s, d in zip(sequences, random_decoded):
        if d != fast.decode(s, skip_special_tokens=False):
            sys.exit(f"{path.name}: decode of {s} disagrees")
    expected.update(random_ids=sequences, random_ids_decoded=random_decoded)
    if not with_decodes:
        del expected["decoded"], expected["decoded_keep_special"]
    return expected


def ranges(members):
    """Sorted code points as [first, last] runs."""
    runs = []
    for cp in sorted(members):
        if runs and runs[-1][1] == cp - 1:
            runs[-1][1] = cp
        else:
            runs.append([cp, cp])
    return runs


def unicode_tables():
    """What tokenizers' own engines think of every scalar: the regex classes \\p{L}, \\p{N}, \\s (Oniguruma's
    Unicode tables), and NFC (its normalization tables) of c, "q" + c + U+0301 and "q" + U+0301 + c wherever one
    of them changes; Discern must agree on every scalar, whatever Unicode version its Swift has."""
    scalars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    everything = "".join(scalars)
    tables = {}
    for name, outside in [("letter", r"[^\p{L}]+"), ("number", r"[^\p{N}]+"), ("whitespace", r"\S+")]:
        kept = pre_tokenizers.Split(Regex(outside), behavior="removed").pre_tokenize_str(everything)
        tables[name] = ranges({ord(ch) for piece, _ in kept for ch in piece})
    nfc = normalizers.NFC()
    changed = []
    for ch in scalars:
        probes = [ch, "q" + ch + "\u0301", "q\u0301" + ch]  # no precomposed q with a mark exists
        outputs = [nfc.normalize_str(probe) for probe in probes]
        if outputs != probes:
            changed.append([ord(ch)] + outputs)
    tables["nfc_changed"] = changed
    return tables


def main():
    FIXTURES.mkdir(parents=True, exist_ok=True)
    texts = corpus()
    assert len(texts) >= 2000, len(texts)
    write(FIXTURES / "tokenizer-bytelevel-unicode.json", json.dumps(unicode_tables(), ensure_ascii=False, separators=(",", ":")) + "\n")
    write(FIXTURES / "tokenizer-bytelevel-corpus.json", json.dumps({"strings": texts}, ensure_ascii=False, indent=0) + "\n")
    for variant in ["qwen2", "gpt2"]:
        path = FIXTURES / f"tokenizer-bytelevel-{variant}.json"
        write(path, build(variant))
        write(FIXTURES / f"tokenizer-bytelevel-{variant}-expected.json",
              json.dumps(byte_level_expectations(path, texts, variant == "qwen2"), ensure_ascii=False, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
