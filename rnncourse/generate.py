"""Generating text from a trained :class:`rnncourse.lm.CharRNNLM`, keeping its recurrent state.

A recurrent model does not need to re-read the prefix for every new token: its
state summarises everything it has read. :class:`StatefulStepper` turns a model
into a contract *step function* ``step_fn(prefix: list[int]) -> Tensor (V,)``
(see :mod:`rnncourse.sampling`) that caches, for every prefix it has seen, the
state reached after reading it. A call feeds the model only the tokens that the
longest cached prefix has not read yet: the prompt once, then one token per step
when decoding left to right, and one token per extension for the hypotheses of
a beam search, which share their common prefixes through the cache.

:func:`generate` is text in, text out: it runs the very same decoding functions
as :mod:`rnncourse.sampling` (greedy, temperature / top-k / top-p sampling, beam
search) on such a step function, so the rules cannot drift apart.

Dimensions: ``T`` tokens fed at once, ``B = 1`` sequence, ``V`` vocabulary size,
``L`` recurrent layers, ``H`` hidden size.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from rnncourse._validate import check_positive_int, describe
from rnncourse.data import CharVocab
from rnncourse.lm import CharRNNLM
from rnncourse.sampling import beam_search, greedy_decode, sample_sequence

State = Any  # what the model's recurrent module returns: h (L, 1, H), or (h, c) for an LSTM

_METHODS = ("sample", "greedy", "beam")


class StatefulStepper:
    """A contract step function over a language model, caching the recurrent state of every prefix.

    ``stepper(prefix)`` returns the log-probabilities ``(V,)`` of the token
    that follows ``context`` inserted after the BOS of ``prefix``; that is, the
    model reads ``[prefix[0]] + context + prefix[1:]``. With an empty
    ``context`` (the default) the model reads ``prefix`` itself. The model runs
    in eval mode (its previous mode is restored after each call) under
    ``torch.no_grad()``.

    The cache maps a tuple of the ids the model has read to ``(state,
    log-probs)``. A call looks up the longest cached prefix of what it must
    read and feeds only the remaining tokens, shaped ``(T, 1)``. When the cache
    holds ``max_cache`` entries it is emptied before a new one is added (this
    costs time, never correctness).

    Args:
        model: a :class:`CharRNNLM`, or any module with
            ``forward(x (T, B) long, state=None) -> (logits (T, B, V), state)``.
        context: token ids (or nothing) read after BOS and before the decoded
            tokens, e.g. the encoded prompt of :func:`generate`.
        max_cache: the most prefixes kept, ``>= 1``.

    Attributes:
        tokens_fed: how many tokens have gone through the model so far.
        calls: how many times the stepper was called.

    The returned log-probabilities have the model's dtype and lie on the model's device.
    """

    def __init__(self, model: torch.nn.Module, context: Sequence[int] = (), max_cache: int = 100_000) -> None:
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {describe(model)}")
        check_positive_int("max_cache", max_cache)
        params = list(model.parameters())
        self.model = model
        self.device = params[0].device if params else torch.device("cpu")
        self.context = tuple(_as_ids("context", context))
        self.max_cache = max_cache
        self.cache: dict[tuple[int, ...], tuple[State, torch.Tensor]] = {}
        self.tokens_fed = 0
        self.calls = 0

    def clear(self) -> None:
        """Forget every cached state (call it after changing the model's weights)."""
        self.cache.clear()

    def _read(self, key: tuple[int, ...]) -> torch.Tensor:
        """Log-probabilities ``(V,)`` after the model has read ``key`` (at least one id)."""
        hit = self.cache.get(key)
        if hit is not None:
            return hit[1]
        start, state = 0, None  # continue from the longest proper prefix already read
        for n in range(len(key) - 1, 0, -1):
            hit = self.cache.get(key[:n])
            if hit is not None:
                start, state = n, hit[0]
                break
        x = torch.tensor(key[start:], dtype=torch.long, device=self.device).unsqueeze(1)  # (T, 1)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                logits, state = self.model(x, state)  # (T, 1, V)
        finally:
            self.model.train(was_training)
        self.tokens_fed += x.shape[0]
        logp = torch.log_softmax(logits[-1, 0], dim=-1)  # (V,)
        if len(self.cache) >= self.max_cache:
            self.cache.clear()
        self.cache[key] = (state, logp)
        return logp

    def __call__(self, prefix: Sequence[int]) -> torch.Tensor:
        """Log-probabilities ``(V,)`` of the next token after ``prefix`` (``prefix[0]`` is BOS)."""
        ids = _as_ids("prefix", prefix)
        if not ids:
            raise ValueError("prefix must start with the BOS token, got an empty prefix")
        self.calls += 1
        return self._read((ids[0],) + self.context + tuple(ids[1:]))


def _as_ids(name: str, ids: Sequence[int] | torch.Tensor) -> list[int]:
    """``ids`` as a list of Python ints; ``TypeError`` names ``name`` otherwise."""
    if isinstance(ids, torch.Tensor):
        if ids.dim() != 1 or ids.is_floating_point():
            raise TypeError(f"{name} must be a sequence of int token ids, got {describe(ids)}")
        return [int(t) for t in ids.tolist()]
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
        raise TypeError(f"{name} must be a sequence of int token ids, got {describe(ids)}")
    out = []
    for t in ids:
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)):
            raise TypeError(f"{name} must contain int token ids, got {describe(ids)}")
        out.append(int(t))
    return out


def generate(model: CharRNNLM, vocab: CharVocab, prefix: str = "", max_len: int = 200,
             method: str = "sample", temperature: float = 1.0, top_k: int | None = None,
             top_p: float | None = None, beam_width: int = 5,
             generator: torch.Generator | None = None) -> str:
    """Continue the text ``prefix`` with up to ``max_len`` characters.

    The model reads ``BOS + prefix`` once, then one token per generated
    character (its recurrent state is kept, never recomputed). Decoding stops
    at EOS or after ``max_len`` tokens; special tokens are left out of the text.

    Args:
        model: a trained :class:`CharRNNLM` (any device; its train/eval mode is restored afterwards).
        vocab: the :class:`CharVocab` the model was trained with.
        prefix: the prompt; every character must be in ``vocab``. It is not repeated in the result.
        max_len: maximum number of generated tokens, ``>= 1``.
        method: ``"sample"`` (:func:`rnncourse.sampling.sample_sequence` with
            ``temperature``, ``top_k``, ``top_p``, ``generator``), ``"greedy"``
            (:func:`rnncourse.sampling.greedy_decode`) or ``"beam"`` (the best
            hypothesis of :func:`rnncourse.sampling.beam_search` with ``beam_width``).
            Arguments that the chosen method does not use are ignored.
        temperature: ``T > 0`` for sampling.
        top_k: keep the ``top_k`` most probable tokens when sampling, or ``None``.
        top_p: keep the nucleus of mass ``top_p`` in ``(0, 1]`` when sampling, or ``None``.
        beam_width: hypotheses kept by beam search, ``>= 1``.
        generator: a seeded ``torch.Generator`` for reproducible sampling.

    Returns:
        The generated text (without the prefix).
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, _METHODS))}, got {method!r}")
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {describe(prefix)}")
    if not hasattr(vocab, "encode") or not hasattr(vocab, "bos_id"):
        raise TypeError(f"vocab must be a CharVocab, got {describe(vocab)}")
    step_fn = StatefulStepper(model, context=vocab.encode(prefix))
    bos, eos = vocab.bos_id, vocab.eos_id
    if method == "greedy":
        ids = greedy_decode(step_fn, bos, eos, max_len)
    elif method == "beam":
        best = beam_search(step_fn, bos, eos, beam_width, max_len)
        ids = best[0][0] if best else []  # empty only if every first token has probability 0
    else:
        ids = sample_sequence(step_fn, bos, eos, max_len, temperature=temperature, top_k=top_k, top_p=top_p,
                              generator=generator)
    return vocab.decode(ids)
