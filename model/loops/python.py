"""The time loops in Python: any device, and the fallback when neither C++ nor Triton is at hand.

Each step follows DESIGN.md section 3 as torch operations on the whole batch; the C++ and Triton
loops are held to these (and all three to the reference step) by tests/model/test_loops.py.
"""
from __future__ import annotations

import torch

from model.loops.contract import (BackwardResult, ForwardBuffers, ForwardInputs, Layout, OutputGrads, StepWeights,
                                  new_forward_buffers)

_aten = torch.ops.aten


def forward(layout: Layout, inputs: ForwardInputs, skip_copy: bool = False) -> ForwardBuffers:
    """skip_copy (inference only) lets a backend skip the work of COPY steps; this one ignores it."""
    T = inputs.pre0.shape[0]
    w = inputs.weights
    slope = float(inputs.slope)
    buf = new_forward_buffers(layout, inputs)
    part = layout.part
    for t in range(T):
        h_prev, h_now, z_prev, z_now = buf.H[t], buf.H[t + 1], buf.Z[t], buf.Z[t + 1]
        for l in range(layout.L):
            H = layout.sizes[l]
            zp = z_prev[:, l:l + 1]
            zb = z_now[:, l - 1:l] if l > 0 else None
            # u = [h_{t-1}^l, z_{t-1}^l h_{t-1}^{l+1}, z_t^{l-1} h_t^{l-1}]
            pieces = [part(h_prev, l)]
            if layout.above[l]:
                pieces.append(zp * part(h_prev, l + 1))
            if layout.below[l]:
                pieces.append(zb * part(h_now, l - 1))
            torch.cat(pieces, 1, out=buf.U[l][t])
            s = buf.S[l][t]
            torch.addmm(inputs.pre0[t] if l == 0 else w.bias[l], buf.U[l][t], w.W[l], out=s)
            a, n = s, layout.ln_widths[l]
            if n:
                a_ln, mean, rstd = _aten.native_layer_norm(s[:, :n], [n], w.ln_w[l], w.ln_b[l], 1e-5)
                buf.Mean[l][t], buf.Rstd[l][t] = mean[:, 0], rstd[:, 0]
                a = torch.cat([a_ln, s[:, n:]], 1)
            act = buf.A[l][t]
            torch.sigmoid(a[:, :3 * H], out=act[:, :3 * H])
            torch.tanh(a[:, 3 * H:4 * H], out=act[:, 3 * H:])
            f, i, o, g = act.split(H, 1)
            if layout.has_z[l]:
                line = a[:, 4 * H:] * (0.5 * slope) + 0.5          # (a*s + 1)/2, unclamped
                soft = torch.clamp(line, 0.0, 1.0)
                buf.Zline[t, :, l:l + 1] = line
                buf.Zsoft[t, :, l:l + 1] = soft
                z = (soft > 0.5).to(s.dtype)
                z_now[:, l:l + 1] = z * zb if (layout.nested and l > 0) else z
            else:
                z_now[:, l] = 0.0
            zb = torch.ones_like(zp) if zb is None else zb
            copy, update = (1 - zp) * (1 - zb), (1 - zp) * zb
            # FLUSH: i*g ; UPDATE: f*c + i*g ; COPY: c
            torch.addcmul(i * g * (1 - copy), torch.addcmul(copy, f, update), part(buf.C[t], l),
                          out=part(buf.C[t + 1], l))
            torch.tanh(part(buf.C[t + 1], l), out=buf.TC[l][t])
            torch.addcmul(copy * part(h_prev, l), o * (1 - copy), buf.TC[l][t], out=part(h_now, l))
    return buf


def backward(layout: Layout, grads: OutputGrads, saved: ForwardBuffers, weights: StepWeights,
             slope: torch.Tensor) -> BackwardResult:
    T = saved.Zsoft.shape[0]
    slope = float(slope)
    part = layout.part
    Wt = [w.t().contiguous() for w in weights.W]
    dS = [torch.empty_like(s) for s in saved.S]
    dLNw = [saved.H.new_zeros(n) for n in layout.ln_widths]
    dLNb = [saved.H.new_zeros(n) for n in layout.ln_widths]
    # the gradients reaching step t: h, c and z
    dH, dC, dZ = grads.dH[T - 1].clone(), torch.zeros_like(saved.H[0]), grads.dZ[T - 1].clone()
    for t in range(T - 1, -1, -1):
        dH_prev = grads.dH[t - 1].clone() if t > 0 else torch.zeros_like(dH)
        dZ_prev = grads.dZ[t - 1].clone() if t > 0 else torch.zeros_like(dZ)
        dC_prev = torch.empty_like(dC)
        h_prev, h_now, z_prev, z_now = saved.H[t], saved.H[t + 1], saved.Z[t], saved.Z[t + 1]
        for l in range(layout.L - 1, -1, -1):
            H = layout.sizes[l]
            dh, dc = part(dH, l), part(dC, l)
            act = saved.A[l][t]
            f, i, o, g = act.split(H, 1)
            tc, c_prev = saved.TC[l][t], part(saved.C[t], l)
            zp = z_prev[:, l:l + 1]
            zb = z_now[:, l - 1:l] if l > 0 else torch.ones_like(zp)
            copy, update = (1 - zp) * (1 - zb), (1 - zp) * zb
            keep = 1 - copy
            # h = keep * o*tanh(c) + copy * h_prev ;  c = keep*i*g + (update*f + copy)*c_prev
            dhk = dh * keep
            dcn = dc + _aten.tanh_backward(dhk * o, tc)
            dcnk = dcn * keep
            torch.mul(dcn, torch.addcmul(copy, f, update), out=part(dC_prev, l))
            d_update = (dcn * f * c_prev).sum(1, keepdim=True)
            d_keep = (dcn * i * g + dh * o * tc).sum(1, keepdim=True)
            d_copy = (dcn * c_prev + dh * part(h_prev, l)).sum(1, keepdim=True) - d_keep
            dzp = -d_copy * (1 - zb) - d_update * zb
            dzb = (d_update - d_copy) * (1 - zp)
            da = torch.empty_like(saved.S[l][t])
            da[:, :3 * H] = _aten.sigmoid_backward(torch.cat([dcn * update * c_prev, dcnk * g, dhk * tc], 1),
                                                   act[:, :3 * H])
            da[:, 3 * H:4 * H] = _aten.tanh_backward(dcnk * i, g)
            if layout.has_z[l]:
                dz = dZ[:, l:l + 1]
                soft = saved.Zsoft[t, :, l:l + 1]
                if layout.nested and l > 0:
                    dzb = dzb + dz * (soft > 0.5).to(dz.dtype)
                    dz = dz * zb
                # straight-through: dz/dz~ = 1; the hard sigmoid passes a/2 inside (0, 1);
                # the unclamped line (a*s + 1)/2 passes a/2 everywhere
                inside = ((soft > 0) & (soft < 1)).to(dz.dtype)
                da[:, 4 * H:] = (dz * inside + grads.dZline[t, :, l:l + 1]) * (0.5 * slope)
            ds, n = dS[l][t], layout.ln_widths[l]
            if n:
                dsn, dgw, dgb = _aten.native_layer_norm_backward(
                    da[:, :n].contiguous(), saved.S[l][t][:, :n].contiguous(), [n], saved.Mean[l][t][:, None],
                    saved.Rstd[l][t][:, None], weights.ln_w[l], weights.ln_w[l], [True, True, True])
                ds[:, :n], ds[:, n:] = dsn, da[:, n:]
                dLNw[l] += dgw
                dLNb[l] += dgb
            else:
                ds.copy_(da)
            # back through u = [h_prev, zp*h_above, zb*h_below]
            du = ds @ Wt[l]
            part(dH_prev, l).add_(du[:, :H] + dh * copy)
            off = H
            if layout.above[l]:
                d_above = du[:, off:off + layout.above[l]]
                part(dH_prev, l + 1).add_(zp * d_above)
                dzp = dzp + (d_above * part(h_prev, l + 1)).sum(1, keepdim=True)
                off += layout.above[l]
            if layout.below[l]:
                d_below = du[:, off:]
                part(dH, l - 1).add_(zb * d_below)
                dZ[:, l - 1:l] += dzb + (d_below * part(h_now, l - 1)).sum(1, keepdim=True)
            if layout.has_z[l]:
                dZ_prev[:, l:l + 1] += dzp
        dH, dC, dZ = dH_prev, dC_prev, dZ_prev
    return BackwardResult(dS, dLNw, dLNb)
