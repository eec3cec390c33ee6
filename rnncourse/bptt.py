"""Backpropagation through time for the tanh RNN of :mod:`rnncourse.rnn`, in numpy.

Dimensions: ``T`` steps, ``B`` batch, ``D`` input size, ``H`` hidden size.
Forward step: ``h_t = tanh(a_t)``, ``a_t = x_t W_ihᵀ + h_{t-1} W_hhᵀ + b``.
Backward step, with ``⊙`` the element-wise product and ``tanh' = 1 - tanh²``:

    da_t      = dh_t ⊙ (1 - h_t ⊙ h_t)           (B, H)
    dx_t      = da_t W_ih                         (B, D)
    dh_{t-1} += da_t W_hh                         (B, H)   the recurrent gradient
    dW_ih    += da_tᵀ x_t,  dW_hh += da_tᵀ h_{t-1},  db += Σ_batch da_t

BPTT walks from ``t = T-1`` down to ``0``; the gradient reaching ``h_t`` is the
part that comes from the loss at step ``t`` directly plus the part that comes
back from step ``t + 1`` through ``W_hh``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from rnncourse._validate import check_ndim, check_positive_float, check_positive_int, check_shape, describe

Grads = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def rnn_step_backward(dh_t: np.ndarray, x_t: np.ndarray, h_prev: np.ndarray, h_t: np.ndarray,
                      W_ih: np.ndarray, W_hh: np.ndarray) -> Grads:
    """Backward pass of one :func:`rnncourse.rnn.rnn_step`.

    Args:
        dh_t: ``(B, H)`` full gradient of the loss with respect to ``h_t``.
        x_t: ``(B, D)`` the step's input.
        h_prev: ``(B, H)`` the previous state.
        h_t: ``(B, H)`` the step's output (tanh' is computed from it).
        W_ih: ``(H, D)``; W_hh: ``(H, H)``.

    Returns:
        ``(dx_t (B, D), dh_prev (B, H), dW_ih (H, D), dW_hh (H, H), db (H,))``.
    """
    check_ndim("x_t", x_t, 2)
    B, D = x_t.shape
    check_ndim("h_t", h_t, 2)
    H = h_t.shape[1]
    check_shape("dh_t", dh_t, (B, H))
    check_shape("h_prev", h_prev, (B, H))
    check_shape("h_t", h_t, (B, H))
    check_shape("W_ih", W_ih, (H, D))
    check_shape("W_hh", W_hh, (H, H))
    da = dh_t * (1.0 - h_t * h_t)  # (B, H)
    return da @ W_ih, da @ W_hh, da.T @ x_t, da.T @ h_prev, da.sum(axis=0)


def _backward(dhs: np.ndarray, x: np.ndarray, h0: np.ndarray, hs: np.ndarray, W_ih: np.ndarray,
              W_hh: np.ndarray, k: int | None) -> Grads:
    check_ndim("x", x, 3)
    T, B, D = x.shape
    check_ndim("h0", h0, 2)
    H = h0.shape[1]
    check_shape("h0", h0, (B, H))
    check_shape("dhs", dhs, (T, B, H))
    check_shape("hs", hs, (T, B, H))
    check_shape("W_ih", W_ih, (H, D))
    check_shape("W_hh", W_hh, (H, H))
    dx = np.zeros_like(x, dtype=np.result_type(x, dhs))
    dW_ih = np.zeros_like(W_ih, dtype=np.result_type(W_ih, dhs))
    dW_hh = np.zeros_like(W_hh, dtype=np.result_type(W_hh, dhs))
    db = np.zeros(H, dtype=np.result_type(W_hh, dhs))
    carry = np.zeros((B, H), dtype=db.dtype)  # gradient flowing back from step t + 1
    for t in reversed(range(T)):
        if k is not None and (t + 1) % k == 0:
            carry = np.zeros_like(carry)  # chunk boundary: nothing crosses it (h.detach())
        h_prev = hs[t - 1] if t > 0 else h0
        dx_t, dh_prev, dWi, dWh, db_t = rnn_step_backward(dhs[t] + carry, x[t], h_prev, hs[t], W_ih, W_hh)
        dx[t] = dx_t
        dW_ih += dWi
        dW_hh += dWh
        db += db_t
        carry = dh_prev
    return dx, carry, dW_ih, dW_hh, db


def rnn_backward(dhs: np.ndarray, x: np.ndarray, h0: np.ndarray, hs: np.ndarray, W_ih: np.ndarray,
                 W_hh: np.ndarray) -> Grads:
    """Full backpropagation through time for :func:`rnncourse.rnn.rnn_forward`.

    Args:
        dhs: ``(T, B, H)`` gradient reaching each ``h_t`` *directly* from the loss
            at step ``t`` (not through later steps); BPTT adds the recurrent part.
        x: ``(T, B, D)`` inputs; h0: ``(B, H)`` initial state; hs: ``(T, B, H)`` the forward states.
        W_ih: ``(H, D)``; W_hh: ``(H, H)``.

    Returns:
        ``(dx (T, B, D), dh0 (B, H), dW_ih (H, D), dW_hh (H, H), db (H,))``.
    """
    return _backward(dhs, x, h0, hs, W_ih, W_hh, k=None)


def truncated_rnn_backward(dhs: np.ndarray, x: np.ndarray, h0: np.ndarray, hs: np.ndarray,
                           W_ih: np.ndarray, W_hh: np.ndarray, k: int) -> Grads:
    """Truncated BPTT: chunks ``x[0:k], x[k:2k], …`` with no gradient between chunks.

    Exactly what detaching the state every ``k`` steps does in torch: the
    forward pass is unchanged, but the gradient that would flow from chunk
    ``c`` into the last state of chunk ``c - 1`` is dropped. ``dh0`` receives
    gradient from the first chunk only. ``k >= T`` gives :func:`rnn_backward`.
    Arguments and returns as in :func:`rnn_backward`, plus ``k >= 1`` the chunk length.
    """
    check_positive_int("k", k)
    return _backward(dhs, x, h0, hs, W_ih, W_hh, k=k)


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Central-difference gradient of the scalar ``f()`` with respect to the array ``x``.

    ``∂f/∂x_i ≈ (f(x + ε e_i) - f(x - ε e_i)) / (2ε)``, error ``O(ε²)``. Each
    entry of ``x`` is perturbed in place (``f`` reads ``x``) and then restored
    to its exact original value.

    Args:
        f: a function of no arguments that reads ``x`` and returns a scalar.
        x: float array of any shape, modified during the call and restored.
        eps: the step ``ε > 0``.

    Returns:
        float64 array of ``x``'s shape.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a numpy array (perturbed in place), got {describe(x)}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"x must hold floats (an integer array cannot take x + eps), got {describe(x)}")
    if not callable(f):
        raise TypeError(f"f must be a callable taking no arguments, got {describe(f)}")
    check_positive_float("eps", eps)
    grad = np.zeros(x.shape, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        original = x[idx].copy()
        x[idx] = original + eps
        f_plus = float(f())
        x[idx] = original - eps
        f_minus = float(f())
        x[idx] = original  # exact restore, not original + eps - eps
        grad[idx] = (f_plus - f_minus) / (2.0 * eps)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """``max |a - b| / max(|a| + |b|, 1e-12)``, element-wise: below ~1e-7 means the gradients agree."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-12), initial=0.0))
