import pytest
import torch

import rnncourse.lstm as ref
from autograder.checks import CheckFailure
from autograder.checks.ch04_lstm import (check_init_forget_bias, check_lstm_forward, check_lstm_from_rnn,
                                         check_lstm_step, check_peephole_lstm_step)


def step_separate(x, h, c, Wi, Wh, bi, bh):  # separate gate matrices
    H = h.shape[1]
    blk = lambda k: x @ Wi[k * H:(k + 1) * H].T + bi[k * H:(k + 1) * H] + h @ Wh[k * H:(k + 1) * H].T + bh[k * H:(k + 1) * H]
    i, f, g, o = torch.sigmoid(blk(0)), torch.sigmoid(blk(1)), torch.tanh(blk(2)), torch.sigmoid(blk(3))
    c2 = f * c + i * g
    return o * torch.tanh(c2), c2


def step_order(order):
    def impl(x, h, c, Wi, Wh, bi, bh):
        H = h.shape[1]
        chunks = (x @ Wi.T + bi + h @ Wh.T + bh).chunk(4, -1)
        i, f, g, o = (chunks[k] for k in order)
        c2 = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c2), c2
    return impl


@pytest.mark.parametrize("impl", [ref.lstm_step, step_separate])
def test_lstm_step_correct(impl):
    check_lstm_step(impl)


@pytest.mark.parametrize("impl,message", [
    (step_order((1, 0, 2, 3)), "gates are in the wrong order \\(you read them as f, i, g, o"),
    (step_order((0, 1, 3, 2)), "wrong order"),
    (lambda x, h, c, Wi, Wh, bi, bh: ref.lstm_step(x, h, c, Wi, Wh, bi, torch.zeros_like(bh)), "b_hh is missing"),
    (lambda x, h, c, Wi, Wh, bi, bh: ref.lstm_step(x, h, c, Wi, Wh, torch.zeros_like(bi), bh), "b_ih is missing"),
])
def test_lstm_step_mistakes(impl, message):
    with pytest.raises(CheckFailure, match=message):
        check_lstm_step(impl)


def forward_loop(x, h0, c0, Wi, Wh, bi, bh):
    hs, h, c = [], h0, c0
    for t in range(x.shape[0]):
        h, c = step_separate(x[t], h, c, Wi, Wh, bi, bh)
        hs.append(h)
    return torch.stack(hs), (h, c)


@pytest.mark.parametrize("impl", [ref.lstm_forward, forward_loop])
def test_lstm_forward_correct(impl):
    check_lstm_forward(impl)


def forward_no_cell_carry(x, h0, c0, Wi, Wh, bi, bh):
    hs, h = [], h0
    for t in range(x.shape[0]):
        h, c = ref.lstm_step(x[t], h, c0, Wi, Wh, bi, bh)
        hs.append(h)
    return torch.stack(hs), (h, c)


@pytest.mark.parametrize("impl,message", [
    (forward_no_cell_carry, "cell state is not carried"),
    (lambda x, h0, c0, *w: (torch.cat([h0[None], ref.lstm_forward(x, h0, c0, *w)[0]]), ref.lstm_forward(x, h0, c0, *w)[1]), "do not include h0"),
    (lambda x, h0, c0, Wi, Wh, bi, bh: ref.lstm_forward(x, h0, c0, Wi[torch.cat([torch.arange(Wi.shape[0] // 4, Wi.shape[0] // 2), torch.arange(0, Wi.shape[0] // 4), torch.arange(Wi.shape[0] // 2, Wi.shape[0])])], Wh[torch.cat([torch.arange(Wh.shape[0] // 4, Wh.shape[0] // 2), torch.arange(0, Wh.shape[0] // 4), torch.arange(Wh.shape[0] // 2, Wh.shape[0])])], bi, bh), "differs|wrong order"),
])
def test_lstm_forward_mistakes(impl, message):
    with pytest.raises(CheckFailure, match=message):
        check_lstm_forward(impl)


def peephole_explicit(x, h, c, Wi, Wh, b, pi, pf, po):
    gi, gf, gg, go = (x @ Wi.T + h @ Wh.T + b).chunk(4, -1)
    c2 = torch.sigmoid(gf + pf * c) * c + torch.sigmoid(gi + pi * c) * torch.tanh(gg)
    return torch.sigmoid(go + po * c) * torch.tanh(c2), c2


@pytest.mark.parametrize("impl", [ref.peephole_lstm_step, peephole_explicit])
def test_peephole_correct(impl):
    check_peephole_lstm_step(impl)


@pytest.mark.parametrize("impl,message", [
    (lambda x, h, c, Wi, Wh, b, pi, pf, po: ref.peephole_lstm_step(x, h, c, Wi, Wh, b, 0 * pi, 0 * pf, 0 * po), "peepholes are missing"),
    (lambda x, h, c, Wi, Wh, b, pi, pf, po: ref.peephole_lstm_step(x, h, c, Wi, Wh, b, pf, pi, po), "p_i and p_f are swapped"),
    (lambda x, h, c, Wi, Wh, b, pi, pf, po: ref.peephole_lstm_step(x, h, c, Wi, Wh, b, pi, pf, 0 * po), "output-gate peephole"),
])
def test_peephole_mistakes(impl, message):
    with pytest.raises(CheckFailure, match=message):
        check_peephole_lstm_step(impl)


def forget_half(bi, bh, v):
    H = bi.shape[0] // 4
    a, b = bi.clone(), bh.clone()
    a[H:2 * H] = v / 2
    b[H:2 * H] = v / 2
    return a, b


def forget_inplace(bi, bh, v):
    H = bi.shape[0] // 4
    with torch.no_grad():
        bi[H:2 * H] = v
        bh[H:2 * H] = 0
    return bi, bh


def forget_wrong_slice(bi, bh, v):
    H = bi.shape[0] // 4
    a, b = bi.clone(), bh.clone()
    a[:H] = v
    b[:H] = 0
    return a, b


def forget_both(bi, bh, v):
    H = bi.shape[0] // 4
    a, b = bi.clone(), bh.clone()
    a[H:2 * H] = v
    b[H:2 * H] = v
    return a, b


@pytest.mark.parametrize("impl", [ref.init_forget_bias, forget_half])
def test_forget_bias_correct(impl):
    check_init_forget_bias(impl)


@pytest.mark.parametrize("impl,message", [
    (forget_inplace, "modified its input"),
    (forget_wrong_slice, "set the i gate's slice instead"),
    (forget_both, "did you set both to value"),
])
def test_forget_bias_mistakes(impl, message):
    with pytest.raises(CheckFailure, match=message):
        check_init_forget_bias(impl)


# ----------------------------------------------------------------------------- lstm_from_rnn

def from_rnn_cat(W_ih, W_hh, b, saturation=30.0):
    """b in b_hh, built block by block with torch.cat."""
    H = W_ih.shape[0]
    z = lambda *s: W_ih.new_zeros(*s)  # noqa: E731
    full = lambda v: W_ih.new_full((H,), v)  # noqa: E731
    return (torch.cat([z(2 * H, W_ih.shape[1]), W_ih, z(H, W_ih.shape[1])]), torch.cat([z(2 * H, H), W_hh, z(H, H)]),
            torch.cat([full(saturation), full(-saturation), z(H), full(saturation)]),
            torch.cat([z(2 * H), b, z(H)]))


def from_rnn_split(W_ih, W_hh, b, saturation=30.0):
    """Every bias split in halves between b_ih and b_hh, weights written into zero tensors."""
    H, D = W_ih.shape
    Wi, Wh = torch.zeros(4 * H, D, dtype=W_ih.dtype), torch.zeros(4 * H, H, dtype=W_ih.dtype)
    Wi[2 * H:3 * H], Wh[2 * H:3 * H] = W_ih, W_hh
    half = torch.tensor([1.0, -1.0, 0.0, 1.0], dtype=W_ih.dtype).repeat_interleave(H) * saturation / 2
    half[2 * H:3 * H] = b / 2
    return Wi, Wh, half, half.clone()


def from_rnn_with(gate_bias=None, block=2, g_ih=True, g_hh=False, gate_noise=0.0, sat_fixed=None, both=False):
    """A builder with one thing changed: the gates' biases (i, f, o) as multiples of saturation, the block of
    the RNN's weights, where b goes, noise in the gate rows, a hard-coded saturation, biases in both."""
    def impl(W_ih, W_hh, b, saturation=30.0):
        s = saturation if sat_fixed is None else sat_fixed
        H, D = W_ih.shape
        Wi, Wh = torch.zeros(4 * H, D, dtype=W_ih.dtype), torch.zeros(4 * H, H, dtype=W_ih.dtype)
        gen = torch.Generator().manual_seed(0)
        Wi += gate_noise * torch.randn(4 * H, D, generator=gen, dtype=W_ih.dtype)
        Wh += gate_noise * torch.randn(4 * H, H, generator=gen, dtype=W_ih.dtype)
        Wi[block * H:(block + 1) * H], Wh[block * H:(block + 1) * H] = W_ih, W_hh
        bi, bh = torch.zeros(4 * H, dtype=W_ih.dtype), torch.zeros(4 * H, dtype=W_ih.dtype)
        for k, m in zip((0, 1, 3), gate_bias or (1, -1, 1)):
            bi[k * H:(k + 1) * H] = m * s
            if both:
                bh[k * H:(k + 1) * H] = m * s
        if g_ih:
            bi[2 * H:3 * H] = b
        if g_hh:
            bh[2 * H:3 * H] = b
        return Wi, Wh, bi, bh
    return impl


def from_rnn_gates_read_as(order):
    """Blocks written in the order the student believes (e.g. i, f, o, g): torch's position k gets gate order[k]."""
    def impl(W_ih, W_hh, b, saturation=30.0):
        blocks = ref.lstm_from_rnn(W_ih, W_hh, b, saturation)
        H = W_ih.shape[0]
        idx = torch.cat([torch.arange("ifgo".index(g) * H, ("ifgo".index(g) + 1) * H) for g in order])
        return tuple(w[idx] for w in blocks)
    return impl


def from_rnn_in_place(W_ih, W_hh, b, saturation=30.0):
    out = ref.lstm_from_rnn(W_ih, W_hh, b, saturation)
    W_ih.zero_()
    return out


def from_rnn_stub(W_ih, W_hh, b, saturation=30.0):
    raise NotImplementedError()


@pytest.mark.parametrize("impl", [ref.lstm_from_rnn, from_rnn_cat, from_rnn_split, from_rnn_with(g_ih=False, g_hh=True)])
def test_lstm_from_rnn_correct(impl):
    check_lstm_from_rnn(impl)


@pytest.mark.parametrize("impl,message", [
    (from_rnn_with(gate_bias=(1, 1, 1)), "the forget gate is open"),
    (from_rnn_with(gate_bias=(-1, 1, 1)), r"you read them as f, i, g, o; torch's order is i, f, g, o"),
    (from_rnn_gates_read_as("ifog"), r"you read them as i, f, o, g"),
    (from_rnn_with(gate_bias=(1, -1, 1), block=3), "RNN's weights are in the block of the output gate o"),
    (from_rnn_with(g_hh=True), "the bias b is counted twice"),
    (from_rnn_with(g_ih=False), "the bias b is missing"),
    (from_rnn_with(gate_noise=0.5), "the weight rows of the gates i, f, o are not zero"),
    (from_rnn_with(gate_bias=(1, -1, -1)), "the output gate is closed"),
    (from_rnn_with(gate_bias=(-1, -1, 1)), "the input gate is closed"),
    (from_rnn_with(gate_noise=1e-9), r"the input gate i's weight rows W_ih4\[0H:1H\] are not zero"),
    (from_rnn_with(sat_fixed=30.0), r"is 30, it should be \+saturation .*use the argument saturation"),
    (from_rnn_with(both=True), r"is 60, it should be \+saturation .*counted twice"),
    (lambda W_ih, W_hh, b, saturation=30.0: tuple(w.mT if w.dim() == 2 else w for w in ref.lstm_from_rnn(W_ih, W_hh, b, saturation)),
     r"W_ih4 has shape \(3, 16\), expected \(4H, D\) = \(16, 3\)"),
    (lambda W_ih, W_hh, b, saturation=30.0: ref.lstm_from_rnn(W_ih.double(), W_hh.double(), b.double(), saturation),
     "has dtype torch.float64, expected torch.float32"),
    (lambda W_ih, W_hh, b, saturation=30.0: ref.lstm_from_rnn(W_ih, W_hh, b, saturation)[:2], "should return four tensors"),
    (from_rnn_in_place, "modified its input W_ih"),
    (from_rnn_stub, "not implemented yet"),
])
def test_lstm_from_rnn_mistakes(impl, message):
    with pytest.raises(CheckFailure, match=message):
        check_lstm_from_rnn(impl)


def test_every_named_lstm_from_rnn_mistake_is_visible_in_every_case():
    """Each wrongly built LSTM differs from the tanh(tanh(·)) RNN by far more than the tolerance, in every case."""
    from autograder.checks import ch04_lstm as chk
    gen = torch.Generator().manual_seed(0)
    for _, T, B, D, H, dtype, sat in chk._FROM_RNN_CASES:
        W_ih, W_hh, b = (torch.randn(*s, generator=gen, dtype=dtype) for s in ((H, D), (H, H), (H,)))
        x = torch.randn(T, B, D, generator=gen, dtype=dtype) * torch.tensor(chk._STEP_SCALES[:T], dtype=dtype)[:, None, None]
        h0, c0 = (0.5 * torch.randn(B, H, generator=gen, dtype=dtype) for _ in range(2))
        noisy = from_rnn_with(gate_noise=0.5)(W_ih, W_hh, b, sat or 30.0)
        want_hs, want_cs = chk._double_tanh_rnn(x, h0, W_ih, W_hh, b)
        mistakes = chk._from_rnn_mistakes(x, h0, c0, W_ih, W_hh, b, sat or 30.0)
        mistakes[chk._NONZERO_GATE_ROWS] = chk._nonzero_gate_rows(x, h0, c0, W_ih, W_hh, b, sat or 30.0, noisy)
        for message, (hs, cs) in mistakes.items():
            if "wrong order" in message and message.endswith("o, f, g, i; torch's order is i, f, g, o)"):
                continue  # i and o swapped: both are open with zero rows, the same LSTM
            gap = (hs - want_hs).abs().max().item()
            assert gap > 1e-2, (message, gap)
