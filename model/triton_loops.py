"""The fused HM-LSTM's time loops for CUDA: Triton kernels for the per-step work, CUDA graphs around them.

The Python loops launch some 35 small kernels per layer and step forward and 60 backward; on a GPU
each launch costs more than its arithmetic. Here a layer-step is three launches: `_gather_u`
builds u = [h_{t-1}^l, z_{t-1}^l h_{t-1}^{l+1}, z_t^{l-1} h_t^{l-1}], one matrix product gives s,
and `_cell_forward` does the rest of the step for one batch row per program (layer norm, gates,
z, c, h). Backward, `_cell_backward` undoes the cell and `_scatter_du` spreads du = ds W^T over
the states it came from. `GraphedLoop` records a whole loop as one CUDA graph, so a training step
launches two graphs instead of some two thousand kernels.

Same interface and buffers as `fused.python_forward` / `python_backward`; tests/test_triton_loops.py
holds them to the Python loops (on the CPU through Triton's interpreter, TRITON_INTERPRET=1).
"""
from __future__ import annotations

import logging
import os
from typing import NamedTuple

import torch
import triton
import triton.language as tl

from model.fused import Layout, forward_buffers

log = logging.getLogger(__name__)


@triton.jit
def _sigmoid(x):
    return 1.0 / (1.0 + tl.exp(-x))


@triton.jit
def _tanh(x):
    return 2.0 * _sigmoid(2.0 * x) - 1.0


@triton.jit
def _gather_u(U, Hprev, Hnow, Zprev, Znow, off, H, off_above, H_above, off_below, H_below, l, L, Htot, Ku,
              HAS_ABOVE: tl.constexpr, HAS_BELOW: tl.constexpr, BLOCK: tl.constexpr):
    b = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    row = U + b * Ku
    m = cols < H
    tl.store(row + cols, tl.load(Hprev + b * Htot + off + cols, mask=m), mask=m)
    k = H
    if HAS_ABOVE:                                        # z_{t-1}^l h_{t-1}^{l+1}
        ma = cols < H_above
        zp = tl.load(Zprev + b * L + l)
        tl.store(row + k + cols, zp * tl.load(Hprev + b * Htot + off_above + cols, mask=ma), mask=ma)
        k += H_above
    if HAS_BELOW:                                        # z_t^{l-1} h_t^{l-1}
        mb = cols < H_below
        zb = tl.load(Znow + b * L + l - 1)
        tl.store(row + k + cols, zb * tl.load(Hnow + b * Htot + off_below + cols, mask=mb), mask=mb)


@triton.jit
def _cell_forward(S, A, TC, Mean, Rstd, ln_w, ln_b, Hprev, Hnow, Cprev, Cnow, Zprev, Znow, Zsoft, Zline, Slope,
                  off, H, l, L, R, Htot,
                  LN: tl.constexpr, LN_Z: tl.constexpr, HAS_Z: tl.constexpr, HAS_BELOW: tl.constexpr,
                  NESTED: tl.constexpr, BLOCK: tl.constexpr):
    b = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    m = cols < H
    srow = S + b * R
    sf = tl.load(srow + cols, mask=m, other=0.0)
    si = tl.load(srow + H + cols, mask=m, other=0.0)
    so = tl.load(srow + 2 * H + cols, mask=m, other=0.0)
    sg = tl.load(srow + 3 * H + cols, mask=m, other=0.0)
    sz = 0.0
    if HAS_Z:
        sz = tl.load(srow + 4 * H)
    if LN > 0:                                           # layer norm over the gates (1) or all rows (2)
        total = tl.sum(sf, 0) + tl.sum(si, 0) + tl.sum(so, 0) + tl.sum(sg, 0)
        n = 4 * H
        if LN_Z:
            total += sz
            n += 1
        mean = total / n
        ef = tl.where(m, sf - mean, 0.0)
        ei = tl.where(m, si - mean, 0.0)
        eo = tl.where(m, so - mean, 0.0)
        eg = tl.where(m, sg - mean, 0.0)
        var = tl.sum(ef * ef, 0) + tl.sum(ei * ei, 0) + tl.sum(eo * eo, 0) + tl.sum(eg * eg, 0)
        if LN_Z:
            var += (sz - mean) * (sz - mean)
        rstd = 1.0 / tl.sqrt(var / n + 1e-5)
        tl.store(Mean + b, mean)
        tl.store(Rstd + b, rstd)
        sf = ef * rstd * tl.load(ln_w + cols, mask=m) + tl.load(ln_b + cols, mask=m)
        si = ei * rstd * tl.load(ln_w + H + cols, mask=m) + tl.load(ln_b + H + cols, mask=m)
        so = eo * rstd * tl.load(ln_w + 2 * H + cols, mask=m) + tl.load(ln_b + 2 * H + cols, mask=m)
        sg = eg * rstd * tl.load(ln_w + 3 * H + cols, mask=m) + tl.load(ln_b + 3 * H + cols, mask=m)
        if LN_Z:
            sz = (sz - mean) * rstd * tl.load(ln_w + 4 * H) + tl.load(ln_b + 4 * H)
    f, i, o, g = _sigmoid(sf), _sigmoid(si), _sigmoid(so), _tanh(sg)
    arow = A + b * 4 * H
    tl.store(arow + cols, f, mask=m)
    tl.store(arow + H + cols, i, mask=m)
    tl.store(arow + 2 * H + cols, o, mask=m)
    tl.store(arow + 3 * H + cols, g, mask=m)
    zp = tl.load(Zprev + b * L + l)
    zb = 1.0
    if HAS_BELOW:
        zb = tl.load(Znow + b * L + l - 1)
    if HAS_Z:                                            # z~ = hard sigm((a s + 1) / 2); z = [z~ > 0.5]
        line = sz * (0.5 * tl.load(Slope)) + 0.5
        soft = tl.minimum(tl.maximum(line, 0.0), 1.0)
        z = tl.where(soft > 0.5, 1.0, 0.0)
        if NESTED and HAS_BELOW:
            z = z * zb
        tl.store(Zline + b * L + l, line)
        tl.store(Zsoft + b * L + l, soft)
        tl.store(Znow + b * L + l, z)
    else:
        tl.store(Znow + b * L + l, 0.0)
    copy = (1.0 - zp) * (1.0 - zb)
    update = (1.0 - zp) * zb
    st = b * Htot + off + cols
    c_prev = tl.load(Cprev + st, mask=m)
    # FLUSH: i g ; UPDATE: f c + i g ; COPY: c
    c = i * g * (1.0 - copy) + (copy + f * update) * c_prev
    tc = _tanh(c)
    tl.store(Cnow + st, c, mask=m)
    tl.store(TC + b * H + cols, tc, mask=m)
    tl.store(Hnow + st, copy * tl.load(Hprev + st, mask=m) + o * (1.0 - copy) * tc, mask=m)


@triton.jit
def _cell_backward(dS, DA, S, A, TC, Mean, Rstd, ln_w, Hprev, Cprev, Zprev, Znow, Zsoft, dZline, Slope,
                   dHnow, dHprev, dCnow, dCprev, dZnow, dZprev,
                   off, H, l, L, R, Htot, NA,
                   LN: tl.constexpr, LN_Z: tl.constexpr, HAS_Z: tl.constexpr, HAS_BELOW: tl.constexpr,
                   NESTED: tl.constexpr, BLOCK: tl.constexpr):
    b = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    m = cols < H
    st = b * Htot + off + cols
    dh = tl.load(dHnow + st, mask=m, other=0.0)
    dc = tl.load(dCnow + st, mask=m, other=0.0)
    arow = A + b * 4 * H
    f = tl.load(arow + cols, mask=m, other=0.0)
    i = tl.load(arow + H + cols, mask=m, other=0.0)
    o = tl.load(arow + 2 * H + cols, mask=m, other=0.0)
    g = tl.load(arow + 3 * H + cols, mask=m, other=0.0)
    tc = tl.load(TC + b * H + cols, mask=m, other=0.0)
    c_prev = tl.load(Cprev + st, mask=m, other=0.0)
    h_prev = tl.load(Hprev + st, mask=m, other=0.0)
    zp = tl.load(Zprev + b * L + l)
    zb = 1.0
    if HAS_BELOW:
        zb = tl.load(Znow + b * L + l - 1)
    copy = (1.0 - zp) * (1.0 - zb)
    update = (1.0 - zp) * zb
    keep = 1.0 - copy
    # h = keep o tanh(c) + copy h_prev ;  c = keep i g + (update f + copy) c_prev
    dhk = dh * keep
    dcn = dc + dhk * o * (1.0 - tc * tc)
    dcnk = dcn * keep
    tl.store(dCprev + st, dcn * (copy + f * update), mask=m)
    tl.store(dHprev + st, tl.load(dHprev + st, mask=m) + dh * copy, mask=m)
    d_update = tl.sum(dcn * f * c_prev, 0)
    d_keep = tl.sum(dcn * i * g + dh * o * tc, 0)
    d_copy = tl.sum(dcn * c_prev + dh * h_prev, 0) - d_keep
    dzp = -d_copy * (1.0 - zb) - d_update * zb
    dzb = (d_update - d_copy) * (1.0 - zp)
    da_f = dcn * update * c_prev * f * (1.0 - f)
    da_i = dcnk * g * i * (1.0 - i)
    da_o = dhk * tc * o * (1.0 - o)
    da_g = dcnk * i * (1.0 - g * g)
    da_z = 0.0
    if HAS_Z:
        dz = tl.load(dZnow + b * L + l)
        soft = tl.load(Zsoft + b * L + l)
        if NESTED and HAS_BELOW:
            dzb += dz * tl.where(soft > 0.5, 1.0, 0.0)
            dz = dz * zb
        # straight-through: dz/dz~ = 1; the hard sigmoid passes a/2 inside (0, 1), the line everywhere
        inside = tl.where((soft > 0.0) & (soft < 1.0), 1.0, 0.0)
        da_z = (dz * inside + tl.load(dZline + b * L + l)) * (0.5 * tl.load(Slope))
        tl.store(dZprev + b * L + l, tl.load(dZprev + b * L + l) + dzp)
    if HAS_BELOW:
        tl.store(dZnow + b * L + l - 1, tl.load(dZnow + b * L + l - 1) + dzb)
    srow = S + b * R
    drow = dS + b * R
    if LN > 0:
        mean = tl.load(Mean + b)
        rstd = tl.load(Rstd + b)
        xf = tl.where(m, (tl.load(srow + cols, mask=m) - mean) * rstd, 0.0)
        xi = tl.where(m, (tl.load(srow + H + cols, mask=m) - mean) * rstd, 0.0)
        xo = tl.where(m, (tl.load(srow + 2 * H + cols, mask=m) - mean) * rstd, 0.0)
        xg = tl.where(m, (tl.load(srow + 3 * H + cols, mask=m) - mean) * rstd, 0.0)
        gf = da_f * tl.load(ln_w + cols, mask=m, other=0.0)
        gi = da_i * tl.load(ln_w + H + cols, mask=m, other=0.0)
        go = da_o * tl.load(ln_w + 2 * H + cols, mask=m, other=0.0)
        gg = da_g * tl.load(ln_w + 3 * H + cols, mask=m, other=0.0)
        s1 = tl.sum(gf, 0) + tl.sum(gi, 0) + tl.sum(go, 0) + tl.sum(gg, 0)
        s2 = tl.sum(gf * xf, 0) + tl.sum(gi * xi, 0) + tl.sum(go * xo, 0) + tl.sum(gg * xg, 0)
        n = 4 * H
        xz = 0.0
        gz = 0.0
        if LN_Z:
            xz = (tl.load(srow + 4 * H) - mean) * rstd
            gz = da_z * tl.load(ln_w + 4 * H)
            s1 += gz
            s2 += gz * xz
            n += 1
        s1 = s1 / n
        s2 = s2 / n
        darow = DA + b * NA                              # the gradient at the norm's output: LN weights
        tl.store(darow + cols, da_f, mask=m)
        tl.store(darow + H + cols, da_i, mask=m)
        tl.store(darow + 2 * H + cols, da_o, mask=m)
        tl.store(darow + 3 * H + cols, da_g, mask=m)
        da_f = rstd * (gf - s1 - xf * s2)
        da_i = rstd * (gi - s1 - xi * s2)
        da_o = rstd * (go - s1 - xo * s2)
        da_g = rstd * (gg - s1 - xg * s2)
        if LN_Z:
            tl.store(darow + 4 * H, da_z)
            da_z = rstd * (gz - s1 - xz * s2)
    tl.store(drow + cols, da_f, mask=m)
    tl.store(drow + H + cols, da_i, mask=m)
    tl.store(drow + 2 * H + cols, da_o, mask=m)
    tl.store(drow + 3 * H + cols, da_g, mask=m)
    if HAS_Z:
        tl.store(drow + 4 * H, da_z)


@triton.jit
def _scatter_du(dU, Hprev, Hnow, Zprev, Znow, dHnow, dHprev, dZnow, dZprev,
                off, H, off_above, H_above, off_below, H_below, l, L, Htot, Ku,
                HAS_Z: tl.constexpr, HAS_ABOVE: tl.constexpr, HAS_BELOW: tl.constexpr, BLOCK: tl.constexpr):
    b = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    row = dU + b * Ku
    m = cols < H
    p = dHprev + b * Htot + off + cols
    tl.store(p, tl.load(p, mask=m) + tl.load(row + cols, mask=m), mask=m)
    k = H
    if HAS_ABOVE:
        ma = cols < H_above
        d_above = tl.load(row + k + cols, mask=ma, other=0.0)
        zp = tl.load(Zprev + b * L + l)
        p = dHprev + b * Htot + off_above + cols
        tl.store(p, tl.load(p, mask=ma) + zp * d_above, mask=ma)
        if HAS_Z:
            h_above = tl.load(Hprev + b * Htot + off_above + cols, mask=ma, other=0.0)
            tl.store(dZprev + b * L + l, tl.load(dZprev + b * L + l) + tl.sum(d_above * h_above, 0))
        k += H_above
    if HAS_BELOW:
        mb = cols < H_below
        d_below = tl.load(row + k + cols, mask=mb, other=0.0)
        zb = tl.load(Znow + b * L + l - 1)
        p = dHnow + b * Htot + off_below + cols
        tl.store(p, tl.load(p, mask=mb) + zb * d_below, mask=mb)
        h_below = tl.load(Hnow + b * Htot + off_below + cols, mask=mb, other=0.0)
        q = dZnow + b * L + l - 1
        tl.store(q, tl.load(q) + tl.sum(d_below * h_below, 0))


def _scalar(value, like):
    """A number as a one-element tensor beside `like` (kernels read the slope from memory)."""
    return value if torch.is_tensor(value) else torch.full((1,), float(value), dtype=like.dtype, device=like.device)


class _Layer(NamedTuple):
    offset: int            # in the stacked state
    width: int
    above: tuple           # (offset, width) of the layer above, (0, 0) where there is none
    below: tuple
    ln_width: int          # how many rows its layer norm covers
    cell: dict             # the compile-time flags of the cell kernels


def _per_layer(sizes, has_z, ln, nested) -> list[_Layer]:
    """What the kernels need to know of each layer, worked out once per call."""
    y = Layout(sizes, has_z, ln)
    layers = []
    for l in range(y.L):
        above = (y.offsets[l + 1], sizes[l + 1]) if l + 1 < y.L else (0, 0)
        below = (y.offsets[l - 1], sizes[l - 1]) if l > 0 else (0, 0)
        cell = dict(LN=ln, LN_Z=ln == 2 and bool(has_z[l]), HAS_Z=bool(has_z[l]), HAS_BELOW=l > 0,
                    NESTED=bool(nested))
        layers.append(_Layer(y.offsets[l], sizes[l], above, below, y.ln_width(l), cell))
    return layers


def triton_forward(pre0, h0, c0, z0, W, bias, ln_w, ln_b, sizes, has_z, ln, nested, slope, skip_copy=False):
    """`fused.python_forward`, with `slope` a float or a one-element tensor on the device."""
    T, B, _ = pre0.shape
    L, Htot = len(sizes), sum(sizes)
    block = triton.next_power_of_2(max(sizes))
    slope_t = _scalar(slope, pre0)
    Hbuf, Cbuf, Zbuf, Zsoft, Zline, U, S, A, TC, Mean, Rstd = forward_buffers(pre0, h0, c0, z0, W, sizes, has_z)
    dummy = pre0.new_zeros(1)
    layers = _per_layer(sizes, has_z, ln, nested)
    for t in range(T):
        for l, (off, H, (oa, Ha), (ob, Hb), _, cell) in enumerate(layers):
            Ku, R = W[l].shape
            _gather_u[(B,)](U[l][t], Hbuf[t], Hbuf[t + 1], Zbuf[t], Zbuf[t + 1], off, H, oa, Ha, ob, Hb, l, L,
                            Htot, Ku, HAS_ABOVE=l + 1 < L, HAS_BELOW=l > 0, BLOCK=block)
            torch.addmm(pre0[t] if l == 0 else bias[l], U[l][t], W[l], out=S[l][t])
            _cell_forward[(B,)](S[l][t], A[l][t], TC[l][t], Mean[l][t], Rstd[l][t],
                                ln_w[l] if ln else dummy, ln_b[l] if ln else dummy,
                                Hbuf[t], Hbuf[t + 1], Cbuf[t], Cbuf[t + 1], Zbuf[t], Zbuf[t + 1],
                                Zsoft[t], Zline[t], slope_t, off, H, l, L, R, Htot, **cell, BLOCK=block)
    return [Hbuf, Cbuf, Zbuf, Zsoft, Zline, *U, *S, *A, *TC, *Mean, *Rstd]


def triton_backward(dH_out, dZ_out, dZline, Hbuf, Cbuf, Zbuf, Zsoft, S, A, TC, W, ln_w, Mean, Rstd,
                    sizes, has_z, ln, nested, slope):
    """`fused.python_backward`."""
    T, B, L = Zsoft.shape
    Htot = sum(sizes)
    block = triton.next_power_of_2(max(sizes))
    slope_t = _scalar(slope, Hbuf)
    Wt = [w.t().contiguous() for w in W]
    # gradients with respect to h and z at times -1..T-1, seeded with what came from outside
    dHbuf = torch.cat([dH_out.new_zeros(1, B, Htot), dH_out], 0)
    dZbuf = torch.cat([dZ_out.new_zeros(1, B, L), dZ_out], 0)
    dC = [Hbuf.new_zeros(B, Htot), Hbuf.new_empty(B, Htot)]          # ping-pong: c at t, c at t-1
    dS = [torch.empty_like(s) for s in S]
    layers = _per_layer(sizes, has_z, ln, nested)
    DA = [Hbuf.new_empty(T, B, max(layer.ln_width, 1)) for layer in layers]
    dU = [Hbuf.new_empty(B, w.shape[0]) for w in W]
    dummy = Hbuf.new_zeros(1)
    for t in range(T - 1, -1, -1):
        dc_now, dc_prev = dC[(T - 1 - t) % 2], dC[(T - t) % 2]
        for l in range(L - 1, -1, -1):
            off, H, (oa, Ha), (ob, Hb), _, cell = layers[l]
            Ku, R = W[l].shape
            _cell_backward[(B,)](dS[l][t], DA[l][t], S[l][t], A[l][t], TC[l][t], Mean[l][t], Rstd[l][t],
                                 ln_w[l] if ln else dummy, Hbuf[t], Cbuf[t], Zbuf[t], Zbuf[t + 1], Zsoft[t],
                                 dZline[t], slope_t, dHbuf[t + 1], dHbuf[t], dc_now, dc_prev,
                                 dZbuf[t + 1], dZbuf[t], off, H, l, L, R, Htot, DA[l].shape[2], **cell, BLOCK=block)
            torch.mm(dS[l][t], Wt[l], out=dU[l])
            _scatter_du[(B,)](dU[l], Hbuf[t], Hbuf[t + 1], Zbuf[t], Zbuf[t + 1], dHbuf[t + 1], dHbuf[t],
                              dZbuf[t + 1], dZbuf[t], off, H, oa, Ha, ob, Hb, l, L, Htot, Ku,
                              HAS_Z=cell["HAS_Z"], HAS_ABOVE=l + 1 < L, HAS_BELOW=l > 0, BLOCK=block)
    dLNw, dLNb = [], []
    for l, layer in enumerate(layers):
        n = layer.ln_width
        if n:                                            # LN weights: sums over time and batch
            xhat = (S[l][..., :n] - Mean[l][..., None]) * Rstd[l][..., None]
            dLNw.append((DA[l] * xhat).sum((0, 1)))
            dLNb.append(DA[l].sum((0, 1)))
        else:
            dLNw.append(Hbuf.new_zeros(0))
            dLNb.append(Hbuf.new_zeros(0))
    return [*dS, *dLNw, *dLNb]


# --- CUDA graphs ---------------------------------------------------------------------------

class GraphedLoop:
    """A loop function recorded once per input shape as a CUDA graph, then replayed.

    The inputs are copied into the graph's own tensors before each replay and the outputs cloned
    after it, so a caller may hold results of several calls at once (a forward kept for a later
    backward, say). Float arguments (the slope) travel as device tensors: a graph would freeze a
    Python number. HMLSTM_CUDA_GRAPHS=0 runs the loops directly.
    """

    max_graphs = 4       # each holds its own buffers

    def __init__(self, fn, float_arg: int):
        self.fn, self.float_arg, self.graphs = fn, float_arg, {}

    def __call__(self, *args):
        if os.environ.get("HMLSTM_CUDA_GRAPHS", "1") == "0" or not torch.cuda.is_available():
            return self.fn(*args)
        args = list(args)
        args[self.float_arg] = _scalar(args[self.float_arg], args[0])
        key = tuple(_signature(a) for a in args)
        entry = self.graphs.pop(key, None)
        if entry is None:
            if len(self.graphs) >= self.max_graphs:          # the least recently used goes
                self.graphs.pop(next(iter(self.graphs)))
            entry = self._record(args)
        self.graphs[key] = entry
        graph, static_in, static_out = entry
        for dst, src in zip(_tensors(static_in), _tensors(args)):
            dst.copy_(src)
        graph.replay()
        return [o.clone() for o in static_out]

    def _record(self, args):
        static_in = _clone(args)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):                    # compiles the kernels outside the capture
            self.fn(*static_in)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            static_out = self.fn(*static_in)
        log.info("recorded a CUDA graph for %s", self.fn.__name__)
        return graph, static_in, static_out


def _signature(a):
    if torch.is_tensor(a):
        return ("T", tuple(a.shape), a.dtype, a.device)
    if isinstance(a, (list, tuple)):
        return tuple(_signature(x) for x in a)
    return a


def _clone(a):
    if torch.is_tensor(a):
        return a.clone()
    if isinstance(a, (list, tuple)):
        return type(a)(_clone(x) for x in a)
    return a


def _tensors(a):
    if torch.is_tensor(a):
        yield a
    elif isinstance(a, (list, tuple)):
        for x in a:
            yield from _tensors(x)


_graphed_forward = GraphedLoop(triton_forward, float_arg=12)
graphed_backward = GraphedLoop(triton_backward, float_arg=18)


def graphed_forward(*args):
    """Training forwards replay a graph; inference (skip_copy, the last argument) runs directly,
    since its shapes follow whatever text comes in."""
    return triton_forward(*args) if args[-1] else _graphed_forward(*args)
