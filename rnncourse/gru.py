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
al. (2014) apply it before, a different function (:func:`cho_gru_step`):

    n_t = tanh(W_in x_t + b_in + W_hn (r_t ⊙ h_{t-1}) + b_hn)    Cho et al.'s candidate

With the reset gate open and the update gate closed (r = 1, z = 0) the GRU is
the tanh RNN of chapter 1; :func:`gru_from_rnn` builds such weights. Every
function works for float32 and float64 on the inputs' device and never
modifies its inputs.
"""
from __future__ import annotations

import torch

from rnncourse._validate import check_positive_float, check_positive_int
from rnncourse._validate_torch import check_tensor


def _check_gru(x_dim: int, H: int, W_ih: torch.Tensor, W_hh: torch.Tensor, b_ih: torch.Tensor,
               b_hh: torch.Tensor) -> None:
    check_tensor("W_ih", W_ih, (3 * H, x_dim))
    check_tensor("W_hh", W_hh, (3 * H, H))
    check_tensor("b_ih", b_ih, (3 * H,))
    check_tensor("b_hh", b_hh, (3 * H,))


def _reset_update(xw_rz: torch.Tensor, hw_rz: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``r = σ(W_ir x + b_ir + W_hr h + b_hr)``, ``z = σ(W_iz x + b_iz + W_hz h + b_hz)``.

    ``xw_rz``, ``hw_rz``: the r and z blocks ``(..., 2H)`` of the input and
    recurrent projections → ``(r, z)``, each ``(..., H)``. The one place of the
    gates' equations, shared by both reset conventions.
    """
    return torch.sigmoid(xw_rz + hw_rz).chunk(2, dim=-1)


def gru_gates(xw: torch.Tensor, hw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The GRU's gates and candidate from its two projections: the one place their equations live.

    ``xw = x W_ihᵀ + b_ih`` and ``hw = h W_hhᵀ + b_hh``, each ``(..., 3H)`` in the
    gate order r, z, n → ``(r, z, n)``, each ``(..., H)``, with torch's reset
    convention ``n = tanh(xw_n + r ⊙ hw_n)``. Used by :func:`gru_step`,
    :func:`gru_forward`, :class:`rnncourse.layers.GRU` and the chapter's checks.
    """
    H = xw.shape[-1] // 3
    r, z = _reset_update(xw[..., :2 * H], hw[..., :2 * H])
    n = torch.tanh(xw[..., 2 * H:] + r * hw[..., 2 * H:])  # r multiplies W_hn h + b_hn: after the product
    return r, z, n


def cho_gru_gates(xw: torch.Tensor, h_prev: torch.Tensor, W_hh: torch.Tensor,
                  b_hh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cho et al.'s (2014) gates and candidate: the reset gate acts *before* the recurrent product.

    ``xw = x W_ihᵀ + b_ih`` ``(..., 3H)``, ``h_prev (..., H)``, ``W_hh (3H, H)``,
    ``b_hh (3H,)`` → ``(r, z, n)``, each ``(..., H)``, with

        n = tanh(xw_n + W_hn (r ⊙ h_prev) + b_hn)

    The one place of this equation. ``r`` must be known before ``W_hn`` is
    applied, so the recurrent product splits in two, one after the other: the
    gates' rows ``W_hh[:2H]``, then ``W_hn = W_hh[2H:]`` (torch's form does a
    single product with all of ``W_hh``).
    """
    H = h_prev.shape[-1]
    r, z = _reset_update(xw[..., :2 * H], h_prev @ W_hh[:2 * H].T + b_hh[:2 * H])  # (..., H) each
    n = torch.tanh(xw[..., 2 * H:] + (r * h_prev) @ W_hh[2 * H:].T + b_hh[2 * H:])  # the second product
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


def cho_gru_step(x_t: torch.Tensor, h_prev: torch.Tensor, W_ih: torch.Tensor, W_hh: torch.Tensor,
                 b_ih: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
    """One step of the GRU of Cho et al. (2014): the reset gate applied to ``h_{t-1}`` before ``W_hn``.

        r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n_t = tanh(W_in x_t + b_in + W_hn (r_t ⊙ h_{t-1}) + b_hn)
        h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    Only the candidate differs from :func:`gru_step` (``torch.nn.GRUCell``,
    ``r_t ⊙ (W_hn h_{t-1} + b_hn)``); with the reset gate saturated open
    (``r = 1``) the two agree.

    Args:
        x_t: ``(B, D)``; h_prev: ``(B, H)``; W_ih: ``(3H, D)``; W_hh: ``(3H, H)``;
        b_ih, b_hh: ``(3H,)`` (gate order r, z, n, torch's layout).

    Returns:
        ``h_t (B, H)``.

    Example::

        >>> cell = torch.nn.GRUCell(3, 4, dtype=torch.float64)
        >>> x, h = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
        >>> cho_gru_step(x, h, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh).shape
        torch.Size([2, 4])
    """
    check_tensor("x_t", x_t, (None, None))
    check_tensor("h_prev", h_prev, (x_t.shape[0], None))
    _check_gru(x_t.shape[1], h_prev.shape[1], W_ih, W_hh, b_ih, b_hh)
    _, z, n = cho_gru_gates(x_t @ W_ih.T + b_ih, h_prev, W_hh, b_hh)
    return gru_mix(z, n, h_prev)  # (B, H)


def gru_from_rnn(W_ih: torch.Tensor, W_hh: torch.Tensor, b: torch.Tensor, saturation: float = 30.0
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """GRU weights (torch's layout) that compute a given tanh RNN: reset gate open, update gate closed.

    The RNN is chapter 1's ``h_t = tanh(x_t W_ihᵀ + h_{t-1} W_hhᵀ + b)``. With
    ``r_t = 1`` and ``z_t = 0`` the GRU's update ``h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}``
    becomes ``h_t = n_t = tanh(W_in x_t + b_in + W_hn h_{t-1} + b_hn)``: the RNN
    when ``W_in = W_ih``, ``W_hn = W_hh`` and ``b_in + b_hn = b``. The gates'
    weight rows are zero, so they ignore ``x`` and ``h`` however large those
    are, and their biases are ``±saturation``: ``r = σ(s)``, ``z = σ(-s)``.
    ``σ(30) = 1 - 9.4·10⁻¹⁴``, so with the default the GRU follows the RNN to
    about ``10⁻¹³`` (``σ(40)`` rounds to 1 in float64)::

        W_ih3 = [0; 0; W_ih]    (3H, D)     rows r, z, n
        W_hh3 = [0; 0; W_hh]    (3H, H)
        b_ih3 = [+s; -s; b]     (3H,)
        b_hh3 = [0; 0; 0]       (3H,)

    Args:
        W_ih: ``(H, D)``; W_hh: ``(H, H)``; b: ``(H,)``, the RNN's single bias
            (``bias_ih_l0 + bias_hh_l0`` of a ``torch.nn.RNN``).
        saturation: ``s > 0``, the gate bias magnitude.

    Returns:
        ``(W_ih3, W_hh3, b_ih3, b_hh3)`` of shapes ``(3H, D), (3H, H), (3H,), (3H,)``:
        new tensors of the inputs' dtype and device (differentiable in them).

    Example::

        >>> rnn = torch.nn.RNN(3, 4, dtype=torch.float64)
        >>> gru = torch.nn.GRU(3, 4, dtype=torch.float64)
        >>> weights = gru_from_rnn(rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0 + rnn.bias_hh_l0)
        >>> with torch.no_grad():
        ...     for p, w in zip(gru.parameters(), weights):  # weight_ih, weight_hh, bias_ih, bias_hh
        ...         _ = p.copy_(w)
        >>> x = torch.randn(5, 2, 3, dtype=torch.float64)
        >>> bool((gru(x)[0] - rnn(x)[0]).abs().max() < 1e-12)
        True
    """
    check_tensor("W_ih", W_ih, (None, None))
    H = W_ih.shape[0]
    check_tensor("W_hh", W_hh, (H, H))
    check_tensor("b", b, (H,))
    check_positive_float("saturation", saturation)
    no_gates_ih = W_ih.new_zeros(2 * H, W_ih.shape[1])  # (2H, D): r and z ignore x ...
    no_gates_hh = W_hh.new_zeros(2 * H, H)  # (2H, H): ... and h
    gate_bias = torch.cat([b.new_full((H,), float(saturation)), b.new_full((H,), -float(saturation))])  # r = 1, z = 0
    return (torch.cat([no_gates_ih, W_ih]), torch.cat([no_gates_hh, W_hh]),  # (3H, D), (3H, H)
            torch.cat([gate_bias, b]), b.new_zeros(3 * H))  # b counted once, in b_in


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
