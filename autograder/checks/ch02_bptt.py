"""Hidden checks for chapter 02_bptt: step and full BPTT, numerical gradients, truncated BPTT."""
from __future__ import annotations

from typing import Callable

import numpy as np

from autograder.checks import (CheckFailure, call, expect_close, expect_shape, expect_unchanged,
                               snapshot)
from rnncourse import bptt as _ref
from rnncourse import rnn as _rnn

_step_backward = _ref.rnn_step_backward
_backward = _ref.rnn_backward
_truncated = _ref.truncated_rnn_backward
_rnn_forward = _rnn.rnn_forward
_default_rng = np.random.default_rng
_NAMES = ["dx", "dh0", "dW_ih", "dW_hh", "db"]


def _problem(rng, T, B, D, H):
    return (rng.standard_normal((T, B, D)), rng.standard_normal((B, H)), rng.standard_normal((H, D)) * 0.7,
            rng.standard_normal((H, H)) * 0.5, rng.standard_normal(H) * 0.3, rng.standard_normal((T, B, H)))


def _unpack(name: str, got, case: str, n: int = 5):
    if not isinstance(got, (tuple, list)) or len(got) != n:
        raise CheckFailure(f"{name} should return a tuple of {n} arrays, got {type(got).__name__} ({case})")
    return got


def check_rnn_step_backward(rnn_step_backward: Callable) -> None:
    rng = _default_rng(201)
    for case, B, D, H in [("B=3, D=4, H=5", 3, 4, 5), ("B=1, D=2, H=2", 1, 2, 2)]:
        x, h0, W_ih, W_hh, b, dhs = _problem(rng, 1, B, D, H)
        h1 = np.tanh(x[0] @ W_ih.T + h0 @ W_hh.T + b)
        args = (dhs[0], x[0], h0, h1, W_ih, W_hh)
        before = snapshot(*args)
        got = _unpack("rnn_step_backward", call(rnn_step_backward, "rnn_step_backward", case, *args), case)
        expected = _step_backward(*args)
        no_tanh = (dhs[0] @ W_ih, dhs[0] @ W_hh, dhs[0].T @ x[0], dhs[0].T @ h0, dhs[0].sum(0))
        for i, name in enumerate(["dx_t", "dh_prev", "dW_ih", "dW_hh", "db"]):
            expect_close(name, got[i], expected[i], case, atol=1e-8, mistakes={
                "the tanh derivative (1 - h_t**2) is missing": no_tanh[i],
                "the tanh derivative uses h_prev instead of h_t": _step_backward(dhs[0], x[0], h0, h0, W_ih, W_hh)[i],
            })
        expect_unchanged("rnn_step_backward", before, args, ["dh_t", "x_t", "h_prev", "h_t", "W_ih", "W_hh"])


def check_rnn_backward(rnn_backward: Callable) -> None:
    rng = _default_rng(202)
    for case, T, B, D, H in [("T=6, B=3, D=4, H=5", 6, 3, 4, 5), ("T=1, B=2, D=3, H=2", 1, 2, 3, 2),
                             ("T=9, B=1, D=2, H=3", 9, 1, 2, 3)]:
        x, h0, W_ih, W_hh, b, dhs = _problem(rng, T, B, D, H)
        hs = _rnn_forward(x, h0, W_ih, W_hh, b)
        args = (dhs, x, h0, hs, W_ih, W_hh)
        before = snapshot(*args)
        got = _unpack("rnn_backward", call(rnn_backward, "rnn_backward", case, *args), case)
        expected = _backward(*args)
        local = _truncated(*args, 1)
        hs_shift = np.concatenate([hs[1:], hs[-1:]])
        off_by_one = _backward(dhs, x, h0, hs_shift, W_ih, W_hh) if T > 1 else expected
        for i, name in enumerate(_NAMES):
            expect_close(name, got[i], expected[i], case, atol=1e-8, mistakes={
                "the recurrent gradient is left out (dh_prev is not added to the gradient of h_{t-1})": local[i],
                "an off-by-one in time (the wrong state is used as h_t or h_{t-1})": off_by_one[i],
            })
        expect_unchanged("rnn_backward", before, args, ["dhs", "x", "h0", "hs", "W_ih", "W_hh"])


def check_numerical_gradient(numerical_gradient: Callable) -> None:
    rng = _default_rng(203)
    for case, shape in [("a (3, 4) array", (3, 4)), ("a 1-D array of 5", (5,)), ("a (2, 2, 2) array", (2, 2, 2))]:
        x = rng.standard_normal(shape)
        A = rng.standard_normal(shape)
        original = x.copy()
        f = lambda: float(np.sum(np.sin(x) * A) + np.sum(x ** 3) / 3)  # noqa: E731
        exact = np.cos(original) * A + original ** 2
        got = call(numerical_gradient, "numerical_gradient", case, f, x)
        if not np.array_equal(x, original):
            raise CheckFailure(f"numerical_gradient did not restore x exactly ({case}): after perturbing an entry, "
                               "write back the saved original value")
        expect_shape("the gradient", got, shape, case)
        err = float(np.max(np.abs(np.asarray(got) - exact)))
        if err > 1e-7:
            hint = ""
            if err > 1e-6 and err < 1e-3:
                hint = " It looks like a one-sided difference; use (f(x+eps) - f(x-eps)) / (2*eps)."
            raise CheckFailure(f"the numerical gradient is off by up to {err:.3g} ({case}).{hint}")
    x = np.array([0.5, -1.0])
    g = call(numerical_gradient, "numerical_gradient", "eps=1e-3", lambda: float(np.sum(x ** 2)), x, eps=1e-3)
    expect_close("the gradient", g, 2 * np.array([0.5, -1.0]), "eps=1e-3", atol=1e-9)


def check_truncated_rnn_backward(truncated_rnn_backward: Callable) -> None:
    rng = _default_rng(204)
    for case, T, k in [("T=7, k=3", 7, 3), ("T=6, k=2", 6, 2), ("T=5, k=1", 5, 1), ("T=4, k=10 (k > T)", 4, 10),
                       ("T=6, k=6", 6, 6)]:
        x, h0, W_ih, W_hh, b, dhs = _problem(rng, T, 2, 3, 4)
        hs = _rnn_forward(x, h0, W_ih, W_hh, b)
        args = (dhs, x, h0, hs, W_ih, W_hh)
        before = snapshot(*args)
        got = _unpack("truncated_rnn_backward", call(truncated_rnn_backward, "truncated_rnn_backward",
                                                    case, *args, k), case)
        expected = _truncated(*args, k)
        full = _backward(*args)
        shifted = _truncated(*args, k + 1) if k + 1 < T else expected
        for i, name in enumerate(_NAMES):
            expect_close(name, got[i], expected[i], case, atol=1e-8, mistakes={
                "no truncation: the gradient still flows across chunk boundaries": full[i],
                "the chunks are cut at the wrong places (chunks must be x[0:k], x[k:2k], ...)": shifted[i],
            })
        expect_unchanged("truncated_rnn_backward", before, args, ["dhs", "x", "h0", "hs", "W_ih", "W_hh"])
