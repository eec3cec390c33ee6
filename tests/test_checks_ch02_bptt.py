import numpy as np
import pytest

import rnncourse.bptt as ref
from autograder.checks import CheckFailure
from autograder.checks.ch02_bptt import (check_numerical_gradient, check_rnn_backward, check_rnn_step_backward,
                                         check_truncated_rnn_backward)


def step_backward_no_tanh(dh, x, hp, h, Wi, Wh):
    return dh @ Wi, dh @ Wh, dh.T @ x, dh.T @ hp, dh.sum(0)


def step_backward_loop(dh, x, hp, h, Wi, Wh):
    da = dh * (1 - h ** 2)
    dWi = sum(np.outer(da[n], x[n]) for n in range(x.shape[0]))
    dWh = sum(np.outer(da[n], hp[n]) for n in range(x.shape[0]))
    return da @ Wi, da @ Wh, dWi, dWh, da.sum(0)


@pytest.mark.parametrize("impl", [ref.rnn_step_backward, step_backward_loop])
def test_step_backward_correct(impl):
    check_rnn_step_backward(impl)


@pytest.mark.parametrize("impl,message", [
    (step_backward_no_tanh, "tanh derivative"),
    (lambda dh, x, hp, h, Wi, Wh: ref.rnn_step_backward(dh, x, hp, hp, Wi, Wh), "uses h_prev instead of h_t"),
    (lambda dh, x, hp, h, Wi, Wh: ref.rnn_step_backward(dh, x, hp, h, Wi, Wh)[:4], "tuple of 5"),
])
def test_step_backward_mistakes(impl, message):
    with pytest.raises(CheckFailure, match=message):
        check_rnn_step_backward(impl)


def backward_recursive(dhs, x, h0, hs, Wi, Wh):
    T = x.shape[0]
    out = [np.zeros_like(x), None, np.zeros_like(Wi), np.zeros_like(Wh), np.zeros(Wh.shape[0])]
    dh = np.zeros_like(h0)
    for t in range(T - 1, -1, -1):
        hp = hs[t - 1] if t else h0
        dx, dh, dWi, dWh, db = ref.rnn_step_backward(dhs[t] + dh, x[t], hp, hs[t], Wi, Wh)
        out[0][t] = dx; out[2] += dWi; out[3] += dWh; out[4] += db
    out[1] = dh
    return tuple(out)


@pytest.mark.parametrize("impl", [ref.rnn_backward, backward_recursive])
def test_backward_correct(impl):
    check_rnn_backward(impl)


def backward_no_recurrent(dhs, x, h0, hs, Wi, Wh):
    return ref.truncated_rnn_backward(dhs, x, h0, hs, Wi, Wh, 1)


def backward_off_by_one(dhs, x, h0, hs, Wi, Wh):
    return ref.rnn_backward(dhs, x, h0, np.concatenate([hs[1:], hs[-1:]]), Wi, Wh)


@pytest.mark.parametrize("impl,message", [
    (backward_no_recurrent, "recurrent gradient is left out"),
    (backward_off_by_one, "off-by-one"),
    (lambda *a: tuple(g * 2 for g in ref.rnn_backward(*a)), "differs"),
])
def test_backward_mistakes(impl, message):
    with pytest.raises(CheckFailure, match=message):
        check_rnn_backward(impl)


def numgrad_flat(f, x, eps=1e-5):
    g = np.zeros(x.size)
    flat = x.reshape(-1)  # a view
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps; fp = f()
        flat[i] = old - eps; fm = f()
        flat[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g.reshape(x.shape)


def numgrad_one_sided(f, x, eps=1e-5):
    g = np.zeros(x.shape)
    f0 = f()
    for idx in np.ndindex(x.shape):
        old = x[idx]; x[idx] = old + eps; g[idx] = (f() - f0) / eps; x[idx] = old
    return g


def numgrad_no_restore(f, x, eps=1e-5):
    g = np.zeros(x.shape)
    for idx in np.ndindex(x.shape):
        x[idx] += eps; fp = f(); x[idx] -= 2 * eps; fm = f(); x[idx] += eps
        g[idx] = (fp - fm) / (2 * eps)
    return g


@pytest.mark.parametrize("impl", [ref.numerical_gradient, numgrad_flat])
def test_numerical_gradient_correct(impl):
    check_numerical_gradient(impl)


@pytest.mark.parametrize("impl,message", [
    (numgrad_one_sided, "one-sided"),
    (numgrad_no_restore, "restore x exactly"),
    (lambda f, x, eps=1e-5: np.zeros(x.shape), "off by"),
])
def test_numerical_gradient_mistakes(impl, message):
    with pytest.raises(CheckFailure, match=message):
        check_numerical_gradient(impl)


@pytest.mark.parametrize("impl,message", [
    (lambda dhs, x, h0, hs, Wi, Wh, k: ref.rnn_backward(dhs, x, h0, hs, Wi, Wh), "no truncation"),
    (lambda dhs, x, h0, hs, Wi, Wh, k: ref.truncated_rnn_backward(dhs, x, h0, hs, Wi, Wh, k + 1), "wrong places"),
    (lambda dhs, x, h0, hs, Wi, Wh, k: ref.truncated_rnn_backward(dhs, x, h0, hs, Wi, Wh, 1), "differs"),
])
def test_truncated_mistakes(impl, message):
    with pytest.raises(CheckFailure, match=message):
        check_truncated_rnn_backward(impl)


def truncated_by_chunks(dhs, x, h0, hs, Wi, Wh, k):
    T = x.shape[0]
    total = [np.zeros_like(x), None, np.zeros_like(Wi), np.zeros_like(Wh), np.zeros(Wh.shape[0])]
    for s in range(0, T, k):
        e = min(T, s + k)
        start = h0 if s == 0 else hs[s - 1]
        dx, dh, dWi, dWh, db = ref.rnn_backward(dhs[s:e], x[s:e], start, hs[s:e], Wi, Wh)
        total[0][s:e] = dx; total[2] += dWi; total[3] += dWh; total[4] += db
        if s == 0:
            total[1] = dh
    return tuple(total)


@pytest.mark.parametrize("impl", [ref.truncated_rnn_backward, truncated_by_chunks])
def test_truncated_correct(impl):
    check_truncated_rnn_backward(impl)
