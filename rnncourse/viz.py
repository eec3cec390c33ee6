"""Plots for the chapters: training curves, gradient norms, distributions and hidden-unit views.

Every function draws with matplotlib and returns its ``Figure`` (or HTML
text); none calls ``plt.show()``, so the caller decides where it goes.
"""
from __future__ import annotations

import html
import math
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def plot_loss_curves(history: Mapping, title: str = "training") -> Figure:
    """Training and validation loss (nats/char) and validation perplexity against the step.

    ``history`` is the dict returned by :func:`rnncourse.train.train` (lists
    ``step``, ``train_loss``, ``val_step``, ``val_loss``).
    """
    fig, (ax_loss, ax_ppl) = plt.subplots(1, 2, figsize=(11, 3.5))
    ax_loss.plot(history["step"], history["train_loss"], lw=0.8, alpha=0.7, label="train (per batch)")
    if history.get("val_step"):
        ax_loss.plot(history["val_step"], history["val_loss"], "o-", label="validation")
        ax_ppl.plot(history["val_step"], [math.exp(v) for v in history["val_loss"]], "o-", color="tab:orange")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss (nats/char)")
    ax_loss.set_title(f"{title}: loss")
    ax_loss.legend()
    ax_ppl.set_xlabel("step")
    ax_ppl.set_ylabel("perplexity")
    ax_ppl.set_title(f"{title}: validation perplexity")
    fig.tight_layout()
    return fig


def plot_grad_norm(history: Mapping, clip: float | None = None) -> Figure:
    """The global gradient norm at every step (log scale), with the clipping threshold if given."""
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.semilogy(history["step"], history["grad_norm"], lw=0.8)
    if clip:
        ax.axhline(clip, ls="--", color="gray", label=f"clipping threshold {clip:g}")
        ax.legend()
    ax.set_xlabel("step")
    ax.set_ylabel("gradient norm")
    ax.set_title("global gradient norm before clipping")
    fig.tight_layout()
    return fig


def plot_gradient_vs_lag(norms_by_label: Mapping[str, Sequence[float]]) -> Figure:
    """``||∂h_T/∂h_{T-k}||`` against the lag ``k`` on a log scale, one line per label."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, norms in norms_by_label.items():
        ax.semilogy(np.arange(1, len(norms) + 1), norms, label=label)
    ax.set_xlabel("time lag k")
    ax.set_ylabel(r"$\|\partial h_T / \partial h_{T-k}\|_2$")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_distribution(probs: Sequence[float], labels: Sequence[str], title: str = "", top: int = 15,
                      ax: plt.Axes | None = None) -> Figure:
    """Bar chart of the ``top`` most probable entries of a next-token distribution."""
    probs = np.asarray(probs, dtype=float)
    order = np.argsort(-probs)[:top]
    fig = ax.figure if ax is not None else plt.figure(figsize=(7, 2.8))
    ax = ax if ax is not None else fig.add_subplot()
    ax.bar(range(len(order)), probs[order])
    ax.set_xticks(range(len(order)), [labels[i] for i in order])
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.set_title(title)
    return fig


def _colour(a: float) -> str:
    """Activation in [-1, 1] → CSS colour: blue for negative, red for positive, white at 0."""
    a = max(-1.0, min(1.0, float(a)))
    strength = int(255 * (1 - abs(a)))
    return f"rgb(255,{strength},{strength})" if a > 0 else f"rgb({strength},{strength},255)"


def hidden_unit_html(text: str, activations: Sequence[float]) -> str:
    """HTML in which every character of ``text`` is shaded by one hidden unit's activation (-1 blue … +1 red)."""
    if len(text) != len(activations):
        raise ValueError(f"activations must have one value per character ({len(text)}), got {len(activations)}")
    spans = []
    for ch, a in zip(text, activations):
        shown = "&#8629;<br>" if ch == "\n" else html.escape(ch).replace(" ", "&nbsp;")
        spans.append(f'<span style="background:{_colour(a)}">{shown}</span>')
    return '<div style="font-family:monospace;line-height:1.5">' + "".join(spans) + "</div>"


def plot_hidden_unit(text: str, activations: Sequence[float], ax: plt.Axes | None = None,
                     width: int = 80) -> Figure:
    """A static picture of :func:`hidden_unit_html`: characters on a grid, shaded by the activation."""
    if len(text) != len(activations):
        raise ValueError(f"activations must have one value per character ({len(text)}), got {len(activations)}")
    rows, row, col = [], 0, 0
    for ch, a in zip(text, activations):
        rows.append((row, col, ch, float(a)))
        col += 1
        if ch == "\n" or col >= width:
            row, col = row + 1, 0
    n_rows = row + 1
    fig = ax.figure if ax is not None else plt.figure(figsize=(width * 0.14, n_rows * 0.3 + 0.4))
    ax = ax if ax is not None else fig.add_axes([0, 0, 1, 1])
    cmap = plt.get_cmap("bwr")
    for r, c, ch, a in rows:
        ax.add_patch(plt.Rectangle((c, -r - 1), 1, 1, color=cmap((max(-1, min(1, a)) + 1) / 2)))
        ax.text(c + 0.5, -r - 0.5, "↵" if ch == "\n" else ch, ha="center", va="center",
                fontsize=8, family="monospace")
    ax.set_xlim(0, width)
    ax.set_ylim(-n_rows, 0)
    ax.axis("off")
    return fig
