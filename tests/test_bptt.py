"""rnncourse.bptt against torch autograd (and h.detach() every k steps), in float64."""
import numpy as np
import pytest
import torch

from rnncourse.bptt import (numerical_gradient, relative_error, rnn_backward, rnn_step_backward,
                            truncated_rnn_backward)
from rnncourse.rnn import rnn_forward, rnn_step


def problem(T=5, B=3, D=2, H=4, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((T, B, D)), rng.standard_normal((B, H)), rng.standard_normal((H, D)),
            rng.standard_normal((H, H)) * 0.6, rng.standard_normal(H), rng.standard_normal((T, B, H)))


def autograd(x, h0, W_ih, W_hh, b, dhs, k=None):
    """Gradients of L = Σ_t <dhs[t], h_t> by torch autograd, detaching h every k steps."""
    ts = [torch.tensor(a, requires_grad=True) for a in (x, h0, W_ih, W_hh, b)]
    tx, th, tWi, tWh, tb = ts
    h, loss = th, 0.0
    for t in range(x.shape[0]):
        if k is not None and t > 0 and t % k == 0:
            h = h.detach()
        h = torch.tanh(tx[t] @ tWi.T + h @ tWh.T + tb)
        loss = loss + (h * torch.from_numpy(dhs[t])).sum()
    loss.backward()
    return [t.grad.numpy() if t.grad is not None else np.zeros(t.shape) for t in ts]


def test_step_backward_matches_autograd():
    x, h0, W_ih, W_hh, b, dhs = problem(T=1)
    h1 = rnn_step(x[0], h0, W_ih, W_hh, b)
    dx, dh0, dWi, dWh, db = rnn_step_backward(dhs[0], x[0], h0, h1, W_ih, W_hh)
    g = autograd(x, h0, W_ih, W_hh, b, dhs)
    for ours, ref in zip((dx, dh0, dWi, dWh, db), (g[0][0], g[1], g[2], g[3], g[4])):
        np.testing.assert_allclose(ours, ref, atol=1e-12)


@pytest.mark.parametrize("T", [1, 6])
def test_full_bptt_matches_autograd(T):
    x, h0, W_ih, W_hh, b, dhs = problem(T=T)
    hs = rnn_forward(x, h0, W_ih, W_hh, b)
    copies = [a.copy() for a in (dhs, x, h0, hs, W_ih, W_hh)]
    ours = rnn_backward(*copies)
    for a, a0 in zip(copies, (dhs, x, h0, hs, W_ih, W_hh)):
        np.testing.assert_array_equal(a, a0)
    for o, r in zip(ours, autograd(x, h0, W_ih, W_hh, b, dhs)):
        assert o.dtype == np.float64
        np.testing.assert_allclose(o, r, atol=1e-10)


def test_leaving_out_the_recurrent_gradient_would_be_detected():
    x, h0, W_ih, W_hh, b, dhs = problem(T=4)
    full = autograd(x, h0, W_ih, W_hh, b, dhs)
    local = autograd(x, h0, W_ih, W_hh, b, dhs, k=1)  # no gradient through time at all
    assert np.abs(full[3] - local[3]).max() > 1e-3  # the oracle tells them apart


@pytest.mark.parametrize("k", [1, 2, 3, 7, 100])
def test_truncated_bptt_matches_detach_every_k_steps(k):
    x, h0, W_ih, W_hh, b, dhs = problem(T=7)
    hs = rnn_forward(x, h0, W_ih, W_hh, b)
    ours = truncated_rnn_backward(dhs, x, h0, hs, W_ih, W_hh, k)
    for o, r in zip(ours, autograd(x, h0, W_ih, W_hh, b, dhs, k=k)):
        np.testing.assert_allclose(o, r, atol=1e-10)
    if k >= 7:
        for o, r in zip(ours, rnn_backward(dhs, x, h0, hs, W_ih, W_hh)):
            np.testing.assert_array_equal(o, r)
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        truncated_rnn_backward(dhs, x, h0, hs, W_ih, W_hh, 0)


def test_numerical_gradient_agrees_and_restores_exactly():
    x, h0, W_ih, W_hh, b, dhs = problem(T=3)
    W0 = W_hh.copy()
    calls = []

    def f():
        calls.append(1)
        return float((rnn_forward(x, h0, W_ih, W_hh, b) * dhs).sum())

    num = numerical_gradient(f, W_hh)
    np.testing.assert_array_equal(W_hh, W0)  # bit-for-bit restored
    assert len(calls) == 2 * W_hh.size
    assert relative_error(num, autograd(x, h0, W_ih, W_hh, b, dhs)[3]) < 1e-7
    with pytest.raises(TypeError, match="x must be a numpy array"):
        numerical_gradient(f, [1.0])


def test_relative_error():
    assert relative_error(np.array([1.0]), np.array([1.0])) == 0.0
    assert relative_error(np.array([1.0, 0.0]), np.array([3.0, 0.0])) == pytest.approx(0.5)


def test_numerical_gradient_restores_values_that_add_then_subtract_would_not():
    eps = 1e-5
    x = np.array([0.1, 1.0 / 3.0, 0.7, 1e-9, -2.3])
    assert np.any((x + eps) - eps != x)  # so a "+eps then -eps" restore would be caught
    x0 = x.copy()
    grad = numerical_gradient(lambda: float(np.sum(np.sin(x))), x, eps)
    np.testing.assert_array_equal(x, x0)
    assert grad.dtype == np.float64 and grad.shape == x.shape
    np.testing.assert_allclose(grad, np.cos(x0), atol=1e-9)


def test_numerical_gradient_argument_errors():
    with pytest.raises(TypeError, match="x must hold floats"):
        numerical_gradient(lambda: 0.0, np.arange(3))
    with pytest.raises(ValueError, match="eps must be a finite number > 0, got 0"):
        numerical_gradient(lambda: 0.0, np.zeros(2), eps=0)
    with pytest.raises(TypeError, match="f must be a callable"):
        numerical_gradient(1.0, np.zeros(2))


def test_backward_leaves_inputs_unchanged_and_names_bad_arguments():
    x, h0, W_ih, W_hh, b, dhs = problem(T=5)
    hs = rnn_forward(x, h0, W_ih, W_hh, b)
    args = [dhs, x, h0, hs, W_ih, W_hh]
    before = [a.copy() for a in args]
    truncated_rnn_backward(*args, 2)
    rnn_step_backward(dhs[0], x[0], h0, hs[0], W_ih, W_hh)
    for a, a0 in zip(args, before):
        np.testing.assert_array_equal(a, a0)
    with pytest.raises(ValueError, match=r"dhs must have shape \(5, 3, 4\), got ndarray of shape \(4, 3, 4\)"):
        rnn_backward(dhs[:4], x, h0, hs, W_ih, W_hh)
    with pytest.raises(ValueError, match=r"dh_t must have shape \(3, 4\)"):
        rnn_step_backward(dhs[0, :2], x[0], h0, hs[0], W_ih, W_hh)
    with pytest.raises(TypeError, match="x must be an array or tensor, got 'oops'"):
        rnn_backward(dhs, "oops", h0, hs, W_ih, W_hh)
    with pytest.raises(TypeError, match="k must be an int, got 2.0"):
        truncated_rnn_backward(dhs, x, h0, hs, W_ih, W_hh, 2.0)


def test_truncated_dh0_comes_from_the_first_chunk_only():
    x, h0, W_ih, W_hh, b, dhs = problem(T=6)
    hs = rnn_forward(x, h0, W_ih, W_hh, b)
    dhs_late = dhs.copy()
    dhs_late[:3] = 0.0  # loss only after the first chunk of 3 steps
    assert np.all(truncated_rnn_backward(dhs_late, x, h0, hs, W_ih, W_hh, 3)[1] == 0.0)
    assert np.abs(rnn_backward(dhs_late, x, h0, hs, W_ih, W_hh)[1]).max() > 1e-6
