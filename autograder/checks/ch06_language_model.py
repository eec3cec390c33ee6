"""Hidden checks for chapter 06_language_model."""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from autograder.checks import (CheckFailure, call, class_names, expect_close, expect_shape, expect_unchanged,
                               snapshot, submodule_classes)
from autograder.checks._torchcase import generator, randn
from rnncourse import lm as _ref

_pairs = _ref.make_lm_pairs
_loss = _ref.lm_loss
_ppl = _ref.perplexity
_bpc = _ref.bits_per_char
_randint = torch.randint
_log_softmax = torch.log_softmax


def check_make_lm_pairs(make_lm_pairs: Callable) -> None:
    gen = generator(601)
    for case, L, bos, eos in [("length 6, BOS=1, EOS=2", 6, 1, 2), ("length 1, BOS=5, EOS=0", 1, 5, 0),
                              ("length 20, BOS=0, EOS=3", 20, 0, 3)]:
        ids = _randint(4, 30, (L,), generator=gen)
        before = snapshot(ids)
        got = call(make_lm_pairs, "make_lm_pairs", case, ids, bos, eos)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise CheckFailure(f"make_lm_pairs should return (inputs, targets), got {type(got).__name__}")
        x, y = got
        ex, ey = _pairs(ids, bos, eos)
        for what, g, e in (("inputs", x, ex), ("targets", y, ey)):
            expect_shape(what, g, tuple(e.shape), case + " (both must have length L + 1)")
        if torch.equal(x.long(), ey) and torch.equal(y.long(), ex):
            raise CheckFailure(f"inputs and targets are swapped ({case}): inputs start with BOS, targets end with EOS")
        if torch.equal(y.long(), ex):
            raise CheckFailure(f"targets are not shifted by one ({case}): the target at each position is the next token")
        if not torch.equal(x.long(), ex):
            raise CheckFailure(f"inputs are wrong ({case}): expected [BOS] + ids")
        if not torch.equal(y.long(), ey):
            raise CheckFailure(f"targets are wrong ({case}): expected ids + [EOS]")
        if x.dtype != ids.dtype or y.dtype != ids.dtype:
            raise CheckFailure(f"inputs/targets have dtype {x.dtype}/{y.dtype}, expected {ids.dtype} like ids")
        expect_unchanged("make_lm_pairs", before, (ids,), ["ids"])


def check_lm_loss(lm_loss: Callable) -> None:
    gen = generator(602)
    for case, T, B, V, pad, dtype in [("T=5, B=3, V=7", 5, 3, 7, None, torch.float64),
                                      ("T=4, B=2, V=6 with padding id 0", 4, 2, 6, 0, torch.float64),
                                      ("T=1, B=1, V=3", 1, 1, 3, None, torch.float32),
                                      ("logits around 1000", 3, 2, 5, None, torch.float64)]:
        logits = randn(gen, T, B, V, dtype=dtype, scale=2.0)
        if "1000" in case:
            logits = logits + 1000.0
        targets = _randint(0, V, (T, B), generator=gen)
        if pad is not None:
            targets[-1] = pad
            targets[0, 0] = pad
        logits.requires_grad_(True)
        got = call(lm_loss, "lm_loss", case, logits, targets, pad) if pad is not None else \
            call(lm_loss, "lm_loss", case, logits, targets)
        expected = _loss(logits, targets, pad)
        if not isinstance(got, torch.Tensor):
            raise CheckFailure(f"lm_loss should return a scalar tensor (differentiable), got {type(got).__name__}")
        logp = _log_softmax(logits.detach().double(), -1)
        nll = -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        mistakes = {"the sum instead of the mean": nll.sum() if pad is None else nll[targets != pad].sum(),
                    "a missing minus sign": -expected.detach()}
        if pad is not None:
            mistakes["padding positions are not ignored"] = nll.mean()
            mistakes["padding is excluded from the sum but still counted in the mean"] = nll[targets != pad].sum() / nll.numel()
        tol = 1e-5 if dtype == torch.float32 else 1e-8
        expect_close("the loss", got.detach(), expected.detach(), case, atol=tol, mistakes=mistakes)
        if not got.requires_grad:
            raise CheckFailure(f"the loss is not differentiable ({case}): keep it a tensor connected to logits")
        g, = torch.autograd.grad(got, logits)
        e, = torch.autograd.grad(expected, logits)
        expect_close("the gradient of the loss", g, e, case, atol=tol * 10)
    # every target is padding: nothing to average, so the loss is 0 (not 0 / 0)
    case = "T=2, B=2 with every target equal to pad_id=0"
    logits = randn(gen, 2, 2, 4, dtype=torch.float64).requires_grad_(True)
    got = call(lm_loss, "lm_loss", case, logits, torch.zeros(2, 2, dtype=torch.long), 0)
    if not isinstance(got, torch.Tensor):
        raise CheckFailure(f"lm_loss should return a scalar tensor (differentiable), got {type(got).__name__}")
    value = float(got.detach())
    if math.isnan(value) or value != 0.0:
        raise CheckFailure(f"lm_loss returned {value!r} ({case}): with no target left to average over the loss "
                           "should be 0, not 0 / 0")


def check_perplexity(perplexity: Callable) -> None:
    for value in (0.0, 1.0, math.log(65), 4.2):
        got = call(perplexity, "perplexity", f"mean_nll={value:.3f}", value)
        expect_close("perplexity", torch.tensor(float(got)), torch.tensor(_ppl(value)), f"mean_nll={value:.3f}",
                     atol=1e-9 * max(1.0, _ppl(value)), mistakes={"2 ** mean_nll (the NLL is in nats, use e)": torch.tensor(2.0 ** value)})
    got = call(perplexity, "perplexity", "a 0-d tensor", torch.tensor(1.5))
    if not isinstance(got, float):
        raise CheckFailure(f"perplexity should return a Python float, got {type(got).__name__} for a 0-d tensor input")


def check_bits_per_char(bits_per_char: Callable) -> None:
    for value in (0.0, 1.0, math.log(2), 3.3):
        got = call(bits_per_char, "bits_per_char", f"mean_nll={value:.3f}", value)
        expect_close("bits per char", torch.tensor(float(got)), torch.tensor(_bpc(value)), f"mean_nll={value:.3f}",
                     atol=1e-9, mistakes={"mean_nll * ln 2 (divide by ln 2 instead)": torch.tensor(value * math.log(2)),
                                          "log2(mean_nll)": torch.tensor(math.log2(value) if value > 0 else -1.0)})
    got = call(bits_per_char, "bits_per_char", "a 0-d tensor", torch.tensor(1.5))
    if not isinstance(got, float):
        raise CheckFailure(f"bits_per_char should return a Python float, got {type(got).__name__} for a 0-d tensor input")


def check_detach_state(detach_state: Callable) -> None:
    gen = generator(603)
    w = randn(gen, 3).requires_grad_(True)
    h = (randn(gen, 2, 3) * w)
    c = (randn(gen, 2, 3) * w)
    cases = [("a tensor", h), ("an LSTM state (h, c)", (h, c)), ("nested tuples ((h, c), (h, c))", ((h, c), (h, c))),
             ("a list [h, c]", [h, c])]
    for case, state in cases:
        got = call(detach_state, "detach_state", case, state)
        _compare_detached(got, state, case)
    if call(detach_state, "detach_state", "None", None) is not None:
        raise CheckFailure("detach_state(None) should return None")
    if not h.requires_grad:
        raise CheckFailure("detach_state modified its input (use .detach(), not .detach_())")


def _compare_detached(got, ref, case):
    if isinstance(ref, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            raise CheckFailure(f"detach_state returned {type(got).__name__} where a tensor was expected ({case})")
        if got.requires_grad:
            raise CheckFailure(f"the state is still attached to the graph ({case}): call .detach() on every tensor")
        if not torch.equal(got, ref.detach()):
            raise CheckFailure(f"detaching changed the values of the state ({case})")
        return
    if not isinstance(got, (tuple, list)) or len(got) != len(ref):
        raise CheckFailure(f"detach_state should keep the structure of the state ({case}): "
                           f"expected a {type(ref).__name__} of {len(ref)}, got {type(got).__name__}")
    if type(got) is not type(ref):
        raise CheckFailure(f"detach_state should return a {type(ref).__name__} for a {type(ref).__name__} ({case})")
    for g, r in zip(got, ref):
        _compare_detached(g, r, case)


def check_CharRNNLM(CharRNNLM: type) -> None:
    x = _randint(0, 11, (6, 3), generator=generator(604))
    for cell in ("rnn", "lstm", "gru"):
        case = f'cell="{cell}", V=11, E=5, H=7'
        torch.manual_seed(0)
        model = call(CharRNNLM, "CharRNNLM", case, 11, 5, 7, cell=cell)
        if "torch.nn.modules.module.Module" not in class_names(model):
            raise CheckFailure("CharRNNLM must be a torch.nn.Module subclass")
        model = call(model.double, "CharRNNLM.double", case)
        call(model.eval, "CharRNNLM.eval", case)
        out = call(model, "CharRNNLM.forward", case, x)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise CheckFailure(f"forward should return (logits, state), got {type(out).__name__} ({case})")
        logits, state = out
        expect_shape("logits", logits, (6, 3, 11), case + ", x of shape (T=6, B=3)")
        changed = x.clone()
        changed[-1] = (changed[-1] + 1) % 11
        again = call(model, "CharRNNLM.forward", case, changed)[0]
        if (again[:-1] - logits[:-1]).abs().max() > 1e-9:
            raise CheckFailure(f"logits at earlier steps depend on later inputs ({case}); the model must read x left to right")
        first, mid = call(model, "CharRNNLM.forward", case, x[:4])
        second, _ = call(model, "CharRNNLM.forward", case + " with a state", x[4:], mid)
        expect_close("logits when the state is passed back in", torch.cat([first, second]), logits,
                     case + ": running x[:4] then x[4:] with the returned state must equal running x", atol=1e-9)
        if _parameters_used(model, x, logits, case) < 3:
            raise CheckFailure(f"the logits do not depend on enough of the parameters ({case}); the embedding, "
                               "the recurrent layer and the head must all be used")
        want = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
        if not any(f"torch.nn.modules.rnn.{want.__name__}" in mro for _, mro in submodule_classes(model)):
            raise CheckFailure(f'cell="{cell}" should use torch.nn.{want.__name__}')
    try:
        CharRNNLM(11, 5, 7, cell="transformer")
    except ValueError:
        pass
    except Exception as err:  # noqa: BLE001
        raise CheckFailure(f'CharRNNLM(cell="transformer") should raise ValueError, raised {type(err).__name__}') from None
    else:
        raise CheckFailure('CharRNNLM(cell="transformer") should raise ValueError')


def _parameters_used(model, x: torch.Tensor, logits: torch.Tensor, case: str) -> int:
    """How many parameter tensors change the logits when perturbed (through state_dict / load_state_dict)."""
    original = call(model.state_dict, "CharRNNLM.state_dict", case)
    if not isinstance(original, dict):
        raise CheckFailure(f"state_dict() should return a dict of tensors ({case})")
    gen = generator(605)
    used = 0
    for name, value in original.items():
        if not isinstance(value, torch.Tensor) or not value.is_floating_point() or value.numel() == 0:
            continue
        perturbed = dict(original)
        perturbed[name] = value + 0.5 * torch.randn(value.shape, generator=gen, dtype=value.dtype)
        call(model.load_state_dict, "CharRNNLM.load_state_dict", case, perturbed)
        moved = call(model, "CharRNNLM.forward", case, x)[0]
        used += bool((moved - logits).abs().max() > 1e-6)
    call(model.load_state_dict, "CharRNNLM.load_state_dict", case, original)
    return used
