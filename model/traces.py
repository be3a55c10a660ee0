"""Traces (DESIGN.md section 4): what one run of a checkpoint over one input shows.

`run_traces` is the one place that turns a model run into per-position, per-layer
boundary and gate/norm traces; the server, the evaluation and the study all call it.
It reads a single sequence in chunks with the state carried, so memory stays bounded
however long the input, and it can start from a saved state (the server's prefix cache).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

LOG2E = 1.0 / np.log(2.0)


@dataclass
class Trace:
    """Per position t (rows) and layer l (columns)."""
    z: np.ndarray            # (T, L) 0/1, the boundary after position t
    z_soft: np.ndarray       # (T, L) z~ before the 0.5 threshold
    op: np.ndarray           # (T, L) "U", "C" or "F": the operation that produced step t
    h_norm: np.ndarray       # (T, L) ||h_t^l||
    gate: np.ndarray         # (T, L) g_t^l of the output module
    loss: np.ndarray         # (T,) text: surprisal in bits (NaN where unknown); ink: NLL in nats
    entropy: np.ndarray      # (T,) text: bits of p(. | x_<=t), the prediction made after t; ink: NaN
    state: tuple             # (h, c, z) after the last position, batch 1
    next_out: torch.Tensor   # the head's output at the last position (predicts position T)

    def __len__(self):
        return self.z.shape[0]

    def since(self, t: int) -> "Trace":
        """Positions t onwards (the state and prediction after the last stay)."""
        if t == 0:
            return self
        return Trace(self.z[t:], self.z_soft[t:], self.op[t:], self.h_norm[t:], self.gate[t:], self.loss[t:],
                     self.entropy[t:], self.state, self.next_out)

    @staticmethod
    def concat(a: "Trace", b: "Trace") -> "Trace":
        cat = lambda x, y: np.concatenate([x, y])  # noqa: E731
        return Trace(cat(a.z, b.z), cat(a.z_soft, b.z_soft), cat(a.op, b.op), cat(a.h_norm, b.h_norm),
                     cat(a.gate, b.gate), cat(a.loss, b.loss), cat(a.entropy, b.entropy), b.state, b.next_out)


def operations(z_prev_own: np.ndarray, z: np.ndarray, has_z: list[bool]) -> np.ndarray:
    """op_t^l: FLUSH if z_{t-1}^l = 1, UPDATE if z_t^{l-1} = 1 (z^0 = 1), COPY otherwise."""
    T, L = z.shape
    z_prev = np.concatenate([z_prev_own[None, :], z[:-1]], 0)
    below = np.concatenate([np.ones((T, 1)), z[:, :-1]], 1)
    op = np.where(below > 0.5, "U", "C").astype("<U1")
    flush = (z_prev > 0.5) & np.array(has_z)[None, :]
    op[flush] = "F"
    return op


@torch.no_grad()
def run_traces(model, inputs: torch.Tensor, state=None, prev_out: torch.Tensor | None = None,
               chunk: int = 1024) -> Trace:
    """Run `model` over one sequence: ids (T,) for text, offsets (T, 3) for ink.

    state / prev_out continue from an earlier run (e.g. a cached prefix): prev_out is that
    run's `next_out`, which scores the first position here. Without it the first position
    has no score (NaN).
    """
    cfg = model.cfg
    L = cfg.num_layers
    has_z = [cfg.has_detector(l) for l in range(L)]
    sizes = torch.tensor(cfg.hidden_sizes)
    if state is None:
        state = model.rnn.initial_state(1)
    z_start = state[2][0].numpy().copy()
    zs, softs, norms, gates, losses, entropies = [], [], [], [], [], []
    for a in range(0, inputs.shape[0], chunk):
        piece = inputs[a:a + chunk]
        out = model(piece.unsqueeze(1), state)
        state = out["state"]
        h = out["h"][:, 0]                                          # (n, sum H)
        norms.append(torch.stack([v.norm(dim=-1) for v in h.split(sizes.tolist(), -1)], -1))
        zs.append(out["z"][:, 0])
        softs.append(out["z_soft"][:, 0])
        gates.append(out["gate"][:, 0])
        preds = out["out"][:, 0]                                    # predicts positions a+1 .. a+n
        scored = torch.cat([prev_out[None], preds[:-1]]) if prev_out is not None else preds[:-1]
        targets = piece if prev_out is not None else piece[1:]
        losses.append(_position_loss(model, scored, targets, leading_nan=prev_out is None))
        entropies.append(_entropy_bits(model, preds))
        prev_out = preds[-1].clone()            # not a view: a cached trace would keep the whole chunk's output
    if not zs:                                   # nothing to read (a spaceless model given only spaces)
        return Trace(z=np.zeros((0, L), np.float32), z_soft=np.zeros((0, L), np.float32), op=np.zeros((0, L), "<U1"),
                     h_norm=np.zeros((0, L), np.float32), gate=np.zeros((0, L), np.float32), loss=np.zeros(0),
                     entropy=np.zeros(0), state=state, next_out=prev_out)
    z = torch.cat(zs).numpy()
    op = operations(z_start, z, has_z) if cfg.arch == "hmlstm" else np.full(z.shape, "U")  # an LSTM always updates
    return Trace(z=z, z_soft=torch.cat(softs).numpy(), op=op,
                 h_norm=torch.cat(norms).numpy(), gate=torch.cat(gates).numpy(),
                 loss=np.concatenate(losses), entropy=np.concatenate(entropies), state=state, next_out=prev_out)


def _position_loss(model, scored, targets, leading_nan: bool) -> np.ndarray:
    if model.cfg.task == "text":
        logp = F.log_softmax(scored.float(), -1)
        loss = (-logp.gather(-1, targets[:, None])[:, 0] * LOG2E).numpy()
    else:
        loss = model.head.nll(scored, targets).numpy()
    return np.concatenate([[np.nan], loss]) if leading_nan else loss


def _entropy_bits(model, preds) -> np.ndarray:
    if model.cfg.task != "text":
        return np.full(preds.shape[0], np.nan)
    logp = F.log_softmax(preds.float(), -1)
    return (-(logp.exp() * logp).sum(-1) * LOG2E).numpy()


def layers_json(trace: Trace, cfg) -> list[dict]:
    """The `layers` list of the HTTP responses: z and z_soft null for a layer without detector."""
    out = []
    for l in range(cfg.num_layers):
        has = cfg.has_detector(l)
        out.append({
            "layer": l + 1,
            "z": trace.z[:, l].astype(int).tolist() if has else None,
            "z_soft": _rounded(trace.z_soft[:, l]) if has else None,
            "op": trace.op[:, l].tolist(),
            "h_norm": _rounded(trace.h_norm[:, l]),
            "gate": _rounded(trace.gate[:, l]),
        })
    return out


def _rounded(a: np.ndarray, digits: int = 5) -> list:
    return np.round(a.astype(np.float64), digits).tolist()


def finite_or_none(a: np.ndarray, digits: int = 5) -> list:
    """Rounded values, with None (JSON null) where a value is NaN or infinite."""
    a = np.round(a.astype(np.float64), digits)
    return [v if v - v == 0 else None for v in a.tolist()]          # v - v is NaN for NaN and inf
