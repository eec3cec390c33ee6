"""Hidden checks for chapter 02_bptt: step and full BPTT, numerical gradients, truncated BPTT."""
from __future__ import annotations

from typing import Callable

import numpy as np

from autograder.checks import (CheckFailure, call, case_seed, expect_array, expect_close_array, expect_items,
                               expect_unchanged, max_diff, snapshot)
from rnncourse import bptt as _ref
from rnncourse import rnn as _rnn

_step_backward = _ref.rnn_step_backward
_backward = _ref.rnn_backward
_truncated = _ref.truncated_rnn_backward
_rnn_forward = _rnn.rnn_forward
_default_rng = np.random.default_rng
_array_equal = np.array_equal
_NAMES = ["dx", "dh0", "dW_ih", "dW_hh", "db"]
_FIVE = "a tuple of 5 arrays (dx, dh0, dW_ih, dW_hh, db)"


def _problem(rng, T, B, D, H):
    return (rng.standard_normal((T, B, D)), rng.standard_normal((B, H)), rng.standard_normal((H, D)) * 0.7,
            rng.standard_normal((H, H)) * 0.5, rng.standard_normal(H) * 0.3, rng.standard_normal((T, B, H)))


def _expect_grads(got, expected, names, case, mistakes) -> None:
    """Each gradient against the reference; ``mistakes`` maps a message to the five gradients of that mistake."""
    for i, name in enumerate(names):
        expect_close_array(name, got[i], expected[i], case, atol=1e-8,
                           mistakes={message: wrong[i] for message, wrong in mistakes.items()})


def check_rnn_step_backward(rnn_step_backward: Callable) -> None:
    rng = _default_rng(case_seed(201))
    for case, B, D, H in [("B=3, D=4, H=5", 3, 4, 5), ("B=1, D=2, H=2", 1, 2, 2)]:
        x, h0, W_ih, W_hh, b, dhs = _problem(rng, 1, B, D, H)
        dh, x, h1 = dhs[0], x[0], np.tanh(x[0] @ W_ih.T + h0 @ W_hh.T + b)
        args = (dh, x, h0, h1, W_ih, W_hh)
        before = snapshot(*args)
        expected = _step_backward(*args)
        mistakes = {
            "the tanh derivative (1 - h_t**2) is missing": (dh @ W_ih, dh @ W_hh, dh.T @ x, dh.T @ h0, dh.sum(0)),
            "the tanh derivative uses h_prev instead of h_t": _step_backward(dh, x, h0, h0, W_ih, W_hh),
        }
        got = call(rnn_step_backward, "rnn_step_backward", case, *args)
        expect_unchanged("rnn_step_backward", before, args, ["dh_t", "x_t", "h_prev", "h_t", "W_ih", "W_hh"])
        got = expect_items("rnn_step_backward", got, 5, case, "a tuple of 5 arrays (dx_t, dh_prev, dW_ih, dW_hh, db)")
        _expect_grads(got, expected, ["dx_t", "dh_prev", "dW_ih", "dW_hh", "db"], case, mistakes)


def check_rnn_backward(rnn_backward: Callable) -> None:
    rng = _default_rng(case_seed(202))
    for case, T, B, D, H in [("T=6, B=3, D=4, H=5", 6, 3, 4, 5), ("T=1, B=2, D=3, H=2", 1, 2, 3, 2),
                             ("T=9, B=1, D=2, H=3", 9, 1, 2, 3)]:
        x, h0, W_ih, W_hh, b, dhs = _problem(rng, T, B, D, H)
        hs = _rnn_forward(x, h0, W_ih, W_hh, b)
        args = (dhs, x, h0, hs, W_ih, W_hh)
        before = snapshot(*args)
        expected = _backward(*args)
        mistakes = {"the recurrent gradient is left out (dh_prev is not added to the gradient of h_{t-1})":
                    _truncated(*args, 1)}
        if T > 1:
            mistakes["an off-by-one in time (the wrong state is used as h_t or h_{t-1})"] = \
                _backward(dhs, x, h0, np.concatenate([hs[1:], hs[-1:]]), W_ih, W_hh)
        got = call(rnn_backward, "rnn_backward", case, *args)
        expect_unchanged("rnn_backward", before, args, ["dhs", "x", "h0", "hs", "W_ih", "W_hh"])
        _expect_grads(expect_items("rnn_backward", got, 5, case, _FIVE), expected, _NAMES, case, mistakes)


def check_numerical_gradient(numerical_gradient: Callable) -> None:
    rng = _default_rng(case_seed(203))
    cases = []
    for case, shape in [("a (3, 4) array", (3, 4)), ("a 1-D array of 5", (5,)), ("a (2, 2, 2) array", (2, 2, 2))]:
        x, A = rng.standard_normal(shape), rng.standard_normal(shape)
        f = (lambda x, A: lambda: float(np.sum(np.sin(x) * A) + np.sum(x ** 3) / 3))(x, A)
        cases.append((case, x, f, np.cos(x) * A + x ** 2, {}))
    x = rng.standard_normal(2)
    cases.append(("eps=1e-3", x, (lambda x: lambda: float(np.sum(x ** 2)))(x), 2 * x, {"eps": 1e-3}))
    for case, x, f, exact, kwargs in cases:
        original = x.copy()
        got = call(numerical_gradient, "numerical_gradient", case, f, x, **kwargs)
        if x.shape != original.shape or not _array_equal(x, original):
            raise CheckFailure(f"numerical_gradient did not restore x exactly ({case}): after perturbing an entry, "
                               "write back the saved original value")
        expect_array("the gradient", got, original.shape, case)
        err = max_diff(got, exact)
        if err == float("inf"):
            raise CheckFailure(f"the gradient contains NaN or inf ({case})")
        if err > 1e-7:
            hint = ""
            if 1e-6 < err < 1e-3 and not kwargs:
                hint = " It looks like a one-sided difference; use (f(x+eps) - f(x-eps)) / (2*eps)."
            raise CheckFailure(f"the numerical gradient is off by up to {err:.3g} ({case}).{hint}")


def check_truncated_rnn_backward(truncated_rnn_backward: Callable) -> None:
    rng = _default_rng(case_seed(204))
    for case, T, k in [("T=7, k=3", 7, 3), ("T=6, k=2", 6, 2), ("T=5, k=1", 5, 1), ("T=4, k=10 (k > T)", 4, 10),
                       ("T=6, k=6", 6, 6)]:
        x, h0, W_ih, W_hh, b, dhs = _problem(rng, T, 2, 3, 4)
        hs = _rnn_forward(x, h0, W_ih, W_hh, b)
        args = (dhs, x, h0, hs, W_ih, W_hh)
        before = snapshot(*args)
        expected = _truncated(*args, k)
        mistakes = {"no truncation: the gradient still flows across chunk boundaries": _backward(*args)}
        if k + 1 < T:
            mistakes["the chunks are cut at the wrong places (chunks must be x[0:k], x[k:2k], ...)"] = \
                _truncated(*args, k + 1)
        got = call(truncated_rnn_backward, "truncated_rnn_backward", case, *args, k)
        expect_unchanged("truncated_rnn_backward", before, args, ["dhs", "x", "h0", "hs", "W_ih", "W_hh"])
        _expect_grads(expect_items("truncated_rnn_backward", got, 5, case, _FIVE), expected, _NAMES, case, mistakes)
