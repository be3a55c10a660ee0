"""Priors on the boundary detectors, beside the paper's objective (none uses a gold boundary).

- the collapse guard (`band_penalty`): a loss, zero while a detector's rate is inside its band;
- the rate prior (`steer_rates`): after each update, a detector's threshold moves toward a target rate;
- H-Net's ratio loss (`ratio_loss`, Hwang, Wang & Gu 2025): toward a target downsampling factor N;
- the entropy guide (`entropy_guide_loss`): z~ pushed toward firing where the model's own
  uncertainty about the next input (the next character's entropy; for ink, a bound on the next
  point's) is among the highest of the batch, as entropy patching cuts.

The losses reach a detector through the unclamped line (a*s + 1)/2, whose gradient survives a
saturated detector (the hard sigmoid passes none there).
"""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F

from model.hmlstm import HMLSTMConfig, HMLSTMModel


def detectors(cfg: HMLSTMConfig) -> list[int]:
    return [l for l in range(cfg.num_layers) if cfg.has_detector(l)]


def detector_rates(out: dict, cfg: HMLSTMConfig) -> list[torch.Tensor]:
    """Each detector's firing rate in this batch, for the band guard.

    Its value is the rate of the hard z, the rate that is measured and shown (the rate of z~
    counts z~ just under 0.5 as half a firing).
    Its gradient goes through the unclamped line (a*s + 1)/2, so it still reaches a detector
    saturated at 0 or 1, where the paper's estimator passes nothing and a collapsed layer could
    never come back.
    """
    rates = []
    for l in range(cfg.num_layers):
        if cfg.has_detector(l):
            line = out["z_line"][..., l].mean()
            rates.append(line + (out["z"][..., l].mean() - line).detach())
    return rates


def band_penalty(rates, bands, weight: float) -> torch.Tensor:
    """The guard: weight x each rate's distance from its band [lo, hi], zero inside it."""
    return weight * sum(torch.relu(r - hi) + torch.relu(lo - r)
                        for r, (lo, hi) in zip(rates, bands, strict=True))


@torch.no_grad()
def steer_rates(out: dict, model: HMLSTMModel, targets, gain: float, world: int = 1) -> None:
    """The rate prior: after each update, move each detector's threshold toward its target rate.

    The threshold is the z row's bias (its shift after layer norm where the z row is
    normalised); it moves by gain x (rate - target), a gradient step on (rate - target)^2 / 2
    taken outside Adam, whose per-parameter normalisation caps a bias at lr per update. The
    language model alone still decides which steps clear the threshold. Two losses were tried
    first: sent through the whole line (a*s + 1)/2, hinge or square, the pull reached every
    weight feeding the z row and the model stopped learning (valid 3.8-4.3 BPC against 1.84 in
    the study's budget); restricted to the bias, Adam moved it too slowly to matter.
    """
    cfg = model.cfg
    detectors = [l for l in range(cfg.num_layers) if cfg.has_detector(l)]
    rates = out["z"][..., detectors].float().mean(dim=tuple(range(out["z"].dim() - 1)))
    if world > 1:
        dist.all_reduce(rates)
        rates /= world
    for l, rate, target in zip(detectors, rates.tolist(), targets, strict=True):
        if target is not None:
            layer = model.rnn.layers[l]
            shift = layer.ln_bias if cfg.layer_norm == "all" else layer.bias
            shift[-1] -= gain * (rate - target)


def ratio_loss(out: dict, cfg: HMLSTMConfig, targets) -> torch.Tensor:
    """H-Net's ratio loss per detector with a target N: N/(N-1) ((N-1) F G + (1-F)(1-G)), F the share
    of positions that fire (no gradient), G the mean z~ (its gradient through the line); minimal at
    F = G = 1/N. The mean over the detectors that have a target."""
    terms = []
    for l, n in zip(detectors(cfg), targets, strict=True):
        if n is None:
            continue
        fired = out["z"][..., l].float().mean().detach()
        line = out["z_line"][..., l].float().mean()
        g = line + (out["z_soft"][..., l].float().mean() - line).detach()
        terms.append(n / (n - 1) * ((n - 1) * fired * g + (1 - fired) * (1 - g)))
    return torch.stack(terms).mean()


def next_char_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Bits of p(. | x_<=t) at every position, from the text head's logits (T, B, V); no gradient."""
    logp = F.log_softmax(logits.detach().float(), -1)
    return -(logp.exp() * logp).sum(-1) / 0.6931471805599453


def entropy_guide_loss(out: dict, cfg: HMLSTMConfig, entropy: torch.Tensor, rates, lag: int = 0,
                       margin: float = 0.25) -> torch.Tensor:
    """Per detector with a target rate r: a hinge on the line toward firing (line > 0.5 + margin) at
    the r of this batch's positions where `entropy` (T, B: the model's own uncertainty about the next
    input, no gradient; the task's `uncertainty`) is highest, and toward not firing (line < 0.5 -
    margin) elsewhere. The target is the model's, never gold.

    lag 0: z_t is pulled toward the entropy after t (a boundary after t, known before x_{t+1} is
    read); lag 1: z_{t+1} is (the detector may read x_{t+1} first, and is read at lag 1)."""
    terms = []
    for l, rate in zip(detectors(cfg), rates, strict=True):
        if rate is None:
            continue
        cut = torch.quantile(entropy.reshape(-1)[:65536], 1 - rate)
        sign = (entropy > cut).float() * 2 - 1                          # +1: should fire, -1: should not
        line = out["z_line"][..., l].float()
        if lag:
            sign, line = sign[:-lag], line[lag:]
        terms.append(F.relu(margin - sign * (line - 0.5)).mean())
    return torch.stack(terms).mean()
