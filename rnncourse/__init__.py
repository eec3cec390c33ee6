"""rnncourse: reference implementations for a course on recurrent neural networks.

Every function and class that the course's exercises ask for has a reference
implementation here, importable from the package root::

    from rnncourse import lstm_step, beam_search

Names are resolved lazily, so ``import rnncourse`` stays fast and the numpy
chapters do not pay for importing torch.

Dimensions used throughout the docstrings:

* ``T`` — sequence length (time steps), sequences are time-major ``(T, B, ...)``
* ``B`` — batch size
* ``D`` — input size
* ``H`` — hidden size
* ``V`` — vocabulary size
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # 01_rnn (numpy)
    "rnn_step": "rnn", "rnn_forward": "rnn", "softmax": "rnn", "cross_entropy": "rnn",
    "one_hot": "rnn",
    # 02_bptt (numpy)
    "rnn_step_backward": "bptt", "rnn_backward": "bptt", "numerical_gradient": "bptt",
    "truncated_rnn_backward": "bptt", "relative_error": "bptt",
    # 03_clipping (numpy)
    "global_grad_norm": "clipping", "clip_grad_norm": "clipping", "clip_grad_value": "clipping",
    "hidden_jacobian": "clipping", "jacobian_norms": "clipping", "orthogonal_init": "clipping",
    # 04_lstm (torch)
    "lstm_step": "lstm", "lstm_forward": "lstm", "peephole_lstm_step": "lstm",
    "init_forget_bias": "lstm", "lstm_from_rnn": "lstm",
    # 05_gru (torch)
    "gru_step": "gru", "gru_forward": "gru", "rnn_param_counts": "gru", "gru_from_rnn": "gru",
    "cho_gru_step": "gru",
    # from-scratch layers
    "RNN": "layers", "LSTM": "layers", "GRU": "layers",
    # 06_language_model (torch)
    "make_lm_pairs": "lm", "lm_loss": "lm", "perplexity": "lm", "bits_per_char": "lm",
    "detach_state": "lm", "CharRNNLM": "lm", "find_unit": "hidden_units",
    "unit_correlations": "hidden_units",
    # 07_sampling (torch)
    "temperature_softmax": "sampling", "top_k_filter": "sampling", "top_p_filter": "sampling",
    "greedy_decode": "sampling", "sample_sequence": "sampling", "beam_search": "sampling",
    # 08_seq2seq_attention (torch)
    "dot_attention": "attention", "additive_attention": "attention", "length_mask": "attention",
    "make_decoder_io": "seq2seq", "attention_decoder_step": "seq2seq", "Seq2Seq": "seq2seq",
    "SymbolVocab": "seqtasks", "make_batch": "seqtasks",
    # 09_captioning (torch)
    "init_state_from_features": "captioning", "conditioned_gru_step": "captioning",
    "spatial_attention": "captioning", "SceneEncoder": "captioning", "ShowAndTell": "captioning",
    "ShowAttendTell": "captioning", "CaptionStepper": "captioning", "caption_image": "captioning",
    "attention_maps": "captioning", "attention_on_objects": "captioning", "train_captioner": "captioning",
    "evaluate_captioner": "captioning",
    "modified_precision": "bleu_score", "bleu": "bleu_score", "corpus_bleu": "bleu_score",
    "make_captioning_data": "scenes", "WordVocab": "scenes",
    # data, training, generation
    "CharVocab": "data", "load_corpus": "data", "TrainConfig": "train",
    "load_pretrained": "pretrained",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rnncourse' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"rnncourse.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
