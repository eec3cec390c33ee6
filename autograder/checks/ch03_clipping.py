"""Hidden checks for chapter 03_clipping: norms, clipping, Jacobians, orthogonal initialisation."""
from __future__ import annotations

from typing import Callable

import numpy as np

from autograder.checks import (CheckFailure, call, case_seed, expect_array, expect_close_array, expect_items,
                               expect_number, expect_unchanged, snapshot, to_numpy)
from rnncourse import clipping as _ref

_global = _ref.global_grad_norm
_clip_norm = _ref.clip_grad_norm
_clip_value = _ref.clip_grad_value
_jac = _ref.hidden_jacobian
_jnorms = _ref.jacobian_norms
_default_rng = np.random.default_rng
_norm = np.linalg.norm


def _grads(rng, scale):
    return [rng.standard_normal((3, 4)) * scale, rng.standard_normal(4) * scale, rng.standard_normal((2, 2, 3)) * scale]


def _arrays(name: str, got, n: int, case: str) -> list:
    return expect_items(name, got, n, case, f"a list of {n} arrays, one per gradient")


def check_global_grad_norm(global_grad_norm: Callable) -> None:
    rng = _default_rng(case_seed(301))
    for case, gs in [("three arrays", _grads(rng, 2.0)), ("one array", [rng.standard_normal(7)]),
                     ("zeros", [np.zeros(3), np.zeros((2, 2))])]:
        before = snapshot(gs)
        expected = _global(gs)
        mistakes = {
            "the largest per-array norm instead of the norm of all arrays together": max(_norm(g) for g in gs),
            "the sum of per-array norms instead of the norm of all arrays together": sum(_norm(g) for g in gs),
            "the squared norm (the square root is missing)": expected ** 2,
        }
        got = call(global_grad_norm, "global_grad_norm", case, gs)
        expect_unchanged("global_grad_norm", before, (gs,), ["grads"])
        expect_number("the norm", got, expected, case, atol=1e-9, mistakes=mistakes)


def check_clip_grad_norm(clip_grad_norm: Callable) -> None:
    rng = _default_rng(case_seed(302))
    for case, gs, max_norm in [("norm above the threshold", _grads(rng, 5.0), 1.0),
                               ("norm below the threshold", _grads(rng, 0.01), 1.0),
                               ("one large array, threshold 3", [rng.standard_normal((4, 4)) * 10], 3.0)]:
        before = snapshot(gs)
        exp_clipped, exp_total = _clip_norm(gs, max_norm)
        per_tensor = [g * min(1.0, max_norm / (_norm(g) + 1e-6)) for g in gs]
        always = [g * (max_norm / (exp_total + 1e-6)) for g in gs]
        got = call(clip_grad_norm, "clip_grad_norm", case, gs, max_norm)
        expect_unchanged("clip_grad_norm", before, (gs,), ["grads"])
        clipped, total = expect_items("clip_grad_norm", got, 2, case, "(clipped, total_norm)")
        expect_number("total_norm", total, exp_total, case, atol=1e-9)
        clipped = expect_items("clip_grad_norm", clipped, len(gs), case,
                               f"(clipped, total_norm) where clipped holds {len(gs)} arrays, one per gradient")
        for i, (c, e) in enumerate(zip(clipped, exp_clipped)):
            expect_close_array(f"clipped[{i}]", c, e, case, atol=1e-9, mistakes={
                "each array is clipped by its own norm instead of by the global norm": per_tensor[i],
                "the gradients are rescaled even when their norm is below max_norm": always[i],
            })


def check_clip_grad_value(clip_grad_value: Callable) -> None:
    rng = _default_rng(case_seed(303))
    for case, gs, c in [("clip_value=0.5", _grads(rng, 1.0), 0.5), ("clip_value=10 (nothing clipped)", _grads(rng, 1.0), 10.0)]:
        before = snapshot(gs)
        expected = _clip_value(gs, c)
        upper_only = [np.minimum(g, c) for g in gs]
        got = call(clip_grad_value, "clip_grad_value", case, gs, c)
        expect_unchanged("clip_grad_value", before, (gs,), ["grads"])
        for i, (g, e) in enumerate(zip(_arrays("clip_grad_value", got, len(gs), case), expected)):
            expect_close_array(f"clipped[{i}]", g, e, case, atol=0, mistakes={
                "only the upper bound is applied (values below -clip_value are kept)": upper_only[i],
            })


def check_hidden_jacobian(hidden_jacobian: Callable) -> None:
    rng = _default_rng(case_seed(304))
    for case, H in [("H=5", 5), ("H=1", 1), ("H=8", 8)]:
        W = rng.standard_normal((H, H))
        h = np.tanh(rng.standard_normal(H))
        before = snapshot(h, W)
        expected = _jac(h, W)
        mistakes = {
            "the Jacobian is transposed (entry (a, b) must be d h_t[a] / d h_{t-1}[b])": expected.T,
            "the tanh derivative (1 - h_t**2) is missing": W.copy(),
            "the derivative scales the columns instead of the rows": W * (1 - h ** 2)[None, :],
            "the derivative uses 1 - h_t instead of 1 - h_t**2": (1 - h)[:, None] * W,
        }
        got = call(hidden_jacobian, "hidden_jacobian", case, h, W)
        expect_unchanged("hidden_jacobian", before, (h, W), ["h_t", "W_hh"])
        expect_close_array("J", got, expected, case, atol=1e-10, mistakes=mistakes)


def check_jacobian_norms(jacobian_norms: Callable) -> None:
    rng = _default_rng(case_seed(305))
    for case, T, H, scale in [("T=8, H=4", 8, 4, 0.9), ("T=1, H=3", 1, 3, 1.0), ("T=12, H=6, large weights", 12, 6, 2.0)]:
        W = rng.standard_normal((H, H)) * scale / np.sqrt(H)
        hs = [rng.standard_normal(H) * 0.5]
        for _ in range(T):
            hs.append(np.tanh(W @ hs[-1] + rng.standard_normal(H) * 0.3))
        hs = np.array(hs)
        before = snapshot(hs, W)
        expected = _jnorms(hs, W)
        J, wrong_order, frobenius = np.eye(H), [], []
        for k in range(1, T + 1):
            J = _jac(hs[T - k + 1], W) @ J  # the product taken in the wrong order (right-to-left)
            wrong_order.append(_norm(J, 2))
            frobenius.append(_norm(np.linalg.multi_dot([np.eye(H)] + [_jac(hs[T - j + 1], W) for j in range(1, k + 1)])))
        mistakes = {
            "the norms are in reverse order (norms[k-1] must be for lag k)": expected[::-1].copy(),
            "the Frobenius norm instead of the spectral norm": np.array(frobenius),
            "the Jacobians multiplied in the wrong order": np.array(wrong_order),
        }
        got = call(jacobian_norms, "jacobian_norms", case, hs, W)
        expect_unchanged("jacobian_norms", before, (hs, W), ["hs", "W_hh"])
        expect_close_array("norms", got, expected, case, atol=1e-8, mistakes=mistakes)


def _orthogonal(orthogonal_init: Callable, n: int, seed: int, case: str) -> np.ndarray:
    Q = call(orthogonal_init, "orthogonal_init", case, n, _default_rng(seed))
    expect_array("W", Q, (n, n), case)
    Q = to_numpy(Q)
    if not np.isfinite(Q).all():
        raise CheckFailure(f"W contains NaN or inf ({case})")
    return Q


def check_orthogonal_init(orthogonal_init: Callable) -> None:
    seed = case_seed(7)
    for case, n in [("n=6", 6), ("n=1", 1), ("n=20", 20)]:
        Q = _orthogonal(orthogonal_init, n, seed, case)
        err = float(np.max(np.abs(Q.T @ Q - np.eye(n))))
        if err > 1e-8:
            raise CheckFailure(f"W is not orthogonal ({case}): W.T @ W differs from the identity by up to {err:.3g}")
        if not np.array_equal(Q, _orthogonal(orthogonal_init, n, seed, case)):
            raise CheckFailure(f"orthogonal_init gives different matrices for the same rng seed ({case}): "
                               "draw all randomness from the rng argument")
    a, b = (_orthogonal(orthogonal_init, 5, case_seed(s), "n=5") for s in (1, 2))
    if np.allclose(a, b):
        raise CheckFailure("orthogonal_init returns the same matrix for different seeds: it must be random, "
                           "drawn with the rng argument")
    diag_mean = np.mean([_orthogonal(orthogonal_init, 3, case_seed(s), "n=3")[0, 0] for s in range(300)])
    if abs(diag_mean) > 0.15:
        raise CheckFailure("orthogonal_init is not uniformly distributed over orthogonal matrices: "
                           "after the QR decomposition multiply Q's columns by the signs of R's diagonal")
