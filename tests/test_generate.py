"""Stateful generation: same log-probabilities as re-reading the prefix, same rules as rnncourse.sampling."""
import torch

from rnncourse.data import CharVocab
from rnncourse.generate import generate, make_step_fn
from rnncourse.lm import CharRNNLM
from rnncourse.sampling import beam_search, greedy_decode, sample_sequence


def tiny():
    torch.manual_seed(0)
    vocab = CharVocab.from_text("abc \n")
    model = CharRNNLM(len(vocab), 6, 12, cell="lstm", num_layers=2).eval()
    return model, vocab


def test_stateful_steps_equal_recomputing_the_prefix():
    model, vocab = tiny()
    step = make_step_fn(model)
    prefix = [vocab.bos_id] + vocab.encode("abca b")
    for n in range(1, len(prefix) + 1):
        got = step(prefix[:n])
        with torch.no_grad():
            logits, _ = model(torch.tensor(prefix[:n]).unsqueeze(1))
        torch.testing.assert_close(got, torch.log_softmax(logits[-1, 0], -1))
    assert step.tokens_fed == len(prefix)  # one new token per call, never the whole prefix again


def test_generate_uses_the_contract_rules():
    model, vocab = tiny()
    ctx = [vocab.bos_id] + vocab.encode("ab")
    step = make_step_fn(model)
    fn = lambda toks: step(ctx + toks[1:])
    assert generate(model, vocab, "ab", 12, method="greedy") == vocab.decode(greedy_decode(fn, 1, 2, 12))
    assert generate(model, vocab, "ab", 5, method="beam", beam_width=3) == vocab.decode(
        beam_search(fn, 1, 2, 3, 5)[0][0])
    sampled = generate(model, vocab, "ab", 20, temperature=0.7, top_p=0.9,
                       generator=torch.Generator().manual_seed(3))
    expected = sample_sequence(fn, 1, 2, 20, 0.7, None, 0.9, torch.Generator().manual_seed(3))
    assert sampled == vocab.decode(expected)
    assert isinstance(sampled, str) and len(sampled) <= 20


def test_generate_rejects_unknown_method():
    model, vocab = tiny()
    import pytest
    with pytest.raises(ValueError, match="method must be"):
        generate(model, vocab, "a", 3, method="nucleus")
