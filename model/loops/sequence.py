"""A fused HM-LSTM: the whole sequence in one autograd node, with a hand-written backward.

The reference (`HMLSTMLayer.step`) records some 40 autograd nodes per layer and step; on a CPU
the bookkeeping, not the arithmetic, sets the speed. Here the forward runs without autograd and
writes what the backward needs into (T, ...) buffers; the backward walks time in reverse and,
since weight gradients are sums over time, leaves them to one large matrix product per weight
at the end.

Per layer and step the forward does one matrix product: the three sources of s_t^l
concatenated, u = [h_{t-1}^l, z_{t-1}^l h_{t-1}^{l+1}, z_t^{l-1} h_t^{l-1}], times the weights
stacked the same way. Layer 1's bottom-up term does not depend on the recurrence, so it is
computed for all t at once before the loop (`pre0`).

tests/model/test_loops.py holds every backend to the reference, forward and gradients.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from model.loops import select
from model.loops.contract import (ForwardBuffers, ForwardInputs, LayerParams, Layout, Loops, OutputGrads, StepWeights,
                                  flatten, unflatten)


class SequenceOutput(NamedTuple):
    h: torch.Tensor          # (T, B, N) every layer's h_t side by side
    z: torch.Tensor          # (T, B, L)
    z_soft: torch.Tensor
    z_line: torch.Tensor
    state: tuple             # (h, c, z) after the last step


def hmlstm_sequence(rnn, x: torch.Tensor, state, backend: str | None = None,
                    pre0: torch.Tensor | None = None) -> SequenceOutput:
    """The fused forward of `HMLSTM` over x (T, B, input) from state (h, c, z); `pre0`, layer 1's
    bottom-up term and bias when the caller has it (inference only: no gradient reaches it)."""
    layout = Layout.of(rnn.cfg)
    params = [LayerParams.of(layer) for layer in rnn.layers]
    flat = [p if p is not None else x.new_empty(0) for layer in params for p in layer]
    h0, c0, z0 = (s.to(x.dtype).contiguous() for s in state)
    slope = rnn.slope.reshape(1).to(x.dtype)
    # without gradients the buffers for the backward are not needed, nor the gates of COPY steps
    skip_copy = not (torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in flat)))
    loops = select(x.device, x.dtype, backend)
    if pre0 is not None and not skip_copy:
        raise ValueError("a given pre0 is for inference: gradients would not reach layer 1's bottom-up weights")
    W = _stacked_weights(rnn, params)
    # no gradient wanted: the loops alone, without an autograd node's bookkeeping (under autocast the node
    # runs them, in float32, as its custom_fwd asks)
    if skip_copy and not torch.is_autocast_enabled(x.device.type):
        buf, _ = _forward(loops, layout, W, pre0, x, h0, c0, z0, slope, flat, skip_copy)
        T = x.shape[0]
        # the final state copied out, as the node does: a view would keep every step's buffer alive with it
        return SequenceOutput(buf.H[1:], buf.Z[1:], buf.Zsoft, buf.Zline, (buf.H[T].clone(), buf.C[T].clone(),
                                                                            buf.Z[T].clone()))
    h, z, z_soft, z_line, hT, cT, zT = _HMLSTMSequence.apply(layout, loops, skip_copy, W, pre0, x, h0, c0, z0, slope,
                                                             *flat)
    return SequenceOutput(h, z, z_soft, z_line, (hT, cT, zT))


def _forward(loops: Loops, layout: Layout, W, given_pre0, x, h0, c0, z0, slope, flat, skip_copy: bool):
    """The loops' forward over x: their buffers, and the weights as they read them."""
    T, B, _ = x.shape
    params = _per_layer(flat)
    weights = StepWeights(W, [p.bias for p in params], [p.ln_weight for p in params], [p.ln_bias for p in params])
    # layer 1's bottom-up term (z^0 = 1) and bias, for every t at once
    pre0 = given_pre0
    if pre0 is None:
        pre0 = torch.addmm(params[0].bias, x.reshape(T * B, -1), params[0].bottom_up).view(T, B, -1)
    return loops.forward(layout, ForwardInputs(pre0, h0, c0, z0, weights, slope), skip_copy), weights


def _stacked_weights(rnn, params: list[LayerParams]) -> list[torch.Tensor]:
    """Per layer [U_l^l; U_{l+1}^l; W_{l-1}^l], the weights of u (layer 1 has no W here: see pre0).

    Kept until a parameter changes (its version counter moves), so that inference, one step
    at a time, does not copy every matrix on every call."""
    key = tuple((id(w), w._version, w.dtype, w.device) for p in params for w in p if w is not None)
    cached = getattr(rnn, "_stacked", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    with torch.no_grad():
        W = [torch.cat([p.recurrent] + ([p.top_down] if p.top_down is not None else [])
                       + ([p.bottom_up] if l > 0 else []), 0).contiguous() for l, p in enumerate(params)]
    rnn._stacked = (key, W)
    return W


def _per_layer(flat) -> list[LayerParams]:
    """The flat parameter list of the autograd node, back into one LayerParams per layer."""
    n = len(LayerParams._fields)
    return [LayerParams(*flat[k:k + n]) for k in range(0, len(flat), n)]


class _Saved(NamedTuple):
    """What the backward needs, saved flat by ctx.save_for_backward and read back by name."""
    x: torch.Tensor
    buffers: ForwardBuffers          # without Zline: nothing downstream of the loops needs it again
    weights: StepWeights
    slope: torch.Tensor
    params: list                     # LayerParams per layer


class _HMLSTMSequence(torch.autograd.Function):
    # Under CUDA autocast the recurrence stays in float32 (its buffers are written in place);
    # the output module and the head around it still run in bf16.

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)
    def forward(ctx, layout: Layout, loops: Loops, skip_copy: bool, W, given_pre0, x, h0, c0, z0, slope, *flat):
        T = x.shape[0]
        buf, weights = _forward(loops, layout, W, given_pre0, x, h0, c0, z0, slope, flat, skip_copy)
        tensors, ctx.spec = flatten(_Saved(x, buf._replace(Zline=None), weights, slope, _per_layer(flat)))
        ctx.save_for_backward(*tensors)
        ctx.layout, ctx.loops = layout, loops
        hT, cT, zT = buf.H[T].clone(), buf.C[T].clone(), buf.Z[T].clone()
        ctx.mark_non_differentiable(buf.Zsoft, hT, cT, zT)
        return buf.H[1:], buf.Z[1:], buf.Zsoft, buf.Zline, hT, cT, zT

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx, dH, dZ, _dz_soft, dZline, _dhT, _dcT, _dzT):
        layout = ctx.layout
        saved = unflatten(ctx.saved_tensors, ctx.spec)
        buf, params = saved.buffers, saved.params
        T, B, _ = saved.x.shape
        grads = OutputGrads(torch.zeros_like(buf.H[1:]) if dH is None else dH.contiguous(),
                            torch.zeros_like(buf.Z[1:]) if dZ is None else dZ.contiguous(),
                            torch.zeros_like(buf.Zsoft) if dZline is None else dZline.contiguous())
        res = ctx.loops.backward(layout, grads, buf, saved.weights, saved.slope)
        # weight gradients: sums over time, one matrix product each
        per_layer = []
        for l in range(layout.L):
            dS = res.dS[l].reshape(T * B, -1)
            dW = buf.U[l].reshape(T * B, -1).t() @ dS
            H, above = layout.sizes[l], layout.above[l]
            bottom_up = saved.x.reshape(T * B, -1).t() @ dS if l == 0 else dW[H + above:]
            per_layer.append(LayerParams(
                recurrent=dW[:H], top_down=dW[H:H + above] if above else None, bottom_up=bottom_up,
                bias=dS.sum(0), ln_weight=res.dLNw[l] if layout.ln else None,
                ln_bias=res.dLNb[l] if layout.ln else None))
        dx = None
        if ctx.needs_input_grad[5]:
            dx = (res.dS[0].reshape(T * B, -1) @ params[0].bottom_up.t()).view_as(saved.x)
        # forward's inputs: layout, loops, skip_copy, W, pre0, x, h0, c0, z0, slope, then the flat parameters
        grads_in = [None, None, None, None, None, dx, None, None, None, None,
                    *(g for layer in per_layer for g in layer)]
        return tuple(g if needed else None for g, needed in zip(grads_in, ctx.needs_input_grad))
