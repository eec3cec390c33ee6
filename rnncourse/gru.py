"""The GRU cell and layer in torch, in exactly ``torch.nn.GRUCell``'s formulation.

Dimensions: ``T`` steps, ``B`` batch, ``D`` input size, ``H`` hidden size.
With σ the logistic sigmoid and ⊙ the element-wise product:

    r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)             reset gate
    z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)             update gate
    n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))   candidate state
    h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

Layout (torch's): ``W_ih (3H, D)`` stacks ``W_ir, W_iz, W_in`` (gate order
**r, z, n**), ``W_hh (3H, H)`` likewise, biases ``b_ih, b_hh (3H,)``. Note that
the reset gate multiplies ``W_hn h + b_hn`` *after* the matrix product; Cho et
al. (2014) apply it before (``W_hn (r ⊙ h)``), a different function.
"""
from __future__ import annotations

import torch

from rnncourse._validate import check_positive_int
from rnncourse._validate_torch import check_tensor


def _check_gru(x_dim: int, H: int, W_ih: torch.Tensor, W_hh: torch.Tensor, b_ih: torch.Tensor,
               b_hh: torch.Tensor) -> None:
    check_tensor("W_ih", W_ih, (3 * H, x_dim))
    check_tensor("W_hh", W_hh, (3 * H, H))
    check_tensor("b_ih", b_ih, (3 * H,))
    check_tensor("b_hh", b_hh, (3 * H,))


def gru_gates(xw: torch.Tensor, hw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The GRU's gates and candidate from its two projections: the one place their equations live.

    ``xw = x W_ihᵀ + b_ih`` and ``hw = h W_hhᵀ + b_hh``, each ``(..., 3H)`` in the
    gate order r, z, n → ``(r, z, n)``, each ``(..., H)``, with torch's reset
    convention ``n = tanh(xw_n + r ⊙ hw_n)``. Used by :func:`gru_step`,
    :func:`gru_forward`, :class:`rnncourse.layers.GRU` and the chapter's checks.
    """
    xr, xz, xn = xw.chunk(3, dim=-1)
    hr, hz, hn = hw.chunk(3, dim=-1)
    r = torch.sigmoid(xr + hr)
    z = torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return r, z, n


def gru_mix(z: torch.Tensor, n: torch.Tensor, h_prev: torch.Tensor) -> torch.Tensor:
    """``h_t = (1 - z) ⊙ n + z ⊙ h_prev``: ``z`` is the fraction of the old state kept."""
    return (1.0 - z) * n + z * h_prev


def _gru_update(xw: torch.Tensor, hw: torch.Tensor, h_prev: torch.Tensor) -> torch.Tensor:
    """``xw = W_ih x + b_ih`` and ``hw = W_hh h + b_hh``, each ``(B, 3H)`` → ``h_t (B, H)``."""
    _, z, n = gru_gates(xw, hw)
    return gru_mix(z, n, h_prev)  # (B, H)


def gru_step(x_t: torch.Tensor, h_prev: torch.Tensor, W_ih: torch.Tensor, W_hh: torch.Tensor,
             b_ih: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
    """One GRU step, identical to ``torch.nn.GRUCell``.

    Args:
        x_t: ``(B, D)``; h_prev: ``(B, H)``; W_ih: ``(3H, D)``; W_hh: ``(3H, H)``;
        b_ih, b_hh: ``(3H,)`` (gate order r, z, n).

    Returns:
        ``h_t (B, H)``.
    """
    check_tensor("x_t", x_t, (None, None))
    check_tensor("h_prev", h_prev, (x_t.shape[0], None))
    _check_gru(x_t.shape[1], h_prev.shape[1], W_ih, W_hh, b_ih, b_hh)
    return _gru_update(x_t @ W_ih.T + b_ih, h_prev @ W_hh.T + b_hh, h_prev)


def gru_forward(x: torch.Tensor, h0: torch.Tensor, W_ih: torch.Tensor, W_hh: torch.Tensor,
                b_ih: torch.Tensor, b_hh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A one-layer GRU over a sequence, identical to ``torch.nn.GRU`` (``batch_first=False``).

    Args:
        x: ``(T, B, D)``; h0: ``(B, H)``; weights as in :func:`gru_step`.

    Returns:
        ``(hs, h_T)`` with ``hs (T, B, H)``.
    """
    check_tensor("x", x, (None, None, None))
    check_tensor("h0", h0, (x.shape[1], None))
    _check_gru(x.shape[2], h0.shape[1], W_ih, W_hh, b_ih, b_hh)
    xw = x @ W_ih.T + b_ih  # (T, B, 3H): input projection hoisted out of the loop
    W_hh_T = W_hh.T  # (H, 3H)
    h, hs = h0, []
    for t in range(x.shape[0]):
        h = _gru_update(xw[t], torch.addmm(b_hh, h, W_hh_T), h)  # (B, H)
        hs.append(h)
    return torch.stack(hs), h  # (T, B, H), (B, H)


def rnn_param_counts(input_size: int, hidden_size: int) -> dict[str, int]:
    """Parameters of one-layer ``torch.nn.RNN`` / ``LSTM`` / ``GRU`` (two biases each).

    With ``G`` gates' worth of weights (1, 4, 3): ``G·(H·D + H·H + 2H)``.
    """
    check_positive_int("input_size", input_size)
    check_positive_int("hidden_size", hidden_size)
    D, H = input_size, hidden_size
    one = H * D + H * H + 2 * H
    return {"rnn": one, "lstm": 4 * one, "gru": 3 * one}
