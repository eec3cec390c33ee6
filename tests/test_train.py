import copy
import math

import pytest
import torch

from rnncourse.data import load_corpus
from rnncourse.train import PRESETS, TrainConfig, evaluate, load_checkpoint, lr_at, main, train


def small_config(**overrides) -> TrainConfig:
    config = TrainConfig(hidden_size=64, emb_size=16, batch_size=16, seq_len=32, lr=1e-2,
                         warmup_steps=5, max_steps=60, eval_every=30, max_train_chars=40_000,
                         max_val_chars=4_000, device="cpu")
    for k, v in overrides.items():
        setattr(config, k, v)
    return config


def test_training_lowers_validation_loss_and_round_trips(tmp_path):
    ckpt = tmp_path / "m.pt"
    seen = []
    model, vocab, history = train(small_config(), progress=False, checkpoint=ckpt,
                                  callback=lambda step, h: seen.append(step))
    assert seen == [30, 60]
    assert history["val_loss"][0] < math.log(len(vocab))  # better than uniform after 30 steps
    assert history["val_loss"][-1] < history["val_loss"][0]
    assert history["best_val_loss"] == min(history["val_loss"])
    assert len(history["grad_norm"]) == 60 and all(g > 0 for g in history["grad_norm"])
    loaded, vocab2, config, history2 = load_checkpoint(ckpt)
    assert vocab2.tokens == vocab.tokens and config.hidden_size == 64
    x = torch.randint(3, len(vocab), (10, 2))
    torch.testing.assert_close(loaded(x)[0], model(x)[0])
    assert history2["best_val_loss"] == history["best_val_loss"]


def test_same_seed_same_run():
    a = train(small_config(max_steps=8, eval_every=0), progress=False)[2]
    b = train(small_config(max_steps=8, eval_every=0), progress=False)[2]
    assert a["train_loss"] == b["train_loss"]


def test_gradient_clipping_caps_the_norm_seen_by_the_optimizer():
    h = train(small_config(max_steps=10, eval_every=0, grad_clip=1e-3, lr=1.0, warmup_steps=1),
              progress=False)[2]
    # recorded norms are before clipping; the loss must not explode with lr=1 thanks to the clip
    assert all(math.isfinite(v) for v in h["train_loss"])


def test_learning_rate_schedule():
    config = TrainConfig(lr=1.0, min_lr=0.1, warmup_steps=10, max_steps=110)
    assert lr_at(config, 0, 0) == pytest.approx(0.1)
    assert lr_at(config, 9, 0) == pytest.approx(1.0)
    assert lr_at(config, 110, 0) == pytest.approx(0.1)
    mid = lr_at(config, 60, 0)
    assert 0.1 < mid < 1.0
    config.time_budget_s = 100.0
    assert lr_at(config, 20, 100.0) == pytest.approx(0.1)  # time is up: end of the decay


def test_evaluate_equals_uniform_for_zero_model():
    model, vocab, _ = train(small_config(max_steps=1, eval_every=0), progress=False)
    for p in model.head.parameters():
        torch.nn.init.zeros_(p)
    from rnncourse.data import encode_stream

    val = evaluate(model, encode_stream(vocab, load_corpus()[:2000]), batch_size=4, seq_len=50)
    assert val == pytest.approx(math.log(len(vocab)), rel=1e-6)


def test_cli_writes_a_checkpoint(tmp_path, capsys):
    out = tmp_path / "cli.pt"
    main(["--hidden-size", "32", "--emb-size", "8", "--max-steps", "3", "--eval-every", "3",
          "--max-train-chars", "5000", "--max-val-chars", "2000", "--batch-size", "4",
          "--seq-len", "16", "--out", str(out), "--no-progress"])
    assert out.exists()
    assert "best validation loss" in capsys.readouterr().out


def test_presets_are_valid():
    assert set(PRESETS) >= {"default", "shipped"}
    assert PRESETS["shipped"].num_layers == 2


def test_evaluate_units_is_the_mean_nll_of_every_unit_read_from_bos():
    from rnncourse.data import CharVocab
    from rnncourse.train import evaluate_units

    text = "A:\nab\n\nB:\nbaa\n\nA:\nb"
    vocab = CharVocab.from_text(text)
    torch.manual_seed(0)
    from rnncourse.lm import CharRNNLM

    model = CharRNNLM(len(vocab), 4, 8).eval()
    units = [torch.tensor(vocab.encode(u)) for u in text.split("\n\n")]
    total, count = 0.0, 0
    with torch.no_grad():
        for u in units:  # brute force: one unit at a time, no padding
            x = torch.cat([torch.tensor([vocab.bos_id]), u]).unsqueeze(1)
            y = torch.cat([u, torch.tensor([vocab.eos_id])]).unsqueeze(1)
            logp = torch.log_softmax(model(x)[0], -1)
            total -= float(logp.gather(-1, y.unsqueeze(-1)).sum())
            count += y.numel()
    # batches of 2 and windows of 2 steps (the state carried across windows) change nothing
    assert evaluate_units(model, units, vocab, batch_size=2, seq_len=2) == pytest.approx(total / count, rel=1e-6)


def test_stream_training_still_works():
    h = train(small_config(units="stream", max_steps=20, eval_every=20), progress=False)[2]
    assert h["val_loss"][0] < math.log(68)


def test_cli_writes_the_model_card(tmp_path):
    import json

    out, card = tmp_path / "m.pt", tmp_path / "m.json"
    args = ["--hidden-size", "16", "--emb-size", "4", "--max-steps", "2", "--eval-every", "2",
            "--max-train-chars", "3000", "--max-val-chars", "1000", "--batch-size", "4",
            "--out", str(out), "--card", str(card), "--no-progress"]
    main(args)
    summary = json.loads(card.read_text())
    assert summary["command"] == "python -m rnncourse.train " + " ".join(args)
    assert summary["config"]["units"] == "speech" and summary["steps"] == 2
    assert summary["val_loss"] == pytest.approx(load_checkpoint(out)[3]["best_val_loss"])


def test_shipped_recipe_starts_from_the_stream_stage_with_the_same_architecture():
    stream, shipped = PRESETS["shipped-stream"], PRESETS["shipped"]
    assert stream.units == "stream" and shipped.units == "speech"
    for key in ("cell", "emb_size", "hidden_size", "num_layers", "dropout"):
        assert getattr(stream, key) == getattr(shipped, key), key
    assert shipped.init_from == "runs/char_lstm_stream.pt"


def test_init_from_loads_the_weights_and_refuses_other_shapes(tmp_path):
    ckpt = tmp_path / "a.pt"
    model, _, _ = train(small_config(max_steps=2, eval_every=0), progress=False, checkpoint=ckpt)
    again, _, _ = train(small_config(max_steps=0, eval_every=0, init_from=str(ckpt)), progress=False)
    for (name, p), q in zip(model.state_dict().items(), again.state_dict().values()):
        torch.testing.assert_close(p, q, msg=name)
    with pytest.raises(ValueError, match="has hparams"):
        train(small_config(max_steps=0, hidden_size=32, init_from=str(ckpt)), progress=False)
