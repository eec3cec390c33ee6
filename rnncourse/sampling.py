"""Decoding rules that turn next-token distributions into sequences.

Every rule talks to the model through a *step function*
``step_fn(prefix: list[int]) -> Tensor (V,)`` returning the log-probabilities
of the next token after ``prefix`` (which starts with BOS). Returned sequences
exclude BOS and include EOS when it was produced; generation stops at EOS or
after ``max_len`` tokens.

The filters work on logits of any leading shape over the last axis (``V``)
and return new tensors: removed tokens get ``-inf``, so a softmax gives them
probability zero.
"""
from __future__ import annotations

from typing import Callable

import torch

from rnncourse._checks import check_positive_int, describe

StepFn = Callable[[list[int]], torch.Tensor]


def _check_logits(logits: torch.Tensor) -> None:
    if not isinstance(logits, torch.Tensor) or logits.dim() < 1:
        raise TypeError(f"logits must be a tensor of shape (..., V), got {describe(logits)}")


def _check_temperature(temperature: float) -> None:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(f"temperature must be a number, got {describe(temperature)}")
    if not temperature > 0 or temperature != temperature or temperature == float("inf"):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")


def temperature_softmax(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``softmax(logits / T)`` over the last axis, computed stably.

    ``T = 1`` leaves the distribution as it is; ``T → 0`` puts all mass on the
    arg-max (greedy); ``T → ∞`` makes it uniform.
    """
    _check_logits(logits)
    _check_temperature(temperature)
    return torch.softmax(logits / temperature, dim=-1)  # softmax subtracts the maximum itself


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits of the last axis, set the others to ``-inf``.

    Exactly ``k`` survive (ties broken by ``torch.topk``); ``k >= V`` returns an
    unchanged copy. ``ValueError`` for ``k < 1``.
    """
    _check_logits(logits)
    check_positive_int("k", k)
    if k >= logits.shape[-1]:
        return logits.clone()
    idx = torch.topk(logits, k, dim=-1).indices  # (..., k)
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, idx, True)
    return logits.masked_fill(~keep, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the smallest set of most probable tokens with total probability ``>= p``.

    Sort the probabilities in decreasing order; a token is kept when the mass
    of the tokens ranked before it is still below ``p``. So the token that
    crosses the threshold is kept, and at least one token always survives.
    ``ValueError`` for ``p`` outside ``(0, 1]``.
    """
    _check_logits(logits)
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise TypeError(f"p must be a number in (0, 1], got {describe(p)}")
    if not 0.0 < p <= 1.0:
        raise ValueError(f"p must be in (0, 1], got {p!r}")
    probs = torch.softmax(logits.double(), dim=-1)
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
    mass_before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs  # (..., V)
    drop_sorted = mass_before >= p
    drop_sorted[..., 0] = False  # the most probable token always stays
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def _check_decode_args(bos_id: int, eos_id: int, max_len: int) -> None:
    for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    check_positive_int("max_len", max_len)


def greedy_decode(step_fn: StepFn, bos_id: int, eos_id: int, max_len: int) -> list[int]:
    """The most probable token at every step, until EOS or ``max_len`` tokens."""
    _check_decode_args(bos_id, eos_id, max_len)
    prefix, out = [bos_id], []
    while len(out) < max_len:
        token = int(torch.argmax(step_fn(prefix)))
        out.append(token)
        prefix.append(token)
        if token == eos_id:
            break
    return out


def filtered_distribution(logp: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                          top_p: float | None = None) -> torch.Tensor:
    """The distribution :func:`sample_sequence` draws from: temperature, then top-k, then top-p, then softmax."""
    _check_temperature(temperature)
    logits = logp / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    return torch.softmax(logits.double(), dim=-1)


def sample_sequence(step_fn: StepFn, bos_id: int, eos_id: int, max_len: int, temperature: float = 1.0,
                    top_k: int | None = None, top_p: float | None = None,
                    generator: torch.Generator | None = None) -> list[int]:
    """Draw a sequence token by token.

    At each step the log-probabilities from ``step_fn`` are divided by
    ``temperature``, filtered by :func:`top_k_filter` (if ``top_k``) and then
    :func:`top_p_filter` (if ``top_p``), turned into probabilities, and one token
    is drawn with ``torch.multinomial(probs, 1, generator=generator)``: the same
    generator seed gives the same sequence.
    """
    _check_decode_args(bos_id, eos_id, max_len)
    _check_temperature(temperature)
    if top_k is not None:
        check_positive_int("top_k", top_k)
    prefix, out = [bos_id], []
    while len(out) < max_len:
        probs = filtered_distribution(step_fn(prefix).detach().cpu(), temperature, top_k, top_p)
        token = int(torch.multinomial(probs, 1, generator=generator))
        out.append(token)
        prefix.append(token)
        if token == eos_id:
            break
    return out


def beam_search(step_fn: StepFn, bos_id: int, eos_id: int, beam_width: int,
                max_len: int) -> list[tuple[list[int], float]]:
    """Approximately the most probable sequences, by total log-probability.

    Keeps the ``beam_width`` best unfinished hypotheses; at each step extends
    each by every token and keeps the best ``beam_width`` extensions. A
    hypothesis ends when it produces EOS (included) or reaches ``max_len``
    tokens; ended hypotheses wait aside and are ranked with the rest at the
    end. Scores are total log-probabilities, with no length normalisation.

    Returns:
        Up to ``beam_width`` pairs ``(tokens, total_logprob)``, best first.
    """
    _check_decode_args(bos_id, eos_id, max_len)
    check_positive_int("beam_width", beam_width)
    beams: list[tuple[list[int], float]] = [([], 0.0)]
    finished: list[tuple[list[int], float]] = []
    for _ in range(max_len):
        candidates = []
        for tokens, score in beams:
            logp = step_fn([bos_id] + tokens).detach().double().cpu()  # (V,)
            k = min(beam_width, logp.numel())
            top = torch.topk(logp, k)
            for lp, v in zip(top.values.tolist(), top.indices.tolist()):
                if lp != float("-inf"):
                    candidates.append((tokens + [int(v)], score + lp))
        candidates.sort(key=lambda c: c[1], reverse=True)
        beams = []
        for tokens, score in candidates[:beam_width]:
            if tokens[-1] == eos_id or len(tokens) == max_len:
                finished.append((tokens, score))
            else:
                beams.append((tokens, score))
        # once beam_width finished hypotheses beat every live one, nothing can overtake them
        finished.sort(key=lambda c: c[1], reverse=True)
        if not beams or (len(finished) >= beam_width and finished[beam_width - 1][1] >= beams[0][1]):
            break
    ranked = sorted(finished + beams, key=lambda c: c[1], reverse=True)
    return ranked[:beam_width]
