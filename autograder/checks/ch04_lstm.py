"""Hidden checks for chapter 04_lstm: lstm_step, lstm_forward, peephole_lstm_step, init_forget_bias."""
from __future__ import annotations

import itertools
from typing import Callable

import torch

from autograder.checks import (CheckFailure, call, expect_close, expect_dtype, expect_shape,
                               expect_unchanged, snapshot)
from autograder.checks._torchcase import TOL, generator, randn
from rnncourse import lstm as _ref

_step = _ref.lstm_step
_forward = _ref.lstm_forward
_peephole = _ref.peephole_lstm_step
_cat = torch.cat
_arange = torch.arange

_CASES = [("B=3, D=4, H=5, float64", 3, 4, 5, torch.float64), ("B=1, D=2, H=3, float64", 1, 2, 3, torch.float64),
          ("B=2, D=3, H=4, float32", 2, 3, 4, torch.float32)]


def _params(gen, D, H, dtype, G=4):
    return (randn(gen, G * H, D, dtype=dtype, scale=0.6), randn(gen, G * H, H, dtype=dtype, scale=0.6),
            randn(gen, G * H, dtype=dtype, scale=0.5), randn(gen, G * H, dtype=dtype, scale=0.5))


def _perm(order: tuple[int, ...], H: int) -> torch.Tensor:
    return _cat([_arange(k * H, (k + 1) * H) for k in order])


def _gate_order_mistakes(H, fn) -> dict:
    """Outputs of the reference with the gate blocks permuted, keyed by a readable message."""
    names = "ifgo"
    out = {}
    for order in itertools.permutations(range(4)):
        if order == (0, 1, 2, 3):
            continue
        label = ", ".join(names[k] for k in order)
        out[f"the gates are in the wrong order (you read them as {label}; torch's order is i, f, g, o)"] = fn(_perm(order, H))
    return out


def _unpack2(name, got, case):
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise CheckFailure(f"{name} should return a pair, got {type(got).__name__} ({case})")
    return got


def check_lstm_step(lstm_step: Callable) -> None:
    gen = generator(401)
    for case, B, D, H, dtype in _CASES:
        x, h, c = randn(gen, B, D, dtype=dtype), randn(gen, B, H, dtype=dtype), randn(gen, B, H, dtype=dtype)
        W_ih, W_hh, b_ih, b_hh = _params(gen, D, H, dtype)
        args = (x, h, c, W_ih, W_hh, b_ih, b_hh)
        before = snapshot(*args)
        h1, c1 = _unpack2("lstm_step", call(lstm_step, "lstm_step", case, *args), case)
        eh, ec = _step(*args)
        perm = lambda p: _step(x, h, c, W_ih[p], W_hh[p], b_ih[p], b_hh[p])  # noqa: E731
        zero = torch.zeros_like(b_ih)
        mistakes_c = {k: v[1] for k, v in _gate_order_mistakes(H, perm).items()}
        mistakes_c["the bias b_hh is missing"] = _step(x, h, c, W_ih, W_hh, b_ih, zero)[1]
        mistakes_c["the bias b_ih is missing"] = _step(x, h, c, W_ih, W_hh, zero, b_hh)[1]
        expect_close("c_t", c1, ec, case, atol=TOL[dtype], mistakes=mistakes_c)
        expect_close("h_t", h1, eh, case, atol=TOL[dtype], mistakes={
            "h_t uses c_t without tanh (h_t = o_t * tanh(c_t))": torch.sigmoid((x @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, -1)[3]) * ec,
        })
        expect_dtype("h_t", h1, dtype, case)
        expect_unchanged("lstm_step", before, args, ["x_t", "h_prev", "c_prev", "W_ih", "W_hh", "b_ih", "b_hh"])


def check_lstm_forward(lstm_forward: Callable) -> None:
    gen = generator(402)
    for case, T, B, D, H, dtype in [("T=6, B=3, D=4, H=5, float64", 6, 3, 4, 5, torch.float64),
                                    ("T=1, B=2, D=3, H=2, float64", 1, 2, 3, 2, torch.float64),
                                    ("T=5, B=1, D=2, H=3, float32", 5, 1, 2, 3, torch.float32)]:
        x, h0, c0 = randn(gen, T, B, D, dtype=dtype), randn(gen, B, H, dtype=dtype), randn(gen, B, H, dtype=dtype)
        W_ih, W_hh, b_ih, b_hh = _params(gen, D, H, dtype)
        args = (x, h0, c0, W_ih, W_hh, b_ih, b_hh)
        before = snapshot(*args)
        got = _unpack2("lstm_forward", call(lstm_forward, "lstm_forward", case, *args), case)
        hs, state = got
        eh, (ehT, ecT) = _forward(*args)
        if getattr(hs, "shape", None) == (T + 1, B, H):
            raise CheckFailure(f"hs has shape {(T + 1, B, H)}, expected {(T, B, H)} ({case}): do not include h0")
        perm = lambda p: _forward(x, h0, c0, W_ih[p], W_hh[p], b_ih[p], b_hh[p])[0]  # noqa: E731
        mistakes = _gate_order_mistakes(H, perm)
        no_carry, hh = [], h0
        for t in range(T):
            hh, _ = _step(x[t], hh, c0, W_ih, W_hh, b_ih, b_hh)
            no_carry.append(hh)
        mistakes["the cell state is not carried from step to step"] = torch.stack(no_carry)
        expect_close("hs", hs, eh, case, atol=TOL[dtype], mistakes=mistakes)
        hT, cT = _unpack2("the final state", state, case)
        expect_close("h_T", hT, ehT, case, atol=TOL[dtype])
        expect_close("c_T", cT, ecT, case, atol=TOL[dtype])
        expect_unchanged("lstm_forward", before, args, ["x", "h0", "c0", "W_ih", "W_hh", "b_ih", "b_hh"])


def check_peephole_lstm_step(peephole_lstm_step: Callable) -> None:
    gen = generator(403)
    for case, B, D, H, dtype in _CASES:
        x, h, c = randn(gen, B, D, dtype=dtype), randn(gen, B, H, dtype=dtype), randn(gen, B, H, dtype=dtype)
        W_ih, W_hh, b, _ = _params(gen, D, H, dtype)
        p_i, p_f, p_o = (randn(gen, H, dtype=dtype) for _ in range(3))
        args = (x, h, c, W_ih, W_hh, b, p_i, p_f, p_o)
        before = snapshot(*args)
        h1, c1 = _unpack2("peephole_lstm_step", call(peephole_lstm_step, "peephole_lstm_step", case, *args), case)
        eh, ec = _peephole(*args)
        z = torch.zeros_like(p_i)
        mistakes = {
            "the peepholes are missing": _peephole(x, h, c, W_ih, W_hh, b, z, z, z),
            "p_i and p_f are swapped": _peephole(x, h, c, W_ih, W_hh, b, p_f, p_i, p_o),
            "the output-gate peephole p_o is missing": _peephole(x, h, c, W_ih, W_hh, b, p_i, p_f, z),
            "the forget-gate peephole p_f is missing": _peephole(x, h, c, W_ih, W_hh, b, p_i, z, p_o),
            "the input-gate peephole p_i is missing": _peephole(x, h, c, W_ih, W_hh, b, z, p_f, p_o),
        }
        expect_close("c_t", c1, ec, case, atol=TOL[dtype], mistakes={k: v[1] for k, v in mistakes.items()})
        expect_close("h_t", h1, eh, case, atol=TOL[dtype], mistakes={k: v[0] for k, v in mistakes.items()})
        expect_unchanged("peephole_lstm_step", before, args, ["x_t", "h_prev", "c_prev", "W_ih", "W_hh", "b", "p_i", "p_f", "p_o"])


def check_init_forget_bias(init_forget_bias: Callable) -> None:
    gen = generator(404)
    for case, H, value, dtype in [("H=4, value=1.0", 4, 1.0, torch.float64), ("H=1, value=2.5", 1, 2.5, torch.float64),
                                  ("H=6, value=-1.0, float32", 6, -1.0, torch.float32)]:
        b_ih, b_hh = randn(gen, 4 * H, dtype=dtype), randn(gen, 4 * H, dtype=dtype)
        before = snapshot(b_ih, b_hh)
        got = _unpack2("init_forget_bias", call(init_forget_bias, "init_forget_bias", case, b_ih, b_hh, value), case)
        n_ih, n_hh = got
        expect_shape("b_ih", n_ih, (4 * H,), case)
        expect_shape("b_hh", n_hh, (4 * H,), case)
        expect_unchanged("init_forget_bias", before, (b_ih, b_hh), ["b_ih", "b_hh"])
        total = (n_ih + n_hh).detach()
        for k, gate in ((1, "f"), (0, "i"), (2, "g"), (3, "o")):
            sl = slice(k * H, (k + 1) * H)
            if gate == "f":
                if (total[sl] - value).abs().max() > TOL[dtype]:
                    wrong = [g for j, g in enumerate("igo") if (total[[0, 2, 3][j] * H:([0, 2, 3][j] + 1) * H] - value).abs().max() <= TOL[dtype]]
                    hint = f" It looks like you set the {wrong[0]} gate's slice instead (the forget gate is the second block, [H:2H])." if wrong else ""
                    hint = hint or (" b_ih[H:2H] + b_hh[H:2H] must equal value (did you set both to value?)"
                                    if (total[sl] - 2 * value).abs().max() <= TOL[dtype] else "")
                    raise CheckFailure(f"the forget-gate biases b_ih[H:2H] + b_hh[H:2H] do not sum to {value} ({case}).{hint}")
            else:
                if (n_ih[sl] - b_ih[sl]).abs().max() > 0 or (n_hh[sl] - b_hh[sl]).abs().max() > 0:
                    raise CheckFailure(f"the {gate} gate's biases changed ({case}); only the forget-gate slice [H:2H] may change")
