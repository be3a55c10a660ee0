"""A fused HM-LSTM: the whole sequence in one autograd node, with a hand-written backward.

The reference (`HMLSTMLayer.step`) records some 40 autograd nodes per layer and step;
on a CPU the bookkeeping, not the arithmetic, sets the speed. Here the forward runs
without autograd and writes what the backward needs into (T, ...) buffers; the backward
walks time in reverse and, since weight gradients are sums over time, leaves them to
one large matrix product per weight at the end.

Per layer and step the forward does one matrix product: the three sources of s_t^l
concatenated, u = [h_{t-1}^l, z_{t-1}^l h_{t-1}^{l+1}, z_t^{l-1} h_t^{l-1}], times the
weights stacked the same way. Layer 1's bottom-up term does not depend on the
recurrence, so it is computed for all t at once before the loop.

The time loops exist three times with one interface: in C++ (`model/csrc/hmlstm_cpu.cpp`,
built on first use, CPU), as Triton kernels under CUDA graphs (`model/triton_loops.py`, GPU)
and in Python below (any device, and the fallback when neither is at hand).
`tests/test_fused.py` holds all three to the reference, forward and gradients.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

_aten = torch.ops.aten
log = logging.getLogger(__name__)
LN_CODES = {"none": 0, "gates": 1, "all": 2}


class Layout:
    """Static facts about the stack that the loops need."""

    def __init__(self, sizes, has_z, ln: int, nested: bool = False, slope: float = 1.0):
        self.sizes, self.has_z, self.ln, self.nested, self.slope = list(sizes), list(has_z), ln, nested, slope
        self.L = len(self.sizes)
        self.offsets = [sum(self.sizes[:l]) for l in range(self.L)]
        self.rows = [4 * h + int(z) for h, z in zip(self.sizes, self.has_z)]       # [f, i, o, g, z~]

    @classmethod
    def of(cls, rnn) -> "Layout":
        cfg = rnn.cfg
        return cls(cfg.hidden_sizes, [cfg.has_detector(l) for l in range(cfg.num_layers)],
                   LN_CODES[cfg.layer_norm], bool(cfg.nested), float(rnn.slope))

    def args(self):
        return self.sizes, self.has_z, self.ln, self.nested, self.slope

    def ln_width(self, l):
        return (0, 4 * self.sizes[l], self.rows[l])[self.ln]

    def h(self, buf, l):
        o = self.offsets[l]
        return buf[..., o:o + self.sizes[l]]


# --- the loops, in Python ----------------------------------------------------------

def forward_buffers(pre0, h0, c0, z0, W, sizes, has_z):
    """What a forward loop writes (and its backward reads): states at times 0..T with the initial
    one in place, z~ and its line, and per layer u, s, the gate activations, tanh(c) and the
    layer norm's mean and 1/std."""
    T, B, _ = pre0.shape
    L = len(sizes)
    new = lambda *shape: pre0.new_empty(*shape)  # noqa: E731
    Hbuf, Cbuf, Zbuf = new(T + 1, B, sum(sizes)), new(T + 1, B, sum(sizes)), new(T + 1, B, L)
    Hbuf[0], Cbuf[0], Zbuf[0] = h0, c0, z0
    for l in range(L):
        if not has_z[l]:
            Zbuf[0, :, l] = 0.0                                  # a layer without detector never flushes
    return (Hbuf, Cbuf, Zbuf, pre0.new_zeros(T, B, L), pre0.new_zeros(T, B, L),
            [new(T, B, W[l].shape[0]) for l in range(L)], [new(T, B, W[l].shape[1]) for l in range(L)],
            [new(T, B, 4 * sizes[l]) for l in range(L)], [new(T, B, sizes[l]) for l in range(L)],
            [new(T, B) for _ in range(L)], [new(T, B) for _ in range(L)])


def python_forward(pre0, h0, c0, z0, W, bias, ln_w, ln_b, sizes, has_z, ln, nested, slope, skip_copy=False):
    """skip_copy (inference only) lets a backend skip the work of COPY steps; this one ignores it."""
    T, B, _ = pre0.shape
    L = len(sizes)
    y = Layout(sizes, has_z, ln)
    Hbuf, Cbuf, Zbuf, Zsoft, Zline, U, S, A, TC, Mean, Rstd = forward_buffers(pre0, h0, c0, z0, W, sizes, has_z)
    for t in range(T):
        h_prev, h_now, z_prev, z_now = Hbuf[t], Hbuf[t + 1], Zbuf[t], Zbuf[t + 1]
        for l in range(L):
            H = sizes[l]
            zp = z_prev[:, l:l + 1]
            zb = z_now[:, l - 1:l] if l > 0 else None
            # u = [h_{t-1}^l, z_{t-1}^l h_{t-1}^{l+1}, z_t^{l-1} h_t^{l-1}]
            parts = [y.h(h_prev, l)]
            if l + 1 < L:
                parts.append(zp * y.h(h_prev, l + 1))
            if l > 0:
                parts.append(zb * y.h(h_now, l - 1))
            torch.cat(parts, 1, out=U[l][t])
            s = S[l][t]
            torch.addmm(pre0[t] if l == 0 else bias[l], U[l][t], W[l], out=s)
            a, n = s, y.ln_width(l)
            if n:
                a_ln, mean, rstd = _aten.native_layer_norm(s[:, :n], [n], ln_w[l], ln_b[l], 1e-5)
                Mean[l][t], Rstd[l][t] = mean[:, 0], rstd[:, 0]
                a = torch.cat([a_ln, s[:, n:]], 1)
            act = A[l][t]
            torch.sigmoid(a[:, :3 * H], out=act[:, :3 * H])
            torch.tanh(a[:, 3 * H:4 * H], out=act[:, 3 * H:])
            f, i, o, g = act.split(H, 1)
            if has_z[l]:
                line = a[:, 4 * H:] * (0.5 * slope) + 0.5          # (a*s + 1)/2, unclamped
                soft = torch.clamp(line, 0.0, 1.0)
                Zline[t, :, l:l + 1] = line
                Zsoft[t, :, l:l + 1] = soft
                z = (soft > 0.5).to(s.dtype)
                z_now[:, l:l + 1] = z * zb if (nested and l > 0) else z
            else:
                z_now[:, l] = 0.0
            one = torch.ones_like(zp)
            zb = one if zb is None else zb
            copy, update = (1 - zp) * (1 - zb), (1 - zp) * zb
            # FLUSH: i*g ; UPDATE: f*c + i*g ; COPY: c
            torch.addcmul(i * g * (1 - copy), torch.addcmul(copy, f, update), y.h(Cbuf[t], l),
                          out=y.h(Cbuf[t + 1], l))
            torch.tanh(y.h(Cbuf[t + 1], l), out=TC[l][t])
            torch.addcmul(copy * y.h(h_prev, l), o * (1 - copy), TC[l][t], out=y.h(h_now, l))
    return [Hbuf, Cbuf, Zbuf, Zsoft, Zline, *U, *S, *A, *TC, *Mean, *Rstd]


def python_backward(dH_out, dZ_out, dZline, Hbuf, Cbuf, Zbuf, Zsoft, S, A, TC, W, ln_w, Mean, Rstd,
                    sizes, has_z, ln, nested, slope):
    T, B, L = Zsoft.shape
    y = Layout(sizes, has_z, ln)
    Wt = [w.t().contiguous() for w in W]
    dS = [torch.empty_like(s) for s in S]
    dLNw = [Hbuf.new_zeros(y.ln_width(l)) for l in range(L)]
    dLNb = [Hbuf.new_zeros(y.ln_width(l)) for l in range(L)]
    dH, dC, dZ = dH_out[T - 1].clone(), torch.zeros_like(Hbuf[0]), dZ_out[T - 1].clone()
    for t in range(T - 1, -1, -1):
        dH_prev = dH_out[t - 1].clone() if t > 0 else torch.zeros_like(dH)
        dZ_prev = dZ_out[t - 1].clone() if t > 0 else torch.zeros_like(dZ)
        dC_prev = torch.empty_like(dC)
        h_prev, h_now, z_prev, z_now = Hbuf[t], Hbuf[t + 1], Zbuf[t], Zbuf[t + 1]
        for l in range(L - 1, -1, -1):
            H = sizes[l]
            dh, dc = y.h(dH, l), y.h(dC, l)
            f, i, o, g = A[l][t].split(H, 1)
            tc, c_prev = TC[l][t], y.h(Cbuf[t], l)
            zp = z_prev[:, l:l + 1]
            zb = z_now[:, l - 1:l] if l > 0 else torch.ones_like(zp)
            copy, update = (1 - zp) * (1 - zb), (1 - zp) * zb
            keep = 1 - copy
            # h = keep * o*tanh(c) + copy * h_prev ;  c = keep*i*g + (update*f + copy)*c_prev
            dhk = dh * keep
            dcn = dc + _aten.tanh_backward(dhk * o, tc)
            dcnk = dcn * keep
            torch.mul(dcn, torch.addcmul(copy, f, update), out=y.h(dC_prev, l))
            d_update = (dcn * f * c_prev).sum(1, keepdim=True)
            d_keep = (dcn * i * g + dh * o * tc).sum(1, keepdim=True)
            d_copy = (dcn * c_prev + dh * y.h(h_prev, l)).sum(1, keepdim=True) - d_keep
            dzp = -d_copy * (1 - zb) - d_update * zb
            dzb = (d_update - d_copy) * (1 - zp)
            da = torch.empty_like(S[l][t])
            da[:, :3 * H] = _aten.sigmoid_backward(torch.cat([dcn * update * c_prev, dcnk * g, dhk * tc], 1),
                                                   A[l][t][:, :3 * H])
            da[:, 3 * H:4 * H] = _aten.tanh_backward(dcnk * i, g)
            if has_z[l]:
                dz = dZ[:, l:l + 1]
                soft = Zsoft[t, :, l:l + 1]
                if nested and l > 0:
                    dzb = dzb + dz * (soft > 0.5).to(dz.dtype)
                    dz = dz * zb
                # straight-through: dz/dz~ = 1; the hard sigmoid passes a/2 inside (0, 1);
                # the unclamped line (a*s + 1)/2 passes a/2 everywhere
                da[:, 4 * H:] = (dz * ((soft > 0) & (soft < 1)).to(dz.dtype) + dZline[t, :, l:l + 1]) * (0.5 * slope)
            ds, n = dS[l][t], y.ln_width(l)
            if n:
                dsn, dgw, dgb = _aten.native_layer_norm_backward(
                    da[:, :n].contiguous(), S[l][t][:, :n].contiguous(), [n], Mean[l][t][:, None],
                    Rstd[l][t][:, None], ln_w[l], ln_w[l], [True, True, True])
                ds[:, :n], ds[:, n:] = dsn, da[:, n:]
                dLNw[l] += dgw
                dLNb[l] += dgb
            else:
                ds.copy_(da)
            # back through u = [h_prev, zp*h_above, zb*h_below]
            du = ds @ Wt[l]
            dhp = y.h(dH_prev, l)
            dhp += du[:, :H] + dh * copy
            off = H
            if l + 1 < L:
                d_above = du[:, off:off + sizes[l + 1]]
                y.h(dH_prev, l + 1).add_(zp * d_above)
                dzp = dzp + (d_above * y.h(h_prev, l + 1)).sum(1, keepdim=True)
                off += sizes[l + 1]
            if l > 0:
                d_below = du[:, off:]
                y.h(dH, l - 1).add_(zb * d_below)
                dZ[:, l - 1:l] += dzb + (d_below * y.h(h_now, l - 1)).sum(1, keepdim=True)
            if has_z[l]:
                dZ_prev[:, l:l + 1] += dzp
        dH, dC, dZ = dH_prev, dC_prev, dZ_prev
    return [*dS, *dLNw, *dLNb]


# --- the loops, in C++ ---------------------------------------------------------------

_cpp = None


def cpp_loops():
    """The compiled extension, built on first use; None where it cannot be built.

    HMLSTM_NO_CPP=1 turns it off (the Python loops then run everywhere).
    """
    global _cpp
    if _cpp is None:
        _cpp = False
        if os.environ.get("HMLSTM_NO_CPP") != "1":
            try:
                from torch.utils.cpp_extension import load
                src = Path(__file__).parent / "csrc" / "hmlstm_cpu.cpp"
                flags = ["-O3", "-fopenmp-simd", "-fno-trapping-math", *_vector_flags()]
                _cpp = load(name="hmlstm_cpu", sources=[str(src)], extra_cflags=flags, verbose=False)
            except Exception as e:  # no compiler, no ninja: the Python loops still work
                log.warning("C++ HM-LSTM loops unavailable (%s); using the Python loops", e)
    return _cpp or None


def _vector_flags() -> list[str]:
    """AVX2 and FMA where this CPU has them: the extension is built on the machine that runs it
    (HMLSTM_PORTABLE=1 leaves them out, for an image built on one machine and run on others)."""
    if os.environ.get("HMLSTM_PORTABLE") == "1":
        return []
    try:
        words = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return []
    return ["-mavx2", "-mfma"] if {"avx2", "fma"} <= words else []


def loops_for(x: torch.Tensor, backend: str = "auto"):
    """(forward, backward) loop functions: 'cpp', 'python', 'triton', or 'auto' (C++ on the CPU where
    built, Triton with CUDA graphs on a GPU where Triton is installed; else Python)."""
    if backend == "python":
        return python_forward, python_backward
    if backend == "triton" or (backend == "auto" and x.device.type == "cuda"):
        tl = triton_loops()
        if tl is None and backend == "triton":
            raise RuntimeError("the Triton HM-LSTM loops are not available here (is triton installed?)")
        if tl is not None:
            if x.device.type == "cuda":
                return tl.graphed_forward, tl.graphed_backward
            return tl.triton_forward, tl.triton_backward         # the CPU: Triton's interpreter (tests)
        return python_forward, python_backward
    ext = cpp_loops() if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) else None
    if backend == "cpp" and ext is None:
        raise RuntimeError("the C++ HM-LSTM loops are not available here")
    return (ext.forward, ext.backward) if ext is not None else (python_forward, python_backward)


def triton_loops():
    """model.triton_loops, or None without Triton (HMLSTM_GPU_LOOPS=python turns it off)."""
    if os.environ.get("HMLSTM_GPU_LOOPS") == "python":
        return None
    try:
        from model import triton_loops as tl
    except ImportError:
        return None
    return tl


def loop_backend(device) -> str:
    """Which loops `backend="auto"` runs on this device: "cpp", "triton" or "python"."""
    kind = torch.device(device).type
    if kind == "cuda":
        return "triton" if triton_loops() is not None else "python"
    return "cpp" if kind == "cpu" and cpp_loops() is not None else "python"


# --- the autograd node ------------------------------------------------------------

def hmlstm_sequence(rnn, x, state, backend: str = "auto"):
    """Fused forward of `HMLSTM` over x (T, B, input); returns h, z, z_soft, z_line, hT, cT, zT."""
    layout = Layout.of(rnn)
    params = []
    for layer in rnn.layers:
        params += [layer.recurrent, layer.top_down, layer.bottom_up, layer.bias, layer.ln_weight, layer.ln_bias]
    layout.W = _stacked_weights(rnn, params)
    ws = [w if w is not None else x.new_empty(0) for w in params]
    h0, c0, z0 = (s.to(x.dtype).contiguous() for s in state)
    # without gradients the buffers for the backward are not needed, nor the gates of COPY steps
    layout.skip_copy = not (torch.is_grad_enabled() and (x.requires_grad or any(w.requires_grad for w in ws)))
    return _HMLSTMSequence.apply(layout, loops_for(x, backend), x, h0, c0, z0, *ws)


def _stacked_weights(rnn, ws):
    """Per layer [U_l^l; U_{l+1}^l; W_{l-1}^l], the weights of u (layer 1 has no W here: see pre0).

    Kept until a parameter changes (its version counter moves), so that inference, one step
    at a time, does not copy every matrix on every call."""
    key = tuple((id(w), w._version, w.dtype, w.device) for w in ws if w is not None)
    cached = getattr(rnn, "_stacked", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    L = rnn.cfg.num_layers
    with torch.no_grad():
        W = [torch.cat([ws[6 * l]] + ([ws[6 * l + 1]] if l + 1 < L else []) + ([ws[6 * l + 2]] if l > 0 else []),
                       0).contiguous() for l in range(L)]
    rnn._stacked = (key, W)
    return W


class _HMLSTMSequence(torch.autograd.Function):
    # Under CUDA autocast the recurrence stays in float32 (its buffers are written in place);
    # the output module and the head around it still run in bf16.

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)
    def forward(ctx, layout, loops, x, h0, c0, z0, *ws):
        T, B, _ = x.shape
        L = layout.L
        W = layout.W
        bias = [ws[6 * l + 3] for l in range(L)]
        ln_w = [ws[6 * l + 4] for l in range(L)]
        ln_b = [ws[6 * l + 5] for l in range(L)]
        # layer 1's bottom-up term (z^0 = 1) and bias, for every t at once
        pre0 = torch.addmm(bias[0], x.reshape(T * B, -1), ws[2]).view(T, B, -1)
        out = loops[0](pre0, h0, c0, z0, W, bias, ln_w, ln_b, *layout.args(), layout.skip_copy)
        Hbuf, Cbuf, Zbuf, Zsoft, Zline = out[:5]
        ctx.layout, ctx.loops = layout, loops
        ctx.save_for_backward(x, *out[:4], *out[5:], *W, *ws)
        hT, cT, zT = Hbuf[T].clone(), Cbuf[T].clone(), Zbuf[T].clone()
        ctx.mark_non_differentiable(Zsoft, hT, cT, zT)
        return Hbuf[1:], Zbuf[1:], Zsoft, Zline, hT, cT, zT

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx, dH_out, dZ_out, _dzs, dZline, _dh, _dc, _dz):
        layout, L = ctx.layout, ctx.layout.L
        saved = ctx.saved_tensors
        x, (Hbuf, Cbuf, Zbuf, Zsoft) = saved[0], saved[1:5]
        U, S, A, TC, Mean, Rstd, W = (list(saved[5 + j * L:5 + (j + 1) * L]) for j in range(7))
        ws = saved[5 + 7 * L:]
        T, B, _ = x.shape
        dH_out = torch.zeros_like(Hbuf[1:]) if dH_out is None else dH_out.contiguous()
        dZ_out = torch.zeros_like(Zbuf[1:]) if dZ_out is None else dZ_out.contiguous()
        dZline = torch.zeros_like(Zsoft) if dZline is None else dZline.contiguous()
        ln_w = [ws[6 * l + 4] for l in range(L)]
        res = ctx.loops[1](dH_out, dZ_out, dZline, Hbuf, Cbuf, Zbuf, Zsoft, S, A, TC, W, ln_w, Mean, Rstd,
                           *layout.args())
        dS, dLNw, dLNb = res[:L], res[L:2 * L], res[2 * L:]
        # weight gradients: sums over time, one matrix product each
        grads = [None] * len(ws)
        for l in range(L):
            dS_flat = dS[l].reshape(T * B, -1)
            dW = U[l].reshape(T * B, -1).t() @ dS_flat
            H, off = layout.sizes[l], layout.sizes[l]
            grads[6 * l] = dW[:H]
            if l + 1 < L:
                grads[6 * l + 1] = dW[off:off + layout.sizes[l + 1]]
                off += layout.sizes[l + 1]
            if l > 0:
                grads[6 * l + 2] = dW[off:]
            grads[6 * l + 3] = dS_flat.sum(0)
            if layout.ln:
                grads[6 * l + 4], grads[6 * l + 5] = dLNw[l], dLNb[l]
        dS0 = dS[0].reshape(T * B, -1)
        grads[2] = x.reshape(T * B, -1).t() @ dS0
        dx = (dS0 @ ws[2].t()).view_as(x) if ctx.needs_input_grad[2] else None
        grads = [g if ctx.needs_input_grad[6 + j] else None for j, g in enumerate(grads)]
        return (None, None, dx, None, None, None, *grads)
