"""What differs between training on text and on ink: the data, the loss and the validation.

The training loop (`model.train`) is the same for both: contiguous streams read in
truncated-BPTT windows with the state carried. A task supplies those streams, the loss
of a window, a validation score (lower is better) and what the checkpoint records.
"""
from __future__ import annotations

import hashlib
import random

import numpy as np
import torch
import torch.nn.functional as F

from model.data import DataError, Spaceless, Vocabulary, batchify, load_corpus, stream_batches
from model.ink import IamOnDB, InkError, InkStats, preprocess, synthetic_cursive, to_offsets
from model.priors import next_char_entropy
from model.traces import LOG2E
from model.typed import fits



@torch.no_grad()
def evaluate_bpc(model, ids: torch.Tensor, streams: int, length: int = 200, device="cpu"):
    """BPC over `ids` read as `streams` contiguous streams, the state carried (DESIGN.md 6).

    Returns (bpc, scored characters, boundary rate per layer).
    """
    model.eval()
    streams = eval_streams(ids, streams)
    state, nll, count = None, 0.0, 0
    fired = torch.zeros(model.cfg.num_layers)
    for _, x, y in stream_batches(ids, streams, length):
        out = model(x.to(device), state)
        state = out["state"]
        logp = F.log_softmax(out["out"].float(), -1)
        nll += -logp.gather(-1, y.to(device)[..., None]).sum().item()
        count += y.numel()
        fired += out["z"].float().sum((0, 1)).cpu()
    model.train()
    return nll / count * LOG2E, count, (fired / max(count, 1)).tolist()


def eval_streams(ids: torch.Tensor, streams: int) -> int:
    """As many streams as asked, but each at least 2 characters long."""
    return max(1, min(streams, ids.numel() // 2))


def _scored(task, metrics: dict) -> tuple[float, dict]:
    """A validation's score (lower is better; the one a checkpoint's metrics hold again) and its metrics."""
    return task.score_of(metrics), metrics


class TextTask:
    kind = "text"
    unit = "bpc"                 # how the progress bar shows the loss

    def __init__(self, args, saved: dict | None):
        corpus = load_corpus(args.data_dir, args.text_file)
        self.spaces = not args.no_spaces
        if not self.spaces:                      # each line without its whitespace (DESIGN.md section 8)
            corpus = {split: Spaceless.of(text).text for split, text in corpus.items()}
        if saved is not None:                    # a resumed run reads its text as it began
            symbols = saved.get("vocabulary")
            if not (symbols and fits(symbols, "list[str]")):
                raise DataError("the run's trainer.json holds no vocabulary (its 'data' is damaged)")
            self.vocab = Vocabulary(symbols)
        else:
            self.vocab = Vocabulary.from_text(corpus["train"])
        self.ids = {s: self.vocab.encode(t) for s, t in corpus.items()}
        self.valid_part = "full split"
        if args.valid_chars:
            self.ids["valid"] = self.ids["valid"][:args.valid_chars]
            self.valid_part = f"its first {args.valid_chars} characters (--valid-chars)"
        if args.train_chars:
            self.ids["train"] = self.ids["train"][:args.train_chars]
        self.fingerprint = fingerprint(self.ids["train"])
        self.data = (args.text_file or "Penn Treebank (Mikolov char-level), train split") + \
            (f", its first {args.train_chars:,} characters" if args.train_chars else "") + \
            ("" if self.spaces else ", read without spaces")
        self.eval_batch = args.eval_batch

    def model_config(self, args) -> dict:
        return {"task": "text", "vocab_size": len(self.vocab), "input_size": args.embed}

    def train_streams(self, batch: int) -> torch.Tensor:
        return batchify(self.ids["train"], batch)

    def loss(self, model, out, y):
        return F.cross_entropy(out["out"].float().reshape(-1, model.cfg.vocab_size), y.reshape(-1))

    def uncertainty(self, model, out, x):
        """What the entropy guide follows: the next character's entropy in bits (T, B)."""
        return next_char_entropy(out["out"])

    def shown(self, nats: float) -> float:
        return nats * LOG2E

    @staticmethod
    def score_of(metrics: dict) -> float | None:
        """The validation score (lower is better) that these recorded metrics hold, if they hold one."""
        return metrics.get("valid_bpc")

    def validation_ready(self, streams: int) -> None:
        """A DataError now, before an epoch is trained, where the validation text is too short to score."""
        try:
            batchify(self.ids["valid"], eval_streams(self.ids["valid"], streams))
        except DataError as e:
            raise DataError(f"the validation text cannot be scored: {e} (--valid-chars, or a longer file)") from None

    def validate(self, model, device):
        bpc, n, rates = evaluate_bpc(model, self.ids["valid"], self.eval_batch, device=device)
        return _scored(self, {"valid_bpc": bpc, "valid_chars": n, "valid_boundary_rate": rates,
                     "how": f"valid: {self.valid_part} as contiguous streams, state carried, first char of "
                            "each stream not scored"})

    @staticmethod
    def best_said(score: float) -> str:
        return f"best valid BPC {score:.4f}"

    def meta(self) -> dict:
        return {"task": "text", "vocabulary": self.vocab.symbols, "spaces": self.spaces}


STROKE_START = 3       # points after a pen-up that the ink entropy guide leaves out (its docstring)


class InkTask:
    kind = "ink"
    unit = "nats/pt"

    def __init__(self, args, saved: dict | None):
        if args.synthetic:                          # synthetic cursive: tests, and a check of the pipeline
            rng = random.Random(args.seed)
            words = "the of and to in is was he that it for on are with as his they be at one have".split()
            lines = [synthetic_cursive(" ".join(rng.choice(words) for _ in range(rng.randint(2, 5))), seed=i,
                                       connected=True).strokes for i in range(args.synthetic)]
            self.data = f"synthetic cursive (Hershey scripts, the letters of each word joined), {args.synthetic} lines"
        else:
            lines = [s for _, s in IamOnDB(args.data_dir).lines("training", limit=args.max_lines)]
            self.data = "IAM-OnDB training lines (Graves 2013 split)"
        if len(lines) < 2:
            raise InkError(f"{len(lines)} ink line{'' if len(lines) == 1 else 's'} to train on: at least 2 are needed "
                           "(some are held out to stop on)")
        held = max(1, min(args.stop_lines, len(lines) // 10))
        train_lines, self.stop_lines = lines[:-held], lines[-held:]
        if saved is not None:                       # a resumed run normalises its ink as it began
            try:
                self.stats = InkStats.from_dict(saved["normalisation"])
            except (KeyError, TypeError, ValueError) as e:
                raise InkError(f"the run's trainer.json holds no ink normalisation (its 'data' is damaged: {e})") from None
        else:
            self.stats = InkStats.fit([to_offsets(s) for s in train_lines])
        self.train = torch.from_numpy(np.concatenate([preprocess(s, self.stats) for s in train_lines]))
        self.fingerprint = fingerprint(self.train)
        self.stop = [preprocess(s, self.stats) for s in self.stop_lines]
        self.eval_batch = args.eval_batch

    def model_config(self, args) -> dict:
        return {"task": "ink", "vocab_size": 0, "input_size": 3, "mixture_components": args.mixtures}

    def train_streams(self, batch: int) -> torch.Tensor:
        return batchify(self.train, batch)

    def loss(self, model, out, y):
        return model.head.nll(out["out"], y).mean()

    def uncertainty(self, model, out, x):
        """What the entropy guide follows: an upper bound on the next point's entropy in nats (T, B),
        inside strokes only. Pen-ups are in the input, and around them the next move is the most
        uncertain of all (the jump after a stroke's last point, the direction of a new stroke's first
        few): there it is set to the lowest, so that the guide looks for cuts within strokes."""
        bound = model.head.entropy_bound(out["out"].detach())
        pen_up = x[..., 2].to(bound.device) > 0.5
        near = pen_up.clone()
        for k in range(1, STROKE_START + 1):
            near[k:] |= pen_up[:-k]
        return bound.masked_fill(near, float(bound.min()))

    def shown(self, nats: float) -> float:
        return nats

    @staticmethod
    def score_of(metrics: dict) -> float | None:
        """The validation score (lower is better) that these recorded metrics hold, if they hold one."""
        loglik = metrics.get("stop_loglik_per_sequence")
        return None if loglik is None else -loglik

    def validation_ready(self, streams: int) -> None:
        """Nothing to check: the held-out lines were counted when they were set aside (at least one)."""

    def validate(self, model, device):
        res = ink_loglik(model, self.stop, self.eval_batch, device)
        return _scored(self, {
            "stop_loglik_per_sequence": res["loglik_per_sequence"], "stop_lines": len(self.stop),
            "stop_boundary_rate": res["boundary_rate"],
            "how": "early stopping on a held-out slice of the training lines (the validation lines are "
                   "what model.evaluate reports)"})

    @staticmethod
    def best_said(score: float) -> str:
        return f"best log-likelihood on the held-out training lines {-score:+.1f} nats a line"

    def meta(self) -> dict:
        return {"task": "ink", "normalisation": self.stats.to_dict()}


@torch.no_grad()
def ink_loglik(model, lines: list[np.ndarray], batch: int = 32, device="cpu") -> dict:
    """Per line, the sum over its points (after the first) of log p(point | earlier points),
    in nats in the normalised space; the mean over lines. Also each line's z and z~ (T, L) and its
    surprisal per point (T,), -log p(point t | earlier points), NaN at the unscored first point."""
    model.eval()
    order = sorted(range(len(lines)), key=lambda i: len(lines[i]))
    logliks, zs, soft, surprisal = [0.0] * len(lines), [None] * len(lines), [None] * len(lines), [None] * len(lines)
    for a in range(0, len(order), batch):
        idx = order[a:a + batch]
        T = max(len(lines[i]) for i in idx)
        x = torch.zeros(T, len(idx), 3)
        for k, i in enumerate(idx):
            x[:len(lines[i]), k] = torch.from_numpy(lines[i])
        out = model(x.to(device))
        nll = model.head.nll(out["out"][:-1], x[1:].to(device)).cpu()        # predicts points 1..T-1
        for k, i in enumerate(idx):
            n = len(lines[i])
            logliks[i] = -float(nll[:n - 1, k].sum())
            surprisal[i] = np.concatenate([[np.nan], nll[:n - 1, k].numpy()])
            zs[i] = out["z"][:n, k].cpu().numpy()
            soft[i] = out["z_soft"][:n, k].float().cpu().numpy()
    model.train()
    fired = np.concatenate(zs).mean(0)
    return {"loglik_per_sequence": float(np.mean(logliks)), "logliks": logliks, "z": zs, "z_soft": soft,
            "surprisal": surprisal, "boundary_rate": fired.tolist()}


def fingerprint(data: torch.Tensor) -> str:
    """What a run trains on, in 16 bytes: a resume on a file changed since would train on other data."""
    return hashlib.blake2b(data.contiguous().numpy().tobytes(), digest_size=16).hexdigest()


def make_task(args, saved: dict | None = None):
    """The task of `args`; `saved`: what a resumed run recorded of its data (`meta()`, in its trainer.json)."""
    return (TextTask if args.task == "text" else InkTask)(args, saved)
