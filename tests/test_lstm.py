"""rnncourse.lstm against torch.nn.LSTMCell / LSTM with copied weights, float64 and float32."""
import pytest
import torch

from rnncourse.lstm import init_forget_bias, lstm_forward, lstm_from_rnn, lstm_step, peephole_lstm_step


def cell(D=3, H=4, dtype=torch.float64):
    torch.manual_seed(0)
    return torch.nn.LSTMCell(D, H).to(dtype)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize("B", [1, 4])
def test_lstm_step_matches_lstm_cell(dtype, tol, B):
    c = cell(dtype=dtype)
    x, h, cc = torch.randn(B, 3, dtype=dtype), torch.randn(B, 4, dtype=dtype), torch.randn(B, 4, dtype=dtype)
    args = [x, h, cc, c.weight_ih, c.weight_hh, c.bias_ih, c.bias_hh]
    before = [a.detach().clone() for a in args]
    h1, c1 = lstm_step(*args)
    rh, rc = c(x, (h, cc))
    assert h1.dtype == dtype and h1.shape == (B, 4)
    torch.testing.assert_close(h1, rh, atol=tol, rtol=0)
    torch.testing.assert_close(c1, rc, atol=tol, rtol=0)
    for a, b in zip(args, before):
        assert torch.equal(a, b)


def test_lstm_step_gradients_match():
    c = cell()
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    h1, c1 = lstm_step(x, torch.zeros(2, 4, dtype=torch.float64), torch.zeros(2, 4, dtype=torch.float64),
                       c.weight_ih, c.weight_hh, c.bias_ih, c.bias_hh)
    g_ours = torch.autograd.grad((h1.sum() + c1.sum()), [x, c.weight_hh])
    rh, rc = c(x)
    g_ref = torch.autograd.grad((rh.sum() + rc.sum()), [x, c.weight_hh])
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b)


def test_gate_order_matters():
    """Swapping the i and f blocks gives a different answer: the oracle can tell gate orders apart."""
    c = cell()
    x, h, cc = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    perm = torch.cat([torch.arange(4, 8), torch.arange(0, 4), torch.arange(8, 16)])
    swapped = lstm_step(x, h, cc, c.weight_ih[perm], c.weight_hh[perm], c.bias_ih[perm], c.bias_hh[perm])
    assert (swapped[1] - c(x, (h, cc))[1]).abs().max() > 1e-3


@pytest.mark.parametrize("T", [1, 9])
def test_lstm_forward_matches_torch_lstm(T):
    torch.manual_seed(1)
    m = torch.nn.LSTM(3, 5).double()
    x = torch.randn(T, 2, 3, dtype=torch.float64)
    h0, c0 = torch.randn(2, 5, dtype=torch.float64), torch.randn(2, 5, dtype=torch.float64)
    out, (hT, cT) = m(x, (h0[None], c0[None]))
    hs, (h, c) = lstm_forward(x, h0, c0, m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0)
    torch.testing.assert_close(hs, out)
    torch.testing.assert_close(h, hT[0])
    torch.testing.assert_close(c, cT[0])


def test_peephole_step_equations():
    torch.manual_seed(2)
    B, D, H = 2, 3, 4
    x, h, c = torch.randn(B, D).double(), torch.randn(B, H).double(), torch.randn(B, H).double()
    W_ih, W_hh, b = torch.randn(4 * H, D).double(), torch.randn(4 * H, H).double(), torch.randn(4 * H).double()
    p_i, p_f, p_o = torch.randn(H).double(), torch.randn(H).double(), torch.randn(H).double()
    h1, c1 = peephole_lstm_step(x, h, c, W_ih, W_hh, b, p_i, p_f, p_o)
    # written out gate by gate, independently of the vectorised code
    pre = lambda k: x @ W_ih[k * H:(k + 1) * H].T + h @ W_hh[k * H:(k + 1) * H].T + b[k * H:(k + 1) * H]
    i = torch.sigmoid(pre(0) + p_i * c); f = torch.sigmoid(pre(1) + p_f * c)
    g = torch.tanh(pre(2)); o = torch.sigmoid(pre(3) + p_o * c)
    c_ref = f * c + i * g
    torch.testing.assert_close(c1, c_ref)
    torch.testing.assert_close(h1, o * torch.tanh(c_ref))
    # zero peepholes reduce to the ordinary LSTM with b_hh = 0
    h2, c2 = peephole_lstm_step(x, h, c, W_ih, W_hh, b, *(torch.zeros(H).double(),) * 3)
    torch.testing.assert_close((h2, c2), lstm_step(x, h, c, W_ih, W_hh, b, torch.zeros(4 * H).double()))


def test_init_forget_bias():
    c = cell()
    b_ih, b_hh = c.bias_ih.detach().clone(), c.bias_hh.detach().clone()
    new_ih, new_hh = init_forget_bias(c.bias_ih, c.bias_hh, 1.0)
    H = 4
    torch.testing.assert_close(new_ih[H:2 * H] + new_hh[H:2 * H], torch.ones(H, dtype=torch.float64))
    keep = torch.cat([torch.arange(0, H), torch.arange(2 * H, 4 * H)])
    assert torch.equal(new_ih[keep], b_ih[keep]) and torch.equal(new_hh[keep], b_hh[keep])
    assert torch.equal(c.bias_ih, b_ih), "inputs unchanged"
    with pytest.raises(ValueError, match="b_ih must have length 4H"):
        init_forget_bias(torch.zeros(6), torch.zeros(6), 1.0)


def test_bad_shapes_name_the_argument():
    c = cell()
    with pytest.raises(ValueError, match=r"W_hh must have shape \(16, 4\)"):
        lstm_step(torch.zeros(2, 3).double(), torch.zeros(2, 4).double(), torch.zeros(2, 4).double(),
                  c.weight_ih, c.weight_hh[:, :3], c.bias_ih, c.bias_hh)
    with pytest.raises(TypeError, match="x_t must be a torch.Tensor, got ndarray"):
        import numpy as np
        lstm_step(np.zeros((2, 3)), torch.zeros(2, 4), torch.zeros(2, 4), c.weight_ih, c.weight_hh, c.bias_ih, c.bias_hh)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_lstm_forward_outputs_and_gradients_match_torch_lstm(dtype, tol):
    torch.manual_seed(4)
    m = torch.nn.LSTM(3, 4).to(dtype)
    T, B = 5, 2
    x = torch.randn(T, B, 3, dtype=dtype, requires_grad=True)
    h0 = torch.randn(B, 4, dtype=dtype, requires_grad=True)
    c0 = torch.randn(B, 4, dtype=dtype, requires_grad=True)
    params = [m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0]
    before = [a.detach().clone() for a in [x, h0, c0, *params]]
    hs, (h, c) = lstm_forward(x, h0, c0, *params)
    out, (hT, cT) = m(x, (h0[None], c0[None]))
    assert hs.dtype == dtype and hs.shape == (T, B, 4)
    torch.testing.assert_close(hs, out, atol=tol, rtol=0)
    w = torch.randn(T, B, 4, dtype=dtype)  # a loss that weights every step and the final cell
    ours = torch.autograd.grad((hs * w).sum() + c.square().sum(), [x, h0, c0, *params])
    ref = torch.autograd.grad((out * w).sum() + cT.square().sum(), [x, h0, c0, *params])
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, atol=10 * tol, rtol=0)
    for a, b in zip([x, h0, c0, *params], before):
        assert torch.equal(a, b)


def test_peephole_float32_and_gradients_reach_the_peepholes():
    torch.manual_seed(5)
    B, D, H = 3, 2, 4
    args = [torch.randn(B, D), torch.randn(B, H), torch.randn(B, H), torch.randn(4 * H, D),
            torch.randn(4 * H, H), torch.randn(4 * H)] + [torch.randn(H, requires_grad=True) for _ in range(3)]
    before = [a.detach().clone() for a in args]
    h1, c1 = peephole_lstm_step(*args)
    assert h1.dtype == torch.float32 and h1.shape == (B, H) and c1.shape == (B, H)
    grads = torch.autograd.grad(h1.sum(), args[-3:])
    assert all(g.abs().max() > 0 for g in grads)  # each peephole matters for h_t
    for a, b in zip(args, before):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match=r"p_o must have shape \(4,\)"):
        peephole_lstm_step(*args[:-1], torch.zeros(3))


@pytest.mark.parametrize("value", [1.0, -2.5, 3])
def test_init_forget_bias_sets_the_forget_gate_of_torch_lstm_cell(value):
    """With zero weights and inputs the forget gate of torch's cell is σ(b_if + b_hf): it must be σ(value)."""
    c = cell(dtype=torch.float32)
    new_ih, new_hh = init_forget_bias(c.bias_ih, c.bias_hh, value)
    assert new_ih.dtype == torch.float32 and not new_ih.requires_grad
    with torch.no_grad():
        c.weight_ih.zero_(); c.weight_hh.zero_()
        c.bias_ih.copy_(new_ih); c.bias_hh.copy_(new_hh)
        x, h = torch.zeros(1, 3), torch.zeros(1, 4)
        c_prev = torch.ones(1, 4)
        _, with_prev = c(x, (h, c_prev))
        _, without = c(x, (h, torch.zeros(1, 4)))
    f = with_prev - without  # = f ⊙ c_prev with c_prev = 1
    torch.testing.assert_close(f, torch.sigmoid(torch.full((1, 4), float(value))))


def test_init_forget_bias_argument_errors():
    b = torch.zeros(8)
    with pytest.raises(TypeError, match="value must be a real number, got '1'"):
        init_forget_bias(b, b, "1")
    with pytest.raises(ValueError, match="value must be finite, got inf"):
        init_forget_bias(b, b, float("inf"))
    with pytest.raises(ValueError, match=r"b_hh must have shape \(8,\)"):
        init_forget_bias(b, torch.zeros(4), 1.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_lstm_functions_run_on_the_inputs_device():
    m = torch.nn.LSTM(3, 4).cuda()
    x, h0, c0 = torch.randn(5, 2, 3, device="cuda"), torch.zeros(2, 4, device="cuda"), torch.zeros(2, 4, device="cuda")
    params = [m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0]
    hs, _ = lstm_forward(x, h0, c0, *params)
    assert hs.device.type == "cuda"
    torch.testing.assert_close(hs, m(x)[0], atol=1e-5, rtol=1e-5)
    assert init_forget_bias(m.bias_ih_l0, m.bias_hh_l0, 1.0)[0].device.type == "cuda"


def double_tanh_rnn(x, W_ih, W_hh, b):
    """``h_t = tanh(tanh(x_t W_ih^T + h_{t-1} W_hh^T + b))`` from ``h_0 = 0``, written out step by step."""
    h, hs = torch.zeros(x.shape[1], W_hh.shape[0], dtype=x.dtype), []
    for t in range(x.shape[0]):
        h = torch.tanh(torch.tanh(x[t] @ W_ih.T + h @ W_hh.T + b))
        hs.append(h)
    return torch.stack(hs)


@pytest.mark.parametrize("saturation", [30.0, 40])
def test_lstm_from_rnn_makes_torch_lstm_a_double_tanh_rnn(saturation):
    """torch.nn.LSTM and LSTMCell with the returned weights copied in are the tanh(tanh(·)) RNN, float64."""
    torch.manual_seed(6)
    T, B, D, H = 8, 3, 4, 5
    W_ih, W_hh, b = torch.randn(H, D).double(), torch.randn(H, H).double(), torch.randn(H).double()
    x = 3 * torch.randn(T, B, D).double()  # pre-activations of several units: gate weight rows would show
    before = [a.clone() for a in (W_ih, W_hh, b)]
    weights = lstm_from_rnn(W_ih, W_hh, b, saturation)
    assert [tuple(w.shape) for w in weights] == [(4 * H, D), (4 * H, H), (4 * H,), (4 * H,)]
    assert all(w.dtype == torch.float64 for w in weights)
    expected = double_tanh_rnn(x, W_ih, W_hh, b)
    m = torch.nn.LSTM(D, H).double()
    cell = torch.nn.LSTMCell(D, H).double()
    with torch.no_grad():
        for p, w in zip((m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0), weights):
            p.copy_(w)
        for p, w in zip((cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh), weights):
            p.copy_(w)
        out, _ = m(x)
        h = c = torch.zeros(B, H, dtype=torch.float64)
        stepped = []
        for t in range(T):
            h, c = cell(x[t], (h, c))
            stepped.append(h)
    assert (out - expected).abs().max() < 1e-10
    assert (torch.stack(stepped) - expected).abs().max() < 1e-10
    assert (out - double_tanh_rnn(x, W_ih, W_hh, 0 * b)).abs().max() > 1e-3, "b matters: the oracle can tell"
    for a, bb in zip((W_ih, W_hh, b), before):
        assert torch.equal(a, bb)


def test_lstm_from_rnn_layout_and_float32():
    """Gate rows zero, biases ±saturation summed over b_ih + b_hh, the RNN in block g; float32 stays float32."""
    H, D = 3, 2
    W_ih, W_hh, b = torch.randn(H, D), torch.randn(H, H), torch.randn(H)
    W_ih4, W_hh4, b_ih4, b_hh4 = lstm_from_rnn(W_ih, W_hh, b, saturation=12.5)
    assert all(w.dtype == torch.float32 for w in (W_ih4, W_hh4, b_ih4, b_hh4))
    g = slice(2 * H, 3 * H)
    assert torch.equal(W_ih4[g], W_ih) and torch.equal(W_hh4[g], W_hh)
    gates = torch.cat([torch.arange(0, 2 * H), torch.arange(3 * H, 4 * H)])
    assert not W_ih4[gates].any() and not W_hh4[gates].any()
    total = b_ih4 + b_hh4
    assert torch.equal(total, torch.cat([torch.full((H,), 12.5), torch.full((H,), -12.5), b, torch.full((H,), 12.5)]))
    # float32 with the default saturation: torch's LSTMCell agrees with the double tanh to rounding error
    cell = torch.nn.LSTMCell(D, H)
    with torch.no_grad():
        for p, w in zip((cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh), lstm_from_rnn(W_ih, W_hh, b)):
            p.copy_(w)
        x, h = torch.randn(4, D), torch.randn(4, H)
        h1, _ = cell(x, (h, torch.zeros(4, H)))
    torch.testing.assert_close(h1, torch.tanh(torch.tanh(x @ W_ih.T + h @ W_hh.T + b)), atol=1e-6, rtol=0)


def test_lstm_from_rnn_argument_errors():
    W_ih, W_hh, b = torch.zeros(3, 2), torch.zeros(3, 3), torch.zeros(3)
    with pytest.raises(ValueError, match=r"W_hh must have shape \(3, 3\)"):
        lstm_from_rnn(W_ih, torch.zeros(3, 2), b)
    with pytest.raises(ValueError, match=r"b must have shape \(3,\)"):
        lstm_from_rnn(W_ih, W_hh, torch.zeros(12))
    with pytest.raises(ValueError, match="saturation must be a finite number > 0, got -1.0"):
        lstm_from_rnn(W_ih, W_hh, b, -1.0)
    with pytest.raises(TypeError, match="W_ih must be a torch.Tensor"):
        lstm_from_rnn([[0.0]], W_hh, b)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_lstm_from_rnn_stays_on_the_inputs_device():
    W_ih, W_hh, b = torch.randn(3, 2, device="cuda"), torch.randn(3, 3, device="cuda"), torch.randn(3, device="cuda")
    assert all(w.device.type == "cuda" for w in lstm_from_rnn(W_ih, W_hh, b))
