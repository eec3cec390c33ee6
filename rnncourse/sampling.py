"""Decoding rules that turn next-token distributions into sequences.

Dimensions: ``V`` is the vocabulary size; ``...`` stands for any number of
leading axes (a single distribution ``(V,)``, a batch ``(B, V)``, ...).

The filters work on the last axis of logits of any leading shape and return
new tensors of the same shape, dtype and device: a removed token gets the
logit ``-inf``, so a softmax gives it probability exactly zero. They never
modify their input.

The decoders talk to the model through a *step function*
``step_fn(prefix: list[int]) -> Tensor (V,)`` that returns the
log-probabilities of the next token after ``prefix``; ``prefix`` always starts
with BOS. Returned sequences exclude BOS and include EOS when it was
produced; decoding stops right after EOS or after ``max_len`` tokens.
:class:`rnncourse.generate.StatefulStepper` builds a step function from a trained
language model.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from rnncourse._validate import check_positive_float, check_positive_int, describe

StepFn = Callable[[list[int]], torch.Tensor]
"""``step_fn(prefix: list[int]) -> Tensor (V,)``: log-probabilities of the next token after ``prefix``."""

_NEG_INF = float("-inf")


# ----------------------------------------------------------------------------- argument checks

def _check_logits(logits: torch.Tensor, name: str = "logits") -> None:
    """Raise ``TypeError`` unless ``logits`` is a floating-point tensor with at least one axis."""
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (..., V), got {describe(logits)}")
    if logits.dim() < 1 or logits.shape[-1] < 1:
        raise ValueError(f"{name} must have shape (..., V) with V >= 1, got {describe(logits)}")
    if not logits.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {describe(logits)}")


def _check_p(name: str, p: float) -> None:
    """Raise unless ``p`` is a real number in ``(0, 1]``."""
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number in (0, 1], got {describe(p)}")
    if not 0.0 < p <= 1.0:  # also False for NaN
        raise ValueError(f"{name} must be in (0, 1], got {p!r}")


def _check_token_id(name: str, value: int) -> None:
    """Raise unless ``value`` is a non-negative int (a token id)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int token id, got {describe(value)}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative token id, got {value!r}")


def _check_decode_args(step_fn: StepFn, bos_id: int, eos_id: int, max_len: int) -> None:
    if not callable(step_fn):
        raise TypeError(f"step_fn must be callable as step_fn(prefix) -> log-probs (V,), got {describe(step_fn)}")
    _check_token_id("bos_id", bos_id)
    _check_token_id("eos_id", eos_id)
    check_positive_int("max_len", max_len)


def _next_logprobs(step_fn: StepFn, prefix: list[int]) -> torch.Tensor:
    """Call ``step_fn`` on a copy of ``prefix`` and check that it returned a ``(V,)`` float tensor."""
    logp = step_fn(list(prefix))  # a copy: the step function may keep or change what it is given
    if not isinstance(logp, torch.Tensor) or logp.dim() != 1 or not logp.is_floating_point():
        raise TypeError(f"step_fn must return a 1-D floating-point tensor (V,) of log-probabilities, "
                        f"got {describe(logp)}")
    return logp.detach()


# ----------------------------------------------------------------------------- distributions

def temperature_softmax(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    r"""Probabilities ``softmax(logits / T)`` over the last axis, computed stably.

    .. math:: p_v = \frac{\exp(z_v / T)}{\sum_u \exp(z_u / T)}

    ``T = 1`` gives the model's own distribution; ``T → 0`` puts all the mass
    on the arg-max (greedy decoding); ``T → ∞`` makes the distribution uniform.
    The softmax subtracts the maximum first, so logits around ±1000 (or a tiny
    ``T``) do not overflow.

    Args:
        logits: ``(..., V)`` floating-point tensor (float32 or float64, any device).
        temperature: ``T``, a finite number ``> 0``.

    Returns:
        ``(..., V)`` probabilities, same dtype and device as ``logits``; each row sums to 1.

    Raises:
        ValueError: ``temperature <= 0`` (or not finite).
        TypeError: ``logits`` is not a floating-point tensor, ``temperature`` not a number.
    """
    _check_logits(logits)
    check_positive_float("temperature", temperature)
    return torch.softmax(logits / temperature, dim=-1)  # (..., V); softmax subtracts the max itself


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits of the last axis and set every other one to ``-inf``.

    Exactly ``min(k, V)`` logits survive in each row: when several logits tie at
    the boundary, ``torch.topk`` picks which of them stay. ``k >= V`` returns an
    unchanged copy.

    Args:
        logits: ``(..., V)`` floating-point tensor.
        k: number of tokens to keep, an int ``>= 1``.

    Returns:
        ``(..., V)`` new tensor, same dtype and device: kept entries equal ``logits``, the rest ``-inf``.

    Raises:
        ValueError: ``k < 1``.
        TypeError: ``k`` is not an int.
    """
    _check_logits(logits)
    check_positive_int("k", k)
    if k >= logits.shape[-1]:
        return logits.clone()
    idx = torch.topk(logits, int(k), dim=-1).indices  # (..., k)
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, idx, True)  # (..., V)
    return logits.masked_fill(~keep, _NEG_INF)


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the smallest set of most probable tokens whose total probability is ``>= p``.

    Sort the probabilities ``softmax(logits)`` in decreasing order and keep a
    token when the mass of the tokens ranked *before* it is still ``< p``. So
    the token whose probability makes the running total cross ``p`` is kept,
    the most probable token is always kept, and ``p = 1`` keeps every token.
    Probabilities are accumulated in float64 (float32 on devices without it).

    Args:
        logits: ``(..., V)`` floating-point tensor.
        p: target probability mass, in ``(0, 1]``.

    Returns:
        ``(..., V)`` new tensor, same dtype and device: kept entries equal ``logits``, the rest ``-inf``.

    Raises:
        ValueError: ``p`` outside ``(0, 1]``.
        TypeError: ``p`` is not a number.
    """
    _check_logits(logits)
    _check_p("p", p)
    if p >= 1.0:
        return logits.clone()  # every token is needed to reach a total of 1
    wide = torch.float32 if logits.device.type == "mps" else torch.float64
    probs = torch.softmax(logits.to(wide), dim=-1)  # (..., V)
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True, stable=True)  # (..., V) each
    total = torch.cumsum(sorted_probs, dim=-1)  # (..., V): mass of ranks 0..j
    mass_before = torch.cat([torch.zeros_like(total[..., :1]), total[..., :-1]], dim=-1)  # ranks 0..j-1
    drop_sorted = mass_before >= p  # the set already reached p without this token
    drop_sorted[..., 0] = False  # at least one token always stays
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, _NEG_INF)


def filtered_distribution(logp: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                          top_p: float | None = None) -> torch.Tensor:
    """The distribution :func:`sample_sequence` draws from, in this order:

    1. divide by ``temperature``;
    2. :func:`top_k_filter` with ``k = top_k`` (skipped when ``None``);
    3. :func:`top_p_filter` with ``p = top_p`` on the *tempered* logits (skipped when ``None``);
    4. softmax.

    Temperature and top-k commute (dividing by ``T > 0`` keeps the order), but
    top-p does not: the nucleus is taken from the tempered distribution.

    Args:
        logp: ``(..., V)`` log-probabilities (or logits).
        temperature: ``T > 0``.
        top_k: int ``>= 1`` or ``None``.
        top_p: number in ``(0, 1]`` or ``None``.

    Returns:
        ``(..., V)`` float64 probabilities on ``logp``'s device; filtered tokens have probability 0.
    """
    _check_logits(logp, "logp")
    check_positive_float("temperature", temperature)
    if top_k is not None:
        check_positive_int("top_k", top_k)
    if top_p is not None:
        _check_p("top_p", top_p)
    wide = torch.float32 if logp.device.type == "mps" else torch.float64
    logits = logp.to(wide) / temperature  # (..., V)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    return torch.softmax(logits, dim=-1)


# ----------------------------------------------------------------------------- decoders

def greedy_decode(step_fn: StepFn, bos_id: int, eos_id: int, max_len: int) -> list[int]:
    """Pick the most probable token at every step, until EOS or ``max_len`` tokens.

    Args:
        step_fn: ``step_fn(prefix: list[int]) -> Tensor (V,)`` log-probabilities of the next token.
        bos_id: id that starts every prefix given to ``step_fn``.
        eos_id: id that ends a sequence (it is included in the result).
        max_len: maximum number of generated tokens, ``>= 1``.

    Returns:
        The generated ids (no BOS; EOS last when it was produced), ``len <= max_len``.
        Ties go to the smallest id (``torch.argmax``).
    """
    _check_decode_args(step_fn, bos_id, eos_id, max_len)
    prefix = [int(bos_id)]
    out: list[int] = []
    while len(out) < max_len:
        token = int(torch.argmax(_next_logprobs(step_fn, prefix)))
        out.append(token)
        prefix.append(token)
        if token == eos_id:
            break
    return out


def sample_sequence(step_fn: StepFn, bos_id: int, eos_id: int, max_len: int, temperature: float = 1.0,
                    top_k: int | None = None, top_p: float | None = None,
                    generator: torch.Generator | None = None) -> list[int]:
    """Draw a sequence token by token from the (filtered) next-token distributions.

    At every step the log-probabilities from ``step_fn`` go through, in this
    order (see :func:`filtered_distribution`): division by ``temperature``,
    :func:`top_k_filter` (if ``top_k``), :func:`top_p_filter` (if ``top_p``),
    softmax; then one token is drawn with
    ``torch.multinomial(probs, 1, generator=generator)``. The same seeded
    generator gives the same sequence.

    Args:
        step_fn: ``step_fn(prefix: list[int]) -> Tensor (V,)`` log-probabilities of the next token.
        bos_id: id that starts every prefix given to ``step_fn``.
        eos_id: id that ends a sequence (it is included in the result).
        max_len: maximum number of generated tokens, ``>= 1``.
        temperature: ``T > 0``.
        top_k: keep only the ``top_k`` most probable tokens, or ``None``.
        top_p: keep only the nucleus of mass ``top_p`` in ``(0, 1]``, or ``None``.
        generator: a ``torch.Generator`` for reproducible draws; the probabilities
            are moved to its device (CPU when ``None``).

    Returns:
        The generated ids (no BOS; EOS last when it was produced), ``len <= max_len``.
    """
    _check_decode_args(step_fn, bos_id, eos_id, max_len)
    check_positive_float("temperature", temperature)
    if top_k is not None:
        check_positive_int("top_k", top_k)
    if top_p is not None:
        _check_p("top_p", top_p)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {describe(generator)}")
    device = generator.device if generator is not None else torch.device("cpu")
    prefix = [int(bos_id)]
    out: list[int] = []
    while len(out) < max_len:
        logp = _next_logprobs(step_fn, prefix).to(device)  # (V,)
        probs = filtered_distribution(logp, temperature, top_k, top_p)  # (V,)
        token = int(torch.multinomial(probs, 1, generator=generator))
        out.append(token)
        prefix.append(token)
        if token == eos_id:
            break
    return out


def beam_search(step_fn: StepFn, bos_id: int, eos_id: int, beam_width: int,
                max_len: int, trace: list | None = None) -> list[tuple[list[int], float]]:
    """The most probable sequences that a beam of ``beam_width`` hypotheses finds.

    Start from the empty hypothesis. At every step, extend each live
    hypothesis by every token and keep the ``beam_width`` best extensions
    overall (by total log-probability). A kept extension that ends with EOS
    (included) or has ``max_len`` tokens is *finished*: it leaves the beam, so
    the beam may shrink, and waits aside. The search stops when no live
    hypothesis is left, or early when ``beam_width`` finished hypotheses score
    at least as well as the best live one (log-probabilities are ``<= 0``, so a
    longer hypothesis can only lose). Finished and live hypotheses are then
    ranked together.

    Scores are plain total log-probabilities ``sum_t log p(y_t | y_<t)`` with
    **no length normalisation**, so shorter sequences are favoured. Tokens with
    log-probability ``-inf`` are never chosen. With ``beam_width >= V**(max_len - 1)``
    nothing is pruned before the last step, which keeps the ``beam_width``
    best of all complete candidates, so the result is the exhaustive ranking;
    ``beam_width = 1`` is greedy decoding.

    Args:
        step_fn: ``step_fn(prefix: list[int]) -> Tensor (V,)`` log-probabilities of the next token.
        bos_id: id that starts every prefix given to ``step_fn``.
        eos_id: id that ends a hypothesis.
        beam_width: number of hypotheses kept per step and returned, ``>= 1``.
        max_len: maximum number of tokens of a hypothesis, ``>= 1``.
        trace: a list to which every step appends its candidates as
            ``(tokens, total_logprob, kept)`` triples (for drawing the search
            tree, :func:`rnncourse.viz.plot_beam_tree`), or ``None``.

    Returns:
        Up to ``beam_width`` pairs ``(tokens, total_logprob)``, best first;
        ``tokens`` excludes BOS and ends with EOS when it was produced.
    """
    _check_decode_args(step_fn, bos_id, eos_id, max_len)
    check_positive_int("beam_width", beam_width)
    beams: list[tuple[list[int], float]] = [([], 0.0)]  # live hypotheses
    finished: list[tuple[list[int], float]] = []
    for _ in range(max_len):
        candidates: list[tuple[list[int], float]] = []
        for tokens, score in beams:
            logp = _next_logprobs(step_fn, [int(bos_id)] + tokens).to("cpu", torch.float64)  # (V,)
            # no single hypothesis can place more than beam_width extensions in the overall top beam_width
            top = torch.topk(logp, min(int(beam_width), logp.numel()))
            for lp, v in zip(top.values.tolist(), top.indices.tolist()):
                if lp != _NEG_INF:
                    candidates.append((tokens + [int(v)], score + lp))
        candidates.sort(key=lambda c: c[1], reverse=True)  # stable: ties keep their order
        if trace is not None:
            trace.append([(tokens, score, k < beam_width) for k, (tokens, score) in enumerate(candidates)])
        beams = []
        for tokens, score in candidates[:beam_width]:
            if tokens[-1] == eos_id or len(tokens) == max_len:
                finished.append((tokens, score))
            else:
                beams.append((tokens, score))
        finished.sort(key=lambda c: c[1], reverse=True)
        if not beams or (len(finished) >= beam_width and finished[beam_width - 1][1] >= beams[0][1]):
            break
    ranked = sorted(finished + beams, key=lambda c: c[1], reverse=True)
    return ranked[:beam_width]
