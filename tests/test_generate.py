"""Stateful generation: same log-probabilities as re-reading the prefix, same rules as rnncourse.sampling."""
import pytest
import torch

from rnncourse.data import CharVocab
from rnncourse.generate import StatefulStepper, generate
from rnncourse.lm import CharRNNLM
from rnncourse.sampling import beam_search, greedy_decode, sample_sequence

TEXT = "abc de\n"


class CountingLM(CharRNNLM):
    """A CharRNNLM that counts the tokens it reads, to prove the prefix is never re-read."""

    tokens_read = 0

    def forward(self, x, state=None):
        self.tokens_read += x.shape[0] * x.shape[1]
        return super().forward(x, state)


def tiny(cell="lstm", dtype=torch.float32, dropout=0.0, cls=CharRNNLM, seed=0):
    torch.manual_seed(seed)
    vocab = CharVocab.from_text(TEXT)
    model = cls(len(vocab), 6, 12, cell=cell, num_layers=2, dropout=dropout).to(dtype).eval()
    return model, vocab


def recompute(model, ids):
    """Log-probabilities after reading all of ``ids`` from the zero state (no caching)."""
    with torch.no_grad():
        logits, _ = model(torch.tensor(ids).unsqueeze(1))  # (T, 1, V)
    return torch.log_softmax(logits[-1, 0], -1)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_stateful_steps_equal_recomputing_the_prefix(cell, dtype):
    model, vocab = tiny(cell, dtype)
    step = StatefulStepper(model)
    prefix = [vocab.bos_id] + vocab.encode("abca b\nd")
    for n in range(1, len(prefix) + 1):
        got = step(prefix[:n])
        assert got.shape == (len(vocab),) and got.dtype == dtype and not got.requires_grad
        torch.testing.assert_close(got, recompute(model, prefix[:n]))
    assert step.tokens_fed == len(prefix)  # one new token per call, never the whole prefix again
    # a prefix that branches off an earlier one continues from the cached state of the shared part
    branch = prefix[:4] + vocab.encode("ee")
    torch.testing.assert_close(step(branch), recompute(model, branch))
    assert step.tokens_fed == len(prefix) + 2
    # asking again costs nothing
    step(prefix)
    assert step.tokens_fed == len(prefix) + 2


def test_context_is_read_after_bos_and_a_small_cache_stays_correct():
    model, vocab = tiny("gru")
    ctx = vocab.encode("dab")
    step = StatefulStepper(model, context=ctx, max_cache=3)
    toks = vocab.encode("c ea\nb")
    for n in range(len(toks) + 1):
        torch.testing.assert_close(step([vocab.bos_id] + toks[:n]),
                                   recompute(model, [vocab.bos_id] + ctx + toks[:n]))
    assert len(step.cache) <= 3
    with pytest.raises(ValueError, match="prefix must start with the BOS token"):
        step([])
    with pytest.raises(TypeError, match="prefix must"):
        step("abc")
    with pytest.raises(ValueError, match="max_cache must be >= 1, got 0"):
        StatefulStepper(model, max_cache=0)


def test_beam_search_through_the_cache_feeds_one_token_per_new_prefix():
    model, vocab = tiny("lstm")
    ctx = vocab.encode("ab")
    step = StatefulStepper(model, context=ctx)
    plain = lambda prefix: recompute(model, [prefix[0]] + ctx + prefix[1:])  # noqa: E731
    got = beam_search(step, vocab.bos_id, vocab.eos_id, 4, 6)
    want = beam_search(plain, vocab.bos_id, vocab.eos_id, 4, 6)
    assert [s for s, _ in got] == [s for s, _ in want]
    assert [sc for _, sc in got] == pytest.approx([sc for _, sc in want], abs=1e-5)
    # the first call reads BOS + context; every later new prefix extends a cached one by one token
    assert step.tokens_fed == 1 + len(ctx) + (len(step.cache) - 1)


def test_generate_uses_the_contract_rules():
    model, vocab = tiny()
    ctx = vocab.encode("ab")
    bos, eos = vocab.bos_id, vocab.eos_id
    fn = StatefulStepper(model, context=ctx)
    assert generate(model, vocab, "ab", 12, method="greedy") == vocab.decode(greedy_decode(fn, bos, eos, 12))
    assert generate(model, vocab, "ab", 5, method="beam", beam_width=3) == vocab.decode(
        beam_search(fn, bos, eos, 3, 5)[0][0])
    for kw in (dict(temperature=0.7, top_p=0.9), dict(top_k=3), dict(temperature=1.5)):
        sampled = generate(model, vocab, "ab", 20, generator=torch.Generator().manual_seed(3), **kw)
        expected = sample_sequence(fn, bos, eos, 20, generator=torch.Generator().manual_seed(3), **kw)
        assert isinstance(sampled, str) and sampled == vocab.decode(expected) and len(sampled) <= 20
    # sampling with a near-zero temperature or top_k = 1 is greedy decoding
    greedy = generate(model, vocab, "ab", 15, method="greedy")
    assert generate(model, vocab, "ab", 15, top_k=1) == greedy
    assert generate(model, vocab, "ab", 15, temperature=1e-6) == greedy
    assert isinstance(generate(model, vocab), str)  # empty prefix: starts right after BOS


def test_generate_reads_the_prefix_once_and_one_token_per_step():
    model, vocab = tiny(cls=CountingLM)
    prompt = "abc d"
    ids = greedy_decode(StatefulStepper(model, context=vocab.encode(prompt)), vocab.bos_id, vocab.eos_id, 25)
    assert len(ids) > 5
    model.tokens_read = 0
    assert generate(model, vocab, prompt, max_len=25, method="greedy") == vocab.decode(ids)
    # BOS + prompt once, then each generated token but the last: 1 + len(prompt) + len(ids) - 1
    assert model.tokens_read == len(prompt) + len(ids)


def test_generate_uses_eval_mode_and_restores_the_mode():
    model, vocab = tiny(dropout=0.5)
    reference = generate(model, vocab, "ab", 20, method="greedy")  # eval mode
    model.train()
    assert generate(model, vocab, "ab", 20, method="greedy") == reference  # dropout off while generating
    assert model.training
    assert all(p.grad is None for p in model.parameters())


def test_generate_bad_arguments():
    model, vocab = tiny()
    with pytest.raises(ValueError, match="method must be one of 'sample', 'greedy', 'beam', got 'nucleus'"):
        generate(model, vocab, "a", 3, method="nucleus")
    with pytest.raises(ValueError, match="outside the vocabulary: 'z'"):
        generate(model, vocab, "az", 3)
    with pytest.raises(TypeError, match="prefix must be a str"):
        generate(model, vocab, [1, 2], 3)
    with pytest.raises(ValueError, match="max_len must be >= 1, got 0"):
        generate(model, vocab, "a", 0)
    with pytest.raises(ValueError, match="temperature must be .*got -1.0"):
        generate(model, vocab, "a", 3, temperature=-1.0)
    with pytest.raises(ValueError, match="beam_width must be >= 1, got 0"):
        generate(model, vocab, "a", 3, method="beam", beam_width=0)
