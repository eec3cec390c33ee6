import pytest
import torch

import rnncourse.lstm as ref
from autograder.checks import CheckFailure
from autograder.checks.ch04_lstm import check_init_forget_bias, check_lstm_forward, check_lstm_step, check_peephole_lstm_step


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
