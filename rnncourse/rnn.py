"""The vanilla (Elman) recurrent cell in numpy: one step, the unrolled forward pass, softmax and cross-entropy.

Dimensions: ``T`` time steps, ``B`` batch size, ``D`` input size, ``H`` hidden
size, ``V`` number of classes. Sequences are time-major, ``x`` is ``(T, B, D)``.

The cell computes, with ``tanh`` applied element-wise,

    h_t = tanh(x_t W_ihᵀ + h_{t-1} W_hhᵀ + b)

with ``W_ih (H, D)``, ``W_hh (H, H)`` and one bias ``b (H,)``: the layout of
``torch.nn.RNN``'s ``weight_ih_l0`` / ``weight_hh_l0`` (torch has two biases,
``b = bias_ih_l0 + bias_hh_l0``).
"""
from __future__ import annotations

import numpy as np

from rnncourse._validate import check_ndim, check_positive_int, check_shape, describe


def _check_rnn_weights(x_dim: int, h_dim: int, W_ih: np.ndarray, W_hh: np.ndarray, b: np.ndarray) -> None:
    check_shape("W_ih", W_ih, (h_dim, x_dim))
    check_shape("W_hh", W_hh, (h_dim, h_dim))
    check_shape("b", b, (h_dim,))


def rnn_step(x_t: np.ndarray, h_prev: np.ndarray, W_ih: np.ndarray, W_hh: np.ndarray,
             b: np.ndarray) -> np.ndarray:
    """One step of the tanh RNN: ``h_t = tanh(x_t W_ihᵀ + h_prev W_hhᵀ + b)``.

    Args:
        x_t: ``(B, D)`` inputs at step t.
        h_prev: ``(B, H)`` previous hidden state.
        W_ih: ``(H, D)`` input-to-hidden weights.
        W_hh: ``(H, H)`` hidden-to-hidden weights.
        b: ``(H,)`` bias.

    Returns:
        ``h_t`` of shape ``(B, H)``.
    """
    check_ndim("x_t", x_t, 2)
    check_ndim("h_prev", h_prev, 2)
    if h_prev.shape[0] != x_t.shape[0]:
        raise ValueError(f"h_prev must have batch size {x_t.shape[0]} like x_t, got {describe(h_prev)}")
    _check_rnn_weights(x_t.shape[1], h_prev.shape[1], W_ih, W_hh, b)
    return np.tanh(x_t @ W_ih.T + h_prev @ W_hh.T + b)  # (B, H)


def rnn_forward(x: np.ndarray, h0: np.ndarray, W_ih: np.ndarray, W_hh: np.ndarray,
                b: np.ndarray) -> np.ndarray:
    """Run the tanh RNN over a sequence, the same weights at every step.

    Args:
        x: ``(T, B, D)`` input sequence.
        h0: ``(B, H)`` initial state.
        W_ih, W_hh, b: as in :func:`rnn_step`.

    Returns:
        ``hs`` of shape ``(T, B, H)``; ``hs[t]`` is the state after reading ``x[t]``.
    """
    check_ndim("x", x, 3)
    check_ndim("h0", h0, 2)
    if h0.shape[0] != x.shape[1]:
        raise ValueError(f"h0 must have batch size {x.shape[1]} like x, got {describe(h0)}")
    _check_rnn_weights(x.shape[2], h0.shape[1], W_ih, W_hh, b)
    T, B, _ = x.shape
    xw = x @ W_ih.T + b  # (T, B, H): the input projection of every step at once
    hs = np.empty((T, B, h0.shape[1]), dtype=np.result_type(x, h0, W_ih, W_hh, b))
    h = h0
    for t in range(T):
        h = np.tanh(xw[t] + h @ W_hh.T)  # (B, H)
        hs[t] = h
    return hs


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, any leading shape: ``p_i = exp(z_i - m) / Σ_j exp(z_j - m)``.

    Subtracting ``m = max_j z_j`` changes nothing mathematically and keeps
    ``exp`` from overflowing for large logits (e.g. ±1000).

    Args:
        z: ``(..., V)`` logits.

    Returns:
        ``p`` of the same shape, non-negative, summing to 1 over the last axis.
    """
    if not hasattr(z, "shape"):
        raise TypeError(f"z must be an array, got {describe(z)}")
    if np.ndim(z) < 1:
        raise ValueError(f"z must have at least one axis, got {describe(z)}")
    shifted = z - np.max(z, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=-1, keepdims=True)


def log_softmax(z: np.ndarray) -> np.ndarray:
    """``log softmax(z)`` over the last axis, computed as ``z - m - log Σ exp(z - m)``."""
    shifted = z - np.max(z, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> float:
    """Mean negative log-likelihood of integer ``targets`` under ``softmax(logits)``.

    Args:
        logits: ``(..., V)`` unnormalised scores.
        targets: ``(...)`` integer class ids in ``[0, V)``.

    Returns:
        ``-(1/N) Σ_n log softmax(logits_n)[targets_n]`` over all ``N`` positions, a float.
    """
    if not hasattr(logits, "shape"):
        raise TypeError(f"logits must be an array of shape (..., V), got {describe(logits)}")
    if np.ndim(logits) < 1 or logits.shape[-1] < 1:
        raise ValueError(f"logits must have shape (..., V) with V >= 1, got {describe(logits)}")
    targets = np.asarray(targets)
    if targets.shape != logits.shape[:-1]:
        raise ValueError(f"targets must have shape {logits.shape[:-1]} to match logits, got {describe(targets)}")
    if not np.issubdtype(targets.dtype, np.integer):
        raise TypeError(f"targets must hold integers, got {describe(targets)}")
    if targets.size == 0:
        raise ValueError(f"targets must hold at least one position, got {describe(targets)}")
    V = logits.shape[-1]
    if targets.min() < 0 or targets.max() >= V:
        raise ValueError(f"targets must lie in [0, {V}), got values from {targets.min()} to {targets.max()}")
    logp = log_softmax(logits)  # (..., V)
    picked = np.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]  # (...)
    return float(-np.mean(picked))


def one_hot(ids: np.ndarray, V: int) -> np.ndarray:
    """One-hot float64 vectors, ``out[..., v] = 1`` where ``v = ids[...]`` and 0 elsewhere.

    Args:
        ids: ``(...)`` integers in ``[0, V)``.
        V: the number of classes, ``>= 1``.

    Returns:
        ``(..., V)`` float64 array; ``one_hot(ids, V) @ E`` equals ``E[ids]``.
    """
    check_positive_int("V", V)
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"ids must hold integers, got {describe(ids)}")
    if ids.size and (ids.min() < 0 or ids.max() >= V):
        raise ValueError(f"ids must lie in [0, {V}), got values from {ids.min()} to {ids.max()}")
    return np.eye(V)[ids]  # (..., V)
