import math

import numpy as np
import pytest
import torch
from torch import nn

import rnncourse.hidden_units as ref_units
import rnncourse.lm as ref
from autograder.checks import CheckFailure
from tests.checks_purity import mutate_then_match
from autograder.checks.ch06_language_model import (check_bits_per_char, check_CharRNNLM, check_detach_state,
                                                   check_find_unit, check_lm_loss, check_make_lm_pairs,
                                                   check_perplexity)
from tests.check_suites import fails_cleanly, nan_like, passes_for_students, returning


def test_correct_variants_pass():
    check_make_lm_pairs(ref.make_lm_pairs)
    check_make_lm_pairs(lambda ids, b, e: (torch.tensor([b] + ids.tolist(), dtype=ids.dtype),
                                           torch.tensor(ids.tolist() + [e], dtype=ids.dtype)))
    check_lm_loss(ref.lm_loss)
    def loss_manual(logits, targets, pad_id=None):
        logp = torch.log_softmax(logits, -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        keep = torch.ones_like(logp) if pad_id is None else (targets != pad_id).to(logp.dtype)
        return -(logp * keep).sum() / keep.sum().clamp(min=1)
    check_lm_loss(loss_manual)
    def loss_where(logits, targets, pad_id=None):
        nll = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none")
        if pad_id is None:
            return nll.mean()
        keep = targets.flatten() != pad_id
        return torch.where(keep, nll, torch.zeros_like(nll)).sum() / max(int(keep.sum()), 1)
    check_lm_loss(loss_where)
    check_perplexity(ref.perplexity)
    check_perplexity(lambda v: float(math.e ** float(v)))
    check_bits_per_char(ref.bits_per_char)
    check_bits_per_char(lambda v: float(v) * math.log2(math.e))
    check_detach_state(ref.detach_state)
    def detach_rec(s):
        if s is None or isinstance(s, torch.Tensor):
            return None if s is None else s.detach()
        return type(s)([detach_rec(x) for x in s])
    check_detach_state(detach_rec)
    check_CharRNNLM(ref.CharRNNLM)


class LMNoHead(nn.Module):
    def __init__(self, V, E, H, cell="lstm"):
        super().__init__()
        if cell not in ("rnn", "lstm", "gru"):
            raise ValueError(cell)
        self.emb = nn.Embedding(V, E)
        self.rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](E, H)

    def forward(self, x, state=None):
        out, state = self.rnn(self.emb(x), state)
        return out, state


class LMBidirectional(ref.CharRNNLM):
    def __init__(self, V, E, H, cell="lstm"):
        super().__init__(V, E, H, cell)
        self.rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](E, H // 2 + 1, bidirectional=True)
        self.head = nn.Linear(2 * (H // 2 + 1), V)


class LMAlwaysLSTM(ref.CharRNNLM):
    def __init__(self, V, E, H, cell="lstm"):
        if cell not in ("rnn", "lstm", "gru"):
            raise ValueError(cell)
        super().__init__(V, E, H, "lstm")


class LMZeroesX(ref.CharRNNLM):
    def forward(self, x, state=None):
        x.zero_()
        return super().forward(x, state)


class LMChangesState(ref.CharRNNLM):
    def forward(self, x, state=None):
        if state is not None:
            with torch.no_grad():
                for s in (state if isinstance(state, tuple) else (state,)):
                    s.mul_(0.5)
        return super().forward(x, state)


class LMZeroesEmbedding(ref.CharRNNLM):
    def forward(self, x, state=None):
        with torch.no_grad():
            self.embedding.weight.zero_()
        return super().forward(x, state)


class LMIgnoresX(ref.CharRNNLM):
    def forward(self, x, state=None):
        return super().forward(torch.zeros_like(x), state)


@pytest.mark.parametrize("check,impl,message", [
    (check_CharRNNLM, LMZeroesX, "CharRNNLM.forward modified its input x"),
    (check_CharRNNLM, LMChangesState, "CharRNNLM.forward modified its input state"),
    (check_CharRNNLM, LMIgnoresX, "do not depend on the input x"),
    (check_CharRNNLM, LMZeroesEmbedding, "do not depend on the input x"),
    (check_lm_loss, mutate_then_match(ref.lm_loss), "lm_loss modified its input logits"),
    (check_lm_loss, lambda l, t, p=None: ref.lm_loss(l, t.clamp_(max=0), p), "lm_loss modified its input targets"),
    (check_perplexity, mutate_then_match(ref.perplexity), "perplexity modified its input mean_nll"),
    (check_detach_state, mutate_then_match(ref.detach_state), "detach_state modified its input state"),
    (check_make_lm_pairs, lambda ids, b, e: ref.make_lm_pairs(ids.add_(1), b, e), "modified its input ids"),
    (check_make_lm_pairs, lambda ids, b, e: ref.make_lm_pairs(ids, b, e)[::-1], "swapped"),
    (check_make_lm_pairs, lambda ids, b, e: (ref.make_lm_pairs(ids, b, e)[0],) * 2, "not shifted by one"),
    (check_make_lm_pairs, lambda ids, b, e: (ids, ids), "length L \\+ 1"),
    (check_lm_loss, lambda l, t, p=None: ref.lm_loss(l, t, p) * t.numel() if p is None else ref.lm_loss(l, t, p) * (t != p).sum(), "sum instead of the mean"),
    (check_lm_loss, lambda l, t, p=None: ref.lm_loss(l, t), "padding positions are not ignored"),
    (check_lm_loss, lambda l, t, p=None: -torch.log(torch.softmax(l, -1).gather(-1, t.unsqueeze(-1))).mean(), "NaN or inf|differs|padding"),
    (check_lm_loss, lambda l, t, p=None: ref.lm_loss(l, t, p).detach(), "not differentiable"),
    (check_lm_loss, lambda l, t, p=None: ref.lm_loss(l, t) if p is None else
        -(torch.log_softmax(l, -1).gather(-1, t.unsqueeze(-1)).squeeze(-1) * (t != p)).sum() / (t != p).sum(),
     "should be 0, not 0 / 0"),
    (check_perplexity, lambda v: 2.0 ** float(v), "2 \\*\\* mean_nll"),
    (check_perplexity, lambda v: math.exp(v) if isinstance(v, float) else torch.exp(v), "Python float"),
    (check_bits_per_char, lambda v: float(v) * math.log(2), "divide by ln 2"),
    (check_detach_state, lambda s: s, "still attached"),
    (check_detach_state, lambda s: s.detach() if isinstance(s, torch.Tensor) else s, "still attached"),
    (check_detach_state, lambda s: None if s is None else (s.detach() if isinstance(s, torch.Tensor) else [ref.detach_state(x) for x in s]), "keep the structure|should return a tuple"),
    (check_CharRNNLM, LMNoHead, "logits has shape"),
    (check_CharRNNLM, LMBidirectional, "depend on later inputs"),
    (check_CharRNNLM, LMAlwaysLSTM, 'should use torch.nn.RNN'),
])
def test_mistakes_are_named(check, impl, message):
    with pytest.raises(CheckFailure, match=message):
        check(impl)


@pytest.mark.parametrize("check,impl,message", [
    (check_perplexity, lambda v: math.exp(float(v)) + 1.0, "differs"),
    (check_bits_per_char, lambda v: math.log2(float(v)) if float(v) > 0 else -1.0, "log2\\(mean_nll\\)"),
    (check_bits_per_char, lambda v: float(v) / math.log(10), "differs"),
    (check_bits_per_char, lambda v: torch.tensor(float(v)) / math.log(2) if isinstance(v, torch.Tensor) else float(v) / math.log(2), "Python float"),
])
def test_more_unit_conversion_mistakes(check, impl, message):
    with pytest.raises(CheckFailure, match=message):
        check(impl)


# ----------------------------------------------------------------------------- find_unit

def _corr_loop(acts, prop):
    """np.corrcoef column by column; a constant column counts 0; numpy scalars come back."""
    if acts.shape[0] != prop.shape[0] or np.ptp(prop) == 0:
        raise ValueError(f"bad shapes {acts.shape} / {prop.shape} or constant prop")
    corr = np.array([0.0 if np.ptp(acts[:, u]) == 0 else np.corrcoef(acts[:, u], prop)[0, 1]
                     for u in range(acts.shape[1])])
    u = np.argmax(np.abs(corr))
    return u, corr[u]                                       # np.int64, np.float64


def _corr_zscores(acts, prop):
    """Mean product of z-scores, float32 kept for float32 input; Python max picks the first of equal keys."""
    if len(prop) != len(acts):
        raise ValueError(f"acts {acts.shape} and prop {prop.shape} differ in length")
    p = prop.astype(acts.dtype)
    if p.std() == 0:
        raise ValueError("prop is constant")
    sd = acts.std(axis=0)
    z = (acts - acts.mean(axis=0)) / np.where(sd == 0, 1, sd)
    r = (z * ((p - p.mean()) / p.std())[:, None]).mean(axis=0)
    u = max(range(acts.shape[1]), key=lambda k: abs(r[k]))
    return u, float(r[u])


def _mistake(score, signed=False, nan=False):
    """A find_unit that ranks units by score(acts_c, p_c, acts, p) (per unit) and returns the unit's r."""
    def find_unit(acts, prop):
        if acts.shape[0] != prop.shape[0] or np.ptp(prop) == 0:
            raise ValueError("bad input")
        a, p = acts.astype(float), prop.astype(float)
        a_c, p_c = a - a.mean(0), p - p.mean()
        with np.errstate(all="ignore"):
            r = (p_c @ a_c) / np.sqrt((a_c ** 2).sum(0) * (p_c @ p_c))
            s = score(a_c, p_c, a, p, r)
        u = int(np.argmax(s if signed else np.abs(s))) if nan else int(np.nanargmax(s if signed else np.abs(s)))
        return u, float(np.nan_to_num(r[u])) if not nan else float(r[u])
    return find_unit


def _corrcoef_naive(acts, prop, zero_nan=False):
    with np.errstate(all="ignore"):
        corr = np.array([np.corrcoef(acts[:, u], prop)[0, 1] for u in range(acts.shape[1])])
    u = int(np.argmax(np.abs(corr)))                      # np.argmax returns the first NaN
    return u, float(np.nan_to_num(corr[u]) if zero_nan else corr[u])


def _swapped(acts, prop):
    corr = np.nan_to_num([np.corrcoef(acts[u], prop)[0, 1] for u in range(acts.shape[0])])
    u = int(np.argmax(np.abs(corr)))
    return u, float(corr[u])


def _last_of_ties(acts, prop):
    r = ref_units.unit_correlations(acts, prop)
    u = len(r) - 1 - int(np.argmax(np.abs(r)[::-1]))     # the last of the largest |r|
    return u, float(r[u])


def _centres_in_place(acts, prop):
    acts -= acts.mean(axis=0)
    return ref_units.find_unit(acts, prop)


def test_find_unit_correct_variants_pass():
    check_find_unit(ref_units.find_unit)
    check_find_unit(_corr_loop)
    check_find_unit(_corr_zscores)
    check_find_unit(_mistake(lambda a_c, p_c, a, p, r: np.nan_to_num(r) ** 2, signed=True))   # argmax of r²


@pytest.mark.parametrize("impl,message", [
    (_corrcoef_naive, "correlation NaN"),
    (lambda a, p: _corrcoef_naive(a, p, zero_nan=True), "constant unit's correlation came out as NaN"),
    (_mistake(lambda a_c, p_c, a, p, r: r, signed=True, nan=False), "largest signed correlation"),
    (_mistake(lambda a_c, p_c, a, p, r: p_c @ a_c), "covariance or a dot product"),
    (_mistake(lambda a_c, p_c, a, p, r: p @ a), "covariance or a dot product"),
    (_mistake(lambda a_c, p_c, a, p, r: (p @ a) / np.sqrt((a ** 2).sum(0) * (p @ p))), "means were not subtracted"),
    (_swapped, "axes are swapped"),
    (lambda a, p: (ref_units.find_unit(a, p)[0], abs(ref_units.find_unit(a, p)[1])), "wrong sign .*not its absolute"),
    (lambda a, p: (ref_units.find_unit(a, p)[0], -ref_units.find_unit(a, p)[1]), "wrong sign"),
    (lambda a, p: (ref_units.find_unit(a, p)[0], -abs(ref_units.find_unit(a, p)[1])), "wrong sign .*goes up as"),
    (lambda a, p: (ref_units.find_unit(a, p)[0], ref_units.find_unit(a, p)[1] * 0.9), "differs from the Pearson"),
    (lambda a, p: (float(ref_units.find_unit(a, p)[0]), ref_units.find_unit(a, p)[1]), "should be an int"),
    (lambda a, p: ref_units.find_unit(a, p)[0], "should return \\(unit, corr\\)"),
    (_last_of_ties, "later of two units with equal"),
    (_centres_in_place, "modified its input acts"),
    (lambda a, p: (0, 0.0) if np.ptp(p) == 0 else ref_units.find_unit(a, p), "for a constant prop; .*raise ValueError"),
    (lambda a, p: ref_units.find_unit(a[:len(p)], p[:len(a)]), "one position shorter"),
    (lambda a, p: (_ for _ in ()).throw(NotImplementedError), "not implemented yet"),
])
def test_find_unit_mistakes_are_named(impl, message):
    with pytest.raises(CheckFailure, match=message):
        check_find_unit(impl)


# ----------------------------------------------------------------------------- every student, every wrong type

CHECKS = [(check_make_lm_pairs, ref.make_lm_pairs), (check_lm_loss, ref.lm_loss), (check_perplexity, ref.perplexity),
          (check_bits_per_char, ref.bits_per_char), (check_detach_state, ref.detach_state),
          (check_CharRNNLM, ref.CharRNNLM), (check_find_unit, ref_units.find_unit)]


@pytest.mark.parametrize("check,impl", CHECKS + [(check_find_unit, _corr_zscores), (check_find_unit, _corr_loop)])
def test_every_student_passes_with_a_correct_answer(check, impl):
    passes_for_students(check, impl)




GARBAGE = [None, "x", [1.0, 2.0], 3, float("nan"), torch.zeros(2, 3), torch.tensor(float("nan")), (None, None),
           (torch.zeros(1), torch.zeros(1)), ("x", 0.5), np.zeros(3)]


def _junk_model(value):
    class Junk(nn.Module):
        def __init__(self, V, E, H, cell="lstm"):
            super().__init__()
            if cell not in ("rnn", "lstm", "gru"):
                raise ValueError(cell)
            self.emb = nn.Embedding(V, E)

        def forward(self, x, state=None):
            return value
    return Junk


@pytest.mark.parametrize("check,impl", CHECKS)
def test_wrong_types_fail_cleanly(check, impl):
    answers = [returning(g) for g in GARBAGE]
    if check not in (check_make_lm_pairs, check_CharRNNLM):  # outputs with floating-point values
        answers.append(lambda *a, **k: nan_like(impl(*a, **k)))
    if check is check_CharRNNLM:
        answers += [_junk_model(g) for g in GARBAGE] + [_junk_model((torch.full((6, 3, 11), float("nan")), None))]
    fails_cleanly(check, answers)
