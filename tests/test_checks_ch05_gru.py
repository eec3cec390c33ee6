import pytest
import torch

import rnncourse.gru as ref
from autograder.checks import CheckFailure
from autograder.checks.ch05_gru import check_gru_forward, check_gru_step, check_rnn_param_counts


def gru_separate(x, h, Wi, Wh, bi, bh):
    H = h.shape[1]
    s = lambda W, k: W[k * H:(k + 1) * H]
    r = torch.sigmoid(x @ s(Wi, 0).T + s(bi, 0) + h @ s(Wh, 0).T + s(bh, 0))
    z = torch.sigmoid(x @ s(Wi, 1).T + s(bi, 1) + h @ s(Wh, 1).T + s(bh, 1))
    n = torch.tanh(x @ s(Wi, 2).T + s(bi, 2) + r * (h @ s(Wh, 2).T + s(bh, 2)))
    return (1 - z) * n + z * h


def gru_cho(x, h, Wi, Wh, bi, bh):
    H = h.shape[1]
    s = lambda W, k: W[k * H:(k + 1) * H]
    r = torch.sigmoid(x @ s(Wi, 0).T + s(bi, 0) + h @ s(Wh, 0).T + s(bh, 0))
    z = torch.sigmoid(x @ s(Wi, 1).T + s(bi, 1) + h @ s(Wh, 1).T + s(bh, 1))
    n = torch.tanh(x @ s(Wi, 2).T + s(bi, 2) + (r * h) @ s(Wh, 2).T + s(bh, 2))
    return (1 - z) * n + z * h


def gru_flipped(x, h, Wi, Wh, bi, bh):
    z_h = gru_separate(x, h, Wi, Wh, bi, bh)
    H = h.shape[1]
    z = torch.sigmoid(x @ Wi[H:2 * H].T + bi[H:2 * H] + h @ Wh[H:2 * H].T + bh[H:2 * H])
    n = (z_h - z * h) / (1 - z)
    return z * n + (1 - z) * h


def gru_zrn(x, h, Wi, Wh, bi, bh):
    H = h.shape[1]
    p = torch.cat([torch.arange(H, 2 * H), torch.arange(0, H), torch.arange(2 * H, 3 * H)])
    return ref.gru_step(x, h, Wi[p], Wh[p], bi[p], bh[p])


@pytest.mark.parametrize("impl", [ref.gru_step, gru_separate])
def test_gru_step_correct(impl):
    check_gru_step(impl)


@pytest.mark.parametrize("impl,message", [
    (gru_cho, "reset gate is applied before the matrix product"),
    (gru_flipped, "update gate's sign is flipped"),
    (gru_zrn, "wrong order \\(you read them as z, r, n"),
    (lambda x, h, Wi, Wh, bi, bh: ref.gru_step(x, h, Wi, Wh, bi, torch.zeros_like(bh)), "b_hh is missing"),
])
def test_gru_step_mistakes(impl, message):
    with pytest.raises(CheckFailure, match=message):
        check_gru_step(impl)


def gru_forward_loop(x, h0, *w):
    hs, h = [], h0
    for t in range(x.shape[0]):
        h = gru_separate(x[t], h, *w)
        hs.append(h)
    return torch.stack(hs), h


@pytest.mark.parametrize("impl", [ref.gru_forward, gru_forward_loop])
def test_gru_forward_correct(impl):
    check_gru_forward(impl)


@pytest.mark.parametrize("impl,message", [
    (lambda x, h0, *w: (torch.stack([ref.gru_step(x[t], h0, *w) for t in range(x.shape[0])]), h0), "not carried"),
    (lambda x, h0, *w: (torch.cat([h0[None], ref.gru_forward(x, h0, *w)[0]]), ref.gru_forward(x, h0, *w)[1]), "do not include h0"),
    (lambda x, h0, *w: ref.gru_forward(x, h0, *w)[0], "should return \\(hs, h_T\\)"),
])
def test_gru_forward_mistakes(impl, message):
    with pytest.raises(CheckFailure, match=message):
        check_gru_forward(impl)


def counts_by_modules(D, H):
    return {k: sum(p.numel() for p in m(D, H).parameters())
            for k, m in (("rnn", torch.nn.RNN), ("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU))}


@pytest.mark.parametrize("impl", [ref.rnn_param_counts, counts_by_modules])
def test_param_counts_correct(impl):
    check_rnn_param_counts(impl)


@pytest.mark.parametrize("impl,message", [
    (lambda D, H: {k: g * (H * D + H * H + H) for k, g in (("rnn", 1), ("lstm", 4), ("gru", 3))}, "only one bias"),
    (lambda D, H: {k: g * (H * D + H * H) for k, g in (("rnn", 1), ("lstm", 4), ("gru", 3))}, "biases are missing"),
    (lambda D, H: {k: g * (H * D + H * H + 2 * H) for k, g in (("rnn", 1), ("lstm", 3), ("gru", 4))}, "the lstm count"),
])
def test_param_counts_mistakes(impl, message):
    with pytest.raises(CheckFailure, match=message):
        check_rnn_param_counts(impl)
