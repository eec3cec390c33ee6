"""The encoder–decoder: teacher-forcing batches, one decoder step against the batched decoder, decoding, tasks."""
import pytest
import torch
from torch import nn

from rnncourse import SymbolVocab, attention_decoder_step, make_batch, make_decoder_io
from rnncourse.attention import length_mask
from rnncourse.sampling import beam_search, greedy_decode
from rnncourse.seq2seq import (Seq2Seq, Seq2SeqStepper, accuracy_by_length, exact_match, greedy_translate,
                               teacher_forced_accuracy, train_seq2seq)
from rnncourse.seqtasks import BOS, EOS, PAD, pad_batch, reverse_padded, target_of


def test_make_decoder_io_puts_eos_after_each_columns_own_end():
    targets, lengths = pad_batch([[5, 6, 7], [8], []])
    dec_in, dec_out = make_decoder_io(targets, lengths, BOS, EOS, PAD)
    for b, seq in enumerate([[5, 6, 7], [8], []]):
        assert dec_in[:, b].tolist() == [BOS] + seq + [PAD] * (3 - len(seq))
        assert dec_out[:, b].tolist() == seq + [EOS] + [PAD] * (3 - len(seq))
    assert targets.tolist() == [[5, 8, PAD], [6, PAD, PAD], [7, PAD, PAD]], "the input is unchanged"


def test_make_decoder_io_names_bad_lengths():
    with pytest.raises(ValueError, match="lengths must lie in 0 … 2"):
        make_decoder_io(torch.zeros(2, 1, dtype=torch.long), torch.tensor([3]), BOS, EOS, PAD)


def test_batches_pad_after_each_end_and_targets_follow_the_task():
    gen = torch.Generator().manual_seed(0)
    for task in ("copy", "reverse"):
        batch = make_batch(16, 1, 7, task, generator=gen)
        for b in range(16):
            n = int(batch.src_len[b])
            src = batch.src[:n, b].tolist()
            assert batch.tgt[:n, b].tolist() == target_of(src, task)
            assert (batch.src[n:, b] == PAD).all() and min(src) >= 3
        assert torch.equal(batch.src_len, batch.tgt_len)


def test_reverse_padded_reverses_within_each_length():
    seqs, lengths = pad_batch([[3, 4, 5], [6], [7, 8]])
    out = reverse_padded(seqs, lengths)
    assert [out[: int(n), b].tolist() for b, n in enumerate(lengths)] == [[5, 4, 3], [6], [8, 7]]
    assert out[1:, 1].tolist() == [PAD, PAD]


def test_symbol_vocab_round_trip():
    vocab = SymbolVocab()
    assert len(vocab) == 13 and vocab.decode(vocab.encode("90210") + [EOS, 5]) == "90210"
    with pytest.raises(ValueError, match="'x', which is not one of the symbols"):
        vocab.encode("1x")


def model_and_batch(attention="dot", seed=0):
    torch.manual_seed(seed)
    model = Seq2Seq(13, 6, 5, attention=attention).double()
    batch = make_batch(4, 1, 6, generator=torch.Generator().manual_seed(seed))
    return model, batch


def test_encoder_final_state_is_the_state_after_each_sources_own_last_token():
    model, batch = model_and_batch()
    enc, h = model.encode(batch.src, batch.src_len)
    for b in range(4):
        n = int(batch.src_len[b])
        _, h_alone = model.encoder(model.src_embed(batch.src[:n, b:b + 1]))
        torch.testing.assert_close(h[:, b], h_alone[:, 0], atol=1e-12, rtol=0)
        torch.testing.assert_close(enc[:n, b], model.encoder(model.src_embed(batch.src[:n, b:b + 1]))[0][:, 0],
                                   atol=1e-12, rtol=0)


@pytest.mark.parametrize("attention", [None, "dot"])
def test_each_source_is_decoded_as_if_it_were_alone_in_the_batch(attention):
    model, batch = model_and_batch(attention)
    dec_in, _ = make_decoder_io(batch.tgt, batch.tgt_len, BOS, EOS, PAD)
    logits, _ = model(batch.src, batch.src_len, dec_in)
    for b in range(4):
        n = int(batch.src_len[b])
        alone, _ = model(batch.src[:n, b:b + 1], batch.src_len[b:b + 1], dec_in[:, b:b + 1])
        torch.testing.assert_close(logits[:, b], alone[:, 0], atol=1e-12, rtol=0)


def test_attention_decoder_step_in_a_loop_equals_the_batched_teacher_forced_decoder():
    model, batch = model_and_batch("dot")
    dec_in, _ = make_decoder_io(batch.tgt, batch.tgt_len, BOS, EOS, PAD)
    enc, h0 = model.encode(batch.src, batch.src_len)
    mask = length_mask(batch.src_len, batch.src.shape[0])
    logits, _, weights = model.decode(dec_in, h0, enc, mask)
    cell = nn.GRUCell(6, 5).double()
    cell.load_state_dict({k[:-3]: v for k, v in model.decoder.state_dict().items()})  # weight_ih_l0 -> weight_ih
    h = h0[0]
    for t in range(dec_in.shape[0]):
        step_logits, h, w = attention_decoder_step(cell, model.tgt_embed(dec_in[t]), h, enc.transpose(0, 1), mask,
                                                   model.combine.weight, model.combine.bias, model.out.weight,
                                                   model.out.bias)
        torch.testing.assert_close(step_logits, logits[t], atol=1e-12, rtol=0)
        torch.testing.assert_close(w, weights[t], atol=1e-12, rtol=0)


@pytest.mark.parametrize("attention", [None, "dot"])
def test_greedy_translate_agrees_with_greedy_and_beam_search_over_the_step_function(attention):
    model, batch = model_and_batch(attention, seed=1)
    pred, weights = greedy_translate(model, batch.src, batch.src_len, 8)
    assert (weights is None) == (attention is None)
    for b in range(4):
        n = int(batch.src_len[b])
        stepper = Seq2SeqStepper(model, batch.src[:n, b].tolist())
        seq = greedy_decode(stepper, BOS, EOS, 8)
        assert seq == pred[: len(seq), b].tolist()
        assert beam_search(stepper, BOS, EOS, 1, 8)[0][0] == seq
        (best, score), *_ = beam_search(stepper, BOS, EOS, 3, 8)
        assert score >= sum(float(stepper([BOS] + seq[:i])[t]) for i, t in enumerate(seq)) - 1e-9
        if attention:
            torch.testing.assert_close(stepper.weights([BOS]).float(), weights[0, b, :n].float(), atol=1e-6, rtol=0)


def test_exact_match_needs_the_whole_target_and_eos():
    tgt, tgt_len = pad_batch([[3, 4], [5]])
    pred = torch.tensor([[3, 5], [4, EOS], [EOS, 7]])  # (L, B): column b is a prediction
    assert exact_match(pred, tgt, tgt_len).tolist() == [True, True]
    assert exact_match(torch.tensor([[3, 5], [4, 3], [3, 7]]), tgt, tgt_len).tolist() == [False, False]


def test_a_few_training_steps_learn_to_copy_short_strings():
    torch.manual_seed(0)
    model = Seq2Seq(13, 16, 32, attention="dot")
    history = train_seq2seq(model, 150, batch_size=32, min_len=1, max_len=3, n_symbols=3, lr=1e-2)
    assert sum(history["loss"][-10:]) / 10 < 0.5 * sum(history["loss"][:10]) / 10
    assert accuracy_by_length(model, [2], n_per_length=50, n_symbols=3)[2] > 0.9
    batch = make_batch(50, 2, 2, n_symbols=3, generator=torch.Generator().manual_seed(5))
    assert teacher_forced_accuracy(model, batch) > 0.9


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_model_attention_and_decoding_run_on_the_inputs_device():
    model, batch = model_and_batch("dot")
    model = model.cuda()
    src, src_len = batch.src.cuda(), batch.src_len.cuda()
    pred_gpu, w_gpu = greedy_translate(model, src, src_len, 8)
    pred_cpu, w_cpu = greedy_translate(model.cpu(), batch.src, batch.src_len, 8)
    assert torch.equal(pred_gpu.cpu(), pred_cpu) and torch.allclose(w_gpu.cpu(), w_cpu, atol=1e-9)
    stepper = Seq2SeqStepper(model.cuda(), batch.src[: int(batch.src_len[0]), 0].tolist())
    assert greedy_decode(stepper, BOS, EOS, 8) == pred_cpu[: len(greedy_decode(stepper, BOS, EOS, 8)), 0].tolist()
