"""Decoding rules against sort-and-cumsum oracles, brute-force enumeration and greedy equivalences."""
import itertools
import math

import pytest
import torch

from rnncourse.sampling import (beam_search, filtered_distribution, greedy_decode, sample_sequence,
                                temperature_softmax, top_k_filter, top_p_filter)

NEG = float("-inf")
BOS, EOS = 0, 1
DTYPES = [torch.float32, torch.float64]


def markov(V=4, seed=0, dtype=torch.float64):
    """A random first-order Markov model over V tokens; token 0 (BOS) is never produced.

    Returns ``(step_fn, logt)`` with ``logt[a, b] = log p(b | a)``. The step
    function returns a *view* of ``logt``, so a decoder that modifies what it
    receives would change the table (tests check that it does not).
    """
    g = torch.Generator().manual_seed(seed)
    table = torch.rand(V, V, generator=g, dtype=torch.float64) + 0.05
    table[:, BOS] = 0.0
    table = table / table.sum(1, keepdim=True)
    logt = table.log().to(dtype)

    def step_fn(prefix):
        assert prefix[0] == BOS
        return logt[prefix[-1]]
    return step_fn, logt


def seq_logprob(logt, seq):
    return sum(float(logt[([BOS] + seq)[i], t]) for i, t in enumerate(seq))


# ----------------------------------------------------------------------------- oracles (plain Python)

def oracle_top_k(probs, k):
    """Indices of the k largest probabilities (by sorting)."""
    order = sorted(range(len(probs)), key=lambda i: -probs[i])
    return set(order[:k])


def oracle_nucleus(probs, p):
    """Sort decreasingly, add tokens until the running total reaches p (that token included)."""
    order = sorted(range(len(probs)), key=lambda i: -probs[i])
    kept, mass = [], 0.0
    for i in order:
        kept.append(i)
        mass += probs[i]
        if mass >= p:
            break
    return set(kept)


def oracle_filtered(logp, temperature=1.0, top_k=None, top_p=None):
    """Temperature, then top-k, then top-p on the renormalised survivors; probabilities as a list."""
    z = [float(v) / temperature for v in logp]
    m = max(z)
    e = [math.exp(v - m) for v in z]
    probs = [v / sum(e) for v in e]
    keep = set(range(len(probs)))
    if top_k is not None:
        keep = oracle_top_k(probs, top_k)
    if top_p is not None:
        total = sum(probs[i] for i in keep)
        renorm = [probs[i] / total if i in keep else 0.0 for i in range(len(probs))]
        keep = oracle_nucleus(renorm, top_p) & keep
    total = sum(probs[i] for i in keep)
    return [probs[i] / total if i in keep else 0.0 for i in range(len(probs))]


def kept(out):
    return {i for i, v in enumerate(out.tolist()) if v != NEG}


# ----------------------------------------------------------------------------- temperature

@pytest.mark.parametrize("dtype", DTYPES)
def test_temperature_limits_and_shapes(dtype):
    z = torch.tensor([1.0, 3.0, 2.0, 3.5, -1.0], dtype=dtype)
    z0 = z.clone()
    torch.testing.assert_close(temperature_softmax(z, 1.0), torch.softmax(z, -1))
    # T -> 0: the arg-max gets all the mass, monotonically
    peaks = [float(temperature_softmax(z, T)[3]) for T in (1.0, 0.3, 0.1, 0.03, 1e-3)]
    assert peaks == sorted(peaks) and peaks[-1] > 1 - 1e-6
    cold = temperature_softmax(z, 1e-3)
    torch.testing.assert_close(cold, torch.nn.functional.one_hot(torch.tensor(3), 5).to(dtype), atol=1e-6, rtol=0)
    # T -> infinity: uniform
    hot = temperature_softmax(z, 1e6)
    assert hot.dtype == dtype
    torch.testing.assert_close(hot, torch.full_like(z, 0.2), atol=1e-5, rtol=0)
    # stable for huge logits; any leading shape, last axis
    big = temperature_softmax(torch.tensor([1000.0, -1000.0, 999.0], dtype=dtype), 0.5)
    assert torch.isfinite(big).all() and abs(float(big.sum()) - 1) < 1e-6
    batch = torch.randn(2, 3, 5, dtype=dtype)
    out = temperature_softmax(batch, 0.7)
    assert out.shape == (2, 3, 5) and out.dtype == dtype
    torch.testing.assert_close(out[1, 2], torch.softmax(batch[1, 2] / 0.7, -1))
    assert torch.equal(z, z0)


def test_temperature_bad_arguments():
    z = torch.randn(4)
    for bad in (0, 0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=rf"temperature must be .*got {bad!r}"):
            temperature_softmax(z, bad)
    with pytest.raises(TypeError, match="temperature"):
        temperature_softmax(z, "1.0")
    with pytest.raises(TypeError, match="logits"):
        temperature_softmax(torch.tensor([1, 2, 3]), 1.0)
    with pytest.raises(TypeError, match="logits"):
        temperature_softmax([1.0, 2.0], 1.0)


# ----------------------------------------------------------------------------- top-k

@pytest.mark.parametrize("dtype", DTYPES)
def test_top_k_against_sorting_oracle(dtype):
    g = torch.Generator().manual_seed(1)
    z = torch.randn(6, 9, generator=g, dtype=torch.float64).to(dtype)
    z0 = z.clone()
    for k in range(1, 10):
        out = top_k_filter(z, k)
        assert out.shape == z.shape and out.dtype == dtype
        for row in range(6):
            probs = torch.softmax(z[row].double(), -1).tolist()
            want = oracle_top_k(probs, k)
            assert kept(out[row]) == want
            # exact kept mass: the k largest probabilities, and the kept logits are untouched
            mass = float(torch.softmax(z[row].double(), -1)[sorted(want)].sum())
            assert mass == pytest.approx(sum(sorted(probs, reverse=True)[:k]), abs=1e-12)
            assert torch.equal(out[row, sorted(want)], z[row, sorted(want)])
    assert torch.equal(z, z0)


def test_top_k_ties_keep_exactly_k_and_large_k_is_a_copy():
    z = torch.tensor([[1.0, 2.0, 2.0, 2.0, 0.0], [3.0, 3.0, 3.0, 3.0, 3.0]])
    out = top_k_filter(z, 2)
    assert ((out > NEG).sum(-1) == 2).all()
    assert kept(out[0]) <= {1, 2, 3}
    out1 = top_k_filter(z, 4)
    assert kept(out1[0]) == {0, 1, 2, 3}
    for k in (5, 6, 100):
        same = top_k_filter(z, k)
        assert torch.equal(same, z) and same.data_ptr() != z.data_ptr()


def test_top_k_bad_arguments():
    z = torch.randn(5)
    for bad in (0, -2):
        with pytest.raises(ValueError, match=rf"k must be >= 1, got {bad}"):
            top_k_filter(z, bad)
    with pytest.raises(TypeError, match="k must be an int, got 1.5"):
        top_k_filter(z, 1.5)


# ----------------------------------------------------------------------------- top-p

@pytest.mark.parametrize("dtype", DTYPES)
def test_top_p_against_sort_and_cumsum_oracle(dtype):
    g = torch.Generator().manual_seed(2)
    z = (2.0 * torch.randn(8, 10, generator=g, dtype=torch.float64)).to(dtype)
    z0 = z.clone()
    for p in (0.01, 0.1, 0.25, 0.5, 0.66, 0.8, 0.9, 0.97, 0.999):
        out = top_p_filter(z, p)
        assert out.shape == z.shape and out.dtype == dtype
        for row in range(8):
            probs = torch.softmax(z[row].double(), -1).tolist()
            want = oracle_nucleus(probs, p)
            assert kept(out[row]) == want, (p, row)
            mass = sum(probs[i] for i in want)
            assert mass >= p - 1e-12
            # smallest set: without its least probable member it would fall below p
            assert len(want) == 1 or mass - min(probs[i] for i in want) < p
            assert torch.equal(out[row, sorted(want)], z[row, sorted(want)])
    assert torch.equal(z, z0)


def test_top_p_keeps_the_token_crossing_the_threshold():
    logits = torch.tensor([0.1, 0.5, 0.15, 0.25], dtype=torch.float64).log()
    # sorted: 0.5, 0.25, 0.15, 0.1; running totals 0.5, 0.75, 0.9, 1.0
    assert kept(top_p_filter(logits, 0.4)) == {1}
    assert kept(top_p_filter(logits, 0.6)) == {1, 3}  # 0.25 crosses 0.6: kept
    assert kept(top_p_filter(logits, 0.76)) == {1, 3, 2}
    assert kept(top_p_filter(logits, 0.95)) == {0, 1, 2, 3}
    assert kept(top_p_filter(logits, 1e-9)) == {1}  # always at least one


def test_top_p_ties_and_p_equal_one():
    logits = torch.tensor([0.2, 0.3, 0.2, 0.3]).log()
    two = top_p_filter(logits, 0.5)
    assert kept(two) == {1, 3}
    three = top_p_filter(logits, 0.65)
    assert len(kept(three)) == 3 and {1, 3} <= kept(three)  # exactly one of the tied 0.2s
    # p = 1 keeps every token, even one whose probability is far below float precision
    tiny = torch.tensor([0.0, 2.0, -80.0, 1.0], dtype=torch.float64)
    for dtype in DTYPES:
        assert torch.equal(top_p_filter(tiny.to(dtype), 1.0), tiny.to(dtype))
    # tokens already removed (-inf) stay removed and do not count
    masked = torch.tensor([NEG, 0.0, 0.0, NEG])
    assert kept(top_p_filter(masked, 0.9)) == {1, 2}


def test_top_p_bad_arguments():
    z = torch.randn(5)
    for bad in (0.0, -0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=rf"p must be in \(0, 1\], got {bad!r}"):
            top_p_filter(z, bad)
    with pytest.raises(TypeError, match="p must be a number"):
        top_p_filter(z, "0.5")


# ----------------------------------------------------------------------------- filtered distribution

def test_filtered_distribution_matches_the_oracle_and_the_documented_order():
    g = torch.Generator().manual_seed(3)
    for _ in range(30):
        logp = torch.log_softmax(2 * torch.randn(7, generator=g, dtype=torch.float64), -1)
        for kw in (dict(), dict(temperature=0.5), dict(top_k=3), dict(top_p=0.7),
                   dict(temperature=2.0, top_k=4, top_p=0.6), dict(temperature=0.3, top_p=0.9)):
            got = filtered_distribution(logp, **kw)
            assert got.dtype == torch.float64
            torch.testing.assert_close(got, torch.tensor(oracle_filtered(logp.tolist(), **kw), dtype=torch.float64),
                                       atol=1e-12, rtol=0)
    # temperature before top-p: at T = 0.25, [0.5, 0.3, 0.2] becomes [0.87, 0.11, 0.02]
    logp = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64).log()
    assert (filtered_distribution(logp, top_p=0.7) > 0).tolist() == [True, True, False]
    assert (filtered_distribution(logp, temperature=0.25, top_p=0.7) > 0).tolist() == [True, False, False]
    # top-k before top-p: [0.4, 0.3, 0.2, 0.1] cut to 2 tokens renormalises to [4/7, 3/7]
    logp = torch.tensor([0.4, 0.3, 0.2, 0.1], dtype=torch.float64).log()
    assert (filtered_distribution(logp, top_k=2, top_p=0.5) > 0).tolist() == [True, False, False, False]


# ----------------------------------------------------------------------------- greedy

@pytest.mark.parametrize("dtype", DTYPES)
def test_greedy_follows_the_argmax_chain(dtype):
    step_fn, logt = markov(V=6, seed=0, dtype=dtype)
    logt0 = logt.clone()
    seq = greedy_decode(step_fn, BOS, EOS, max_len=10)
    prev = BOS
    for t in seq:
        assert t == int(logt[prev].argmax())
        prev = t
    assert BOS not in seq and (seq[-1] == EOS or len(seq) == 10) and EOS not in seq[:-1]
    assert len(greedy_decode(step_fn, BOS, 99, max_len=3)) == 3  # EOS never produced: stops at max_len
    assert torch.equal(logt, logt0)


def test_greedy_includes_eos_and_breaks_ties_towards_the_smallest_id():
    logits = torch.tensor([[NEG, 0.1, 0.5, 0.5],  # after BOS: tokens 2 and 3 tie
                           [NEG, 0.0, 0.0, 0.0], [NEG, 0.9, 0.0, 0.0],  # after 2: EOS
                           [NEG, 0.0, 0.0, 0.0]])
    table = logits.log_softmax(-1)
    seen = []

    def step_fn(prefix):
        seen.append(list(prefix))
        return table[prefix[-1]]
    assert greedy_decode(step_fn, BOS, EOS, 5) == [2, EOS]
    assert seen == [[BOS], [BOS, 2]]  # every prefix starts with BOS and grows by one token


# ----------------------------------------------------------------------------- sampling

def test_sample_sequence_is_reproducible_and_valid():
    step_fn, logt = markov(V=8, seed=3)
    logt0 = logt.clone()
    runs = [sample_sequence(step_fn, BOS, EOS, 30, generator=torch.Generator().manual_seed(s)) for s in (5, 5, 6)]
    assert runs[0] == runs[1] and runs[0] != runs[2]
    for seq in runs:
        assert BOS not in seq and len(seq) <= 30 and EOS not in seq[:-1]
    assert sample_sequence(step_fn, BOS, EOS, 12, top_k=1) == greedy_decode(step_fn, BOS, EOS, 12)
    assert sample_sequence(step_fn, BOS, EOS, 12, temperature=1e-4) == greedy_decode(step_fn, BOS, EOS, 12)
    # the documented order: temperature before top-p, top-k before top-p (see the filter test)
    logp3 = torch.tensor([0.0, 0.5, 0.3, 0.2], dtype=torch.float64).log()
    g = torch.Generator().manual_seed(0)
    draws = {sample_sequence(lambda p: logp3, BOS, 99, 1, temperature=0.25, top_p=0.7, generator=g)[0]
             for _ in range(200)}
    assert draws == {1}
    assert torch.equal(logt, logt0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sample_sequence_first_token_frequencies_match_the_filtered_distribution(dtype):
    step_fn, logt = markov(V=5, seed=3, dtype=dtype)
    g = torch.Generator().manual_seed(0)
    n = 2500
    for kw in [dict(), dict(temperature=0.5), dict(top_k=2), dict(top_p=0.6), dict(temperature=2.0, top_p=0.9)]:
        counts = torch.zeros(5, dtype=torch.float64)
        for _ in range(n):
            counts[sample_sequence(step_fn, BOS, EOS, 1, generator=g, **kw)[0]] += 1
        expected = torch.tensor(oracle_filtered(logt[BOS].tolist(), **kw), dtype=torch.float64)
        # chi-square-like bound: every frequency within 5 standard errors of its probability
        se = torch.sqrt(expected * (1 - expected) / n)
        assert ((counts / n - expected).abs() <= 5 * se + 1e-9).all(), (kw, counts / n, expected)
        assert (counts[expected == 0] == 0).all(), kw


def test_sample_sequence_bad_arguments():
    step_fn, _ = markov()
    cases = [(dict(temperature=0.0), r"temperature must be .*got 0.0"), (dict(top_k=0), r"top_k must be >= 1, got 0"),
             (dict(top_p=1.5), r"top_p must be in \(0, 1\], got 1.5"), (dict(max_len=0), r"max_len must be >= 1, got 0"),
             (dict(bos_id=-1), r"bos_id must be a non-negative token id, got -1")]
    for kw, msg in cases:
        args = dict(step_fn=step_fn, bos_id=BOS, eos_id=EOS, max_len=5) | kw
        with pytest.raises(ValueError, match=msg):
            sample_sequence(**args)
    with pytest.raises(TypeError, match="generator"):
        sample_sequence(step_fn, BOS, EOS, 3, generator=123)
    with pytest.raises(TypeError, match="step_fn must be callable"):
        sample_sequence("model", BOS, EOS, 3)
    with pytest.raises(TypeError, match="step_fn must return"):
        sample_sequence(lambda p: torch.zeros(2, 3), BOS, EOS, 3)


# ----------------------------------------------------------------------------- beam search

def all_sequences(V, eos, max_len):
    """Every complete sequence: ends at its first EOS, or has max_len tokens without EOS."""
    for n in range(1, max_len + 1):
        for seq in itertools.product(range(1, V), repeat=n):
            ends = [i for i, t in enumerate(seq) if t == eos]
            if (ends and ends[0] == n - 1) or (not ends and n == max_len):
                yield list(seq)


def naive_beam(logt, W, L):
    """The documented rule, written plainly: all V extensions, no early stop."""
    beams, finished = [([], 0.0)], []
    for _ in range(L):
        cands = [(s + [v], sc + float(logt[([BOS] + s)[-1], v])) for s, sc in beams for v in range(logt.shape[1])]
        cands = sorted((c for c in cands if c[1] > NEG), key=lambda c: -c[1])[:W]
        beams = [c for c in cands if c[0][-1] != EOS and len(c[0]) < L]
        finished += [c for c in cands if c[0][-1] == EOS or len(c[0]) == L]
        if not beams:
            break
    return sorted(finished + beams, key=lambda c: -c[1])[:W]


def canon(hyps):
    return sorted((round(sc, 9), tuple(s)) for s, sc in hyps)  # ties may come in any order


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_search_wide_beam_equals_exhaustive_search(seed):
    V, L = 4, 4
    step_fn, logt = markov(V, seed)
    brute = sorted(((s, seq_logprob(logt, s)) for s in all_sequences(V, EOS, L)), key=lambda c: -c[1])
    beams = beam_search(step_fn, BOS, EOS, V ** L, L)
    assert len(beams) == len(brute) and canon(beams) == canon(brute)
    scores = [sc for _, sc in beams]
    assert scores == sorted(scores, reverse=True)
    # a narrower beam returns the top of the exhaustive ranking only when it finds it; it never scores higher
    for W in (1, 2, 3, 7):
        got = beam_search(step_fn, BOS, EOS, W, L)
        assert 1 <= len(got) <= W and got[0][1] <= brute[0][1] + 1e-12


@pytest.mark.parametrize("seed,W,L", [(3, 2, 5), (4, 3, 6), (5, 5, 6), (6, 4, 3)])
def test_narrow_beam_matches_the_plain_rule_and_scores_are_true_logprobs(seed, W, L):
    step_fn, logt = markov(V=5, seed=seed)
    got = beam_search(step_fn, BOS, EOS, W, L)
    assert canon(got) == canon(naive_beam(logt, W, L))
    for seq, sc in got:
        assert sc == pytest.approx(seq_logprob(logt, seq), abs=1e-12)
        assert BOS not in seq and len(seq) <= L and EOS not in seq[:-1]
        assert seq[-1] == EOS or len(seq) == L


def test_beam_finds_what_greedy_misses_and_width_one_is_greedy():
    a, b = 2, 3
    probs = torch.tensor([[0, 0, 0.55, 0.45], [0, 1, 0, 0], [0, 0.34, 0.33, 0.33], [0, 0.9, 0.05, 0.05]])
    logt = probs.double().log()
    step_fn = lambda prefix: logt[prefix[-1]]  # noqa: E731
    assert greedy_decode(step_fn, BOS, EOS, 2) == [a, EOS]
    best, second = beam_search(step_fn, BOS, EOS, 2, 2)
    assert best[0] == [b, EOS] and best[1] == pytest.approx(math.log(0.45 * 0.9))
    assert second[0] == [a, EOS] and second[1] == pytest.approx(math.log(0.55 * 0.34))
    for seed in range(4):
        step_fn, logt = markov(V=6, seed=seed)
        (seq, score), = beam_search(step_fn, BOS, EOS, 1, 7)
        assert seq == greedy_decode(step_fn, BOS, EOS, 7)
        assert score == pytest.approx(seq_logprob(logt, seq), abs=1e-12)


def test_beam_search_float32_and_inputs_unchanged():
    step64, logt64 = markov(V=5, seed=7)
    step32, logt32 = markov(V=5, seed=7, dtype=torch.float32)
    before = logt32.clone()
    a, b = beam_search(step64, BOS, EOS, 4, 5), beam_search(step32, BOS, EOS, 4, 5)
    assert [s for s, _ in a] == [s for s, _ in b]
    assert [sc for _, sc in a] == pytest.approx([sc for _, sc in b], abs=1e-5)
    assert all(isinstance(sc, float) for _, sc in b)
    assert torch.equal(logt32, before)


def test_beam_search_bad_arguments():
    step_fn, _ = markov()
    with pytest.raises(ValueError, match="beam_width must be >= 1, got 0"):
        beam_search(step_fn, BOS, EOS, 0, 5)
    with pytest.raises(ValueError, match="max_len must be >= 1, got -3"):
        beam_search(step_fn, BOS, EOS, 2, -3)
    with pytest.raises(TypeError, match="eos_id must be an int token id"):
        beam_search(step_fn, BOS, 1.0, 2, 3)
    with pytest.raises(ValueError, match="max_len must be >= 1, got 0"):
        greedy_decode(step_fn, BOS, EOS, 0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_filters_and_sampling_stay_on_the_device():
    z = torch.randn(3, 7, device="cuda")
    for out in (temperature_softmax(z, 0.7), top_k_filter(z, 2), top_p_filter(z, 0.8)):
        assert out.device == z.device and out.dtype == z.dtype
    logt = torch.randn(4, 4, device="cuda").log_softmax(-1)
    g = torch.Generator(device="cuda").manual_seed(0)
    seq = sample_sequence(lambda p: logt[p[-1]], BOS, EOS, 5, top_p=0.9, generator=g)
    assert 1 <= len(seq) <= 5
