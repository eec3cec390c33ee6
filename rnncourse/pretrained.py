"""The character LSTM shipped with the package, trained on tiny Shakespeare.

``load_pretrained()`` returns it ready to sample from. How it was trained is
recorded next to the weights in ``models/char_lstm.json`` (the command, the
configuration, the validation loss and the training time); running that
command reproduces it.
"""
from __future__ import annotations

import json
from pathlib import Path

from rnncourse.data import CharVocab
from rnncourse.lm import CharRNNLM

MODEL_FILE = "char_lstm.pt"
CARD_FILE = "char_lstm.json"


def pretrained_path() -> Path:
    """Where the shipped checkpoint lives inside the installed package."""
    return Path(__file__).parent / "models" / MODEL_FILE


def model_card() -> dict:
    """How the shipped model was trained: command, configuration, validation loss, time."""
    path = Path(__file__).parent / "models" / CARD_FILE
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


def write_model_card(checkpoint: str | Path, card: str | Path, command: str) -> dict:
    """Summarise a checkpoint's training run as JSON at ``card`` and return the summary.

    ``python -m rnncourse.train --card PATH`` calls it after training, so the card
    is regenerated with the model. A run that started from another checkpoint
    (``init_from``) also records that checkpoint's own card (``<checkpoint>.json``
    next to it) under ``first_stage``.
    """
    import math
    import platform

    import torch

    from rnncourse.train import load_checkpoint

    model, vocab, config, history = load_checkpoint(checkpoint)
    val = float(history.get("best_val_loss", min(history["val_loss"])))
    units = history.get("config", {}).get("units", "stream")
    what = {"stream": "one continuous stream", "speech": "speeches", "line": "lines"}.get(units, units)
    if units != "stream":
        what += " wrapped in <bos> … <eos>, padded"
    summary = {
        "description": f"character-level LSTM language model trained on tiny Shakespeare, read as {what} "
                       "(first 90 % of the characters; validation on the last 10 %, in the same units, "
                       "loss in nats per predicted token: every character and every <eos>)",
        "command": command,
        "val_loss": val,
        "bits_per_char": val / math.log(2.0),
        "perplexity": math.exp(val),
        "steps": int(history.get("steps", history["step"][-1])),
        "train_seconds": round(float(history.get("seconds", history["elapsed_s"][-1])), 1),
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(vocab),
        "hparams": model.hparams(),
        "config": history.get("config", {}),
        "val_curve": [[int(s), round(float(v), 4)] for s, v in zip(history["val_step"], history["val_loss"])],
        "torch": torch.__version__,
        "machine": f"{platform.machine()} CPU, {config.num_threads or torch.get_num_threads()} torch threads",
    }
    init_from = getattr(config, "init_from", None)
    if init_from:
        # a run that started from another checkpoint: record that stage too (its card, when it has one)
        summary["init_from"] = init_from
        previous = Path(init_from).with_suffix(".json")
        if previous.exists():
            summary["first_stage"] = json.loads(previous.read_text(encoding="utf-8"))
    Path(card).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
