"""The fused HM-LSTM's time loops for CUDA: Triton kernels for the per-step work, CUDA graphs around them.

The Python loops launch some 35 small kernels per layer and step forward and 60 backward; on a GPU
each launch costs more than its arithmetic. Here a layer-step is three launches: `_gather_u`
builds u = [h_{t-1}^l, z_{t-1}^l h_{t-1}^{l+1}, z_t^{l-1} h_t^{l-1}], one matrix product gives s,
and `_cell_forward` does the rest of the step for one batch row per program (layer norm, gates,
z, c, h). Backward, `_cell_backward` undoes the cell and `_scatter_du` spreads du = ds W^T over
the states it came from. `model/loops/graphs.py` records a whole loop as one CUDA graph, so a training step
launches two graphs instead of some two thousand kernels.

The contract of model/loops/contract.py, as the Python loops; tests/model/test_loops.py holds these
to the reference step (on the CPU through Triton's interpreter, TRITON_INTERPRET=1). The kernels take
the Layout's fields (offsets, sizes, above, below) per layer.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from model.loops.contract import (BackwardResult, ForwardBuffers, ForwardInputs, Layout, OutputGrads, StepWeights,
                                  new_forward_buffers)


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


@triton.jit
def _add_rows(acc, V, W, k_first: tl.constexpr, K: tl.constexpr, R, cols, mc, scale, BLOCK_K: tl.constexpr):
    """acc + scale * v W[k_first:k_first + K, cols] for v = V[0:K]."""
    ks = tl.arange(0, BLOCK_K)
    for k0 in range(0, K, BLOCK_K):
        mk = (k0 + ks) < K
        v = tl.load(V + k0 + ks, mask=mk, other=0.0)
        w = tl.load(W + (k_first + k0 + ks)[:, None] * R + cols[None, :], mask=mk[:, None] & mc[None, :], other=0.0)
        acc += tl.sum(scale * v[:, None] * w, 0)
    return acc


@triton.jit
def _all_terms(acc, W, Hprev, Hnow, zp, zb, off, H: tl.constexpr, off_above, H_above: tl.constexpr, off_below,
               H_below: tl.constexpr, R, cols, mc, HAS_ABOVE: tl.constexpr, HAS_BELOW: tl.constexpr,
               BLOCK_K: tl.constexpr):
    acc = _add_rows(acc, Hprev + off, W, 0, H, R, cols, mc, 1.0, BLOCK_K)                 # U_l^l h_{t-1}^l
    if HAS_ABOVE:
        if zp != 0.0:                                    # FLUSH: U_{l+1}^l h_{t-1}^{l+1}
            acc = _add_rows(acc, Hprev + off_above, W, H, H_above, R, cols, mc, zp, BLOCK_K)
    if HAS_BELOW:
        if zb != 0.0:                                    # the layer below fired: W_{l-1}^l h_t^{l-1}
            acc = _add_rows(acc, Hnow + off_below, W, H + H_above, H_below, R, cols, mc, zb, BLOCK_K)
    return acc


@triton.jit
def _skipping_product(S, Pre, W, Hprev, Hnow, Zprev, Znow, off, H: tl.constexpr, off_above, H_above: tl.constexpr,
                      off_below, H_below: tl.constexpr, l, L, R, HAS_Z: tl.constexpr, HAS_ABOVE: tl.constexpr, HAS_BELOW: tl.constexpr, Z_ALONE: tl.constexpr,
                      BLOCK_K: tl.constexpr, BLOCK_N: tl.constexpr):
    """Inference at batch 1 (DESIGN.md section 11): s = pre + U_l^l h^l [+ U_{l+1}^l h^{l+1} on a FLUSH]
    [+ W_{l-1}^l h^{l-1} when the layer below fired], each program its block of columns. On a COPY step
    only the z row (nothing without a detector); the gates stay at pre, finite, and the cell multiplies
    them by zero. With layer norm over all rows (not Z_ALONE) z depends on the gates: all terms."""
    cols = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    mc = cols < R
    acc = tl.load(Pre + cols, mask=mc, other=0.0)
    zp = 0.0
    if HAS_Z:
        zp = tl.load(Zprev + l)
    zb = 1.0
    if HAS_BELOW:
        zb = tl.load(Znow + l - 1)
    if Z_ALONE:
        if (zp == 0.0) & (zb == 0.0):                    # COPY
            if HAS_Z:
                acc = _add_rows(acc, Hprev + off, W, 0, H, R, cols, mc & (cols == R - 1), 1.0, BLOCK_K)
        else:
            acc = _all_terms(acc, W, Hprev, Hnow, zp, zb, off, H, off_above, H_above, off_below, H_below, R, cols, mc,
                             HAS_ABOVE, HAS_BELOW, BLOCK_K)
    else:
        acc = _all_terms(acc, W, Hprev, Hnow, zp, zb, off, H, off_above, H_above, off_below, H_below, R, cols, mc,
                         HAS_ABOVE, HAS_BELOW, BLOCK_K)
    tl.store(S + cols, acc, mask=mc)


def _neighbours(layout: Layout, l: int) -> tuple[int, int, int, int]:
    """(offset, width) of the layers above and below l, zeros where there is none."""
    oa = layout.offsets[l + 1] if layout.above[l] else 0
    ob = layout.offsets[l - 1] if layout.below[l] else 0
    return oa, layout.above[l], ob, layout.below[l]


def _cell_flags(layout: Layout, l: int) -> dict:
    """The compile-time flags of the cell kernels for layer l."""
    return dict(LN=layout.ln, LN_Z=layout.ln == 2 and layout.has_z[l], HAS_Z=layout.has_z[l],
                HAS_BELOW=l > 0, NESTED=layout.nested)


SKIP_BLOCK_N, SKIP_BLOCK_K = 64, 32


def forward(layout: Layout, inputs: ForwardInputs, skip_copy: bool = False) -> ForwardBuffers:
    """The forward loop; `inputs.slope` is a one-element tensor on the device. With skip_copy at batch 1
    (inference) each step's product leaves out the terms its operation does not use (`_skipping_product`)."""
    T, B, _ = inputs.pre0.shape
    L, N = layout.L, layout.total
    w = inputs.weights
    block = triton.next_power_of_2(max(layout.sizes))
    buf = new_forward_buffers(layout, inputs)
    dummy = inputs.pre0.new_zeros(1)
    skipping = skip_copy and B == 1
    for t in range(T):
        for l in range(L):
            off, H, (oa, Ha, ob, Hb) = layout.offsets[l], layout.sizes[l], _neighbours(layout, l)
            Ku, R = layout.in_widths[l], layout.rows[l]
            pre = inputs.pre0[t] if l == 0 else w.bias[l]
            if skipping:
                _skipping_product[(triton.cdiv(R, SKIP_BLOCK_N),)](
                    buf.S[l][t], pre, w.W[l], buf.H[t], buf.H[t + 1], buf.Z[t], buf.Z[t + 1], off, H, oa, Ha, ob, Hb,
                    l, L, R, HAS_Z=layout.has_z[l], HAS_ABOVE=Ha > 0, HAS_BELOW=Hb > 0, Z_ALONE=layout.ln != 2,
                    BLOCK_K=SKIP_BLOCK_K, BLOCK_N=SKIP_BLOCK_N)
            else:
                _gather_u[(B,)](buf.U[l][t], buf.H[t], buf.H[t + 1], buf.Z[t], buf.Z[t + 1], off, H, oa, Ha, ob, Hb,
                                l, L, N, Ku, HAS_ABOVE=Ha > 0, HAS_BELOW=Hb > 0, BLOCK=block)
                torch.addmm(pre, buf.U[l][t], w.W[l], out=buf.S[l][t])
            _cell_forward[(B,)](buf.S[l][t], buf.A[l][t], buf.TC[l][t], buf.Mean[l][t], buf.Rstd[l][t],
                                w.ln_w[l] if layout.ln else dummy, w.ln_b[l] if layout.ln else dummy,
                                buf.H[t], buf.H[t + 1], buf.C[t], buf.C[t + 1], buf.Z[t], buf.Z[t + 1],
                                buf.Zsoft[t], buf.Zline[t], inputs.slope, off, H, l, L, R, N,
                                **_cell_flags(layout, l), BLOCK=block)
    return buf


def backward(layout: Layout, grads: OutputGrads, saved: ForwardBuffers, weights: StepWeights,
             slope: torch.Tensor) -> BackwardResult:
    T, B, L = saved.Zsoft.shape
    N = layout.total
    block = triton.next_power_of_2(max(layout.sizes))
    Wt = [w.t().contiguous() for w in weights.W]
    # gradients with respect to h and z at times -1..T-1, seeded with what came from outside
    dHbuf = torch.cat([grads.dH.new_zeros(1, B, N), grads.dH], 0)
    dZbuf = torch.cat([grads.dZ.new_zeros(1, B, L), grads.dZ], 0)
    dC = [saved.H.new_zeros(B, N), saved.H.new_empty(B, N)]          # ping-pong: c at t, c at t-1
    dS = [torch.empty_like(s) for s in saved.S]
    DA = [saved.H.new_empty(T, B, max(n, 1)) for n in layout.ln_widths]
    dU = [saved.H.new_empty(B, k) for k in layout.in_widths]
    dummy = saved.H.new_zeros(1)
    for t in range(T - 1, -1, -1):
        dc_now, dc_prev = dC[(T - 1 - t) % 2], dC[(T - t) % 2]
        for l in range(L - 1, -1, -1):
            off, H, (oa, Ha, ob, Hb) = layout.offsets[l], layout.sizes[l], _neighbours(layout, l)
            Ku, R = layout.in_widths[l], layout.rows[l]
            flags = _cell_flags(layout, l)
            _cell_backward[(B,)](dS[l][t], DA[l][t], saved.S[l][t], saved.A[l][t], saved.TC[l][t], saved.Mean[l][t],
                                 saved.Rstd[l][t], weights.ln_w[l] if layout.ln else dummy, saved.H[t], saved.C[t],
                                 saved.Z[t], saved.Z[t + 1], saved.Zsoft[t], grads.dZline[t], slope,
                                 dHbuf[t + 1], dHbuf[t], dc_now, dc_prev, dZbuf[t + 1], dZbuf[t],
                                 off, H, l, L, R, N, DA[l].shape[2], **flags, BLOCK=block)
            torch.mm(dS[l][t], Wt[l], out=dU[l])
            _scatter_du[(B,)](dU[l], saved.H[t], saved.H[t + 1], saved.Z[t], saved.Z[t + 1], dHbuf[t + 1], dHbuf[t],
                              dZbuf[t + 1], dZbuf[t], off, H, oa, Ha, ob, Hb, l, L, N, Ku,
                              HAS_Z=flags["HAS_Z"], HAS_ABOVE=Ha > 0, HAS_BELOW=Hb > 0, BLOCK=block)
    dLNw, dLNb = [], []
    for l, n in enumerate(layout.ln_widths):
        if n:                                            # LN weights: sums over time and batch
            xhat = (saved.S[l][..., :n] - saved.Mean[l][..., None]) * saved.Rstd[l][..., None]
            dLNw.append((DA[l] * xhat).sum((0, 1)))
            dLNb.append(DA[l].sum((0, 1)))
        else:
            dLNw.append(saved.H.new_zeros(0))
            dLNb.append(saved.H.new_zeros(0))
    return BackwardResult(dS, dLNw, dLNb)
