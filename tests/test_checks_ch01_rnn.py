"""The chapter-1 hidden checks pass correct code (however written) and explain typical mistakes."""
import numpy as np
import pytest

import rnncourse.rnn as ref
from autograder.checks import CheckFailure
from autograder.checks.ch01_rnn import check_cross_entropy, check_rnn_forward, check_rnn_step, check_softmax

# some of the wrong implementations below overflow on purpose
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def step_loop(x, h, W_ih, W_hh, b):  # explicit loops over the batch and units
    out = np.empty((x.shape[0], W_hh.shape[0]))
    for n in range(x.shape[0]):
        for j in range(W_hh.shape[0]):
            out[n, j] = np.tanh(W_ih[j] @ x[n] + W_hh[j] @ h[n] + b[j])
    return out


def step_fused(x, h, W_ih, W_hh, b):  # one fused matrix [W_ih W_hh]
    return np.tanh(np.concatenate([x, h], 1) @ np.concatenate([W_ih, W_hh], 1).T + b)


@pytest.mark.parametrize("impl", [ref.rnn_step, step_loop, step_fused])
def test_rnn_step_correct_variants_pass(impl):
    check_rnn_step(impl)


@pytest.mark.parametrize("impl,message", [
    (lambda x, h, Wi, Wh, b: np.tanh(x @ Wi.T + h @ Wh.T), "bias b is missing"),
    (lambda x, h, Wi, Wh, b: np.tanh(x @ Wi.T + h @ Wh + b), "without transposing"),
    (lambda x, h, Wi, Wh, b: x @ Wi.T + h @ Wh.T + b, "tanh is missing"),
    (lambda x, h, Wi, Wh, b: np.tanh(x @ Wi.T + b), "recurrent term"),
    (lambda x, h, Wi, Wh, b: (np.tanh(x @ Wi.T + h @ Wh.T + b)).astype(np.float32), "dtype float32"),
    (lambda x, h, Wi, Wh, b: np.tanh(x @ Wi.T + h.__iadd__(0.0) @ Wh.T + b) if h.__imul__(2.0) is not None else 0, "modified its input"),
])
def test_rnn_step_mistakes_are_named(impl, message):
    with pytest.raises(CheckFailure, match=message) as info:
        check_rnn_step(impl)
    assert "def check_" not in str(info.value) and "default_rng" not in str(info.value)


def forward_list(x, h0, W_ih, W_hh, b):
    hs, h = [], h0
    for t in range(x.shape[0]):
        h = ref.rnn_step(x[t], h, W_ih, W_hh, b)
        hs.append(h)
    return np.array(hs)


@pytest.mark.parametrize("impl", [ref.rnn_forward, forward_list])
def test_rnn_forward_correct_variants_pass(impl):
    check_rnn_forward(impl)


def forward_with_h0(x, h0, *w):
    return np.concatenate([h0[None], ref.rnn_forward(x, h0, *w)])


def forward_shifted(x, h0, *w):
    hs = ref.rnn_forward(x, h0, *w)
    return np.concatenate([h0[None], hs[:-1]])


def forward_no_carry(x, h0, W_ih, W_hh, b):
    return np.stack([ref.rnn_step(x[t], h0, W_ih, W_hh, b) for t in range(x.shape[0])])


@pytest.mark.parametrize("impl,message", [
    (forward_with_h0, "without h0"),
    (forward_shifted, "off-by-one"),
    (forward_no_carry, "not carried"),
    (lambda x, h0, Wi, Wh, b: ref.rnn_forward(x, h0, Wi, Wh, 0 * b), "bias b is missing"),
])
def test_rnn_forward_mistakes_are_named(impl, message):
    with pytest.raises(CheckFailure, match=message):
        check_rnn_forward(impl)


def softmax_logsumexp(z):
    m = z.max(-1, keepdims=True)
    return np.exp(z - m - np.log(np.exp(z - m).sum(-1, keepdims=True)))


@pytest.mark.parametrize("impl", [ref.softmax, softmax_logsumexp])
def test_softmax_correct_variants_pass(impl):
    check_softmax(impl)


@pytest.mark.parametrize("impl,message", [
    (lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True), "NaN or inf|overflows"),
    (lambda z: np.exp(z - z.max(0, keepdims=True)) / np.exp(z - z.max(0, keepdims=True)).sum(0, keepdims=True), "first axis"),
    (lambda z: np.exp(z - z.max()) / np.exp(z - z.max()).sum(), "differs"),
])
def test_softmax_mistakes_are_named(impl, message):
    with pytest.raises(CheckFailure, match=message):
        check_softmax(impl)


def ce_onehot(logits, targets):
    logp = np.log(ref.softmax(logits) + 0)  # fine for moderate logits only
    V = logits.shape[-1]
    return float(-(np.eye(V)[targets] * ref.log_softmax(logits)).sum() / targets.size)


@pytest.mark.parametrize("impl", [ref.cross_entropy, ce_onehot])
def test_cross_entropy_correct_variants_pass(impl):
    check_cross_entropy(impl)


@pytest.mark.parametrize("impl,message", [
    (lambda l, t: ref.cross_entropy(l, t) * t.size, "sum over positions"),
    (lambda l, t: -ref.cross_entropy(l, t), "minus sign"),
    (lambda l, t: float(-np.mean(np.log(np.take_along_axis(np.exp(l) / np.exp(l).sum(-1, keepdims=True), t[..., None], -1)))), "NaN or inf|differs"),
    (lambda l, t: float(-np.mean(ref.log_softmax(l).max(-1))), "most likely class"),
])
def test_cross_entropy_mistakes_are_named(impl, message):
    with pytest.raises(CheckFailure, match=message):
        check_cross_entropy(impl)


def test_not_implemented_is_reported_plainly():
    def stub(*args):
        raise NotImplementedError()
    with pytest.raises(CheckFailure, match="not implemented yet"):
        check_rnn_step(stub)


def test_patching_numpy_does_not_change_the_verdict(monkeypatch):
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    monkeypatch.setattr(np, "max", lambda *a, **k: 0.0)
    with pytest.raises(CheckFailure):
        check_rnn_step(lambda x, h, Wi, Wh, b: np.zeros((x.shape[0], Wh.shape[0])))
