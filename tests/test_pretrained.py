"""The shipped model: present, small, as good as its card says, reproducible from its recipe, and it stops."""
import math

import pytest
import torch

from rnncourse.generate import StatefulStepper
from rnncourse.pretrained import load_pretrained, model_card, pretrained_path
from rnncourse.sampling import greedy_decode, sample_sequence
from rnncourse.train import PRESETS, TrainConfig, validation_loss


def test_shipped_model_is_small_and_loads():
    assert pretrained_path().stat().st_size <= 13 * 2**20
    model, vocab = load_pretrained()
    assert not model.training
    assert model.cell == "lstm" and len(vocab) == 68


def test_card_records_a_reproducible_recipe():
    card = model_card()
    assert card["val_loss"] <= 1.45
    assert card["command"].startswith("python -m rnncourse.train --preset shipped ")
    assert "--card rnncourse/models/char_lstm.json" in card["command"]
    shipped = PRESETS["shipped"]
    for key in ("units", "hidden_size", "num_layers", "dropout", "lr", "max_steps", "batch_size", "seq_len",
                "init_from"):
        assert card["config"][key] == getattr(shipped, key), key
    assert card["config"]["units"] == "speech"
    assert math.isclose(card["bits_per_char"], card["val_loss"] / math.log(2))
    # the first stage, which the run started from, is recorded with its own recipe
    first = card["first_stage"]
    assert "--preset shipped-stream" in first["command"] and first["config"]["units"] == "stream"
    for key in ("hidden_size", "num_layers", "dropout", "lr", "max_steps"):
        assert first["config"][key] == getattr(PRESETS["shipped-stream"], key), key


@pytest.mark.slow
def test_validation_loss_matches_card():
    model, vocab = load_pretrained()
    card = model_card()
    loss = validation_loss(model, vocab, TrainConfig(**card["config"]))
    assert loss == pytest.approx(card["val_loss"], abs=2e-3)
    assert loss <= 1.45


def test_samples_end_at_eos():
    model, vocab = load_pretrained()
    step_fn = StatefulStepper(model)
    for seed in range(3):
        ids = sample_sequence(step_fn, vocab.bos_id, vocab.eos_id, max_len=2000, temperature=0.8,
                              generator=torch.Generator().manual_seed(seed))
        assert ids[-1] == vocab.eos_id, f"seed {seed}: no EOS within 2000 characters"
        assert ":" in vocab.decode(ids).split("\n")[0], "a speech starts with its speaker's name"
    assert greedy_decode(step_fn, vocab.bos_id, vocab.eos_id, 2000)[-1] == vocab.eos_id


def test_samples_look_like_the_corpus():
    model, vocab = load_pretrained()
    x = torch.tensor([vocab.bos_id] + vocab.encode("ROMEO:\nI will"), dtype=torch.long).unsqueeze(1)
    with torch.no_grad():
        logits, _ = model(x)
    # after "ROMEO:\nI will" a space is the most likely next character
    assert vocab.tokens[int(logits[-1, 0].argmax())] == " "
