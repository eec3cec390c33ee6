import pytest
import torch

import rnncourse.gru as ref
from autograder.checks import CheckFailure
from autograder.checks.ch05_gru import (check_cho_gru_step, check_gru_forward, check_gru_from_rnn, check_gru_step,
                                         check_rnn_param_counts)


def gru_separate(x, h, Wi, Wh, bi, bh):
    H = h.shape[1]
    s = lambda W, k: W[k * H:(k + 1) * H]
    r = torch.sigmoid(x @ s(Wi, 0).T + s(bi, 0) + h @ s(Wh, 0).T + s(bh, 0))
    z = torch.sigmoid(x @ s(Wi, 1).T + s(bi, 1) + h @ s(Wh, 1).T + s(bh, 1))
    n = torch.tanh(x @ s(Wi, 2).T + s(bi, 2) + r * (h @ s(Wh, 2).T + s(bh, 2)))
    return (1 - z) * n + z * h


def cho_separate(x, h, Wi, Wh, bi, bh):
    H = h.shape[1]
    s = lambda W, k: W[k * H:(k + 1) * H]
    r = torch.sigmoid(x @ s(Wi, 0).T + s(bi, 0) + h @ s(Wh, 0).T + s(bh, 0))
    z = torch.sigmoid(x @ s(Wi, 1).T + s(bi, 1) + h @ s(Wh, 1).T + s(bh, 1))
    n = torch.tanh(x @ s(Wi, 2).T + s(bi, 2) + (r * h) @ s(Wh, 2).T + s(bh, 2))
    return n + z * (h - n)


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
    (cho_separate, "reset gate is applied before the matrix product"),
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


# ----------------------------------------------------------------------------- gru_from_rnn

def from_rnn_split(W_ih, W_hh, b, saturation=30.0):
    """Written differently: index assignment into zeros, b in b_hn, the gate biases split over both vectors."""
    H, D = W_ih.shape
    W_ih3, W_hh3 = torch.zeros(3 * H, D, dtype=W_ih.dtype), torch.zeros(3 * H, H, dtype=W_hh.dtype)
    W_ih3[2 * H:], W_hh3[2 * H:] = W_ih, W_hh
    b_ih3, b_hh3 = torch.zeros(3 * H, dtype=b.dtype), torch.zeros(3 * H, dtype=b.dtype)
    b_ih3[:H], b_hh3[:H] = saturation / 2, saturation / 2
    b_ih3[H:2 * H], b_hh3[H:2 * H] = -saturation / 4, -3 * saturation / 4
    b_hh3[2 * H:] = b
    return W_ih3, W_hh3, b_ih3, b_hh3


def from_rnn_half_bias(W_ih, W_hh, b, saturation=30.0):
    H = W_ih.shape[0]
    gates = torch.cat([torch.ones(H, dtype=b.dtype), -torch.ones(H, dtype=b.dtype)]) * saturation
    pad = lambda W: torch.cat([0 * W, 0 * W, W])
    return pad(W_ih), pad(W_hh), torch.cat([gates, b / 2]), torch.cat([torch.zeros_like(gates), b / 2])


def from_rnn_with(gate_r=1, gate_z=-1, bias_in=1.0, bias_hn=0.0, gate_rows=0.0, order="rzn", transpose=False,
                  fixed_saturation=None):
    """A wrong builder: gate biases gate_r/gate_z times saturation, b scaled into b_in and b_hn, ..."""
    def build(W_ih, W_hh, b, saturation=30.0):
        s = saturation if fixed_saturation is None else fixed_saturation
        H = W_ih.shape[0]
        W_hn = W_hh.T if transpose else W_hh
        parts = {"r": (gate_rows * W_ih, gate_rows * W_hh, torch.full((H,), gate_r * s, dtype=b.dtype), 0 * b),
                 "z": (gate_rows * W_ih, gate_rows * W_hh, torch.full((H,), gate_z * s, dtype=b.dtype), 0 * b),
                 "n": (W_ih, W_hn, bias_in * b, bias_hn * b)}
        blocks = [parts[g] for g in order]
        return tuple(torch.cat([blk[k] for blk in blocks]) for k in range(4))
    return build


@pytest.mark.parametrize("impl", [ref.gru_from_rnn, from_rnn_split, from_rnn_half_bias])
def test_gru_from_rnn_correct(impl):
    check_gru_from_rnn(impl)


def _not_implemented(*args, **kwargs):
    raise NotImplementedError


def _modifies_b(W_ih, W_hh, b, saturation=30.0):
    out = ref.gru_from_rnn(W_ih, W_hh, b, saturation)
    b.zero_()
    return out


@pytest.mark.parametrize("impl,message", [
    (from_rnn_with(gate_z=1), "the update gate is open \\(z = 1\\): the state never moves"),
    (from_rnn_with(gate_r=-1), "the reset gate is closed \\(r = 0\\): the recurrent term W_hn h disappears"),
    (from_rnn_with(gate_r=-1, gate_z=1), "r and z biases are swapped \\(you read the gate order as z, r, n"),
    (from_rnn_with(order="zrn"), "r and z biases are swapped"),
    (from_rnn_with(order="nrz"), "wrong block \\(you built the blocks in the order n, r, z"),
    (from_rnn_with(order="rnz"), "wrong block \\(you built the blocks in the order r, n, z"),
    (from_rnn_with(bias_hn=1.0), "b is counted twice"),
    (from_rnn_with(bias_in=0.5, bias_hn=1.5), "b is counted twice"),
    (from_rnn_with(bias_in=0.0), "b is missing"),
    (from_rnn_with(gate_rows=1.0), "the gates' weight rows are not zero"),
    (from_rnn_with(gate_rows=1e-13), "weight rows W_ir, W_iz, W_hr, W_hz \\(rows \\[0, 2H\\)\\) should be zero"),
    (from_rnn_with(transpose=True), "W_hh is transposed"),
    (from_rnn_with(fixed_saturation=30.0), "reset gate's bias .* should be \\+saturation, .*"
                                           "use the saturation argument"),
    (lambda W_ih, W_hh, b, saturation=30.0: tuple(w.double() for w in ref.gru_from_rnn(W_ih, W_hh, b, saturation)),
     "W_ih3 has dtype torch.float64, expected torch.float32"),
    (lambda W_ih, W_hh, b, saturation=30.0: ref.gru_from_rnn(W_ih, W_hh, b, saturation)[:3], "should return a tuple"),
    (lambda W_ih, W_hh, b, saturation=30.0: ref.gru_from_rnn(W_ih, W_hh, b, saturation)[::-1], "W_ih3 has shape"),
    (_modifies_b, "modified its input b"),
    (_not_implemented, "not implemented yet"),
])
def test_gru_from_rnn_mistakes(impl, message):
    with pytest.raises(CheckFailure, match=message):
        check_gru_from_rnn(impl)


def test_gru_from_rnn_mistake_messages_do_not_reveal_the_inputs():
    with pytest.raises(CheckFailure) as err:
        check_gru_from_rnn(from_rnn_with(gate_z=1))
    assert "randn" not in str(err.value) and "scale" not in str(err.value)


# ----------------------------------------------------------------------------- cho_gru_step

def cho_with(mistake):
    def step(x, h, Wi, Wh, bi, bh):
        H = h.shape[1]
        xr, xz, xn = (x @ Wi.T + bi).chunk(3, dim=-1)
        hr, hz, _ = (h @ Wh.T + bh).chunk(3, dim=-1)
        W_hn, b_hn = Wh[2 * H:], bh[2 * H:]
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = {"b_hn times r": torch.tanh(xn + (r * h) @ W_hn.T + r * b_hn),
             "r times product": torch.tanh(xn + r * (h @ W_hn.T) + b_hn)}.get(mistake, torch.tanh(xn + (r * h) @ W_hn.T + b_hn))
        return z * n + (1 - z) * h if mistake == "flipped" else (1 - z) * n + z * h
    return step


def _cho_modifies_h_prev(x, h, *w):
    out = cho_separate(x, h.clone(), *w)
    h.mul_(0.5)
    return out


def cho_zrn(x, h, Wi, Wh, bi, bh):
    H = h.shape[1]
    p = torch.cat([torch.arange(H, 2 * H), torch.arange(0, H), torch.arange(2 * H, 3 * H)])
    return ref.cho_gru_step(x, h, Wi[p], Wh[p], bi[p], bh[p])


@pytest.mark.parametrize("impl", [ref.cho_gru_step, cho_separate, cho_with(None)])
def test_cho_gru_step_correct(impl):
    check_cho_gru_step(impl)


@pytest.mark.parametrize("impl,message", [
    (ref.gru_step, "torch's convention, r \\* \\(W_hn h_prev \\+ b_hn\\): that is Exercise 5.1; here r multiplies "
                   "h_prev before W_hn"),
    (cho_with("b_hn times r"), "b_hn is multiplied by r"),
    (cho_with("r times product"), "r multiplies the product W_hn h_prev"),
    (cho_with("flipped"), "update gate's sign is flipped"),
    (cho_zrn, "wrong order \\(you read them as z, r, n"),
    (lambda x, h, Wi, Wh, bi, bh: ref.cho_gru_step(x, h, Wi, Wh, bi, torch.zeros_like(bh)), "b_hh is missing"),
    (lambda x, h, Wi, Wh, bi, bh: cho_separate(x, h, Wi, Wh, bi, bh).double(), "dtype torch.float64, expected torch.float32"),
    (_cho_modifies_h_prev, "modified its input h_prev"),
    (_not_implemented, "not implemented yet"),
])
def test_cho_gru_step_mistakes(impl, message):
    with pytest.raises(CheckFailure, match=message):
        check_cho_gru_step(impl)
