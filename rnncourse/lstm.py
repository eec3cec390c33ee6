"""The LSTM cell and layer in torch, in exactly ``torch.nn.LSTMCell``'s formulation.

Dimensions: ``T`` steps, ``B`` batch, ``D`` input size, ``H`` hidden size.
With σ the logistic sigmoid and ⊙ the element-wise product:

    i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)        input gate
    f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)        forget gate
    g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)     candidate cell
    o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)        output gate
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h_t = o_t ⊙ tanh(c_t)

Layout (torch's): ``W_ih (4H, D)`` stacks ``W_ii, W_if, W_ig, W_io`` in the
gate order **i, f, g, o**; ``W_hh (4H, H)`` likewise; two biases ``b_ih, b_hh (4H,)``.
Every function works for float32 and float64 on the inputs' device and never
modifies its inputs.
"""
from __future__ import annotations

import math
import numbers

import torch

from rnncourse._validate import check_positive_float, describe
from rnncourse._validate_torch import check_tensor

LSTMState = tuple[torch.Tensor, torch.Tensor]


def _check_lstm(x_dim: int, H: int, W_ih: torch.Tensor, W_hh: torch.Tensor, *biases: tuple[str, torch.Tensor]) -> None:
    check_tensor("W_ih", W_ih, (4 * H, x_dim))
    check_tensor("W_hh", W_hh, (4 * H, H))
    for name, b in biases:
        check_tensor(name, b, (4 * H,))


def lstm_gates(a: torch.Tensor, out: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
    """The activated gates ``(i, f, g, o)`` from the pre-activations ``a (B, 4H)`` (order i, f, g, o).

    σ on the i, f and o blocks, tanh on the g block. Together with
    :func:`lstm_memory` this is the one place the LSTM's equations are written;
    :func:`lstm_step`, :func:`lstm_forward`, :func:`peephole_lstm_step` and
    :class:`rnncourse.layers.LSTM` all call them. ``out`` is a ``(B, 4H)``
    buffer to write the activations into (for code that runs without
    autograd, like the layer's fused forward pass); the four returned tensors
    are then views of it.
    """
    if out is None:
        i, f, g, o = a.chunk(4, dim=-1)  # each (B, H)
        return torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    H = a.shape[-1] // 4
    torch.sigmoid(a, out=out)
    torch.tanh(a[..., 2 * H:3 * H], out=out[..., 2 * H:3 * H])  # the g block takes tanh, not σ
    return out.split(H, dim=-1)


def lstm_memory(i: torch.Tensor, f: torch.Tensor, g: torch.Tensor, o: torch.Tensor, c_prev: torch.Tensor,
                out: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``c_t = f ⊙ c_{t-1} + i ⊙ g`` and ``h_t = o ⊙ tanh(c_t)``; returns ``(h_t, c_t, tanh(c_t))``, each ``(B, H)``.

    ``out = (c, tanh_c, h)``: buffers to write into (code without autograd).
    """
    c_out, tanh_out, h_out = (None, None, None) if out is None else out
    c = torch.addcmul(f * c_prev, i, g, out=c_out)  # (B, H)
    tanh_c = torch.tanh(c, out=tanh_out)
    h = torch.mul(o, tanh_c, out=h_out)
    return h, c, tanh_c


def _lstm_gates(gates: torch.Tensor, c_prev: torch.Tensor) -> LSTMState:
    """Apply the nonlinearities to pre-activations ``gates (B, 4H)`` (order i, f, g, o) → ``(h, c)``."""
    h, c, _ = lstm_memory(*lstm_gates(gates), c_prev)
    return h, c


def lstm_step(x_t: torch.Tensor, h_prev: torch.Tensor, c_prev: torch.Tensor, W_ih: torch.Tensor,
              W_hh: torch.Tensor, b_ih: torch.Tensor, b_hh: torch.Tensor) -> LSTMState:
    """One LSTM step, identical to ``torch.nn.LSTMCell``.

    Args:
        x_t: ``(B, D)``; h_prev, c_prev: ``(B, H)``.
        W_ih: ``(4H, D)``; W_hh: ``(4H, H)``; b_ih, b_hh: ``(4H,)`` (gate order i, f, g, o).

    Returns:
        ``(h_t, c_t)``, each ``(B, H)``.
    """
    check_tensor("x_t", x_t, (None, None))
    check_tensor("h_prev", h_prev, (x_t.shape[0], None))
    check_tensor("c_prev", c_prev, tuple(h_prev.shape))
    _check_lstm(x_t.shape[1], h_prev.shape[1], W_ih, W_hh, ("b_ih", b_ih), ("b_hh", b_hh))
    gates = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh  # (B, 4H)
    return _lstm_gates(gates, c_prev)


def lstm_forward(x: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor, W_ih: torch.Tensor,
                 W_hh: torch.Tensor, b_ih: torch.Tensor, b_hh: torch.Tensor) -> tuple[torch.Tensor, LSTMState]:
    """A one-layer LSTM over a sequence, identical to ``torch.nn.LSTM`` (``batch_first=False``).

    Args:
        x: ``(T, B, D)``; h0, c0: ``(B, H)``; weights as in :func:`lstm_step`.

    Returns:
        ``(hs, (h_T, c_T))`` with ``hs (T, B, H)`` the state after every step.
    """
    check_tensor("x", x, (None, None, None))
    check_tensor("h0", h0, (x.shape[1], None))
    check_tensor("c0", c0, tuple(h0.shape))
    _check_lstm(x.shape[2], h0.shape[1], W_ih, W_hh, ("b_ih", b_ih), ("b_hh", b_hh))
    xw = x @ W_ih.T + (b_ih + b_hh)  # (T, B, 4H): input projection hoisted out of the loop
    W_hh_T = W_hh.T  # (H, 4H)
    h, c, hs = h0, c0, []
    for t in range(x.shape[0]):
        h, c = _lstm_gates(torch.addmm(xw[t], h, W_hh_T), c)  # (B, H)
        hs.append(h)
    return torch.stack(hs), (h, c)  # (T, B, H)


def peephole_lstm_step(x_t: torch.Tensor, h_prev: torch.Tensor, c_prev: torch.Tensor, W_ih: torch.Tensor,
                       W_hh: torch.Tensor, b: torch.Tensor, p_i: torch.Tensor, p_f: torch.Tensor,
                       p_o: torch.Tensor) -> LSTMState:
    """One step of an LSTM with diagonal peephole connections (Gers & Schmidhuber, 2000).

    The gates also see the previous cell state through diagonal weights
    ``p_i, p_f, p_o (H,)``:

        i_t = σ(W_ii x_t + W_hi h_{t-1} + p_i ⊙ c_{t-1} + b_i)
        f_t = σ(W_if x_t + W_hf h_{t-1} + p_f ⊙ c_{t-1} + b_f)
        g_t = tanh(W_ig x_t + W_hg h_{t-1} + b_g)
        o_t = σ(W_io x_t + W_ho h_{t-1} + p_o ⊙ c_{t-1} + b_o)
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t,   h_t = o_t ⊙ tanh(c_t)

    All three peepholes read ``c_{t-1}``, as the course's contract fixes. Gers
    et al. let the output gate look at the *new* cell, ``p_o ⊙ c_t``, which is
    computed before ``o_t``; that variant is a different function.

    Args:
        x_t: ``(B, D)``; h_prev, c_prev: ``(B, H)``; W_ih: ``(4H, D)``; W_hh: ``(4H, H)``;
        b: ``(4H,)`` a single bias (gate order i, f, g, o); p_i, p_f, p_o: ``(H,)``.

    Returns:
        ``(h_t, c_t)``, each ``(B, H)``.
    """
    check_tensor("x_t", x_t, (None, None))
    check_tensor("h_prev", h_prev, (x_t.shape[0], None))
    H = h_prev.shape[1]
    check_tensor("c_prev", c_prev, tuple(h_prev.shape))
    _check_lstm(x_t.shape[1], H, W_ih, W_hh, ("b", b))
    for name, p in (("p_i", p_i), ("p_f", p_f), ("p_o", p_o)):
        check_tensor(name, p, (H,))
    gi, gf, gg, go = (x_t @ W_ih.T + h_prev @ W_hh.T + b).chunk(4, dim=-1)  # (B, 4H) -> 4 × (B, H)
    i = torch.sigmoid(gi + p_i * c_prev)
    f = torch.sigmoid(gf + p_f * c_prev)
    o = torch.sigmoid(go + p_o * c_prev)  # c_{t-1}, not c_t: see above
    h, c, _ = lstm_memory(i, f, torch.tanh(gg), o, c_prev)
    return h, c


def init_forget_bias(b_ih: torch.Tensor, b_hh: torch.Tensor, value: float) -> tuple[torch.Tensor, torch.Tensor]:
    """New bias tensors whose forget-gate slices ``[H:2H]`` sum to ``value``.

    The whole ``value`` goes into ``b_ih``'s slice and ``b_hh``'s slice becomes
    zero; every other entry is copied unchanged. A forget bias around 1 keeps
    ``f_t ≈ σ(1) ≈ 0.73`` at the start of training, so the cell remembers by
    default (Gers et al., 2000; Jozefowicz et al., 2015).

    Args:
        b_ih, b_hh: ``(4H,)`` biases in the order i, f, g, o (``torch.nn.LSTM``'s ``bias_ih_l0``, ``bias_hh_l0``).
        value: the forget-gate bias, a finite real number.

    Returns:
        ``(b_ih, b_hh)``, new plain tensors (not parameters, no autograd history), same dtype and device.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"value must be a real number, got {describe(value)}")
    if not math.isfinite(value):
        raise ValueError(f"value must be finite, got {value!r}")
    check_tensor("b_ih", b_ih, (None,))
    if b_ih.shape[0] % 4:
        raise ValueError(f"b_ih must have length 4H, got {tuple(b_ih.shape)}")
    check_tensor("b_hh", b_hh, tuple(b_ih.shape))
    H = b_ih.shape[0] // 4
    new_ih, new_hh = b_ih.detach().clone(), b_hh.detach().clone()
    new_ih[H:2 * H] = value
    new_hh[H:2 * H] = 0.0
    return new_ih, new_hh


def lstm_from_rnn(W_ih: torch.Tensor, W_hh: torch.Tensor, b: torch.Tensor,
                  saturation: float = 30.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """LSTM weights that make the LSTM behave like a given vanilla tanh RNN.

    The RNN is ``h_t = tanh(x_t W_ih^T + h_{t-1} W_hh^T + b)``. The LSTM gets
    the RNN's weights in its candidate block ``g`` and gates with zero weight
    rows and saturated biases, so that (with ``c_0 = 0``)

        i_t = σ(+saturation) ≈ 1,   f_t = σ(−saturation) ≈ 0,   o_t = σ(+saturation) ≈ 1
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t ≈ g_t = tanh(x_t W_ih^T + h_{t-1} W_hh^T + b)
        h_t = o_t ⊙ tanh(c_t) ≈ tanh(tanh(x_t W_ih^T + h_{t-1} W_hh^T + b))

    the tanh RNN with its state squashed twice. The sigmoid reaches 0 and 1
    only in the limit: each step is off by a few times ``e^{-saturation}``
    (``σ(-30) ≈ 9e-14`` for the default). ``b`` goes into ``b_ih``; ``b_hh`` is zero
    (only ``b_ih + b_hh`` matters).

    Args:
        W_ih: ``(H, D)``; W_hh: ``(H, H)``; b: ``(H,)`` (the RNN of chapter 1, in torch's layout).
        saturation: a finite number > 0, the size of the gates' biases.

    Returns:
        ``(W_ih4, W_hh4, b_ih4, b_hh4)`` of shapes ``(4H, D)``, ``(4H, H)``, ``(4H,)``, ``(4H,)`` in
        torch's gate order i, f, g, o (``torch.nn.LSTMCell``'s ``weight_ih``, ``weight_hh``,
        ``bias_ih``, ``bias_hh``); new tensors with the inputs' dtype and device.

    Example::

        >>> W_ih, W_hh, b = torch.randn(4, 3), torch.randn(4, 4), torch.randn(4)
        >>> cell = torch.nn.LSTMCell(3, 4)
        >>> with torch.no_grad():
        ...     for p, w in zip(cell.parameters(), lstm_from_rnn(W_ih, W_hh, b)):
        ...         _ = p.copy_(w)
        >>> x, h = torch.randn(2, 3), torch.zeros(2, 4)
        >>> h1, _ = cell(x, (h, torch.zeros(2, 4)))
        >>> torch.allclose(h1, torch.tanh(torch.tanh(x @ W_ih.T + h @ W_hh.T + b)))
        True
    """
    check_positive_float("saturation", saturation)
    check_tensor("W_ih", W_ih, (None, None))
    H = W_ih.shape[0]
    check_tensor("W_hh", W_hh, (H, H))
    check_tensor("b", b, (H,))
    zeros_x, zeros_h = W_ih.new_zeros(H, W_ih.shape[1]), W_hh.new_zeros(H, H)
    W_ih4 = torch.cat([zeros_x, zeros_x, W_ih, zeros_x])  # (4H, D): the gates' rows are zero
    W_hh4 = torch.cat([zeros_h, zeros_h, W_hh, zeros_h])  # (4H, H)
    ones = b.new_ones(H)
    b_ih4 = torch.cat([saturation * ones, -saturation * ones, b, saturation * ones])  # i open, f shut, g, o open
    b_hh4 = b.new_zeros(4 * H)  # b counted once, in b_ih
    return W_ih4, W_hh4, b_ih4, b_hh4
