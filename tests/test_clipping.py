"""rnncourse.clipping against torch.nn.utils.clip_grad_*_ and torch.func.jacrev, in float64."""
import numpy as np
import pytest
import torch

from rnncourse.clipping import (clip_grad_norm, clip_grad_value, global_grad_norm, hidden_jacobian,
                                jacobian_norms, orthogonal_init)


def grads(seed=0, scale=10.0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((4, 3)) * scale, rng.standard_normal(3) * scale, rng.standard_normal((2, 2, 2))]


def torch_params(gs):
    ps = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in gs]
    for p, g in zip(ps, gs):
        p.grad = torch.tensor(g)
    return ps


def test_global_norm_is_over_all_arrays_together():
    gs = grads()
    assert global_grad_norm(gs) == pytest.approx(np.sqrt(sum((g ** 2).sum() for g in gs)), rel=1e-14)
    per_tensor_max = max(np.linalg.norm(g) for g in gs)
    assert global_grad_norm(gs) > per_tensor_max


@pytest.mark.parametrize("max_norm", [0.5, 5.0, 1e6])
def test_clip_grad_norm_matches_torch(max_norm):
    gs = grads()
    originals = [g.copy() for g in gs]
    ps = torch_params(gs)
    total_torch = torch.nn.utils.clip_grad_norm_(ps, max_norm)
    clipped, total = clip_grad_norm(gs, max_norm)
    assert total == pytest.approx(total_torch.item(), rel=1e-14)
    for c, p in zip(clipped, ps):
        np.testing.assert_allclose(c, p.grad.numpy(), rtol=1e-14)
    for g, g0 in zip(gs, originals):
        np.testing.assert_array_equal(g, g0)
    assert clipped[0] is not gs[0]


def test_clip_grad_value_matches_torch():
    gs = grads()
    ps = torch_params(gs)
    torch.nn.utils.clip_grad_value_(ps, 1.5)
    for c, p in zip(clip_grad_value(gs, 1.5), ps):
        np.testing.assert_array_equal(c, p.grad.numpy())
    with pytest.raises(ValueError, match="clip_value must be a finite number > 0, got -1"):
        clip_grad_value(gs, -1)
    with pytest.raises(TypeError, match="grads must be a list"):
        clip_grad_norm(gs[0], 1.0)


def test_hidden_jacobian_matches_jacrev():
    rng = np.random.default_rng(0)
    W, x, h_prev = rng.standard_normal((5, 5)), rng.standard_normal(5), rng.standard_normal(5)
    f = lambda h: torch.tanh(torch.from_numpy(W) @ h + torch.from_numpy(x))
    J = torch.func.jacrev(f)(torch.from_numpy(h_prev)).numpy()
    np.testing.assert_allclose(hidden_jacobian(f(torch.from_numpy(h_prev)).numpy(), W), J, atol=1e-14)


def test_jacobian_norms_match_jacrev_of_the_unrolled_map():
    rng = np.random.default_rng(1)
    H, T = 4, 6
    W = rng.standard_normal((H, H)) * 0.8
    xs = rng.standard_normal((T, H))
    hs = [rng.standard_normal(H)]
    for t in range(T):
        hs.append(np.tanh(W @ hs[-1] + xs[t]))
    hs = np.array(hs)  # (T+1, H)
    norms = jacobian_norms(hs, W)
    assert norms.shape == (T,)
    for k in range(1, T + 1):
        def unroll(h, k=k):
            for t in range(T - k, T):
                h = torch.tanh(torch.from_numpy(W) @ h + torch.from_numpy(xs[t]))
            return h
        J = torch.func.jacrev(unroll)(torch.from_numpy(hs[T - k])).numpy()
        assert norms[k - 1] == pytest.approx(np.linalg.norm(J, 2), rel=1e-10)


def test_orthogonal_init():
    Q = orthogonal_init(6, np.random.default_rng(3))
    np.testing.assert_allclose(Q.T @ Q, np.eye(6), atol=1e-12)
    np.testing.assert_array_equal(Q, orthogonal_init(6, np.random.default_rng(3)))
    assert not np.allclose(Q, orthogonal_init(6, np.random.default_rng(4)))
    # Haar: the mean of the diagonal over many draws is ~0 (a sign-uncorrected QR is biased)
    rng = np.random.default_rng(0)
    mean_diag = np.mean([orthogonal_init(3, rng)[0, 0] for _ in range(2000)])
    assert abs(mean_diag) < 0.05
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        orthogonal_init(3, 0)


def test_clip_grad_norm_keeps_dtype_and_rejects_integers():
    gs = [np.full(4, 3.0, dtype=np.float32)]
    clipped, total = clip_grad_norm(gs, 1.0)
    assert clipped[0].dtype == np.float32 and total == pytest.approx(6.0)
    np.testing.assert_allclose(np.linalg.norm(clipped[0]), 1.0, rtol=1e-5)
    with pytest.raises(TypeError, match=r"grads\[0\] must hold floats"):
        clip_grad_norm([np.arange(3)], 1.0)
    with pytest.raises(ValueError, match="max_norm must be a finite number > 0, got 0.0"):
        clip_grad_norm(grads(), 0.0)
    small = [np.array([0.3, 0.4])]
    same, total = clip_grad_norm(small, 1.0)  # below the threshold: values kept, still a new array
    np.testing.assert_array_equal(same[0], small[0])
    assert same[0] is not small[0] and total == pytest.approx(0.5)


def test_jacobian_functions_leave_inputs_unchanged_and_name_bad_arguments():
    rng = np.random.default_rng(2)
    hs, W = np.tanh(rng.standard_normal((4, 3))), rng.standard_normal((3, 3))
    before = hs.copy(), W.copy()
    jacobian_norms(hs, W)
    hidden_jacobian(hs[1], W)
    np.testing.assert_array_equal(hs, before[0])
    np.testing.assert_array_equal(W, before[1])
    with pytest.raises(ValueError, match=r"W_hh must have shape \(3, 3\), got ndarray of shape \(3, 2\)"):
        hidden_jacobian(hs[1], W[:, :2])
    with pytest.raises(ValueError, match="h_t must have 1 dimensions"):
        hidden_jacobian(hs, W)
    with pytest.raises(ValueError, match="hs must hold at least h_0 and h_1"):
        jacobian_norms(hs[:1], W)
    with pytest.raises(TypeError, match="hs must be an array"):
        jacobian_norms([[0.0, 0.0, 0.0]] * 2, W)


def test_orthogonal_init_argument_errors():
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        orthogonal_init(0, np.random.default_rng(0))
    with pytest.raises(TypeError, match="n must be an int, got 2.5"):
        orthogonal_init(2.5, np.random.default_rng(0))
