"""Synthetic captioning data: pictures of two coloured shapes, described by a small grammar.

A *scene* puts two objects on a 3 × 3 grid of cells, both in the same row or
both in the same column. Each object has a colour and a shape. The grammar of
the captions is

.. code-block:: text

    caption  -> object relation object
    object   -> "a" COLOUR SHAPE
    relation -> "left of" | "right of" | "above" | "below"

and a caption is *true* of a scene when it names both objects and their
spatial relation correctly. Every scene has exactly two true captions, one
for each order in which the objects can be named ("a red circle left of a
blue square" and "a blue square right of a red circle"), so a model has to
pick one of them: they serve as the two references of BLEU.

:func:`render` draws a scene into an RGB image ``(3, S, S)`` with values in
``[0, 1]`` (default ``S = 48``, so each grid cell is 16 × 16 pixels), with a
little jitter in position, size and colour and some pixel noise, all drawn
from a seeded ``numpy.random.Generator``. :func:`make_captioning_data` turns a
seed into a whole data set: images, scenes, teacher-forcing tensors and
references. Everything is deterministic given the seed.

Dimensions: ``N`` scenes, ``S`` image side in pixels, ``T`` caption length in
tokens (EOS included, padded with PAD), ``V`` vocabulary size.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from rnncourse._validate import check_positive_int, describe

COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.9, 0.15, 0.1), "green": (0.1, 0.75, 0.2), "blue": (0.15, 0.3, 0.95), "yellow": (0.95, 0.85, 0.1),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
#: relation -> (row offset, column offset) of the *second* object relative to the first
RELATIONS: dict[str, tuple[int, int]] = {"left of": (0, 1), "right of": (0, -1), "above": (1, 0), "below": (-1, 0)}
GRID = 3  # cells per side
SPECIALS = ("<pad>", "<bos>", "<eos>")


@dataclass(frozen=True)
class SceneObject:
    """One object: its colour, its shape and the grid cell ``(row, col)`` it sits in (row 0 is the top)."""

    colour: str
    shape: str
    row: int
    col: int

    def words(self) -> list[str]:
        return ["a", self.colour, self.shape]


@dataclass(frozen=True)
class Scene:
    """Two objects in distinct cells of the same row or the same column."""

    first: SceneObject
    second: SceneObject


# ----------------------------------------------------------------------------- vocabulary

class WordVocab:
    """Word-level vocabulary of the caption grammar: ids 0, 1, 2 are PAD, BOS, EOS, then the words.

    The words are fixed by the grammar (``a``, the colours, the shapes, and the
    words of the relations), so every vocabulary built by this module is the same.
    """

    def __init__(self) -> None:
        words = ["a", *COLOURS, *SHAPES]
        for rel in RELATIONS:
            words += [w for w in rel.split() if w not in words]
        self.tokens: list[str] = list(SPECIALS) + words
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.pad_id, self.bos_id, self.eos_id = 0, 1, 2

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, words: Sequence[str] | str) -> list[int]:
        """Word ids of a caption given as a string or a list of words (no BOS/EOS added)."""
        if isinstance(words, str):
            words = words.split()
        unknown = [w for w in words if w not in self.index]
        if unknown:
            raise ValueError(f"words not in the vocabulary: {unknown}; known words: {self.tokens[3:]}")
        return [self.index[w] for w in words]

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        """The caption text of ``ids``: stops at EOS and leaves out PAD and BOS."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        out = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i in (self.pad_id, self.bos_id):
                continue
            if not 0 <= i < len(self.tokens):
                raise ValueError(f"token id {i} is outside the vocabulary of {len(self.tokens)} tokens")
            out.append(self.tokens[i])
        return " ".join(out)


# ----------------------------------------------------------------------------- grammar

def true_captions(scene: Scene) -> list[str]:
    """The two captions that are true of ``scene``: first object named first, then second first."""
    a, b = scene.first, scene.second
    out = []
    for x, y in ((a, b), (b, a)):
        offset = (y.row - x.row, y.col - x.col)
        direction = (int(np.sign(offset[0])), int(np.sign(offset[1])))
        rel = next(r for r, d in RELATIONS.items() if d == direction)
        out.append(" ".join(x.words() + rel.split() + y.words()))
    return out


def parse_caption(caption: str | Sequence[str]) -> tuple[tuple[str, str], str, tuple[str, str]] | None:
    """``((colour, shape), relation, (colour, shape))`` if ``caption`` follows the grammar, else ``None``."""
    words = caption.split() if isinstance(caption, str) else list(caption)

    def obj(ws: list[str]) -> tuple[str, str] | None:
        if len(ws) == 3 and ws[0] == "a" and ws[1] in COLOURS and ws[2] in SHAPES:
            return ws[1], ws[2]
        return None

    if len(words) < 7:
        return None
    first = obj(words[:3])
    for rel in RELATIONS:
        n = len(rel.split())
        if " ".join(words[3:3 + n]) == rel:
            second = obj(words[3 + n:])
            if first is not None and second is not None:
                return first, rel, second
    return None


def is_true_caption(caption: str | Sequence[str], scene: Scene) -> bool:
    """Whether ``caption`` follows the grammar and is true of ``scene``."""
    text = caption if isinstance(caption, str) else " ".join(caption)
    return parse_caption(text) is not None and text in true_captions(scene)


def random_scene(rng: np.random.Generator) -> Scene:
    """Two objects with random colours and shapes in two random cells of one row or one column."""
    line, k = int(rng.integers(2)), int(rng.integers(GRID))  # 0: same row k, 1: same column k
    i, j = rng.choice(GRID, size=2, replace=False)
    cells = [(k, int(i)), (k, int(j))] if line == 0 else [(int(i), k), (int(j), k)]
    objs = [SceneObject(str(rng.choice(list(COLOURS))), str(rng.choice(SHAPES)), r, c) for r, c in cells]
    return Scene(objs[0], objs[1])


# ----------------------------------------------------------------------------- drawing

def _shape_mask(shape: str, yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, r: float) -> np.ndarray:
    """Boolean mask of a shape of half-size ``r`` centred at ``(cy, cx)`` (pixel coordinates)."""
    if shape == "circle":
        return (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2
    if shape == "square":
        return (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r)
    if shape == "triangle":  # apex up, base at cy + r
        t = (yy - (cy - r)) / (2 * r)  # 0 at the apex, 1 at the base
        return (t >= 0) & (t <= 1) & (np.abs(xx - cx) <= t * r)
    raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")


def render(scene: Scene, rng: np.random.Generator, size: int = 48, noise: float = 0.05) -> np.ndarray:
    """Draw ``scene`` as a float32 RGB image ``(3, size, size)`` with values in ``[0, 1]``.

    Each object is centred in its cell up to a jitter of ±1/8 of a cell, with a
    half-size between 0.28 and 0.36 of a cell; colours vary by ±0.08 per
    channel; Gaussian pixel noise of standard deviation ``noise`` is added on a
    dark background, then values are clipped to ``[0, 1]``.
    """
    check_positive_int("size", size)
    if size < 12:
        raise ValueError(f"size must be at least 12 pixels, got {size}")
    cell = size / GRID
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    img = np.full((3, size, size), 0.08)
    for obj in (scene.first, scene.second):
        cy = (obj.row + 0.5) * cell + rng.uniform(-cell / 8, cell / 8)
        cx = (obj.col + 0.5) * cell + rng.uniform(-cell / 8, cell / 8)
        r = cell * rng.uniform(0.28, 0.36)
        colour = np.clip(np.array(COLOURS[obj.colour]) + rng.uniform(-0.08, 0.08, 3), 0, 1)
        mask = _shape_mask(obj.shape, yy, xx, cy, cx, r)
        img[:, mask] = colour[:, None]
    img += rng.normal(0.0, noise, img.shape)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


# ----------------------------------------------------------------------------- data sets

@dataclass
class CaptioningData:
    """A captioning data set.

    Attributes:
        images: ``(N, 3, S, S)`` float32 in ``[0, 1]``.
        scenes: the ``N`` :class:`Scene` objects drawn.
        captions: the caption of each image used for training (one of its two true captions, chosen at random).
        references: the two true captions of each image (the references of BLEU).
        inputs: ``(T, N)`` long, teacher-forcing inputs ``[BOS] + words``, padded with PAD.
        targets: ``(T, N)`` long, ``words + [EOS]``, padded with PAD.
        vocab: the :class:`WordVocab`.
    """

    images: torch.Tensor
    scenes: list[Scene]
    captions: list[str]
    references: list[list[str]]
    inputs: torch.Tensor
    targets: torch.Tensor
    vocab: WordVocab

    def __len__(self) -> int:
        return len(self.scenes)


def make_captioning_data(n: int, seed: int, size: int = 48, noise: float = 0.05) -> CaptioningData:
    """``n`` random scenes, their images and captions, all determined by ``seed``.

    Args:
        n: number of scenes, ``>= 1``.
        seed: seed of the ``numpy.random.Generator`` that draws scenes, captions and pixels.
        size: image side ``S`` in pixels (a multiple of 3 keeps cells aligned with pixels).
        noise: standard deviation of the pixel noise.

    Returns:
        A :class:`CaptioningData`; the same arguments always give the same data.
    """
    check_positive_int("n", n)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {describe(seed)}")
    rng = np.random.default_rng(seed)
    vocab = WordVocab()
    scenes = [random_scene(rng) for _ in range(n)]
    images = np.stack([render(s, rng, size, noise) for s in scenes])  # (N, 3, S, S)
    references = [true_captions(s) for s in scenes]
    choice = rng.integers(2, size=n)
    captions = [refs[int(c)] for refs, c in zip(references, choice)]
    ids = [vocab.encode(c) for c in captions]
    T = max(len(x) for x in ids) + 1
    inputs = torch.full((T, n), vocab.pad_id, dtype=torch.long)
    targets = torch.full((T, n), vocab.pad_id, dtype=torch.long)
    for j, x in enumerate(ids):
        inputs[: len(x) + 1, j] = torch.tensor([vocab.bos_id] + x)
        targets[: len(x) + 1, j] = torch.tensor(x + [vocab.eos_id])
    return CaptioningData(torch.from_numpy(images), scenes, captions, references, inputs, targets, vocab)


def mentioned_objects(caption: str, scene: Scene) -> tuple[SceneObject, SceneObject]:
    """The objects of ``scene`` in the order a true ``caption`` names them; ``ValueError`` for any other caption."""
    refs = true_captions(scene)
    if caption == refs[0]:
        return scene.first, scene.second
    if caption == refs[1]:
        return scene.second, scene.first
    raise ValueError(f"caption {caption!r} is not true of the scene (true captions: {refs})")
