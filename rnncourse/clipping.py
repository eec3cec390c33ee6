"""Exploding and vanishing gradients in numpy: step Jacobians, gradient clipping, orthogonal initialisation.

For the tanh RNN ``h_t = tanh(a_t)``, ``a_t = W_ih x_t + W_hh h_{t-1} + b``, one
step's Jacobian is ``∂h_t/∂h_{t-1} = diag(1 - h_t ⊙ h_t) W_hh`` (⊙: element-wise
product), and the gradient reaching ``h_{T-k}`` is multiplied by a product of
``k`` of them. Its spectral norm shrinks or grows exponentially in ``k``.

Clipping by norm rescales all gradients together (one global norm), as
``torch.nn.utils.clip_grad_norm_`` does; clipping by value clamps each element,
as ``torch.nn.utils.clip_grad_value_`` does. Both here return new arrays.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from rnncourse._validate import check_ndim, check_positive_float, check_positive_int, check_shape, describe


def _check_grads(grads: Sequence[np.ndarray]) -> None:
    if not isinstance(grads, (list, tuple)):
        raise TypeError(f"grads must be a list of arrays, got {describe(grads)}")
    for i, g in enumerate(grads):
        if not hasattr(g, "shape"):
            raise TypeError(f"grads[{i}] must be an array, got {describe(g)}")


def global_grad_norm(grads: Sequence[np.ndarray]) -> float:
    """L2 norm of all arrays taken together: ``sqrt(Σ_p Σ_i g_p[i]²)``."""
    _check_grads(grads)
    return float(np.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads)))


def clip_grad_norm(grads: Sequence[np.ndarray], max_norm: float) -> tuple[list[np.ndarray], float]:
    """Scale every array by ``min(1, max_norm / (total_norm + 1e-6))``.

    Args:
        grads: list of gradient arrays (any shapes).
        max_norm: threshold θ > 0 on the global norm.

    Returns:
        ``(clipped, total_norm)``: new arrays and the global norm before clipping.
    """
    _check_grads(grads)
    check_positive_float("max_norm", max_norm)
    for i, g in enumerate(grads):
        if not np.issubdtype(g.dtype, np.floating):
            raise TypeError(f"grads[{i}] must hold floats, got {describe(g)}")
    total = global_grad_norm(grads)
    scale = min(1.0, max_norm / (total + 1e-6))
    return [g * g.dtype.type(scale) for g in grads], total  # new arrays, dtypes kept


def clip_grad_value(grads: Sequence[np.ndarray], clip_value: float) -> list[np.ndarray]:
    """New arrays with every element clamped into ``[-clip_value, clip_value]``."""
    _check_grads(grads)
    check_positive_float("clip_value", clip_value)
    return [np.clip(g, -clip_value, clip_value) for g in grads]


def hidden_jacobian(h_t: np.ndarray, W_hh: np.ndarray) -> np.ndarray:
    """``∂h_t/∂h_{t-1} = diag(1 - h_t ⊙ h_t) W_hh`` for one example.

    Args:
        h_t: ``(H,)`` the state after the step.
        W_hh: ``(H, H)`` recurrent weights.

    Returns:
        ``J (H, H)`` with ``J[a, b] = ∂h_t[a] / ∂h_{t-1}[b]``.
    """
    check_ndim("h_t", h_t, 1)
    check_shape("W_hh", W_hh, (h_t.shape[0], h_t.shape[0]))
    return (1.0 - h_t * h_t)[:, None] * W_hh  # (H, H)


def jacobian_norms(hs: np.ndarray, W_hh: np.ndarray) -> np.ndarray:
    """Spectral norms of ``∂h_T/∂h_{T-k}`` for ``k = 1 … T``.

    Args:
        hs: ``(T+1, H)`` the states ``h_0 … h_T`` of one example.
        W_hh: ``(H, H)``.

    Returns:
        ``norms (T,)`` with ``norms[k-1] = ||∂h_T/∂h_{T-k}||_2``.
    """
    check_ndim("hs", hs, 2)
    T, H = hs.shape[0] - 1, hs.shape[1]
    if T < 1:
        raise ValueError(f"hs must hold at least h_0 and h_1, got {describe(hs)}")
    check_shape("W_hh", W_hh, (H, H))
    J = np.eye(H, dtype=np.result_type(hs, W_hh))
    norms = np.empty(T, dtype=J.dtype)
    for k in range(1, T + 1):
        J = J @ hidden_jacobian(hs[T - k + 1], W_hh)  # (H, H): ∂h_T/∂h_{T-k}
        norms[k - 1] = np.linalg.norm(J, 2)
    return norms


def orthogonal_init(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``(n, n)`` orthogonal matrix (``WᵀW = I``), uniformly distributed.

    QR-decompose a standard Gaussian matrix ``A = QR`` and multiply the columns
    of ``Q`` by the signs of ``R``'s diagonal, which makes the distribution of
    ``Q`` uniform (Haar) over orthogonal matrices.
    """
    check_positive_int("n", n)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {describe(rng)}")
    Q, R = np.linalg.qr(rng.standard_normal((n, n)))
    signs = np.sign(np.diag(R))
    signs[signs == 0] = 1.0
    return Q * signs  # (n, n)
