"""Attention against torch's scaled_dot_product_attention, brute-force loops and autograd."""
import math

import pytest
import torch
import torch.nn.functional as F

from rnncourse import additive_attention, dot_attention
from rnncourse.attention import length_mask, masked_softmax

DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: 1e-5, torch.float64: 1e-12}


def inputs(B=3, S=5, H=4, E=6, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, generator=g, dtype=dtype)
    K = torch.randn(B, S, H, generator=g, dtype=dtype)
    V = torch.randn(B, S, E, generator=g, dtype=dtype)
    mask = length_mask(torch.tensor([S, 2, 1] + [S - 1] * (B - 3))[:B], S)
    return q, K, V, mask


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("scale", [None, 1.0, 0.3])
def test_dot_attention_equals_torch_sdpa_with_a_length_one_query(dtype, masked, scale):
    q, K, V, mask = inputs(dtype=dtype)
    m = mask if masked else None
    context, weights = dot_attention(q, K, V, mask=m, scale=scale)
    expected = F.scaled_dot_product_attention(q[:, None], K, V, attn_mask=None if m is None else m[:, None],
                                              scale=scale)[:, 0]
    assert context.dtype == dtype and weights.dtype == dtype
    assert context.shape == (3, 6) and weights.shape == (3, 5)
    torch.testing.assert_close(context, expected, atol=TOL[dtype], rtol=0)
    s = 1 / math.sqrt(4) if scale is None else scale
    torch.testing.assert_close(weights, masked_softmax(s * torch.einsum("bsh,bh->bs", K, q), m), atol=TOL[dtype], rtol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_additive_attention_equals_a_loop_over_positions(dtype):
    q, K, V, mask = inputs(dtype=dtype, H=4)
    g = torch.Generator().manual_seed(1)
    A, Hk = 7, 4
    q = torch.randn(3, 3, generator=g, dtype=dtype)  # Hq = 3 differs from Hk
    W_q, W_k, v = (torch.randn(A, 3, generator=g, dtype=dtype), torch.randn(A, Hk, generator=g, dtype=dtype),
                   torch.randn(A, generator=g, dtype=dtype))
    context, weights = additive_attention(q, K, V, W_q, W_k, v, mask=mask)
    for b in range(3):
        scores = [float(v @ torch.tanh(W_q @ q[b] + W_k @ K[b, s])) if mask[b, s] else -math.inf for s in range(5)]
        top = max(scores)
        e = [math.exp(x - top) for x in scores]
        alpha = torch.tensor([x / sum(e) for x in e], dtype=dtype)
        torch.testing.assert_close(weights[b], alpha, atol=TOL[dtype], rtol=0)
        torch.testing.assert_close(context[b], (alpha[:, None] * V[b]).sum(0), atol=TOL[dtype], rtol=0)


@pytest.mark.parametrize("fn", ["dot", "additive"])
def test_masked_positions_get_zero_weight_and_do_not_reach_the_context(fn):
    q, K, V, mask = inputs()
    g = torch.Generator().manual_seed(2)
    W_q, W_k, v = torch.randn(5, 4, generator=g, dtype=torch.float64), torch.randn(5, 4, generator=g, dtype=torch.float64), \
        torch.randn(5, generator=g, dtype=torch.float64)
    run = (lambda K_, V_: dot_attention(q, K_, V_, mask)) if fn == "dot" else \
        (lambda K_, V_: additive_attention(q, K_, V_, W_q, W_k, v, mask))
    context, weights = run(K, V)
    assert torch.equal(weights[~mask], torch.zeros(int((~mask).sum()), dtype=torch.float64))
    torch.testing.assert_close(weights.sum(1), torch.ones(3, dtype=torch.float64), atol=1e-12, rtol=0)
    K2, V2 = K.clone(), V.clone()
    K2[~mask] = 1e3
    V2[~mask] = -1e3
    context2, weights2 = run(K2, V2)
    torch.testing.assert_close(context2, context, atol=1e-12, rtol=0)
    torch.testing.assert_close(weights2, weights, atol=1e-12, rtol=0)


def test_a_query_equal_to_one_scaled_key_picks_that_key():
    K = torch.eye(4, dtype=torch.float64)[None] * 1.0  # (1, 4, 4)
    q = 50.0 * K[:, 2]  # (1, 4)
    context, weights = dot_attention(q, K, K, scale=1.0)
    assert int(weights.argmax()) == 2 and float(weights[0, 2]) > 1 - 1e-12
    torch.testing.assert_close(context, K[:, 2], atol=1e-12, rtol=0)


def test_gradients_match_numerical_ones():
    q, K, V, mask = inputs(B=3, S=4, H=3, E=2)
    for t in (q, K, V):
        t.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda q_, K_, V_: dot_attention(q_, K_, V_, mask), (q, K, V))
    g = torch.Generator().manual_seed(3)
    W_q = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    W_k = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    v = torch.randn(5, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *a: additive_attention(*a, mask=mask), (q, K, V, W_q, W_k, v))


def test_inputs_are_left_untouched():
    q, K, V, mask = inputs()
    W_q, W_k, v = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    args = (q, K, V, W_q, W_k, v, mask)
    before = [a.clone() for a in args]
    dot_attention(q, K, V, mask)
    additive_attention(q, K, V, W_q, W_k, v, mask)
    assert all(torch.equal(a, b) for a, b in zip(args, before))


def test_default_scale_keeps_score_variance_near_one_for_any_size():
    g = torch.Generator().manual_seed(4)
    for H in (4, 64, 1024):
        q, K = torch.randn(2000, H, generator=g), torch.randn(2000, 1, H, generator=g)
        scores = (K[:, 0] * q).sum(1) / math.sqrt(H)
        assert 0.85 < float(scores.var()) < 1.15


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(mask=torch.ones(3, 5)), TypeError, "mask must be a bool tensor"),
    (dict(mask=torch.ones(3, 4, dtype=torch.bool)), ValueError, r"mask must have shape \(3, 5\)"),
    (dict(mask=torch.tensor([[True] * 5, [False] * 5, [True] * 5])), ValueError, "at least one True"),
])
def test_bad_masks_are_named(kwargs, error, message):
    q, K, V, _ = inputs()
    with pytest.raises(error, match=message):
        dot_attention(q, K, V, **kwargs)


def test_keys_of_the_wrong_size_are_named():
    q, K, V, _ = inputs()
    with pytest.raises(ValueError, match="keys must have shape"):
        dot_attention(q[:, :3], K, V)
    with pytest.raises(ValueError, match="W_k must have shape"):
        additive_attention(q, K, V, torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64),
                           torch.randn(5, dtype=torch.float64))


def test_length_mask():
    assert length_mask(torch.tensor([3, 1, 2])).tolist() == [[True, True, True], [True, False, False], [True, True, False]]
    assert length_mask([1], 3).tolist() == [[True, False, False]]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_attention_runs_on_the_inputs_device():
    q, K, V, mask = (t.cuda() for t in inputs())
    context, weights = dot_attention(q, K, V, mask)
    assert context.device.type == "cuda"
    torch.testing.assert_close(context, F.scaled_dot_product_attention(q[:, None], K, V, attn_mask=mask[:, None])[:, 0])
    W_q, W_k, v = torch.randn(5, 4, dtype=torch.float64, device="cuda"), torch.randn(5, 4, dtype=torch.float64, device="cuda"), \
        torch.randn(5, dtype=torch.float64, device="cuda")
    assert additive_attention(q, K, V, W_q, W_k, v, mask)[1].device.type == "cuda"
