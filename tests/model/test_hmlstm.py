"""The semantics of DESIGN.md section 3, pinned: COPY, FLUSH, UPDATE, the detectors' gradient."""
import numpy as np
import pytest
import torch

from model.hmlstm import HMLSTM, HMLSTMConfig, HMLSTMLayer, HMLSTMModel, slope_schedule
from model.traces import operations



@pytest.fixture(autouse=True)
def float64():
    """Exact comparisons: these tests run in float64 (the fused tests cover float32)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def make_layer(l=1, sizes=(4, 5, 3), ln="none", seed=0, **kw):
    torch.manual_seed(seed)
    cfg = HMLSTMConfig(input_size=6, hidden_sizes=list(sizes), layer_norm=ln, **kw)
    layer = HMLSTMLayer(cfg, l)
    for p in layer.parameters():
        torch.nn.init.normal_(p, std=0.7)
    return cfg, layer


def step_inputs(cfg, l, B=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    H = cfg.hidden_sizes[l]
    below = cfg.input_size if l == 0 else cfg.hidden_sizes[l - 1]
    above = cfg.hidden_sizes[l + 1] if l + 1 < cfg.num_layers else 1
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    return dict(h_prev=r(B, H), c_prev=r(B, H), h_above=r(B, above), h_below=r(B, below))


@pytest.mark.parametrize("ln", ["none", "gates", "all"])
def test_copy_leaves_h_and_c_bit_identical(ln):
    cfg, layer = make_layer(ln=ln)
    x = step_inputs(cfg, 1)
    zeros = torch.zeros(3, 1)
    h, c, z, soft, line = layer.step(x["h_prev"], x["c_prev"], zeros, x["h_above"], x["h_below"], zeros, 1.7)
    assert torch.equal(h, x["h_prev"]) and torch.equal(c, x["c_prev"])
    assert z is not None and soft is not None       # z is still computed on COPY steps


@pytest.mark.parametrize("ln", ["none", "gates"])
def test_flush_ignores_previous_cell(ln):
    cfg, layer = make_layer(ln=ln)
    x = step_inputs(cfg, 1)
    ones = torch.ones(3, 1)
    out1 = layer.step(x["h_prev"], x["c_prev"], ones, x["h_above"], x["h_below"], ones, 1.0)
    out2 = layer.step(x["h_prev"], 100 * torch.randn(3, 5), ones, x["h_above"], x["h_below"], ones, 1.0)
    assert torch.equal(out1[0], out2[0]) and torch.equal(out1[1], out2[1])
    # ...but the previous cell does matter when the layer updates
    zero = torch.zeros(3, 1)
    u1 = layer.step(x["h_prev"], x["c_prev"], zero, x["h_above"], x["h_below"], ones, 1.0)
    u2 = layer.step(x["h_prev"], x["c_prev"] + 1, zero, x["h_above"], x["h_below"], ones, 1.0)
    assert not torch.allclose(u1[1], u2[1])


def test_update_equals_an_lstm_step_with_the_same_weights():
    cfg, layer = make_layer(l=1)
    x = step_inputs(cfg, 1)
    H = 5
    cell = torch.nn.LSTMCell(4, H)
    order = torch.cat([torch.arange(H, 2 * H), torch.arange(0, H), torch.arange(3 * H, 4 * H),
                       torch.arange(2 * H, 3 * H)])       # ours [f, i, o, g] -> torch [i, f, g, o]
    with torch.no_grad():
        cell.weight_ih.copy_(layer.bottom_up[:, :4 * H].t()[order])
        cell.weight_hh.copy_(layer.recurrent[:, :4 * H].t()[order])
        cell.bias_ih.copy_(layer.bias[:4 * H][order])
        cell.bias_hh.zero_()
    h, c, *_ = layer.step(x["h_prev"], x["c_prev"], torch.zeros(3, 1), x["h_above"], x["h_below"],
                          torch.ones(3, 1), 1.0)
    h_ref, c_ref = cell(x["h_below"], (x["h_prev"], x["c_prev"]))
    torch.testing.assert_close(h, h_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(c, c_ref, rtol=1e-12, atol=1e-12)


def numpy_hmlstm(params, sizes, x, slope, top_detector):
    """DESIGN.md section 3 written out plainly, one layer and one step at a time."""
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    L = len(sizes)
    h = [np.zeros((x.shape[1], n)) for n in sizes]
    c = [np.zeros_like(v) for v in h]
    z = [np.zeros((x.shape[1], 1)) for _ in sizes]
    hs, zs = [], []
    for t in range(x.shape[0]):
        below, z_below = x[t], np.ones((x.shape[1], 1))
        new_h, zrow = [], []
        for l in range(L):
            p, n = params[l], sizes[l]
            has_z = l < L - 1 or top_detector
            s = h[l] @ p["recurrent"] + z_below * (below @ p["bottom_up"]) + p["bias"]
            if l < L - 1:
                s = s + z[l] * (h[l + 1] @ p["top_down"])
            f, i, o, g = sig(s[:, :n]), sig(s[:, n:2 * n]), sig(s[:, 2 * n:3 * n]), np.tanh(s[:, 3 * n:4 * n])
            zp = z[l] if has_z else np.zeros_like(z[l])
            cn = np.where(zp == 1, i * g, np.where(z_below == 1, f * c[l] + i * g, c[l]))
            hn = np.where((zp == 0) & (z_below == 0), h[l], o * np.tanh(cn))
            zn = (np.clip((slope * s[:, 4 * n:] + 1) / 2, 0, 1) > 0.5).astype(float) if has_z else np.zeros_like(zp)
            c[l], z[l] = cn, zn
            new_h.append(hn)
            zrow.append(zn)
            below, z_below = hn, zn
        h = new_h
        hs.append(np.concatenate(h, 1))
        zs.append(np.concatenate(zrow, 1))
    return np.stack(hs), np.stack(zs)


@pytest.mark.parametrize("top_detector", [False, True])
@pytest.mark.parametrize("backend", ["reference", "cpp", "python"])
def test_small_case_against_a_plain_numpy_reference(top_detector, backend):
    torch.manual_seed(1)
    sizes = [3, 4, 2]
    cfg = HMLSTMConfig(input_size=2, hidden_sizes=sizes, top_detector=top_detector)
    rnn = HMLSTM(cfg)
    for p in rnn.parameters():
        torch.nn.init.normal_(p, std=1.0)
    rnn.slope.fill_(1.5)
    x = torch.randn(24, 3, 2)
    h, z, *_ = rnn(x, backend=backend)
    params = [{k: v.detach().numpy() for k, v in layer.named_parameters()} for layer in rnn.layers]
    h_ref, z_ref = numpy_hmlstm(params, sizes, x.numpy(), 1.5, top_detector)
    np.testing.assert_allclose(h.detach().numpy(), h_ref, atol=1e-12)
    np.testing.assert_array_equal(z.detach().numpy(), z_ref)
    # the case exercises every operation: layer 1 UPDATEs and FLUSHes, layer 2 all three, and the top layer
    # UPDATEs after the first step, from a state of its own (its recurrent term on a nonzero h)
    ops = np.stack([operations(np.zeros(3), z_ref[:, b], [True, True, top_detector]) for b in range(3)], 1)
    assert {"U", "F"} <= set(ops[..., 0].ravel()) and {"U", "C", "F"} <= set(ops[..., 1].ravel())
    assert "U" in set(ops[1:, :, 2].ravel())


@pytest.mark.parametrize("top_detector", [False, True])
@pytest.mark.parametrize("backend", ["reference", "cpp", "python"])
def test_every_detector_in_use_gets_a_gradient(top_detector, backend):
    torch.manual_seed(0)
    cfg = HMLSTMConfig(vocab_size=7, input_size=5, hidden_sizes=[6, 6, 6], output_size=6,
                       top_detector=top_detector, z_bias=0.0)
    model = HMLSTMModel(cfg)
    x = torch.randint(0, 7, (30, 4))
    out = model(x, backend=backend)
    loss = torch.nn.functional.cross_entropy(out["out"].reshape(-1, 7), x.roll(-1, 0).reshape(-1))
    loss.backward()
    for l, layer in enumerate(model.rnn.layers):
        if cfg.has_detector(l):
            assert layer.recurrent.grad[:, -1].abs().sum() > 0, f"layer {l + 1}'s z row got no gradient"
            assert layer.bias.grad[-1] != 0
        else:
            assert layer.rows == 4 * 6          # no z row at all for a top layer without detector


@pytest.mark.parametrize("backend", ["python", "cpp"])
def test_top_layer_without_detector_never_flushes(backend):
    torch.manual_seed(0)
    cfg = HMLSTMConfig(vocab_size=5, input_size=3, hidden_sizes=[4, 4], output_size=4, z_bias=3.0)
    model = HMLSTMModel(cfg)
    x = torch.randint(0, 5, (20, 1))
    h0, c0 = torch.randn(1, 8), torch.randn(1, 8)                      # a state whose FLUSH would differ from UPDATE
    out = model(x, (h0, c0, torch.ones(1, 2)), backend=backend)         # ... and claims z^2 = 1
    assert out["z"][..., 1].abs().sum() == 0
    assert out["z"][..., 0].mean() > 0.5         # layer 1 fires a lot with bias +3
    # the top layer's claimed z is ignored: the same run as from a state that says it did not fire
    same = model(x, (h0, c0, torch.tensor([[1.0, 0.0]])), backend="reference")
    torch.testing.assert_close(out["h"], same["h"])
    torch.testing.assert_close(out["out"], same["out"])


def test_nested_boundaries_fire_only_where_the_layer_below_fired():
    torch.manual_seed(2)
    zs = {}
    x = torch.randint(0, 9, (200, 3))
    for nested in (False, True):
        torch.manual_seed(2)
        cfg = HMLSTMConfig(vocab_size=9, input_size=4, hidden_sizes=[5, 5, 5], output_size=5, nested=nested,
                           top_detector=True, z_bias=0.0)
        model = HMLSTMModel(cfg)
        for layer in model.rnn.layers:
            torch.nn.init.normal_(layer.recurrent, std=1.0)
            with torch.no_grad():
                layer.bias[-1] = 0.3
        zs[nested] = model(x)["z"]
    free, z = zs[False], zs[True]
    assert (free[..., 1] > free[..., 0]).any()      # unnested, layer 2 fires where layer 1 did not
    assert (z[..., 1] <= z[..., 0]).all() and (z[..., 2] <= z[..., 1]).all()
    assert z[..., 1].sum() > 0


def test_slope_schedule_is_the_papers_and_capped():
    assert slope_schedule(0) == 1.0
    assert slope_schedule(10) == pytest.approx(1.4)
    assert slope_schedule(1000) == 5.0
    assert slope_schedule(5, rate=0.5, delay=2) == pytest.approx(2.5)
    assert slope_schedule(1, rate=0.5, delay=2) == 1.0


def test_slope_is_a_buffer_not_a_parameter():
    model = HMLSTMModel(HMLSTMConfig(vocab_size=5, input_size=3, hidden_sizes=[4, 4], output_size=4))
    names = [n for n, _ in model.named_parameters()]
    assert not any("slope" in n for n in names)
    model.set_slope(3.0)
    assert model.state_dict()["rnn.slope"].item() == 3.0


def test_slope_sharpens_the_soft_boundary():
    cfg, layer = make_layer()
    x = step_inputs(cfg, 1)
    args = (x["h_prev"], x["c_prev"], torch.zeros(3, 1), x["h_above"], x["h_below"], torch.ones(3, 1))
    soft1 = layer.step(*args, 1.0)[3]
    soft5 = layer.step(*args, 5.0)[3]
    assert ((soft5 - 0.5).abs() >= (soft1 - 0.5).abs() - 1e-12).all()
    assert ((soft5 - 0.5).abs() > (soft1 - 0.5).abs()).any()


def test_output_module_gates_each_layer():
    torch.manual_seed(0)
    cfg = HMLSTMConfig(vocab_size=5, input_size=3, hidden_sizes=[4, 2], output_size=3)
    model = HMLSTMModel(cfg)
    out = model(torch.randint(0, 5, (6, 2)))
    assert out["gate"].shape == (6, 2, 2) and ((out["gate"] > 0) & (out["gate"] < 1)).all()
    # g^l = sigm(w^l . [h^1; ...; h^L]): each layer's gate reads every layer's h
    h, g = out["h"], out["gate"]
    torch.testing.assert_close(g, torch.sigmoid(h @ model.output.gate.weight.t() + model.output.gate.bias))
    # h^e = ReLU(sum_l g^l W_l^e h^l), written out
    W = model.output.embed.weight
    he = torch.relu(g[..., :1] * (h[..., :4] @ W[:, :4].t()) + g[..., 1:] * (h[..., 4:] @ W[:, 4:].t()))
    torch.testing.assert_close(model.head(he), out["out"])
