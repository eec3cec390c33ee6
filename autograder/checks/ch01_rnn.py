"""Hidden checks for chapter 01_rnn: rnn_step, rnn_forward, softmax, cross_entropy."""
from __future__ import annotations

from typing import Callable

import numpy as np

from autograder.checks import (ARRAYS, CheckFailure, call, case_seed, expect_array, expect_close, expect_dtype,
                               expect_number, expect_unchanged, shape_of, snapshot)
from rnncourse import rnn as _ref

_rnn_step = _ref.rnn_step
_rnn_forward = _ref.rnn_forward
_softmax = _ref.softmax
_cross_entropy = _ref.cross_entropy
_default_rng = np.random.default_rng
_tanh, _exp, _log = np.tanh, np.exp, np.log


# ----------------------------------------------------------------------------- the checks

# (description, B, D, H)
_STEP_CASES = [("B=3, D=4, H=5", 3, 4, 5), ("B=1, D=2, H=3", 1, 2, 3), ("B=2, D=6, H=6", 2, 6, 6)]


def _weights(rng, D: int, H: int):
    return rng.standard_normal((H, D)) * 0.7, rng.standard_normal((H, H)) * 0.5, rng.standard_normal(H) * 0.5


def check_rnn_step(rnn_step: Callable) -> None:
    rng = _default_rng(case_seed(101))
    for case, B, D, H in _STEP_CASES:
        x, h = rng.standard_normal((B, D)), rng.standard_normal((B, H))
        W_ih, W_hh, b = _weights(rng, D, H)
        args = (x, h, W_ih, W_hh, b)
        before = snapshot(*args)
        expected = _rnn_step(*args)
        mistakes = {
            "the bias b is missing": _tanh(x @ W_ih.T + h @ W_hh.T),
            "W_hh is used without transposing (h_prev @ W_hh instead of h_prev @ W_hh.T)": _tanh(x @ W_ih.T + h @ W_hh + b),
            "the recurrent term h_prev @ W_hh.T is missing": _tanh(x @ W_ih.T + b),
            "tanh is missing": x @ W_ih.T + h @ W_hh.T + b,
        }
        got = call(rnn_step, "rnn_step", case, *args)
        expect_unchanged("rnn_step", before, args, ["x_t", "h_prev", "W_ih", "W_hh", "b"])
        expect_array("h_t", got, (B, H), case)
        expect_dtype("h_t", got, np.float64, case + ", float64 inputs")
        expect_close("h_t", got, expected, case, atol=1e-8, mistakes=mistakes)


def check_rnn_forward(rnn_forward: Callable) -> None:
    rng = _default_rng(case_seed(102))
    for case, T, B, D, H in [("T=5, B=3, D=4, H=5", 5, 3, 4, 5), ("T=1, B=2, D=3, H=2", 1, 2, 3, 2),
                             ("T=7, B=1, D=2, H=4", 7, 1, 2, 4)]:
        x, h0 = rng.standard_normal((T, B, D)), rng.standard_normal((B, H))
        W_ih, W_hh, b = _weights(rng, D, H)
        args = (x, h0, W_ih, W_hh, b)
        before = snapshot(*args)
        expected = _rnn_forward(*args)
        mistakes = {
            "an off-by-one: hs[t] holds the state before x[t] instead of after it":
                np.concatenate([h0[None], expected[:-1]]),
            "the state is not carried from step to step (every step starts from h0)":
                np.stack([_tanh(x[t] @ W_ih.T + h0 @ W_hh.T + b) for t in range(T)]),
            "the bias b is missing": _rnn_forward(x, h0, W_ih, W_hh, 0 * b),
        }
        got = call(rnn_forward, "rnn_forward", case, *args)
        expect_unchanged("rnn_forward", before, args, ["x", "h0", "W_ih", "W_hh", "b"])
        if isinstance(got, ARRAYS) and shape_of(got) == (T + 1, B, H):
            raise CheckFailure(f"hs has shape {(T + 1, B, H)}, expected {(T, B, H)} ({case}): "
                               "hs[t] should be the state after reading x[t], without h0")
        expect_array("hs", got, (T, B, H), case)
        expect_dtype("hs", got, np.float64, case + ", float64 inputs")
        expect_close("hs", got, expected, case, atol=1e-8, mistakes=mistakes)


def check_softmax(softmax: Callable) -> None:
    rng = _default_rng(case_seed(103))
    cases = [("a (4, 7) array", rng.standard_normal((4, 7)) * 3),
             ("a 1-D array", rng.standard_normal(5)),
             ("a (2, 3, 6) array", rng.standard_normal((2, 3, 6))),
             ("logits around 1000", 1000.0 + rng.standard_normal((3, 5))),
             ("logits around -1000", -1000.0 + rng.standard_normal((3, 5))),
             ("logits of ±1000 in one row", np.array([[1000.0, -1000.0, 999.0, 0.0]]))]
    for case, z in cases:
        before = snapshot(z)
        expected = _softmax(z)
        shifted = _exp(z - z.max(axis=0, keepdims=True))
        mistakes = {"the softmax is taken over the first axis instead of the last":
                    shifted / shifted.sum(axis=0, keepdims=True)}
        got = call(softmax, "softmax", case, z)
        expect_unchanged("softmax", before, (z,), ["z"])
        expect_array("softmax(z)", got, z.shape, case)
        if "1000" in case and not np.isfinite(np.asarray(got, dtype=float)).all():
            raise CheckFailure(f"softmax(z) overflows ({case}): subtract the maximum of each row before exp")
        expect_close("softmax(z)", got, expected, case, atol=1e-10, mistakes=mistakes)


def check_cross_entropy(cross_entropy: Callable) -> None:
    rng = _default_rng(case_seed(104))
    cases = []
    for case, shape in [("logits (6, 5)", (6, 5)), ("logits (3, 4, 7)", (3, 4, 7)), ("logits (1, 3)", (1, 3))]:
        cases.append((case, rng.standard_normal(shape) * 2, rng.integers(0, shape[-1], shape[:-1]), 1e-8))
    cases.append(("logits around ±1000", np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 5.0]]),
                  np.array([1, 1]), 1e-6))
    for case, logits, targets, atol in cases:
        args = (logits, targets)
        before = snapshot(*args)
        expected = _cross_entropy(*args)
        logp = logits - logits.max(-1, keepdims=True)
        logp = logp - _log(_exp(logp).sum(-1, keepdims=True))
        mistakes = {
            "the sum over positions instead of the mean": expected * targets.size,
            "the log-probability of the most likely class instead of the target's": -np.mean(np.max(logp, axis=-1)),
            "a missing minus sign": -expected,
        }
        got = call(cross_entropy, "cross_entropy", case, *args)
        expect_unchanged("cross_entropy", before, args, ["logits", "targets"])
        expect_number("the loss", got, expected, case, atol=atol, mistakes=mistakes)
