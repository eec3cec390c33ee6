"""Training a character language model with truncated BPTT.

One loop serves the chapters, the benchmark and the command line::

    python -m rnncourse.train --preset shipped --num-threads 2 \
        --out rnncourse/models/char_lstm.pt --card rnncourse/models/char_lstm.json
    python -m rnncourse.train --hidden-size 256 --max-steps 500 --out runs/small.pt

The text is read as units (``units="speech"``, the default, or ``"line"``):
each unit is wrapped in ``BOS … EOS``, units of similar length are padded into
a ``(L, B)`` batch, and the loss ignores the padding, so the model learns to
start a unit after BOS and to end it with EOS. ``units="stream"`` reads the
text as one continuous stream instead, as char-rnn did.

Each step reads a ``(T, B)`` window (of a padded batch, or of the stream),
carries the recurrent state over from the previous window of the same batch
but detaches it (the gradient stops at the window's start), clips the global
gradient norm, and takes an AdamW step. The learning rate warms up linearly and then decays along a cosine
to ``min_lr``; with a wall-clock budget the decay follows elapsed time, so a
run that is cut short still ends at a low learning rate.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from rnncourse.data import (CharVocab, batchify, bptt_windows, encode_stream, encode_units, load_corpus,
                            split_corpus, split_units, unit_batches)
from rnncourse.lm import CharRNNLM, detach_state, lm_loss


@dataclass
class TrainConfig:
    """Everything that decides a training run."""

    cell: str = "lstm"  # recurrent cell: "rnn", "lstm" or "gru"
    units: str = "speech"  # "speech" or "line": BOS … EOS units, padded; "stream": one continuous stream
    emb_size: int = 64  # size of the character embeddings
    hidden_size: int = 512  # recurrent state size H
    num_layers: int = 1  # stacked recurrent layers
    dropout: float = 0.0  # dropout between layers and before the output head
    batch_size: int = 64  # B: units (or parallel streams of text) per batch
    seq_len: int = 128  # T: BPTT window; the gradient stops at each window's start
    lr: float = 3e-3  # peak learning rate (AdamW)
    min_lr: float = 1e-4  # learning rate at the end of the cosine decay
    warmup_steps: int = 100  # linear warm-up from 0 to lr
    weight_decay: float = 0.01  # AdamW weight decay (matrices only; not biases or embeddings)
    grad_clip: float = 1.0  # max global gradient norm (clip_grad_norm_); 0 disables clipping
    max_steps: int = 2000  # optimisation steps (the schedule's length without a time budget)
    time_budget_s: float | None = None  # stop after this many seconds; the schedule follows elapsed time
    eval_every: int = 250  # evaluate on the validation split every this many steps
    eval_seq_len: int = 256  # window length used for evaluation
    max_train_chars: int | None = None  # use only the first N training characters (quick runs, tests)
    max_val_chars: int | None = None  # use only the first N validation characters
    sample_every: int = 0  # print a sample every this many steps (0: never)
    seed: int = 1337  # seeds torch's generator: same config, same run (on the same machine)
    device: str = "auto"  # "auto" (CUDA when available), "cpu" or "cuda"
    num_threads: int | None = None  # torch CPU threads (None: torch's default)
    init_from: str | None = None  # start from the weights of this checkpoint (same hparams) instead of at random


#: Named configurations. ``default`` is the benchmark's 5-minute CPU recipe. The model in
#: ``rnncourse/models/char_lstm.pt`` was trained in two stages: ``shipped-stream`` (one continuous
#: stream, written to ``runs/char_lstm_stream.pt``), then ``shipped``, which starts from it and
#: trains on speeches wrapped in BOS … EOS, so that the model learns to begin and to end a speech.
PRESETS: dict[str, TrainConfig] = {
    "default": TrainConfig(),
    # the shipped model in two stages: char-rnn's stream training, then speeches wrapped in BOS … EOS
    "shipped-stream": TrainConfig(
        units="stream", num_layers=2, hidden_size=512, dropout=0.25, lr=2e-3, max_steps=2500, eval_every=250,
    ),
    "shipped": TrainConfig(
        num_layers=2, hidden_size=512, dropout=0.25, lr=6e-4, min_lr=2e-5, warmup_steps=20, max_steps=600,
        eval_every=100, init_from="runs/char_lstm_stream.pt",
    ),
}


def lr_at(config: TrainConfig, step: int, elapsed_s: float) -> float:
    """Learning rate for ``step``: linear warm-up, then cosine decay to ``min_lr``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = step / max(1, config.max_steps)
    if config.time_budget_s:
        progress = max(progress, elapsed_s / config.time_budget_s)
    progress = min(1.0, progress)
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1.0 + math.cos(math.pi * progress))


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    return torch.device(device)


@torch.no_grad()
def evaluate(model: CharRNNLM, stream: torch.Tensor, batch_size: int = 32, seq_len: int = 256) -> float:
    """Mean NLL (nats per token) of ``model`` on a 1-D token stream, carrying the state across windows."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    columns = batchify(stream, batch_size).to(device)  # (N, B)
    total, count, state = 0.0, 0, None
    for x, y in bptt_windows(columns, seq_len):
        logits, state = model(x, state)  # (T, B, V)
        total += float(lm_loss(logits, y)) * y.numel()
        count += y.numel()
    model.train(was_training)
    return total / count


@torch.no_grad()
def evaluate_units(model: CharRNNLM, units: list[torch.Tensor], vocab: CharVocab, batch_size: int = 32,
                   seq_len: int = 256) -> float:
    """Mean NLL (nats per token) of ``model`` on units, each read from a fresh state as ``BOS … EOS``.

    Every character of every unit and every unit's EOS is a predicted token;
    padding is not. Long units are read in windows of ``seq_len`` carrying the
    state, which changes nothing in the values (only memory).
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for xb, yb in unit_batches(units, batch_size, vocab.bos_id, vocab.eos_id, vocab.pad_id):
        state = None
        for x, y, _ in _unit_windows(xb, yb, seq_len, vocab.pad_id):
            x, y = x.to(device), y.to(device)  # (T, k)
            logits, state = model(x, _narrow_state(state, x.size(1)))  # (T, k, V)
            n = int((y != vocab.pad_id).sum())
            total += float(lm_loss(logits, y, pad_id=vocab.pad_id)) * n
            count += n
    model.train(was_training)
    return total / count


def validation_loss(model: CharRNNLM, vocab: CharVocab, config: TrainConfig, text: str | None = None) -> float:
    """The validation loss as :func:`train` measures it for ``config`` (the last 10 % of ``text``)."""
    text = load_corpus() if text is None else text
    _, val_text = split_corpus(text)
    if config.max_val_chars:
        val_text = val_text[: config.max_val_chars]
    if config.units == "stream":
        return evaluate(model, encode_stream(vocab, val_text), batch_size=min(32, config.batch_size),
                        seq_len=config.eval_seq_len)
    return evaluate_units(model, encode_units(vocab, split_units(val_text, config.units)), vocab,
                          batch_size=min(32, config.batch_size), seq_len=config.eval_seq_len)


def _windows(config: TrainConfig, train_cols, train_units, vocab: CharVocab, generator: torch.Generator):
    """One epoch of ``(x, y, fresh)`` training windows; ``fresh`` marks the first window of a batch."""
    if config.units == "stream":
        for k, (x, y) in enumerate(bptt_windows(train_cols, config.seq_len)):
            yield x, y, k == 0
        return
    for xb, yb in unit_batches(train_units, config.batch_size, vocab.bos_id, vocab.eos_id, vocab.pad_id,
                               generator=generator):
        for x, y, fresh in _unit_windows(xb, yb, config.seq_len, vocab.pad_id):
            yield x, y, fresh


def _unit_windows(xb: torch.Tensor, yb: torch.Tensor, seq_len: int, pad_id: int):
    """Windows ``(x, y, fresh)`` of ``seq_len`` steps of a padded batch whose columns run longest first.

    A window keeps only the columns that still have a real target in it (a
    prefix, so the carried state is narrowed with :func:`_narrow_state`).
    """
    lengths = (yb != pad_id).sum(0)  # (B,)
    for start in range(0, xb.size(0), seq_len):
        k = int((lengths > start).sum())
        yield xb[start : start + seq_len, :k], yb[start : start + seq_len, :k], start == 0  # (T, k)


def _narrow_state(state, k: int):
    """The state of the first ``k`` sequences of a batch: ``h (L, B, H)`` or a tuple of them."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state[:, :k]
    return tuple(_narrow_state(s, k) for s in state)


def _optimizer(model: CharRNNLM, config: TrainConfig) -> torch.optim.Optimizer:
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embedding" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "embedding" not in n)]
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.99))


def train(
    config: TrainConfig,
    text: str | None = None,
    progress: bool = True,
    callback: Callable[[int, dict], None] | None = None,
    checkpoint: str | Path | None = None,
) -> tuple[CharRNNLM, CharVocab, dict]:
    """Train a :class:`CharRNNLM` on ``text`` (default: tiny Shakespeare).

    Args:
        config: the run's settings.
        text: the corpus; split 90 % / 10 % into training and validation.
        progress: show a tqdm progress bar with the current loss.
        callback: called as ``callback(step, history)`` after every evaluation.
        checkpoint: where to save the best model so far (after each evaluation).

    Returns:
        ``(model, vocab, history)``: the model with the best validation loss
        seen, its vocabulary and a history dict with lists ``step``,
        ``train_loss``, ``grad_norm``, ``lr``, ``val_step``, ``val_loss``,
        ``elapsed_s`` and the scalars ``best_val_loss``, ``steps``, ``seconds``.
    """
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    text = load_corpus() if text is None else text
    vocab = CharVocab.from_text(text)
    train_text, val_text = split_corpus(text)
    if config.max_train_chars:
        train_text = train_text[: config.max_train_chars]
    if config.max_val_chars:
        val_text = val_text[: config.max_val_chars]
    if config.units not in ("speech", "line", "stream"):
        raise ValueError(f"units must be 'speech', 'line' or 'stream', got {config.units!r}")
    train_cols = train_units = None
    if config.units == "stream":
        train_cols = batchify(encode_stream(vocab, train_text), config.batch_size).to(device)  # (N, B)
    else:
        train_units = encode_units(vocab, split_units(train_text, config.units))
    pad_id = None if config.units == "stream" else vocab.pad_id
    generator = torch.Generator().manual_seed(config.seed)  # the order of the batches

    model = CharRNNLM(len(vocab), config.emb_size, config.hidden_size, config.cell,
                      config.num_layers, config.dropout).to(device)
    if config.init_from:
        blob = torch.load(Path(config.init_from), map_location="cpu", weights_only=True)
        if blob.get("hparams") != model.hparams():
            raise ValueError(f"init_from={config.init_from!r} has hparams {blob.get('hparams')}, "
                             f"the config asks for {model.hparams()}")
        model.load_state_dict(blob["state_dict"])
    opt = _optimizer(model, config)
    history: dict = {"step": [], "train_loss": [], "grad_norm": [], "lr": [], "val_step": [],
                     "val_loss": [], "elapsed_s": [], "config": dataclasses.asdict(config)}
    best_loss, best_state = float("inf"), None

    def run_eval(step: int, elapsed: float) -> None:
        nonlocal best_loss, best_state
        val = validation_loss(model, vocab, config, text)
        history["val_step"].append(step)
        history["val_loss"].append(val)
        history["elapsed_s"].append(elapsed)
        if val < best_loss:
            best_loss, best_state = val, copy.deepcopy(model.state_dict())
            history.update(best_val_loss=val, steps=step, seconds=elapsed)
            if checkpoint is not None:
                save_checkpoint(checkpoint, model, vocab, config, history)
        if config.sample_every and step % config.sample_every == 0:
            from rnncourse.generate import generate

            sample = generate(model, vocab, prefix="", max_len=400, temperature=0.8)
            tqdm.write(f"--- step {step}, val {val:.3f} ---\n{sample}")
        if callback is not None:
            callback(step, history)

    start = time.perf_counter()
    windows = None
    state = None
    bar = tqdm(total=config.max_steps, disable=not progress, desc="training", unit="step")
    step = 0
    model.train()
    while step < config.max_steps:
        elapsed = time.perf_counter() - start
        if config.time_budget_s and elapsed >= config.time_budget_s:
            break
        if windows is None:
            windows = _windows(config, train_cols, train_units, vocab, generator)
        try:
            x, y, fresh = next(windows)
        except StopIteration:  # end of an epoch: start again with a new order
            windows = None
            continue
        if fresh:
            state = None
        state = _narrow_state(state, x.size(1))
        x, y = x.to(device), y.to(device)  # (T, B)
        for group in opt.param_groups:
            group["lr"] = lr_at(config, step, elapsed)
        logits, state = model(x, detach_state(state))  # (T, B, V)
        loss = lm_loss(logits, y, pad_id=pad_id)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = config.grad_clip if config.grad_clip > 0 else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm))
        opt.step()
        step += 1
        history["step"].append(step)
        history["train_loss"].append(float(loss.detach()))
        history["grad_norm"].append(grad_norm)
        history["lr"].append(opt.param_groups[0]["lr"])
        bar.update(1)
        bar.set_postfix(loss=f"{history['train_loss'][-1]:.3f}", val=f"{best_loss:.3f}")
        if config.eval_every and step % config.eval_every == 0:
            run_eval(step, time.perf_counter() - start)
    bar.close()
    if not history["val_step"] or history["val_step"][-1] != step:
        run_eval(step, time.perf_counter() - start)
    if best_state is not None:
        model.load_state_dict(best_state)
    history["best_val_loss"] = best_loss
    history["steps"] = step
    history["seconds"] = time.perf_counter() - start
    model.eval()
    if checkpoint is not None:
        save_checkpoint(checkpoint, model, vocab, config, history)
    return model, vocab, history


def save_checkpoint(path: str | Path, model: CharRNNLM, vocab: CharVocab, config: TrainConfig,
                    history: dict) -> None:
    """Write model weights, vocabulary, config and history to ``path`` (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({
        "format": "rnncourse-charlm-1",
        "hparams": model.hparams(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "vocab": vocab.to_dict(),
        "config": dataclasses.asdict(config),
        "history": history,
    }, tmp)
    tmp.replace(path)


def load_checkpoint(path: str | Path, device: str = "cpu") -> tuple[CharRNNLM, CharVocab, TrainConfig, dict]:
    """Rebuild ``(model, vocab, config, history)`` from a file written by :func:`save_checkpoint`."""
    blob = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != "rnncourse-charlm-1":
        raise ValueError(f"{path} is not an rnncourse language-model checkpoint")
    model = CharRNNLM(**blob["hparams"])
    model.load_state_dict(blob["state_dict"])
    model.to(resolve_device(device)).eval()
    config = TrainConfig(**blob["config"])
    return model, CharVocab.from_dict(blob["vocab"]), config, blob["history"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rnncourse.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default",
                        help="starting configuration; the options below override its fields")
    parser.add_argument("--out", type=Path, default=Path("runs/char_lm.pt"), help="checkpoint to write")
    parser.add_argument("--card", type=Path, default=None,
                        help="also write the run's model card (JSON: command, config, validation loss, time) here")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    for f in dataclasses.fields(TrainConfig):
        kind = {"int": int, "float": float, "str": str}.get(str(f.type).split(" ")[0], None)
        if f.type in ("float | None",):
            kind = float
        if f.type in ("int | None",):
            kind = int
        parser.add_argument("--" + f.name.replace("_", "-"), type=kind or str, default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config = copy.deepcopy(PRESETS[args.preset])
    for f in dataclasses.fields(TrainConfig):
        value = getattr(args, f.name)
        if value is not None:
            setattr(config, f.name, value)
    print(f"config: {dataclasses.asdict(config)}")
    def report(step: int, history: dict) -> None:
        print(f"step {step}: validation loss {history['val_loss'][-1]:.4f} nats/token "
              f"(best {history['best_val_loss']:.4f}), {history['elapsed_s'][-1]:.0f} s", flush=True)

    _, _, history = train(config, progress=not args.no_progress, checkpoint=args.out, callback=report)
    if args.card is not None:
        from rnncourse.pretrained import write_model_card

        argv = sys.argv[1:] if argv is None else argv
        write_model_card(args.out, args.card, " ".join(["python -m rnncourse.train", *argv]))
    best = history["best_val_loss"]
    print(f"best validation loss {best:.4f} nats/token ({best / math.log(2):.4f} bits/token) "
          f"after {history['steps']} steps in {history['seconds']:.0f} s; saved to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
