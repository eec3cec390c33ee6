"""The shipped model: present, small, as good as its card says, and reproducible from its recipe."""
import math

import pytest
import torch

from rnncourse.data import encode_stream, load_corpus, split_corpus
from rnncourse.pretrained import load_pretrained, model_card, pretrained_path
from rnncourse.train import PRESETS, evaluate


def test_shipped_model_is_small_and_loads():
    assert pretrained_path().stat().st_size <= 20 * 2**20
    model, vocab = load_pretrained()
    assert not model.training
    assert model.cell == "lstm" and len(vocab) == 68


def test_card_records_a_reproducible_recipe():
    card = model_card()
    assert card["val_loss"] <= 1.50
    assert "python -m rnncourse.train --preset shipped" in card["command"]
    shipped = PRESETS["shipped"]
    for key in ("hidden_size", "num_layers", "dropout", "lr", "max_steps", "batch_size", "seq_len"):
        assert card["config"][key] == getattr(shipped, key), key
    assert math.isclose(card["bits_per_char"], card["val_loss"] / math.log(2))


@pytest.mark.slow
def test_validation_loss_matches_card():
    model, vocab = load_pretrained()
    _, val_text = split_corpus(load_corpus())
    config = model_card()["config"]
    loss = evaluate(model, encode_stream(vocab, val_text), batch_size=32, seq_len=config["eval_seq_len"])
    assert loss == pytest.approx(model_card()["val_loss"], abs=2e-3)
    assert loss <= 1.50


def test_samples_look_like_the_corpus():
    model, vocab = load_pretrained()
    x = torch.tensor([vocab.bos_id] + vocab.encode("ROMEO:\nI will"), dtype=torch.long).unsqueeze(1)
    with torch.no_grad():
        logits, _ = model(x)
    # after "ROMEO:\nI will" a space is the most likely next character
    assert vocab.tokens[int(logits[-1, 0].argmax())] == " "
