"""The tiny Shakespeare corpus, a character vocabulary and batches for truncated BPTT.

The corpus (about 1.1 M characters of Shakespeare's plays, collected by
Karpathy, 2015, for char-rnn) ships inside the package, so nothing is
downloaded at run time; its SHA-256 is checked every time it is loaded.

The standard split, used by char-rnn and nanoGPT alike, takes the first 90 %
of the characters for training and the last 10 % for validation.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import torch

from rnncourse._checks import check_positive_int, describe

CORPUS_FILE = "tinyshakespeare.txt"
CORPUS_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"


def load_corpus(verify: bool = True) -> str:
    """Return the tiny Shakespeare text shipped with the package.

    Args:
        verify: check the file's SHA-256 against :data:`CORPUS_SHA256` and raise
            ``RuntimeError`` on a mismatch (a corrupted or edited copy).
    """
    data = (Path(__file__).parent / "data" / CORPUS_FILE).read_bytes()
    if verify:
        digest = hashlib.sha256(data).hexdigest()
        if digest != CORPUS_SHA256:
            raise RuntimeError(
                f"{CORPUS_FILE} is corrupted: sha256 {digest}, expected {CORPUS_SHA256}"
            )
    return data.decode("utf-8")


def split_corpus(text: str, val_fraction: float = 0.1) -> tuple[str, str]:
    """Split ``text`` into (train, validation): the first ``1 - val_fraction`` of the characters and the rest."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    n_train = int(len(text) * (1.0 - val_fraction))
    return text[:n_train], text[n_train:]


@dataclass
class CharVocab:
    """A character vocabulary with three special tokens.

    Ids: ``PAD = 0``, ``BOS = 1`` (beginning of sequence), ``EOS = 2`` (end of
    sequence), then one id per character in sorted order.
    """

    chars: list[str]  # the ordinary characters, sorted; character chars[i] has id i + 3
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(set(self.chars)) != len(self.chars):
            raise ValueError("chars must not contain duplicates")
        self._index = {c: i + 3 for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> "CharVocab":
        """The vocabulary of every distinct character in ``text``."""
        return cls(sorted(set(text)))

    pad_id: int = field(default=0, init=False)
    bos_id: int = field(default=1, init=False)
    eos_id: int = field(default=2, init=False)

    @property
    def specials(self) -> list[str]:
        return [PAD, BOS, EOS]

    @property
    def tokens(self) -> list[str]:
        """Every token, indexed by id (special tokens first)."""
        return self.specials + list(self.chars)

    def __len__(self) -> int:
        return len(self.chars) + 3

    def encode(self, text: str) -> list[int]:
        """Ids of the characters of ``text``; ``ValueError`` names an unknown character."""
        try:
            return [self._index[c] for c in text]
        except KeyError as err:
            raise ValueError(f"text contains a character outside the vocabulary: {err.args[0]!r}") from None

    def decode(self, ids: Sequence[int] | torch.Tensor, skip_special: bool = True) -> str:
        """The text of ``ids``; special tokens are dropped (or shown as ``<bos>`` etc.)."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        tokens = self.tokens
        out = []
        for i in ids:
            if not 0 <= int(i) < len(tokens):
                raise ValueError(f"ids contains {i!r}, outside [0, {len(tokens)})")
            if int(i) < 3 and skip_special:
                continue
            out.append(tokens[int(i)])
        return "".join(out)

    def to_dict(self) -> dict:
        return {"chars": list(self.chars)}

    @classmethod
    def from_dict(cls, d: dict) -> "CharVocab":
        return cls(list(d["chars"]))


def encode_stream(vocab: CharVocab, text: str) -> torch.Tensor:
    """``[BOS] + ids(text)`` as a 1-D ``LongTensor``: one continuous stream for truncated BPTT."""
    return torch.tensor([vocab.bos_id] + vocab.encode(text), dtype=torch.long)


def batchify(stream: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Cut a 1-D stream into ``batch_size`` contiguous columns: shape ``(N, B)``.

    Column ``b`` holds the ``b``-th consecutive piece of the stream, so reading
    the rows in order continues every column's text: the recurrent state of
    column ``b`` can be carried from one window to the next.
    """
    check_positive_int("batch_size", batch_size)
    if stream.dim() != 1:
        raise ValueError(f"stream must be 1-D, got {describe(stream)}")
    n = stream.numel() // batch_size
    if n < 2:
        raise ValueError(f"stream of {stream.numel()} tokens is too short for batch_size={batch_size}")
    return stream[: n * batch_size].view(batch_size, n).t().contiguous()  # (N, B)


def bptt_windows(columns: torch.Tensor, seq_len: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Consecutive windows ``(x, y)`` of shape ``(T, B)`` with ``y`` the next token of ``x``.

    ``columns`` is the ``(N, B)`` output of :func:`batchify`; the last window may be shorter.
    """
    check_positive_int("seq_len", seq_len)
    for start in range(0, columns.size(0) - 1, seq_len):
        end = min(start + seq_len, columns.size(0) - 1)
        yield columns[start:end], columns[start + 1 : end + 1]
