"""The checkpoints the service knows: discovered once at start-up, looked up by name.

A name in a request is only ever a key into this dict, never part of a file path.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from app.cache import PrefixCache
from model.checkpoint import UNIGRAM, CheckpointError, load_checkpoint
from model.data import Vocabulary
from model.hmlstm import HMLSTMModel

log = logging.getLogger("lens")


@dataclass
class Loaded:
    name: str
    model: HMLSTMModel
    config: dict
    vocab: Vocabulary | None
    cache: PrefixCache = field(repr=False)
    unigram: object | None = field(default=None, repr=False)     # a SentencePieceProcessor
    fingerprint: str = ""             # of the checkpoint's files: answers' digests name what computed them

    @property
    def task(self) -> str:
        return self.model.cfg.task

    @property
    def spaces(self) -> bool:
        """False for a checkpoint trained on text read without its whitespace (DESIGN.md section 8)."""
        return self.config.get("spaces") is not False

    def describe(self) -> dict:
        cfg = self.model.cfg
        return {
            "name": self.name, "task": cfg.task, "arch": cfg.arch, "layers": cfg.num_layers,
            "hidden_sizes": cfg.hidden_sizes,
            "detectors": [cfg.has_detector(l) for l in range(cfg.num_layers)],
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "layer_norm": cfg.layer_norm, "nested": cfg.nested, "spaces": self.spaces,
            "vocabulary": self.vocab.symbols if self.vocab else None,
            "normalisation": self.config.get("normalisation"),
            "training": self.config.get("training", {}), "metrics": self.config.get("metrics", {}),
        }


def discover(folder: Path, cache_entries: int) -> dict[str, Loaded]:
    """Load every checkpoint folder under `folder`; a broken one is logged and skipped."""
    found: dict[str, Loaded] = {}
    if not folder.is_dir():
        log.warning("checkpoint folder %s %s", folder, "is a file, not a folder" if folder.exists() else "does not exist")
        return found
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            model, config = load_checkpoint(sub)
        except CheckpointError as e:
            log.warning("skipping checkpoint %s: %s", sub.name, e)
            continue
        except Exception as e:          # a fault the loader did not foresee: the other checkpoints are served all the same
            log.warning("skipping checkpoint %s: %s: %s", sub.name, type(e).__name__, e)
            continue
        vocab = Vocabulary(config["vocabulary"]) if model.cfg.task == "text" else None
        found[sub.name] = Loaded(sub.name, model, config, vocab, PrefixCache(cache_entries), _unigram(sub),
                                 _fingerprint(sub))
        log.info("loaded checkpoint %s (%s)", sub.name, model.cfg.task)
    if not found:
        log.warning("no checkpoint loaded from %s: the pages will say so", folder)
    return found


def _fingerprint(folder: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(p.name for p in folder.iterdir() if p.is_file()):
        h.update(name.encode())
        h.update((folder / name).read_bytes())
    return h.hexdigest()


def _unigram(folder: Path):
    """The checkpoint's SentencePiece model, where it has one (a protobuf file: nothing is unpickled)."""
    path = folder / UNIGRAM
    if not path.is_file():
        return None
    import sentencepiece
    try:
        return sentencepiece.SentencePieceProcessor(model_file=str(path))
    except (OSError, RuntimeError) as e:
        log.warning("checkpoint %s: its %s does not load (%s)", folder.name, UNIGRAM, e)
        return None
