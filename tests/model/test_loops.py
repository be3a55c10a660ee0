"""The loop backends (C++, Triton and Python, model/loops) against the reference step, forward and gradients.

Without a GPU the Triton loops run through Triton's interpreter (tests/conftest.py), which is slow:
their case is smaller."""
import itertools

import pytest
import torch

from model.loops import backend_name, cpp, cpp_loops, triton_loops
from model.hmlstm import HMLSTM, HMLSTMConfig

VARIANTS = list(itertools.product(["none", "gates", "all"], [False, True], [False, True]))


def run(rnn, x, state, backend, weights):
    h, z, soft, line, (hT, cT, zT) = rnn(x, state, backend=backend)
    wh, wz, wl = weights
    loss = (h * wh).sum() + (z * wz).sum() + (line * wl).sum()   # gradients into h, z and the line
    grads = torch.autograd.grad(loss, [x] + list(rnn.parameters()))
    return [h, z, soft, line, hT, cT, zT], grads


def random_case(cfg, dtype, T, B, seed, device="cpu", scale=0.6):
    """An HM-LSTM with random weights (std `scale`) whose z rows are centred (z~ varies around 0.5),
    an input, a state and weights for the loss."""
    g = torch.Generator().manual_seed(seed)
    rnn = HMLSTM(cfg).to(dtype)
    with torch.no_grad():
        for p in rnn.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=dtype) * scale)
        for layer in rnn.layers:
            if layer.has_z:
                layer.bias[-1] = 0.0
                if cfg.layer_norm == "all":
                    layer.ln_weight[-1], layer.ln_bias[-1] = 1.0, 0.0
    rnn.slope.fill_(1.8)
    n, L = sum(cfg.hidden_sizes), cfg.num_layers
    x = torch.randn(T, B, cfg.input_size, generator=g, dtype=dtype)
    state = (torch.randn(B, n, generator=g, dtype=dtype), torch.randn(B, n, generator=g, dtype=dtype),
             (torch.rand(B, L, generator=g) > 0.5).to(dtype))
    weights = [torch.randn(s, generator=g, dtype=dtype) for s in [(T, B, n), (T, B, L), (T, B, L)]]
    move = lambda t: t.to(device)  # noqa: E731
    return rnn.to(device), move(x).requires_grad_(), tuple(map(move, state)), list(map(move, weights))


def assert_agree(rnn, x, state, weights, backend, tol):
    ref_out, ref_grads = run(rnn, x, state, "reference", weights)
    out, grads = run(rnn, x, state, backend, weights)
    z1 = ref_out[1][..., 0]
    assert 0 < z1.mean() < 1, "the case should mix FLUSH, UPDATE and COPY"
    for name, a, b in zip(["h", "z", "z_soft", "z_line", "hT", "cT", "zT"], out, ref_out):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol, msg=lambda m: f"{name}: {m}")
    names = ["x"] + [n for n, _ in rnn.named_parameters()]
    for name, a, b in zip(names, grads, ref_grads):
        scale = max(1.0, b.abs().max().item())
        torch.testing.assert_close(a, b, rtol=tol, atol=tol * scale, msg=lambda m: f"d/d{name}: {m}")


@pytest.mark.parametrize("backend", ["cpp", "triton", "python"])
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("ln,top,nested", VARIANTS)
def test_fused_agrees_with_reference(backend, dtype, tol, ln, top, nested):
    if backend == "cpp" and cpp_loops() is None:
        pytest.fail("the C++ loops did not build (a compiler and ninja are part of the install)")
    if backend == "triton" and triton_loops("cpu") is None:
        pytest.fail("triton is part of the dev install (requirements-dev.txt)")
    cfg = HMLSTMConfig(input_size=5, hidden_sizes=[6, 4, 7], layer_norm=ln, top_detector=top, nested=nested)
    # 16 steps and 8 rows or more: the C++ loops pack their weights. Triton: on the GPU where there
    # is one (kernels and CUDA graphs), else through the interpreter, slowly, so a smaller case
    gpu = backend == "triton" and torch.cuda.is_available()
    T, B = (6, 3) if backend == "triton" and not gpu else (20, 8)
    case = random_case(cfg, dtype, T, B, VARIANTS.index((ln, top, nested)), "cuda" if gpu else "cpu")
    assert_agree(*case, backend, tol)


@pytest.fixture
def step_product(request):
    """The C++ training loops switched to one per-step product path for the test, then back."""
    ext = cpp.extension()
    if ext is None:
        pytest.fail("the C++ loops did not build (a compiler and ninja are part of the install)")
    if request.param == "blocked" and not ext.blocked_product_built():
        pytest.skip("the blocked kernel needs AVX2 and FMA")
    ext.set_step_product(request.param)
    yield request.param
    ext.set_step_product(cpp.STEP_PRODUCT)


@pytest.mark.parametrize("step_product", cpp.STEP_PRODUCTS, indirect=True)
@pytest.mark.parametrize("ln", ["none", "gates", "all"])
def test_every_step_product_agrees_with_reference(step_product, ln):
    # 10 rows (not a multiple of the blocked kernel's 4-row tile), 20 steps, gate rows 4H + 1 = 25, 17
    # and 29: panels of 24 columns with a part-filled last one
    cfg = HMLSTMConfig(input_size=5, hidden_sizes=[6, 4, 7], layer_norm=ln)
    assert cpp.extension().step_product_path(10, 20) == {"packed": "mkl-packed"}.get(step_product, step_product)
    assert_agree(*random_case(cfg, torch.float32, 20, 10, 7), "cpp", 1e-5)


@pytest.mark.parametrize("B,K,N", [(1, 3, 5), (4, 24, 24), (7, 33, 49), (32, 300, 1025), (13, 1025, 300)])
def test_the_blocked_kernel_multiplies(B, K, N):
    ext = cpp.extension()
    if not ext.blocked_product_built():
        pytest.skip("the blocked kernel needs AVX2 and FMA")
    g = torch.Generator().manual_seed(B * K + N)
    x, M = torch.randn(B, K, generator=g), torch.randn(K, N, generator=g)
    panels = ext.pack_panels(M)
    assert panels.shape == ((N + 23) // 24, K, 24)
    out = ext.blocked_product(x, panels, N)
    assert out.shape == (B, N) and out.is_contiguous()
    torch.testing.assert_close(out.double(), x.double() @ M.double(), rtol=1e-5, atol=1e-5 * K ** 0.5)
    # the backward's operand is a transposed view: laid out from its strides
    torch.testing.assert_close(ext.blocked_product(x, ext.pack_panels(M.t().contiguous().t()), N), out)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("ln", ["none", "gates", "all"])
def test_triton_loops_on_the_gpu_at_width(ln):
    """Widths of hundreds (several warps per row), and a second call that replays the recorded
    CUDA graph with other weights and inputs."""
    cfg = HMLSTMConfig(input_size=40, hidden_sizes=[200, 130, 96], layer_norm=ln)
    for seed in (1, 2):
        assert_agree(*random_case(cfg, torch.float32, 30, 16, seed, "cuda", scale=0.1), "triton", 1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("ln", ["gates", "all"])
def test_triton_inference_that_skips_work_on_the_gpu_at_width(ln):
    """Batch 1 without gradients on the card: z identical and the traces within 1e-5 of the dense path."""
    torch.manual_seed(3)
    cfg = HMLSTMConfig(input_size=40, hidden_sizes=[200, 130, 96], layer_norm=ln, z_bias=0.0)
    rnn = HMLSTM(cfg).cuda()
    x = torch.randn(200, 1, 40, device="cuda")
    with torch.no_grad():
        fast = rnn(x, backend="triton")
    full = rnn(x.requires_grad_(), backend="triton")
    assert torch.equal(fast[1], full[1].detach())
    for a, b in zip(fast[:4], full[:4]):
        torch.testing.assert_close(a, b.detach(), rtol=1e-5, atol=1e-5)


def test_auto_backend_uses_cpp_on_the_cpu():
    assert backend_name("cpu") == ("cpp" if cpp_loops() is not None else "python")
    assert cpp_loops() is not None, "the C++ loops should build here"


def test_state_carries_across_calls():
    """Two halves with the state carried equal one whole run."""
    torch.manual_seed(0)
    rnn = HMLSTM(HMLSTMConfig(input_size=3, hidden_sizes=[5, 5], z_bias=0.0))
    x = torch.randn(20, 2, 3)
    h, z, _, _, _ = rnn(x)
    h1, z1, _, _, s1 = rnn(x[:11])
    h2, z2, _, _, _ = rnn(x[11:], s1)
    torch.testing.assert_close(torch.cat([h1, h2]), h, rtol=0, atol=1e-6)
    assert torch.equal(torch.cat([z1, z2]), z)


@pytest.mark.parametrize("ln,nested", [("none", False), ("gates", False), ("gates", True), ("all", False)])
@pytest.mark.parametrize("batch,backend", [(1, "cpp"), (3, "cpp"), (1, "triton")])
def test_inference_that_skips_copy_steps_gives_the_same_traces(ln, nested, batch, backend):
    """Without gradients the C++ forward skips the gates of steps where every row COPYs, and at batch
    1 both the C++ and the Triton loops leave out the terms a step's operation does not use."""
    if backend == "triton" and triton_loops() is None:
        pytest.fail("triton is part of the dev install (requirements-dev.txt)")
    torch.manual_seed(5)
    cfg = HMLSTMConfig(input_size=4, hidden_sizes=[8, 8, 8], layer_norm=ln, nested=nested, top_detector=True,
                       z_bias=-0.3)
    rnn = HMLSTM(cfg)
    x = torch.randn(60, batch, 4)
    with torch.no_grad():
        fast = rnn(x, backend=backend)
    full = rnn(x.requires_grad_())           # with gradients: every step computed in full
    z = full[1].detach()
    copies = ((z[:-1, :, 1:] == 0) & (z[1:, :, :2] == 0)).float().mean()   # z_{t-1}^l = 0 = z_t^{l-1}
    assert copies > 0.1, "the case should have COPY steps to skip"
    assert torch.equal(fast[1], z)
    for a, b in zip(fast[:4], full[:4]):
        torch.testing.assert_close(a, b.detach(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("ln", ["none", "gates", "all"])
def test_inference_gives_the_same_traces_on_any_number_of_threads(ln):
    """Batch-1 inference splits each product's columns among threads: every column summed in the same
    order, so the traces are identical, bit for bit, whatever the thread count."""
    from model.loops import cpp
    torch.manual_seed(6)
    cfg = HMLSTMConfig(input_size=4, hidden_sizes=[40, 24, 16], layer_norm=ln, top_detector=True, z_bias=0.0)
    rnn = HMLSTM(cfg)
    x = torch.randn(300, 1, 4)
    runs = []
    for threads in (1, 2, 3):
        with torch.no_grad(), cpp.inference_threads(threads):
            runs.append(rnn(x))
    rates = runs[0][1].mean((0, 1))[:2]
    assert ((0.05 < rates) & (rates < 0.95)).all(), "the case should have every operation in layers 1 and 2"
    for other in runs[1:]:
        for a, b in zip(runs[0][:4], other[:4]):
            assert torch.equal(a, b)
    assert cpp.extension().infer_threads() == 0                   # the block restores the setting


def test_weights_stored_in_float16_stream_as_float16_with_the_same_traces(monkeypatch):
    """Where every weight is a float16 number, batch-1 inference reads a float16 copy: the same
    numbers widened exactly, so the traces are those of the float32 weights, bit for bit."""
    from model.loops import cpp
    if "-mf16c" not in cpp._vector_flags():
        pytest.skip("this CPU widens float16 in software: the copy is not used")
    torch.manual_seed(8)
    rnn = HMLSTM(HMLSTMConfig(input_size=4, hidden_sizes=[40, 24, 16], layer_norm="gates", z_bias=0.0))
    with torch.no_grad():
        for w in rnn.parameters():
            w.copy_(w.half().float())
    x = torch.randn(200, 1, 4)
    with torch.no_grad():
        streamed = rnn(x)
        stacked = rnn._stacked[1]
        assert all(cpp.exact_half(W) is not None for W in stacked)
        monkeypatch.setattr(cpp, "HALF_WEIGHTS", False)
        plain = rnn(x)
    for a, b in zip(streamed[:4], plain[:4]):
        assert torch.equal(a, b)
    with torch.no_grad():
        stacked[0][0, 0] += 1e-4                              # no longer a float16 number
    assert cpp.exact_half(stacked[0]) is None and cpp.exact_half(stacked[1]) is not None


def test_weights_stored_in_int8_stream_as_int8_with_the_same_traces(monkeypatch):
    """Where every streamed weight is an int8 times its column's scale (a checkpoint stored in int8),
    batch-1 inference reads the int8 copy: the same numbers widened exactly, so the traces are those of
    the float32 weights, bit for bit; a matrix that is not such numbers streams as it is."""
    from model.checkpoint import round_to_bytes
    from model.loops import cpp
    from model.loops.contract import Layout
    if "-mavx2" not in cpp._vector_flags():
        pytest.skip("this build has no AVX2: the copy is not used")
    torch.manual_seed(9)
    rnn = HMLSTM(HMLSTMConfig(input_size=4, hidden_sizes=[40, 24, 16], layer_norm="gates", z_bias=0.0))
    with torch.no_grad():
        for name, w in rnn.layers.named_parameters():
            if name.split(".")[1] in ("recurrent", "top_down", "bottom_up"):
                w.copy_(round_to_bytes(w))
    x = torch.randn(200, 1, 4)
    layout = Layout.of(rnn.cfg)
    with torch.no_grad():
        streamed = rnn(x)
        stacked = rnn._stacked[1]
        found = [cpp.exact_bytes(W, cpp.row_parts(layout, l)) for l, W in enumerate(stacked)]
        assert all(f is not None for f in found)
        q, scale = found[1]
        assert q.abs().max() == 127 and torch.equal(q[:24].float() * scale[0], stacked[1][:24])
        monkeypatch.setattr(cpp, "BYTE_WEIGHTS", False)
        monkeypatch.setattr(cpp, "HALF_WEIGHTS", False)
        plain = rnn(x)
    for a, b in zip(streamed[:4], plain[:4]):
        assert torch.equal(a, b)
    with torch.no_grad():
        stacked[0][3, 5] *= 1.0001                            # no longer q * scale
    assert cpp.exact_bytes(stacked[0], cpp.row_parts(layout, 0)) is None
    assert cpp.exact_bytes(stacked[1], cpp.row_parts(layout, 1)) is not None


def test_a_stale_build_lock_is_removed_and_a_live_one_kept(tmp_path):
    """A run killed while building the C++ loops leaves torch's lock behind; every later build would
    wait for it forever."""
    import os
    import time

    from model.loops import cpp
    lock = tmp_path / "lock"
    lock.touch()
    cpp._remove_stale_lock(lock)
    assert lock.exists()                                   # another process may be building now
    old = time.time() - cpp.STALE_LOCK_S - 5
    os.utime(lock, (old, old))
    cpp._remove_stale_lock(lock)
    assert not lock.exists()
    cpp._remove_stale_lock(lock)                           # and no lock at all is fine


def test_each_checkout_and_set_of_flags_builds_its_own_extension(tmp_path):
    """torch keeps every build under one folder per name; one name for all checkouts made each process that
    switched between two of them rebuild (a minute), waiting on the other's lock."""
    here, there = cpp.SOURCE, tmp_path / "hmlstm_cpu.cpp"
    flags = ["-O3", "-mavx2"]
    assert cpp.build_name(here, flags) == cpp.build_name(here, list(flags))            # stable: built once
    assert cpp.build_name(here, flags) != cpp.build_name(there, flags)                 # another checkout
    assert cpp.build_name(here, flags) != cpp.build_name(here, ["-O3"])                # HMLSTM_PORTABLE=1
    assert cpp.build_name(here, flags).isidentifier()                                  # a Python module's name


def test_saved_buffers_round_trip_by_name():
    """The autograd node saves the contract's named tensors flat and reads them back by name; the
    CUDA graphs clone them keeping their types."""
    from model.loops.contract import ForwardBuffers, LayerParams, flatten, unflatten
    from model.loops.graphs import _clone, _tensors
    t = lambda *s: torch.randn(*s)  # noqa: E731
    buf = ForwardBuffers(t(3, 2, 5), t(3, 2, 5), t(3, 2, 2), t(2, 2, 2), None, [t(2, 2, 7), t(2, 2, 8)],
                         [t(2, 2, 9), t(2, 2, 8)], [t(2, 2, 12), t(2, 2, 8)], [t(2, 2, 3), t(2, 2, 2)],
                         [t(2, 2), t(2, 2)], [t(2, 2), t(2, 2)])
    tree = (buf, [LayerParams(t(3, 13), None, t(4, 13), t(13), None, None)])
    leaves, spec = flatten(tree)
    assert len(leaves) == 4 + 2 * 6 + 3
    back = unflatten(leaves, spec)
    assert isinstance(back[0], ForwardBuffers) and back[0].Zline is None and back[1][0].top_down is None
    assert back[0].S[1] is buf.S[1] and back[1][0].bias is tree[1][0].bias
    copy = _clone(buf)
    assert isinstance(copy, ForwardBuffers) and copy.U[0] is not buf.U[0]
    assert all(torch.equal(a, b) for a, b in zip(_tensors(copy), _tensors(buf)))


def _valid_text(chars: int) -> tuple[str, str]:
    """The first characters of Penn Treebank valid where the shared data is here, else our own words."""
    from model.data import DEFAULT_PTB_DIR, load_corpus
    if (DEFAULT_PTB_DIR / "ptb.char.valid.txt").is_file():
        return load_corpus()["valid"][:chars], "Penn Treebank valid"
    from tests.helpers import toy_text
    return (toy_text(chars // 20 + 1, seed=11) * 2)[:chars], "toy text"


@pytest.mark.parametrize("name,chars,streams", [
    ("ptb-3x256", 3000, "float16"),
    pytest.param("ptb-3x256", 100_000, "float16", marks=pytest.mark.slow),
    pytest.param("ptb-3x512", 20_000, "int8", marks=pytest.mark.slow),
])
def test_inference_that_skips_unchanged_work_is_exact_on_the_bundled_checkpoints(name, chars, streams):
    """Batch 1 without gradients skips products that the step's operation does not need or that did
    not change (DESIGN.md section 11): z identical and every trace within 1e-5 of the dense path,
    and a good share of the work left out. `streams`: the weights' form that inference reads."""
    from model.checkpoint import load_checkpoint
    from model.data import Vocabulary
    from model.loops import cpp
    from model.loops.contract import Layout
    from tests.helpers import ROOT
    model, config = load_checkpoint(ROOT / "checkpoints" / name)
    text, _ = _valid_text(chars)
    ids = Vocabulary(config["vocabulary"]).encode(text)[:, None]
    cpp.extension().reset_work_count()
    with torch.no_grad():
        fast = model(ids)
    dense_work, done_work = cpp.extension().work_count()
    layout = Layout.of(model.rnn.cfg)
    for l, W in enumerate(model.rnn._stacked[1]):
        in_bytes = cpp.exact_bytes(W, cpp.row_parts(layout, l)) is not None
        assert in_bytes == (streams == "int8") and (in_bytes or cpp.exact_half(W) is not None)
    x = model.embedding(ids).detach().requires_grad_()      # with gradients: the dense path, every product
    h, z, z_soft, _, _ = model.rnn(x)
    assert torch.equal(fast["z"], z.detach())
    torch.testing.assert_close(fast["h"], h.detach(), rtol=0, atol=1e-5)
    torch.testing.assert_close(fast["z_soft"], z_soft.detach(), rtol=0, atol=1e-5)
    assert 0.3 < done_work / dense_work < 0.9


@pytest.mark.parametrize("backend", ["cpp", "python"])
def test_a_training_step_leaves_no_reference_cycle_holding_buffers(backend):
    """Every buffer of a step is freed when the step's graph goes: nothing waits for the garbage
    collector (a cycle through the saved tensors once held some 260 MB per step of a 3 x 256 run)."""
    import gc
    from model.hmlstm import HMLSTMModel
    torch.manual_seed(0)
    model = HMLSTMModel(HMLSTMConfig(vocab_size=20, input_size=8, hidden_sizes=[16, 16, 16], layer_norm="gates"))
    opt = torch.optim.Adam(model.parameters())
    x, state = torch.randint(0, 20, (12, 4)), None
    gc.collect()
    gc.disable()
    try:
        for _ in range(2):
            out = model(x, state, backend=backend)
            state = out["state"]
            opt.zero_grad()
            out["out"].logsumexp(-1).mean().backward()
            opt.step()
        del out
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        cycles = [o for o in gc.garbage if torch.is_tensor(o)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert cycles == []


def test_the_step_product_is_picked_by_the_cpus_vendor(monkeypatch):
    monkeypatch.delenv("HMLSTM_STEP_PRODUCT", raising=False)
    for vendor, picked in [("GenuineIntel", "packed"), ("AuthenticAMD", "blocked"), ("", "packed")]:
        monkeypatch.setattr(cpp, "cpu_vendor", lambda: vendor)
        assert cpp._step_product_setting() == picked
    monkeypatch.setenv("HMLSTM_STEP_PRODUCT", "mm")
    assert cpp._step_product_setting() == "mm"
    monkeypatch.setenv("HMLSTM_STEP_PRODUCT", "fastest")
    with pytest.raises(ValueError, match="HMLSTM_STEP_PRODUCT"):
        cpp._step_product_setting()
