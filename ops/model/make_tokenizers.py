#!/opt/qanchor/ref/bin/python
"""Build the small test tokenizers and their goldens with the Hugging Face `tokenizers` library.

Writes, under testdata/tokenizers/:
  bpe/tokenizer.json              byte-level BPE configured like Qwen2's tokenizer.json
  wordpiece/tokenizer.json        BERT WordPiece, lowercase + accent stripping (like gte-base / bert-base-uncased)
  wordpiece-cased/tokenizer.json  BERT WordPiece, cased, no accent stripping, short max_input_chars_per_word
  goldens.json                    ids and tokens for every corpus case and every tokenizer, the Qwen2 split
                                  pieces, truncated BERT encodings, BPE decodes, cases made from invalid UTF-8,
                                  random strings over a troublesome alphabet (fixed seed) and long inputs
  unicode-classes.json            the Unicode classes the reference library uses (its regex engine's \\p{L},
                                  \\p{N}, \\s and the BERT normalizer's control / whitespace / punctuation /
                                  nonspacing-mark predicates), as scalar ranges, for every Unicode scalar

Reads testdata/tokenizers/corpus.txt (one case per line, escapes \\n \\r \\t \\\\ \\u{HEX}; '#' comments).

Training is deterministic (the library's BPE trainer on a fixed text; the WordPiece vocabulary by counting,
see wordpiece_vocab); running the script twice gives byte-identical files. CI never runs this script: the outputs are committed.

Usage: /opt/qanchor/ref/bin/python ops/model/make_tokenizers.py [--out testdata/tokenizers]
"""
import argparse
import json
import os
import re
import sys
import unicodedata
from collections import Counter

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import regex  # noqa: E402  (the `regex` module, to compare the Qwen2 split with a second regex engine)
import tokenizers  # noqa: E402
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers  # noqa: E402
from tokenizers import pre_tokenizers, processors, trainers  # noqa: E402

QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Qwen2's own specials, then the Q-Anchor tokens in the authors' order (PAPER.md §2: six <|*_pad|>,
# twelve start/end tokens in the order bill, minipro, spm, sousuo, app, tabular, then <|user_emb|>).
MODALITIES = ["bill", "minipro", "spm", "sousuo", "app", "tabular"]
SPECIAL_TOKENS = (
    ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    + [f"<|{m}_pad|>" for m in MODALITIES]
    + [t for m in MODALITIES for t in (f"<|{m}_start|>", f"<|{m}_end|>")]
    + ["<|user_emb|>"]
)

BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
TRUNCATION_LENGTHS = [16, 2]

# Invalid UTF-8 inputs: Swift's String(decoding:as:) and Python's bytes.decode("utf-8", "replace") both
# substitute U+FFFD per maximal ill-formed subpart; the goldens record Python's decoded text.
INVALID_UTF8_HEX = [
    "61ff62",              # a, invalid byte, b
    "e4bda0e5a5",          # 你 then a truncated 3-byte sequence
    "c0af41",              # overlong '/'
    "eda080",              # encoded surrogate U+D800
    "f4908080",            # above U+10FFFF
    "68656c6c6f80808020776f726c64",  # stray continuation bytes
    "3c7c757365725f656d627cfe3e",    # <|user_emb| + invalid byte + >
]

# Random strings over an alphabet of troublesome pieces (whitespace kinds, contraction letters, marks,
# letters and numbers of several scripts, added tokens, BERT specials), to compare the hand-written splitters
# with the library beyond the hand-picked corpus. Fixed seed: the strings are the same on every run.
FUZZ_ALPHABET = [
    " ", "  ", "\t", "\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x85", "\xa0", "\u3000", "\u2028", "\u200b",
    "\u200d", "'", "'s", "'S", "'ll", "'LL", "'re", "'ve", "'d", "'m", "'t", "\u017f", "s", "t", "l", "e", "r", "v",
    "d", "m", "a", "Z", "\xe9", "e\u0301", "\u0301", "\u05b8", "\u0915\u094d", "\u5b57", "\u3042", "\uac00", "\u1100\u1161",
    "1", "42", "\u0663", "\u2460", "\u216b", "\xbd", "!", "?", ".", ",", "-", "_", "#", "$", "<", ">", "|", "[", "]",
    "\u3001", "\u2014", "\u00ab", "\U0001f600", "\U0001f44d\U0001f3fd", "\ufe0f", "\U0001f1e8\U0001f1f3", "\ue000",
    "\x00", "\x7f", "\ufffd", "\u0130", "\u0131", "\u03a3", "\u1e9e", "\ufb01", "\U0001ccf0", "\ua7ce",
    "<|user_emb|>", "<|im_start|>", "<|endoftext|>", "<tool_call>", "<lstrip>", "<rstrip>", "qanchor", "a\xf1ejo",
    "an\u0303ejo", "[CLS]", "[SEP]", "[MASK]", "[UNK]", "hello", "World", "\u7528\u6237", "\u03bf\u03b4\u03cc\u03c2",
]
FUZZ_COUNT = 400

# Long inputs: long merge chains, long whitespace and symbol runs, many contractions, long CJK runs.
STRESS_TEXTS = [
    "a" * 5000, "ab" * 2500, "the" * 1000 + " end", "字" * 2000, "😀" * 500, " " * 1000 + "x", "\n" * 500 + "x",
    " \t" * 500, "'s" * 500, "1" * 1000, "!" * 1000 + "\n\n", "<|user_emb|>" * 200, "é" * 300 + "e\u0301" * 300,
    ("Paid 38.00 CNY at Lucky Coffee, food & drink. 用户在蚂蚁森林收取了能量。 " * 40).strip(),
]
FUZZ_SEED = 2602_14492


def fuzz_texts():
    import random
    rng = random.Random(FUZZ_SEED)
    return ["".join(rng.choice(FUZZ_ALPHABET) for _ in range(rng.randint(1, 16))) for _ in range(FUZZ_COUNT)]


TRAINING_TEXT = """
Paid 38.00 CNY at Lucky Coffee, food & drink. Paid 12.50 CNY at Metro, transport. Refund 99.00 CNY from Taobao.
The user searched for coffee, tea, flights to Shanghai and hotel deals. Mini program: Ele.me delivery, Didi ride.
Hello world! How are you? I'm fine, you're kind, we'll see, they've gone, she'd know, it's done, don't stop.
The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs.
Machine learning models encode user behaviour into dense vectors for risk, marketing and engagement.
用户在蚂蚁森林收取了能量，并且支付了三十八元。支付宝小程序订单已完成，外卖、打车、酒店、机票。
我们的模型把用户行为编码成向量，用于风险控制、营销和用户增长。今天天气很好，我们去公园散步吧。
東京都でコーヒーを買いました。カタカナとひらがなと漢字を使います。日本語のテキストです。
안녕하세요. 한국어 텍스트입니다. 결제가 완료되었습니다. 감사합니다.
Καλημέρα κόσμε. Η οδός είναι μεγάλη. ΟΔΟΣ ΣΙΣΥΦΟΣ. Ελληνικά γράμματα αβγδε.
İstanbul'da güzel bir gün. Türkçe metin: ılık, ıspanak, İzmir, Ankara, DİYARBAKIR.
Café crème brûlée, naïve façade, résumé, Ångström, Øresund, Straße, Gödel, Erdős, Dvořák.
Привет мир! Это русский текст. Ёлка, ёжик, медведь. Москва и Санкт-Петербург.
नमस्ते दुनिया। यह हिंदी पाठ है। مرحبا بالعالم. هذا نص عربي. שלום עולם. สวัสดีครับ ภาษาไทย
Tiếng Việt có dấu: Hà Nội, Sài Gòn, phở bò, cà phê sữa đá.
Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000 2024 2025 3.14159 1,000,000 -42 +7 99% 50/50
Code: func encode(_ text: String) -> [Int] { return tokenizer.encode(text) } // swift
def main(): print("hello")  # python    if (x >= 0 && y <= 1) { z = x * y; }
URLs: https://example.com/path?query=1 user@example.org www.alipay.com
Emoji: 😀 😃 👍 ❤️ 🎉 🔥 👨‍👩‍👧‍👦 🇨🇳 🚀 ✨
Symbols: $ € £ ¥ % ^ & * ( ) [ ] { } < > / \\ | ~ ` ! ? . , ; : ' " - _ + = @ #
"""


def decode_escapes(line: str) -> str:
    """Decode the corpus escapes: \\n \\r \\t \\\\ and \\u{HEX}."""
    out = []
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line):
            n = line[i + 1]
            if n == "n":
                out.append("\n"); i += 2; continue
            if n == "r":
                out.append("\r"); i += 2; continue
            if n == "t":
                out.append("\t"); i += 2; continue
            if n == "\\":
                out.append("\\"); i += 2; continue
            m = re.match(r"u\{([0-9A-Fa-f]{1,6})\}", line[i + 1:])
            if m:
                out.append(chr(int(m.group(1), 16))); i += 1 + m.end(); continue
        out.append(c)
        i += 1
    return "".join(out)


def read_corpus(path):
    cases = []
    with open(path, encoding="utf-8") as f:
        for raw in f.read().split("\n"):
            if raw == "" or raw.startswith("#"):
                continue
            cases.append(decode_escapes(raw))
    return cases


def build_bpe():
    tok = Tokenizer(models.BPE(dropout=None, unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    trainer = trainers.BpeTrainer(
        vocab_size=1200, min_frequency=2, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    # Only the fixed training text: the added tokens below must not be learned as BPE tokens.
    tok.train_from_iterator(TRAINING_TEXT.strip().split("\n") * 3, trainer=trainer)
    # Qwen2 layout: special tokens after the BPE vocabulary, matched on the raw text (normalized=false).
    tok.add_special_tokens([
        AddedToken(t, single_word=False, lstrip=False, rstrip=False, normalized=False, special=True)
        for t in SPECIAL_TOKENS])
    # Non-special added tokens: <tool_call> as in Qwen2.5 (special=false, normalized=false), plus tokens that
    # exercise the other AddedToken flags.
    tok.add_tokens([
        AddedToken("<tool_call>", normalized=False, special=False),
        AddedToken("</tool_call>", normalized=False, special=False),
        AddedToken("<lstrip>", lstrip=True, normalized=False, special=False),
        AddedToken("<rstrip>", rstrip=True, normalized=False, special=False),
        AddedToken("qanchor", single_word=True, normalized=True, special=False),
        AddedToken("añejo", normalized=True, special=False),
    ])
    return tok


def wordpiece_vocab(lines, normalizer, pre_tokenizer, size):
    """A WordPiece vocabulary learned by counting, deterministically.

    The library's WordPieceTrainer breaks ties in hash-map order, so its vocabulary changes from run to run.
    This counts instead: every character seen (alone and as a ##continuation), then the word-initial
    prefixes and ##continuations of 2-8 characters with the highest count x (length - 1), ties broken by
    code-point order. Only the fixed training text is used, so corpus words with unseen characters
    become [UNK].
    """
    words = Counter()
    for line in lines:
        for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(line)):
            words[w] += 1
    chars = sorted({c for w in words for c in w})
    vocab = list(BERT_SPECIALS) + chars + ["##" + c for c in chars]
    pieces = Counter()
    for w, n in words.items():
        for k in range(2, min(len(w), 8) + 1):
            pieces[w[:k]] += n
        for i in range(1, len(w)):
            for k in range(2, min(len(w) - i, 8) + 1):
                pieces["##" + w[i:i + k]] += n
    ranked = sorted(pieces.items(), key=lambda kv: (-kv[1] * (len(kv[0].lstrip("#")) - 1), kv[0]))
    vocab += [p for p, n in ranked if n >= 2][: max(0, size - len(vocab))]
    return {t: i for i, t in enumerate(vocab)}


def build_wordpiece(lowercase, max_chars):
    normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=lowercase)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    vocab = wordpiece_vocab(TRAINING_TEXT.strip().split("\n"), normalizer, pre_tokenizer, size=1500)
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=max_chars))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in BERT_SPECIALS])
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    return tok


def encode(tok, text, max_length=None):
    if max_length is None:
        tok.no_truncation()
    else:
        tok.enable_truncation(max_length=max_length)
    enc = tok.encode(text)
    tok.no_truncation()
    return {"ids": enc.ids, "tokens": enc.tokens}


def qwen2_pieces(text):
    """The Qwen2 split as the tokenizers library does it (Oniguruma), and as the `regex` module does it."""
    split = pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False)
    lib = [p for p, _ in split.pre_tokenize_str(text)]
    mod = regex.findall(QWEN2_PATTERN, text)
    return lib, mod


def unicode_classes():
    """Classes of every Unicode scalar as the reference library sees them, as [first, last] ranges."""
    scalars = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]

    def ranges(members):
        out = []
        for c in sorted(members):
            if out and out[-1][1] == c - 1:
                out[-1][1] = c
            else:
                out.append([c, c])
        return out

    def regex_class(pattern):
        split = pre_tokenizers.Split(Regex(pattern), behavior="removed")
        members = set()
        for i in range(0, len(scalars), 4096):
            chunk = scalars[i:i + 4096]
            covered = [False] * len(chunk)
            for _, (a, b) in split.pre_tokenize_str("".join(map(chr, chunk))):
                for k in range(a, b):
                    covered[k] = True
            members.update(c for k, c in enumerate(chunk) if not covered[k])
        return members

    clean = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    strip = normalizers.BertNormalizer(
        clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False)
    nfd = normalizers.NFD()
    bert_pre = pre_tokenizers.BertPreTokenizer()
    other, white, punct, mark = set(), set(), set(), set()
    for c in scalars:
        if c in (0, 0xFFFD):
            continue
        out = clean.normalize_str("a" + chr(c) + "a")
        if out == "aa":
            other.add(c)
        elif out == "a a" and c != 0x20:
            white.add(c)
    for c in scalars:
        if c in other or c in white or c in (0, 0x20, 0xFFFD):
            continue
        if len(bert_pre.pre_tokenize_str("a" + chr(c) + "a")) == 3:
            punct.add(c)
        s = chr(c)
        if nfd.normalize_str(s) == s and strip.normalize_str(s) == "":
            mark.add(c)
    return {
        "comment": "Unicode classes used by the tokenizers library (see docs/tokenizers.md), as inclusive "
                   "scalar ranges. regex*: the Oniguruma classes of the Qwen2 split pattern. bert*: the "
                   "BertNormalizer/BertPreTokenizer predicates (is_control without 0/U+FFFD, is_whitespace "
                   "without U+0020, is_bert_punc, nonspacing marks left by NFD).",
        "tokenizers_version": tokenizers.__version__,
        "regexLetter": ranges(regex_class(r"\p{L}")),
        "regexNumber": ranges(regex_class(r"\p{N}")),
        "regexWhitespace": ranges(regex_class(r"\s")),
        "bertControl": ranges(other),
        "bertWhitespace": ranges(white),
        "bertPunctuation": ranges(punct),
        "bertNonspacingMark": ranges(mark),
    }


def write_json(path, obj, compact=False):
    with open(path, "w", encoding="utf-8") as f:
        if compact:
            json.dump(obj, f, ensure_ascii=False, separators=(",", ":"), sort_keys=False)
        else:
            json.dump(obj, f, ensure_ascii=False, indent=1, sort_keys=False)
        f.write("\n")


def write_goldens(path, goldens):
    """JSON with one case per line: compact, and a regenerated file diffs line by line."""
    def dumps(v):
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    with open(path, "w", encoding="utf-8") as f:
        f.write("{\n")
        items = list(goldens.items())
        for k, (key, value) in enumerate(items):
            if isinstance(value, list) and value and isinstance(value[0], dict):
                f.write(f"{dumps(key)}:[\n" + ",\n".join(dumps(e) for e in value) + "\n]")
            else:
                f.write(f"{dumps(key)}:{dumps(value)}")
            f.write(",\n" if k + 1 < len(items) else "\n")
        f.write("}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "testdata", "tokenizers"))
    args = ap.parse_args()
    out = os.path.normpath(args.out)
    corpus = read_corpus(os.path.join(out, "corpus.txt"))

    toks = {
        "bpe": build_bpe(),
        "wordpiece": build_wordpiece(lowercase=True, max_chars=100),
        "wordpiece-cased": build_wordpiece(lowercase=False, max_chars=20),
    }
    for name, tok in toks.items():
        os.makedirs(os.path.join(out, name), exist_ok=True)
        tok.save(os.path.join(out, name, "tokenizer.json"), pretty=True)
    # Reload from disk so the goldens come from exactly the committed files.
    toks = {name: Tokenizer.from_file(os.path.join(out, name, "tokenizer.json")) for name in toks}

    def entry(text):
        e = {"text": text}
        for name, tok in toks.items():
            e[name] = encode(tok, text)
            if name.startswith("wordpiece"):
                for n in TRUNCATION_LENGTHS:
                    e[f"{name}@{n}"] = encode(tok, text, max_length=n)["ids"]
        e["bpeDecoded"] = toks["bpe"].decode(e["bpe"]["ids"], skip_special_tokens=False)
        e["bpeDecodedSkippingSpecial"] = toks["bpe"].decode(e["bpe"]["ids"], skip_special_tokens=True)
        lib, mod = qwen2_pieces(text)
        e["qwen2Pieces"] = lib
        if mod != lib:
            e["regexModulePieces"] = mod
        return e

    cases = [entry(t) for t in corpus]
    invalid = []
    for h in INVALID_UTF8_HEX:
        e = entry(bytes.fromhex(h).decode("utf-8", "replace"))
        e["utf8Hex"] = h
        invalid.append(e)
    fuzz = [entry(t) for t in fuzz_texts()] + [entry(t) for t in STRESS_TEXTS]
    goldens = {
        "comment": "Generated by ops/model/make_tokenizers.py; do not edit.",
        "tokenizers_version": tokenizers.__version__,
        "unicode_version_python": unicodedata.unidata_version,
        "truncation_lengths": TRUNCATION_LENGTHS,
        "cases": cases,
        "invalid_utf8": invalid,
        "fuzz": fuzz,
    }
    write_goldens(os.path.join(out, "goldens.json"), goldens)
    write_json(os.path.join(out, "unicode-classes.json"), unicode_classes(), compact=True)
    diffs = sum(1 for e in cases + invalid + fuzz if "regexModulePieces" in e)
    print(f"wrote {len(cases)} cases + {len(invalid)} invalid-UTF-8 cases + {len(fuzz)} random cases to {out}; "
          f"regex module differs from tokenizers on {diffs} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
