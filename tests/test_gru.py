"""rnncourse.gru against torch.nn.GRUCell / GRU with copied weights."""
import pytest
import torch

from rnncourse.gru import gru_forward, gru_step, rnn_param_counts


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


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gru_functions_run_on_the_inputs_device():
    m = torch.nn.GRU(3, 4).cuda()
    x, h0 = torch.randn(5, 2, 3, device="cuda"), torch.zeros(2, 4, device="cuda")
    hs, _ = gru_forward(x, h0, m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0)
    assert hs.device.type == "cuda"
    torch.testing.assert_close(hs, m(x)[0], atol=1e-5, rtol=1e-5)
