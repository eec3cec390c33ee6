r"""Image captioning: a CNN encoder conditions a recurrent decoder, with or without attention.

A language model draws a sentence from :math:`p(y)`; a captioning model draws
it from :math:`p(y \mid \text{image})`. The image enters the decoder in up to
three places (Vinyals et al., 2015; Karpathy & Fei-Fei, 2015; Xu et al., 2015):

* the **initial state**, :math:`h_0 = \tanh(W_{init} v + b_{init})`
  (:func:`init_state_from_features`), i.e. :math:`h_0 = \text{Linear}(\text{Encoder}(x))`;
* the **input at every step**, concatenated with the word embedding:
  :math:`h_t = \text{GRU}([e_{t}; v],\ h_{t-1})` (:func:`conditioned_gru_step`),
  which adds a term :math:`W_{iv} v` to every gate, as the vanilla form
  :math:`h_t = \tanh(W_{xh} x_t + W_{hh} h_{t-1} + W_{ih} v)` does;
* a **context vector chosen by attention** over the spatial grid of CNN
  features, recomputed at every step from the previous state
  (:func:`spatial_attention`, "show, attend and tell").

Dimensions: ``B`` batch, ``S`` image side, ``L`` grid positions
(``(S/8)**2``), ``C`` channels of a grid position, ``F`` size of the global
image vector, ``E`` word embedding size, ``H`` hidden size, ``A`` attention
size, ``V`` vocabulary size, ``T`` caption length. Sequences are time-major.

Both decoders share one interface, used by :class:`CaptionStepper` (a chapter-7
step function) and by teacher-forced training:

* ``model.start(images) -> state``: encode the images, initial decoder state;
* ``model.step(tokens (B,), state) -> (logits (B, V), state, weights (B, L) or None)``;
* ``model(images, inputs (T, B)) -> (logits (T, B, V), weights (T, B, L) or None)``.
"""
from __future__ import annotations

import math
import time
from typing import Any, Sequence

import torch
from torch import nn

from rnncourse._validate import check_positive_int, describe
from rnncourse._validate_torch import check_tensor
from rnncourse.bleu_score import corpus_bleu
from rnncourse.lm import lm_loss
from rnncourse.sampling import beam_search, greedy_decode
from rnncourse.scenes import GRID, CaptioningData, WordVocab, is_true_caption, mentioned_objects, parse_caption


# ----------------------------------------------------------------------------- the three equations

def init_state_from_features(features: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    r"""Initial decoder state from image features: :math:`h_0 = \tanh(v W^\top + b)`.

    Args:
        features: ``v``, ``(B, F)``.
        W: ``(H, F)`` (the layout of ``nn.Linear(F, H).weight``).
        b: ``(H,)``.

    Returns:
        ``(B, H)``, equal to ``torch.tanh(nn.Linear(F, H)(features))`` with the same weights.
    """
    check_tensor("features", features, (None, None))
    check_tensor("W", W, (None, features.shape[1]))
    check_tensor("b", b, (W.shape[0],))
    return torch.tanh(features @ W.T + b)  # (B, H)


def conditioned_gru_step(x_t: torch.Tensor, v: torch.Tensor, h_prev: torch.Tensor, W_ih: torch.Tensor,
                         W_hh: torch.Tensor, b_ih: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
    r"""One GRU step whose input is the word embedding and the image vector side by side, :math:`u_t = [x_t; v]`.

    .. math::

        r &= \sigma(W_{ir} u_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) \\
        z &= \sigma(W_{iz} u_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) \\
        n &= \tanh(W_{in} u_t + b_{in} + r \odot (W_{hn} h_{t-1} + b_{hn})) \\
        h_t &= (1 - z) \odot n + z \odot h_{t-1}

    Splitting the columns of :math:`W_{ih} = [W_{ix} \mid W_{iv}]` shows the
    image term of every gate: :math:`W_{ih} u_t = W_{ix} x_t + W_{iv} v`.

    Args:
        x_t: ``(B, E)`` word embedding of the previous token.
        v: ``(B, F)`` image vector (the same at every step, or an attention context).
        h_prev: ``(B, H)``.
        W_ih: ``(3H, E + F)``, gate order r, z, n (``nn.GRUCell(E + F, H).weight_ih``);
            its first ``E`` columns read ``x_t``, the last ``F`` read ``v``.
        W_hh: ``(3H, H)``.
        b_ih, b_hh: ``(3H,)``.

    Returns:
        ``h_t``, ``(B, H)``; equal to ``nn.GRUCell(E + F, H)(torch.cat([x_t, v], 1), h_prev)``.
    """
    check_tensor("x_t", x_t, (None, None))
    check_tensor("v", v, (x_t.shape[0], None))
    check_tensor("h_prev", h_prev, (x_t.shape[0], None))
    H = h_prev.shape[1]
    check_tensor("W_ih", W_ih, (3 * H, x_t.shape[1] + v.shape[1]))
    check_tensor("W_hh", W_hh, (3 * H, H))
    check_tensor("b_ih", b_ih, (3 * H,))
    check_tensor("b_hh", b_hh, (3 * H,))
    u = torch.cat([x_t, v], dim=1)  # (B, E + F)
    gi = u @ W_ih.T + b_ih  # (B, 3H)
    gh = h_prev @ W_hh.T + b_hh  # (B, 3H)
    i_r, i_z, i_n = gi.chunk(3, dim=1)  # (B, H) each
    h_r, h_z, h_n = gh.chunk(3, dim=1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h_prev  # (B, H)


def spatial_attention(h: torch.Tensor, grid: torch.Tensor, W_h: torch.Tensor, W_g: torch.Tensor,
                      w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Additive attention of a decoder state over the positions of an image feature grid.

    For grid vectors :math:`a_1 \dots a_L` (one per image region) and the
    decoder state :math:`h`,

    .. math::

        e_l = w^\top \tanh(W_h h + W_g a_l), \qquad
        \alpha_l = \frac{\exp e_l}{\sum_{l'} \exp e_{l'}}, \qquad
        z = \sum_l \alpha_l a_l .

    Args:
        h: ``(B, H)`` decoder state (the one *before* the word is produced).
        grid: ``(B, L, C)`` features of ``L`` regions.
        W_h: ``(A, H)``.
        W_g: ``(A, C)``.
        w: ``(A,)``.

    Returns:
        ``(context, weights)``: ``z`` ``(B, C)`` and ``alpha`` ``(B, L)`` (each row sums to 1).
    """
    check_tensor("h", h, (None, None))
    check_tensor("grid", grid, (h.shape[0], None, None))
    check_tensor("W_h", W_h, (None, h.shape[1]))
    check_tensor("W_g", W_g, (W_h.shape[0], grid.shape[2]))
    check_tensor("w", w, (W_h.shape[0],))
    keys = grid @ W_g.T  # (B, L, A)
    scores = torch.tanh(keys + (h @ W_h.T).unsqueeze(1)) @ w  # (B, L)
    weights = torch.softmax(scores, dim=1)  # (B, L)
    context = torch.bmm(weights.unsqueeze(1), grid).squeeze(1)  # (B, 1, L) @ (B, L, C) -> (B, C)
    return context, weights


# ----------------------------------------------------------------------------- encoder

class SceneEncoder(nn.Module):
    """A small CNN: three 4 × 4 convolutions of stride 2, each followed by a ReLU.

    ``(B, 3, S, S) -> (B, L, C)`` with ``L = (S/8)**2`` grid positions in
    row-major order and ``C = channels + 2``: the last two channels are the
    position of the region, ``x`` and ``y`` in ``[-1, 1]`` (left/top is -1).
    Convolutions see *what* is in a region but hardly *where* the region is;
    the coordinates make the position part of every feature vector, so an
    attention context (a weighted average of vectors) still says where it looked.

    Args:
        channels: channels of the last convolution.
    """

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        check_positive_int("channels", channels)
        mid = max(channels // 2, 1)
        self.net = nn.Sequential(  # each layer halves the side: S -> S/2 -> S/4 -> S/8
            nn.Conv2d(3, mid, 4, stride=2, padding=1), nn.BatchNorm2d(mid), nn.ReLU(),
            nn.Conv2d(mid, channels, 4, stride=2, padding=1), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 4, stride=2, padding=1), nn.BatchNorm2d(channels), nn.ReLU(),
        )
        self.channels = channels + 2

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must have shape (B, 3, S, S), got {describe(images)}")
        maps = self.net(images)  # (B, C', S/8, S/8)
        B, _, gh, gw = maps.shape
        ys = torch.linspace(-1, 1, gh, dtype=maps.dtype, device=maps.device)
        xs = torch.linspace(-1, 1, gw, dtype=maps.dtype, device=maps.device)
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")  # (gh, gw) each
        coords = torch.stack([xx, yy]).expand(B, 2, gh, gw)
        maps = torch.cat([maps, coords], dim=1)  # (B, C, gh, gw)
        return maps.flatten(2).transpose(1, 2)  # (B, L, C)


# ----------------------------------------------------------------------------- decoders

class _Decoder(nn.Module):
    """What both decoders share: embedding, GRU weights, teacher-forced forward."""

    attention = False

    def forward(self, images: torch.Tensor, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher forcing: ``images (B, 3, S, S)``, ``inputs (T, B)`` -> ``logits (T, B, V)``, weights ``(T, B, L)`` or None."""
        if not isinstance(inputs, torch.Tensor) or inputs.dim() != 2 or inputs.is_floating_point():
            raise ValueError(f"inputs must be a (T, B) tensor of token ids, got {describe(inputs)}")
        state = self.start(images)
        logits, weights = [], []
        for t in range(inputs.shape[0]):
            out, state, alpha = self.step(inputs[t], state)
            logits.append(out)
            weights.append(alpha)
        stacked = torch.stack(weights) if self.attention else None  # (T, B, L)
        return torch.stack(logits), stacked  # (T, B, V)


class ShowAndTell(_Decoder):
    r"""Captioner with one global image vector: :math:`h_0` from the image, and the image fed at every step.

    .. math::

        v = \text{ReLU}(W_v\, \text{flatten}(\text{grid}) + b_v), \quad
        h_0 = \tanh(W_{init} v + b_{init}), \quad
        h_t = \text{GRU}([E y_{t-1}; v], h_{t-1}), \quad
        \text{logits}_t = W_o h_t + b_o

    With ``feed_image=False`` the GRU reads only the word (the image enters
    through :math:`h_0` alone, as in Vinyals et al., 2015); with
    ``init_from_image=False``, :math:`h_0 = 0` and the image enters only
    through the inputs.

    Args:
        vocab_size: ``V``.
        image_size: ``S`` (a multiple of 8).
        channels, feature_size, emb_size, hidden_size: ``C - 2``, ``F``, ``E``, ``H``.
    """

    def __init__(self, vocab_size: int, image_size: int = 48, channels: int = 32, feature_size: int = 64,
                 emb_size: int = 16, hidden_size: int = 128, feed_image: bool = True,
                 init_from_image: bool = True) -> None:
        super().__init__()
        for name, value in [("vocab_size", vocab_size), ("image_size", image_size), ("feature_size", feature_size),
                            ("emb_size", emb_size), ("hidden_size", hidden_size)]:
            check_positive_int(name, value)
        if image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8, got {image_size}")
        self.encoder = SceneEncoder(channels)
        L = (image_size // 8) ** 2
        self.project = nn.Linear(L * self.encoder.channels, feature_size)
        self.init = nn.Linear(feature_size, hidden_size)
        self.embedding = nn.Embedding(vocab_size, emb_size)
        self.feed_image, self.init_from_image = feed_image, init_from_image
        self.cell = nn.GRUCell(emb_size + (feature_size if feed_image else 0), hidden_size)
        self.head = nn.Linear(hidden_size, vocab_size)

    def start(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(h_0 (B, H), v (B, F))``."""
        grid = self.encoder(images)  # (B, L, C)
        v = torch.relu(self.project(grid.flatten(1)))  # (B, F)
        if self.init_from_image:
            h = init_state_from_features(v, self.init.weight, self.init.bias)  # (B, H)
        else:
            h = v.new_zeros(v.shape[0], self.cell.hidden_size)
        return h, v

    def step(self, tokens: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        h, v = state
        x = self.embedding(tokens)  # (B, E)
        c = self.cell
        if self.feed_image:
            h = conditioned_gru_step(x, v, h, c.weight_ih, c.weight_hh, c.bias_ih, c.bias_hh)  # (B, H)
        else:
            h = conditioned_gru_step(x, v[:, :0], h, c.weight_ih, c.weight_hh, c.bias_ih, c.bias_hh)
        return self.head(h), (h, v), None  # logits (B, V)


class ShowAttendTell(_Decoder):
    r"""Captioner that attends over the grid of image regions at every step (Xu et al., 2015, soft attention).

    .. math::

        h_0 = \tanh(W_{init} \bar a + b_{init}), \quad \bar a = \tfrac1L \textstyle\sum_l a_l, \\
        (z_t, \alpha_t) = \text{attention}(h_{t-1}, a_{1..L}), \quad
        h_t = \text{GRU}([E y_{t-1}; z_t], h_{t-1}), \quad
        \text{logits}_t = W_o [h_t; z_t] + b_o

    Args:
        vocab_size: ``V``.
        channels, emb_size, hidden_size, attention_size: ``C - 2``, ``E``, ``H``, ``A``.
    """

    attention = True

    def __init__(self, vocab_size: int, channels: int = 32, emb_size: int = 16, hidden_size: int = 128,
                 attention_size: int = 64) -> None:
        super().__init__()
        for name, value in [("vocab_size", vocab_size), ("emb_size", emb_size), ("hidden_size", hidden_size),
                            ("attention_size", attention_size)]:
            check_positive_int(name, value)
        self.encoder = SceneEncoder(channels)
        C = self.encoder.channels
        self.init = nn.Linear(C, hidden_size)
        self.embedding = nn.Embedding(vocab_size, emb_size)
        self.W_h = nn.Parameter(torch.empty(attention_size, hidden_size))
        self.W_g = nn.Parameter(torch.empty(attention_size, C))
        self.w = nn.Parameter(torch.empty(attention_size))
        for p in (self.W_h, self.W_g):
            nn.init.uniform_(p, -1 / math.sqrt(p.shape[1]), 1 / math.sqrt(p.shape[1]))
        nn.init.uniform_(self.w, -1 / math.sqrt(attention_size), 1 / math.sqrt(attention_size))
        self.cell = nn.GRUCell(emb_size + C, hidden_size)
        self.head = nn.Linear(hidden_size + C, vocab_size)

    def start(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(h_0 (B, H), grid (B, L, C))``."""
        grid = self.encoder(images)  # (B, L, C)
        h = init_state_from_features(grid.mean(1), self.init.weight, self.init.bias)  # (B, H)
        return h, grid

    def step(self, tokens: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        h, grid = state
        z, alpha = spatial_attention(h, grid, self.W_h, self.W_g, self.w)  # (B, C), (B, L)
        c = self.cell
        h = conditioned_gru_step(self.embedding(tokens), z, h, c.weight_ih, c.weight_hh, c.bias_ih, c.bias_hh)
        return self.head(torch.cat([h, z], dim=1)), (h, grid), alpha  # logits (B, V)


# ----------------------------------------------------------------------------- decoding

class CaptionStepper:
    """A chapter-7 step function for one image: ``stepper(prefix) -> log-probs (V,)``, states cached per prefix.

    The image is encoded once; a call feeds the decoder only the tokens that the
    longest cached prefix has not read yet, so greedy decoding and beam search
    cost one decoder step per generated token. ``weights[prefix]`` keeps the
    attention map ``(L,)`` with which the token after ``prefix`` was predicted
    (attention models only).
    """

    def __init__(self, model: _Decoder, image: torch.Tensor) -> None:
        if not isinstance(model, _Decoder):
            raise TypeError(f"model must be a ShowAndTell or ShowAttendTell, got {describe(model)}")
        if not isinstance(image, torch.Tensor) or image.dim() != 3:
            raise ValueError(f"image must have shape (3, S, S), got {describe(image)}")
        self.model = model
        self.device = next(model.parameters()).device
        was_training = model.training
        model.eval()  # batch normalisation uses its running statistics, not those of one image
        try:
            with torch.no_grad():
                self.start = model.start(image.unsqueeze(0).to(self.device))
        finally:
            model.train(was_training)
        self.cache: dict[tuple[int, ...], tuple[Any, torch.Tensor]] = {}
        self.weights: dict[tuple[int, ...], torch.Tensor] = {}

    def __call__(self, prefix: Sequence[int]) -> torch.Tensor:
        key = tuple(int(t) for t in prefix)
        if not key:
            raise ValueError("prefix must start with the BOS token, got an empty prefix")
        hit = self.cache.get(key)
        if hit is not None:
            return hit[1]
        n = len(key) - 1
        while n > 0 and key[:n] not in self.cache:
            n -= 1
        state = self.cache[key[:n]][0] if n > 0 else self.start
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                for i in range(n, len(key)):
                    token = torch.tensor([key[i]], device=self.device)
                    logits, state, alpha = self.model.step(token, state)
                    logp = torch.log_softmax(logits[0], dim=-1)  # (V,)
                    self.cache[key[:i + 1]] = (state, logp)
                    if alpha is not None:
                        self.weights[key[:i + 1]] = alpha[0]
        finally:
            self.model.train(was_training)
        return logp


def caption_image(model: _Decoder, image: torch.Tensor, vocab: WordVocab, method: str = "greedy",
                  beam_width: int = 3, max_len: int = 12) -> list[int]:
    """The caption ids (EOS included when produced) that ``method`` decodes for one ``image (3, S, S)``.

    ``method="greedy"`` runs :func:`rnncourse.sampling.greedy_decode`,
    ``"beam"`` the best hypothesis of :func:`rnncourse.sampling.beam_search`,
    both on a :class:`CaptionStepper`.
    """
    step_fn = CaptionStepper(model, image)
    if method == "greedy":
        return greedy_decode(step_fn, vocab.bos_id, vocab.eos_id, max_len)
    if method == "beam":
        check_positive_int("beam_width", beam_width)
        return beam_search(step_fn, vocab.bos_id, vocab.eos_id, beam_width, max_len)[0][0]
    raise ValueError(f"method must be 'greedy' or 'beam', got {method!r}")


def attention_maps(model: ShowAttendTell, image: torch.Tensor, ids: Sequence[int], vocab: WordVocab) -> torch.Tensor:
    """Attention weights ``(len(ids), L)`` with which each token of the caption ``ids`` was predicted."""
    if not model.attention:
        raise ValueError("attention_maps needs a ShowAttendTell model")
    step_fn = CaptionStepper(model, image)
    prefix = [vocab.bos_id]
    rows = []
    for t in ids:
        step_fn(prefix)
        rows.append(step_fn.weights[tuple(prefix)])
        prefix.append(int(t))
    return torch.stack(rows)  # (T, L)


def attention_on_objects(model: ShowAttendTell, data: CaptioningData, captions: Sequence[str]) -> float:
    """Mean attention mass on the grid cell of the object whose colour or shape word is being predicted.

    For every caption that is true of its scene, take the attention maps with
    which the four words ``colour shape`` (first object) and ``colour shape``
    (second object) were predicted, and add up the weights of the regions that
    lie in that object's cell of the 3 × 3 scene grid. A model that ignored
    the image would score ``1/9``.

    Returns:
        The mean over all those words, in ``[0, 1]`` (``nan`` if no caption is true).
    """
    masses = []
    for image, scene, caption in zip(data.images, data.scenes, captions):
        if not is_true_caption(caption, scene):
            continue
        first, second = mentioned_objects(caption, scene)
        ids = data.vocab.encode(caption)
        maps = attention_maps(model, image, ids, data.vocab)  # (T, L)
        side = int(round(math.sqrt(maps.shape[1])))
        if side * side != maps.shape[1] or side % GRID:
            raise ValueError(f"the feature grid (L = {maps.shape[1]}) does not divide into {GRID} x {GRID} scene cells")
        k = side // GRID  # feature regions per scene cell and side
        maps = maps.reshape(len(ids), side, side)  # (T, side, side)
        n_rel = len(parse_caption(caption)[1].split())
        for t, obj in ((1, first), (2, first), (4 + n_rel, second), (5 + n_rel, second)):
            masses.append(float(maps[t, k * obj.row:k * (obj.row + 1), k * obj.col:k * (obj.col + 1)].sum()))
    return sum(masses) / len(masses) if masses else float("nan")


def evaluate_captioner(model: _Decoder, data: CaptioningData, method: str = "greedy", beam_width: int = 3,
                       max_len: int = 12) -> dict:
    """Decode every image of ``data`` and score the captions.

    Returns:
        ``{"captions": [...], "accuracy": fraction of captions true of their
        scene, "bleu": corpus BLEU-4 against the two true captions of each scene}``.
    """
    vocab = data.vocab
    captions = [vocab.decode(caption_image(model, img, vocab, method, beam_width, max_len)) for img in data.images]
    correct = [is_true_caption(c, s) for c, s in zip(captions, data.scenes)]
    score = corpus_bleu([c.split() for c in captions], [[r.split() for r in refs] for refs in data.references])
    return {"captions": captions, "accuracy": sum(correct) / len(correct), "bleu": score}


# ----------------------------------------------------------------------------- training

def train_captioner(model: _Decoder, data: CaptioningData, steps: int = 600, batch_size: int = 64,
                    lr: float = 5e-3, seed: int = 0, clip: float = 1.0) -> dict:
    """Teacher-forced training with Adam on the masked cross-entropy of :func:`rnncourse.lm.lm_loss`.

    Batches are drawn at random (with a ``torch.Generator`` seeded with
    ``seed``); gradients are clipped to norm ``clip``. The model is left in eval mode.

    Returns:
        ``{"step": [...], "train_loss": [...], "seconds": float}`` (one loss per step, nats per token).
    """
    check_positive_int("steps", steps)
    check_positive_int("batch_size", batch_size)
    gen = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history: dict[str, Any] = {"step": [], "train_loss": []}
    start = time.perf_counter()
    model.train()
    pad = data.vocab.pad_id
    for step in range(1, steps + 1):
        idx = torch.randint(len(data), (batch_size,), generator=gen)
        images = data.images[idx].to(device)
        inputs, targets = data.inputs[:, idx].to(device), data.targets[:, idx].to(device)  # (T, B)
        logits, _ = model(images, inputs)  # (T, B, V)
        loss = lm_loss(logits, targets, pad_id=pad)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        history["step"].append(step)
        history["train_loss"].append(float(loss.detach()))
    model.eval()
    history["seconds"] = time.perf_counter() - start
    return history


def validation_loss(model: _Decoder, data: CaptioningData) -> float:
    """Mean teacher-forced NLL per token (nats) on ``data``."""
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        logits, _ = model(data.images.to(device), data.inputs.to(device))
        return float(lm_loss(logits, data.targets.to(device), pad_id=data.vocab.pad_id))
