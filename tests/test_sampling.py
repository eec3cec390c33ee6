"""Decoding rules against exact probability mass, brute-force enumeration and greedy equivalences."""
import itertools
import math

import pytest
import torch

from rnncourse.sampling import (beam_search, filtered_distribution, greedy_decode, sample_sequence,
                                temperature_softmax, top_k_filter, top_p_filter)

NEG = float("-inf")


def markov(V=4, seed=0, eos=1):
    """A random first-order Markov model over V tokens (0 = BOS never produced)."""
    g = torch.Generator().manual_seed(seed)
    table = torch.rand(V, V, generator=g, dtype=torch.float64) + 0.05
    table[:, 0] = 0.0
    table = table / table.sum(1, keepdim=True)
    logt = table.log()

    def step_fn(prefix):
        return logt[prefix[-1]].clone()
    return step_fn, logt


def oracle_nucleus(probs, p):
    order = sorted(range(len(probs)), key=lambda i: -probs[i])
    kept, mass = [], 0.0
    for i in order:
        kept.append(i)
        mass += probs[i]
        if mass >= p:
            break
    return set(kept)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_temperature_limits(dtype):
    z = torch.tensor([1.0, 3.0, 2.0, 3.5], dtype=dtype)
    torch.testing.assert_close(temperature_softmax(z, 1.0), torch.softmax(z, -1))
    cold = temperature_softmax(z, 1e-3)
    assert cold.dtype == dtype and cold[3] > 1 - 1e-6
    hot = temperature_softmax(z, 1e6)
    torch.testing.assert_close(hot, torch.full_like(z, 0.25), atol=1e-5, rtol=0)
    big = temperature_softmax(torch.tensor([1000.0, -1000.0], dtype=dtype), 0.5)
    assert torch.isfinite(big).all()
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="temperature"):
            temperature_softmax(z, bad)


def test_top_k_keeps_exactly_k_and_leaves_input():
    z = torch.tensor([[0.1, 2.0, -1.0, 0.5, 3.0], [5.0, 4.0, 3.0, 2.0, 1.0]])
    z0 = z.clone()
    out = top_k_filter(z, 2)
    assert ((out > NEG).sum(-1) == 2).all()
    assert out[0, 4] == 3.0 and out[0, 1] == 2.0 and out[1, 0] == 5.0 and out[1, 1] == 4.0
    assert torch.equal(z, z0)
    assert torch.equal(top_k_filter(z, 5), z) and torch.equal(top_k_filter(z, 50), z)
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        top_k_filter(z, 0)


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.7, 0.8, 0.95, 1.0])
def test_top_p_exact_mass_against_sorting_oracle(p):
    probs = [0.4, 0.25, 0.15, 0.1, 0.06, 0.04]
    logits = torch.tensor(probs, dtype=torch.float64).log()
    out = top_p_filter(logits, p)
    kept = {i for i in range(6) if out[i] > NEG}
    assert kept == oracle_nucleus(probs, p)
    kept_mass = sum(probs[i] for i in kept)
    assert kept_mass >= p - 1e-12
    # dropping the least likely kept token would fall below p: the set is the smallest
    assert kept_mass - min(probs[i] for i in kept) < p or len(kept) == 1


def test_top_p_keeps_the_token_crossing_the_threshold_and_at_least_one():
    logits = torch.tensor([0.5, 0.3, 0.2]).log()
    assert (top_p_filter(logits, 0.6) > NEG).tolist() == [True, True, False]
    assert (top_p_filter(logits, 1e-9) > NEG).tolist() == [True, False, False]
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="p must be in"):
            top_p_filter(logits, bad)


def test_greedy_follows_the_argmax_chain():
    step_fn, logt = markov()
    seq = greedy_decode(step_fn, 0, 1, max_len=10)
    prev = 0
    for t in seq:
        assert t == int(logt[prev].argmax())
        prev = t
    assert seq[-1] == 1 or len(seq) == 10
    assert len(greedy_decode(step_fn, 0, 99, max_len=3)) == 3


def test_sample_sequence_reproducible_and_matches_the_filtered_distribution():
    step_fn, logt = markov(V=5, seed=3)
    a = sample_sequence(step_fn, 0, 1, 8, generator=torch.Generator().manual_seed(5))
    b = sample_sequence(step_fn, 0, 1, 8, generator=torch.Generator().manual_seed(5))
    assert a == b and 0 not in a
    g = torch.Generator().manual_seed(0)
    n = 4000
    for kw in [dict(), dict(temperature=0.5), dict(top_k=2), dict(top_p=0.6), dict(temperature=2.0, top_p=0.9)]:
        counts = torch.zeros(5)
        for _ in range(n):
            counts[sample_sequence(step_fn, 0, 1, 1, generator=g, **kw)[0]] += 1
        expected = filtered_distribution(logt[0], **kw)
        # chi-square-like bound: every frequency within 5 standard errors
        se = torch.sqrt(expected * (1 - expected) / n).float() + 1e-9
        assert ((counts / n - expected.float()).abs() <= 5 * se + 1e-6).all(), kw
        assert (counts[expected == 0] == 0).all(), kw
    assert sample_sequence(step_fn, 0, 1, 6, top_k=1) == greedy_decode(step_fn, 0, 1, 6)


def all_sequences(V, eos, max_len):
    for n in range(1, max_len + 1):
        for seq in itertools.product(range(1, V), repeat=n):
            ends = [i for i, t in enumerate(seq) if t == eos]
            if (ends and ends[0] == n - 1) or (not ends and n == max_len):
                yield list(seq)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_search_wide_beam_equals_exhaustive_search(seed):
    V, L = 4, 4
    step_fn, logt = markov(V, seed)
    score = lambda s: sum(float(logt[([0] + s)[i]][t]) for i, t in enumerate(s))
    brute = sorted(((s, score(s)) for s in all_sequences(V, 1, L)), key=lambda c: -c[1])
    W = 200
    beams = beam_search(step_fn, 0, 1, W, L)
    canon = lambda hyps: sorted((round(sc, 9), tuple(s)) for s, sc in hyps)  # ties in any order
    assert len(beams) == len(brute) and canon(beams) == canon(brute)
    assert [round(sc, 9) for _, sc in beams] == sorted((round(sc, 9) for _, sc in beams), reverse=True)
    top3 = beam_search(step_fn, 0, 1, 3, L)
    assert len(top3) == 3 and all(top3[i][1] >= top3[i + 1][1] for i in range(2))
    assert top3[0][1] <= brute[0][1] + 1e-12


def test_beam_width_one_is_greedy():
    step_fn, _ = markov(V=6, seed=4)
    (seq, _), = beam_search(step_fn, 0, 1, 1, 7)
    assert seq == greedy_decode(step_fn, 0, 1, 7)
    with pytest.raises(ValueError, match="beam_width must be >= 1"):
        beam_search(step_fn, 0, 1, 0, 5)
    with pytest.raises(ValueError, match="max_len must be >= 1"):
        greedy_decode(step_fn, 0, 1, 0)
