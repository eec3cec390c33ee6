"""From-scratch recurrent layers as ``nn.Module``: ``RNN`` (tanh), ``LSTM`` and ``GRU``.

They mirror ``torch.nn.RNN`` / ``LSTM`` / ``GRU``: same constructor arguments
(``input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
dropout=0.0``), same parameter names and shapes (``weight_ih_l0 (G·H, D)``,
``weight_hh_l0 (G·H, H)``, ``bias_ih_l0``, ``bias_hh_l0 (G·H,)``, with ``G`` = 1,
4, 3), same initialisation ``U(-1/√H, 1/√H)``, same inputs and outputs:

* ``x``: ``(T, B, D)``, or ``(B, T, D)`` with ``batch_first=True``;
* state: ``h (L, B, H)`` — for the LSTM a pair ``(h, c)`` — or ``None`` for zeros;
* returns ``(output, state)`` with ``output`` the top layer's ``h_t`` for every step.

The step equations are those of :mod:`rnncourse.rnn`, :mod:`rnncourse.lstm`
and :mod:`rnncourse.gru`, written with plain tensor operations; the input
projection of each layer is computed for all time steps at once, outside the
time loop. ``from_torch(module)`` copies a torch module's weights so that the
two give the same outputs and gradients.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnncourse._checks import check_positive_int, describe
from rnncourse.gru import _gru_update
from rnncourse.lstm import _lstm_gates


class _Recurrent(nn.Module):
    gates = 1
    torch_class: type[nn.Module] = nn.RNN

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        check_positive_int("input_size", input_size)
        check_positive_int("hidden_size", hidden_size)
        check_positive_int("num_layers", num_layers)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, dropout
        G, H = self.gates, hidden_size
        for layer in range(num_layers):
            d = input_size if layer == 0 else H
            self.register_parameter(f"weight_ih_l{layer}", nn.Parameter(torch.empty(G * H, d)))
            self.register_parameter(f"weight_hh_l{layer}", nn.Parameter(torch.empty(G * H, H)))
            if bias:
                self.register_parameter(f"bias_ih_l{layer}", nn.Parameter(torch.empty(G * H)))
                self.register_parameter(f"bias_hh_l{layer}", nn.Parameter(torch.empty(G * H)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _weights(self, layer: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        W_ih = getattr(self, f"weight_ih_l{layer}")
        W_hh = getattr(self, f"weight_hh_l{layer}")
        if not self.bias:
            return W_ih, W_hh, None, None
        return W_ih, W_hh, getattr(self, f"bias_ih_l{layer}"), getattr(self, f"bias_hh_l{layer}")

    @classmethod
    def from_torch(cls, module: nn.Module) -> "_Recurrent":
        """A copy of ``module`` (a ``torch.nn`` module of the matching kind) with the same weights."""
        if not isinstance(module, cls.torch_class):
            raise TypeError(f"module must be a torch.nn.{cls.torch_class.__name__}, got {describe(module)}")
        if getattr(module, "bidirectional", False) or getattr(module, "proj_size", 0):
            raise ValueError("module must be unidirectional and without projections")
        if isinstance(module, nn.RNN) and module.nonlinearity != "tanh":
            raise ValueError(f"module must use tanh, got nonlinearity={module.nonlinearity!r}")
        ours = cls(module.input_size, module.hidden_size, module.num_layers, module.bias,
                   module.batch_first, module.dropout)
        ref = next(module.parameters())
        ours.to(device=ref.device, dtype=ref.dtype)
        with torch.no_grad():
            for name, p in ours.named_parameters():
                p.copy_(getattr(module, name))
        return ours

    def _init_state(self, x: torch.Tensor, state: Any) -> Any:
        raise NotImplementedError

    def _run_layer(self, layer: int, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != self.input_size:
            layout = "(B, T, D)" if self.batch_first else "(T, B, D)"
            raise ValueError(f"x must have shape {layout} with D={self.input_size}, got {describe(x)}")
        if self.batch_first:
            x = x.transpose(0, 1)  # (T, B, D)
        states = self._init_state(x, state)  # per layer
        finals = []
        out = x
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout and self.training:
                out = F.dropout(out, self.dropout, training=True)
            out, final = self._run_layer(layer, out, states[layer])  # (T, B, H)
            finals.append(final)
        if self.batch_first:
            out = out.transpose(0, 1)  # (B, T, H)
        return out, self._stack_state(finals)

    def _zeros(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(self.num_layers, x.shape[1], self.hidden_size)  # (L, B, H)

    def _check_h(self, name: str, h: torch.Tensor, x: torch.Tensor) -> None:
        want = (self.num_layers, x.shape[1], self.hidden_size)
        if not isinstance(h, torch.Tensor) or tuple(h.shape) != want:
            raise ValueError(f"{name} must have shape {want}, got {describe(h)}")


class RNN(_Recurrent):
    """Multi-layer tanh RNN: ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``; see the module docstring."""

    gates = 1
    torch_class = nn.RNN

    def _init_state(self, x, state):
        if state is None:
            state = self._zeros(x)
        self._check_h("h0", state, x)
        return list(state.unbind(0))

    def _run_layer(self, layer, x, h):
        W_ih, W_hh, b_ih, b_hh = self._weights(layer)
        xw = x @ W_ih.T  # (T, B, H)
        if b_ih is not None:
            xw = xw + (b_ih + b_hh)
        W_hh_T, hs = W_hh.T, []
        for t in range(x.shape[0]):
            h = torch.tanh(torch.addmm(xw[t], h, W_hh_T))  # (B, H)
            hs.append(h)
        return torch.stack(hs), h

    def _stack_state(self, finals):
        return torch.stack(finals)  # (L, B, H)


class LSTM(_Recurrent):
    """Multi-layer LSTM in ``torch.nn.LSTM``'s formulation (gates i, f, g, o); see :mod:`rnncourse.lstm`."""

    gates = 4
    torch_class = nn.LSTM

    def _init_state(self, x, state):
        if state is None:
            state = (self._zeros(x), self._zeros(x))
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise ValueError(f"state must be a pair (h0, c0), got {describe(state)}")
        self._check_h("h0", state[0], x)
        self._check_h("c0", state[1], x)
        return list(zip(state[0].unbind(0), state[1].unbind(0)))

    def _run_layer(self, layer, x, state):
        W_ih, W_hh, b_ih, b_hh = self._weights(layer)
        xw = x @ W_ih.T  # (T, B, 4H)
        if b_ih is not None:
            xw = xw + (b_ih + b_hh)
        (h, c), W_hh_T, hs = state, W_hh.T, []
        for t in range(x.shape[0]):
            h, c = _lstm_gates(torch.addmm(xw[t], h, W_hh_T), c)  # (B, H)
            hs.append(h)
        return torch.stack(hs), (h, c)

    def _stack_state(self, finals):
        return torch.stack([h for h, _ in finals]), torch.stack([c for _, c in finals])  # (L, B, H) each


class GRU(_Recurrent):
    """Multi-layer GRU in ``torch.nn.GRU``'s formulation (gates r, z, n); see :mod:`rnncourse.gru`."""

    gates = 3
    torch_class = nn.GRU

    def _init_state(self, x, state):
        if state is None:
            state = self._zeros(x)
        self._check_h("h0", state, x)
        return list(state.unbind(0))

    def _run_layer(self, layer, x, h):
        W_ih, W_hh, b_ih, b_hh = self._weights(layer)
        xw = x @ W_ih.T  # (T, B, 3H)
        if b_ih is not None:
            xw = xw + b_ih
        W_hh_T, hs = W_hh.T, []
        for t in range(x.shape[0]):
            hw = h @ W_hh_T if b_hh is None else torch.addmm(b_hh, h, W_hh_T)  # (B, 3H)
            h = _gru_update(xw[t], hw, h)  # (B, H)
            hs.append(h)
        return torch.stack(hs), h

    def _stack_state(self, finals):
        return torch.stack(finals)  # (L, B, H)
