"""From-scratch RNN/LSTM/GRU layers reproduce torch.nn's outputs and gradients via from_torch."""
import pytest
import torch

from rnncourse.layers import GRU, LSTM, RNN

PAIRS = [(RNN, torch.nn.RNN), (LSTM, torch.nn.LSTM), (GRU, torch.nn.GRU)]


@pytest.mark.parametrize("ours_cls,torch_cls", PAIRS)
@pytest.mark.parametrize("num_layers,batch_first,bias", [(1, False, True), (3, True, True), (2, False, False)])
def test_from_torch_reproduces_outputs_and_gradients(ours_cls, torch_cls, num_layers, batch_first, bias):
    torch.manual_seed(0)
    ref = torch_cls(3, 5, num_layers=num_layers, batch_first=batch_first, bias=bias).double()
    ours = ours_cls.from_torch(ref)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    x = torch.randn(2, 6, 3, dtype=torch.float64) if batch_first else torch.randn(6, 2, 3, dtype=torch.float64)
    if torch_cls is torch.nn.LSTM:
        state = (torch.randn(num_layers, 2, 5).double(), torch.randn(num_layers, 2, 5).double())
    else:
        state = torch.randn(num_layers, 2, 5).double()
    out_r, st_r = ref(x, state)
    out_o, st_o = ours(x, state)
    torch.testing.assert_close(out_o, out_r)
    torch.testing.assert_close(st_o, st_r)
    loss_r = out_r.square().sum()
    loss_o = out_o.square().sum()
    for (name, p_r), p_o in zip(ref.named_parameters(), ours.parameters()):
        g_r, = torch.autograd.grad(loss_r, p_r, retain_graph=True)
        g_o, = torch.autograd.grad(loss_o, p_o, retain_graph=True)
        torch.testing.assert_close(g_o, g_r, msg=name)


@pytest.mark.parametrize("ours_cls,torch_cls", PAIRS)
def test_default_state_and_float32(ours_cls, torch_cls):
    ref = torch_cls(4, 3)
    ours = ours_cls.from_torch(ref)
    x = torch.randn(5, 2, 4)
    torch.testing.assert_close(ours(x)[0], ref(x)[0], atol=1e-5, rtol=1e-5)


def test_errors():
    with pytest.raises(TypeError, match="module must be a torch.nn.LSTM"):
        LSTM.from_torch(torch.nn.GRU(2, 2))
    with pytest.raises(ValueError, match="unidirectional"):
        GRU.from_torch(torch.nn.GRU(2, 2, bidirectional=True))
    with pytest.raises(ValueError, match=r"x must have shape \(T, B, D\) with D=4"):
        RNN(4, 3)(torch.zeros(5, 2, 3))
    with pytest.raises(ValueError, match=r"h0 must have shape \(1, 2, 3\)"):
        GRU(4, 3)(torch.zeros(5, 2, 4), torch.zeros(2, 3))


def test_dropout_between_layers_only_in_training():
    torch.manual_seed(0)
    m = LSTM(3, 8, num_layers=2, dropout=0.5)
    x = torch.randn(4, 2, 3)
    m.eval()
    a, b = m(x)[0], m(x)[0]
    assert torch.equal(a, b)
    m.train()
    assert not torch.equal(m(x)[0], m(x)[0])


def test_hand_written_backward_passes_gradcheck():
    from rnncourse.layers import _GRUSequence, _LSTMSequence

    torch.manual_seed(3)
    T, B, H = 4, 2, 3
    d = dict(dtype=torch.float64, requires_grad=True)
    xw, h0, c0, W = torch.randn(T, B, 4 * H, **d), torch.randn(B, H, **d), torch.randn(B, H, **d), torch.randn(4 * H, H, **d)
    assert torch.autograd.gradcheck(lambda *a: _LSTMSequence.apply(*a), (xw, h0, c0, W))
    xw3, W3, b3 = torch.randn(T, B, 3 * H, **d), torch.randn(3 * H, H, **d), torch.randn(3 * H, **d)
    assert torch.autograd.gradcheck(lambda *a: _GRUSequence.apply(*a), (xw3, h0, W3, b3))


def _state(torch_cls, L, B, H, dtype, requires_grad=False):
    make = lambda: torch.randn(L, B, H, dtype=dtype, requires_grad=requires_grad)
    return (make(), make()) if torch_cls is torch.nn.LSTM else make()


def _flat(state):
    return list(state) if isinstance(state, tuple) else [state]


@pytest.mark.parametrize("ours_cls,torch_cls", PAIRS)
@pytest.mark.parametrize("batch_first", [False, True])
def test_gradients_reach_inputs_and_initial_state_like_torch(ours_cls, torch_cls, batch_first):
    torch.manual_seed(1)
    ref = torch_cls(3, 4, num_layers=2, batch_first=batch_first).double()
    ours = ours_cls.from_torch(ref)
    x = torch.randn(7, 2, 3, dtype=torch.float64, requires_grad=True)  # (B, T, D) or (T, B, D) alike
    state = _state(torch_cls, 2, 7 if batch_first else 2, 4, torch.float64, requires_grad=True)
    x0, s0 = x.detach().clone(), [s.detach().clone() for s in _flat(state)]
    leaves = [x, *_flat(state)]
    results = []
    for module in (ref, ours):
        out, st = module(x, state)
        w = torch.linspace(-1, 1, out.numel(), dtype=torch.float64).reshape(out.shape)
        loss = (out * w).sum() + sum(s.square().sum() for s in _flat(st))  # uses h_n (and c_n) too
        results.append(torch.autograd.grad(loss, leaves + list(module.parameters())))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b)
    assert torch.equal(x, x0) and all(torch.equal(s, s_) for s, s_ in zip(_flat(state), s0))


@pytest.mark.parametrize("ours_cls,torch_cls", PAIRS)
def test_loss_on_the_final_state_only(ours_cls, torch_cls):
    """Only h_n / c_n reach the loss: the hand-written backward gets zero output gradients."""
    torch.manual_seed(2)
    ref = torch_cls(2, 3, num_layers=2).double()
    ours = ours_cls.from_torch(ref)
    x = torch.randn(5, 2, 2, dtype=torch.float64)
    grads = []
    for module in (ref, ours):
        _, st = module(x)
        grads.append(torch.autograd.grad(_flat(st)[-1].sum(), list(module.parameters())))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("ours_cls,torch_cls", PAIRS)
def test_float32_gradients(ours_cls, torch_cls):
    torch.manual_seed(3)
    ref = torch_cls(4, 6, batch_first=True)
    ours = ours_cls.from_torch(ref)
    x = torch.randn(3, 8, 4)
    g = [torch.autograd.grad(m(x)[0].square().sum(), list(m.parameters())) for m in (ref, ours)]
    assert ours(x)[0].dtype == torch.float32
    for a, b in zip(*g):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_state_argument_errors():
    with pytest.raises(ValueError, match=r"state must be a pair \(h0, c0\)"):
        LSTM(2, 3)(torch.zeros(4, 1, 2), torch.zeros(1, 1, 3))
    with pytest.raises(ValueError, match=r"c0 must have shape \(2, 1, 3\), got Tensor of shape \(1, 1, 3\)"):
        LSTM(2, 3, num_layers=2)(torch.zeros(4, 1, 2), (torch.zeros(2, 1, 3), torch.zeros(1, 1, 3)))
    with pytest.raises(TypeError, match="h0 must be a torch.Tensor"):
        RNN(2, 3)(torch.zeros(4, 1, 2), [[[0.0] * 3]])
    with pytest.raises(ValueError, match="dropout must be in"):
        GRU(2, 3, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size must be >= 1, got 0"):
        RNN(2, 0)
    with pytest.raises(ValueError, match="nonlinearity='tanh'|tanh"):
        RNN.from_torch(torch.nn.RNN(2, 2, nonlinearity="relu"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("ours_cls,torch_cls", PAIRS)
def test_from_torch_on_cuda(ours_cls, torch_cls):
    ref = torch_cls(3, 8, num_layers=2).cuda().double()
    ours = ours_cls.from_torch(ref)
    x = torch.randn(6, 2, 3, device="cuda", dtype=torch.float64)
    assert next(ours.parameters()).device.type == "cuda"
    torch.testing.assert_close(ours(x)[0], ref(x)[0])
