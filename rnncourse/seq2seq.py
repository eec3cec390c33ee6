r"""Encoder–decoder (sequence-to-sequence) models, with and without attention.

An **encoder** GRU reads the source ``x_1 … x_S`` into states
``k_1 … k_S``; a **decoder** GRU, started from the encoder's last state
``h_0 = k_S``, generates the target one token at a time, reading its own
previous token (Sutskever et al., 2014; Cho et al., 2014):

.. math::

    h_t = \mathrm{GRU}(\mathrm{emb}(y_{t-1}), h_{t-1}), \qquad
    p(y_t \mid y_{<t}, x) = \operatorname{softmax}(W_{out} \tilde h_t + b_{out}).

Without attention :math:`\tilde h_t = h_t`: everything the decoder knows about
the source passed through the single vector :math:`k_S`. With (Luong-style)
attention, each step also reads the encoder's states with its new state as
the query:

.. math::

    c_t, \alpha_t = \text{dot\_attention}(h_t, K, K, \text{mask}), \qquad
    \tilde h_t = \tanh(W_c [c_t; h_t] + b_c).

During training the decoder reads the *true* previous tokens (**teacher
forcing**), built by :func:`make_decoder_io`; at test time it reads its own
guesses, and an early mistake is fed back (*exposure bias*). Because the
query of Luong's attention is the decoder's new state and the context is not
fed back into the GRU, the whole teacher-forced target can be decoded with one
call of ``nn.GRU`` and one batched attention; :meth:`Seq2Seq.decode` does so,
and :func:`attention_decoder_step` is the same computation for one step.

Dimensions: ``S`` source length, ``T`` target length, ``B`` batch, ``E``
embedding size, ``H`` hidden size, ``V`` vocabulary size. Token tensors are
time-major: ``src (S, B)``, ``dec_in (T, B)``.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Sequence

import torch
from torch import nn

from rnncourse._validate import check_positive_int, describe
from rnncourse.attention import dot_attention, length_mask
from rnncourse.lm import lm_loss
from rnncourse.seqtasks import BOS, EOS, PAD, make_batch, reverse_padded

ATTENTIONS = (None, "dot")


# ----------------------------------------------------------------------------- teacher forcing

def make_decoder_io(targets: torch.Tensor, lengths: torch.Tensor, bos_id: int, eos_id: int,
                    pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoder inputs and outputs for teacher forcing on a padded, time-major batch.

    For every column ``b`` with real tokens ``y_1 … y_n`` (``n = lengths[b]``):
    the decoder reads ``BOS y_1 … y_n`` and must predict ``y_1 … y_n EOS``, so
    EOS goes right after the column's own last token, not after the padding.

    Args:
        targets: ``(T, B)`` integer ids, ``pad_id`` after each column's end.
        lengths: ``(B,)`` number of real tokens per column, ``0 <= lengths <= T``.
        bos_id, eos_id, pad_id: the special ids.

    Returns:
        ``(dec_in, dec_out)``, both ``(T + 1, B)`` of ``targets``' dtype:
        ``dec_in[0] = BOS``, ``dec_in[1:] = targets``; ``dec_out[:n] = y``,
        ``dec_out[n] = EOS``, ``pad_id`` after. New tensors; the inputs are unchanged.

    Example::

        >>> make_decoder_io(torch.tensor([[5, 7], [6, 0]]), torch.tensor([2, 1]), 1, 2, 0)
        (tensor([[1, 1],
                [5, 7],
                [6, 0]]), tensor([[5, 7],
                [6, 2],
                [2, 0]]))
    """
    if not isinstance(targets, torch.Tensor) or targets.dim() != 2 or targets.is_floating_point():
        raise TypeError(f"targets must be an integer tensor (T, B), got {describe(targets)}")
    lengths = torch.as_tensor(lengths, device=targets.device)
    if tuple(lengths.shape) != (targets.shape[1],):
        raise ValueError(f"lengths must have shape ({targets.shape[1]},), one per column of targets, "
                         f"got {describe(lengths)}")
    if bool((lengths < 0).any()) or bool((lengths > targets.shape[0]).any()):
        raise ValueError(f"lengths must lie in 0 … {targets.shape[0]} (the rows of targets), got {lengths.tolist()}")
    T, B = targets.shape
    bos = targets.new_full((1, B), bos_id)
    dec_in = torch.cat([bos, targets], dim=0)  # (T+1, B)
    dec_out = torch.cat([targets, targets.new_full((1, B), pad_id)], dim=0)  # (T+1, B)
    pos = torch.arange(T + 1, device=targets.device)[:, None]  # (T+1, 1)
    dec_out = dec_out.masked_fill(pos == lengths[None, :], eos_id)  # EOS right after each end
    dec_out = dec_out.masked_fill(pos > lengths[None, :], pad_id)  # padding after EOS
    return dec_in, dec_out


# ----------------------------------------------------------------------------- one decoder step

def attention_decoder_step(cell: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], y_emb: torch.Tensor,
                           h_prev: torch.Tensor, enc_states: torch.Tensor, mask: torch.Tensor | None,
                           W_c: torch.Tensor, b_c: torch.Tensor, W_out: torch.Tensor,
                           b_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""One step of a decoder with (Luong) dot-product attention.

    .. math::

        h_t &= \text{cell}(\mathrm{emb}(y_{t-1}), h_{t-1}) \\
        c_t, \alpha_t &= \text{dot\_attention}(h_t, K, K, \text{mask})
            \quad\text{(default scale } 1/\sqrt H) \\
        \tilde h_t &= \tanh(W_c\,[c_t; h_t] + b_c) \\
        \text{logits}_t &= W_{out}\,\tilde h_t + b_{out}

    The query is the *new* state :math:`h_t` (Luong et al., 2015); Bahdanau's
    decoder queries with :math:`h_{t-1}` and feeds :math:`c_t` into the cell.

    Args:
        cell: ``cell(y_emb (B, E), h_prev (B, H)) -> h_t (B, H)``, e.g. an ``nn.GRUCell``.
        y_emb: ``(B, E)`` embedding of the previous target token.
        h_prev: ``(B, H)`` previous decoder state.
        enc_states: ``(B, S, H)`` encoder states, the keys and the values.
        mask: ``(B, S)`` bool, True on real source tokens, or ``None``.
        W_c: ``(H, 2H)``, acting on the concatenation ``[context; h_t]``; b_c: ``(H,)``.
        W_out: ``(V, H)``; b_out: ``(V,)``.

    Returns:
        ``(logits (B, V), h_t (B, H), weights (B, S))``.
    """
    h = cell(y_emb, h_prev)  # (B, H)
    context, weights = dot_attention(h, enc_states, enc_states, mask)  # (B, H), (B, S)
    h_tilde = torch.tanh(torch.cat([context, h], dim=-1) @ W_c.T + b_c)  # (B, 2H) -> (B, H)
    logits = h_tilde @ W_out.T + b_out  # (B, V)
    return logits, h, weights


# ----------------------------------------------------------------------------- the model

class Seq2Seq(nn.Module):
    """GRU encoder–decoder; ``attention=None`` (fixed context) or ``"dot"`` (Luong dot attention).

    Parameters: ``src_embed``, ``tgt_embed`` ``(V, E)``; ``encoder``,
    ``decoder`` one-layer ``nn.GRU(E, H)``; with attention ``combine``
    ``nn.Linear(2H, H)`` (``W_c``, ``b_c`` of :func:`attention_decoder_step`);
    ``out`` ``nn.Linear(H, V)``.

    ``forward(src, src_len, dec_in) -> (logits (T, B, V), weights (T, B, S) or None)``.

    Example::

        >>> model = Seq2Seq(13, 16, 32, attention="dot")
        >>> src, src_len = torch.tensor([[3, 4], [5, 0]]), torch.tensor([2, 1])
        >>> logits, weights = model(src, src_len, torch.tensor([[1, 1]]))
        >>> logits.shape, weights.shape
        (torch.Size([1, 2, 13]), torch.Size([1, 2, 2]))
    """

    def __init__(self, vocab_size: int, emb_size: int = 32, hidden_size: int = 64,
                 attention: str | None = "dot") -> None:
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("emb_size", emb_size), ("hidden_size", hidden_size)):
            check_positive_int(name, value)
        if attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {attention!r}")
        self.attention = attention
        self.src_embed = nn.Embedding(vocab_size, emb_size, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(vocab_size, emb_size, padding_idx=PAD)
        self.encoder = nn.GRU(emb_size, hidden_size)
        self.decoder = nn.GRU(emb_size, hidden_size)
        self.combine = nn.Linear(2 * hidden_size, hidden_size) if attention else None
        self.out = nn.Linear(hidden_size, vocab_size)

    def encode(self, src: torch.Tensor, src_len: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder states ``(S, B, H)`` and the state after each source's own last token ``(1, B, H)``.

        The GRU runs over the padded batch; states at padded positions are
        never used (attention masks them, and the last state is gathered at
        ``src_len - 1``), and padding comes after each source, so it cannot
        change the states before it.
        """
        enc, _ = self.encoder(self.src_embed(src))  # (S, B, H)
        idx = (src_len.to(src.device) - 1).view(1, -1, 1).expand(1, -1, enc.shape[2])  # (1, B, H)
        return enc, enc.gather(0, idx)  # (S, B, H), (1, B, H)

    def decode(self, dec_in: torch.Tensor, h: torch.Tensor, enc: torch.Tensor,
               mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Decode the tokens ``dec_in (T, B)`` from state ``h (1, B, H)``: logits ``(T, B, V)``, state, weights ``(T, B, S)``."""
        dec, h = self.decoder(self.tgt_embed(dec_in), h)  # (T, B, H), (1, B, H)
        if self.attention is None:
            return self.out(dec), h, None
        keys = enc.transpose(0, 1)  # (B, S, H)
        queries = dec.transpose(0, 1)  # (B, T, H)
        scores = queries @ keys.transpose(1, 2) / math.sqrt(keys.shape[-1])  # (B, T, S)
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (B, T, S)
        context = weights @ keys  # (B, T, H)
        h_tilde = torch.tanh(self.combine(torch.cat([context, queries], dim=-1)))  # (B, T, H)
        return self.out(h_tilde).transpose(0, 1), h, weights.transpose(0, 1)  # (T, B, V), (1, B, H), (T, B, S)

    def forward(self, src: torch.Tensor, src_len: torch.Tensor,
                dec_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        enc, h = self.encode(src, src_len)
        logits, _, weights = self.decode(dec_in, h, enc, length_mask(src_len, src.shape[0]).to(src.device))
        return logits, weights


# ----------------------------------------------------------------------------- training

def train_seq2seq(model: Seq2Seq, steps: int, batch_size: int = 64, min_len: int = 1, max_len: int = 20,
                  task: str = "copy", reverse_source: bool = False, n_symbols: int = 10, lr: float = 3e-3,
                  clip: float = 1.0, seed: int = 0, time_limit_s: float | None = None) -> dict:
    """Train ``model`` with teacher forcing on fresh random batches (Adam, gradient clipping).

    Each step draws a batch of sources of uniformly random length in
    ``min_len … max_len``, builds the decoder's inputs and outputs with
    :func:`make_decoder_io` and minimises the mean NLL per target token
    (:func:`rnncourse.lm.lm_loss`, padding ignored). ``reverse_source`` feeds
    every source backwards (Sutskever et al., 2014); the targets do not change.

    The learning rate decays from ``lr`` to 0 along half a cosine over ``steps``.

    Returns:
        ``{"step": [...], "loss": [...], "seconds": float}``; training stops early after
        ``time_limit_s`` seconds when that is given.
    """
    check_positive_int("steps", steps)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * min(i, steps) / steps)))
    history: dict = {"step": [], "loss": []}
    model.train()
    start = time.perf_counter()
    for step in range(1, steps + 1):
        batch = make_batch(batch_size, min_len, max_len, task, n_symbols, generator=gen)
        src = reverse_padded(batch.src, batch.src_len) if reverse_source else batch.src
        dec_in, dec_out = make_decoder_io(batch.tgt, batch.tgt_len, BOS, EOS, PAD)
        logits, _ = model(src, batch.src_len, dec_in)
        loss = lm_loss(logits, dec_out, pad_id=PAD)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        sched.step()
        history["step"].append(step)
        history["loss"].append(float(loss.detach()))
        if time_limit_s is not None and time.perf_counter() - start > time_limit_s:
            break
    history["seconds"] = time.perf_counter() - start
    model.eval()
    return history


# ----------------------------------------------------------------------------- decoding and evaluation

@torch.no_grad()
def greedy_translate(model: Seq2Seq, src: torch.Tensor, src_len: torch.Tensor,
                     max_len: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Greedy decoding of a batch: ids ``(max_len, B)`` (EOS and anything after it included) and weights ``(max_len, B, S)``."""
    was_training = model.training
    model.eval()
    enc, h = model.encode(src, src_len)
    mask = length_mask(src_len, src.shape[0]).to(src.device)
    y = torch.full((1, src.shape[1]), BOS, dtype=torch.long, device=src.device)  # (1, B)
    ids, weights = [], []
    for _ in range(max_len):
        logits, h, w = model.decode(y, h, enc, mask)  # (1, B, V)
        y = logits.argmax(-1)  # (1, B)
        ids.append(y)
        weights.append(w)
    model.train(was_training)
    return torch.cat(ids), (torch.cat(weights) if model.attention else None)


def exact_match(pred: torch.Tensor, tgt: torch.Tensor, tgt_len: torch.Tensor) -> torch.Tensor:
    """``(B,)`` bool: column ``b`` of ``pred (L, B)`` is the target followed by EOS."""
    out = []
    for b in range(pred.shape[1]):
        n = int(tgt_len[b])
        want = tgt[:n, b].tolist() + [EOS]
        out.append(pred[: n + 1, b].tolist() == want)
    return torch.tensor(out)


@torch.no_grad()
def accuracy_by_length(model: Seq2Seq, lengths: Sequence[int], n_per_length: int = 200, task: str = "copy",
                       reverse_source: bool = False, n_symbols: int = 10, seed: int = 1234) -> dict[int, float]:
    """Exact-match accuracy of greedy decoding, ``{length: fraction of sources decoded exactly}``.

    For each length, ``n_per_length`` fresh random sources of that length are
    decoded greedily (with ``length + 1`` steps, room for EOS).
    """
    gen = torch.Generator().manual_seed(seed)
    result = {}
    for n in lengths:
        batch = make_batch(n_per_length, n, n, task, n_symbols, generator=gen)
        src = reverse_padded(batch.src, batch.src_len) if reverse_source else batch.src
        pred, _ = greedy_translate(model, src, batch.src_len, n + 1)
        result[int(n)] = float(exact_match(pred, batch.tgt, batch.tgt_len).float().mean())
    return result


@torch.no_grad()
def teacher_forced_accuracy(model: Seq2Seq, batch, reverse_source: bool = False) -> float:
    """Fraction of target tokens (EOS included) predicted right when the decoder reads the true previous tokens."""
    src = reverse_padded(batch.src, batch.src_len) if reverse_source else batch.src
    dec_in, dec_out = make_decoder_io(batch.tgt, batch.tgt_len, BOS, EOS, PAD)
    logits, _ = model(src, batch.src_len, dec_in)
    keep = dec_out != PAD
    return float((logits.argmax(-1) == dec_out)[keep].float().mean())


class Seq2SeqStepper:
    """A contract step function (see :mod:`rnncourse.sampling`) for one source sentence.

    ``stepper(prefix)`` returns the log-probabilities ``(V,)`` of the next target
    token after ``prefix`` (which starts with BOS), so that
    :func:`rnncourse.sampling.beam_search` and friends decode a :class:`Seq2Seq`
    model. The source is encoded once; the decoder state after every prefix is
    cached, so each call runs the decoder for one new token.
    """

    def __init__(self, model: Seq2Seq, src_ids: Sequence[int]) -> None:
        self.model = model.eval()
        self.device = next(model.parameters()).device
        src = torch.tensor(list(src_ids), dtype=torch.long, device=self.device)[:, None]  # (S, 1)
        src_len = torch.tensor([src.shape[0]], device=self.device)
        with torch.no_grad():
            self.enc, h = model.encode(src, src_len)
        self.mask = length_mask(src_len)
        self.cache: dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] = {(): (h, None, None)}
        self.calls = 0

    @torch.no_grad()
    def _state(self, key: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        hit = self.cache.get(key)
        if hit is None:
            h_prev = self._state(key[:-1])[0]
            y = torch.tensor([[key[-1]]], dtype=torch.long, device=self.device)  # (1, 1)
            logits, h, w = self.model.decode(y, h_prev, self.enc, self.mask)
            hit = (h, torch.log_softmax(logits[0, 0], dim=-1), None if w is None else w[0, 0])
            self.cache[key] = hit
        return hit

    def __call__(self, prefix: Sequence[int]) -> torch.Tensor:
        """Log-probabilities ``(V,)`` of the next target token after ``prefix`` (``prefix[0]`` is BOS), on the CPU."""
        self.calls += 1
        return self._state(tuple(int(t) for t in prefix))[1].cpu()

    def weights(self, prefix: Sequence[int]) -> torch.Tensor | None:
        """Attention weights ``(S,)`` of the step that read the last token of ``prefix``."""
        return self._state(tuple(int(t) for t in prefix))[2]
