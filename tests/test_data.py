import hashlib

import pytest
import torch

from rnncourse import data
from rnncourse.data import CharVocab, batchify, bptt_windows, encode_stream, load_corpus, split_corpus


def test_corpus_is_shipped_and_verified():
    text = load_corpus()
    assert len(text) == 1115394
    assert text.startswith("First Citizen:")
    assert hashlib.sha256(text.encode()).hexdigest() == data.CORPUS_SHA256


def test_corrupted_corpus_is_refused(monkeypatch):
    monkeypatch.setattr(data, "CORPUS_SHA256", "0" * 64)
    with pytest.raises(RuntimeError, match="corrupted"):
        load_corpus()


def test_standard_split_first_90_percent():
    text = "abcdefghij" * 10
    train, val = split_corpus(text)
    assert train == text[:90] and val == text[90:]
    with pytest.raises(ValueError, match="val_fraction"):
        split_corpus(text, 1.5)


def test_vocab_round_trip_and_specials():
    vocab = CharVocab.from_text(load_corpus())
    assert (vocab.pad_id, vocab.bos_id, vocab.eos_id) == (0, 1, 2)
    assert len(vocab) == 65 + 3
    s = "To be, or not to be?\n"
    ids = vocab.encode(s)
    assert min(ids) >= 3 and vocab.decode(ids) == s
    assert vocab.decode([vocab.bos_id] + ids + [vocab.eos_id]) == s
    assert vocab.decode([vocab.bos_id], skip_special=False) == "<bos>"
    assert CharVocab.from_dict(vocab.to_dict()).tokens == vocab.tokens
    with pytest.raises(ValueError, match="'€'"):
        vocab.encode("€")
    with pytest.raises(ValueError, match="ids contains 999"):
        vocab.decode([999])


def test_batchify_columns_are_contiguous_and_windows_shift_by_one():
    stream = torch.arange(103)
    cols = batchify(stream, 4)  # (25, 4)
    assert cols.shape == (25, 4)
    assert torch.equal(cols[:, 1], torch.arange(25, 50))
    windows = list(bptt_windows(cols, 10))
    assert [x.shape[0] for x, _ in windows] == [10, 10, 4]
    for x, y in windows:
        assert torch.equal(y, x + 1)  # each target is the next token of its column
    # concatenating the windows of a column gives the column back
    assert torch.equal(torch.cat([x for x, _ in windows])[:, 2], cols[:-1, 2])


def test_encode_stream_starts_with_bos():
    vocab = CharVocab.from_text("ab")
    assert encode_stream(vocab, "ba").tolist() == [1, 4, 3]


def test_bad_batch_arguments_name_the_argument():
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        batchify(torch.arange(10), 0)
    with pytest.raises(ValueError, match="too short"):
        batchify(torch.arange(3), 4)
    with pytest.raises(TypeError, match="seq_len"):
        list(bptt_windows(torch.zeros(5, 2), 2.5))


def test_split_units_cuts_speeches_and_lines():
    from rnncourse.data import split_units

    text = "A:\nhi there.\n\nB:\nno.\nyes.\n\n\nC:\nok\n"
    assert split_units(text) == ["A:\nhi there.", "B:\nno.\nyes.", "C:\nok"]
    assert split_units(text, "line") == ["A:", "hi there.", "B:", "no.", "yes.", "C:", "ok"]
    with pytest.raises(ValueError, match="unit must be one of"):
        split_units(text, "word")


def test_unit_batches_wrap_pad_and_sort_longest_first():
    from rnncourse.data import unit_batches

    units = [torch.tensor([5, 6]), torch.tensor([7]), torch.tensor([8, 9, 10]), torch.tensor([11])]
    batches = list(unit_batches(units, batch_size=2, bos_id=1, eos_id=2, pad_id=0))
    # without a generator: sorted by length, each batch's columns longest first
    assert [x.t().tolist() for x, _ in batches] == [[[1, 7], [1, 11]], [[1, 8, 9, 10], [1, 5, 6, 0]]]
    assert [y.t().tolist() for _, y in batches] == [[[7, 2], [11, 2]], [[8, 9, 10, 2], [5, 6, 2, 0]]]
    # with a generator: every unit exactly once, a reproducible order
    seen = lambda g: sorted(tuple(c[c != 0].tolist()) for _, y in unit_batches(units, 3, 1, 2, 0, g)
                            for c in y.t())
    assert seen(torch.Generator().manual_seed(0)) == sorted(tuple(u.tolist()) + (2,) for u in units)
