"""Toy sequence-to-sequence tasks whose difficulty grows with the input length: copy and reverse.

A source is a string of random digits; the target is the same string
(``"copy"``) or the string reversed (``"reverse"``). Neither task needs any
knowledge beyond the source itself, so every error a model makes is a failure
to carry the source to the decoder. Without attention the decoder sees the
source only through the encoder's last state, a vector of fixed size, and
longer sources must be squeezed into it; with attention it can look at every
source position.

Token ids (shared by source and target): ``PAD = 0``, ``BOS = 1``, ``EOS = 2``,
then one id per symbol. Batches are padded and time-major: ``src (S, B)``,
``tgt (T, B)`` with ``PAD`` after the end of each sequence and the true lengths
alongside. Targets carry no BOS/EOS; :func:`rnncourse.seq2seq.make_decoder_io`
adds them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from rnncourse._validate import check_positive_int, describe

PAD, BOS, EOS = 0, 1, 2
TASKS = ("copy", "reverse")


@dataclass(frozen=True)
class SymbolVocab:
    """Special tokens ``<pad>``, ``<bos>``, ``<eos>`` followed by one token per character of ``symbols``."""

    symbols: str = "0123456789"

    @property
    def tokens(self) -> list[str]:
        return ["<pad>", "<bos>", "<eos>"] + list(self.symbols)

    def __len__(self) -> int:
        return 3 + len(self.symbols)

    def encode(self, text: str) -> list[int]:
        """Ids of the characters of ``text`` (each must be one of ``symbols``)."""
        bad = [c for c in text if c not in self.symbols]
        if bad:
            raise ValueError(f"text contains {bad[0]!r}, which is not one of the symbols {self.symbols!r}")
        return [3 + self.symbols.index(c) for c in text]

    def decode(self, ids: Sequence[int] | torch.Tensor, stop_at_eos: bool = True) -> str:
        """The symbols of ``ids``, skipping PAD and BOS, up to the first EOS (when ``stop_at_eos``)."""
        out = []
        for i in (ids.tolist() if isinstance(ids, torch.Tensor) else ids):
            i = int(i)
            if i == EOS and stop_at_eos:
                break
            if i >= 3:
                out.append(self.symbols[i - 3])
        return "".join(out)


@dataclass
class Batch:
    """A padded, time-major batch: ``src (S, B)``, ``src_len (B,)``, ``tgt (T, B)``, ``tgt_len (B,)``."""

    src: torch.Tensor
    src_len: torch.Tensor
    tgt: torch.Tensor
    tgt_len: torch.Tensor


def target_of(source: Sequence[int], task: str) -> list[int]:
    """The target ids of ``source`` ids for ``task`` (``"copy"`` or ``"reverse"``)."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    return list(source) if task == "copy" else list(source)[::-1]


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int = PAD) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack id lists of different lengths into ``(L_max, B)`` (time-major, ``pad_id`` after each end) and lengths ``(B,)``."""
    if not seqs:
        raise ValueError("seqs must hold at least one sequence")
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    out = torch.full((int(lengths.max()), len(seqs)), pad_id, dtype=torch.long)  # (L, B)
    for b, s in enumerate(seqs):
        out[: len(s), b] = torch.as_tensor(list(s), dtype=torch.long)
    return out, lengths


def make_batch(batch_size: int, min_len: int, max_len: int, task: str = "copy", n_symbols: int = 10,
               generator: torch.Generator | None = None, lengths: Sequence[int] | None = None) -> Batch:
    """A batch of random digit strings and their targets.

    Each length is drawn uniformly from ``min_len … max_len`` (or taken from
    ``lengths``), each symbol uniformly from the ``n_symbols`` symbols.

    Args:
        batch_size: ``B >= 1``.
        min_len, max_len: range of source lengths, ``1 <= min_len <= max_len``.
        task: ``"copy"`` or ``"reverse"``.
        n_symbols: size of the symbol alphabet (the vocabulary has 3 more tokens).
        generator: a ``torch.Generator`` for reproducible batches.
        lengths: ``B`` explicit source lengths, overriding ``min_len``/``max_len``.

    Returns:
        A :class:`Batch` with ``src``, ``tgt`` of shape ``(L, B)`` where ``L`` is the longest length drawn.
    """
    check_positive_int("batch_size", batch_size)
    check_positive_int("min_len", min_len)
    check_positive_int("max_len", max_len)
    check_positive_int("n_symbols", n_symbols)
    if min_len > max_len:
        raise ValueError(f"min_len must be <= max_len, got min_len={min_len}, max_len={max_len}")
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if lengths is None:
        lens = torch.randint(min_len, max_len + 1, (batch_size,), generator=generator).tolist()
    else:
        lens = [int(n) for n in lengths]
        if len(lens) != batch_size or min(lens) < 1:
            raise ValueError(f"lengths must hold batch_size={batch_size} numbers >= 1, got {describe(lengths)}")
    sources = [(3 + torch.randint(0, n_symbols, (n,), generator=generator)).tolist() for n in lens]
    src, src_len = pad_batch(sources)
    tgt, tgt_len = pad_batch([target_of(s, task) for s in sources])
    return Batch(src, src_len, tgt, tgt_len)


def reverse_padded(seqs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each column of a padded ``(L, B)`` batch within its length; padding stays at the end.

    Sutskever et al. (2014) fed the source sentence backwards: the first target
    words then sit close to the first source words, which the encoder read last.
    """
    L = seqs.shape[0]
    pos = torch.arange(L)[:, None]  # (L, 1)
    idx = (lengths[None, :] - 1 - pos)  # (L, B): position read at step t
    idx = torch.where(idx >= 0, idx, pos.expand_as(idx))  # padding maps onto itself
    return torch.gather(seqs, 0, idx)
