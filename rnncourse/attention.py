r"""Attention for one decoder step: a query reads a weighted average of the encoder's states.

An encoder that hands the decoder only its last state squeezes the whole input
into one vector of fixed size, the *context bottleneck*. Attention keeps every
encoder state and lets each decoder step build its own context:

.. math::

    e_s = \operatorname{score}(q, k_s), \qquad
    \alpha_s = \frac{\exp e_s}{\sum_{s'} \exp e_{s'}}, \qquad
    c = \sum_s \alpha_s v_s .

The weights :math:`\alpha` depend on the data (on the query and the keys),
are positive and sum to 1 over the source positions, so the context :math:`c`
is a convex combination of the values. Two scores are in use:

* dot product, scaled (Luong et al., 2015; Vaswani et al., 2017):
  :math:`e_s = \text{scale}\cdot k_s^\top q`, with ``scale = 1/sqrt(H)`` by default;
* additive (Bahdanau et al., 2015): :math:`e_s = v^\top \tanh(W_q q + W_k k_s)`.

Padding: a batch holds sources of different lengths, padded to the longest.
``mask (B, S)`` is True where a position may be attended. Masked positions get
the score :math:`-\infty` *before* the softmax, so they receive weight exactly
0 and the remaining weights still sum to 1. Every row of ``mask`` needs at
least one True entry.

Dimensions: ``B`` batch, ``S`` source positions, ``H`` query/key size, ``E``
value size, ``A`` size of the additive score's hidden layer. These functions
take batch-first keys and values ``(B, S, ·)``; an encoder output in the
course's time-major layout ``(S, B, H)`` becomes ``keys`` with
``enc.transpose(0, 1)``.
"""
from __future__ import annotations

import math

import torch

from rnncourse._validate import describe
from rnncourse._validate_torch import check_tensor


def _check_common(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                  mask: torch.Tensor | None) -> tuple[int, int]:
    """Validate ``query (B, Hq)``, ``keys (B, S, Hk)``, ``values (B, S, E)`` and ``mask``; return ``(B, S)``."""
    check_tensor("query", query, (None, None))
    check_tensor("keys", keys, (query.shape[0], None, None))
    B, S = keys.shape[0], keys.shape[1]
    check_tensor("values", values, (B, S, None))
    if S < 1:
        raise ValueError(f"keys must hold at least one source position, got {describe(keys)}")
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            raise TypeError(f"mask must be a bool tensor (B, S), True where a position may be attended, "
                            f"got {describe(mask)}")
        if tuple(mask.shape) != (B, S):
            raise ValueError(f"mask must have shape ({B}, {S}) like keys' first two axes, got {describe(mask)}")
        if not bool(mask.any(dim=1).all()):
            raise ValueError("every row of mask needs at least one True entry (a position that may be attended); "
                             "an all-False row has no distribution to attend with")
    return B, S


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax over the last axis of ``scores (B, S)``, with weight 0 where ``mask`` is False.

    The masked scores become ``-inf`` before the softmax, so the weights of the
    allowed positions are renormalised to sum to 1.
    """
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))  # (B, S)
    return torch.softmax(scores, dim=-1)  # (B, S)


def dot_attention(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                  mask: torch.Tensor | None = None, scale: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Scaled dot-product attention of one query per example over ``S`` source positions.

    .. math::

        e_{bs} = \text{scale}\cdot\sum_h K_{bsh}\, q_{bh}, \qquad
        \alpha_{b} = \operatorname{softmax}_s(e_{b}), \qquad
        c_{b} = \sum_s \alpha_{bs} V_{bs}

    With ``scale = 1/sqrt(H)`` (the default) the scores of random unit-variance
    vectors keep unit variance whatever ``H`` is, so the softmax does not
    saturate as ``H`` grows (Vaswani et al., 2017). ``scale = 1`` is Luong's
    plain dot score. This equals
    ``torch.nn.functional.scaled_dot_product_attention(q[:, None], K, V, attn_mask=mask[:, None])[:, 0]``
    for a query sequence of length 1.

    Args:
        query: ``(B, H)``, e.g. the decoder's state.
        keys: ``(B, S, H)``, e.g. the encoder's states.
        values: ``(B, S, E)``, what is averaged (often the keys themselves).
        mask: ``(B, S)`` bool, True where a position may be attended, or ``None`` (all may).
        scale: number multiplying the dot products, ``None`` for ``1/sqrt(H)``.

    Returns:
        ``(context, weights)``: ``context (B, E)``, ``weights (B, S)`` (rows sum to 1,
        masked positions exactly 0), in the inputs' dtype and on their device.
        Differentiable with respect to query, keys and values; no input is modified.

    Example::

        >>> q, K = torch.randn(2, 8), torch.randn(2, 5, 8)
        >>> context, weights = dot_attention(q, K, K)
        >>> context.shape, weights.shape
        (torch.Size([2, 8]), torch.Size([2, 5]))
    """
    _check_common(query, keys, values, mask)
    if keys.shape[2] != query.shape[1]:
        raise ValueError(f"keys must have shape (B, S, {query.shape[1]}) like query's size H; "
                         f"got {describe(keys)} for query {describe(query)}")
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[1])
    scores = scale * torch.bmm(keys, query.unsqueeze(2)).squeeze(2)  # (B, S, H) @ (B, H, 1) -> (B, S)
    weights = masked_softmax(scores, mask)  # (B, S)
    context = torch.bmm(weights.unsqueeze(1), values).squeeze(1)  # (B, 1, S) @ (B, S, E) -> (B, E)
    return context, weights


def additive_scores(query: torch.Tensor, keys: torch.Tensor, W_q: torch.Tensor, W_k: torch.Tensor,
                    v: torch.Tensor) -> torch.Tensor:
    r"""Bahdanau's scores :math:`e_{bs} = v^\top \tanh(W_q q_b + W_k k_{bs})`, shape ``(B, S)``."""
    hidden = torch.tanh((query @ W_q.T).unsqueeze(1) + keys @ W_k.T)  # (B, 1, A) + (B, S, A) -> (B, S, A)
    return hidden @ v  # (B, S)


def additive_attention(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, W_q: torch.Tensor,
                       W_k: torch.Tensor, v: torch.Tensor,
                       mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Additive (Bahdanau) attention of one query per example over ``S`` source positions.

    .. math::

        e_{bs} = v^\top \tanh(W_q q_b + W_k k_{bs}), \qquad
        \alpha_{b} = \operatorname{softmax}_s(e_{b}), \qquad
        c_{b} = \sum_s \alpha_{bs} V_{bs}

    A one-hidden-layer network scores each pair (query, key), so query and
    keys may have different sizes. ``W_k k_s`` does not depend on the query and
    can be computed once per source sentence.

    Args:
        query: ``(B, Hq)``, e.g. the decoder's previous state.
        keys: ``(B, S, Hk)``, e.g. the encoder's states.
        values: ``(B, S, E)``.
        W_q: ``(A, Hq)``; W_k: ``(A, Hk)``; v: ``(A,)``.
        mask: ``(B, S)`` bool, True where a position may be attended, or ``None``.

    Returns:
        ``(context (B, E), weights (B, S))`` as in :func:`dot_attention`.
    """
    B, S = _check_common(query, keys, values, mask)
    check_tensor("v", v, (None,))
    A = v.shape[0]
    check_tensor("W_q", W_q, (A, query.shape[1]))
    check_tensor("W_k", W_k, (A, keys.shape[2]))
    weights = masked_softmax(additive_scores(query, keys, W_q, W_k, v), mask)  # (B, S)
    context = torch.bmm(weights.unsqueeze(1), values).squeeze(1)  # (B, E)
    return context, weights


def length_mask(lengths: torch.Tensor | list[int], max_len: int | None = None) -> torch.Tensor:
    """``mask (B, max_len)`` bool with ``mask[b, s] = s < lengths[b]`` (True on real tokens, False on padding).

    Example::

        >>> length_mask(torch.tensor([3, 1]))
        tensor([[ True,  True,  True],
                [ True, False, False]])
    """
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or lengths.dtype.is_floating_point:
        raise TypeError(f"lengths must be a 1-D integer tensor (B,), got {describe(lengths)}")
    if max_len is None:
        max_len = int(lengths.max()) if lengths.numel() else 0
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]  # (B, max_len)
