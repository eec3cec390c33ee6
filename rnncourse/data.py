"""The tiny Shakespeare corpus, a character vocabulary and batches for truncated BPTT.

The corpus (about 1.1 M characters of Shakespeare's plays, collected by
Karpathy, 2015, for char-rnn) ships inside the package, so nothing is
downloaded at run time; its SHA-256 is checked every time it is loaded.

The standard split, used by char-rnn and nanoGPT alike, takes the first 90 %
of the characters for training and the last 10 % for validation.

Two ways to feed the text to a model live here. :func:`encode_stream`,
:func:`batchify` and :func:`bptt_windows` read it as one continuous stream
(char-rnn's way). :func:`split_units` and :func:`unit_batches` cut it into
units (speeches or lines), wrap each in ``BOS … EOS``, pad them to a common
length and batch them, so that a model learns where a unit begins and where it
ends; the padding is masked out of the loss.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import torch

from rnncourse._validate import check_positive_int, describe
from rnncourse.lm import make_lm_pairs

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


#: The units :func:`split_units` can cut a text into.
UNITS = ("speech", "line")


def split_units(text: str, unit: str = "speech") -> list[str]:
    """Cut ``text`` into units: speeches (blocks between blank lines) or lines.

    In tiny Shakespeare a speech is the speaker's name, a colon and the lines
    spoken, e.g. ``"All:\nSpeak, speak."``; speeches are separated by a blank
    line. Leading and trailing newlines are dropped and empty units skipped, so
    joining speeches with ``"\n\n"`` (lines with ``"\n"``) gives the text back
    up to blank lines.
    """
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
    parts = text.split("\n\n") if unit == "speech" else text.split("\n")
    return [p.strip("\n") for p in parts if p.strip()]


def encode_units(vocab: "CharVocab", units: Sequence[str]) -> list[torch.Tensor]:
    """Each unit's ids as a 1-D ``LongTensor`` (no BOS or EOS yet)."""
    return [torch.tensor(vocab.encode(u), dtype=torch.long) for u in units]


def pad_sequences(seqs: Sequence[torch.Tensor], pad_id: int) -> torch.Tensor:
    """Stack 1-D sequences of different lengths as the columns of an ``(L, B)`` tensor, padded with ``pad_id``."""
    if not seqs:
        raise ValueError("seqs must hold at least one sequence")
    return torch.nn.utils.rnn.pad_sequence(list(seqs), padding_value=pad_id)  # (L, B)


def unit_batches(
    units: Sequence[torch.Tensor],
    batch_size: int,
    bos_id: int,
    eos_id: int,
    pad_id: int,
    generator: torch.Generator | None = None,
    bucket: int = 32,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Padded batches ``(x, y)``, each ``(L, B)``, of units wrapped in ``BOS … EOS``.

    Every unit ``u`` becomes the pair ``x = [BOS] + u``, ``y = u + [EOS]``
    (:func:`rnncourse.lm.make_lm_pairs`); a batch stacks ``batch_size`` of them
    as columns, padded with ``pad_id`` after their end in both ``x`` and ``y``
    (``L`` is the longest unit's length plus one). Padding sits after a unit's
    last token, so the recurrence never reads it before a real token; a loss
    that ignores ``pad_id`` (``lm_loss(logits, y, pad_id)``) sees only the
    real positions.

    To waste little on padding, units of similar length share a batch: without
    ``generator`` all units are sorted by length (evaluation: the same batches
    every time); with it, the units are shuffled, sorted by length within
    groups of ``bucket * batch_size``, and the batches served in random order
    (training: a different order every epoch). Within a batch the columns run
    from the longest unit to the shortest, so the columns still running at any
    time step are a prefix ``[:, :k]``.
    """
    check_positive_int("batch_size", batch_size)
    check_positive_int("bucket", bucket)
    n = len(units)
    if generator is None:
        order = sorted(range(n), key=lambda i: units[i].numel())
        batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    else:
        perm = torch.randperm(n, generator=generator).tolist()
        group = bucket * batch_size
        batches = []
        for g in range(0, n, group):
            chunk = sorted(perm[g : g + group], key=lambda i: units[i].numel())
            batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    for batch in batches:
        batch = sorted(batch, key=lambda i: -units[i].numel())  # longest first
        pairs = [make_lm_pairs(units[i], bos_id, eos_id) for i in batch]
        x = pad_sequences([p[0] for p in pairs], pad_id)  # (L, B)
        y = pad_sequences([p[1] for p in pairs], pad_id)  # (L, B)
        yield x, y
