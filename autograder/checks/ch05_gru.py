"""Hidden checks for chapter 05_gru: gru_step, gru_from_rnn, cho_gru_step, gru_forward, rnn_param_counts.

``gru_from_rnn`` is checked by what its weights do: the reference GRU runs with
them over sequences whose pre-activations are large (a gate that reads ``x`` or
``h`` then leaves saturation) as well as small ones (where ``tanh`` is not
saturated and a wrong bias shows), and must follow chapter 1's tanh RNN.
"""
from __future__ import annotations

import itertools
from typing import Callable

import numpy as np
import torch

from autograder.checks import (CheckFailure, call, case_seed, expect_array, expect_close_array, expect_dtype,
                               expect_items, expect_unchanged, kind, max_diff, snapshot, to_numpy)
from autograder.checks._torchcase import TOL, generator, randn
from rnncourse import gru as _ref
from rnncourse import rnn as _rnn

_step = _ref.gru_step
_cho = _ref.cho_gru_step
_cho_gates = _ref.cho_gru_gates
_forward = _ref.gru_forward
_counts = _ref.rnn_param_counts
_rnn_forward = _rnn.rnn_forward
_cat, _arange, _tanh, _sigmoid = torch.cat, torch.arange, torch.tanh, torch.sigmoid
_zeros, _full, _no_grad = torch.zeros, torch.full, torch.no_grad


def _params(gen, D, H, dtype):
    return (randn(gen, 3 * H, D, dtype=dtype, scale=0.6), randn(gen, 3 * H, H, dtype=dtype, scale=0.6),
            randn(gen, 3 * H, dtype=dtype, scale=0.5), randn(gen, 3 * H, dtype=dtype, scale=0.5))


def _wrong_gate_orders(step: Callable, x, h, W_ih, W_hh, b_ih, b_hh) -> dict:
    """``step``'s output with the r, z, n blocks of the weights read in each wrong order, keyed by the message."""
    H = h.shape[-1]
    out = {}
    for order in itertools.permutations(range(3)):
        if order != (0, 1, 2):
            p = _cat([_arange(k * H, (k + 1) * H) for k in order])
            label = ", ".join("rzn"[k] for k in order)
            out[f"the gates are in the wrong order (you read them as {label}; torch's order is r, z, n)"] = \
                step(x, h, W_ih[p], W_hh[p], b_ih[p], b_hh[p])
    return out


def _variants(x, h, W_ih, W_hh, b_ih, b_hh, H) -> dict:
    r, z, n = _ref.gru_gates(x @ W_ih.T + b_ih, h @ W_hh.T + b_hh)  # the reference equations
    xn = (x @ W_ih.T + b_ih)[..., 2 * H:]
    W_hn, b_hn = W_hh[2 * H:], b_hh[2 * H:]
    out = {
        "the reset gate is applied before the matrix product (Cho et al.'s convention); torch uses r * (W_hn h + b_hn)":
            _cho(x, h, W_ih, W_hh, b_ih, b_hh),
        "the update gate's sign is flipped: torch's GRU uses h_t = (1 - z) * n + z * h_prev": z * n + (1 - z) * h,
        "the bias b_hh is missing": _step(x, h, W_ih, W_hh, b_ih, torch.zeros_like(b_hh)),
        "the bias b_hn is outside the reset gate (r * (W_hn h) + b_hn)": (1 - z) * _tanh(xn + r * (h @ W_hn.T) + b_hn) + z * h,
    }
    out.update(_wrong_gate_orders(_step, x, h, W_ih, W_hh, b_ih, b_hh))
    return out


def _check_step(fn: Callable, name: str, seed: int, cases: list, reference: Callable, mistakes_of: Callable) -> None:
    """One GRU step against ``reference`` on random inputs of each case; a wrong value is matched to ``mistakes_of``."""
    gen = generator(case_seed(seed))
    for case, B, D, H, dtype in cases:
        x, h = randn(gen, B, D, dtype=dtype), randn(gen, B, H, dtype=dtype)
        W_ih, W_hh, b_ih, b_hh = _params(gen, D, H, dtype)
        args = (x, h, W_ih, W_hh, b_ih, b_hh)
        before = snapshot(*args)
        expected, mistakes = reference(*args), mistakes_of(*args, H)  # from the inputs, before the call
        got = call(fn, name, case, *args)
        expect_unchanged(name, before, args, ["x_t", "h_prev", "W_ih", "W_hh", "b_ih", "b_hh"])
        expect_close_array("h_t", got, expected, case, atol=TOL[dtype], mistakes=mistakes)
        expect_dtype("h_t", got, dtype, case)


_STEP_CASES = [("B=3, D=4, H=5, float64", 3, 4, 5, torch.float64), ("B=1, D=2, H=3, float64", 1, 2, 3, torch.float64),
               ("B=2, D=3, H=4, float32", 2, 3, 4, torch.float32)]


def check_gru_step(gru_step: Callable) -> None:
    _check_step(gru_step, "gru_step", 501, _STEP_CASES, _step, _variants)


# ----------------------------------------------------------------------------- gru_from_rnn

def _blocks(r, z, n) -> torch.Tensor:
    return _cat([r, z, n])


def _from_rnn_mistakes(W_ih, W_hh, b, s) -> list[tuple[str, tuple]]:
    """(message, GRU weights) for each named way of building the weights wrongly."""
    H, D = W_ih.shape
    zi, zh, zb = W_ih.new_zeros(H, D), W_hh.new_zeros(H, H), b.new_zeros(H)
    up, down = _full((H,), float(s), dtype=b.dtype), _full((H,), -float(s), dtype=b.dtype)
    zeros3 = b.new_zeros(3 * H)

    def gru(b_r, b_z, b_in=b, b_hn=zb, ih=(zi, zi, W_ih), hh=(zh, zh, W_hh)):
        return _blocks(*ih), _blocks(*hh), _blocks(b_r, b_z, b_in), _blocks(zb, zb, b_hn)

    out = [
        ("the r and z biases are swapped (you read the gate order as z, r, n; torch's is r, z, n): "
         "that closes the reset gate and opens the update gate", gru(down, up)),
        ("the update gate is open (z = 1): the state never moves, since h_t = (1 - z) * n + z * h_prev; "
         "z = 0 needs a bias of -saturation", gru(up, up)),
        ("the reset gate is closed (r = 0): the recurrent term W_hn h disappears; r = 1 needs a bias of "
         "+saturation", gru(down, down)),
        ("b is counted twice: it is in both b_in and b_hn, whose sum must be b (put it in one of them, or split it)",
         gru(up, down, b_hn=b)),
        ("b is missing: the candidate's biases b_in + b_hn must add up to b", gru(up, down, b_in=zb)),
        ("the gates' weight rows are not zero (W_ir, W_iz, W_hr, W_hz must be 0): a gate that reads x or h "
         "leaves saturation when its input is large", gru(up, down, ih=(W_ih, W_ih, W_ih), hh=(W_hh, W_hh, W_hh))),
    ]
    out.append(("W_hh is transposed: W_hn has the RNN's layout (H, H), copy W_hh as it is",
                gru(up, down, hh=(zh, zh, W_hh.T))))
    parts = {"r": (zi, zh, up), "z": (zi, zh, down), "n": (W_ih, W_hh, b)}
    for order in itertools.permutations("rzn"):
        if order[2] != "n":
            blocks = [parts[g] for g in order]
            out.append((f"the RNN weights are in the wrong block (you built the blocks in the order "
                        f"{', '.join(order)}; torch's order is r, z, n, so W_in, W_hn are rows [2H, 3H))",
                        (_cat([w for w, _, _ in blocks]), _cat([w for _, w, _ in blocks]),
                         _cat([c for _, _, c in blocks]), zeros3)))
    return out


def _effectively_equal(got: tuple, wrong: tuple, atol: float) -> bool:
    """Same weight blocks and the same bias per block (b_ih + b_hh): the same mistake, however the bias is split."""
    W_ih3, W_hh3, b_ih3, b_hh3 = got
    return (max_diff(W_ih3, wrong[0]) <= atol and max_diff(W_hh3, wrong[1]) <= atol
            and max_diff(b_ih3 + b_hh3, wrong[2] + wrong[3]) <= atol)


def check_gru_from_rnn(gru_from_rnn: Callable) -> None:
    gen = generator(case_seed(503))
    for case, T, D, H, s, dtype in [("D=3, H=4, saturation=30 (the default), float64", 8, 3, 4, None, torch.float64),
                                    ("D=2, H=1, saturation=40, float64", 6, 2, 1, 40.0, torch.float64),
                                    ("D=4, H=3, saturation=40, float64", 6, 4, 3, 40.0, torch.float64),
                                    ("D=2, H=5, saturation=30 (the default), float32", 6, 2, 5, None, torch.float32)]:
        W_ih, W_hh, b = randn(gen, H, D, dtype=dtype, scale=0.6), randn(gen, H, H, dtype=dtype, scale=0.6), \
            randn(gen, H, dtype=dtype, scale=0.5)
        args = (W_ih, W_hh, b)
        kwargs = {} if s is None else {"saturation": s}
        s = 30.0 if s is None else s
        before = snapshot(*args)
        # sequences: rows of x from small (tanh unsaturated) to large (pre-activations of tens)
        scales = torch.tensor([0.3, 1.0, 8.0, 40.0], dtype=dtype)
        x = randn(gen, T, 4, D, dtype=dtype) * scales[:, None]
        h0 = _tanh(randn(gen, 4, H, dtype=dtype))
        with _no_grad():
            expected = _rnn_forward(to_numpy(x), to_numpy(h0), to_numpy(W_ih), to_numpy(W_hh), to_numpy(b))
            named = [(message, wrong, _forward(x, h0, *wrong)[0])
                     for message, wrong in _from_rnn_mistakes(W_ih, W_hh, b, s)]
        got = call(gru_from_rnn, "gru_from_rnn", case, *args, **kwargs)
        expect_unchanged("gru_from_rnn", before, args, ["W_ih", "W_hh", "b"])
        names = ("W_ih3", "W_hh3", "b_ih3", "b_hh3")
        got = expect_items("gru_from_rnn", got, 4, case, f"a tuple ({', '.join(names)})")
        for name, value, shape in zip(names, got, [(3 * H, D), (3 * H, H), (3 * H,), (3 * H,)]):
            expect_array(name, value, shape, case)
            expect_dtype(name, value, dtype, case)
        weights = tuple(w.detach() for w in got)
        with _no_grad():
            hs = _forward(x, h0, *weights)[0]  # (T, 4, H): the reference GRU with the student's weights
        named.sort(key=lambda m: not _effectively_equal(weights, m[1], TOL[dtype]))  # its own mistake first
        expect_close_array("hs (the GRU run with your weights, against the tanh RNN)", hs, expected, case,
                           atol=TOL[dtype], mistakes={message: wrong_hs for message, _, wrong_hs in named})
        gate_rows = max(max_diff(weights[0][:2 * H], _zeros(2 * H, D)), max_diff(weights[1][:2 * H], _zeros(2 * H, H)))
        if gate_rows != 0.0:
            raise CheckFailure(f"the gates' weight rows W_ir, W_iz, W_hr, W_hz (rows [0, 2H)) should be zero, "
                               f"found entries up to {gate_rows:.3g} ({case})")
        bias = weights[2] + weights[3]
        for gate, rows, target in (("reset", slice(0, H), s), ("update", slice(H, 2 * H), -s)):
            if max_diff(bias[rows], _full((H,), target, dtype=dtype)) > TOL[dtype] * max(1.0, s):
                got_value = to_numpy(bias[rows])
                raise CheckFailure(f"the {gate} gate's bias (b_ih + b_hh in rows [{rows.start}, {rows.stop})) "
                                   f"should be {'+' if target > 0 else '-'}saturation, got values from "
                                   f"{got_value.min():.6g} to {got_value.max():.6g} ({case}): use the "
                                   f"saturation argument")


# ----------------------------------------------------------------------------- cho_gru_step

def _cho_mistakes(x, h, W_ih, W_hh, b_ih, b_hh, H) -> dict:
    xw = x @ W_ih.T + b_ih
    r, z, n = _cho_gates(xw, h, W_hh, b_hh)  # the reference equations
    xn, W_hn, b_hn = xw[..., 2 * H:], W_hh[2 * H:], b_hh[2 * H:]
    out = {
        "you computed torch's convention, r * (W_hn h_prev + b_hn): that is Exercise 5.1; here r multiplies "
        "h_prev before W_hn": _step(x, h, W_ih, W_hh, b_ih, b_hh),
        "r multiplies the product W_hn h_prev; in Cho et al.'s form it multiplies h_prev itself, before W_hn":
            (1 - z) * _tanh(xn + r * (h @ W_hn.T) + b_hn) + z * h,
        "b_hn is multiplied by r; in Cho et al.'s form only h_prev is reset: W_hn (r * h_prev) + b_hn":
            (1 - z) * _tanh(xn + (r * h) @ W_hn.T + r * b_hn) + z * h,
        "the update gate's sign is flipped: h_t = (1 - z) * n + z * h_prev": z * n + (1 - z) * h,
        "the bias b_hh is missing": _cho(x, h, W_ih, W_hh, b_ih, torch.zeros_like(b_hh)),
    }
    out.update(_wrong_gate_orders(_cho, x, h, W_ih, W_hh, b_ih, b_hh))
    return out


def check_cho_gru_step(cho_gru_step: Callable) -> None:
    cases = _STEP_CASES[:2] + [("B=4, D=1, H=1, float64", 4, 1, 1, torch.float64)] + _STEP_CASES[2:]
    _check_step(cho_gru_step, "cho_gru_step", 504, cases, _cho, _cho_mistakes)


def check_gru_forward(gru_forward: Callable) -> None:
    gen = generator(case_seed(502))
    for case, T, B, D, H, dtype in [("T=6, B=3, D=4, H=5, float64", 6, 3, 4, 5, torch.float64),
                                    ("T=1, B=2, D=3, H=2, float64", 1, 2, 3, 2, torch.float64),
                                    ("T=4, B=1, D=2, H=3, float32", 4, 1, 2, 3, torch.float32)]:
        x, h0 = randn(gen, T, B, D, dtype=dtype), randn(gen, B, H, dtype=dtype)
        W_ih, W_hh, b_ih, b_hh = _params(gen, D, H, dtype)
        args = (x, h0, W_ih, W_hh, b_ih, b_hh)
        before = snapshot(*args)
        ehs, ehT = _forward(*args)
        no_carry = torch.stack([_step(x[t], h0, *args[2:]) for t in range(T)])
        got = call(gru_forward, "gru_forward", case, *args)
        expect_unchanged("gru_forward", before, args, ["x", "h0", "W_ih", "W_hh", "b_ih", "b_hh"])
        hs, hT = expect_items("gru_forward", got, 2, case, "(hs, h_T)")
        if isinstance(hs, torch.Tensor) and tuple(hs.shape) == (T + 1, B, H):
            raise CheckFailure(f"hs has shape {(T + 1, B, H)}, expected {(T, B, H)} ({case}): do not include h0")
        expect_close_array("hs", hs, ehs, case, atol=TOL[dtype],
                           mistakes={"the state is not carried from step to step": no_carry})
        expect_close_array("h_T", hT, ehT, case, atol=TOL[dtype])


def _is_count(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def check_rnn_param_counts(rnn_param_counts: Callable) -> None:
    for D, H in [(7, 13), (1, 1), (65, 512), (300, 50)]:
        case = f"input_size={D}, hidden_size={H}"
        expected = _counts(D, H)
        got = call(rnn_param_counts, "rnn_param_counts", case, D, H)
        if not isinstance(got, dict) or set(got) != {"rnn", "lstm", "gru"}:
            detail = ""
            if isinstance(got, dict):
                missing = [k for k in ("rnn", "lstm", "gru") if k not in got]
                extra = len(got) - 3 + len(missing)
                detail = (f" missing {', '.join(map(repr, missing))}" if missing else "") + \
                    (f" with {extra} other key(s)" if extra else "")
            raise CheckFailure(f"rnn_param_counts should return a dict with keys 'rnn', 'lstm', 'gru', got "
                               f"{kind(got)}{detail} ({case})")
        for key, G, module in (("rnn", 1, "RNN"), ("lstm", 4, "LSTM"), ("gru", 3, "GRU")):
            value = got[key]
            if not _is_count(value):
                raise CheckFailure(f"the {key} count should be a whole number, got {kind(value)} ({case})")
            if value != expected[key]:
                hint = ""
                if value == G * (H * D + H * H + H):
                    hint = " It looks like only one bias vector is counted; torch has two (b_ih and b_hh)."
                elif value == G * (H * D + H * H):
                    hint = " The biases are missing."
                raise CheckFailure(f"the {key} count is {value}, which is not the number of parameters of "
                                   f"torch.nn.{module}({D}, {H}) ({case}).{hint}")
