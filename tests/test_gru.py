"""rnncourse.gru against torch.nn.GRUCell / GRU with copied weights."""
import pytest
import torch

from rnncourse.gru import cho_gru_step, gru_forward, gru_from_rnn, gru_step, rnn_param_counts


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_gru_step_matches_gru_cell(dtype, tol):
    torch.manual_seed(0)
    c = torch.nn.GRUCell(3, 4).to(dtype)
    x, h = torch.randn(5, 3, dtype=dtype), torch.randn(5, 4, dtype=dtype)
    h0 = h.clone()
    out = gru_step(x, h, c.weight_ih, c.weight_hh, c.bias_ih, c.bias_hh)
    torch.testing.assert_close(out, c(x, h), atol=tol, rtol=0)
    assert torch.equal(h, h0) and out.dtype == dtype


def test_reset_gate_after_the_matrix_product_is_not_cho_convention():
    torch.manual_seed(1)
    c = torch.nn.GRUCell(3, 4).double()
    x, h = torch.randn(2, 3).double(), torch.randn(2, 4).double()
    H = 4
    W_ir, W_iz, W_in = c.weight_ih.chunk(3); W_hr, W_hz, W_hn = c.weight_hh.chunk(3)
    b_ir, b_iz, b_in = c.bias_ih.chunk(3); b_hr, b_hz, b_hn = c.bias_hh.chunk(3)
    r = torch.sigmoid(x @ W_ir.T + b_ir + h @ W_hr.T + b_hr)
    z = torch.sigmoid(x @ W_iz.T + b_iz + h @ W_hz.T + b_hz)
    n_cho = torch.tanh(x @ W_in.T + b_in + (r * h) @ W_hn.T + b_hn)
    cho = (1 - z) * n_cho + z * h
    ours = gru_step(x, h, c.weight_ih, c.weight_hh, c.bias_ih, c.bias_hh)
    assert (ours - cho).abs().max() > 1e-4


@pytest.mark.parametrize("T", [1, 8])
def test_gru_forward_matches_torch_gru_with_gradients(T):
    torch.manual_seed(2)
    m = torch.nn.GRU(3, 5).double()
    x = torch.randn(T, 2, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 5, dtype=torch.float64)
    out, hT = m(x, h0[None])
    hs, h = gru_forward(x, h0, m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0)
    torch.testing.assert_close(hs, out)
    torch.testing.assert_close(h, hT[0])
    g1 = torch.autograd.grad(hs.square().sum(), [x, m.weight_hh_l0])
    g2 = torch.autograd.grad(out.square().sum(), [x, m.weight_hh_l0])
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("D,H", [(1, 1), (10, 20), (65, 512)])
def test_param_counts_match_torch_modules(D, H):
    counts = rnn_param_counts(D, H)
    for key, cls in [("rnn", torch.nn.RNN), ("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU)]:
        assert counts[key] == sum(p.numel() for p in cls(D, H).parameters()), key
    with pytest.raises(ValueError, match="hidden_size must be >= 1, got 0"):
        rnn_param_counts(3, 0)


def test_gru_forward_float32_inputs_unchanged_and_step_by_step():
    torch.manual_seed(3)
    m = torch.nn.GRU(3, 4)
    x, h0 = torch.randn(6, 2, 3), torch.randn(2, 4)
    params = [m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0]
    before = [a.detach().clone() for a in [x, h0, *params]]
    hs, h = gru_forward(x, h0, *params)
    assert hs.dtype == torch.float32 and hs.shape == (6, 2, 4)
    torch.testing.assert_close(hs, m(x, h0[None])[0], atol=1e-5, rtol=1e-5)
    h_step = h0
    for t in range(6):
        h_step = gru_step(x[t], h_step, *params)
    torch.testing.assert_close(h, h_step, atol=1e-6, rtol=0)
    for a, b in zip([x, h0, *params], before):
        assert torch.equal(a, b)


def test_gru_bad_arguments_name_the_argument():
    c = torch.nn.GRUCell(3, 4)
    with pytest.raises(ValueError, match=r"W_hh must have shape \(12, 4\), got Parameter of shape \(12, 3\)"):
        gru_step(torch.zeros(2, 3), torch.zeros(2, 4), c.weight_ih, torch.nn.Parameter(torch.zeros(12, 3)),
                 c.bias_ih, c.bias_hh)
    with pytest.raises(ValueError, match=r"h0 must have shape \(2, \?\)"):
        gru_forward(torch.zeros(5, 2, 3), torch.zeros(3, 4), c.weight_ih, c.weight_hh, c.bias_ih, c.bias_hh)
    with pytest.raises(TypeError, match=r"h_prev must be a torch.Tensor, got \[\[0.0, 0.0"):
        gru_step(torch.zeros(1, 3), [[0.0] * 4], c.weight_ih, c.weight_hh, c.bias_ih, c.bias_hh)
    with pytest.raises(TypeError, match="input_size must be an int, got 3.0"):
        rnn_param_counts(3.0, 4)


def _copy_into(module, weights):
    with torch.no_grad():
        for p, w in zip(module.parameters(), weights):  # weight_ih, weight_hh, bias_ih, bias_hh
            p.copy_(w)
    return module


@pytest.mark.parametrize("saturation", [30.0, 40.0])
def test_gru_from_rnn_makes_torch_gru_equal_torch_rnn_even_for_large_preactivations(saturation):
    torch.manual_seed(4)
    rnn = torch.nn.RNN(3, 5, dtype=torch.float64)
    weights = gru_from_rnn(rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0 + rnn.bias_hh_l0, saturation)
    gru = _copy_into(torch.nn.GRU(3, 5, dtype=torch.float64), weights)
    cell = _copy_into(torch.nn.GRUCell(3, 5, dtype=torch.float64), weights)
    x = torch.randn(20, 4, 3, dtype=torch.float64) * torch.tensor([0.3, 1.0, 10.0, 60.0], dtype=torch.float64)[:, None]
    h0 = torch.randn(1, 4, 5, dtype=torch.float64)
    with torch.no_grad():
        out_rnn, h_rnn = rnn(x, h0)
        out_gru, h_gru = gru(x, h0)
        h, cell_states = h0[0], []
        for t in range(20):
            h = cell(x[t], h)
            cell_states.append(h)
    assert (x @ rnn.weight_ih_l0.T).abs().max() > 30  # the inputs alone would move a gate that read them
    assert (out_gru - out_rnn).abs().max() < 1e-12 and (h_gru - h_rnn).abs().max() < 1e-12
    assert (torch.stack(cell_states) - out_rnn).abs().max() < 1e-12
    assert (out_rnn.abs() < 0.9).any() and (out_rnn.abs() > 0.999).any()  # unsaturated and saturated steps


def test_gru_from_rnn_layout_gates_open_and_closed_rnn_in_the_candidate_block():
    torch.manual_seed(5)
    W_ih, W_hh, b = torch.randn(4, 3), torch.randn(4, 4), torch.randn(4)
    before = [W_ih.clone(), W_hh.clone(), b.clone()]
    W_ih3, W_hh3, b_ih3, b_hh3 = gru_from_rnn(W_ih, W_hh, b, saturation=7.5)
    assert (W_ih3.shape, W_hh3.shape, b_ih3.shape, b_hh3.shape) == ((12, 3), (12, 4), (12,), (12,))
    assert all(t.dtype == torch.float32 for t in (W_ih3, W_hh3, b_ih3, b_hh3))
    assert torch.equal(W_ih3[8:], W_ih) and torch.equal(W_hh3[8:], W_hh)
    assert not W_ih3[:8].any() and not W_hh3[:8].any()
    total = b_ih3 + b_hh3
    assert torch.equal(total[:4], torch.full((4,), 7.5)) and torch.equal(total[4:8], torch.full((4,), -7.5))
    assert torch.equal(total[8:], b)
    assert all(torch.equal(a, c) for a, c in zip((W_ih, W_hh, b), before))
    r, z = torch.sigmoid(torch.tensor([30.0, -30.0], dtype=torch.float64))
    assert 0 < 1 - r < 1e-13 and 0 < z < 1e-13  # the default saturation: gates within 1e-13 of 1 and 0


def test_gru_from_rnn_is_differentiable_and_names_bad_arguments():
    W_ih = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    W_ih3, *_ = gru_from_rnn(W_ih, torch.zeros(4, 4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64))
    (grad,) = torch.autograd.grad(W_ih3[8:].sum(), W_ih)
    assert torch.equal(grad, torch.ones_like(W_ih))
    with pytest.raises(ValueError, match=r"W_hh must have shape \(4, 4\), got Tensor of shape \(3, 3\)"):
        gru_from_rnn(torch.zeros(4, 3), torch.zeros(3, 3), torch.zeros(4))
    with pytest.raises(ValueError, match=r"b must have shape \(4,\), got Tensor of shape \(12,\)"):
        gru_from_rnn(torch.zeros(4, 3), torch.zeros(4, 4), torch.zeros(12))
    with pytest.raises(ValueError, match="saturation must be a finite number > 0, got -30.0"):
        gru_from_rnn(torch.zeros(4, 3), torch.zeros(4, 4), torch.zeros(4), saturation=-30.0)


def cho_per_gate(x, h, W_ih, W_hh, b_ih, b_hh):
    """Cho et al.'s step written gate by gate with einsum, independent of rnncourse.gru."""
    H = h.shape[1]
    pre = {}
    for k, gate in enumerate("rzn"):
        rows = slice(k * H, (k + 1) * H)
        pre[gate] = (torch.einsum("hd,bd->bh", W_ih[rows], x) + b_ih[rows], W_hh[rows], b_hh[rows])
    r = torch.sigmoid(pre["r"][0] + torch.einsum("hk,bk->bh", pre["r"][1], h) + pre["r"][2])
    z = torch.sigmoid(pre["z"][0] + torch.einsum("hk,bk->bh", pre["z"][1], h) + pre["z"][2])
    reset_h = r * h  # Cho: the state is reset first, then multiplied by W_hn
    n = torch.tanh(pre["n"][0] + torch.einsum("hk,bk->bh", pre["n"][1], reset_h) + pre["n"][2])
    return torch.lerp(n, h, z)  # n + z (h - n) = (1 - z) n + z h


@pytest.mark.parametrize("B,D,H", [(5, 3, 4), (1, 1, 1), (3, 6, 2)])
def test_cho_gru_step_matches_an_independent_per_gate_implementation(B, D, H):
    torch.manual_seed(6)
    c = torch.nn.GRUCell(D, H, dtype=torch.float64)
    x, h = torch.randn(B, D, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    w = (c.weight_ih, c.weight_hh, c.bias_ih, c.bias_hh)
    torch.testing.assert_close(cho_gru_step(x, h, *w), cho_per_gate(x, h, *w), atol=1e-14, rtol=0)


def test_cho_gru_step_equals_gru_cell_when_the_reset_gate_is_open_and_differs_otherwise():
    torch.manual_seed(7)
    c = torch.nn.GRUCell(3, 4, dtype=torch.float64)
    x, h = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    with torch.no_grad():
        assert (cho_gru_step(x, h, c.weight_ih, c.weight_hh, c.bias_ih, c.bias_hh) - c(x, h)).abs().max() > 1e-3
        c.bias_ih[:4] = 50.0  # r = σ(50 + ...) = 1 in float64
        torch.testing.assert_close(cho_gru_step(x, h, c.weight_ih, c.weight_hh, c.bias_ih, c.bias_hh), c(x, h),
                                   atol=1e-14, rtol=0)


def test_cho_gru_step_gradients_pass_gradcheck_and_float32_stays_float32():
    torch.manual_seed(8)
    args = [torch.randn(*s, dtype=torch.float64, requires_grad=True) for s in ((2, 3), (2, 4), (12, 3), (12, 4), (12,), (12,))]
    assert torch.autograd.gradcheck(cho_gru_step, args)
    args32 = [a.detach().float() for a in args]
    before = [a.clone() for a in args32]
    out = cho_gru_step(*args32)
    assert out.dtype == torch.float32 and out.shape == (2, 4)
    torch.testing.assert_close(out, cho_per_gate(*args32), atol=1e-6, rtol=0)
    assert all(torch.equal(a, b) for a, b in zip(args32, before))
    with pytest.raises(ValueError, match=r"b_hh must have shape \(12,\), got Tensor of shape \(8,\)"):
        cho_gru_step(*args32[:5], torch.zeros(8))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gru_functions_run_on_the_inputs_device():
    m = torch.nn.GRU(3, 4).cuda()
    x, h0 = torch.randn(5, 2, 3, device="cuda"), torch.zeros(2, 4, device="cuda")
    hs, _ = gru_forward(x, h0, m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0)
    assert hs.device.type == "cuda"
    torch.testing.assert_close(hs, m(x)[0], atol=1e-5, rtol=1e-5)
    weights = gru_from_rnn(torch.randn(4, 3, device="cuda"), torch.randn(4, 4, device="cuda"), torch.randn(4, device="cuda"))
    assert all(w.device.type == "cuda" for w in weights)
    assert cho_gru_step(x[0], h0, m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0).device.type == "cuda"
