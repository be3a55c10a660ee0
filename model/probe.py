"""What an ink model's states know of character ends inside strokes, read out with labels.

    python -m model.probe --checkpoint checkpoints/iam-3x128 --json [--record]

A linear probe (logistic regression) is fitted to say, at each point inside a stroke of synthetic
cursive, whether a character ends there; its threshold is chosen on other lines, and it is scored
once on the lines `model.evaluate` scores, the same way (DESIGN.md section 10: within 2 points,
beside random firings at the probe's rate). Fitted on the model's h (every layer, with z~), on each
layer's h alone, and on the last few pen offsets alone (what the ink says locally, without a model).

It is a ceiling with labels, not a baseline: the detectors learn without them. Where the probe on
the states scores well above the detectors, the model has what a boundary would need and its
detectors do not mark it.
"""
from __future__ import annotations

import random
import sys
from typing import Callable

import numpy as np
import torch

from model import boundaries
from model.cli import Parser
from model.evaluate import (CHAR_TOLERANCE, SCORED, SyntheticDraw, SyntheticSet, char_scores, finish,
                            open_checkpoint, synthetic_set)
from model.ink import InkError, InkStats

INK_WINDOW = 6              # pen offsets up to and including the point
Features = Callable[[list[np.ndarray]], list[np.ndarray]]     # per line (T, 3) inputs -> (T, F) features


def pseudo_words(lines: int, seed: int) -> tuple[str, ...]:
    """Lines of 3 to 5 random lower-case words, 2 to 8 letters each: every letter join, no corpus needed."""
    rng = random.Random(seed)
    word = lambda: "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 8)))  # noqa: E731
    return tuple(" ".join(word() for _ in range(rng.randint(3, 5))) for _ in range(lines))


def ink_window(inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The last INK_WINDOW points' offsets and pen bits (zeros before the line's start)."""
    out = []
    for x in inputs:
        padded = np.concatenate([np.zeros((INK_WINDOW - 1, x.shape[1]), x.dtype), x])
        out.append(np.lib.stride_tricks.sliding_window_view(padded, INK_WINDOW, axis=0).reshape(len(x), -1))
    return out


class ModelStates:
    """The model's h of every layer with z~, at each point of each line: the model runs once per set of
    lines, and each probe reads the part it needs."""

    def __init__(self, model):
        self.model, self.runs = model, {}

    def every_layer(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        if id(inputs) not in self.runs:
            self.model.eval()
            out = []
            with torch.no_grad():
                for x in inputs:
                    o = self.model(torch.from_numpy(x).float()[:, None])
                    h = o["h"][:, 0]
                    if o["z_soft"] is not None and o["z_soft"].numel():
                        h = torch.cat([h, o["z_soft"][:, 0].float()], -1)
                    out.append(h.numpy())
            self.runs[id(inputs)] = (inputs, out)        # the inputs kept alive, so their id stays theirs
        return self.runs[id(inputs)][1]

    def layer(self, l: int) -> Features:
        """Layer l's h alone."""
        a = sum(self.model.cfg.hidden_sizes[:l])
        b = a + self.model.cfg.hidden_sizes[l]
        return lambda inputs: [h[:, a:b] for h in self.every_layer(inputs)]


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float = 1e-3, iters: int = 300) -> Callable[[np.ndarray], np.ndarray]:
    """Logistic regression on standardised features, the classes weighted equally (character ends
    are a few per cent of the points); returns the probability of a character end."""
    Xt, yt = torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    mean, std = Xt.mean(0), Xt.std(0) + 1e-6
    linear = torch.nn.Linear(X.shape[1], 1)
    positive = float(yt.mean().clamp(1e-6, 1 - 1e-6))
    weight = torch.where(yt > 0.5, 0.5 / positive, 0.5 / (1 - positive))
    opt = torch.optim.LBFGS(linear.parameters(), max_iter=iters, line_search_fn="strong_wolfe")

    def loss():
        opt.zero_grad()
        logits = linear((Xt - mean) / std).squeeze(-1)
        value = (weight * torch.nn.functional.binary_cross_entropy_with_logits(logits, yt, reduction="none")).mean() \
            + l2 * linear.weight.pow(2).sum()
        value.backward()
        return value
    opt.step(loss)

    def probability(Z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.sigmoid(linear((torch.tensor(Z, dtype=torch.float32) - mean) / std).squeeze(-1)).numpy()
    return probability


class ProbeSets:
    """The lines a probe is fitted on, those its threshold is chosen on, and those it is scored on."""

    def __init__(self, stats: InkStats, fit_lines: int, pick_lines: int, scored_lines: int):
        fit = SyntheticDraw(pseudo_words(fit_lines, seed=1), 30_000)
        pick = SyntheticDraw(pseudo_words(pick_lines, seed=2), 40_000)
        self.fit, self.pick = synthetic_set(stats, fit_lines, fit), synthetic_set(stats, pick_lines, pick)
        self.scored = synthetic_set(stats, scored_lines, SCORED)


def probe(features: Features, sets: ProbeSets) -> dict:
    """Fit on sets.fit, choose the threshold on sets.pick (best F1), score once on sets.scored."""
    def inner_features(s: SyntheticSet) -> np.ndarray:
        return np.concatenate(features(s.inputs))[s.inner]

    prob = fit_logistic(inner_features(sets.fit), sets.fit.char_end[sets.fit.inner].astype(np.float32))

    def fired_at(s: SyntheticSet, threshold: float | None = None):
        p = np.zeros(len(s.inner))
        p[s.inner] = prob(inner_features(s))
        return p if threshold is None else s.inner & (p > threshold)

    picked = fired_at(sets.pick)
    f1 = lambda th: boundaries.tolerant_prf(sets.pick.inner & (picked > th), sets.pick.char_end,  # noqa: E731
                                            CHAR_TOLERANCE, sets.pick.line)["f1"]
    threshold = float(max(np.quantile(picked[sets.pick.inner], np.linspace(0.5, 0.995, 60)), key=f1))
    return {**char_scores(fired_at(sets.scored, threshold), sets.scored), "threshold": threshold}


def probe_report(model, config, fit_lines: int = 300, pick_lines: int = 100, scored_lines: int = 50) -> dict:
    torch.manual_seed(0)                            # the probes' first weights: the same report every run
    sets = ProbeSets(InkStats.from_dict(config["normalisation"]), fit_lines, pick_lines, scored_lines)
    states = ModelStates(model)
    result = {"ink_window": probe(ink_window, sets), "states": probe(states.every_layer, sets),
              "layers": [{"layer": l + 1, **probe(states.layer(l), sets)} for l in range(model.cfg.num_layers)],
              "fit_lines": fit_lines, "pick_lines": pick_lines, "scored_lines": scored_lines,
              "char_tolerance_points": CHAR_TOLERANCE}
    result["how"] = ("a logistic regression per feature set, fitted on synthetic cursive of random words (each class "
                     "weighted equally), its threshold the best F1 on other such lines, scored once on model.evaluate's "
                     f"synthetic lines (within {CHAR_TOLERANCE} points, beside random firings at the probe's rate); "
                     f"ink_window: the last {INK_WINDOW} points' offsets and pen bits; states: every layer's h and z~; "
                     "layers: each layer's h; a ceiling with labels, not a baseline")
    return result


def main(argv=None):
    p = Parser(prog="python -m model.probe", description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True, help="an ink checkpoint")
    p.add_argument("--fit-lines", type=int, default=300)
    p.add_argument("--pick-lines", type=int, default=100)
    p.add_argument("--json", action="store_true", help="one JSON object (the default prints it indented)")
    p.add_argument("--record", action="store_true", help="keep the result in the checkpoint's metrics, as \"probe\"")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's own choice, every core)")
    args = p.parse_args(argv)
    if args.fit_lines < 1 or args.pick_lines < 1:
        p.error("--fit-lines and --pick-lines must be at least 1")
    model, config = open_checkpoint(args, "model.probe")
    if model.cfg.task != "ink":
        sys.exit(f"model.probe: {args.checkpoint} is a {model.cfg.task} checkpoint; the probe reads ink")
    try:
        result = probe_report(model, config, args.fit_lines, args.pick_lines)
    except InkError as e:
        sys.exit(f"model.probe: {e}")
    finish(args, {"checkpoint": str(args.checkpoint), **result}, "probe", prog="model.probe")


if __name__ == "__main__":
    main()
