"""The character LSTM shipped with the package, trained on tiny Shakespeare.

``load_pretrained()`` returns it ready to sample from. How it was trained is
recorded next to the weights in ``models/char_lstm.json`` (the command, the
configuration, the validation loss and the training time); running that
command reproduces it.
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from rnncourse.data import CharVocab
from rnncourse.lm import CharRNNLM

MODEL_FILE = "char_lstm.pt"
CARD_FILE = "char_lstm.json"


def pretrained_path() -> Path:
    """Where the shipped checkpoint lives inside the installed package."""
    return Path(str(resources.files("rnncourse").joinpath("models", MODEL_FILE)))


def model_card() -> dict:
    """How the shipped model was trained: command, configuration, validation loss, time."""
    path = Path(str(resources.files("rnncourse").joinpath("models", CARD_FILE)))
    return json.loads(path.read_text(encoding="utf-8"))


def load_pretrained(device: str = "cpu") -> tuple[CharRNNLM, CharVocab]:
    """Load the shipped character LSTM and its vocabulary, in eval mode on ``device``."""
    from rnncourse.train import load_checkpoint

    path = pretrained_path()
    if not path.exists():
        raise FileNotFoundError(
            f"no trained model at {path}; train one with "
            f"`python -m rnncourse.train --preset shipped --out {path}`"
        )
    model, vocab, _, _ = load_checkpoint(path, device=device)
    return model, vocab
