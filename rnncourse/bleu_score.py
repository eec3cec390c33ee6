r"""BLEU (Papineni et al., 2002): n-gram overlap between a generated sentence and reference sentences.

For a hypothesis :math:`c` and references :math:`r_1 \dots r_K` (lists of tokens),

.. math::

    p_n = \frac{\sum_{g \in \text{n-grams}(c)} \min\big(\text{count}_c(g),\ \max_k \text{count}_{r_k}(g)\big)}
               {\sum_{g \in \text{n-grams}(c)} \text{count}_c(g)}
    \qquad\text{(modified, "clipped" precision)}

.. math::

    \text{BP} = \begin{cases} 1 & |c| > r \\ e^{\,1 - r/|c|} & |c| \le r \end{cases}
    \qquad
    \text{BLEU} = \text{BP} \cdot \exp\Big(\frac{1}{N} \sum_{n=1}^{N} \log p_n\Big)

where :math:`r` is the length of the reference closest to :math:`|c|` (the
shorter one on a tie). Clipping stops "the the the the" from scoring a
perfect unigram precision against "the cat"; the brevity penalty stops a
single safe word from doing so. A hypothesis with no matching n-gram of some
order (or with no n-grams of that order at all) scores 0: this is the plain,
unsmoothed BLEU. :func:`corpus_bleu` adds up clipped counts, totals and
lengths over a whole test set before taking the ratios, as the paper does.

Tokens can be any hashable values (words or ids); BLEU is reported in
``[0, 1]`` (papers often multiply by 100).
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Hashable, Sequence

from rnncourse._validate import check_positive_int, describe

Tokens = Sequence[Hashable]


def _check_tokens(name: str, tokens: Tokens) -> list:
    if isinstance(tokens, (str, bytes)) or not isinstance(tokens, Sequence):
        raise TypeError(f"{name} must be a list of tokens (e.g. caption.split()), got {describe(tokens)}")
    return list(tokens)


def _check_references(references: Sequence[Tokens]) -> list[list]:
    if isinstance(references, (str, bytes)) or not isinstance(references, Sequence) or not references:
        raise TypeError(f"references must be a non-empty list of token lists, got {describe(references)}")
    return [_check_tokens(f"references[{k}]", r) for k, r in enumerate(references)]


def ngram_counts(tokens: Tokens, n: int) -> Counter:
    """How often each n-gram (a tuple of ``n`` tokens) occurs in ``tokens``."""
    check_positive_int("n", n)
    tokens = _check_tokens("tokens", tokens)
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def modified_precision(hypothesis: Tokens, references: Sequence[Tokens], n: int) -> tuple[int, int]:
    """``(clipped matches, total n-grams of the hypothesis)`` for n-grams of order ``n``.

    Each n-gram of the hypothesis counts at most as often as it occurs in the
    single reference where it occurs most often. The precision ``p_n`` is the
    ratio; it is undefined (``total = 0``) when the hypothesis is shorter than ``n``.
    """
    hyp = ngram_counts(hypothesis, n)
    refs = [ngram_counts(r, n) for r in _check_references(references)]
    clipped = sum(min(c, max(r[g] for r in refs)) for g, c in hyp.items())
    return clipped, sum(hyp.values())


def closest_reference_length(hyp_len: int, ref_lens: Sequence[int]) -> int:
    """The reference length closest to ``hyp_len``; the shorter one on a tie."""
    return min(ref_lens, key=lambda r: (abs(r - hyp_len), r))


def brevity_penalty(hyp_len: int, ref_len: int) -> float:
    """``1`` if ``hyp_len > ref_len``, else ``exp(1 - ref_len / hyp_len)`` (``0`` for an empty hypothesis)."""
    if hyp_len > ref_len:
        return 1.0
    if hyp_len == 0:
        return 0.0
    return math.exp(1.0 - ref_len / hyp_len)


def _combine(clipped: Sequence[int], totals: Sequence[int], hyp_len: int, ref_len: int) -> float:
    if any(c == 0 for c in clipped) or any(t == 0 for t in totals):
        return 0.0
    log_p = sum(math.log(c / t) for c, t in zip(clipped, totals)) / len(totals)
    return brevity_penalty(hyp_len, ref_len) * math.exp(log_p)


def bleu(hypothesis: Tokens, references: Sequence[Tokens], max_n: int = 4) -> float:
    """Sentence-level BLEU-``max_n`` of ``hypothesis`` against one or more ``references``.

    Args:
        hypothesis: the generated tokens (e.g. ``"a red circle".split()``).
        references: a non-empty list of reference token lists.
        max_n: the highest n-gram order ``N``, ``>= 1``; the orders are weighted equally.

    Returns:
        A float in ``[0, 1]``; 1 for a hypothesis equal to one of the references
        (at least ``max_n`` tokens long), 0 when some order has no match.

    Example:
        >>> bleu("the cat is on the mat".split(), ["the cat is on the mat".split()])
        1.0
    """
    check_positive_int("max_n", max_n)
    hyp = _check_tokens("hypothesis", hypothesis)
    refs = _check_references(references)
    stats = [modified_precision(hyp, refs, n) for n in range(1, max_n + 1)]
    ref_len = closest_reference_length(len(hyp), [len(r) for r in refs])
    return _combine([c for c, _ in stats], [t for _, t in stats], len(hyp), ref_len)


def corpus_bleu(hypotheses: Sequence[Tokens], references: Sequence[Sequence[Tokens]], max_n: int = 4) -> float:
    """Corpus-level BLEU: clipped counts, n-gram totals and lengths summed over all sentences first.

    Args:
        hypotheses: ``M`` generated token lists.
        references: ``M`` lists of reference token lists, one list per hypothesis.
        max_n: the highest n-gram order.

    Returns:
        BLEU in ``[0, 1]``. With one sentence it equals :func:`bleu`.
    """
    check_positive_int("max_n", max_n)
    if len(hypotheses) != len(references) or not hypotheses:
        raise ValueError(f"hypotheses and references must be non-empty lists of the same length, "
                         f"got {len(hypotheses)} and {len(references)}")
    clipped, totals = [0] * max_n, [0] * max_n
    hyp_len = ref_len = 0
    for hyp, refs in zip(hypotheses, references):
        hyp = _check_tokens("hypothesis", hyp)
        refs = _check_references(refs)
        for n in range(1, max_n + 1):
            c, t = modified_precision(hyp, refs, n)
            clipped[n - 1] += c
            totals[n - 1] += t
        hyp_len += len(hyp)
        ref_len += closest_reference_length(len(hyp), [len(r) for r in refs])
    return _combine(clipped, totals, hyp_len, ref_len)
