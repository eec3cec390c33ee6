import pytest
import torch

import rnncourse.sampling as ref
from autograder.checks import CheckFailure, case_seed, cases_for
from autograder.checks.ch07_sampling import (_markov, check_beam_search, check_greedy_decode, check_sample_sequence,
                                             check_temperature_softmax, check_top_k_filter, check_top_p_filter)
from tests.checks_purity import mutate_then_match
from tests.checks_purity.ch07 import overwrites_step_outputs
from tests.check_suites import fails_cleanly, nan_like, passes_for_students, returning


def topp_loop(logits, p):
    if not 0 < p <= 1:
        raise ValueError(p)
    probs = torch.softmax(logits.double(), -1)
    out = logits.clone()
    flat_p, flat_out = probs.reshape(-1, probs.shape[-1]), out.reshape(-1, out.shape[-1])
    for row in range(flat_p.shape[0]):
        mass = 0.0
        for i in torch.argsort(flat_p[row], descending=True).tolist():
            if mass >= p:
                flat_out[row, i] = float("-inf")
            mass += float(flat_p[row, i])
    return out


def topp_drop_crossing(logits, p):
    probs = torch.softmax(logits, -1)
    sp, order = torch.sort(probs, -1, descending=True)
    drop = torch.cumsum(sp, -1) >= p
    drop[..., 0] = False
    return logits.masked_fill(torch.zeros_like(drop).scatter(-1, order, drop), float("-inf"))


def topp_float32_cumsum(logits, p):
    # accumulates in the logits' dtype: in float32 the running sum can reach 1 before the last token
    if not 0 < p <= 1:
        raise ValueError(p)
    probs = torch.softmax(logits, dim=-1)
    sp, order = torch.sort(probs, dim=-1, descending=True)
    drop = torch.cumsum(sp, dim=-1) - sp >= p
    return logits.masked_fill(torch.zeros_like(drop).scatter(-1, order, drop), float("-inf"))


def topk_plus_one(logits, k):
    if k < 1:
        raise ValueError(k)
    if k >= logits.shape[-1]:
        return logits.clone()
    kth = torch.topk(logits, min(k + 1, logits.shape[-1]), -1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def greedy_with_bos(step_fn, bos, eos, max_len):
    return [bos] + ref.greedy_decode(step_fn, bos, eos, max_len)


def sample_unseeded(step_fn, bos, eos, max_len, temperature=1.0, top_k=None, top_p=None, generator=None):
    return ref.sample_sequence(step_fn, bos, eos, max_len, temperature, top_k, top_p, None)


def sample_ignores_filters(step_fn, bos, eos, max_len, temperature=1.0, top_k=None, top_p=None, generator=None):
    return ref.sample_sequence(step_fn, bos, eos, max_len, temperature, None, None, generator)


def beam_worst_first(*a):
    return ref.beam_search(*a)[::-1]


def beam_without_eos(step_fn, bos, eos, W, L):
    return [(t[:-1] if t and t[-1] == eos else t, s) for t, s in ref.beam_search(step_fn, bos, eos, W, L)]


def beam_too_long(step_fn, bos, eos, W, L):
    return ref.beam_search(step_fn, bos, eos, W, L + 1)


def test_correct_variants_pass():
    check_temperature_softmax(ref.temperature_softmax)
    def temp_manual(z, T):
        if T <= 0:
            raise ValueError(T)
        e = torch.exp(z / T - (z / T).max(-1, keepdim=True).values)
        return e / e.sum(-1, keepdim=True)
    check_temperature_softmax(temp_manual)
    check_top_k_filter(ref.top_k_filter)
    check_top_k_filter(topk_sort)
    check_top_p_filter(ref.top_p_filter)
    check_top_p_filter(topp_loop)
    check_greedy_decode(ref.greedy_decode)
    check_sample_sequence(ref.sample_sequence)
    check_beam_search(ref.beam_search)


@pytest.mark.parametrize("check,impl,message", [
    (check_temperature_softmax, lambda z, T: torch.softmax(z * T, -1) if T > 0 else 1 / 0, "multiplied by the temperature"),
    (check_temperature_softmax, lambda z, T: torch.softmax(z, -1), "temperature is ignored"),
    (check_temperature_softmax, lambda z, T: torch.softmax(z / T, -1) if T != 0 else None, "should raise ValueError"),
    (check_top_k_filter, topk_plus_one, "k \\+ 1 tokens"),
    (check_top_k_filter, lambda z, k: ref.top_k_filter(-z, k) * -1 if k >= 1 else ref.top_k_filter(z, k), "differs|smallest|NaN or inf"),
    (check_top_p_filter, topp_drop_crossing, "crosses the threshold"),
    (check_top_p_filter, topp_float32_cumsum, "accumulate in float64"),
    (check_top_p_filter, lambda z, p: z.clone() if 0 < p <= 1 else 1 / 0, "Too many tokens"),
    (check_greedy_decode, greedy_with_bos, "starts with BOS"),
    (check_greedy_decode, lambda f, b, e, L: [t for t in ref.greedy_decode(f, b, e, L) if t != e], "include EOS"),
    (check_sample_sequence, sample_unseeded, "same generator seed"),
    (check_sample_sequence, sample_ignores_filters, "right distribution"),
    (check_beam_search, beam_worst_first, "best first"),
    (check_beam_search, beam_without_eos, "total log-probability"),
    (check_beam_search, beam_too_long, "more than max_len"),
])
def test_mistakes_are_named(check, impl, message):
    with pytest.raises(CheckFailure, match=message):
        check(impl)


def greedy_loop(step_fn, bos, eos, max_len):
    out = []
    while len(out) < max_len:
        logp = step_fn([bos] + out)
        best = max(range(logp.numel()), key=lambda v: float(logp[v]))
        out.append(best)
        if best == eos:
            break
    return out


def sample_cumsum(step_fn, bos, eos, max_len, temperature=1.0, top_k=None, top_p=None, generator=None):
    # same draws as the reference: multinomial on the filtered distribution
    return ref.sample_sequence(step_fn, bos, eos, max_len, float(temperature), top_k, top_p, generator)


def beam_exhaustive_small(step_fn, bos, eos, W, L):
    # a correct beam search written without topk: sort every extension
    beams, done = [([], 0.0)], []
    for _ in range(L):
        cand = [(t + [v], s + float(lp)) for t, s in beams for v, lp in enumerate(step_fn([bos] + t).tolist())
                if lp != float("-inf")]
        cand.sort(key=lambda c: -c[1])
        beams = []
        for t, s in cand[:W]:
            (done if t[-1] == eos or len(t) == L else beams).append((t, s))
        if not beams:
            break
    return sorted(done + beams, key=lambda c: -c[1])[:W]


def test_more_correct_variants_pass():
    check_greedy_decode(greedy_loop)
    check_sample_sequence(sample_cumsum)
    check_beam_search(beam_exhaustive_small)
    check_top_k_filter(lambda z, k: ref.top_k_filter(z.clone(), k))
    check_top_p_filter(lambda z, p: ref.top_p_filter(z.double(), p).to(z.dtype))


@pytest.mark.parametrize("check,impl,message", [
    (check_greedy_decode, lambda f, b, e, L: ref.greedy_decode(f, b, e, L + 1), "more than max_len|returned"),
    (check_top_k_filter, lambda z, k: z.masked_fill(z < z.max(-1, keepdim=True).values, float("-inf")) if k >= 1 else 1 / 0, "differs|keeps"),
    (check_top_p_filter, lambda z, p: z.masked_fill(torch.softmax(z, -1) < 0.5, float("-inf")) if 0 < p <= 1 else 1 / 0, "wrong tokens"),
    (check_sample_sequence, lambda f, b, e, L, temperature=1.0, top_k=None, top_p=None, generator=None:
        [b] + ref.sample_sequence(f, b, e, L - 1, temperature, top_k, top_p, generator), "contains BOS"),
])
def test_more_mistakes_are_named(check, impl, message):
    with pytest.raises(CheckFailure, match=message):
        check(impl)


# ----------------------------------------------------------------------------- every student, every wrong type

def topk_sort(z, k):
    if k < 1:
        raise ValueError(k)
    if k >= z.shape[-1]:
        return z.clone()
    kth = torch.sort(z, -1, descending=True).values[..., k - 1:k]
    return z.masked_fill(z < kth, float("-inf"))


FAST = [(check_temperature_softmax, ref.temperature_softmax), (check_top_k_filter, ref.top_k_filter),
        (check_top_k_filter, topk_sort), (check_top_p_filter, ref.top_p_filter), (check_top_p_filter, topp_loop),
        (check_greedy_decode, ref.greedy_decode), (check_greedy_decode, greedy_loop),
        (check_beam_search, ref.beam_search), (check_beam_search, beam_exhaustive_small)]


@pytest.mark.parametrize("check,impl", FAST)
def test_every_student_passes_with_a_correct_answer(check, impl):
    passes_for_students(check, impl)


def test_every_student_passes_with_a_correct_sampler():
    passes_for_students(check_sample_sequence, ref.sample_sequence, students=8)  # about 2 s each: 15,000 draws


def test_cases_differ_between_students():
    seen = []
    for i in range(3):
        with cases_for(f"student-{i}"):
            seen.append(_markov(4, case_seed(21))[1])
    assert not torch.equal(seen[0], seen[1]) and not torch.equal(seen[1], seen[2])




GARBAGE = [None, "x", [1.0, 2.0], 3, float("nan"), torch.zeros(2, 3), torch.tensor(float("nan")), (None, None),
           ["x"], [0.5], [(None, 0.0)], [([1], "x")], [([99], -1.0)], [[-3]], torch.zeros(4, dtype=torch.bool)]


@pytest.mark.parametrize("check,impl", [(check_temperature_softmax, ref.temperature_softmax),
                                        (check_top_k_filter, ref.top_k_filter), (check_top_p_filter, ref.top_p_filter),
                                        (check_greedy_decode, ref.greedy_decode),
                                        (check_sample_sequence, ref.sample_sequence), (check_beam_search, ref.beam_search)])
def test_wrong_types_fail_cleanly(check, impl):
    answers = [returning(g) for g in GARBAGE]
    if check in (check_temperature_softmax, check_top_k_filter, check_top_p_filter, check_beam_search):
        answers.append(lambda *a, **k: nan_like(impl(*a, **k)))
    fails_cleanly(check, answers)


def _mutates(fn):
    def answer(z, *args):
        out = fn(z, *args)
        z.mul_(2.0)
        return out
    return answer


@pytest.mark.parametrize("check,impl,message", [
    (check_temperature_softmax, _mutates(ref.temperature_softmax), "temperature_softmax modified its input logits"),
    (check_top_k_filter, _mutates(ref.top_k_filter), "top_k_filter modified its input logits"),
    (check_top_p_filter, _mutates(ref.top_p_filter), "top_p_filter modified its input logits"),
    (check_top_p_filter, mutate_then_match(ref.top_p_filter), "top_p_filter modified its input logits"),
    (check_greedy_decode, overwrites_step_outputs(ref.greedy_decode), "starts with BOS"),
    (check_sample_sequence, lambda f, b, e, L, generator=None, **k: ref.sample_sequence(
        f, b, e, L, generator=torch.Generator().manual_seed(0), **k), "not drawn from the right distribution"),
    (check_sample_sequence, lambda f, b, e, L, **k: ref.sample_sequence(f, b, e, min(L, 2), **k), "stopped before max_len"),
    (check_greedy_decode, lambda f, b, e, L: ref.greedy_decode(f, b, e, 2 if L > 2 else L), "stopped after 2 tokens"),
    (check_greedy_decode, lambda f, b, e, L: [2 if i == 1 else t for i, t in enumerate(ref.greedy_decode(f, b, e, L))],
     "first differs .* at position 1"),
])
def test_input_changes_and_more_mistakes_are_named(check, impl, message):
    with pytest.raises(CheckFailure, match=message):
        check(impl)
