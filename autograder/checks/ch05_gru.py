"""Hidden checks for chapter 05_gru: gru_step, gru_forward, rnn_param_counts."""
from __future__ import annotations

import itertools
from typing import Callable

import torch

from autograder.checks import CheckFailure, call, expect_close, expect_dtype, expect_unchanged, snapshot
from autograder.checks._torchcase import TOL, generator, randn
from rnncourse import gru as _ref

_step = _ref.gru_step
_forward = _ref.gru_forward
_counts = _ref.rnn_param_counts
_cat, _arange, _tanh = torch.cat, torch.arange, torch.tanh


def _params(gen, D, H, dtype):
    return (randn(gen, 3 * H, D, dtype=dtype, scale=0.6), randn(gen, 3 * H, H, dtype=dtype, scale=0.6),
            randn(gen, 3 * H, dtype=dtype, scale=0.5), randn(gen, 3 * H, dtype=dtype, scale=0.5))


def _variants(x, h, W_ih, W_hh, b_ih, b_hh, H) -> dict:
    r, z, n = _ref.gru_gates(x @ W_ih.T + b_ih, h @ W_hh.T + b_hh)  # the reference equations
    xn = (x @ W_ih.T + b_ih)[..., 2 * H:]
    W_hn, b_hn = W_hh[2 * H:], b_hh[2 * H:]
    n_cho = _tanh(xn + (r * h) @ W_hn.T + b_hn)
    out = {
        "the reset gate is applied before the matrix product (Cho et al.'s convention); torch uses r * (W_hn h + b_hn)":
            (1 - z) * n_cho + z * h,
        "the update gate's sign is flipped: torch's GRU uses h_t = (1 - z) * n + z * h_prev": z * n + (1 - z) * h,
        "the bias b_hh is missing": _step(x, h, W_ih, W_hh, b_ih, torch.zeros_like(b_hh)),
        "the bias b_hn is outside the reset gate (r * (W_hn h) + b_hn)": (1 - z) * _tanh(xn + r * (h @ W_hn.T) + b_hn) + z * h,
    }
    for order in itertools.permutations(range(3)):
        if order != (0, 1, 2):
            p = _cat([_arange(k * H, (k + 1) * H) for k in order])
            label = ", ".join("rzn"[k] for k in order)
            out[f"the gates are in the wrong order (you read them as {label}; torch's order is r, z, n)"] = \
                _step(x, h, W_ih[p], W_hh[p], b_ih[p], b_hh[p])
    return out


def check_gru_step(gru_step: Callable) -> None:
    gen = generator(501)
    for case, B, D, H, dtype in [("B=3, D=4, H=5, float64", 3, 4, 5, torch.float64), ("B=1, D=2, H=3, float64", 1, 2, 3, torch.float64),
                                 ("B=2, D=3, H=4, float32", 2, 3, 4, torch.float32)]:
        x, h = randn(gen, B, D, dtype=dtype), randn(gen, B, H, dtype=dtype)
        W_ih, W_hh, b_ih, b_hh = _params(gen, D, H, dtype)
        args = (x, h, W_ih, W_hh, b_ih, b_hh)
        before = snapshot(*args)
        got = call(gru_step, "gru_step", case, *args)
        expect_close("h_t", got, _step(*args), case, atol=TOL[dtype], mistakes=_variants(*args, H))
        expect_dtype("h_t", got, dtype, case)
        expect_unchanged("gru_step", before, args, ["x_t", "h_prev", "W_ih", "W_hh", "b_ih", "b_hh"])


def check_gru_forward(gru_forward: Callable) -> None:
    gen = generator(502)
    for case, T, B, D, H, dtype in [("T=6, B=3, D=4, H=5, float64", 6, 3, 4, 5, torch.float64),
                                    ("T=1, B=2, D=3, H=2, float64", 1, 2, 3, 2, torch.float64),
                                    ("T=4, B=1, D=2, H=3, float32", 4, 1, 2, 3, torch.float32)]:
        x, h0 = randn(gen, T, B, D, dtype=dtype), randn(gen, B, H, dtype=dtype)
        W_ih, W_hh, b_ih, b_hh = _params(gen, D, H, dtype)
        args = (x, h0, W_ih, W_hh, b_ih, b_hh)
        before = snapshot(*args)
        got = call(gru_forward, "gru_forward", case, *args)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise CheckFailure(f"gru_forward should return (hs, h_T), got {type(got).__name__} ({case})")
        hs, hT = got
        ehs, ehT = _forward(*args)
        if getattr(hs, "shape", None) == (T + 1, B, H):
            raise CheckFailure(f"hs has shape {(T + 1, B, H)}, expected {(T, B, H)} ({case}): do not include h0")
        expect_close("hs", hs, ehs, case, atol=TOL[dtype], mistakes={
            "the state is not carried from step to step": torch.stack([_step(x[t], h0, *args[2:]) for t in range(T)]),
        })
        expect_close("h_T", hT, ehT, case, atol=TOL[dtype])
        expect_unchanged("gru_forward", before, args, ["x", "h0", "W_ih", "W_hh", "b_ih", "b_hh"])


def check_rnn_param_counts(rnn_param_counts: Callable) -> None:
    for D, H in [(7, 13), (1, 1), (65, 512), (300, 50)]:
        case = f"input_size={D}, hidden_size={H}"
        got = call(rnn_param_counts, "rnn_param_counts", case, D, H)
        if not isinstance(got, dict) or set(got) != {"rnn", "lstm", "gru"}:
            raise CheckFailure(f"rnn_param_counts should return a dict with keys 'rnn', 'lstm', 'gru', got {got!r}")
        expected = _counts(D, H)
        for key, G in (("rnn", 1), ("lstm", 4), ("gru", 3)):
            if got[key] != expected[key]:
                hint = ""
                if got[key] == G * (H * D + H * H + H):
                    hint = " It looks like only one bias vector is counted; torch has two (b_ih and b_hh)."
                elif got[key] == G * (H * D + H * H):
                    hint = " The biases are missing."
                raise CheckFailure(f"the {key} count is {got[key]}, expected {expected[key]} ({case}).{hint}")
