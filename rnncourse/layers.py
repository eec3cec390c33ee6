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
time loop, and the LSTM and GRU recurrences run as one autograd function each,
with a hand-written backward pass (the BPTT of chapter 2), so that their speed
stays within a small factor of torch's fused kernels. ``from_torch(module)`` copies a torch module's weights so that the
two give the same outputs and gradients.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnncourse._validate import check_positive_int, describe
from rnncourse.gru import gru_gates, gru_mix
from rnncourse.lstm import lstm_gates, lstm_memory


def _input_projection(x: torch.Tensor, W_ih: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``x W_ihᵀ + bias`` for every step at once, one matrix product outside the time loop.

    ``x (T, B, D)``, ``W_ih (G·H, D)``, ``bias (G·H,)`` or ``None`` → ``(T, B, G·H)``.
    """
    T, B, D = x.shape
    flat = x.reshape(T * B, D)  # (T·B, D)
    out = flat @ W_ih.t() if bias is None else torch.addmm(bias, flat, W_ih.t())  # (T·B, G·H)
    return out.view(T, B, -1)  # (T, B, G·H)


class _LSTMSequence(torch.autograd.Function):
    """The LSTM recurrence over a whole sequence with a hand-written BPTT backward.

    Input ``xw = x W_ihᵀ + b_ih + b_hh`` ``(T, B, 4H)`` (autograd handles that
    product); forward writes the gate activations, cell states and ``tanh(c)``
    into preallocated buffers, with :func:`rnncourse.lstm.lstm_gates` and
    :func:`rnncourse.lstm.lstm_memory` (the equations of :func:`rnncourse.lstm.lstm_step`). Backward, with ``a`` the gate
    pre-activations, ``σ' = σ(1 - σ)`` and ``tanh' = 1 - tanh²``:

        dc_t  += dh_t ⊙ o_t ⊙ tanh'(c_t)
        da_t   = [dc_t ⊙ g_t ⊙ σ'(i), dc_t ⊙ c_{t-1} ⊙ σ'(f), dc_t ⊙ i_t ⊙ tanh'(g), dh_t ⊙ tanh(c_t) ⊙ σ'(o)]
        dc_{t-1} = dc_t ⊙ f_t,   dh_{t-1} = da_t W_hh (+ the loss's own gradient at step t-1)

    Every factor that does not depend on the incoming gradient is computed for
    all steps at once before the loop, so the loop does five small operations
    per step, and the weight gradient is one matrix product over all steps.
    """

    @staticmethod
    def forward(ctx, xw, h0, c0, W_hh):
        T, B, G = xw.shape
        H = G // 4
        W_hh_T = W_hh.t()  # (H, 4H)
        gates = xw.new_empty(T, B, G)  # activated i, f, g, o
        cs = xw.new_empty(T + 1, B, H)  # c_0 … c_T
        tcs = xw.new_empty(T, B, H)  # tanh(c_t)
        hs = xw.new_empty(T, B, H)
        cs[0] = c0
        # per-step views, made once (indexing inside the loop costs as much as the arithmetic)
        xw_t, gates_t = xw.unbind(0), gates.unbind(0)
        cs_t, tcs_t, hs_t = cs.unbind(0), tcs.unbind(0), hs.unbind(0)
        h = h0
        for t in range(T):
            a = torch.addmm(xw_t[t], h, W_hh_T)  # (B, 4H) pre-activations
            i, f, g, o = lstm_gates(a, out=gates_t[t])  # the equations of rnncourse.lstm, into the buffers
            h, _, _ = lstm_memory(i, f, g, o, cs_t[t], out=(cs_t[t + 1], tcs_t[t], hs_t[t]))
        ctx.save_for_backward(h0, W_hh, hs, cs, tcs, gates)
        return hs, hs[-1].clone(), cs[-1].clone()

    @staticmethod
    def backward(ctx, d_hs, d_hT, d_cT):
        h0, W_hh, hs, cs, tcs, gates = ctx.saved_tensors
        T, B, H = hs.shape
        i, f, g, o = gates.chunk(4, dim=-1)  # each (T, B, H)
        # da_t = [dc_t, dc_t, dc_t, dh_t] ⊙ local_t, the local factors for all steps at once
        local = gates.new_empty(T, B, 4, H)
        torch.mul(g, i * (1 - i), out=local[:, :, 0])
        torch.mul(cs[:-1], f * (1 - f), out=local[:, :, 1])
        torch.mul(i, 1 - g * g, out=local[:, :, 2])
        torch.mul(tcs, o * (1 - o), out=local[:, :, 3])
        o_dtanh = o * (1 - tcs * tcs)  # (T, B, H): ∂h_t/∂c_t
        da = torch.empty_like(gates)  # (T, B, 4H): gradients of the pre-activations
        da4 = da.view(T, B, 4, H)
        local_c, local_o = local[:, :, :3].unbind(0), local[:, :, 3].unbind(0)
        da_c, da_o, da_t = da4[:, :, :3].unbind(0), da4[:, :, 3].unbind(0), da.unbind(0)
        f_t, o_dtanh_t = f.unbind(0), o_dtanh.unbind(0)
        d_hs_t = None if d_hs is None else d_hs.unbind(0)
        dh = torch.zeros_like(h0) if d_hT is None else d_hT
        dc = torch.zeros_like(h0) if d_cT is None else d_cT
        if d_hs_t is not None:
            dh = dh + d_hs_t[T - 1]
        for t in range(T - 1, -1, -1):
            dc = torch.addcmul(dc, dh, o_dtanh_t[t])  # (B, H)
            torch.mul(local_c[t], dc.unsqueeze(1), out=da_c[t])  # (B, 3, H): i, f, g
            torch.mul(local_o[t], dh, out=da_o[t])  # (B, H): o
            dc = dc * f_t[t]  # into c_{t-1}
            if t > 0 and d_hs_t is not None:
                dh = torch.addmm(d_hs_t[t - 1], da_t[t], W_hh)  # (B, H): direct + recurrent gradient
            else:
                dh = da_t[t] @ W_hh  # (B, H)
        h_prev = torch.cat([h0.unsqueeze(0), hs[:-1]])  # (T, B, H)
        dW_hh = da.reshape(-1, 4 * H).t() @ h_prev.reshape(-1, H)  # (4H, H)
        return da, dh, dc, dW_hh


class _GRUSequence(torch.autograd.Function):
    """The GRU recurrence over a sequence with a hand-written backward (torch's r ⊙ (W_hn h + b_hn) form).

    Forward runs :func:`rnncourse.gru.gru_gates` and :func:`rnncourse.gru.gru_mix` at every step.
    """

    @staticmethod
    def forward(ctx, xw, h0, W_hh, b_hh):
        T = xw.shape[0]
        W_hh_T = W_hh.t()
        h, hs, saved = h0, [], []
        H = W_hh.shape[1]
        for t in range(T):
            hw = torch.addmm(b_hh, h, W_hh_T)  # (B, 3H)
            r, z, n = gru_gates(xw[t], hw)  # (B, H) each: the equations of rnncourse.gru
            h = gru_mix(z, n, h)
            hs.append(h)
            saved.append(torch.cat([r, z, n, hw[:, 2 * H:]], dim=-1))
        hs_t = torch.stack(hs)
        ctx.save_for_backward(h0, W_hh, hs_t, torch.stack(saved))
        return hs_t, h

    @staticmethod
    def backward(ctx, d_hs, d_hT):
        h0, W_hh, hs, saved = ctx.saved_tensors
        T, B, H = hs.shape
        dh = torch.zeros_like(h0) if d_hT is None else d_hT.clone()
        dxw = torch.empty(T, B, 3 * H, dtype=hs.dtype, device=hs.device)
        dhw = torch.empty_like(dxw)
        for t in range(T - 1, -1, -1):
            if d_hs is not None:
                dh = dh + d_hs[t]
            r, z, n, hn = saved[t].chunk(4, dim=-1)
            h_prev = hs[t - 1] if t > 0 else h0
            dan = dh * (1 - z) * (1 - n * n)
            dar = dan * hn * r * (1 - r)
            daz = dh * (h_prev - n) * z * (1 - z)
            dxw[t] = torch.cat([dar, daz, dan], dim=-1)
            dhw[t] = torch.cat([dar, daz, dan * r], dim=-1)
            dh = dh * z + dhw[t] @ W_hh
        h_prev = torch.cat([h0.unsqueeze(0), hs[:-1]])
        dW_hh = dhw.reshape(-1, 3 * H).t() @ h_prev.reshape(-1, H)
        return dxw, dh, dW_hh, dhw.sum(dim=(0, 1))


class _Recurrent(nn.Module):
    """Shared machinery of the three layers: parameters, state handling, layer stacking.

    Args:
        input_size: ``D``; hidden_size: ``H``; num_layers: ``L`` stacked layers, layer ``l > 0``
            reading layer ``l - 1``'s outputs.
        bias: whether to have ``bias_ih_l*`` and ``bias_hh_l*``.
        batch_first: take and return ``(B, T, ·)`` instead of ``(T, B, ·)``.
        dropout: probability of zeroing each output of every layer but the last, in training mode only.
    """

    gates = 1  # G: weight blocks per layer (1 RNN, 4 LSTM, 3 GRU)
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
        """Per-layer initial states from ``state`` (``h0 (L, B, H)`` or ``None``); the LSTM overrides it."""
        if state is None:
            state = self._zeros(x)
        self._check_h("h0", state, x)
        return list(state.unbind(0))

    def _stack_state(self, finals: list) -> Any:
        return torch.stack(finals)  # (L, B, H)

    def _run_layer(self, layer: int, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """Run all layers over ``x``, as the matching ``torch.nn`` module does.

        Args:
            x: ``(T, B, D)``, or ``(B, T, D)`` when ``batch_first``.
            state: ``h0 (L, B, H)`` — for the LSTM a pair ``(h0, c0)`` — or ``None`` for zeros;
                ``L = num_layers`` (``batch_first`` does not apply to it, as in torch).

        Returns:
            ``(output, h_n)`` — for the LSTM ``(output, (h_n, c_n))`` — with ``output (T, B, H)``
            (``(B, T, H)`` when ``batch_first``) the top layer's state at every step and
            ``h_n, c_n (L, B, H)`` every layer's last state.
        """
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
        if not isinstance(h, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor of shape {want}, got {describe(h)}")
        if tuple(h.shape) != want:
            raise ValueError(f"{name} must have shape {want}, got {describe(h)}")


class RNN(_Recurrent):
    """Multi-layer tanh RNN: ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``; see the module docstring."""

    gates = 1
    torch_class = nn.RNN

    def _run_layer(self, layer, x, h):
        W_ih, W_hh, b_ih, b_hh = self._weights(layer)
        xw = _input_projection(x, W_ih, None if b_ih is None else b_ih + b_hh)  # (T, B, H)
        W_hh_T, hs = W_hh.T, []
        for t in range(x.shape[0]):
            h = torch.tanh(torch.addmm(xw[t], h, W_hh_T))  # (B, H)
            hs.append(h)
        return torch.stack(hs), h


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
        xw = _input_projection(x, W_ih, None if b_ih is None else b_ih + b_hh)  # (T, B, 4H)
        hs, h, c = _LSTMSequence.apply(xw, state[0], state[1], W_hh)  # (T, B, H)
        return hs, (h, c)

    def _stack_state(self, finals):
        return torch.stack([h for h, _ in finals]), torch.stack([c for _, c in finals])  # (L, B, H) each


class GRU(_Recurrent):
    """Multi-layer GRU in ``torch.nn.GRU``'s formulation (gates r, z, n); see :mod:`rnncourse.gru`."""

    gates = 3
    torch_class = nn.GRU

    def _run_layer(self, layer, x, h):
        W_ih, W_hh, b_ih, b_hh = self._weights(layer)
        xw = _input_projection(x, W_ih, b_ih)  # (T, B, 3H); b_hh stays inside: r multiplies it
        if b_hh is None:
            b_hh = W_hh.new_zeros(W_hh.shape[0])
        return _GRUSequence.apply(xw, h, W_hh, b_hh)  # (T, B, H), (B, H)
