import numpy as np
import pytest

import rnncourse.clipping as ref
from autograder.checks import CheckFailure
from autograder.checks.ch03_clipping import (check_clip_grad_norm, check_clip_grad_value, check_global_grad_norm,
                                             check_hidden_jacobian, check_jacobian_norms, check_orthogonal_init)


def test_correct_variants_pass():
    check_global_grad_norm(ref.global_grad_norm)
    check_global_grad_norm(lambda gs: float(np.linalg.norm(np.concatenate([g.ravel() for g in gs]))))
    check_clip_grad_norm(ref.clip_grad_norm)
    def clip_loop(gs, m):
        t = float(np.sqrt(sum((g ** 2).sum() for g in gs)))
        return ([g * (m / (t + 1e-6)) for g in gs] if t > m else [g.copy() for g in gs]), t
    check_clip_grad_norm(clip_loop)
    check_clip_grad_value(ref.clip_grad_value)
    check_clip_grad_value(lambda gs, c: [np.minimum(np.maximum(g, -c), c) for g in gs])
    check_hidden_jacobian(ref.hidden_jacobian)
    check_hidden_jacobian(lambda h, W: np.diag(1 - h ** 2) @ W)
    check_jacobian_norms(ref.jacobian_norms)
    check_orthogonal_init(ref.orthogonal_init)
    def ortho_svd(n, rng):
        Q, R = np.linalg.qr(rng.standard_normal((n, n)))
        return Q @ np.diag(np.sign(np.diag(R)))
    check_orthogonal_init(ortho_svd)


@pytest.mark.parametrize("check,impl,message", [
    (check_global_grad_norm, lambda gs: max(float(np.linalg.norm(g)) for g in gs), "largest per-array norm"),
    (check_global_grad_norm, lambda gs: sum(float(np.linalg.norm(g)) for g in gs), "sum of per-array norms"),
    (check_global_grad_norm, lambda gs: sum(float((g ** 2).sum()) for g in gs), "square root is missing"),
    (check_clip_grad_norm, lambda gs, m: ([g * min(1, m / (np.linalg.norm(g) + 1e-6)) for g in gs], ref.global_grad_norm(gs)), "own norm instead of by the global norm"),
    (check_clip_grad_norm, lambda gs, m: ([g * (m / (ref.global_grad_norm(gs) + 1e-6)) for g in gs], ref.global_grad_norm(gs)), "even when their norm is below"),
    (check_clip_grad_norm, lambda gs, m: [g for g in gs], "should return \\(clipped, total_norm\\)"),
    (check_clip_grad_value, lambda gs, c: [np.minimum(g, c) for g in gs], "only the upper bound"),
    (check_clip_grad_value, lambda gs, c: [np.clip(g, -c, c, out=g) for g in gs], "modified its input"),
    (check_clip_grad_value, lambda gs, c: [g * 0 for g in gs], "differs"),
    (check_hidden_jacobian, lambda h, W: (np.diag(1 - h ** 2) @ W).T, "transposed"),
    (check_hidden_jacobian, lambda h, W: W.copy(), "tanh derivative"),
    (check_hidden_jacobian, lambda h, W: W * (1 - h ** 2)[None, :], "columns instead of the rows"),
    (check_jacobian_norms, lambda hs, W: ref.jacobian_norms(hs, W)[::-1], "reverse order"),
    (check_jacobian_norms, lambda hs, W: ref.jacobian_norms(hs, W) * 1.1, "differs"),
    (check_orthogonal_init, lambda n, rng: np.eye(n), "same matrix for different seeds"),
    (check_orthogonal_init, lambda n, rng: rng.standard_normal((n, n)), "not orthogonal"),
    (check_orthogonal_init, lambda n, rng: np.linalg.qr(np.random.default_rng().standard_normal((n, n)))[0], "same rng seed"),
])
def test_mistakes_are_named(check, impl, message):
    with pytest.raises(CheckFailure, match=message):
        check(impl)


def test_jacobian_norms_wrong_product_order():
    def wrong_order(hs, W):
        T = hs.shape[0] - 1
        J, out = np.eye(W.shape[0]), []
        for k in range(1, T + 1):
            J = ref.hidden_jacobian(hs[T - k + 1], W) @ J
            out.append(np.linalg.norm(J, 2))
        return np.array(out)
    with pytest.raises(CheckFailure, match="wrong order|differs"):
        check_jacobian_norms(wrong_order)


def test_jacobian_norms_written_with_an_explicit_product_passes():
    def explicit(hs, W):
        T = hs.shape[0] - 1
        out = []
        for k in range(1, T + 1):
            J = np.eye(W.shape[0])
            for j in range(T, T - k, -1):  # ∂h_T/∂h_{T-k} = J_T J_{T-1} … J_{T-k+1}
                J = J @ (np.diag(1 - hs[j] ** 2) @ W)
            out.append(np.linalg.svd(J, compute_uv=False)[0])
        return np.array(out)
    check_jacobian_norms(explicit)


@pytest.mark.parametrize("check,answer", [
    (check_clip_grad_value, lambda gs, c: [np.clip(g, -c, c) for g in gs][:-1]),
    (check_clip_grad_norm, lambda gs, m: (ref.clip_grad_norm(gs, m)[0][:-1], ref.global_grad_norm(gs))),
    (check_clip_grad_norm, lambda gs, m: (None, ref.global_grad_norm(gs))),
])
def test_a_list_with_an_array_missing_fails(check, answer):
    with pytest.raises(CheckFailure, match="should return"):
        check(answer)
