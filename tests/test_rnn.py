"""rnncourse.rnn against torch.nn.RNN / RNNCell with copied weights, in float64."""
import numpy as np
import pytest
import torch

from rnncourse.rnn import cross_entropy, one_hot, rnn_forward, rnn_step, softmax


def weights(D=3, H=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((H, D)), rng.standard_normal((H, H)) * 0.5, rng.standard_normal(H)


def torch_rnn(W_ih, W_hh, b):
    rnn = torch.nn.RNN(W_ih.shape[1], W_ih.shape[0], nonlinearity="tanh").double()
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(W_ih))
        rnn.weight_hh_l0.copy_(torch.from_numpy(W_hh))
        rnn.bias_ih_l0.copy_(torch.from_numpy(b))
        rnn.bias_hh_l0.zero_()
    return rnn


@pytest.mark.parametrize("B", [1, 5])
def test_rnn_step_matches_torch_cell(B):
    W_ih, W_hh, b = weights()
    rng = np.random.default_rng(1)
    x, h = rng.standard_normal((B, 3)), rng.standard_normal((B, 4))
    cell = torch.nn.RNNCell(3, 4).double()
    with torch.no_grad():
        cell.weight_ih.copy_(torch.from_numpy(W_ih)); cell.weight_hh.copy_(torch.from_numpy(W_hh))
        cell.bias_ih.copy_(torch.from_numpy(b)); cell.bias_hh.zero_()
    expected = cell(torch.from_numpy(x), torch.from_numpy(h)).detach().numpy()
    args = [a.copy() for a in (x, h, W_ih, W_hh, b)]
    out = rnn_step(*args)
    assert out.dtype == np.float64 and out.shape == (B, 4)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12)
    for a, a0 in zip(args, (x, h, W_ih, W_hh, b)):
        np.testing.assert_array_equal(a, a0)  # inputs unchanged


@pytest.mark.parametrize("T,B", [(1, 1), (6, 3)])
def test_rnn_forward_matches_torch_rnn(T, B):
    W_ih, W_hh, b = weights()
    rng = np.random.default_rng(2)
    x, h0 = rng.standard_normal((T, B, 3)), rng.standard_normal((B, 4))
    out, hT = torch_rnn(W_ih, W_hh, b)(torch.from_numpy(x), torch.from_numpy(h0)[None])
    hs = rnn_forward(x, h0, W_ih, W_hh, b)
    assert hs.shape == (T, B, 4) and hs.dtype == np.float64
    np.testing.assert_allclose(hs, out.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(hs[-1], hT[0].detach().numpy(), atol=1e-12)


def test_rnn_argument_errors_name_the_argument():
    W_ih, W_hh, b = weights()
    with pytest.raises(ValueError, match=r"W_hh must have shape \(4, 4\), got ndarray of shape \(4, 3\)"):
        rnn_step(np.zeros((2, 3)), np.zeros((2, 4)), W_ih, np.zeros((4, 3)), b)
    with pytest.raises(ValueError, match="x must have 3 dimensions"):
        rnn_forward(np.zeros((2, 3)), np.zeros((2, 4)), W_ih, W_hh, b)
    with pytest.raises(ValueError, match="h0 must have batch size 2"):
        rnn_forward(np.zeros((5, 2, 3)), np.zeros((3, 4)), W_ih, W_hh, b)
    with pytest.raises(TypeError, match="x_t must be an array"):
        rnn_step([[1.0, 2.0, 3.0]], np.zeros((1, 4)), W_ih, W_hh, b)


def test_softmax_stable_and_matches_torch():
    z = np.array([[1000.0, 999.0, -1000.0], [0.1, 0.2, 0.3]])
    p = softmax(z)
    np.testing.assert_allclose(p, torch.softmax(torch.from_numpy(z), -1).numpy(), atol=1e-15)
    assert np.all(np.isfinite(p)) and np.allclose(p.sum(-1), 1.0)
    z3 = np.random.default_rng(0).standard_normal((2, 3, 5))
    np.testing.assert_allclose(softmax(z3), torch.softmax(torch.from_numpy(z3), -1).numpy(), atol=1e-15)


def test_cross_entropy_matches_torch_and_is_stable():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4, 3, 6)) * 3
    targets = rng.integers(0, 6, (4, 3))
    expected = torch.nn.functional.cross_entropy(torch.from_numpy(logits).reshape(-1, 6),
                                                 torch.from_numpy(targets).reshape(-1)).item()
    assert cross_entropy(logits, targets) == pytest.approx(expected, abs=1e-12)
    assert cross_entropy(np.array([[1000.0, -1000.0]]), np.array([1])) == pytest.approx(2000.0)
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 6\)"):
        cross_entropy(logits, targets + 6)
    with pytest.raises(ValueError, match="targets must have shape"):
        cross_entropy(logits, targets[0])


def test_one_hot_times_matrix_is_an_embedding_lookup():
    E = np.random.default_rng(0).standard_normal((4, 2))
    ids = np.array([2, 0, 3])
    np.testing.assert_array_equal(one_hot(ids, 4) @ E, E[ids])
    with pytest.raises(ValueError, match="ids must lie"):
        one_hot(np.array([4]), 4)


def test_softmax_extreme_logits_any_leading_shape_and_inputs_unchanged():
    z = np.random.default_rng(1).standard_normal((2, 3, 4)) * 1000.0  # entries around ±1000
    z0 = z.copy()
    p = softmax(z)
    assert p.shape == z.shape and p.dtype == np.float64 and np.all(np.isfinite(p))
    np.testing.assert_allclose(p, torch.softmax(torch.from_numpy(z), -1).numpy(), atol=1e-15)
    np.testing.assert_array_equal(z, z0)
    np.testing.assert_allclose(softmax(np.array([1000.0, 1000.0])), [0.5, 0.5])
    with pytest.raises(TypeError, match=r"z must be an array, got \[1.0, 2.0\]"):
        softmax([1.0, 2.0])
    with pytest.raises(ValueError, match="z must have at least one axis"):
        softmax(np.float64(1.0))


def test_cross_entropy_extreme_logits_against_torch():
    rng = np.random.default_rng(2)
    logits = rng.choice([-1000.0, 1000.0], size=(3, 2, 5)) + rng.standard_normal((3, 2, 5))
    targets = rng.integers(0, 5, (3, 2))
    before = logits.copy(), targets.copy()
    got = cross_entropy(logits, targets)
    expected = torch.nn.functional.cross_entropy(torch.from_numpy(logits).reshape(-1, 5),
                                                 torch.from_numpy(targets).reshape(-1)).item()
    assert np.isfinite(got) and got == pytest.approx(expected, rel=1e-12)
    np.testing.assert_array_equal(logits, before[0])
    np.testing.assert_array_equal(targets, before[1])
    # 1-D logits with a scalar target: the single position's NLL
    assert cross_entropy(np.array([0.0, np.log(3.0)]), np.array(1)) == pytest.approx(np.log(4.0 / 3.0))


def test_cross_entropy_argument_errors():
    logits = np.zeros((2, 3))
    with pytest.raises(TypeError, match="targets must hold integers, got ndarray of shape \\(2,\\) and dtype float64"):
        cross_entropy(logits, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 3\), got values from -1 to 0"):
        cross_entropy(logits, np.array([-1, 0]))
    with pytest.raises(ValueError, match="targets must hold at least one position"):
        cross_entropy(np.zeros((0, 3)), np.zeros(0, dtype=int))
    with pytest.raises(TypeError, match="logits must be an array"):
        cross_entropy([[0.0, 1.0]], np.array([0]))


def test_one_hot_shapes_and_errors():
    out = one_hot(np.array([[0, 2], [1, 1]]), 3)
    assert out.shape == (2, 2, 3) and out.dtype == np.float64
    np.testing.assert_array_equal(out.argmax(-1), [[0, 2], [1, 1]])
    np.testing.assert_array_equal(out.sum(-1), np.ones((2, 2)))
    with pytest.raises(ValueError, match="V must be >= 1, got 0"):
        one_hot(np.array([0]), 0)
    with pytest.raises(TypeError, match="ids must hold integers"):
        one_hot(np.array([0.5]), 2)


def test_rnn_forward_leaves_inputs_unchanged_and_chains_steps():
    W_ih, W_hh, b = weights()
    rng = np.random.default_rng(3)
    x, h0 = rng.standard_normal((4, 2, 3)), rng.standard_normal((2, 4))
    args = [x, h0, W_ih, W_hh, b]
    before = [a.copy() for a in args]
    hs = rnn_forward(*args)
    for a, a0 in zip(args, before):
        np.testing.assert_array_equal(a, a0)
    h = h0
    for t in range(4):
        h = rnn_step(x[t], h, W_ih, W_hh, b)
        np.testing.assert_allclose(hs[t], h, atol=1e-14)
