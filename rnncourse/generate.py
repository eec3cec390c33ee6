"""Generating text from a trained :class:`rnncourse.lm.CharRNNLM`, keeping its recurrent state.

A recurrent model does not need to re-read the prefix for every new token: its
state summarises it. :class:`StatefulStepper` turns a model into a contract
*step function* (``prefix -> log-probabilities (V,)``) that caches the state
reached after every prefix it has seen, so each call feeds only the tokens the
state has not read yet — one token per step when decoding left to right, and a
shared cache for the hypotheses of a beam search. :func:`generate` wraps the
rules of :mod:`rnncourse.sampling` (the very same functions) for text in, text out.
"""
from __future__ import annotations

from typing import Any

import torch

from rnncourse.data import CharVocab
from rnncourse.lm import CharRNNLM
from rnncourse.sampling import beam_search, greedy_decode, sample_sequence


class StatefulStepper:
    """A step function over a model, with a cache ``prefix tuple -> (state, log-probs)``.

    Args:
        model: a :class:`CharRNNLM` (or any module with ``forward(x (T, B), state) -> (logits, state)``).
        max_cache: entries kept; the cache is cleared when it grows beyond this.
    """

    def __init__(self, model: torch.nn.Module, max_cache: int = 100_000) -> None:
        self.model = model
        self.device = next(model.parameters()).device
        self.cache: dict[tuple[int, ...], tuple[Any, torch.Tensor]] = {}
        self.max_cache = max_cache
        self.tokens_fed = 0  # how many tokens went through the model (for tests and curiosity)

    @torch.no_grad()
    def __call__(self, prefix: list[int]) -> torch.Tensor:
        key = tuple(int(t) for t in prefix)
        if not key:
            raise ValueError("prefix must contain at least the BOS token, got []")
        if key in self.cache:
            return self.cache[key][1]
        # the longest cached proper prefix to continue from
        start, state = 0, None
        for n in range(len(key) - 1, 0, -1):
            if key[:n] in self.cache:
                start, state = n, self.cache[key[:n]][0]
                break
        if len(self.cache) >= self.max_cache:
            self.cache.clear()
        was_training = self.model.training
        self.model.eval()
        x = torch.tensor(key[start:], dtype=torch.long, device=self.device).unsqueeze(1)  # (T, 1)
        logits, state = self.model(x, state)  # (T, 1, V)
        self.model.train(was_training)
        self.tokens_fed += x.shape[0]
        logp = torch.log_softmax(logits[-1, 0].float(), dim=-1).cpu()  # (V,)
        self.cache[key] = (state, logp)
        return logp


def make_step_fn(model: torch.nn.Module) -> StatefulStepper:
    """A contract step function for ``model`` that keeps and reuses recurrent states."""
    return StatefulStepper(model)


def generate(model: CharRNNLM, vocab: CharVocab, prefix: str = "", max_len: int = 200,
             method: str = "sample", temperature: float = 1.0, top_k: int | None = None,
             top_p: float | None = None, beam_width: int = 5,
             generator: torch.Generator | None = None) -> str:
    """Continue ``prefix`` with up to ``max_len`` characters (the prefix is not repeated in the result).

    Args:
        method: ``"sample"`` (temperature / top-k / top-p sampling), ``"greedy"``
            or ``"beam"`` (the best hypothesis of a beam search of ``beam_width``).
        generator: a seeded ``torch.Generator`` for reproducible sampling.
    """
    if method not in ("sample", "greedy", "beam"):
        raise ValueError(f"method must be 'sample', 'greedy' or 'beam', got {method!r}")
    context = vocab.encode(prefix)
    stepper = StatefulStepper(model)

    def step_fn(tokens: list[int]) -> torch.Tensor:  # the decoders see [BOS] + generated tokens
        return stepper([vocab.bos_id] + context + tokens[1:])

    if method == "greedy":
        ids = greedy_decode(step_fn, vocab.bos_id, vocab.eos_id, max_len)
    elif method == "beam":
        ids = beam_search(step_fn, vocab.bos_id, vocab.eos_id, beam_width, max_len)[0][0]
    else:
        ids = sample_sequence(step_fn, vocab.bos_id, vocab.eos_id, max_len, temperature, top_k, top_p,
                              generator)
    return vocab.decode(ids)
