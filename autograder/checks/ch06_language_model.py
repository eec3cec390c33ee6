"""Hidden checks for chapter 06_language_model: LM pairs, loss, perplexity, detaching, the model, unit search.

``check_find_unit`` plants a unit that tracks the property among units built to
win under the usual wrong searches (a constant unit for NaN, a huge-variance
unit for covariance and dot product, a unit far from 0 for the cosine, a
positively correlated one for the signed maximum) and names the mistake whose
answer the student's unit matches.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as _np
import torch
from torch import nn

from autograder.checks import (CheckFailure, call, case_seed, class_names, expect_close, expect_items,
                               expect_unchanged, snapshot, student_text, submodule_classes)
from autograder.checks._torchcase import as_number, expect_tensor, expect_untouched, frozen, generator, randn
from rnncourse import hidden_units as _units
from rnncourse import lm as _ref

_pairs = _ref.make_lm_pairs
_loss = _ref.lm_loss
_ppl = _ref.perplexity
_bpc = _ref.bits_per_char
_randint = torch.randint
_log_softmax = torch.log_softmax
_grad = torch.autograd.grad
_unit_correlations = _units.unit_correlations
_default_rng = _np.random.default_rng
_asarray = _np.asarray
_arange = _np.arange
_isnan = math.isnan
_Tensor = torch.Tensor


def check_make_lm_pairs(make_lm_pairs: Callable) -> None:
    gen = generator(case_seed(601))
    for case, L, bos, eos in [("length 6", 6, 1, 2), ("length 1", 1, 5, 0), ("length 20", 20, 0, 3)]:
        ids = _randint(4, 30, (L,), generator=gen)
        before = frozen(ids)
        ex, ey = _pairs(before, bos, eos)
        got = call(make_lm_pairs, "make_lm_pairs", case, ids, bos, eos)
        expect_untouched("make_lm_pairs", [before], (ids,), ["ids"])
        x, y = expect_items("make_lm_pairs", got, 2, case, "a pair (inputs, targets)")
        for what, g, e in (("inputs", x, ex), ("targets", y, ey)):
            expect_tensor(what, g, case + " (both must have length L + 1)", tuple(e.shape))
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


def _loss_tensor(got, case: str) -> torch.Tensor:
    if not isinstance(got, _Tensor):
        raise CheckFailure(f"lm_loss should return a scalar tensor (differentiable), got {type(got).__name__} ({case})")
    return got


def check_lm_loss(lm_loss: Callable) -> None:
    gen = generator(case_seed(602))
    for case, T, B, V, pad, dtype in [("T=5, B=3, V=7", 5, 3, 7, None, torch.float64),
                                      ("T=4, B=2, V=6 with padding", 4, 2, 6, 0, torch.float64),
                                      ("T=1, B=1, V=3", 1, 1, 3, None, torch.float32),
                                      ("T=3, B=2, V=5, large logits", 3, 2, 5, None, torch.float64)]:
        logits = randn(gen, T, B, V, dtype=dtype, scale=2.0)
        if "large" in case:
            logits = logits + 1000.0
        targets = _randint(0, V, (T, B), generator=gen)
        if pad is not None:
            targets[-1] = pad
            targets[0, 0] = pad
        logits.requires_grad_(True)
        before = frozen([logits, targets])
        ref_logits = logits.detach().clone().requires_grad_(True)
        expected = _loss(ref_logits, before[1], pad)
        e, = _grad(expected, ref_logits)
        logp = _log_softmax(ref_logits.detach().double(), -1)
        nll = -logp.gather(-1, before[1].unsqueeze(-1)).squeeze(-1)
        mistakes = {"the sum instead of the mean": nll.sum() if pad is None else nll[before[1] != pad].sum(),
                    "a missing minus sign": -expected.detach()}
        if pad is not None:
            mistakes["padding positions are not ignored"] = nll.mean()
            mistakes["padding is excluded from the sum but still counted in the mean"] = \
                nll[before[1] != pad].sum() / nll.numel()
        got = call(lm_loss, "lm_loss", case, logits, targets, pad) if pad is not None else \
            call(lm_loss, "lm_loss", case, logits, targets)
        expect_untouched("lm_loss", before, (logits, targets), ["logits", "targets"])
        got = _loss_tensor(got, case)
        tol = 1e-5 if dtype == torch.float32 else 1e-8
        expect_close("the loss", got.detach(), expected.detach(), case, atol=tol, mistakes=mistakes)
        if not got.requires_grad:
            raise CheckFailure(f"the loss is not differentiable ({case}): keep it a tensor connected to logits")
        try:
            g, = _grad(got, logits, allow_unused=True)
        except RuntimeError as err:
            raise CheckFailure(f"the gradient of the loss could not be computed ({case}): {student_text(err)}") from None
        if g is None:
            raise CheckFailure(f"the loss does not depend on logits ({case}): compute it from logits with torch "
                               "operations")
        expect_close("the gradient of the loss", g, e, case, atol=tol * 10)
    # every target is padding: nothing to average, so the loss is 0 (not 0 / 0)
    case = "T=2, B=2 with every target equal to pad_id"
    logits = randn(gen, 2, 2, 4, dtype=torch.float64).requires_grad_(True)
    targets = torch.zeros(2, 2, dtype=torch.long)
    before = frozen([logits, targets])
    got = call(lm_loss, "lm_loss", case, logits, targets, 0)
    expect_untouched("lm_loss", before, (logits, targets), ["logits", "targets"])
    value = as_number("the loss", _loss_tensor(got, case), case)
    if math.isnan(value) or value != 0.0:
        raise CheckFailure(f"lm_loss returned {value!r} ({case}): with no target left to average over the loss "
                           "should be 0, not 0 / 0")


def _check_conversion(fn: Callable, name: str, what: str, reference: Callable, values: tuple, atol: float,
                      mistakes_of: Callable) -> None:
    """``fn(mean_nll)`` for Python floats and a 0-d tensor: a Python float equal to ``reference``."""
    cases = [(f"a float mean_nll (case {i + 1} of {len(values)})", v) for i, v in enumerate(values)]
    for case, value in cases + [("a 0-d tensor mean_nll", torch.tensor(values[-1], dtype=torch.float64))]:
        before = frozen(value)
        v = float(before)
        expected, mistakes = reference(v), mistakes_of(v)
        got = call(fn, name, case, value)
        expect_untouched(name, [before], (value,), ["mean_nll"])
        if isinstance(value, _Tensor) and not isinstance(got, float):
            raise CheckFailure(f"{name} should return a Python float, got {type(got).__name__} for a 0-d tensor input")
        number = as_number(what, got, case)
        expect_close(what, torch.tensor(number), torch.tensor(expected), case, atol=atol * max(1.0, abs(expected)),
                     mistakes={k: torch.tensor(m) for k, m in mistakes.items()})


def check_perplexity(perplexity: Callable) -> None:
    _check_conversion(perplexity, "perplexity", "perplexity", _ppl, (0.0, 1.0, math.log(65), 4.2), 1e-9,
                      lambda v: {"2 ** mean_nll (the NLL is in nats, use e)": 2.0 ** v})


def check_bits_per_char(bits_per_char: Callable) -> None:
    _check_conversion(bits_per_char, "bits_per_char", "bits per char", _bpc, (0.0, 1.0, math.log(2), 3.3), 1e-9,
                      lambda v: {"mean_nll * ln 2 (divide by ln 2 instead)": v * math.log(2),
                                 "log2(mean_nll)": math.log2(v) if v > 0 else -1.0})


def check_detach_state(detach_state: Callable) -> None:
    gen = generator(case_seed(603))
    w = randn(gen, 3).requires_grad_(True)
    h = (randn(gen, 2, 3) * w)
    c = (randn(gen, 2, 3) * w)
    cases = [("a tensor", h), ("an LSTM state (h, c)", (h, c)), ("nested tuples ((h, c), (h, c))", ((h, c), (h, c))),
             ("a list [h, c]", [h, c])]
    for case, state in cases:
        before = frozen(state)
        got = call(detach_state, "detach_state", case, state)
        if not h.requires_grad or not c.requires_grad:
            raise CheckFailure("detach_state modified its input (use .detach(), not .detach_())")
        expect_untouched("detach_state", [before], (state,), ["state"])
        _compare_detached(got, before, case)
    if call(detach_state, "detach_state", "None", None) is not None:
        raise CheckFailure("detach_state(None) should return None")


def _compare_detached(got, ref, case):
    if isinstance(ref, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            raise CheckFailure(f"detach_state returned {type(got).__name__} where a tensor was expected ({case})")
        if got.requires_grad:
            raise CheckFailure(f"the state is still attached to the graph ({case}): call .detach() on every tensor")
        if got.shape != ref.shape or not torch.equal(got, ref.detach()):
            raise CheckFailure(f"detaching changed the values of the state ({case})")
        return
    if not isinstance(got, (tuple, list)) or len(got) != len(ref):
        raise CheckFailure(f"detach_state should keep the structure of the state ({case}): "
                           f"expected a {type(ref).__name__} of {len(ref)}, got {type(got).__name__}")
    if type(got) is not type(ref):
        raise CheckFailure(f"detach_state should return a {type(ref).__name__} for a {type(ref).__name__} ({case})")
    for g, r in zip(got, ref):
        _compare_detached(g, r, case)


def _expect_module(model, case: str) -> None:
    if "torch.nn.modules.module.Module" not in class_names(model):
        raise CheckFailure(f"CharRNNLM must be a torch.nn.Module subclass, got {type(model).__name__} ({case})")


def _forward(model, case: str, x: torch.Tensor, *state) -> tuple:
    """``model(x, *state)`` as ``(logits detached, state)``; the call must leave x and the state as they were."""
    inputs = frozen([x, *state])
    out = call(model, "CharRNNLM.forward", case, x, *state)
    expect_untouched("CharRNNLM.forward", inputs, (x, *state), ["x", "state"])
    logits, new_state = expect_items("forward", out, 2, case, "(logits, state)")
    T, B = x.shape
    expect_tensor("logits", logits, f"{case}, x of shape (T={T}, B={B})", (T, B, 11))
    if not logits.is_floating_point() or not torch.isfinite(logits.detach()).all():
        raise CheckFailure(f"logits should be finite floating-point numbers ({case})")
    return logits.detach(), new_state


def check_CharRNNLM(CharRNNLM: type) -> None:
    x = _randint(0, 11, (6, 3), generator=generator(case_seed(604)))
    changed = x.clone()
    changed[-1] = (changed[-1] + 1) % 11
    for cell in ("rnn", "lstm", "gru"):
        case = f'cell="{cell}", V=11, E=5, H=7'
        torch.manual_seed(case_seed(0))
        model = call(CharRNNLM, "CharRNNLM", case, 11, 5, 7, cell=cell)
        _expect_module(model, case)
        model = call(model.double, "CharRNNLM.double", case)
        _expect_module(model, case)
        call(model.eval, "CharRNNLM.eval", case)
        logits, _ = _forward(model, case, x.clone())
        again, _ = _forward(model, case, changed.clone())
        if (again[:-1] - logits[:-1]).abs().max() > 1e-9:
            raise CheckFailure(f"logits at earlier steps depend on later inputs ({case}); the model must read x left to right")
        if (again[-1] - logits[-1]).abs().max() <= 1e-9:
            raise CheckFailure(f"the logits do not depend on the input x ({case}): changing the last token did not "
                               "change the last step's logits; embed x and feed it to the recurrent layer")
        first, mid = _forward(model, case, x[:4].clone())
        second, _ = _forward(model, case + " with a state", x[4:].clone(), mid)
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
    original = {k: frozen(v) for k, v in original.items()}
    gen = generator(case_seed(605))
    used = 0
    for name, value in original.items():
        if not isinstance(value, torch.Tensor) or not value.is_floating_point() or value.numel() == 0:
            continue
        perturbed = {k: frozen(v) for k, v in original.items()}
        perturbed[name] = value + 0.5 * torch.randn(value.shape, generator=gen, dtype=value.dtype)
        call(model.load_state_dict, "CharRNNLM.load_state_dict", case, perturbed)
        moved = _forward(model, case, x.clone())[0]
        used += bool((moved - logits).abs().max() > 1e-6)
    call(model.load_state_dict, "CharRNNLM.load_state_dict", case, {k: frozen(v) for k, v in original.items()})
    return used


# ----------------------------------------------------------------------------- find_unit (numpy)

def _planted_units(seed: int, T: int, H: int, dtype=_np.float64, indicator: bool = False, sign: float = -1.0):
    """Activations (T, H) with one planted unit that tracks ``prop`` (T,), and traps for the usual mistakes.

    Returns ``(acts, prop)``. Unit 0 is constant zero (0 / 0 for a naive correlation and a cosine); the
    planted unit correlates with ``prop`` with the sign ``sign`` and has a small scale; one unit correlates
    weakly but has a huge scale (covariance and dot product prefer it); one is an unrelated unit on a large
    offset (the cosine prefers it when ``prop`` is positive, and here it is); one correlates moderately with
    the opposite sign (for ``sign = -1`` the signed maximum prefers it).
    """
    rng = _default_rng(seed)
    if indicator:
        prop = (rng.random(T) < 0.3).astype(_np.int64)                       # (T,) 0/1 flags
        spread = 1.0
    else:
        prop = ((_arange(T) * 7) % 23 + 3).astype(_np.float64)              # (T,) positive counter
        spread = 6.0
    z = (prop - prop.mean()) / spread                                         # (T,) about unit scale
    acts = rng.standard_normal((T, H)) * 0.5                                  # (T, H) unrelated units
    planted, big, offset, opposite = [int(u) for u in rng.permutation(_arange(1, H))[:4]]
    acts[:, 0] = 0.0
    acts[:, planted] = sign * 0.05 * z + 0.01 * rng.standard_normal(T)     # |r| ≈ 0.98, tiny variance
    acts[:, big] = 200.0 * (sign * 0.3 * z + rng.standard_normal(T))       # |r| ≈ 0.3, huge variance
    acts[:, offset] = 9.0 + 0.01 * rng.standard_normal(T)                   # unrelated, far from 0
    acts[:, opposite] = -sign * 0.6 * z + 0.8 * rng.standard_normal(T)     # |r| ≈ 0.6, the other sign
    return acts.astype(dtype), prop


def _unit_scores(acts: _np.ndarray, prop: _np.ndarray) -> dict[str, _np.ndarray]:
    """Per-unit scores of the correct search and of the usual wrong ones, in float64, NaN where 0 / 0."""
    a, p = _asarray(acts, dtype=_np.float64), _asarray(prop, dtype=_np.float64)
    a_c, p_c = a - a.mean(axis=0), p - p.mean()
    with _np.errstate(all="ignore"):
        return {
            "naive": (p_c @ a_c) / _np.sqrt((a_c ** 2).sum(axis=0) * (p_c @ p_c)),   # 0 / 0 = NaN kept
            "covariance": (p_c @ a_c) / len(p),
            "dot": p @ a,
            "cosine": (p @ a) / (_np.sqrt((a ** 2).sum(axis=0)) * _np.sqrt(p @ p)),
        }


def _wrong_units(acts: _np.ndarray, prop: _np.ndarray, r: _np.ndarray) -> dict[int, str]:
    """The unit each named mistake returns (only those that differ from the right one), mapped to its message."""
    s = _unit_scores(acts, prop)
    best = int(_np.argmax(_np.abs(r)))
    wrong: dict[int, str] = {}

    def name(unit: int, message: str) -> None:
        if unit != best and unit not in wrong:
            wrong[unit] = message

    name(int(_np.argmax(_np.abs(s["naive"]))),
         "a constant unit's correlation came out as NaN (0 / 0) and np.argmax picked it; a unit whose "
         "activation never changes has correlation 0")
    name(int(_np.argmax(r)), "the largest signed correlation was taken; rank the units by |correlation|: a "
                             "unit that goes down whenever the property goes up tracks it just as well")
    for score in ("covariance", "dot"):
        name(int(_np.nanargmax(_np.abs(s[score]))),
             "the covariance or a dot product was used; both grow with the unit's scale, so a large unit that "
             "barely follows the property wins: divide by the unit's and the property's standard deviations "
             "(that is the correlation)")
    name(int(_np.nanargmax(_np.abs(s["cosine"]))),
         "the means were not subtracted (that is the cosine similarity, which a unit far from 0 wins); "
         "centre each unit and the property on their means first")
    if acts.shape[0] == acts.shape[1]:
        swapped = _unit_scores(acts.T, prop)["naive"]
        name(int(_np.nanargmax(_np.abs(swapped))),
             "the axes are swapped: acts has one ROW per position (T, H), so unit u is the column acts[:, u]")
    return wrong


def check_find_unit(find_unit: Callable) -> None:
    cases = [("T=48, H=48", 48, 48, _np.float64, False, -1.0, 612),   # square first: swapped axes still run
             ("T=300, H=20", 300, 20, _np.float64, False, -1.0, 613),
             ("T=200, H=16, acts float32", 200, 16, _np.float32, False, -1.0, 614),
             ("T=250, H=12, prop a 0/1 integer flag", 250, 12, _np.float64, True, 1.0, 616)]
    for case, T, H, dtype, indicator, sign, seed in cases:
        acts, prop = _planted_units(case_seed(seed), T, H, dtype, indicator, sign)
        before = snapshot(acts, prop)
        r = _unit_correlations(*before)
        best = int(_np.argmax(_np.abs(r)))
        wrong = _wrong_units(*before, r)
        got = call(find_unit, "find_unit", case, acts, prop)
        expect_unchanged("find_unit", before, (acts, prop), ["acts", "prop"])
        unit, corr = _unit_and_corr(got, case)
        if unit != best:
            if _isnan(corr):
                raise CheckFailure(f"find_unit returned unit {unit} with correlation NaN ({case}). A unit whose "
                                   "activation never changes has correlation 0 / 0; count it as 0, not NaN, and "
                                   "never let np.argmax pick a NaN")
            hint = wrong.get(unit, "")
            raise CheckFailure(f"find_unit returned unit {unit}, but another unit has a larger |correlation| "
                               f"({case})." + (f" It looks like {hint}." if hint else ""))
        tol = 1e-5 if dtype == _np.float32 else 1e-9
        if abs(corr - r[best]) <= tol:
            continue
        if _isnan(corr):
            raise CheckFailure(f"find_unit returned the right unit but correlation NaN ({case})")
        if abs(corr + r[best]) <= tol:
            direction = "down" if r[best] < 0 else "up"
            raise CheckFailure(f"find_unit returned the right unit but its correlation has the wrong sign "
                               f"({case}); return the signed correlation, not its absolute value: "
                               f"this unit goes {direction} as the property goes up")
        raise CheckFailure(f"find_unit returned the right unit, but its correlation differs from the "
                           f"Pearson correlation by {abs(corr - r[best]):.3g} ({case})")
    _check_find_unit_ties(find_unit)
    _check_find_unit_errors(find_unit)


def _unit_and_corr(got, case: str) -> tuple[int, float]:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise CheckFailure(f"find_unit should return (unit, corr), got {type(got).__name__} ({case})")
    unit, corr = got
    if isinstance(unit, bool) or not isinstance(unit, (int, _np.integer)):
        raise CheckFailure(f"the unit should be an int (an index into the columns of acts), got "
                           f"{type(unit).__name__} ({case}); return int(...)")
    if isinstance(corr, bool) or not isinstance(corr, (float, int, _np.floating)):
        raise CheckFailure(f"the correlation should be a float, got {type(corr).__name__} ({case}); return float(...)")
    return int(unit), float(corr)


def _check_find_unit_ties(find_unit: Callable) -> None:
    # every sum here is exact in binary, so units 1 and 3 tie exactly, whatever the order of summation
    case = "two units with equal |correlation|"
    prop = _asarray([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    rising = prop * 2.0 + 1.0
    acts = _np.stack([prop % 2, -rising, prop % 3, rising, 4.0 - prop % 4], axis=1)   # (8, 5)
    before = snapshot(acts, prop)
    got = call(find_unit, "find_unit", case, acts, prop)
    expect_unchanged("find_unit", before, (acts, prop), ["acts", "prop"])
    unit, corr = _unit_and_corr(got, case)
    if unit == 3:
        raise CheckFailure(f"find_unit returned the later of two units with equal |correlation| ({case}); on a tie "
                           "return the lowest index (as np.argmax does)")
    if unit != 1:
        raise CheckFailure(f"find_unit returned unit {unit}, which does not have the largest |correlation| ({case})")
    if abs(corr + 1.0) > 1e-9:
        raise CheckFailure(f"find_unit returned the right unit but not its signed correlation ({case})")


def _check_find_unit_errors(find_unit: Callable) -> None:
    acts, prop = _planted_units(case_seed(615), 30, 6)
    for case, args, what in [
            ("a constant prop", (acts, _np.full(30, 4.0)),
             "a property that never changes has no correlation with anything: raise ValueError"),
            ("prop one position shorter than acts", (acts, prop[:-1]),
             "acts and prop must have the same number of positions T: raise ValueError naming both shapes")]:
        try:
            find_unit(*args)
        except ValueError:
            continue
        except NotImplementedError:
            raise CheckFailure("find_unit is not implemented yet (it raised NotImplementedError)") from None
        except Exception as err:  # noqa: BLE001 - any other error is the wrong kind
            raise CheckFailure(f"find_unit raised {type(err).__name__} for {case}; {what}") from None
        raise CheckFailure(f"find_unit returned a result for {case}; {what}")
