import math
from collections import Counter

import pytest
import torch
from torch import nn

import rnncourse.bleu_score as bref
import rnncourse.captioning as ref
from autograder.checks import CheckFailure
from autograder.checks.ch09_captioning import (check_bleu, check_conditioned_gru_step, check_init_state_from_features,
                                               check_modified_precision, check_spatial_attention)
from tests.checks_purity import mutate_then_match
from tests.check_suites import fails_cleanly, nan_like, passes_for_students, returning


# ----------------------------------------------------------------------------- correct variants

def init_linear(features, W, b):
    return torch.tanh(nn.functional.linear(features, W, b))


def init_einsum(features, W, b):
    return torch.tanh(torch.einsum("bf,hf->bh", features, W) + b)


def gru_split_weights(x_t, v, h, W_ih, W_hh, b_ih, b_hh):
    E, H = x_t.shape[1], h.shape[1]
    gi = x_t @ W_ih[:, :E].T + v @ W_ih[:, E:].T + b_ih  # W_ih [x; v] = W_ix x + W_iv v
    gh = h @ W_hh.T + b_hh
    r = torch.sigmoid(gi[:, :H] + gh[:, :H])
    z = torch.sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
    n = torch.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    return n + z * (h - n)


def attention_loop(h, grid, W_h, W_g, w):
    B, L, _ = grid.shape
    scores = torch.stack([torch.tanh(grid[:, l] @ W_g.T + h @ W_h.T) @ w for l in range(L)], dim=1)
    scores = scores - scores.max(1, keepdim=True).values
    weights = scores.exp() / scores.exp().sum(1, keepdim=True)
    return (weights.unsqueeze(-1) * grid).sum(1), weights


def precision_counter(hyp, refs, n):
    grams = Counter(tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1))
    best = Counter()
    for r in refs:
        best |= Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1))  # | keeps the maximum count
    return sum((grams & best).values()), sum(grams.values())


def bleu_from_counter(hyp, refs, max_n=4):
    logs = 0.0
    for n in range(1, max_n + 1):
        c, t = precision_counter(hyp, refs, n)
        if c == 0:
            return 0.0
        logs += math.log(c / t) / max_n
    r = min((len(x) for x in refs), key=lambda L: (abs(L - len(hyp)), L))
    c = len(hyp)
    return math.exp(logs) * (1.0 if c > r else math.exp(1 - r / c))


@pytest.mark.parametrize("check,impl", [
    (check_init_state_from_features, ref.init_state_from_features),
    (check_init_state_from_features, init_linear),
    (check_init_state_from_features, init_einsum),
    (check_conditioned_gru_step, ref.conditioned_gru_step),
    (check_conditioned_gru_step, gru_split_weights),
    (check_spatial_attention, ref.spatial_attention),
    (check_spatial_attention, attention_loop),
    (check_modified_precision, bref.modified_precision),
    (check_modified_precision, precision_counter),
    (check_bleu, bref.bleu),
    (check_bleu, bleu_from_counter),
])
def test_correct_variants_pass(check, impl):
    check(impl)


# ----------------------------------------------------------------------------- named mistakes

def gru_on(u, h, W_ih, W_hh, b_ih, b_hh):
    return ref.conditioned_gru_step(u[:, :0], u, h, W_ih, W_hh, b_ih, b_hh)


def attention_no_softmax(h, grid, W_h, W_g, w):
    scores = torch.tanh(grid @ W_g.T + (h @ W_h.T).unsqueeze(1)) @ w
    return (scores.unsqueeze(-1) * grid).sum(1), scores


def attention_batch_softmax(h, grid, W_h, W_g, w):
    scores = torch.tanh(grid @ W_g.T + (h @ W_h.T).unsqueeze(1)) @ w
    weights = torch.softmax(scores, dim=0)
    return (weights.unsqueeze(-1) * grid).sum(1), weights


def attention_mean_context(h, grid, W_h, W_g, w):
    _, weights = ref.spatial_attention(h, grid, W_h, W_g, w)
    return grid.mean(1), weights


def precision_unclipped(hyp, refs, n):
    grams = [tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1)]
    seen = {tuple(r[i:i + n]) for r in refs for i in range(len(r) - n + 1)}
    return sum(g in seen for g in grams), len(grams)


def precision_sum_clip(hyp, refs, n):
    grams = Counter(tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1))
    total = Counter()
    for r in refs:
        total += Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1))
    return sum((grams & total).values()), sum(grams.values())


def bleu_arithmetic(hyp, refs, max_n=4):
    ps = [precision_counter(hyp, refs, n) for n in range(1, max_n + 1)]
    if any(c == 0 for c, _ in ps):
        return 0.0
    r = min((len(x) for x in refs), key=lambda L: (abs(L - len(hyp)), L))
    return bref.brevity_penalty(len(hyp), r) * sum(c / t for c, t in ps) / max_n


def bleu_longest_ref(hyp, refs, max_n=4):
    ps = [precision_counter(hyp, refs, n) for n in range(1, max_n + 1)]
    if any(c == 0 for c, _ in ps):
        return 0.0
    return bref.brevity_penalty(len(hyp), max(len(x) for x in refs)) * math.exp(
        sum(math.log(c / t) for c, t in ps) / max_n)


def bleu_unclipped(hyp, refs, max_n=4):
    ps = [precision_unclipped(hyp, refs, n) for n in range(1, max_n + 1)]
    if any(c == 0 for c, _ in ps):
        return 0.0
    r = min((len(x) for x in refs), key=lambda L: (abs(L - len(hyp)), L))
    return bref.brevity_penalty(len(hyp), r) * math.exp(sum(math.log(c / t) for c, t in ps) / max_n)


def bleu_crashes_on_empty(hyp, refs, max_n=4):
    ps = [precision_counter(hyp, refs, n) for n in range(1, max_n + 1)]
    return math.exp(sum(math.log(c / t) for c, t in ps) / max_n)


@pytest.mark.parametrize("check,impl,message", [
    (check_init_state_from_features, lambda v, W, b: v @ W.T + b, "the tanh is missing"),
    (check_init_state_from_features, lambda v, W, b: torch.tanh(v @ W.T), "the bias b is missing"),
    (check_init_state_from_features, lambda v, W, b: torch.sigmoid(v @ W.T + b), "a sigmoid was used"),
    (check_init_state_from_features, lambda v, W, b: torch.tanh(v @ W + b), "W is not transposed"),
    (check_init_state_from_features, lambda v, W, b: torch.tanh(v @ W.T + b).detach(), "not differentiable"),
    (check_init_state_from_features, lambda v, W, b: torch.tanh(v @ W.T + b).float(), "dtype|differs"),
    (check_conditioned_gru_step, lambda x, v, h, *w: gru_on(torch.cat([v, x], 1), h, *w), "wrong order"),
    (check_conditioned_gru_step, lambda x, v, h, *w: gru_on(torch.cat([x, 0 * v], 1), h, *w), "image is not fed"),
    (check_conditioned_gru_step, lambda x, v, h, Wi, Wh, bi, bh: gru_on(
        torch.cat([x, v], 1), h, *(torch.cat([W[len(W) // 3:2 * len(W) // 3], W[:len(W) // 3], W[2 * len(W) // 3:]])
                                   for W in (Wi, Wh, bi, bh))), "z, r, n"),
    (check_conditioned_gru_step, lambda x, v, h, *w: 2 * h - ref.conditioned_gru_step(x, v, h, *w) + 0 * h, "differs"),
    (check_spatial_attention, attention_no_softmax, "raw scores"),
    (check_spatial_attention, attention_batch_softmax, "batch axis"),
    (check_spatial_attention, attention_mean_context, "plain mean"),
    (check_spatial_attention, lambda *a: ref.spatial_attention(*a)[::-1], "weights has shape|context has shape"),
    (check_spatial_attention, lambda *a: ref.spatial_attention(*a)[1], "should return \\(context, weights\\)"),
    (check_modified_precision, precision_unclipped, "not clipped"),
    (check_modified_precision, precision_sum_clip, "sum over references"),
    (check_modified_precision, lambda h, r, n: (precision_counter(h, r, n)[0], len(h)), "total should be"),
    (check_bleu, bleu_arithmetic, "arithmetic mean"),
    (check_bleu, bleu_longest_ref, "longest reference"),
    (check_bleu, bleu_unclipped, "not clipped"),
    (check_bleu, bleu_crashes_on_empty, "raised|BLEU is 0"),
    (check_bleu, lambda h, r, n=4: torch.tensor([bref.bleu(h, r, n)] * 2), "should return a float"),
])
def test_mistakes_are_named(check, impl, message):
    with pytest.raises(CheckFailure, match=message):
        check(impl)


def test_missing_brevity_penalty_is_named():
    def no_bp(hyp, refs, max_n=4):
        ps = [precision_counter(hyp, refs, n) for n in range(1, max_n + 1)]
        if any(c == 0 for c, _ in ps):
            return 0.0
        return math.exp(sum(math.log(c / t) for c, t in ps) / max_n)
    with pytest.raises(CheckFailure, match="brevity penalty is missing"):
        check_bleu(no_bp)


def test_mutating_the_input_is_caught():
    def init_inplace(v, W, b):
        W.data.mul_(1.0001)
        return torch.tanh(v @ W.T + b)
    with pytest.raises(CheckFailure, match="differs|modified"):
        check_init_state_from_features(init_inplace)

    def bleu_pops(hyp, refs, max_n=4):
        score = bref.bleu(hyp, refs, max_n)
        refs.append(["x"])
        return score
    with pytest.raises(CheckFailure, match="modified its input"):
        check_bleu(bleu_pops)


def test_not_implemented_is_reported():
    def stub(*args):
        raise NotImplementedError()
    for check in (check_init_state_from_features, check_conditioned_gru_step, check_spatial_attention,
                  check_modified_precision, check_bleu):
        with pytest.raises(CheckFailure, match="not implemented"):
            check(stub)


# ----------------------------------------------------------------------------- every student, every wrong type

CHECKS = [(check_init_state_from_features, ref.init_state_from_features),
          (check_conditioned_gru_step, ref.conditioned_gru_step), (check_spatial_attention, ref.spatial_attention),
          (check_modified_precision, bref.modified_precision), (check_bleu, bref.bleu)]


@pytest.mark.parametrize("check,impl", CHECKS + [(check_init_state_from_features, init_einsum),
                                                 (check_conditioned_gru_step, gru_split_weights),
                                                 (check_spatial_attention, attention_loop),
                                                 (check_modified_precision, precision_counter),
                                                 (check_bleu, bleu_from_counter)])
def test_every_student_passes_with_a_correct_answer(check, impl):
    passes_for_students(check, impl)




GARBAGE = [None, "x", [1.0, 2.0], 3, float("nan"), float("inf"), torch.zeros(2, 3), torch.tensor(float("nan")),
           (None, None), (torch.zeros(1), torch.zeros(1)), ("x", 0.5), (float("inf"), 1), (1.5, 2), (True, 1),
           torch.zeros(3, dtype=torch.long)]


@pytest.mark.parametrize("check,impl", CHECKS)
def test_wrong_types_fail_cleanly(check, impl):
    answers = [returning(g) for g in GARBAGE]
    if check is not check_modified_precision:
        answers.append(lambda *a, **k: nan_like(impl(*a, **k)))
    if check in (check_init_state_from_features, check_conditioned_gru_step):
        answers.append(lambda *a, **k: impl(*a, **k).detach().numpy())
        answers.append(lambda *a, **k: impl(*a, **k).round().long())
    fails_cleanly(check, answers)


def gru_mutates_then_matches(x, v, h, *w):
    with torch.no_grad():
        h.mul_(0.5)
    return ref.conditioned_gru_step(x, v, h, *w)


@pytest.mark.parametrize("check,impl,message", [
    (check_conditioned_gru_step, gru_mutates_then_matches, "conditioned_gru_step modified its input h_prev"),
    (check_spatial_attention, mutate_then_match(ref.spatial_attention), "spatial_attention modified its input h"),
    (check_init_state_from_features, lambda v, W, b: ref.init_state_from_features(v, W, b.requires_grad_(False)),
     "modified its input b"),
    (check_modified_precision, lambda h, r, n: bref.modified_precision(h, r[:1] if r.pop() else r, n),
     "modified_precision modified its input references"),
    (check_bleu, lambda h, r, n=4: bref.bleu(h, r, n) + 0.01, "differs from the expected score by 0.01"),
])
def test_input_changes_and_more_mistakes_are_named(check, impl, message):
    with pytest.raises(CheckFailure, match=message):
        check(impl)
