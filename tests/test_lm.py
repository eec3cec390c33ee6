import math

import pytest
import torch
import torch.nn.functional as F

from rnncourse.lm import CharRNNLM, bits_per_char, detach_state, lm_loss, make_lm_pairs, perplexity


def test_make_lm_pairs_shifts_by_one():
    ids = torch.tensor([5, 6, 7])
    x, y = make_lm_pairs(ids, bos_id=1, eos_id=2)
    assert x.tolist() == [1, 5, 6, 7] and y.tolist() == [5, 6, 7, 2]
    assert ids.tolist() == [5, 6, 7]  # input unchanged
    assert x.dtype == ids.dtype
    with pytest.raises(ValueError, match="ids must be 1-D"):
        make_lm_pairs(torch.zeros(2, 2, dtype=torch.long), 1, 2)
    with pytest.raises(TypeError, match="integers"):
        make_lm_pairs(torch.zeros(3), 1, 2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lm_loss_matches_manual_nll_and_ignores_pad(dtype):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 3, 6, generator=g, dtype=dtype, requires_grad=True)
    targets = torch.randint(1, 6, (4, 3), generator=g)
    targets[3, :] = 0  # padding
    loss = lm_loss(logits, targets, pad_id=0)
    logp = torch.log_softmax(logits.double(), dim=-1)
    nll = -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    mask = targets != 0
    expected = nll[mask].mean()
    assert abs(loss.item() - expected.item()) < 1e-6
    loss.backward()
    assert logits.grad is not None and torch.all(logits.grad[3] == 0)
    all_positions = lm_loss(logits, targets)
    assert abs(all_positions.item() - nll.mean().item()) < 1e-6


def test_lm_loss_shape_errors():
    with pytest.raises(ValueError, match="logits must have shape"):
        lm_loss(torch.zeros(3, 4), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"targets must have shape \(3, 2\)"):
        lm_loss(torch.zeros(3, 2, 5), torch.zeros(2, 3, dtype=torch.long))


def test_perplexity_and_bits():
    assert perplexity(0.0) == 1.0
    assert math.isclose(perplexity(math.log(65)), 65)
    assert math.isclose(bits_per_char(math.log(2)), 1.0)
    assert math.isclose(bits_per_char(torch.tensor(math.log(4))), 2.0, rel_tol=1e-6)
    with pytest.raises(ValueError, match="mean_nll"):
        perplexity(-1.0)
    with pytest.raises(TypeError, match="mean_nll"):
        bits_per_char("1.0")


def test_detach_state_handles_tensors_tuples_and_none():
    h = torch.ones(2, 3, requires_grad=True) * 2
    c = torch.ones(2, 3, requires_grad=True) * 3
    out = detach_state((h, [c, None]))
    assert isinstance(out, tuple) and isinstance(out[1], list)
    assert not out[0].requires_grad and not out[1][0].requires_grad
    assert torch.equal(out[0], h) and out[1][1] is None
    assert h.requires_grad  # the original is untouched
    assert detach_state(None) is None
    with pytest.raises(TypeError, match="state must be"):
        detach_state("h")


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_char_rnn_lm_shapes_and_state_continuation(cell):
    model = CharRNNLM(11, 8, 16, cell=cell, num_layers=2).double()
    x = torch.randint(0, 11, (7, 3))
    logits, state = model(x)
    assert logits.shape == (7, 3, 11)
    first, s = model(x[:4])
    second, _ = model(x[4:], s)
    torch.testing.assert_close(torch.cat([first, second]), logits)
    lm_loss(logits, x).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_char_rnn_lm_argument_errors():
    with pytest.raises(ValueError, match="cell must be one of"):
        CharRNNLM(5, 4, 4, cell="transformer")
    with pytest.raises(ValueError, match="hidden_size must be >= 1, got 0"):
        CharRNNLM(5, 4, 0)
    with pytest.raises(ValueError, match=r"x must be a \(T, B\) tensor"):
        CharRNNLM(5, 4, 4)(torch.zeros(3, dtype=torch.long))


def test_lm_loss_is_zero_not_nan_when_every_target_is_padding():
    logits = torch.randn(3, 2, 5, requires_grad=True)
    loss = lm_loss(logits, torch.zeros(3, 2, dtype=torch.long), pad_id=0)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))
