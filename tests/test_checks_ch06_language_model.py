import math

import pytest
import torch
from torch import nn

import rnncourse.lm as ref
from autograder.checks import CheckFailure
from autograder.checks.ch06_language_model import (check_bits_per_char, check_CharRNNLM, check_detach_state,
                                                   check_lm_loss, check_make_lm_pairs, check_perplexity)


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


@pytest.mark.parametrize("check,impl,message", [
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
