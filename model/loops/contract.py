"""What every loop backend shares: the layout of the stack, and the named tensors that go in and out.

A backend is a pair of functions over these (see `Loops`):

    forward(layout, inputs: ForwardInputs, skip_copy) -> ForwardBuffers
    backward(layout, grads: OutputGrads, saved: ForwardBuffers, weights: StepWeights, slope) -> BackwardResult

The C++ and Triton code read the same names: the C++ functions take these fields as keyword
arguments and return a struct with the ForwardBuffers field names (`model/loops/cpp.py` converts by
name, nothing by position), and the Triton kernels take the Layout's fields.

Shapes: T steps, B rows, L layers, N = sum of widths; a state holds the layers side by side.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import torch

LN_CODES = {"none": 0, "gates": 1, "all": 2}


@dataclass(frozen=True)
class Layout:
    """Static facts about the stack. Hashable: a CUDA graph is recorded per layout and shape."""
    sizes: tuple[int, ...]          # H per layer
    has_z: tuple[bool, ...]         # whether layer l has a boundary detector
    ln: int                         # layer norm: 0 none, 1 over the gates (4H rows), 2 over all rows
    nested: bool = False            # z^l may fire only where z^{l-1} fired

    @classmethod
    def of(cls, cfg) -> "Layout":
        return cls(tuple(cfg.hidden_sizes), tuple(cfg.has_detector(l) for l in range(cfg.num_layers)),
                   LN_CODES[cfg.layer_norm], bool(cfg.nested))

    @property
    def L(self) -> int:
        return len(self.sizes)

    @cached_property
    def offsets(self) -> tuple[int, ...]:
        """Where each layer's columns start in a side-by-side state."""
        return tuple(sum(self.sizes[:l]) for l in range(self.L))

    @property
    def total(self) -> int:
        return sum(self.sizes)

    @cached_property
    def rows(self) -> tuple[int, ...]:
        """Rows of s per layer: [f, i, o, g] and the z~ row where there is a detector."""
        return tuple(4 * h + int(z) for h, z in zip(self.sizes, self.has_z))

    @cached_property
    def above(self) -> tuple[int, ...]:
        """Width of the layer above (0 for the top layer): the top-down part of u."""
        return tuple(self.sizes[l + 1] if l + 1 < self.L else 0 for l in range(self.L))

    @cached_property
    def below(self) -> tuple[int, ...]:
        """Width of the layer below (0 for layer 1, whose bottom-up term is `pre0`)."""
        return tuple(self.sizes[l - 1] if l > 0 else 0 for l in range(self.L))

    @cached_property
    def in_widths(self) -> tuple[int, ...]:
        """Width of u = [h_{t-1}^l, z_{t-1}^l h_{t-1}^{l+1}, z_t^{l-1} h_t^{l-1}] per layer."""
        return tuple(h + a + b for h, a, b in zip(self.sizes, self.above, self.below))

    @cached_property
    def ln_widths(self) -> tuple[int, ...]:
        """How many rows of s the layer norm covers, per layer."""
        return tuple((0, 4 * h, r)[self.ln] for h, r in zip(self.sizes, self.rows))

    def part(self, state: torch.Tensor, l: int) -> torch.Tensor:
        """Layer l's columns of a side-by-side state (..., N)."""
        o = self.offsets[l]
        return state[..., o:o + self.sizes[l]]


class LayerParams(NamedTuple):
    """One layer's parameters (`HMLSTMLayer`); None where the layer has no such tensor."""
    recurrent: torch.Tensor          # U_l^l (H, rows)
    top_down: torch.Tensor | None    # U_{l+1}^l (H above, rows); none for the top layer
    bottom_up: torch.Tensor          # W_{l-1}^l (H below or input, rows)
    bias: torch.Tensor
    ln_weight: torch.Tensor | None
    ln_bias: torch.Tensor | None

    @classmethod
    def of(cls, layer) -> "LayerParams":
        return cls(layer.recurrent, layer.top_down, layer.bottom_up, layer.bias, layer.ln_weight, layer.ln_bias)


class StepWeights(NamedTuple):
    """What the loops multiply and normalise with, per layer (lists of L tensors)."""
    W: list        # [U_l^l; U_{l+1}^l; W_{l-1}^l] stacked as u is (layer 1 without W: see pre0)
    bias: list
    ln_w: list     # empty tensors where there is no layer norm
    ln_b: list


class ForwardInputs(NamedTuple):
    pre0: torch.Tensor       # (T, B, rows_1): layer 1's bottom-up term and bias, for every t at once
    h0: torch.Tensor         # (B, N) the state before step 0
    c0: torch.Tensor         # (B, N)
    z0: torch.Tensor         # (B, L)
    weights: StepWeights
    slope: torch.Tensor      # (1,) the hard sigmoid's slope a (a tensor: a CUDA graph would freeze a number)


class ForwardBuffers(NamedTuple):
    """What a forward loop writes and its backward reads. States at times 0..T (the initial one
    first); per layer (lists of L): u, s, the gate activations, tanh(c), and the layer norm's
    mean and 1/std."""
    H: torch.Tensor          # (T+1, B, N)
    C: torch.Tensor          # (T+1, B, N)
    Z: torch.Tensor          # (T+1, B, L)
    Zsoft: torch.Tensor      # (T, B, L) z~
    Zline: torch.Tensor      # (T, B, L) the unclamped line (a*s + 1)/2
    U: list                  # (T, B, in_width)
    S: list                  # (T, B, rows)
    A: list                  # (T, B, 4H) f, i, o (sigmoid), g (tanh)
    TC: list                 # (T, B, H) tanh(c_t)
    Mean: list               # (T, B)
    Rstd: list               # (T, B)


class OutputGrads(NamedTuple):
    """The gradients arriving from outside the loops, per step."""
    dH: torch.Tensor         # (T, B, N)
    dZ: torch.Tensor         # (T, B, L)
    dZline: torch.Tensor     # (T, B, L)


class BackwardResult(NamedTuple):
    dS: list                 # per layer (T, B, rows): the gradient of s, from which the weights' follow
    dLNw: list               # per layer (ln width,)
    dLNb: list


class Loops(NamedTuple):
    """A backend: its name and its two loop functions."""
    name: str
    forward: object
    backward: object


def new_forward_buffers(layout: Layout, inputs: ForwardInputs) -> ForwardBuffers:
    """The buffers a forward loop fills, with the initial state in place."""
    T, B, _ = inputs.pre0.shape
    new = inputs.pre0.new_empty
    H, C, Z = new(T + 1, B, layout.total), new(T + 1, B, layout.total), new(T + 1, B, layout.L)
    H[0], C[0], Z[0] = inputs.h0, inputs.c0, inputs.z0
    for l in range(layout.L):
        if not layout.has_z[l]:
            Z[0, :, l] = 0.0                                 # a layer without detector never flushes
    per_layer = lambda width: [new(T, B, *width(l)) for l in range(layout.L)]  # noqa: E731
    return ForwardBuffers(
        H, C, Z, inputs.pre0.new_zeros(T, B, layout.L), inputs.pre0.new_zeros(T, B, layout.L),
        U=per_layer(lambda l: (layout.in_widths[l],)), S=per_layer(lambda l: (layout.rows[l],)),
        A=per_layer(lambda l: (4 * layout.sizes[l],)), TC=per_layer(lambda l: (layout.sizes[l],)),
        Mean=per_layer(lambda l: ()), Rstd=per_layer(lambda l: ()))


def flatten(tree) -> tuple[list, object]:
    """The tensors of a NamedTuple of tensors, lists or tuples of them and Nones, in order, and what
    `unflatten` needs to rebuild it (autograd saves flat tensors; the loops read them by name).
    Plain recursive functions, no closures: a recursive closure is a reference cycle, and this one
    would keep every saved buffer alive until the garbage collector ran."""
    leaves: list = []
    return leaves, _spec_of(tree, leaves)


def _spec_of(node, leaves: list):
    if isinstance(node, (list, tuple)):
        kind = type(node) if (hasattr(node, "_fields") or type(node) in (list, tuple)) else tuple
        return kind, [_spec_of(v, leaves) for v in node]
    if node is None:
        return None
    leaves.append(node)
    return "tensor"


def unflatten(leaves, spec):
    return _build(spec, iter(leaves))


def _build(spec, leaves):
    if spec is None:
        return None
    if spec == "tensor":
        return next(leaves)
    kind, children = spec
    values = [_build(c, leaves) for c in children]
    return kind(values) if kind in (list, tuple) else kind(*values)
