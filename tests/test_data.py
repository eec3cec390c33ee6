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
