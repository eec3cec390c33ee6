"""Hidden checks for chapter 07_sampling."""
from __future__ import annotations

import itertools
from typing import Callable

import torch

from autograder.checks import CheckFailure, call, expect_close, expect_unchanged, pure, snapshot
from autograder.checks._torchcase import generator, randn
from rnncourse import sampling as _ref

_temp = _ref.temperature_softmax
_topk = _ref.top_k_filter
_topp = _ref.top_p_filter
_greedy = _ref.greedy_decode
_beam = _ref.beam_search
_dist = _ref.filtered_distribution
_NEG = float("-inf")


def _markov(V: int, seed: int, eos: int = 1):
    gen = generator(seed)
    table = torch.rand(V, V, generator=gen, dtype=torch.float64) + 0.05
    table[:, 0] = 0.0
    table = table / table.sum(1, keepdim=True)
    logt = table.log()
    return pure(lambda prefix: logt[prefix[-1]].clone()), logt


def _expect_raises(fn, name, args, what):
    try:
        fn(*args)
    except ValueError:
        return
    except Exception as err:  # noqa: BLE001
        raise CheckFailure(f"{name} should raise ValueError for {what}, raised {type(err).__name__}") from None
    raise CheckFailure(f"{name} should raise ValueError for {what}")


def check_temperature_softmax(temperature_softmax: Callable) -> None:
    gen = generator(701)
    for case, z, T in [("T=1", randn(gen, 6), 1.0), ("T=0.5 on a (3, 5) batch", randn(gen, 3, 5), 0.5),
                       ("T=3", randn(gen, 8), 3.0), ("T=0.01", randn(gen, 4), 0.01),
                       ("logits around 1000", 1000 + randn(gen, 5), 0.7), ("float32", randn(gen, 5, dtype=torch.float32), 2.0)]:
        before = snapshot(z)
        got = call(temperature_softmax, "temperature_softmax", case, z, T)
        expected = _temp(z, T)
        expect_close("the probabilities", got, expected, case, atol=1e-6 if z.dtype == torch.float32 else 1e-9, mistakes={
            "the logits are multiplied by the temperature instead of divided": torch.softmax(z * T, -1),
            "the temperature is ignored": torch.softmax(z, -1),
            "softmax without subtracting the maximum overflows": torch.exp(z / T) / torch.exp(z / T).sum(-1, keepdim=True),
        })
        expect_unchanged("temperature_softmax", before, (z,), ["logits"])
    for bad in (0.0, -1.0):
        _expect_raises(temperature_softmax, "temperature_softmax", (randn(gen, 3), bad), f"temperature={bad}")


def check_top_k_filter(top_k_filter: Callable) -> None:
    gen = generator(702)
    for case, z, k in [("k=3 of 8", randn(gen, 8), 3), ("k=1", randn(gen, 6), 1), ("k=V", randn(gen, 5), 5),
                       ("k > V", randn(gen, 4), 10), ("k=2 on a (3, 6) batch", randn(gen, 3, 6), 2)]:
        before = snapshot(z)
        got = call(top_k_filter, "top_k_filter", case, z, k)
        expected = _topk(z, k)
        kept = (got > _NEG).sum(-1) if isinstance(got, torch.Tensor) else None
        if kept is not None and (kept == min(k, z.shape[-1]) + 1).all():
            raise CheckFailure(f"top_k_filter keeps k + 1 tokens ({case}); keep exactly the k largest")
        if kept is not None and (kept == max(1, min(k, z.shape[-1]) - 1)).all() and k > 1 and k < z.shape[-1]:
            raise CheckFailure(f"top_k_filter keeps k - 1 tokens ({case}); keep exactly the k largest")
        smallest = z.masked_fill(_topk(-z, k) > _NEG, _NEG) if k < z.shape[-1] else z
        expect_close("the filtered logits", got.masked_fill(got == _NEG, -1e30), expected.masked_fill(expected == _NEG, -1e30),
                     case, atol=1e-12, mistakes={"the k smallest logits are kept instead of the largest":
                                                 smallest.masked_fill(smallest == _NEG, -1e30)})
        expect_unchanged("top_k_filter", before, (z,), ["logits"])
    _expect_raises(top_k_filter, "top_k_filter", (randn(gen, 4), 0), "k=0")


def check_top_p_filter(top_p_filter: Callable) -> None:
    gen = generator(703)
    probs = torch.tensor([0.35, 0.25, 0.2, 0.1, 0.06, 0.04], dtype=torch.float64)
    for case, z, p in [("p=0.5", probs.log(), 0.5), ("p=0.8", probs.log(), 0.8), ("p=0.6 exactly on a boundary", probs.log(), 0.6),
                       ("p=1.0", probs.log(), 1.0), ("p=0.01", probs.log(), 0.01), ("p=0.9 on random logits", randn(gen, 10, scale=2.0), 0.9),
                       ("p=0.7 on a (2, 7) batch", randn(gen, 2, 7, scale=2.0), 0.7),
                       ("p=1.0 on 1,000 float32 logits", 3.0 * torch.randn(1000, generator=torch.Generator().manual_seed(8)), 1.0)]:
        before = snapshot(z)
        got = call(top_p_filter, "top_p_filter", case, z, p)
        expected = _topp(z, p)
        got_kept = got > _NEG
        exp_kept = expected > _NEG
        if not torch.equal(got_kept, exp_kept):
            n_got, n_exp = int(got_kept.sum()), int(exp_kept.sum())
            hint = ""
            if p >= 1.0 and n_got < n_exp:
                hint = (" With p = 1 every token is needed to reach a total of 1; in float32 a running sum of many"
                        " small probabilities can reach 1 before the last token, so accumulate in float64.")
            elif n_got == n_exp - got_kept.shape[0] if got_kept.dim() > 1 else n_got == n_exp - 1:
                hint = " It looks like the token that crosses the threshold p is dropped; it must be kept."
            elif n_got == 0:
                hint = " At least one token must always be kept."
            elif n_got > n_exp:
                hint = " Too many tokens are kept: keep the smallest set whose probability is >= p."
            raise CheckFailure(f"top_p_filter keeps the wrong tokens ({case}): {n_got} kept, expected {n_exp}.{hint}")
        expect_close("the kept logits", got.masked_fill(~got_kept, 0.0), expected.masked_fill(~exp_kept, 0.0), case, atol=1e-12)
        expect_unchanged("top_p_filter", before, (z,), ["logits"])
    for bad in (0.0, 1.5):
        _expect_raises(top_p_filter, "top_p_filter", (probs.log(), bad), f"p={bad}")


def check_greedy_decode(greedy_decode: Callable) -> None:
    for case, V, seed, max_len in [("V=5", 5, 1, 12), ("V=8", 8, 2, 20), ("max_len=1", 6, 3, 1)]:
        step_fn, _ = _markov(V, seed)
        got = call(greedy_decode, "greedy_decode", case, step_fn, 0, 1, max_len)
        expected = _greedy(step_fn, 0, 1, max_len)
        got = [int(t) for t in got] if isinstance(got, (list, tuple)) else got
        if got == [0] + expected or (isinstance(got, list) and got[:1] == [0]):
            raise CheckFailure(f"the returned sequence starts with BOS ({case}); return only the generated tokens")
        if got != expected:
            if isinstance(got, list) and got == expected[:-1] and expected and expected[-1] == 1:
                raise CheckFailure(f"the sequence should include EOS when it is produced ({case})")
            if isinstance(got, list) and len(got) > max_len:
                raise CheckFailure(f"more than max_len={max_len} tokens were generated ({case})")
            raise CheckFailure(f"greedy_decode returned {got}, expected {expected} ({case})")


def _draws(sample_sequence: Callable, n: int, case: str, *args, **kwargs) -> list:
    """``n`` calls in a row with the same arguments; one round trip where the function lives in a kernel."""
    repeat = getattr(sample_sequence, "repeat", None)
    if repeat is not None:
        return call(repeat, "sample_sequence", case, n, *args, **kwargs)
    return [call(sample_sequence, "sample_sequence", case, *args, **kwargs) for _ in range(n)]


def check_sample_sequence(sample_sequence: Callable) -> None:
    step_fn, logt = _markov(5, 11)
    a = call(sample_sequence, "sample_sequence", "seed 3", step_fn, 0, 1, 10, generator=torch.Generator().manual_seed(3))
    b = call(sample_sequence, "sample_sequence", "seed 3", step_fn, 0, 1, 10, generator=torch.Generator().manual_seed(3))
    if list(a) != list(b):
        raise CheckFailure("the same generator seed gave different sequences; draw with "
                           "torch.multinomial(probs, 1, generator=generator)")
    if 0 in list(a):
        raise CheckFailure("the returned sequence contains BOS; return only the generated tokens")
    if len(a) > 10 or (1 in list(a)[:-1]):
        raise CheckFailure("the sequence must stop right after EOS and have at most max_len tokens")
    n = 3000
    gen = torch.Generator().manual_seed(0)
    for case, kw in [("temperature=1", dict()), ("temperature=0.5", dict(temperature=0.5)), ("top_k=2", dict(top_k=2)),
                     ("top_p=0.6", dict(top_p=0.6)), ("temperature=2, top_k=3", dict(temperature=2.0, top_k=3))]:
        counts = torch.zeros(5)
        for seq in _draws(sample_sequence, n, case, step_fn, 0, 1, 1, generator=gen, **kw):
            counts[int(seq[0])] += 1
        expected = _dist(logt[0], **kw).float()
        freq = counts / n
        se = torch.sqrt(expected * (1 - expected) / n) + 1e-9
        if ((freq - expected).abs() > 5 * se + 1e-3).any() or (counts[expected == 0] > 0).any():
            raise CheckFailure(f"the first tokens are not drawn from the right distribution ({case}): "
                               f"frequencies {[round(float(f), 3) for f in freq]}, expected "
                               f"{[round(float(e), 3) for e in expected]}")


def check_beam_search(beam_search: Callable) -> None:
    for case, V, seed, W, L in [("V=4, beam 3, max_len 4", 4, 21, 3, 4), ("V=5, beam 1, max_len 5", 5, 22, 1, 5),
                                ("V=4, beam 100, max_len 3 (exhaustive)", 4, 23, 100, 3)]:
        step_fn, logt = _markov(V, seed)
        got = call(beam_search, "beam_search", case, step_fn, 0, 1, W, L)
        expected = _beam(step_fn, 0, 1, W, L)
        if not isinstance(got, list) or not all(isinstance(h, (tuple, list)) and len(h) == 2 for h in got):
            raise CheckFailure(f"beam_search should return a list of (tokens, logprob) pairs ({case})")
        if len(got) != len(expected):
            raise CheckFailure(f"beam_search returned {len(got)} hypotheses, expected {len(expected)} ({case})")
        scores = [float(s) for _, s in got]
        if scores != sorted(scores, reverse=True):
            raise CheckFailure(f"the hypotheses are not sorted best first ({case})")
        for toks, s in got:
            toks = [int(t) for t in toks]
            if toks and toks[0] == 0:
                raise CheckFailure(f"hypotheses must not include BOS ({case})")
            true = sum(float(logt[([0] + toks)[i]][t]) for i, t in enumerate(toks))
            if abs(true - float(s)) > 1e-6:
                raise CheckFailure(f"a hypothesis' score {float(s):.4f} is not its total log-probability {true:.4f} ({case})")
            if len(toks) > L:
                raise CheckFailure(f"a hypothesis has {len(toks)} tokens, more than max_len={L} ({case})")
            if 1 in toks[:-1]:
                raise CheckFailure(f"a hypothesis continues after EOS ({case}); it must end at EOS")
        canon = lambda hyps: sorted((round(float(s), 9), tuple(int(t) for t in toks)) for toks, s in hyps)  # noqa: E731
        if [round(s, 9) for s in scores] != [round(float(s), 9) for _, s in expected]:
            ends = [h for h in expected if h[0] and h[0][-1] == 1]
            hint = ""
            if ends and not any(list(map(int, t)) and int(t[-1]) == 1 for t, _ in got):
                hint = " No returned hypothesis ends with EOS: include EOS in a finished hypothesis."
            raise CheckFailure(f"the hypotheses' scores {[round(s, 4) for s in scores]} differ from the expected "
                               f"{[round(float(s), 4) for _, s in expected]} ({case}).{hint}")
        if canon(got) != canon(expected):
            raise CheckFailure(f"the returned hypotheses differ from the expected ones ({case})")
