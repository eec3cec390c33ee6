"""Hidden checks for chapter 04_lstm: lstm_from_rnn, lstm_step, lstm_forward, peephole_lstm_step, init_forget_bias.

``check_lstm_from_rnn`` does not look for one particular set of weights: it runs
the trusted ``lstm_forward`` with the weights the student built and compares
the states with the tanh(tanh(·)) RNN, on inputs large enough that a gate whose
weight rows are not zero visibly moves. Any split of ``b`` between ``b_ih`` and
``b_hh`` passes; the gates' summed biases must be exactly ``±saturation``.
"""
from __future__ import annotations

import itertools
from typing import Callable

import numpy as np
import torch

from autograder.checks import (CheckFailure, call, case_seed, expect_array, expect_close_array, expect_dtype,
                               expect_items, expect_unchanged, kind, max_diff, snapshot, to_numpy)
from autograder.checks._torchcase import TOL, generator, randn
from rnncourse import lstm as _ref

_step = _ref.lstm_step
_gates, _memory = _ref.lstm_gates, _ref.lstm_memory
_zeros = torch.zeros
_stack = torch.stack
_as_tensor = torch.tensor
_tanh = torch.tanh
_Tensor = torch.Tensor
_no_grad = torch.no_grad
_forward = _ref.lstm_forward
_peephole = _ref.peephole_lstm_step
_cat = torch.cat
_arange = torch.arange
_isfinite, _full_like = np.isfinite, np.full_like

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


def check_lstm_step(lstm_step: Callable) -> None:
    gen = generator(case_seed(401))
    for case, B, D, H, dtype in _CASES:
        x, h, c = randn(gen, B, D, dtype=dtype), randn(gen, B, H, dtype=dtype), randn(gen, B, H, dtype=dtype)
        W_ih, W_hh, b_ih, b_hh = _params(gen, D, H, dtype)
        args = (x, h, c, W_ih, W_hh, b_ih, b_hh)
        before = snapshot(*args)
        eh, ec = _step(*args)
        perm = lambda p: _step(x, h, c, W_ih[p], W_hh[p], b_ih[p], b_hh[p])  # noqa: E731
        zero = torch.zeros_like(b_ih)
        mistakes_c = {k: v[1] for k, v in _gate_order_mistakes(H, perm).items()}
        mistakes_c["the bias b_hh is missing"] = _step(x, h, c, W_ih, W_hh, b_ih, zero)[1]
        mistakes_c["the bias b_ih is missing"] = _step(x, h, c, W_ih, W_hh, zero, b_hh)[1]
        o = torch.sigmoid((x @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, -1)[3])
        mistakes_h = {"h_t uses c_t without tanh (h_t = o_t * tanh(c_t))": o * ec}
        got = call(lstm_step, "lstm_step", case, *args)
        expect_unchanged("lstm_step", before, args, ["x_t", "h_prev", "c_prev", "W_ih", "W_hh", "b_ih", "b_hh"])
        h1, c1 = expect_items("lstm_step", got, 2, case, "a pair (h_t, c_t)")
        expect_close_array("c_t", c1, ec, case, atol=TOL[dtype], mistakes=mistakes_c)
        expect_close_array("h_t", h1, eh, case, atol=TOL[dtype], mistakes=mistakes_h)
        expect_dtype("h_t", h1, dtype, case)


def check_lstm_forward(lstm_forward: Callable) -> None:
    gen = generator(case_seed(402))
    for case, T, B, D, H, dtype in [("T=6, B=3, D=4, H=5, float64", 6, 3, 4, 5, torch.float64),
                                    ("T=1, B=2, D=3, H=2, float64", 1, 2, 3, 2, torch.float64),
                                    ("T=5, B=1, D=2, H=3, float32", 5, 1, 2, 3, torch.float32)]:
        x, h0, c0 = randn(gen, T, B, D, dtype=dtype), randn(gen, B, H, dtype=dtype), randn(gen, B, H, dtype=dtype)
        W_ih, W_hh, b_ih, b_hh = _params(gen, D, H, dtype)
        args = (x, h0, c0, W_ih, W_hh, b_ih, b_hh)
        before = snapshot(*args)
        eh, (ehT, ecT) = _forward(*args)
        perm = lambda p: _forward(x, h0, c0, W_ih[p], W_hh[p], b_ih[p], b_hh[p])[0]  # noqa: E731
        mistakes = _gate_order_mistakes(H, perm)
        no_carry, hh = [], h0
        for t in range(T):
            hh, _ = _step(x[t], hh, c0, W_ih, W_hh, b_ih, b_hh)
            no_carry.append(hh)
        mistakes["the cell state is not carried from step to step"] = torch.stack(no_carry)
        got = call(lstm_forward, "lstm_forward", case, *args)
        expect_unchanged("lstm_forward", before, args, ["x", "h0", "c0", "W_ih", "W_hh", "b_ih", "b_hh"])
        hs, state = expect_items("lstm_forward", got, 2, case, "(hs, (h_T, c_T))")
        if isinstance(hs, _Tensor) and tuple(hs.shape) == (T + 1, B, H):
            raise CheckFailure(f"hs has shape {(T + 1, B, H)}, expected {(T, B, H)} ({case}): do not include h0")
        expect_close_array("hs", hs, eh, case, atol=TOL[dtype], mistakes=mistakes)
        hT, cT = expect_items("lstm_forward", state, 2, case, "(hs, (h_T, c_T)) with the final state a pair (h_T, c_T)")
        expect_close_array("h_T", hT, ehT, case, atol=TOL[dtype])
        expect_close_array("c_T", cT, ecT, case, atol=TOL[dtype])


def check_peephole_lstm_step(peephole_lstm_step: Callable) -> None:
    gen = generator(case_seed(403))
    for case, B, D, H, dtype in _CASES:
        x, h, c = randn(gen, B, D, dtype=dtype), randn(gen, B, H, dtype=dtype), randn(gen, B, H, dtype=dtype)
        W_ih, W_hh, b, _ = _params(gen, D, H, dtype)
        p_i, p_f, p_o = (randn(gen, H, dtype=dtype) for _ in range(3))
        args = (x, h, c, W_ih, W_hh, b, p_i, p_f, p_o)
        before = snapshot(*args)
        eh, ec = _peephole(*args)
        z = torch.zeros_like(p_i)
        mistakes = {
            "the peepholes are missing": _peephole(x, h, c, W_ih, W_hh, b, z, z, z),
            "p_i and p_f are swapped": _peephole(x, h, c, W_ih, W_hh, b, p_f, p_i, p_o),
            "the output-gate peephole p_o is missing": _peephole(x, h, c, W_ih, W_hh, b, p_i, p_f, z),
            "the forget-gate peephole p_f is missing": _peephole(x, h, c, W_ih, W_hh, b, p_i, z, p_o),
            "the input-gate peephole p_i is missing": _peephole(x, h, c, W_ih, W_hh, b, z, p_f, p_o),
        }
        got = call(peephole_lstm_step, "peephole_lstm_step", case, *args)
        expect_unchanged("peephole_lstm_step", before, args,
                         ["x_t", "h_prev", "c_prev", "W_ih", "W_hh", "b", "p_i", "p_f", "p_o"])
        h1, c1 = expect_items("peephole_lstm_step", got, 2, case, "a pair (h_t, c_t)")
        expect_close_array("c_t", c1, ec, case, atol=TOL[dtype], mistakes={k: v[1] for k, v in mistakes.items()})
        expect_close_array("h_t", h1, eh, case, atol=TOL[dtype], mistakes={k: v[0] for k, v in mistakes.items()})


def check_init_forget_bias(init_forget_bias: Callable) -> None:
    gen = generator(case_seed(404))
    for case, H, value, dtype in [("H=4, value=1.0", 4, 1.0, torch.float64), ("H=1, value=2.5", 1, 2.5, torch.float64),
                                  ("H=6, value=-1.0, float32", 6, -1.0, torch.float32)]:
        b_ih, b_hh = randn(gen, 4 * H, dtype=dtype), randn(gen, 4 * H, dtype=dtype)
        before = snapshot(b_ih, b_hh)
        old_ih, old_hh = to_numpy(b_ih), to_numpy(b_hh)
        got = call(init_forget_bias, "init_forget_bias", case, b_ih, b_hh, value)
        expect_unchanged("init_forget_bias", before, (b_ih, b_hh), ["b_ih", "b_hh"])
        n_ih, n_hh = expect_items("init_forget_bias", got, 2, case, "a pair of new tensors (b_ih, b_hh)")
        for name, new in (("b_ih", n_ih), ("b_hh", n_hh)):
            expect_array(name, new, (4 * H,), case)
            expect_dtype(name, new, dtype, case)
            if not _isfinite(to_numpy(new)).all():
                raise CheckFailure(f"{name} contains NaN or inf ({case})")
        n_ih, n_hh = to_numpy(n_ih), to_numpy(n_hh)
        total = n_ih + n_hh
        block = lambda k: slice(k * H, (k + 1) * H)  # noqa: E731
        off = lambda k, target: max_diff(total[block(k)], _full_like(total[block(k)], target))  # noqa: E731
        if off(1, value) > TOL[dtype]:
            wrong = [g for k, g in ((0, "i"), (2, "g"), (3, "o")) if off(k, value) <= TOL[dtype]]
            hint = (f" It looks like you set the {wrong[0]} gate's slice instead (the forget gate is the second "
                    f"block, [H:2H])." if wrong else "")
            hint = hint or (" b_ih[H:2H] + b_hh[H:2H] must equal value (did you set both to value?)"
                            if off(1, 2 * value) <= TOL[dtype] else "")
            raise CheckFailure(f"the forget-gate biases b_ih[H:2H] + b_hh[H:2H] do not sum to value ({case}).{hint}")
        for k, gate in ((0, "i"), (2, "g"), (3, "o")):
            if max_diff(n_ih[block(k)], old_ih[block(k)]) > 0 or max_diff(n_hh[block(k)], old_hh[block(k)]) > 0:
                raise CheckFailure(f"the {gate} gate's biases changed ({case}); only the forget-gate slice [H:2H] "
                                   "may change")


# ----------------------------------------------------------------------------- lstm_from_rnn

_FROM_RNN_CASES = [  # label, T, B, D, H, dtype, saturation (None: the default, not passed)
    ("H=4, D=3, float64, saturation left at its default 30", 8, 3, 3, 4, torch.float64, None),
    ("H=5, D=2, float64, saturation=40", 7, 2, 2, 5, torch.float64, 40.0),
    ("H=3, D=4, float32, saturation=30", 8, 3, 4, 3, torch.float32, 30.0),
    ("H=2, D=1, float32, saturation=40", 6, 4, 1, 2, torch.float32, 40.0),
]
_STEP_SCALES = (0.5, 40.0, 1.0, 40.0, 0.3, 2.0, 40.0, 0.7)  # the large steps saturate any gate that reads x
_GATE_NAMES = {0: "input gate i", 1: "forget gate f", 2: "candidate g", 3: "output gate o"}


def _lstm_weights(W_ih, W_hh, b, gate_bias, g_bias_ih, g_bias_hh, block=2, gate_rows=None):
    """LSTM weights (4H, ·) with the RNN's weights in ``block``, the gates' summed biases ``gate_bias``
    (for i, f, o) and ``g_bias_ih``/``g_bias_hh`` in the candidate's slots; ``gate_rows`` = (W_ih4, W_hh4)
    whose rows outside block g are used instead of zeros."""
    H, D = W_ih.shape
    if gate_rows is None:
        W_ih4, W_hh4 = _zeros(4 * H, D, dtype=W_ih.dtype), _zeros(4 * H, H, dtype=W_ih.dtype)
    else:
        W_ih4, W_hh4 = gate_rows[0].detach().clone(), gate_rows[1].detach().clone()
        W_ih4[2 * H:3 * H] = 0.0
        W_hh4[2 * H:3 * H] = 0.0
    W_ih4[block * H:(block + 1) * H] = W_ih
    W_hh4[block * H:(block + 1) * H] = W_hh
    b_ih4, b_hh4 = _zeros(4 * H, dtype=W_ih.dtype), _zeros(4 * H, dtype=W_ih.dtype)
    for k, value in zip((0, 1, 3), gate_bias):
        b_ih4[k * H:(k + 1) * H] = value
    b_ih4[2 * H:3 * H] = g_bias_ih
    b_hh4[2 * H:3 * H] = g_bias_hh
    return W_ih4, W_hh4, b_ih4, b_hh4


def _run_lstm(x, h0, c0, weights):
    """(hs, cs), each (T, B, H): the states of the trusted LSTM cell with ``weights`` from ``(h0, c0)``.

    With the forget gate shut, ``c0`` is forgotten at the first step, so the right weights give the
    tanh(tanh(·)) RNN from any ``c0``; a nonzero one tells an input gate that is shut (``c`` drops to 0)
    from gates i and f read the other way round (``c`` keeps ``c0``)."""
    h, c, hs, cs = h0, c0, [], []
    with _no_grad():
        for t in range(x.shape[0]):
            h, c = _step(x[t], h, c, *(w.detach() for w in weights))
            hs.append(h)
            cs.append(c)
    return _stack(hs), _stack(cs)


_NONZERO_GATE_ROWS = ("the weight rows of the gates i, f, o are not zero: with large inputs the gates move away from 0 "
                      "and 1 (only the candidate block g, rows 2H:3H, holds the RNN's weights)")


def _run_lstms(x, h0, c0, weight_sets: list) -> list[tuple]:
    """``_run_lstm`` for many sets of weights at once (the reference's gate equations on a stacked batch)."""
    W_ih, W_hh, b_ih, b_hh = (_stack([w[k].detach() for w in weight_sets]) for k in range(4))
    bias = (b_ih + b_hh)[:, None, :]
    n = len(weight_sets)
    h, c, hs, cs = h0.expand(n, *h0.shape), c0.expand(n, *c0.shape), [], []
    with _no_grad():
        for t in range(x.shape[0]):
            h, c, _ = _memory(*_gates(x[t] @ W_ih.mT + h @ W_hh.mT + bias), c)
            hs.append(h)
            cs.append(c)
    hs, cs = _stack(hs, 1), _stack(cs, 1)  # (n, T, B, H)
    return [(hs[k], cs[k]) for k in range(n)]


def _from_rnn_mistakes(x, h0, c0, W_ih, W_hh, b, sat) -> dict:
    """message -> (hs, cs) of the LSTM built the wrong way (the mistake of nonzero gate rows is added per answer)."""
    H = W_ih.shape[0]
    zb = 0.0 * b
    build = lambda gate_bias=(sat, -sat, sat), g_ih=b, g_hh=zb, **kw: _lstm_weights(  # noqa: E731
        W_ih, W_hh, b, gate_bias, g_ih, g_hh, **kw)
    wrong = {
        "the forget gate is open (its bias must be -saturation, so that f = 0 and c_t does not accumulate)":
            build((sat, sat, sat)),
        "the output gate is closed (its bias must be +saturation, so that o = 1 and h_t = tanh(c_t))":
            build((sat, -sat, -sat)),
        "the input gate is closed (its bias must be +saturation, so that i = 1 and g_t is written into c_t)":
            build((-sat, -sat, sat)),
        "the bias b is counted twice (it is in both b_ih and b_hh, and the LSTM adds them; put it in one)":
            build(g_hh=b),
        "the bias b is missing (it belongs in the candidate block g, b_ih[2H:3H] or b_hh[2H:3H])":
            build(g_ih=zb),
    }
    for k in (0, 1, 3):
        wrong[f"the RNN's weights are in the block of the {_GATE_NAMES[k]} (rows {k}H:{k + 1}H); they belong in "
              f"the candidate block g, rows 2H:3H"] = build(block=k)
    correct = build()
    wrong.update(_gate_order_mistakes(H, lambda p: [w[p] for w in correct]))
    return dict(zip(wrong, _run_lstms(x, h0, c0, list(wrong.values()))))


def _nonzero_gate_rows(x, h0, c0, W_ih, W_hh, b, sat, got) -> tuple:
    """(hs, cs) of the right LSTM except for the gate rows of the answer ``got``."""
    return _run_lstm(x, h0, c0, _lstm_weights(W_ih, W_hh, b, (sat, -sat, sat), b, 0.0 * b, gate_rows=got[:2]))


def _double_tanh_rnn(x, h0, W_ih, W_hh, b):
    """(hs, cs): ``c_t = tanh(x_t W_ih^T + h_{t-1} W_hh^T + b)``, ``h_t = tanh(c_t)``."""
    h, hs, cs = h0, [], []
    for t in range(x.shape[0]):
        c = _tanh(x[t] @ W_ih.T + h @ W_hh.T + b)
        h = _tanh(c)
        hs.append(h)
        cs.append(c)
    return _stack(hs), _stack(cs)


def _expect_states(hs, cs, want_hs, case, atol, mistakes: dict) -> None:
    """hs must match; a mismatch is diagnosed on (hs, cs) together (closing i or o both silence h, not c)."""
    diff = max_diff(hs, want_hs)
    if diff <= atol:
        return
    hint = ""
    for message, (wrong_hs, wrong_cs) in mistakes.items():
        if max(max_diff(hs, wrong_hs), max_diff(cs, wrong_cs)) <= max(atol, 1e-6):
            hint = f" It looks like {message}."
            break
    what = "the states h_t of an LSTM run with your weights (compared with tanh(tanh(x_t W_ih^T + h_{t-1} W_hh^T + b)))"
    if diff == float("inf"):
        raise CheckFailure(f"{what} contain NaN or inf ({case}).{hint}")
    raise CheckFailure(f"{what} differ by up to {diff:.3g} (tolerance {atol:g}) ({case}).{hint}")


def check_lstm_from_rnn(lstm_from_rnn: Callable) -> None:
    gen = generator(case_seed(405))
    for case, T, B, D, H, dtype, sat in _FROM_RNN_CASES:
        W_ih, W_hh = randn(gen, H, D, dtype=dtype), randn(gen, H, H, dtype=dtype, scale=0.8)
        b = randn(gen, H, dtype=dtype)
        scales = _as_tensor(_STEP_SCALES[:T], dtype=dtype)[:, None, None]
        x, h0 = randn(gen, T, B, D, dtype=dtype) * scales, randn(gen, B, H, dtype=dtype, scale=0.5)
        c0 = randn(gen, B, H, dtype=dtype, scale=0.5)
        args = (W_ih, W_hh, b) if sat is None else (W_ih, W_hh, b, sat)
        saturation = 30.0 if sat is None else sat
        before = snapshot(W_ih, W_hh, b)
        want_hs, _ = _double_tanh_rnn(x, h0, W_ih, W_hh, b)
        mistakes = _from_rnn_mistakes(x, h0, c0, W_ih, W_hh, b, saturation)
        got = call(lstm_from_rnn, "lstm_from_rnn", case, *args)
        expect_unchanged("lstm_from_rnn", before, (W_ih, W_hh, b), ["W_ih", "W_hh", "b"])
        got = expect_items("lstm_from_rnn", got, 4, case, "four tensors (W_ih4, W_hh4, b_ih4, b_hh4)")
        for name, w, shape, label in zip(("W_ih4", "W_hh4", "b_ih4", "b_hh4"), got,
                                         ((4 * H, D), (4 * H, H), (4 * H,), (4 * H,)),
                                         ("(4H, D)", "(4H, H)", "(4H,)", "(4H,)")):
            if not isinstance(w, _Tensor):
                raise CheckFailure(f"{name} should be a torch tensor of shape {label}, got {kind(w)} ({case})")
            if tuple(w.shape) != shape:
                raise CheckFailure(f"{name} has shape {tuple(w.shape)}, expected {label} = {shape} ({case})")
            expect_dtype(name, w, dtype, case)
        got = [w.detach() for w in got]
        hs, cs = _run_lstm(x, h0, c0, got)
        mistakes[_NONZERO_GATE_ROWS] = _nonzero_gate_rows(x, h0, c0, *before, saturation, got)
        _expect_states(hs, cs, want_hs, case, TOL[dtype], mistakes)
        total = got[2] + got[3]
        for k, sign in ((0, 1.0), (1, -1.0), (3, 1.0)):
            rows = slice(k * H, (k + 1) * H)
            gate = _GATE_NAMES[k]
            for name, w in (("W_ih4", got[0]), ("W_hh4", got[1])):
                if w[rows].abs().max() > 0:
                    raise CheckFailure(f"the {gate}'s weight rows {name}[{k}H:{k + 1}H] are not zero ({case}): "
                                       f"only the candidate block g holds the RNN's weights")
            want = sign * saturation
            err = max_diff(total[rows], torch.full_like(total[rows], want))
            if err > TOL[dtype] * saturation:
                seen = float(total[rows][0])
                hint = ""
                if abs(seen - 2 * want) <= 1e-6 * saturation:
                    hint = "; it is counted twice (set it in b_ih or in b_hh, not in both)"
                elif abs(abs(seen) - saturation) > 1e-6 * saturation and (total[rows] - seen).abs().max() == 0:
                    hint = "; use the argument saturation, not a fixed number"
                raise CheckFailure(f"the {gate}'s bias b_ih4[{k}H:{k + 1}H] + b_hh4[{k}H:{k + 1}H] is {seen:g}, "
                                   f"it should be {'+' if sign > 0 else '-'}saturation ({case}){hint}")
