"""Character-level language modelling with a recurrent network.

A language model factorises the probability of a sequence as

    p(x_1, …, x_T) = Π_t p(x_t | x_1, …, x_{t-1}),

so it is trained to predict every next token from the ones before it
(*teacher forcing*: the inputs are the true previous tokens, not the model's
own guesses). ``BOS`` marks where a sequence starts and ``EOS`` where it ends,
so the model also learns to begin and to stop.

Dimensions: ``T`` time steps, ``B`` batch size, ``E`` embedding size,
``H`` hidden size, ``V`` vocabulary size. Tensors are time-major ``(T, B, …)``.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
import torch.nn.functional as F

from rnncourse._validate import check_positive_int, describe

State = Any  # a tensor (RNN, GRU), a tuple (h, c) (LSTM), nested tuples, or None


def make_lm_pairs(ids: torch.Tensor, bos_id: int, eos_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-token targets for one sequence.

    Args:
        ids: ``(L,)`` integer tensor, the tokens of the sequence.
        bos_id, eos_id: ids of the BOS and EOS tokens.

    Returns:
        ``inputs = [BOS] + ids`` and ``targets = ids + [EOS]``, both ``(L + 1,)``:
        at every position the target is the token that follows the input.
    """
    if not isinstance(ids, torch.Tensor):
        raise TypeError(f"ids must be a 1-D LongTensor, got {describe(ids)}")
    if ids.dim() != 1:
        raise ValueError(f"ids must be 1-D, got {describe(ids)}")
    if ids.is_floating_point() or ids.is_complex():
        raise TypeError(f"ids must hold integers, got {describe(ids)}")
    bos = ids.new_tensor([bos_id])
    eos = ids.new_tensor([eos_id])
    return torch.cat([bos, ids]), torch.cat([ids, eos])  # (L+1,), (L+1,)


def lm_loss(logits: torch.Tensor, targets: torch.Tensor, pad_id: int | None = None) -> torch.Tensor:
    """Mean negative log-likelihood per token.

    Args:
        logits: ``(T, B, V)`` unnormalised next-token scores.
        targets: ``(T, B)`` integer ids of the true next tokens.
        pad_id: positions whose target equals ``pad_id`` are ignored (neither
            in the sum nor in the count); ``None`` keeps every position. When
            every target is ``pad_id`` the loss is 0 (there is nothing to
            average), not NaN.

    Returns:
        A differentiable scalar: ``-(1/N) Σ log softmax(logits)[target]`` over
        the ``N`` positions kept.
    """
    if not isinstance(logits, torch.Tensor) or logits.dim() != 3:
        raise ValueError(f"logits must have shape (T, B, V), got {describe(logits)}")
    if not isinstance(targets, torch.Tensor) or tuple(targets.shape) != tuple(logits.shape[:2]):
        raise ValueError(
            f"targets must have shape {tuple(logits.shape[:2])} to match logits, got {describe(targets)}"
        )
    V = logits.size(-1)
    flat = targets.reshape(-1).long()  # (T*B,)
    if pad_id is None:
        return F.cross_entropy(logits.reshape(-1, V), flat)
    keep = flat != int(pad_id)
    total = F.cross_entropy(logits.reshape(-1, V), flat, ignore_index=int(pad_id), reduction="sum")
    # every target padding: no token to average over; 0 (still differentiable) instead of 0/0 = NaN
    return total / keep.sum().clamp(min=1)


def _as_float(mean_nll: float | torch.Tensor, name: str = "mean_nll") -> float:
    value = float(mean_nll.detach()) if isinstance(mean_nll, torch.Tensor) else mean_nll
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {describe(mean_nll)}")
    if math.isnan(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative number of nats, got {value!r}")
    return float(value)


def perplexity(mean_nll: float | torch.Tensor) -> float:
    """``exp(mean NLL)``: the effective number of equally likely choices per token."""
    return math.exp(_as_float(mean_nll))


def bits_per_char(mean_nll: float | torch.Tensor) -> float:
    """Mean NLL converted from nats to bits: ``mean_nll / ln 2``."""
    return _as_float(mean_nll) / math.log(2.0)


def detach_state(state: State) -> State:
    """Cut the gradient at a recurrent state, keeping its values (truncated BPTT).

    Works on a tensor, ``None``, or any (nested) tuple or list of tensors, such
    as an LSTM's ``(h, c)``; returns a new object of the same structure.
    """
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)
    raise TypeError(f"state must be a tensor, a tuple of tensors or None, got {describe(state)}")


_CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class CharRNNLM(nn.Module):
    """Embedding → recurrent layers → linear head, over a character vocabulary.

    Args:
        vocab_size: ``V``.
        emb_size: ``E``, size of the learned character embeddings.
        hidden_size: ``H``, size of the recurrent state.
        cell: ``"rnn"`` (tanh), ``"lstm"`` or ``"gru"`` (torch's cuDNN-capable modules).
        num_layers: stacked recurrent layers.
        dropout: dropout between recurrent layers and before the head.

    ``forward(x, state=None)`` takes ``x (T, B)`` token ids and returns
    ``logits (T, B, V)`` and the new state (``h (L, B, H)``, or ``(h, c)`` for an LSTM).
    """

    def __init__(
        self,
        vocab_size: int,
        emb_size: int,
        hidden_size: int,
        cell: str = "lstm",
        num_layers: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        for name, value in [("vocab_size", vocab_size), ("emb_size", emb_size),
                            ("hidden_size", hidden_size), ("num_layers", num_layers)]:
            check_positive_int(name, value)
        if cell not in _CELLS:
            raise ValueError(f"cell must be one of {sorted(_CELLS)}, got {cell!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.vocab_size, self.emb_size, self.hidden_size = vocab_size, emb_size, hidden_size
        self.cell, self.num_layers, self.dropout_p = cell, num_layers, dropout
        self.embedding = nn.Embedding(vocab_size, emb_size)
        self.rnn = _CELLS[cell](emb_size, hidden_size, num_layers=num_layers,
                                dropout=dropout if num_layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        if not isinstance(x, torch.Tensor) or x.dim() != 2:
            raise ValueError(f"x must be a (T, B) tensor of token ids, got {describe(x)}")
        emb = self.embedding(x)  # (T, B, E)
        out, state = self.rnn(emb, state)  # (T, B, H)
        logits = self.head(self.drop(out))  # (T, B, V)
        return logits, state

    def hparams(self) -> dict:
        """Constructor arguments, enough to rebuild the model from a checkpoint."""
        return dict(vocab_size=self.vocab_size, emb_size=self.emb_size, hidden_size=self.hidden_size,
                    cell=self.cell, num_layers=self.num_layers, dropout=self.dropout_p)
