"""Hidden checks for chapter 09_captioning.

init_state_from_features, conditioned_gru_step, spatial_attention, modified_precision, bleu.
Every input is plain data (tensors, lists of strings, ints), so the checks work
through a proxy to a function that runs in another process.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from autograder.checks import (CheckFailure, call, case_seed, expect_close, expect_dtype, expect_items, snapshot,
                               student_text)
from autograder.checks._torchcase import TOL, expect_tensor, expect_untouched, frozen, generator, randn
from rnncourse import bleu_score as _bleu_ref
from rnncourse import captioning as _ref

_init = _ref.init_state_from_features
_gru = _ref.conditioned_gru_step
_attend = _ref.spatial_attention
_precision = _bleu_ref.modified_precision
_bleu = _bleu_ref.bleu
_tanh, _sigmoid, _softmax, _cat, _zeros_like, _grad = torch.tanh, torch.sigmoid, torch.softmax, torch.cat, \
    torch.zeros_like, torch.autograd.grad
_Tensor = torch.Tensor
_arange = torch.arange
_exp, _log, _isclose, _isfinite = math.exp, math.log, math.isclose, math.isfinite


def _leaves(args: tuple) -> tuple:
    """Fresh leaf copies of ``args`` that require grad, for the reference's value and gradients."""
    return tuple(a.detach().clone().requires_grad_(True) for a in args)


def _grads_match(what: str, outputs: tuple, project: Callable, inputs: tuple, expected: tuple, names: list[str],
                 case: str, atol: float) -> None:
    """Gradients of ``project(*outputs)`` (a fixed random projection) w.r.t. every input against ``expected``,
    the reference's gradients of the same projection, computed before the student's call."""
    if not all(isinstance(o, _Tensor) and o.requires_grad for o in outputs):
        raise CheckFailure(f"{what} is not differentiable ({case}): build it from the input tensors with torch "
                           "operations, without .detach(), .numpy() or .item()")
    try:
        got = _grad(project(*outputs), inputs, allow_unused=True)
    except RuntimeError as err:
        raise CheckFailure(f"the gradients of {what} could not be computed ({case}): {student_text(err)}") from None
    for name, g, e in zip(names, got, expected):
        if e is None:
            continue
        if g is None:
            raise CheckFailure(f"{what} does not depend on {name} ({case}); every argument must be used")
        expect_close(f"the gradient of {what} with respect to {name}", g, e, case, atol=atol)


def _projection(seed: int, shape: tuple, dtype: torch.dtype) -> Callable:
    probe = randn(generator(case_seed(seed)), *shape, dtype=dtype)
    return lambda out: (out * probe).sum()


def _result(what: str, got, shape: tuple, dtype: torch.dtype, case: str) -> torch.Tensor:
    got = expect_tensor(what, got, case, shape)
    if not got.is_floating_point():
        raise CheckFailure(f"{what} should be a floating-point tensor, got dtype {got.dtype} ({case})")
    return got


# ----------------------------------------------------------------------------- init_state_from_features

def check_init_state_from_features(init_state_from_features: Callable) -> None:
    gen = generator(case_seed(901))
    for case, B, F, H, dtype in [("B=3, F=5, H=5, float64", 3, 5, 5, torch.float64), ("B=3, F=5, H=4, float64", 3, 5, 4, torch.float64),
                                 ("B=1, F=2, H=6, float64", 1, 2, 6, torch.float64),
                                 ("B=4, F=7, H=7, float32", 4, 7, 7, torch.float32)]:
        v = randn(gen, B, F, dtype=dtype).requires_grad_(True)
        W = randn(gen, H, F, dtype=dtype, scale=0.8).requires_grad_(True)
        b = randn(gen, H, dtype=dtype, scale=0.5).requires_grad_(True)
        args = (v, W, b)
        names = ["features", "W", "b"]
        before = frozen(list(args))
        ref_args = _leaves(args)
        expected = _init(*ref_args)
        project = _projection(909, (B, H), dtype)
        e_grads = _grad(project(expected), ref_args)
        vd, Wd, bd = (a.detach() for a in ref_args)
        mistakes = {"the tanh is missing: h_0 = tanh(features @ W.T + b)": vd @ Wd.T + bd,
                    "the bias b is missing": _tanh(vd @ Wd.T),
                    "a sigmoid was used; the state of a GRU lives in (-1, 1), use tanh": _sigmoid(vd @ Wd.T + bd)}
        if F == H:
            mistakes["W is not transposed: W has shape (H, F), so use features @ W.T"] = _tanh(vd @ Wd + bd)
        got = call(init_state_from_features, "init_state_from_features", case, *args)
        expect_untouched("init_state_from_features", before, args, names)
        got = _result("h_0", got, (B, H), dtype, case + ": features (B, F), W (H, F) give h_0 (B, H)")
        expect_close("h_0", got.detach(), expected.detach(), case, atol=TOL[dtype], mistakes=mistakes)
        expect_dtype("h_0", got, dtype, case)
        _grads_match("h_0", (got,), project, args, e_grads, names, case, atol=TOL[dtype] * 10)


# ----------------------------------------------------------------------------- conditioned_gru_step

def _gru_on(u, h, W_ih, W_hh, b_ih, b_hh, order=(0, 1, 2), reset_inside=True) -> torch.Tensor:
    """A GRU step on the input ``u``, reading the gate blocks in ``order``, for the diagnoses."""
    H = h.shape[1]
    gi, gh = (u @ W_ih.T + b_ih).chunk(3, 1), (h @ W_hh.T + b_hh).chunk(3, 1)
    (ir, iz, i_n), (hr, hz, hn) = [gi[k] for k in order], [gh[k] for k in order]
    r, z = _sigmoid(ir + hr), _sigmoid(iz + hz)
    if reset_inside:
        n = _tanh(i_n + r * hn)
    else:
        k = order[2]
        n = _tanh(i_n + (r * h) @ W_hh[k * H:(k + 1) * H].T + b_hh[k * H:(k + 1) * H])
    return (1 - z) * n + z * h


def _gru_variants(x, v, h, W_ih, W_hh, b_ih, b_hh) -> dict:
    u = _cat([x, v], 1)
    w = (W_ih, W_hh, b_ih, b_hh)
    out = {"[v; x_t] was concatenated in the wrong order: the first E columns of W_ih read the word x_t, "
           "the last F the image v": _gru_on(_cat([v, x], 1), h, *w),
           "the image is not fed: the input of the GRU is torch.cat([x_t, v], dim=1)":
               _gru_on(_cat([x, _zeros_like(v)], 1), h, *w),
           "the gates are read as z, r, n; torch's order is r, z, n": _gru_on(u, h, *w, order=(1, 0, 2)),
           "the reset gate is applied before the matrix product; torch uses r * (W_hn h + b_hn)":
               _gru_on(u, h, *w, reset_inside=False)}
    gi, gh = (u @ W_ih.T + b_ih).chunk(3, 1), (h @ W_hh.T + b_hh).chunk(3, 1)
    r, z = _sigmoid(gi[0] + gh[0]), _sigmoid(gi[1] + gh[1])
    n = _tanh(gi[2] + r * gh[2])
    out["the update gate's sign is flipped: torch's GRU uses h_t = (1 - z) * n + z * h_prev"] = z * n + (1 - z) * h
    return out


def check_conditioned_gru_step(conditioned_gru_step: Callable) -> None:
    gen = generator(case_seed(902))
    for case, B, E, F, H, dtype in [("B=3, E=4, F=5, H=6, float64", 3, 4, 5, 6, torch.float64),
                                    ("B=1, E=2, F=3, H=2, float64", 1, 2, 3, 2, torch.float64),
                                    ("B=2, E=3, F=3, H=4, float32", 2, 3, 3, 4, torch.float32)]:
        x, v, h = randn(gen, B, E, dtype=dtype), randn(gen, B, F, dtype=dtype), randn(gen, B, H, dtype=dtype)
        W_ih = randn(gen, 3 * H, E + F, dtype=dtype, scale=0.6)
        W_hh = randn(gen, 3 * H, H, dtype=dtype, scale=0.6)
        b_ih, b_hh = randn(gen, 3 * H, dtype=dtype, scale=0.5), randn(gen, 3 * H, dtype=dtype, scale=0.5)
        args = tuple(a.requires_grad_(True) for a in (x, v, h, W_ih, W_hh, b_ih, b_hh))
        names = ["x_t", "v", "h_prev", "W_ih", "W_hh", "b_ih", "b_hh"]
        before = frozen(list(args))
        ref_args = _leaves(args)
        expected = _gru(*ref_args)
        project = _projection(909, (B, H), dtype)
        e_grads = _grad(project(expected), ref_args)
        mistakes = _gru_variants(*(a.detach() for a in ref_args))
        got = call(conditioned_gru_step, "conditioned_gru_step", case, *args)
        expect_untouched("conditioned_gru_step", before, args, names)
        got = _result("h_t", got, (B, H), dtype, case)
        expect_close("h_t", got.detach(), expected.detach(), case, atol=TOL[dtype], mistakes=mistakes)
        expect_dtype("h_t", got, dtype, case)
        _grads_match("h_t", (got,), project, args, e_grads, names, case, atol=TOL[dtype] * 10)


# ----------------------------------------------------------------------------- spatial_attention

def check_spatial_attention(spatial_attention: Callable) -> None:
    gen = generator(case_seed(903))
    for case, B, L, C, H, A, dtype in [("B=2, L=9, C=4, H=5, A=3, float64", 2, 9, 4, 5, 3, torch.float64),
                                       ("B=1, L=1 (a single region), C=3, H=2, A=2, float64", 1, 1, 3, 2, 2,
                                        torch.float64),
                                       ("B=3, L=16, C=6, H=4, A=5, float32", 3, 16, 6, 4, 5, torch.float32),
                                       ("B=2, L=6, C=3, H=3, A=4, large scores", 2, 6, 3, 3, 4, torch.float64)]:
        scale = 40.0 if "large" in case else 1.0
        h, grid = randn(gen, B, H, dtype=dtype), randn(gen, B, L, C, dtype=dtype)
        W_h, W_g = randn(gen, A, H, dtype=dtype, scale=0.7), randn(gen, A, C, dtype=dtype, scale=0.7)
        w = randn(gen, A, dtype=dtype, scale=scale)
        args = tuple(a.requires_grad_(True) for a in (h, grid, W_h, W_g, w))
        names = ["h", "grid", "W_h", "W_g", "w"]
        before = frozen(list(args))
        ref_args = _leaves(args)
        e_context, e_weights = _attend(*ref_args)
        probe = randn(generator(case_seed(904)), B, C, dtype=dtype)

        def project(context, weights):
            return (context * probe).sum() + (weights * probe[:, :1]).sum()

        e_grads = _grad(project(e_context, e_weights), ref_args)
        hd, gd, Whd, Wgd, wd = (a.detach() for a in ref_args)
        scores = _tanh(gd @ Wgd.T + (hd @ Whd.T).unsqueeze(1)) @ wd  # (B, L)
        w_mistakes = {"the weights are the raw scores: apply a softmax over the L regions": scores,
                      "the softmax is taken over the batch axis; take it over the L regions (dim=1)":
                          _softmax(scores, dim=0),
                      "the tanh is missing: e_l = w · tanh(W_h h + W_g a_l)": _softmax(gd @ Wgd.T @ wd +
                                                                                       (hd @ Whd.T @ wd)[:, None], 1)}
        c_mistakes = {"the context is the plain mean of the regions, not weighted by the attention": gd.mean(1),
                      "the context is the region with the largest weight; soft attention takes the weighted sum":
                          gd[_arange(B), e_weights.detach().argmax(1)]}
        got = call(spatial_attention, "spatial_attention", case, *args)
        expect_untouched("spatial_attention", before, args, names)
        context, weights = expect_items("spatial_attention", got, 2, case, "(context, weights)")
        weights = _result("weights", weights, (B, L), dtype, case + ": one weight per region, shape (B, L)")
        expect_close("weights", weights.detach(), e_weights.detach(), case, atol=TOL[dtype], mistakes=w_mistakes)
        context = _result("context", context, (B, C), dtype, case + ": the weighted sum over L of grid, shape (B, C)")
        expect_close("context", context.detach(), e_context.detach(), case, atol=TOL[dtype], mistakes=c_mistakes)
        expect_dtype("context", context, dtype, case)
        _grads_match("(context, weights)", (context, weights), project, args, e_grads, names, case,
                     atol=TOL[dtype] * 100)


# ----------------------------------------------------------------------------- BLEU

_SENTENCES = [
    ("the Papineni et al. example", "the the the the the the the",
     ["the cat is on the mat", "there is a cat on the mat"]),
    ("a caption against its two true captions", "a red circle left of a blue square",
     ["a red circle left of a blue square", "a blue square right of a red circle"]),
    ("a caption with one wrong word", "a red circle left of a blue triangle",
     ["a red circle left of a blue square", "a blue square right of a red circle"]),
    ("a repeated bigram", "a red a red a red", ["a red circle above a red square"]),
    ("a short hypothesis", "a red circle", ["a red circle above a green square", "a green square below a red circle"]),
    ("references of different lengths", "a b c d e", ["a b c d", "a b c d e f", "x"]),
    ("a hypothesis longer than every reference", "a b c a b c a b", ["a b c", "c a b c"]),
]


def _no_clip_precision(hyp: list[str], refs: list[list[str]], n: int) -> tuple[int, int]:
    grams = [tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1)]
    in_any = {tuple(r[i:i + n]) for r in refs for i in range(len(r) - n + 1)}
    return sum(g in in_any for g in grams), len(grams)


def _as_pair(got, case: str) -> tuple[int, int]:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise CheckFailure(f"modified_precision should return a pair (clipped, total) of ints, got "
                           f"{type(got).__name__} ({case})")
    try:
        pair = tuple(int(g) for g in got)
    except (TypeError, ValueError, OverflowError):
        pair = None
    if pair is None or any(isinstance(g, bool) or p != g for g, p in zip(got, pair)):
        raise CheckFailure(f"modified_precision should return two ints (clipped, total), got "
                           f"({type(got[0]).__name__}, {type(got[1]).__name__}) ({case})")
    return pair


def _expect_lists_unchanged(name: str, before: list, after: tuple) -> None:
    for label, b, a in zip(("hypothesis", "references"), before, after):
        if a != b:
            raise CheckFailure(f"{name} modified its input {label}; do not change the lists it is given")


def check_modified_precision(modified_precision: Callable) -> None:
    for label, hyp_text, ref_texts in _SENTENCES:
        for n in (1, 2, 3):
            hyp, refs = hyp_text.split(), [r.split() for r in ref_texts]
            case = f"{label}, n={n}"
            before = snapshot(hyp, refs)
            expected = _precision(*before, n)
            unclipped = _no_clip_precision(*before, n)
            sum_clipped = sum(min(c, sum(_counts(r, n).get(g, 0) for r in before[1]))
                              for g, c in _counts(before[0], n).items())
            got = call(modified_precision, "modified_precision", case, hyp, refs, n)
            _expect_lists_unchanged("modified_precision", before, (hyp, refs))
            got = _as_pair(got, case)
            if got == expected:
                continue
            hint = ""
            if got == unclipped:
                hint = (" It looks like the counts are not clipped: an n-gram may count only as often as it "
                        "occurs in the reference where it occurs most")
            elif got[1] == expected[1] and got[0] == sum_clipped:
                hint = " It looks like the counts are clipped by the sum over references, not the maximum"
            if got[1] != expected[1]:
                raise CheckFailure(f"the total of modified_precision is off by {abs(got[1] - expected[1])} ({case}): "
                                   f"the total should be the number of {n}-grams of the hypothesis.{hint}")
            raise CheckFailure(f"the clipped count of modified_precision is off by {abs(got[0] - expected[0])} "
                               f"({case}).{hint}")


def _counts(tokens: list[str], n: int) -> dict:
    out: dict = {}
    for i in range(len(tokens) - n + 1):
        g = tuple(tokens[i:i + n])
        out[g] = out.get(g, 0) + 1
    return out


def _bleu_variants(hyp: list[str], refs: list[list[str]], max_n: int) -> dict[str, float]:
    stats = [_precision(hyp, refs, n) for n in range(1, max_n + 1)]
    ref_lens = [len(r) for r in refs]
    closest = min(ref_lens, key=lambda r: (abs(r - len(hyp)), r))
    out = {}
    if all(c > 0 and t > 0 for c, t in stats):
        geo = _exp(sum(_log(c / t) for c, t in stats) / max_n)
        arith = sum(c / t for c, t in stats) / max_n
        bp = _bleu_ref.brevity_penalty(len(hyp), closest)
        out["the brevity penalty is missing"] = geo
        out["the arithmetic mean of the precisions was used; BLEU takes the geometric mean"] = bp * arith
        out["the brevity penalty uses the longest reference; use the closest reference length"] = \
            _bleu_ref.brevity_penalty(len(hyp), max(ref_lens)) * geo
        out["the brevity penalty uses the shortest reference; use the closest reference length"] = \
            _bleu_ref.brevity_penalty(len(hyp), min(ref_lens)) * geo
        if len(hyp) <= closest:
            out["the brevity penalty is inverted: it is exp(1 - r / c) for c <= r"] = _exp(1 - len(hyp) / closest) * geo
    unclipped = [_no_clip_precision(hyp, refs, n) for n in range(1, max_n + 1)]
    if all(c > 0 and t > 0 for c, t in unclipped):
        out["the n-gram counts are not clipped by the reference counts"] = \
            _bleu_ref.brevity_penalty(len(hyp), closest) * _exp(sum(_log(c / t) for c, t in unclipped) / max_n)
    return out


def check_bleu(bleu: Callable) -> None:
    cases = [(label, h, r, n) for label, h, r in _SENTENCES for n in (1, 2, 4)]
    cases += [("an empty hypothesis", "", ["a red circle above a blue square"], 4),
              ("a hypothesis shorter than max_n", "a red", ["a red circle"], 4),
              ("no 4-gram matches", "a red circle left of a red circle", ["a red circle above a red circle"], 4)]
    for label, hyp_text, ref_texts, max_n in cases:
        hyp, refs = hyp_text.split(), [r.split() for r in ref_texts]
        case = f"{label}, max_n={max_n}"
        before = snapshot(hyp, refs)
        expected = _bleu(*before, max_n)
        variants = _bleu_variants(*before, max_n)
        got = call(bleu, "bleu", case, hyp, refs, max_n)
        _expect_lists_unchanged("bleu", before, (hyp, refs))
        if isinstance(got, _Tensor) and got.numel() == 1 and got.is_floating_point():
            got = float(got)
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            raise CheckFailure(f"bleu should return a float, got {type(got).__name__} ({case})")
        got = float(got)
        if _isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12):
            continue
        if not _isfinite(got):
            raise CheckFailure(f"bleu returned {got} ({case}); BLEU is a number in [0, 1]")
        hint = ""
        if expected == 0.0:
            hint = (" When some order n has no matching n-gram (or the hypothesis has no n-grams of that "
                    "order), its log-precision is -inf and BLEU is 0")
        for message, wrong in variants.items():
            if _isclose(got, wrong, rel_tol=1e-9, abs_tol=1e-12):
                hint = f" It looks like {message}"
                break
        raise CheckFailure(f"bleu differs from the expected score by {abs(got - expected):.3g} ({case}).{hint}")
