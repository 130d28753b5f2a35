"""Tiny offline models: real architectures, tokenizers trained on shipped text, random weights.

They let tests and offline smoke runs exercise the real loading and `generate` code with no
network. Their output is gibberish, and their ids say so (`briefs-tiny/...-random-weights`).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

from briefs.tasks.models.cache import build_once, cache_dir, is_built

TINY_PREFIX = "briefs-tiny/"
SUMMARIZER_ID = "briefs-tiny/bart-random-weights"
# en-<lang> and <lang>-en; "mul" as the target: multi-target, with a >>xx<< token per language.
TRANSLATOR_PATTERN = re.compile(r"^briefs-tiny/marian-([a-z]{2,3})-([a-z]{2,3})-random-weights$")
NLLB_ID = "briefs-tiny/nllb-random-weights"  # NLLB-200's tokenizer and architecture (M2M100)
TRAINING_TEXT = Path(__file__).with_name("tiny_training_text.txt")
BUILDER_VERSION = "1"
# Small enough to build in seconds; a short input window so long articles really get chunked.
DIMENSIONS = dict(d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                  decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128,
                  max_position_embeddings=256, init_std=0.5)
MAX_INPUT_TOKENS = 256


def is_tiny(model_id: str) -> bool:
    """Whether a model id names one of the project's tiny random-weight models."""
    return model_id.startswith(TINY_PREFIX)


def cache_root() -> Path:
    """Folder that holds built tiny models (`BRIEFS_CACHE_DIR`, else ~/.cache/briefs)."""
    return cache_dir("tiny")


def fingerprint() -> str:
    """Hash of everything a tiny model is built from: used as its revision and cache key."""
    digest = hashlib.sha256(TRAINING_TEXT.read_bytes() + BUILDER_VERSION.encode())
    digest.update(json.dumps(DIMENSIONS, sort_keys=True).encode())
    return digest.hexdigest()[:12]


def tiny_model_path(model_id: str) -> Path:
    """Return the folder of a tiny model, building it on first use."""
    name = model_id.removeprefix(TINY_PREFIX)
    target = cache_root() / f"{name}-{fingerprint()}"
    if is_built(target):
        return target
    if model_id == SUMMARIZER_ID:
        builder = _build_bart
    elif model_id == NLLB_ID:
        builder = _build_nllb
    elif match := TRANSLATOR_PATTERN.match(model_id):
        src, tgt = match.groups()

        def builder(folder: Path) -> None:
            _build_marian(folder, src, tgt)
    else:
        raise ValueError(
            f"unknown tiny model {model_id!r}: expected {SUMMARIZER_ID!r}, {NLLB_ID!r} or "
            "'briefs-tiny/marian-<source>-<target>-random-weights'"
        )
    return build_once(target, builder)


def _seeded(name: str) -> int:
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)


def _save_model(model, folder: Path, suppress: list[int]) -> None:
    """Save weights as safetensors, with a generation config that never emits padding."""
    model.generation_config.suppress_tokens = suppress
    model.save_pretrained(folder, safe_serialization=True)


def _build_bart(folder: Path) -> None:
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import BartConfig, BartForConditionalGeneration, BartTokenizer

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe = ByteLevelBPETokenizer()
    bpe.train([str(TRAINING_TEXT)], vocab_size=700, min_frequency=1, special_tokens=specials)
    bpe.save_model(str(folder))
    merges = (folder / "merges.txt").read_text(encoding="utf-8").splitlines()
    tokenizer = BartTokenizer(
        vocab=json.loads((folder / "vocab.json").read_text(encoding="utf-8")),
        merges=[tuple(line.split(" ")) for line in merges if line and not line.startswith("#")],
        model_max_length=MAX_INPUT_TOKENS,
    )
    for leftover in ("vocab.json", "merges.txt"):
        (folder / leftover).unlink()
    tokenizer.save_pretrained(folder)
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in specials}
    config = BartConfig(
        vocab_size=len(tokenizer), **DIMENSIONS,
        bos_token_id=ids["<s>"], pad_token_id=ids["<pad>"], eos_token_id=ids["</s>"],
        decoder_start_token_id=ids["</s>"], forced_bos_token_id=None,
    )
    torch.manual_seed(_seeded(SUMMARIZER_ID))
    model = BartForConditionalGeneration(config)
    _save_model(model, folder, [ids["<s>"], ids["<pad>"], ids["<unk>"], ids["<mask>"]])


def _train_sentencepiece(folder: Path) -> None:
    """`source.model`: a unigram model with byte fallback, so any script has pieces."""
    import sentencepiece as spm

    spm.SentencePieceTrainer.train(
        input=str(TRAINING_TEXT), model_prefix=str(folder / "source"), vocab_size=600,
        model_type="unigram", byte_fallback=True, character_coverage=1.0,
        hard_vocab_limit=False, bos_id=-1, pad_id=-1, eos_id=-1, unk_id=0,
        minloglevel=2, num_threads=1,
    )


def _build_marian(folder: Path, src: str, tgt: str) -> None:
    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    from briefs.tasks.generation.targets import TARGETS

    _train_sentencepiece(folder)
    shutil.copyfile(folder / "source.model", folder / "source.spm")
    shutil.copyfile(folder / "source.model", folder / "target.spm")
    for leftover in ("source.model", "source.vocab"):
        (folder / leftover).unlink()
    processor = spm.SentencePieceProcessor(model_file=str(folder / "source.spm"))
    pieces = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    vocab = {"</s>": 0, "<unk>": 1}
    for piece in pieces:
        vocab.setdefault(piece, len(vocab))
    if tgt == "mul":  # a multi-target model reads its target from a token before the input
        for target in TARGETS.values():
            vocab.setdefault(target.opus_tokens[0], len(vocab))
    vocab["<pad>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    tokenizer = MarianTokenizer(
        source_spm=str(folder / "source.spm"), target_spm=str(folder / "target.spm"),
        vocab=str(folder / "vocab.json"), model_max_length=MAX_INPUT_TOKENS,
        source_lang=src, target_lang=tgt,
    )
    tokenizer.save_pretrained(folder)
    pad = vocab["<pad>"]
    config = MarianConfig(
        vocab_size=len(vocab), **DIMENSIONS, pad_token_id=pad, eos_token_id=0,
        decoder_start_token_id=pad, forced_eos_token_id=0,
        share_encoder_decoder_embeddings=True,
    )
    torch.manual_seed(_seeded(f"marian-{src}-{tgt}"))
    model = MarianMTModel(config)
    _save_model(model, folder, [pad, vocab["<unk>"]])


def _build_nllb(folder: Path) -> None:
    """NLLB-200's tokenizer class (its language codes as special tokens) on a small BPE
    vocabulary, and the M2M100 architecture NLLB uses."""
    import torch
    from tokenizers import SentencePieceBPETokenizer
    from transformers import M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer

    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    bpe = SentencePieceBPETokenizer()
    bpe.train([str(TRAINING_TEXT)], vocab_size=600, min_frequency=1, special_tokens=specials)
    model_file = json.loads(bpe.to_str())["model"]
    tokenizer = NllbTokenizer(vocab=model_file["vocab"],
                              merges=[tuple(m.split(" ")) if isinstance(m, str) else tuple(m)
                                      for m in model_file["merges"]],
                              model_max_length=MAX_INPUT_TOKENS)
    tokenizer.save_pretrained(folder)
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in specials}
    config = M2M100Config(
        vocab_size=len(tokenizer), **DIMENSIONS, scale_embedding=True,
        bos_token_id=ids["<s>"], pad_token_id=ids["<pad>"], eos_token_id=ids["</s>"],
        decoder_start_token_id=ids["</s>"],
    )
    torch.manual_seed(_seeded(NLLB_ID))
    model = M2M100ForConditionalGeneration(config)
    _save_model(model, folder, [ids["<s>"], ids["<pad>"], ids["<unk>"]])
