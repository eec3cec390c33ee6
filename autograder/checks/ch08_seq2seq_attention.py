"""Hidden checks for chapter 08_seq2seq_attention: dot_attention, additive_attention,
attention_decoder_step, make_decoder_io.

The student's function receives only tensors, numbers, None and (for the
decoder step) a cell callable that stays on this side; every reference value
is computed here from the inputs.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from autograder.checks import (CheckFailure, call, case_seed, expect_close, expect_dtype, expect_items, expect_shape,
                               student_text)
from autograder.checks._torchcase import TOL, expect_tensor, expect_untouched, frozen, generator, randn
from rnncourse import attention as _ref_attention
from rnncourse import seq2seq as _ref_seq2seq

_dot = _ref_attention.dot_attention
_additive = _ref_attention.additive_attention
_additive_scores = _ref_attention.additive_scores
_step = _ref_seq2seq.attention_decoder_step
_decoder_io = _ref_seq2seq.make_decoder_io
_softmax = torch.softmax
_tanh = torch.tanh
_cat = torch.cat
_grad = torch.autograd.grad
_Tensor = torch.Tensor


def _pair(name: str, got, case: str, what: str = "(context, weights)"):
    return expect_items(name, got, 2, case, f"a pair {what}")


def _masks(gen: torch.Generator, B: int, S: int) -> dict[str, torch.Tensor]:
    """A padding mask (prefixes of different lengths) and a scattered one; every row has a True and a False."""
    lengths = torch.tensor([max(1, S - 1 - (b % max(1, S - 1))) for b in range(B)])
    padding = torch.arange(S)[None, :] < lengths[:, None]  # (B, S)
    scattered = torch.rand(B, S, generator=gen) < 0.5
    scattered[:, 0], scattered[:, -1] = True, False
    return {"padding": padding, "scattered": scattered[:, torch.randperm(S, generator=gen)]}


def _weighted(weights: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    return (weights[:, :, None] * values).sum(1)  # (B, E)


def _mask_mistakes(scores: torch.Tensor, mask: torch.Tensor | None, values: torch.Tensor) -> dict[str, tuple]:
    """(context, weights) of the typical ways to get softmax and masking wrong, for the given raw scores (B, S)."""
    out: dict[str, tuple] = {}

    def add(message: str, w: torch.Tensor) -> None:
        out[message] = (_weighted(w, values), w)

    add("the softmax is taken over the batch axis; normalise over the source positions (the last axis)",
        _softmax(scores if mask is None else scores.masked_fill(~mask, float("-inf")), dim=0).nan_to_num(0.0))
    if mask is not None:
        plain = _softmax(scores, dim=-1)
        add("the mask is ignored: padded positions must get weight 0", plain)
        add("the mask is applied after the softmax without renormalising: set the masked scores to -inf "
            "before the softmax, so that the remaining weights sum to 1", plain * mask)
        add("the mask is inverted: True marks a position that may be attended",
            _softmax(scores.masked_fill(mask, float("-inf")), dim=-1))
        add("masked positions get the score 0 instead of -inf, so they still receive weight",
            _softmax(scores.masked_fill(~mask, 0.0), dim=-1))
    return out


def _compare(name: str, got, expected: tuple, mistakes: dict[str, tuple], case: str, dtype: torch.dtype,
             shapes: tuple, key_size: int) -> tuple:
    """Check ``got = (context, weights)`` against ``expected``; ``mistakes`` maps a hint to a wrong (context, weights)."""
    context, weights = _pair(name, got, case)
    expect_shape("weights", weights, shapes[1], case)
    if getattr(context, "shape", None) == (shapes[0][0], key_size) and key_size != shapes[0][1]:
        raise CheckFailure(f"context has shape {tuple(context.shape)}, expected {shapes[0]} ({case}): it looks like "
                           "the context averages the keys instead of the values; it is the weighted sum of the values")
    expect_shape("context", context, shapes[0], case)
    atol = TOL[dtype] * 10
    expect_close("weights", weights, expected[1], case, atol=atol, mistakes={k: v[1] for k, v in mistakes.items()})
    expect_close("context", context, expected[0], case, atol=atol, mistakes={k: v[0] for k, v in mistakes.items()})
    expect_dtype("context", context, dtype, case)
    expect_dtype("weights", weights, dtype, case)
    return context, weights


def _expect_gradients(name: str, run_student: Callable, run_ref: Callable, tensors: list[torch.Tensor],
                      labels: list[str], case: str) -> None:
    """Gradients of a random linear function of (context, weights) w.r.t. the inputs match the reference."""
    gen = generator(case_seed(899))
    ref_leaves = [t.detach().clone().requires_grad_(True) for t in tensors]
    expected = run_ref(*ref_leaves)
    probes = [randn(gen, *e.shape, dtype=e.dtype) for e in expected]
    grads_ref = _grad(sum((e * p).sum() for e, p in zip(expected, probes)), ref_leaves, allow_unused=True)
    leaves = [t.detach().clone().requires_grad_(True) for t in tensors]
    before = frozen(leaves)
    got = _pair(name, run_student(*leaves), case)
    expect_untouched(name, before, leaves, labels)
    for what, g, e in zip(("context", "weights"), got, expected):
        expect_tensor(what, g, case, tuple(e.shape))
    if not all(g.requires_grad for g in got):
        raise CheckFailure(f"the outputs of {name} are not differentiable with respect to its inputs ({case}): "
                           "compute them with torch operations, without .detach(), .item(), numpy or torch.no_grad()")
    try:
        grads_got = _grad(sum((g * p).sum() for g, p in zip(got, probes)), leaves, allow_unused=True)
    except RuntimeError as err:
        raise CheckFailure(f"the gradients through the outputs of {name} could not be computed ({case}): "
                           f"{student_text(err)}") from None
    for label, g, r in zip(labels, grads_got, grads_ref):
        if g is None:
            raise CheckFailure(f"no gradient reaches {label} through the outputs of {name} ({case})")
        expect_close(f"the gradient with respect to {label}", g, r, case, atol=1e-8)


# ----------------------------------------------------------------------------- dot_attention

def check_dot_attention(dot_attention: Callable) -> None:
    gen = generator(case_seed(801))
    cases = [("B=3, S=5, H=4, E=6, no mask", 3, 5, 4, 6, torch.float64, None, None),
             ("B=4, S=6, H=8, E=3, padding mask", 4, 6, 8, 3, torch.float64, "padding", None),
             ("B=3, S=7, H=5, E=5, scattered mask", 3, 7, 5, 5, torch.float64, "scattered", None),
             ("B=2, S=4, H=16, E=2, scale=1.0 (plain dot product), padding mask", 2, 4, 16, 2, torch.float64,
              "padding", 1.0),
             ("B=3, S=5, H=6, E=4, scale=0.25", 3, 5, 6, 4, torch.float64, None, 0.25),
             ("B=1, S=1, H=3, E=2", 1, 1, 3, 2, torch.float64, None, None),
             ("B=3, S=6, H=4, E=5, float32, padding mask", 3, 6, 4, 5, torch.float32, "padding", None)]
    for case, B, S, H, E, dtype, mask_kind, scale in cases:
        q, K, V = randn(gen, B, H, dtype=dtype), randn(gen, B, S, H, dtype=dtype), randn(gen, B, S, E, dtype=dtype)
        mask = _masks(gen, B, S)[mask_kind] if mask_kind else None
        args = (q, K, V, mask)
        before = frozen(list(args))
        q0, K0, V0, m0 = before
        kwargs = {} if scale is None else {"scale": scale}
        expected = _dot(q0, K0, V0, m0, scale)
        s = 1.0 / math.sqrt(H) if scale is None else scale
        raw = (K0 * q0[:, None, :]).sum(-1)  # (B, S) unscaled dot products
        mistakes = _mask_mistakes(s * raw, m0, V0)
        if scale is None:
            mistakes["the scores are not scaled: multiply the dot products by scale = 1/sqrt(H)"] = _dot(q0, K0, V0, m0, 1.0)
            mistakes["the scores are divided by H instead of sqrt(H)"] = _dot(q0, K0, V0, m0, 1.0 / H)
            mistakes["the scores are multiplied by sqrt(H) instead of divided"] = _dot(q0, K0, V0, m0, math.sqrt(H))
        else:
            mistakes["the scale argument is ignored: when it is given, use it instead of 1/sqrt(H)"] = _dot(q0, K0, V0, m0)
            mistakes["the scores are divided by scale instead of multiplied by it"] = _dot(q0, K0, V0, m0, 1.0 / scale)
        if E == H:
            w = expected[1]
            mistakes["the context averages the keys instead of the values"] = (_weighted(w, K0), w)
        got = call(dot_attention, "dot_attention", case, q, K, V, mask, **kwargs)
        expect_untouched("dot_attention", before, args, ["query", "keys", "values", "mask"])
        _compare("dot_attention", got, expected, mistakes, case, dtype, ((B, E), (B, S)), key_size=H)
    q, K, V = randn(gen, 3, 4), randn(gen, 3, 5, 4), randn(gen, 3, 5, 3)
    mask = _masks(gen, 3, 5)["scattered"]
    mask0 = frozen(mask)
    _expect_gradients("dot_attention", lambda a, b, c: call(dot_attention, "dot_attention", "gradients", a, b, c, mask),
                      lambda a, b, c: _dot(a, b, c, mask0), [q, K, V], ["query", "keys", "values"],
                      "B=3, S=5, H=4, E=3, scattered mask, gradients")
    expect_untouched("dot_attention", [mask0], (mask,), ["mask"])


# ----------------------------------------------------------------------------- additive_attention

def check_additive_attention(additive_attention: Callable) -> None:
    gen = generator(case_seed(802))
    cases = [("B=3, S=5, Hq=4, Hk=6, A=7, E=2, no mask", 3, 5, 4, 6, 7, 2, torch.float64, None),
             ("B=4, S=6, Hq=5, Hk=5, A=3, E=4, padding mask", 4, 6, 5, 5, 3, 4, torch.float64, "padding"),
             ("B=2, S=7, Hq=3, Hk=4, A=6, E=4, scattered mask", 2, 7, 3, 4, 6, 4, torch.float64, "scattered"),
             ("B=1, S=1, Hq=2, Hk=3, A=2, E=2", 1, 1, 2, 3, 2, 2, torch.float64, None),
             ("B=3, S=6, Hq=4, Hk=3, A=5, E=3, float32, padding mask", 3, 6, 4, 3, 5, 3, torch.float32, "padding")]
    for case, B, S, Hq, Hk, A, E, dtype, mask_kind in cases:
        q, K, V = randn(gen, B, Hq, dtype=dtype), randn(gen, B, S, Hk, dtype=dtype), randn(gen, B, S, E, dtype=dtype)
        W_q, W_k, v = randn(gen, A, Hq, dtype=dtype), randn(gen, A, Hk, dtype=dtype), randn(gen, A, dtype=dtype)
        mask = _masks(gen, B, S)[mask_kind] if mask_kind else None
        args = (q, K, V, W_q, W_k, v, mask)
        before = frozen(list(args))
        q0, K0, V0, W_q0, W_k0, v0, m0 = before
        expected = _additive(*before)
        scores = _additive_scores(q0, K0, W_q0, W_k0, v0)
        mistakes = _mask_mistakes(scores, m0, V0)
        no_tanh = ((q0 @ W_q0.T)[:, None, :] + K0 @ W_k0.T) @ v0
        m = m0 if m0 is not None else torch.ones(B, S, dtype=torch.bool)
        w = _softmax(no_tanh.masked_fill(~m, float("-inf")), dim=-1)
        mistakes["tanh is missing: the score is v · tanh(W_q q + W_k k_s)"] = (_weighted(w, V0), w)
        w = _softmax((scores / math.sqrt(A)).masked_fill(~m, float("-inf")), dim=-1)
        mistakes["the additive scores are scaled by 1/sqrt(A); Bahdanau's score has no scale"] = (_weighted(w, V0), w)
        if Hq == Hk:
            mistakes["W_q and W_k are swapped: W_q acts on the query, W_k on the keys"] = \
                _additive(q0, K0, V0, W_k0, W_q0, v0, m0)
        got = call(additive_attention, "additive_attention", case, *args)
        expect_untouched("additive_attention", before, args, ["query", "keys", "values", "W_q", "W_k", "v", "mask"])
        _compare("additive_attention", got, expected, mistakes, case, dtype, ((B, E), (B, S)), key_size=Hk)
    q, K, V = randn(gen, 3, 4), randn(gen, 3, 5, 3), randn(gen, 3, 5, 2)
    W_q, W_k, v = randn(gen, 6, 4), randn(gen, 6, 3), randn(gen, 6)
    mask = _masks(gen, 3, 5)["padding"]
    mask0 = frozen(mask)
    _expect_gradients("additive_attention",
                      lambda *a: call(additive_attention, "additive_attention", "gradients", *a, mask),
                      lambda *a: _additive(*a, mask0), [q, K, V, W_q, W_k, v], ["query", "keys", "values", "W_q", "W_k", "v"],
                      "B=3, S=5, Hq=4, Hk=3, A=6, E=2, padding mask, gradients")
    expect_untouched("additive_attention", [mask0], (mask,), ["mask"])


# ----------------------------------------------------------------------------- attention_decoder_step

def _gru_cell(gen: torch.Generator, E: int, H: int, dtype: torch.dtype) -> Callable:
    """A GRU cell (torch's equations) over fixed random weights, as a plain function."""
    W_ih, W_hh = randn(gen, 3 * H, E, dtype=dtype, scale=0.5), randn(gen, 3 * H, H, dtype=dtype, scale=0.5)
    b_ih, b_hh = randn(gen, 3 * H, dtype=dtype, scale=0.3), randn(gen, 3 * H, dtype=dtype, scale=0.3)

    def cell(x, h):
        gi, gh = x @ W_ih.T + b_ih, h @ W_hh.T + b_hh  # (B, 3H) each
        r = torch.sigmoid(gi[:, :H] + gh[:, :H])
        z = torch.sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
        n = _tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        return (1 - z) * n + z * h

    return cell


def check_attention_decoder_step(attention_decoder_step: Callable) -> None:
    gen = generator(case_seed(803))
    for case, B, S, E, H, Vsz, dtype, mask_kind in [
            ("B=3, S=5, E=4, H=6, V=7, padding mask", 3, 5, 4, 6, 7, torch.float64, "padding"),
            ("B=2, S=4, E=3, H=5, V=6, no mask", 2, 4, 3, 5, 6, torch.float64, None),
            ("B=4, S=6, E=5, H=4, V=9, scattered mask", 4, 6, 5, 4, 9, torch.float64, "scattered"),
            ("B=3, S=5, E=4, H=6, V=7, float32, padding mask", 3, 5, 4, 6, 7, torch.float32, "padding")]:
        cell = _gru_cell(gen, E, H, dtype)
        y, h_prev, enc = randn(gen, B, E, dtype=dtype), randn(gen, B, H, dtype=dtype), randn(gen, B, S, H, dtype=dtype)
        W_c, b_c = randn(gen, H, 2 * H, dtype=dtype, scale=0.5), randn(gen, H, dtype=dtype, scale=0.3)
        W_out, b_out = randn(gen, Vsz, H, dtype=dtype), randn(gen, Vsz, dtype=dtype)
        mask = _masks(gen, B, S)[mask_kind] if mask_kind else None
        tensors = (y, h_prev, enc, mask, W_c, b_c, W_out, b_out)
        before = frozen(list(tensors))
        y0, h0, enc0, m0, W_c0, b_c0, W_out0, b_out0 = before
        e_logits, e_h, e_w = _step(cell, *before)

        def head(ctx, h):
            return _tanh(_cat([ctx, h], -1) @ W_c0.T + b_c0) @ W_out0.T + b_out0

        wrong: dict[str, tuple] = {}
        ctx_prev, w_prev = _dot(h0, enc0, enc0, m0)
        wrong["the query is h_prev; Luong's decoder attends with the new state h_t = cell(y_emb, h_prev)"] = (
            w_prev, head(ctx_prev, e_h))
        ctx1, w1 = _dot(e_h, enc0, enc0, m0, 1.0)
        wrong["the scores are not scaled: use dot_attention's default scale 1/sqrt(H)"] = (w1, head(ctx1, e_h))
        if m0 is not None:
            ctx_nm, w_nm = _dot(e_h, enc0, enc0, None)
            wrong["the mask is not passed on to the attention"] = (w_nm, head(ctx_nm, e_h))
        ctx = _dot(e_h, enc0, enc0, m0)[0]
        wrong["the concatenation is [h_t; context]; the order is [context; h_t]"] = (
            e_w, _tanh(_cat([e_h, ctx], -1) @ W_c0.T + b_c0) @ W_out0.T + b_out0)
        wrong["tanh is missing in h~_t = tanh(W_c [context; h_t] + b_c)"] = (
            e_w, (_cat([ctx, e_h], -1) @ W_c0.T + b_c0) @ W_out0.T + b_out0)
        wrong["the logits are computed from h_t; they come from the attentional state h~_t"] = (
            e_w, e_h @ W_out0.T + b_out0)
        got = call(attention_decoder_step, "attention_decoder_step", case, cell, *tensors)
        expect_untouched("attention_decoder_step", before, tensors,
                         ["y_emb", "h_prev", "enc_states", "mask", "W_c", "b_c", "W_out", "b_out"])
        logits, h, weights = expect_items("attention_decoder_step", got, 3, case, "(logits, h_t, weights)")
        atol = TOL[dtype] * 10
        expect_close("h_t", h, e_h, case, atol=atol, mistakes={
            "h_t is h_prev: return the cell's new state cell(y_emb, h_prev)": h0})
        expect_close("weights", weights, e_w, case, atol=atol, mistakes={k: v[0] for k, v in wrong.items()})
        expect_close("logits", logits, e_logits, case, atol=atol, mistakes={k: v[1] for k, v in wrong.items()})
        expect_dtype("logits", logits, dtype, case)


# ----------------------------------------------------------------------------- make_decoder_io

def check_make_decoder_io(make_decoder_io: Callable) -> None:
    gen = generator(case_seed(804))
    for case, lengths, (bos, eos, pad) in [
            ("lengths [3, 1, 2]", [3, 1, 2], (1, 2, 0)),
            ("lengths [4, 4] (no padding)", [4, 4], (1, 2, 0)),
            ("lengths [2, 5, 1, 3], other special ids", [2, 5, 1, 3], (11, 12, 10)),
            ("lengths [1]", [1], (1, 2, 0)),
            ("lengths [2, 0, 3] (an empty target)", [2, 0, 3], (1, 2, 0))]:
        T, B = max(lengths), len(lengths)
        lens = torch.tensor(lengths)
        targets = torch.randint(3, 10, (T, B), generator=gen)
        targets = targets.masked_fill(torch.arange(T)[:, None] >= lens[None, :], pad)  # (T, B)
        before = frozen([targets, lens])
        t0, l0 = before
        e_in, e_out = _decoder_io(t0, l0, bos, eos, pad)
        eos_at_end = _cat([t0, t0.new_full((1, B), eos)])
        eos_fills = _cat([t0, t0.new_full((1, B), pad)])
        eos_fills = eos_fills.masked_fill(torch.arange(T + 1)[:, None] >= l0[None, :], eos)
        no_bos = _cat([t0, t0.new_full((1, B), pad)])
        got = call(make_decoder_io, "make_decoder_io", case, targets, lens, bos, eos, pad)
        expect_untouched("make_decoder_io", before, (targets, lens), ["targets", "lengths"])
        dec_in, dec_out = expect_items("make_decoder_io", got, 2, case, "a pair (dec_in, dec_out)")
        for what, value in (("dec_in", dec_in), ("dec_out", dec_out)):
            if getattr(value, "shape", None) == (T, B):
                raise CheckFailure(f"{what} has shape {(T, B)}, expected {(T + 1, B)} ({case}): "
                                   "BOS adds one step at the start of dec_in, EOS one step to dec_out")
            expect_tensor(what, value, case, (T + 1, B))
        if torch.equal(dec_in, e_out) and torch.equal(dec_out, e_in):
            raise CheckFailure(f"dec_in and dec_out are swapped ({case}): the decoder reads BOS y_1 … y_n "
                               "and predicts y_1 … y_n EOS")
        expect_close("dec_in", dec_in, e_in, case, atol=0, mistakes={
            "dec_in is missing BOS at the start (dec_in = [BOS] + targets)": no_bos})
        expect_close("dec_out", dec_out, e_out, case, atol=0, mistakes={
            "EOS is placed after the padding (in the last row) instead of right after each column's own last "
            "token, at row lengths[b]": eos_at_end,
            "EOS fills the padding: put one EOS at row lengths[b] and pad_id after it": eos_fills,
        })
        if dec_in.is_floating_point() or dec_out.is_floating_point():
            raise CheckFailure(f"dec_in and dec_out must be integer tensors like targets, got {dec_in.dtype} ({case})")
