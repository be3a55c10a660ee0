"""The Hierarchical Multiscale LSTM (Chung, Ahn & Bengio, ICLR 2017), section 3.

Reads top to bottom like the paper: one config, the boundary detector, one
layer step written from the equations (the reference), the stack of layers
(which runs the fused whole-sequence kernel of `model.loops` by default), the
gated output module and the two heads (text softmax, ink mixture density).

Shapes: time-major, (T, B, features). A state is (h, c, z): h and c hold the
layers' vectors side by side (B, sum(H)), z the layers' last boundaries (B, L).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from model.loops.sequence import hmlstm_sequence
from model.typed import check_fields

LAYER_NORM_MODES = ("none", "gates", "all")


@dataclass
class HMLSTMConfig:
    task: str = "text"                     # "text" or "ink"
    vocab_size: int = 51                   # text: alphabet size (unknown symbol included)
    input_size: int = 128                  # text: embedding width; ink: 3 (dx, dy, end-of-stroke)
    hidden_sizes: list[int] = field(default_factory=lambda: [256, 256, 256])
    output_size: int = 256                 # width of h^e, the output module's embedding
    top_detector: bool = False             # boundary detector on layer L (off: L never flushes)
    layer_norm: str = "none"               # "none", "gates" (z row left out) or "all"
    nested: bool = False                   # z^l may fire only where z^{l-1} fired
    z_bias: float = 0.5                    # initial bias of the z~ row (keeps detectors alive)
    forget_bias: float = 1.0
    mixture_components: int = 20           # ink head: K bivariate Gaussians
    dropout: float = 0.0                   # on the text embedding and on h before the output module (training)
    arch: str = "hmlstm"                   # "lstm": a plain LSTM stack with the same output module and heads

    def __post_init__(self):
        check_fields(self)                     # a config read from JSON: each field of its own type
        if min(self.input_size, self.output_size, self.mixture_components) < 1 or self.vocab_size < (self.task == "text"):
            raise ValueError("input_size, output_size and mixture_components must be at least 1, and a text "
                             "model's vocab_size too")
        self.hidden_sizes = list(self.hidden_sizes)
        if self.task not in ("text", "ink"):
            raise ValueError(f"task must be 'text' or 'ink', not {self.task!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise ValueError("hidden_sizes needs at least one positive width")
        if self.arch not in ("hmlstm", "lstm"):
            raise ValueError(f"arch must be 'hmlstm' or 'lstm', not {self.arch!r}")
        if self.layer_norm not in LAYER_NORM_MODES:
            raise ValueError(f"layer_norm must be one of {LAYER_NORM_MODES}, not {self.layer_norm!r}")

    @property
    def num_layers(self) -> int:
        return len(self.hidden_sizes)

    def has_detector(self, l: int) -> bool:
        return self.arch == "hmlstm" and (l < self.num_layers - 1 or self.top_detector)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "HMLSTMConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


# --- the boundary detector ----------------------------------------------------------

def straight_through_boundary(z_soft: torch.Tensor) -> torch.Tensor:
    """z = 1[z~ > 0.5] forward, dz/dz~ = 1 backward (straight-through estimator)."""
    hard = (z_soft > 0.5).to(z_soft.dtype)
    return z_soft + (hard - z_soft).detach()


# --- one layer -----------------------------------------------------------------------

class HMLSTMLayer(nn.Module):
    """The parameters of layer l: U_l^l (recurrent), U_{l+1}^l (top-down), W_{l-1}^l (bottom-up)."""

    def __init__(self, cfg: HMLSTMConfig, l: int):
        super().__init__()
        H = cfg.hidden_sizes[l]
        below = cfg.input_size if l == 0 else cfg.hidden_sizes[l - 1]
        self.hidden = H
        self.has_z = cfg.has_detector(l)
        self.has_top_down = l < cfg.num_layers - 1
        self.rows = 4 * H + int(self.has_z)              # [f, i, o, g, z~]
        self.recurrent = nn.Parameter(torch.empty(H, self.rows))
        self.top_down = (nn.Parameter(torch.empty(cfg.hidden_sizes[l + 1], self.rows))
                         if self.has_top_down else None)
        self.bottom_up = nn.Parameter(torch.empty(below, self.rows))
        self.bias = nn.Parameter(torch.zeros(self.rows))
        self.ln_mode = cfg.layer_norm
        ln_width = {"none": 0, "gates": 4 * H, "all": self.rows}[cfg.layer_norm]
        self.ln_weight = nn.Parameter(torch.ones(ln_width)) if ln_width else None
        self.ln_bias = nn.Parameter(torch.zeros(ln_width)) if ln_width else None
        self.reset_parameters(cfg)

    def reset_parameters(self, cfg: HMLSTMConfig):
        for w in (self.recurrent, self.top_down, self.bottom_up):
            if w is not None:
                bound = 1.0 / math.sqrt(w.shape[0])
                nn.init.uniform_(w, -bound, bound)
        H = self.hidden
        with torch.no_grad():
            self.bias.zero_()
            self.bias[:H] = cfg.forget_bias
            if self.has_z:
                self.bias[4 * H] = cfg.z_bias
            if self.ln_bias is not None:
                self.ln_bias.zero_()
                self.ln_bias[:H] = cfg.forget_bias
                if self.ln_mode == "all" and self.has_z:
                    self.ln_bias[4 * H] = cfg.z_bias

    def step(self, h_prev, c_prev, z_prev, h_above, h_below, z_below, slope, nested=False):
        """One step of layer l, written from the equations; autograd does the rest.

        z_prev (B, 1) is z_{t-1}^l (zeros for a layer that never flushes), z_below (B, 1)
        is z_t^{l-1} (ones for layer 1). Returns h_t, c_t, z_t, z~_t and the unclamped line
        (a*s + 1)/2 that z~ clips (the last three None for a layer without detector).
        """
        H = self.hidden
        # s_t^l = U_l^l h_{t-1}^l + z_{t-1}^l U_{l+1}^l h_{t-1}^{l+1} + z_t^{l-1} W_{l-1}^l h_t^{l-1} + b^l
        s = h_prev @ self.recurrent + z_below * (h_below @ self.bottom_up) + self.bias
        if self.has_top_down:
            s = s + z_prev * (h_above @ self.top_down)
        if self.ln_mode == "gates":
            s = torch.cat([F.layer_norm(s[:, :4 * H], (4 * H,), self.ln_weight, self.ln_bias),
                           s[:, 4 * H:]], dim=1)
        elif self.ln_mode == "all":
            s = F.layer_norm(s, (self.rows,), self.ln_weight, self.ln_bias)
        f, i, o = torch.sigmoid(s[:, :3 * H]).chunk(3, dim=1)
        g = torch.tanh(s[:, 3 * H:4 * H])
        z, z_soft, z_line = None, None, None
        if self.has_z:
            z_line = (slope * s[:, 4 * H:] + 1.0) * 0.5
            z_soft = z_line.clamp(0.0, 1.0)                   # hardsigm_a(s) = max(0, min(1, (a*s + 1)/2))
            z = straight_through_boundary(z_soft)
            if nested:
                z = z * z_below
        # FLUSH, UPDATE and COPY as one product, so the gradient reaches z_{t-1} and z_t^{l-1}
        flush = z_prev
        update = (1 - z_prev) * z_below
        copy = (1 - z_prev) * (1 - z_below)
        c = flush * (i * g) + update * (f * c_prev + i * g) + copy * c_prev
        h = (flush + update) * (o * torch.tanh(c)) + copy * h_prev
        return h, c, z, z_soft, z_line


# --- the stack --------------------------------------------------------------------

class HMLSTM(nn.Module):
    def __init__(self, cfg: HMLSTMConfig):
        super().__init__()
        self.cfg = cfg
        self.layers = nn.ModuleList(HMLSTMLayer(cfg, l) for l in range(cfg.num_layers))
        # slope a of the hard sigmoid: annealed by the trainer, saved with the weights, not learnt
        self.register_buffer("slope", torch.tensor(1.0))

    def initial_state(self, batch: int, device=None, dtype=torch.float32):
        n, L = sum(self.cfg.hidden_sizes), self.cfg.num_layers
        zeros = lambda w: torch.zeros(batch, w, device=device, dtype=dtype)  # noqa: E731
        return zeros(n), zeros(n), zeros(L)

    def forward(self, x, state=None, backend: str | None = None, pre0: torch.Tensor | None = None):
        """Run the layers over x (T, B, input_size).

        pre0: layer 1's bottom-up term and bias, W_0^1 x_t + b^1, when the caller has it already (a
        table lookup for text at inference; see `HMLSTMModel.layer1_table`).

        backend: None (HMLSTM_LOOPS, by default "auto": the fused kernel with the C++ loops on the CPU
        where they build, Triton on a GPU), "auto", "cpp", "triton", "python" (the fused kernel's
        Python loops) or "reference" (`HMLSTMLayer.step` under autograd).

        Returns (h, z, z_soft, z_line, state): h (T, B, sum(H)) every layer's h_t side by
        side; z, z_soft and z_line (T, B, L), column l 0 for a layer without detector (z_line
        is the unclamped (a*s + 1)/2, whose gradient survives a saturated detector); and the
        final state (h, c, z), detached (truncated BPTT carries it, gradients stop there).
        """
        if state is None:
            state = self.initial_state(x.shape[1], x.device, x.dtype)
        state = tuple(s.detach() for s in state)
        if backend == "reference":
            return self.forward_reference(x, state)
        out = hmlstm_sequence(self, x, state, backend, pre0)
        return out.h, out.z, out.z_soft, out.z_line, out.state

    def forward_reference(self, x, state):
        """Step by step through the layers with `HMLSTMLayer.step` (slow, plainly correct)."""
        cfg, slope = self.cfg, float(self.slope)
        sizes = cfg.hidden_sizes
        offsets = [sum(sizes[:l]) for l in range(cfg.num_layers)]
        h0, c0, z0 = state
        h = [h0[:, o:o + n] for o, n in zip(offsets, sizes)]
        c = [c0[:, o:o + n] for o, n in zip(offsets, sizes)]
        # a layer without detector never flushes, whatever the state says
        z = [z0[:, l:l + 1] if cfg.has_detector(l) else torch.zeros_like(z0[:, l:l + 1])
             for l in range(cfg.num_layers)]
        ones = x.new_ones(x.shape[1], 1)
        hs, zs, zsofts, zlines = [], [], [], []
        for x_t in x:
            h_below, z_below = x_t, ones                       # z_t^0 = 1
            z_row, soft_row, line_row = [], [], []
            new_h = []
            for l, layer in enumerate(self.layers):
                h_above = h[l + 1] if l + 1 < cfg.num_layers else None
                h_t, c_t, z_t, soft_t, line_t = layer.step(h[l], c[l], z[l], h_above, h_below, z_below,
                                                           slope, nested=cfg.nested)
                if z_t is None:                                # layer L without detector
                    z_t = soft_t = line_t = torch.zeros_like(z_below)
                new_h.append(h_t)
                c[l], z[l] = c_t, z_t
                z_row.append(z_t)
                soft_row.append(soft_t)
                line_row.append(line_t)
                h_below, z_below = h_t, z_t
            h = new_h
            hs.append(torch.cat(h, 1))
            zs.append(torch.cat(z_row, 1))
            zsofts.append(torch.cat(soft_row, 1).detach())
            zlines.append(torch.cat(line_row, 1))
        H, Z = torch.stack(hs), torch.stack(zs)
        final = (H[-1].detach(), torch.cat(c, 1).detach(), Z[-1].detach())
        return H, Z, torch.stack(zsofts), torch.stack(zlines), final


class LSTMStack(nn.Module):
    """The baseline: plain LSTM layers (torch's, one per layer so that every layer's h reaches the
    output module), with the HM-LSTM's interface: no detector, every step an UPDATE, z all zero."""

    def __init__(self, cfg: HMLSTMConfig):
        super().__init__()
        self.cfg = cfg
        sizes = [cfg.input_size] + cfg.hidden_sizes
        self.layers = nn.ModuleList(nn.LSTM(sizes[l], sizes[l + 1]) for l in range(cfg.num_layers))
        self.register_buffer("slope", torch.tensor(1.0))          # unused; the trainer sets it for either

    def initial_state(self, batch: int, device=None, dtype=torch.float32):
        n, L = sum(self.cfg.hidden_sizes), self.cfg.num_layers
        zeros = lambda w: torch.zeros(batch, w, device=device, dtype=dtype)  # noqa: E731
        return zeros(n), zeros(n), zeros(L)

    def forward(self, x, state=None, backend: str | None = None, pre0=None):
        if state is None:
            state = self.initial_state(x.shape[1], x.device, x.dtype)
        h0, c0, _ = (s.detach() for s in state)
        outs, hs, cs, at = [], [], [], 0
        for layer in self.layers:
            n = layer.hidden_size
            x, (h, c) = layer(x, (h0[None, :, at:at + n].contiguous(), c0[None, :, at:at + n].contiguous()))
            outs.append(x)
            hs.append(h[0])
            cs.append(c[0])
            at += n
        h = torch.cat(outs, -1)
        z = h.new_zeros(*h.shape[:2], self.cfg.num_layers)
        return h, z, z, z, (torch.cat(hs, -1).detach(), torch.cat(cs, -1).detach(), z[-1].detach())


# --- the output module and the heads ----------------------------------------------

class OutputModule(nn.Module):
    """h_t^e = ReLU( sum_l g_t^l W_l^e h_t^l ),  g_t^l = sigm( w^l . [h_t^1; ...; h_t^L] )."""

    def __init__(self, cfg: HMLSTMConfig):
        super().__init__()
        total = sum(cfg.hidden_sizes)
        self.sizes = list(cfg.hidden_sizes)
        self.gate = nn.Linear(total, cfg.num_layers)
        self.embed = nn.Linear(total, cfg.output_size, bias=False)   # [W_1^e ... W_L^e]

    def forward(self, h):
        g = torch.sigmoid(self.gate(h))                             # (T, B, L)
        # g^l h^l per layer (a repeat_interleave of g took five times as long at 1,000 x 1,536)
        scaled = torch.cat([hl * g[..., l:l + 1] for l, hl in enumerate(h.split(self.sizes, -1))], -1)
        return F.relu(self.embed(scaled)), g                        # sum_l W_l^e (g^l h^l)


class HMLSTMModel(nn.Module):
    """Input layer, HM-LSTM stack, output module and the task's head."""

    def __init__(self, cfg: HMLSTMConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.task == "text":
            self.embedding = nn.Embedding(cfg.vocab_size, cfg.input_size)
        self.rnn = LSTMStack(cfg) if cfg.arch == "lstm" else HMLSTM(cfg)
        # dropout outside the recurrence: its time loops stay exact and fused
        self.dropout = nn.Dropout(cfg.dropout)
        self.output = OutputModule(cfg)
        if cfg.task == "text":
            self.head = nn.Linear(cfg.output_size, cfg.vocab_size)
        else:
            from model.ink import MixtureDensityHead
            self.head = MixtureDensityHead(cfg.output_size, cfg.mixture_components)

    def forward(self, inputs, state=None, backend: str | None = None):
        """inputs: (T, B) symbol ids for text, (T, B, 3) pen offsets for ink.

        Returns a dict: `out` (logits, or mixture parameters), `h`, `z`, `z_soft`, `z_line`,
        `gate`, `state`.
        """
        x = self.dropout(self.embedding(inputs)) if self.cfg.task == "text" else inputs
        pre0 = None
        if self.cfg.task == "text" and self.cfg.arch == "hmlstm" and backend != "reference" and \
                not torch.is_grad_enabled() and \
                not (self.training and self.cfg.dropout):
            pre0 = self.layer1_table()[inputs]         # a gather instead of a product per character
        h, z, z_soft, z_line, state = self.rnn(x, state, backend=backend, pre0=pre0)
        h_e, gate = self.output(self.dropout(h))
        return {"out": self.head(h_e), "h": h, "z": z, "z_soft": z_soft, "z_line": z_line,
                "gate": gate, "state": state}

    def layer1_table(self) -> torch.Tensor:
        """W_0^1 E + b^1 for every symbol (vocabulary x rows): layer 1's bottom-up term, which depends
        on the character alone. Kept until a parameter changes (DESIGN.md section 11)."""
        layer = self.rnn.layers[0]
        tensors = (self.embedding.weight, layer.bottom_up, layer.bias)
        key = tuple((id(t), t._version, t.dtype, t.device) for t in tensors)
        cached = getattr(self, "_layer1_table", None)
        if cached is None or cached[0] != key:
            with torch.no_grad():
                cached = (key, torch.addmm(layer.bias, self.embedding.weight, layer.bottom_up))
            self._layer1_table = cached
        return cached[1]

    def set_slope(self, a: float):
        self.rnn.slope.fill_(float(a))


def slope_schedule(epoch: float, rate: float = 0.04, start: float = 1.0, cap: float = 5.0,
                   delay: float = 0.0) -> float:
    """a = min(cap, start + rate * epoch); the paper's PTB schedule is rate 0.04, cap 5."""
    return min(cap, start + rate * max(0.0, epoch - delay))
