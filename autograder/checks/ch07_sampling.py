"""Hidden checks for chapter 07_sampling.

The decoders get a step function over a random Markov table (token 0 is BOS and never follows, token 1 is
EOS), drawn per student: ``_markov`` redraws a table until the case has the property it is there for (a
greedy sequence that ends with EOS, one that runs to ``max_len``) and no row has two next tokens within
``_GAP`` of each other, so a correct answer in float32 picks the same tokens. The sampling check uses a
first-token distribution with well separated probabilities, so the nucleus of every case is far from its
threshold and the statistical test has a margin against the usual mistakes.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from autograder.checks import CheckFailure, call, case_seed, expect_close, pure
from autograder.checks._torchcase import as_number, expect_tensor, expect_untouched, frozen, generator, randn
from rnncourse import sampling as _ref

_temp = _ref.temperature_softmax
_topk = _ref.top_k_filter
_topp = _ref.top_p_filter
_greedy = _ref.greedy_decode
_beam = _ref.beam_search
_dist = _ref.filtered_distribution
_NEG = float("-inf")
_GAP = 1e-3  # smallest difference of two log-probabilities in a row of a step function's table
_isfinite = math.isfinite


def _table(V: int, seed: int) -> torch.Tensor:
    """(V, V) log-probabilities of a random Markov chain: row u is the next-token distribution after u."""
    table = torch.rand(V, V, generator=generator(seed), dtype=torch.float64) + 0.05
    table[:, 0] = 0.0
    return (table / table.sum(1, keepdim=True)).log()


def _separated(logt: torch.Tensor) -> bool:
    top = torch.sort(logt, dim=1, descending=True).values  # (V, V)
    finite = top[:, 1:] > _NEG
    return bool(((top[:, :-1] - top[:, 1:])[finite] >= _GAP).all())


def _step(logt: torch.Tensor) -> Callable:
    table = logt.clone()
    return pure(lambda prefix: table[prefix[-1]].clone())


def _markov(V: int, seed: int, want: Callable[[torch.Tensor], bool] = lambda logt: True):
    """``(step_fn, logt)`` for the first table from ``seed`` on that is well separated and satisfies ``want``."""
    for k in range(1000):
        logt = _table(V, seed + k)
        if _separated(logt) and want(logt):
            break
    return _step(logt), logt


def _greedy_on(logt: torch.Tensor, max_len: int) -> list[int]:
    return _greedy(_step(logt), 0, 1, max_len)


def _expect_raises(fn, name, args, what):
    try:
        fn(*args)
    except ValueError:
        return
    except NotImplementedError:
        raise CheckFailure(f"{name} is not implemented yet (it raised NotImplementedError)") from None
    except Exception as err:  # noqa: BLE001
        kind = getattr(err, "remote_name", type(err).__name__)
        raise CheckFailure(f"{name} should raise ValueError for {what}, raised {kind}") from None
    raise CheckFailure(f"{name} should raise ValueError for {what}")


def _logits_like(what: str, got, z: torch.Tensor, case: str) -> torch.Tensor:
    expect_tensor(what, got, case, tuple(z.shape))
    if not got.is_floating_point():
        raise CheckFailure(f"{what} should be floating-point like the logits, got dtype {got.dtype} ({case})")
    if got.isnan().any():
        raise CheckFailure(f"{what} contain NaN ({case}); a removed token gets -inf, a kept one its logit")
    return got


def _tokens(name: str, got, V: int, case: str) -> list[int]:
    """A returned sequence as a list of ints in [0, V)."""
    if isinstance(got, torch.Tensor) and got.dim() == 1 and not got.is_floating_point():
        got = got.tolist()
    if not isinstance(got, (list, tuple)):
        raise CheckFailure(f"{name} should return a list of token ids, got {type(got).__name__} ({case})")
    out = []
    for t in got:
        if isinstance(t, torch.Tensor) and t.numel() == 1 and not t.is_floating_point():
            t = t.item()
        if isinstance(t, (bool, torch.Tensor)) or not hasattr(t, "__index__"):
            raise CheckFailure(f"{name} should return a list of int token ids, got an item of type "
                               f"{type(t).__name__} ({case})")
        t = int(t)
        if not 0 <= t < V:
            raise CheckFailure(f"{name} returned a token id outside the vocabulary [0, {V}) ({case})")
        out.append(t)
    return out


def _first_difference(got: list, expected: list) -> int:
    return next((i for i, (g, e) in enumerate(zip(got, expected)) if g != e), min(len(got), len(expected)))


# ----------------------------------------------------------------------------- distributions and filters

def check_temperature_softmax(temperature_softmax: Callable) -> None:
    gen = generator(case_seed(701))
    for case, z, T in [("T=1", randn(gen, 6), 1.0), ("T=0.5 on a (3, 5) batch", randn(gen, 3, 5), 0.5),
                       ("T=3", randn(gen, 8), 3.0), ("T=0.01", randn(gen, 4), 0.01),
                       ("logits around 1000", 1000 + randn(gen, 5), 0.7), ("float32", randn(gen, 5, dtype=torch.float32), 2.0)]:
        before = frozen(z)
        expected = _temp(before, T)
        mistakes = {
            "the logits are multiplied by the temperature instead of divided": torch.softmax(before * T, -1),
            "the temperature is ignored": torch.softmax(before, -1),
            "softmax without subtracting the maximum overflows":
                torch.exp(before / T) / torch.exp(before / T).sum(-1, keepdim=True),
        }
        got = call(temperature_softmax, "temperature_softmax", case, z, T)
        expect_untouched("temperature_softmax", [before], (z,), ["logits"])
        expect_close("the probabilities", got, expected, case, atol=1e-6 if z.dtype == torch.float32 else 1e-9,
                     mistakes=mistakes)
    for bad in (0.0, -1.0):
        _expect_raises(temperature_softmax, "temperature_softmax", (randn(gen, 3), bad), f"temperature={bad}")


def check_top_k_filter(top_k_filter: Callable) -> None:
    gen = generator(case_seed(702))
    for case, z, k in [("k=3 of 8", randn(gen, 8), 3), ("k=1", randn(gen, 6), 1), ("k=V", randn(gen, 5), 5),
                       ("k > V", randn(gen, 4), 10), ("k=2 on a (3, 6) batch", randn(gen, 3, 6), 2)]:
        before = frozen(z)
        expected = _topk(before, k)
        expected = expected.masked_fill(expected == _NEG, -1e30)
        smallest = before.masked_fill(_topk(-before, k) > _NEG, _NEG) if k < z.shape[-1] else before
        mistakes = {"the k smallest logits are kept instead of the largest": smallest.masked_fill(smallest == _NEG, -1e30)}
        got = call(top_k_filter, "top_k_filter", case, z, k)
        expect_untouched("top_k_filter", [before], (z,), ["logits"])
        got = _logits_like("the filtered logits", got, z, case)
        kept = (got > _NEG).sum(-1)
        if (kept == min(k, z.shape[-1]) + 1).all():
            raise CheckFailure(f"top_k_filter keeps k + 1 tokens ({case}); keep exactly the k largest")
        if (kept == max(1, min(k, z.shape[-1]) - 1)).all() and k > 1 and k < z.shape[-1]:
            raise CheckFailure(f"top_k_filter keeps k - 1 tokens ({case}); keep exactly the k largest")
        expect_close("the filtered logits", got.masked_fill(got == _NEG, -1e30), expected, case, atol=1e-12,
                     mistakes=mistakes)
    _expect_raises(top_k_filter, "top_k_filter", (randn(gen, 4), 0), "k=0")


def _clear_of(p: float):
    """A test for logits whose nucleus is clear: the mass before every rank is at least 1e-6 away from p."""
    def clear(z: torch.Tensor) -> bool:
        probs = torch.sort(torch.softmax(z.double(), -1), -1, descending=True).values
        before = torch.cumsum(probs, -1) - probs
        return bool(((before - p).abs() >= 1e-6).all())
    return clear


def _clear_logits(gen: torch.Generator, p: float, *shape: int, scale: float = 2.0, dtype=torch.float64):
    z = randn(gen, *shape, dtype=dtype, scale=scale)
    while not _clear_of(p)(z):
        z = randn(gen, *shape, dtype=dtype, scale=scale)
    return z


def _float32_trap(gen: torch.Generator) -> torch.Tensor:
    """1,000 float32 logits whose float32 running sum of sorted probabilities reaches 1 before the last token
    (where it does not, accumulating in float32 goes unnoticed)."""
    while True:
        z = randn(gen, 1000, dtype=torch.float32, scale=3.0)
        sp = torch.sort(torch.softmax(z, -1), descending=True).values
        if bool((torch.cumsum(sp, -1)[:-1] >= 1.0).any()):
            return z


def check_top_p_filter(top_p_filter: Callable) -> None:
    gen = generator(case_seed(703))
    probs = torch.tensor([0.35, 0.25, 0.2, 0.1, 0.06, 0.04], dtype=torch.float64)
    for case, z, p in [("p=0.5", probs.log(), 0.5), ("p=0.8", probs.log(), 0.8), ("p=0.6 exactly on a boundary", probs.log(), 0.6),
                       ("p=1.0", probs.log(), 1.0), ("p=0.01", probs.log(), 0.01),
                       ("p=0.9 on random logits", _clear_logits(gen, 0.9, 10), 0.9),
                       ("p=0.7 on a (2, 7) batch", _clear_logits(gen, 0.7, 2, 7), 0.7),
                       ("p=1.0 on 1,000 float32 logits", _float32_trap(generator(case_seed(8))), 1.0)]:
        before = frozen(z)
        expected = _topp(before, p)
        exp_kept = expected > _NEG
        got = call(top_p_filter, "top_p_filter", case, z, p)
        expect_untouched("top_p_filter", [before], (z,), ["logits"])
        got = _logits_like("the filtered logits", got, z, case)
        got_kept = got > _NEG
        if not torch.equal(got_kept, exp_kept):
            n_got, n_exp = int(got_kept.sum()), int(exp_kept.sum())
            rows = got_kept.shape[0] if got_kept.dim() > 1 else 1
            hint = ""
            if p >= 1.0 and n_got < n_exp:
                hint = (" With p = 1 every token is needed to reach a total of 1; in float32 a running sum of many"
                        " small probabilities can reach 1 before the last token, so accumulate in float64.")
            elif n_got == n_exp - rows:
                hint = " It looks like the token that crosses the threshold p is dropped; it must be kept."
            elif n_got == 0:
                hint = " At least one token must always be kept."
            elif n_got > n_exp:
                hint = " Too many tokens are kept: keep the smallest set whose probability is >= p."
            if n_got == n_exp:
                how = "the right number of tokens, but not the most probable ones"
            else:
                how = f"{abs(n_got - n_exp)} token(s) too {'many' if n_got > n_exp else 'few'}"
            raise CheckFailure(f"top_p_filter keeps the wrong tokens ({case}): {how}.{hint}")
        expect_close("the kept logits", got.masked_fill(~got_kept, 0.0), expected.masked_fill(~exp_kept, 0.0), case,
                     atol=1e-12)
    for bad in (0.0, 1.5):
        _expect_raises(top_p_filter, "top_p_filter", (probs.log(), bad), f"p={bad}")


# ----------------------------------------------------------------------------- decoders

def check_greedy_decode(greedy_decode: Callable) -> None:
    def ends_early(max_len):
        return lambda logt: 2 <= len(_greedy_on(logt, max_len)) < max_len
    runs_on = lambda max_len: lambda logt: len(_greedy_on(logt, max_len)) == max_len and \
        1 not in _greedy_on(logt, max_len)  # noqa: E731
    for case, V, seed, max_len, want in [("V=5, a sequence that ends with EOS", 5, 1, 12, ends_early(12)),
                                         ("V=8, a sequence that runs to max_len", 8, 2, 20, runs_on(20)),
                                         ("max_len=1", 6, 3, 1, lambda logt: True)]:
        step_fn, _ = _markov(V, case_seed(seed), want)
        expected = _greedy(step_fn, 0, 1, max_len)
        got = call(greedy_decode, "greedy_decode", case, step_fn, 0, 1, max_len)
        tokens = _tokens("greedy_decode", got, V, case)
        if tokens[:1] == [0]:
            raise CheckFailure(f"the returned sequence starts with BOS ({case}); return only the generated tokens")
        if tokens == expected:
            continue
        if tokens == expected[:-1] and expected[-1:] == [1]:
            raise CheckFailure(f"the sequence should include EOS when it is produced ({case})")
        if len(tokens) > max_len:
            raise CheckFailure(f"more than max_len={max_len} tokens were generated ({case})")
        if 1 in tokens[:-1]:
            raise CheckFailure(f"the sequence continues after EOS ({case}); stop right after it")
        i = _first_difference(tokens, expected)
        if i == len(tokens):
            raise CheckFailure(f"greedy_decode stopped after {len(tokens)} tokens, before EOS or max_len ({case})")
        raise CheckFailure(f"greedy_decode's sequence first differs from the greedy one at position {i} ({case}): "
                           "each token must be the arg-max of step_fn(prefix) for the prefix BOS + the tokens so far")


def _draws(sample_sequence: Callable, n: int, case: str, *args, **kwargs) -> list:
    """``n`` calls in a row with the same arguments; one round trip where the function lives in a kernel."""
    repeat = getattr(sample_sequence, "repeat", None)
    if repeat is not None:
        return call(repeat, "sample_sequence", case, n, *args, **kwargs)
    return [call(sample_sequence, "sample_sequence", case, *args, **kwargs) for _ in range(n)]


_FIRST = (0.4, 0.3, 0.2, 0.1)  # the first-token probabilities of tokens 1..4, in a per-student order


def _sampling_table(seed: int) -> torch.Tensor:
    """(5, 5) log-probabilities: a random chain whose EOS (1) is rare, and a first-token row from ``_FIRST``."""
    gen = generator(seed)
    table = torch.rand(5, 5, generator=gen, dtype=torch.float64) + 0.05
    table[:, 0] = 0.0
    table[:, 1] *= 0.3
    order = torch.randperm(4, generator=gen)
    first = torch.tensor(_FIRST, dtype=torch.float64)[order] * (1 + 0.1 * (torch.rand(4, generator=gen) - 0.5))
    table[0, 1:] = first
    return (table / table.sum(1, keepdim=True)).log()


def check_sample_sequence(sample_sequence: Callable) -> None:
    logt = _sampling_table(case_seed(11))
    step_fn = _step(logt)
    sequences = []
    for k in range(3):
        seed = case_seed(3 + k)
        a = call(sample_sequence, "sample_sequence", "a seeded generator", step_fn, 0, 1, 10,
                 generator=generator(seed))
        b = call(sample_sequence, "sample_sequence", "a seeded generator", step_fn, 0, 1, 10,
                 generator=generator(seed))
        a, b = _tokens("sample_sequence", a, 5, "a seeded generator"), _tokens("sample_sequence", b, 5, "a seeded generator")
        if a != b:
            raise CheckFailure("the same generator seed gave different sequences; draw with "
                               "torch.multinomial(probs, 1, generator=generator)")
        sequences.append(a)
    sequences += [_tokens("sample_sequence", s, 5, "max_len=6") for s in
                  _draws(sample_sequence, 200, "max_len=6", step_fn, 0, 1, 6, generator=generator(case_seed(6)))]
    for seq, max_len in zip(sequences, [10] * 3 + [6] * 200):
        if 0 in seq:
            raise CheckFailure("the returned sequence contains BOS; return only the generated tokens")
        if len(seq) > max_len or 1 in seq[:-1]:
            raise CheckFailure("the sequence must stop right after EOS and have at most max_len tokens")
        if len(seq) < max_len and seq[-1:] != [1]:
            raise CheckFailure("a sequence stopped before max_len without EOS; stop only after EOS or max_len tokens")
    n = 3000
    gen = generator(case_seed(0))
    for case, kw in [("temperature=1", dict()), ("temperature=0.5", dict(temperature=0.5)), ("top_k=2", dict(top_k=2)),
                     ("top_p=0.6", dict(top_p=0.6)), ("temperature=2, top_k=3", dict(temperature=2.0, top_k=3))]:
        expected = _dist(logt[0], **kw)
        counts = torch.zeros(5, dtype=torch.float64)
        for seq in _draws(sample_sequence, n, case, step_fn, 0, 1, 1, generator=gen, **kw):
            tokens = _tokens("sample_sequence", seq, 5, case + ", max_len=1")
            if len(tokens) != 1:
                raise CheckFailure(f"with max_len=1 sample_sequence should return one token, got {len(tokens)} ({case})")
            counts[tokens[0]] += 1
        removed = int(counts[expected == 0].sum())
        if removed:
            raise CheckFailure(f"the first tokens are not drawn from the right distribution ({case}): tokens of "
                               f"probability 0 (BOS, or removed by the filters) were drawn {removed} times in {n}")
        freq = counts / n
        se = torch.sqrt(expected * (1 - expected) / n) + 1e-9
        if ((freq - expected).abs() > 6 * se + 1e-3).any():
            raise CheckFailure(f"the first tokens are not drawn from the right distribution ({case}): the frequency "
                               f"of a token in {n} draws is {float((freq - expected).abs().max()):.3f} away from "
                               "its probability, far more than chance allows")


def _hypotheses(got, V: int, case: str) -> list[tuple[list[int], float]]:
    if not isinstance(got, list) or not all(isinstance(h, (tuple, list)) and len(h) == 2 for h in got):
        raise CheckFailure(f"beam_search should return a list of (tokens, logprob) pairs ({case})")
    out = []
    for toks, s in got:
        score = as_number("a hypothesis' score", s, case)
        if not _isfinite(score):
            raise CheckFailure(f"a hypothesis' score is {score} ({case}); scores are finite total log-probabilities")
        out.append((_tokens("beam_search", toks, V, case), score))
    return out


def check_beam_search(beam_search: Callable) -> None:
    for case, V, seed, W, L in [("V=4, beam 3, max_len 4", 4, 21, 3, 4), ("V=5, beam 1, max_len 5", 5, 22, 1, 5),
                                ("V=4, beam 100, max_len 3 (exhaustive)", 4, 23, 100, 3)]:
        step_fn, logt = _markov(V, case_seed(seed))
        expected = _beam(step_fn, 0, 1, W, L)
        got = _hypotheses(call(beam_search, "beam_search", case, step_fn, 0, 1, W, L), V, case)
        for toks, s in got:
            if toks and toks[0] == 0:
                raise CheckFailure(f"hypotheses must not include BOS ({case})")
            true = sum(float(logt[([0] + toks)[i]][t]) for i, t in enumerate(toks))
            if abs(true - s) > 1e-6:
                raise CheckFailure(f"a hypothesis' score differs from its total log-probability by "
                                   f"{abs(true - s):.3g} ({case})")
            if len(toks) > L:
                raise CheckFailure(f"a hypothesis has {len(toks)} tokens, more than max_len={L} ({case})")
            if 1 in toks[:-1]:
                raise CheckFailure(f"a hypothesis continues after EOS ({case}); it must end at EOS")
        if len(got) != len(expected):
            more = len(got) > len(expected)
            raise CheckFailure(f"beam_search returned {abs(len(got) - len(expected))} hypotheses too "
                               f"{'many' if more else 'few'} ({case}): return the beam_width best hypotheses, "
                               "finished or not")
        scores = [s for _, s in got]
        if scores != sorted(scores, reverse=True):
            raise CheckFailure(f"the hypotheses are not sorted best first ({case})")
        off = [abs(s - e) for s, (_, e) in zip(scores, expected)]
        if max(off, default=0.0) > 1e-9:
            i = next(k for k, d in enumerate(off) if d > 1e-9)
            hint = ""
            if any(t[-1:] == [1] for t, _ in expected) and not any(t[-1:] == [1] for t, _ in got):
                hint = " No returned hypothesis ends with EOS: include EOS in a finished hypothesis."
            raise CheckFailure(f"the hypotheses are not the best ones ({case}): the score of the hypothesis of rank "
                               f"{i + 1} differs from the best possible by {off[i]:.3g}.{hint}")
        if sorted(tuple(t) for t, _ in got) != sorted(tuple(t) for t, _ in expected):
            raise CheckFailure(f"the returned hypotheses differ from the expected ones ({case})")
