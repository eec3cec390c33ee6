"""Plots and diagrams for the chapters: training curves, gradient norms (against the lag and against
depth), measured times, next-token distributions, hidden units, the memory of one LSTM unit over time,
and the drawings of the LSTM and GRU cells, stacked and bidirectional networks and a beam search tree.

Every plotting function draws with matplotlib and returns its ``Figure``; the
ones that take ``ax`` draw into that ``Axes`` instead of a new figure. None of
them calls ``plt.show()``: the caller decides where the figure goes (a notebook
shows it, the static website stores the picture). :func:`hidden_unit_html`
returns HTML text.

Arrays may be lists, numpy arrays or torch tensors (on any device).
"""
from __future__ import annotations

import html
import math
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

ArrayLike = Any  # list of numbers, numpy array or torch tensor


def _to_numpy(name: str, values: ArrayLike, ndim: int = 1) -> np.ndarray:
    """``values`` as a float64 numpy array with ``ndim`` axes; ``ValueError`` names ``name`` otherwise."""
    if hasattr(values, "detach"):  # a torch tensor, possibly on a GPU or requiring grad
        values = values.detach().cpu().double().numpy()
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers, got {type(values).__name__}") from None
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    return arr


def _optional(history: Mapping[str, Any], key: str) -> Any:
    """``history[key]``, or an empty list when it is missing or ``None``."""
    value = history.get(key)
    return [] if value is None else value


def _figure_and_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over ``window`` points (fewer at the start)."""
    if window <= 1 or values.size == 0:
        return values
    csum = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, values.size + 1)
    lo = np.maximum(idx - window, 0)
    return (csum[idx] - csum[lo]) / (idx - lo)


# ----------------------------------------------------------------------------- training curves

def plot_loss_curves(history: Mapping[str, Sequence[float]], title: str = "training",
                     smooth: int = 20) -> Figure:
    """Loss (nats/char) and perplexity ``exp(loss)`` against the optimisation step, in two panels.

    Left: the per-batch training loss (faint), its moving average over
    ``smooth`` batches, and the validation loss (dots). Right: the same
    curves as perplexities, on a log scale.

    Args:
        history: the dict of :func:`rnncourse.train.train`, with equal-length lists
            ``step`` and ``train_loss`` (``N`` entries) and ``val_step`` and
            ``val_loss`` (``M`` entries, possibly empty or missing).
        title: prefix of the panel titles.
        smooth: window of the moving average of the training loss (``1``: none).

    Returns:
        The figure.
    """
    step = _to_numpy("history['step']", history["step"])
    train = _to_numpy("history['train_loss']", history["train_loss"])
    if step.shape != train.shape:
        raise ValueError(f"history['step'] and history['train_loss'] must have the same length, "
                         f"got {step.size} and {train.size}")
    val_step = _to_numpy("history['val_step']", _optional(history, "val_step"))
    val = _to_numpy("history['val_loss']", _optional(history, "val_loss"))
    if val_step.shape != val.shape:
        raise ValueError(f"history['val_step'] and history['val_loss'] must have the same length, "
                         f"got {val_step.size} and {val.size}")
    trend = _smooth(train, smooth)
    fig, (ax_loss, ax_ppl) = plt.subplots(1, 2, figsize=(11, 3.5))
    for ax, f in ((ax_loss, lambda v: v), (ax_ppl, np.exp)):
        ax.plot(step, f(train), lw=0.6, alpha=0.3, color="tab:blue", label="train (per batch)")
        if smooth > 1:
            ax.plot(step, f(trend), lw=1.5, color="tab:blue", label=f"train (mean of {smooth})")
        if val.size:
            ax.plot(val_step, f(val), "o-", color="tab:orange", label="validation")
        ax.set_xlabel("step")
        ax.legend()
    ax_loss.set_ylabel("loss (nats/char)")
    ax_loss.set_title(f"{title}: loss")
    ax_ppl.set_yscale("log")
    ax_ppl.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax_ppl.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax_ppl.yaxis.set_minor_formatter(NullFormatter())
    ax_ppl.set_ylabel("perplexity")
    title_ppl = f"{title}: perplexity"
    if val.size:
        title_ppl += f" (best validation {math.exp(float(val.min())):.2f})"
    ax_ppl.set_title(title_ppl)
    fig.tight_layout()
    return fig


def plot_grad_norm(history: Mapping[str, Sequence[float]], clip: float | None = None,
                   ax: Axes | None = None) -> Figure:
    """The global gradient norm (before clipping) at every step, on a log scale.

    Args:
        history: a dict with equal-length lists ``step`` and ``grad_norm``.
        clip: the clipping threshold, drawn as a dashed line when given.
        ax: axes to draw into; a new figure when ``None``.

    Returns:
        The figure.
    """
    step = _to_numpy("history['step']", history["step"])
    norms = _to_numpy("history['grad_norm']", history["grad_norm"])
    if step.shape != norms.shape:
        raise ValueError(f"history['step'] and history['grad_norm'] must have the same length, "
                         f"got {step.size} and {norms.size}")
    fig, ax = _figure_and_axes(ax, (7, 3))
    ax.semilogy(step, norms, lw=0.8, label="gradient norm")
    if clip is not None:
        ax.axhline(clip, ls="--", color="gray", label=f"clipping threshold {clip:g}")
        clipped = float(np.mean(norms > clip)) if norms.size else 0.0
        ax.set_title(f"global gradient norm before clipping ({100 * clipped:.0f}% of steps clipped)")
    else:
        ax.set_title("global gradient norm before clipping")
    ax.set_xlabel("step")
    ax.set_ylabel("gradient norm")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_training_runs(runs: Mapping[str, Sequence[tuple[ArrayLike, ArrayLike]]], n_classes: int | None = None,
                       colors: Mapping[str, str] | None = None, smooth: int = 20,
                       title: str = "accuracy") -> Figure:
    """Loss and accuracy of several classifiers against the training step, one colour per model.

    Left panel: the per-step loss; right panel: the per-step accuracy; both
    as trailing moving averages over ``smooth`` steps. Each model may have
    several runs (seeds), drawn in its colour and labelled once.

    Args:
        runs: label → list of ``(losses, accuracies)`` pairs, one per run, each two
            equal-length arrays ``(steps,)``.
        n_classes: when given, chance level is marked: loss ``ln(n_classes)``,
            accuracy ``1 / n_classes`` (dashed).
        colors: label → matplotlib colour; matplotlib's cycle when missing.
        smooth: window of the moving averages (``1``: none).
        title: the title of the accuracy panel.

    Returns:
        The figure.
    """
    if not runs:
        raise ValueError("runs must contain at least one model, got an empty mapping")
    if n_classes is not None and (isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2):
        raise ValueError(f"n_classes must be an int >= 2, got {n_classes!r}")
    curves = {}  # label -> [(loss, accuracy) as arrays]: everything is checked before a figure is opened
    for label, pairs in runs.items():
        if not pairs:
            raise ValueError(f"runs[{label!r}] is empty; expected a list of (losses, accuracies) pairs")
        curves[label] = []
        for k, (losses, accs) in enumerate(pairs):
            loss = _to_numpy(f"runs[{label!r}][{k}] losses", losses)
            acc = _to_numpy(f"runs[{label!r}][{k}] accuracies", accs)
            if loss.shape != acc.shape:
                raise ValueError(f"runs[{label!r}][{k}]: losses and accuracies must have the same length, "
                                 f"got {loss.size} and {acc.size}")
            curves[label].append((loss, acc))
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.8))
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, pairs) in enumerate(curves.items()):
        color = (colors or {}).get(label, cycle[i % len(cycle)])
        for k, (loss, acc) in enumerate(pairs):
            ax_loss.plot(_smooth(loss, smooth), color=color, alpha=0.85, label=label if k == 0 else None)
            ax_acc.plot(_smooth(acc, smooth), color=color, alpha=0.85, label=label if k == 0 else None)
    if n_classes is not None:
        ax_loss.axhline(math.log(n_classes), ls="--", c="gray", lw=1)
        ax_acc.axhline(1 / n_classes, ls="--", c="gray", lw=1, label="chance")
    average = f" (moving average of {smooth})" if smooth > 1 else ""
    ax_loss.set_xlabel("training step")
    ax_loss.set_ylabel("cross-entropy" + average)
    ax_loss.set_title("loss")
    ax_acc.set_xlabel("training step")
    ax_acc.set_ylabel("accuracy" + average)
    ax_acc.set_ylim(0, 1.05)
    ax_acc.set_title(title)
    ax_acc.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_gradient_vs_lag(norms_by_label: Mapping[str, ArrayLike], ax: Axes | None = None,
                         title: str = "how far back does the gradient reach?") -> Figure:
    """``||∂h_T/∂h_{T-k}||_2`` against the time lag ``k`` on a log scale, one line per label.

    Typical use: one line per spectral radius of ``W_hh``
    (``{"ρ = 0.9": norms, "ρ = 1.1": norms, ...}``); a straight line on this
    plot is an exponential decay or growth.

    Args:
        norms_by_label: label → array ``(K,)`` with ``norms[k-1]`` the norm at lag ``k``
            (as returned by :func:`rnncourse.clipping.jacobian_norms`); lengths may differ.
        ax: axes to draw into; a new figure when ``None``.
        title: the axes title.

    Returns:
        The figure.
    """
    if not norms_by_label:
        raise ValueError("norms_by_label must contain at least one label, got an empty mapping")
    fig, ax = _figure_and_axes(ax, (7, 4))
    for label, norms in norms_by_label.items():
        arr = _to_numpy(f"norms_by_label[{label!r}]", norms)
        arr = np.where(arr > 0, arr, np.nan)  # a zero norm has no place on a log scale
        ax.semilogy(np.arange(1, arr.size + 1), arr, marker=".", label=str(label))
    ax.set_xlabel("time lag k")
    ax.set_ylabel(r"$\|\partial h_T / \partial h_{T-k}\|_2$")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_gradient_vs_depth(depths: ArrayLike, norms_by_label: Mapping[str, ArrayLike],
                           colors: Mapping[str, str] | None = None, ax: Axes | None = None,
                           title: str = "the gradient at the input against depth") -> Figure:
    """``||∂L/∂x_0||`` against the number of layers on a log scale, one line per kind of network.

    Args:
        depths: ``(K,)`` the depths at which the norms were measured.
        norms_by_label: label → ``(K,)`` gradient norms, ``norms[k]`` at ``depths[k]``.
        colors: label → matplotlib colour; matplotlib's cycle when missing.
        ax: axes to draw into; a new figure when ``None``.
        title: the axes title.

    Returns:
        The figure.
    """
    x = _to_numpy("depths", depths)
    if not norms_by_label:
        raise ValueError("norms_by_label must contain at least one label, got an empty mapping")
    arrays = {label: _to_numpy(f"norms_by_label[{label!r}]", norms) for label, norms in norms_by_label.items()}
    for label, arr in arrays.items():
        if arr.shape != x.shape:
            raise ValueError(f"norms_by_label[{label!r}] has {arr.size} values for {x.size} depths")
    fig, ax = _figure_and_axes(ax, (7, 3.5))
    for label, arr in arrays.items():
        kwargs = {"color": colors[label]} if colors and label in colors else {}
        ax.semilogy(x, np.where(arr > 0, arr, np.nan), "o-", label=str(label), **kwargs)
    ax.set_xlabel("depth (layers)")
    ax.set_ylabel(r"$\|\partial L / \partial x_0\|$")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_timings(times_ms: Mapping[str, float], xlabel: str = "ms", title: str = "",
                 colors: Sequence[str] | None = None, ax: Axes | None = None) -> Figure:
    """Horizontal bars of measured times, one per label, top to bottom in the mapping's order.

    Args:
        times_ms: label → time in milliseconds (finite, ``>= 0``), e.g.
            ``{"torch GRU": 12.3, "scratch GRU": 30.1}``.
        xlabel: the x-axis label (say what was timed).
        title: the axes title.
        colors: one matplotlib colour per bar; matplotlib's cycle when ``None``.
        ax: axes to draw into; a new figure when ``None``.

    Returns:
        The figure; each bar is labelled with its value.
    """
    if not times_ms:
        raise ValueError("times_ms must contain at least one label, got an empty mapping")
    labels = [str(k) for k in times_ms]
    values = _to_numpy("times_ms", list(times_ms.values()))
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError(f"times_ms must hold finite times >= 0, got {dict(zip(labels, values.tolist()))}")
    if colors is not None and len(colors) != len(labels):
        raise ValueError(f"colors must have one colour per label ({len(labels)}), got {len(colors)}")
    fig, ax = _figure_and_axes(ax, (7, 0.45 * len(labels) + 1.2))
    y = np.arange(len(labels))[::-1]  # the first label on top
    bars = ax.barh(y, values, color=colors if colors is not None else [f"C{i % 10}" for i in range(len(labels))])
    ax.set_yticks(y, labels)
    ax.bar_label(bars, fmt="%.1f", padding=3, fontsize=8)
    ax.set_xlim(0, values.max() * 1.15 if values.max() > 0 else 1.0)
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_curves(curves: Mapping[str, ArrayLike], x: ArrayLike | None = None, *, xlabel: str = "step",
                ylabel: str = "", title: str = "", logx: bool = False, logy: bool = False,
                hlines: Mapping[str, float] | None = None, vlines: Sequence[float] = (),
                ax: Axes | None = None) -> Figure:
    """Several named curves over one x axis: the chapters' experiments that compare settings.

    Args:
        curves: label → array ``(N,)`` of y values, one line each; lengths may differ when ``x``
            is ``None``.
        x: the shared x values ``(N,)``; ``None`` plots curve ``j`` at ``1 … N_j``.
        xlabel, ylabel, title: axis labels and the axes title.
        logx, logy: logarithmic axes; on a log axis, values ``<= 0`` are left out (a zero has no
            place there, so a curve that drops to exactly 0 stops).
        hlines: label → y value of a dotted horizontal reference line (a baseline).
        vlines: x positions of dotted vertical lines (boundaries).
        ax: axes to draw into; a new figure when ``None``.

    Returns:
        The figure.
    """
    if not curves:
        raise ValueError("curves must contain at least one label, got an empty mapping")
    fig, ax = _figure_and_axes(ax, (7, 3.4))
    xs = None if x is None else _to_numpy("x", x)
    for label, values in curves.items():
        ys = _to_numpy(f"curves[{label!r}]", values)
        if xs is not None and xs.shape != ys.shape:
            raise ValueError(f"curves[{label!r}] has {ys.size} values but x has {xs.size}")
        if logy:
            ys = np.where(ys > 0, ys, np.nan)
        ax.plot(np.arange(1, ys.size + 1) if xs is None else xs, ys, "o-", ms=3, label=str(label))
    for (label, y), style in zip((hlines or {}).items(), (":", "--", "-.")):
        ax.axhline(y, color="gray", ls=style, label=str(label))
    for v in vlines:
        ax.axvline(v, color="gray", ls=":", lw=0.8)
    ax.set_xscale("log" if logx else "linear")
    ax.set_yscale("log" if logy else "linear")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_probability_table(probs: ArrayLike, row_labels: Sequence[str], col_labels: Sequence[str],
                           xlabel: str = "", ylabel: str = "", title: str = "",
                           ax: Axes | None = None) -> Figure:
    """A table of probabilities as a heat map with each value written in its cell.

    Args:
        probs: ``(R, C)`` values in ``[0, 1]``; row ``r`` is drawn as row ``r`` of the picture.
        row_labels: ``R`` labels of the rows (y axis); col_labels: ``C`` labels of the columns.
        xlabel, ylabel, title: axis labels and the axes title.
        ax: axes to draw into; a new figure when ``None``.

    Returns:
        The figure.
    """
    table = _to_numpy("probs", probs, ndim=2)
    if table.shape != (len(row_labels), len(col_labels)):
        raise ValueError(f"probs has shape {table.shape}, but there are {len(row_labels)} row labels "
                         f"and {len(col_labels)} column labels")
    fig, ax = _figure_and_axes(ax, (6, 3.4))
    ax.imshow(table, cmap="Blues", vmin=0, vmax=1)
    for r in range(table.shape[0]):
        for c in range(table.shape[1]):
            ax.text(c, r, f"{table[r, c]:.2f}", ha="center", va="center",
                    color="black" if table[r, c] < 0.6 else "white")
    ax.set_xticks(range(table.shape[1]), list(col_labels))
    ax.set_yticks(range(table.shape[0]), list(row_labels))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- distributions

def _token_label(token: str) -> str:
    """A visible tick label for a token: ``'\\n'`` for a newline, ``'␣'`` for a space."""
    if token == " ":
        return "␣"
    if len(token) == 1 and not token.isprintable():
        return repr(token)[1:-1]
    return token


def plot_distribution(probs: ArrayLike, vocab_labels: Sequence[str], title: str = "", top: int = 15,
                      ax: Axes | None = None, order: Sequence[int] | None = None) -> Figure:
    """Bar chart of the ``top`` most probable entries of a next-token distribution.

    Args:
        probs: ``(V,)`` probabilities (e.g. ``temperature_softmax(...)`` or
            ``softmax(top_p_filter(...))``).
        vocab_labels: ``V`` token strings (``vocab.tokens``); newlines and spaces are shown visibly.
        title: the axes title.
        top: how many bars.
        ax: axes to draw into; a new figure when ``None``.
        order: token ids to show, in this order, instead of the ``top`` most
            probable ones (to compare several distributions on the same bars).

    Returns:
        The figure.
    """
    p = _to_numpy("probs", probs)
    if len(vocab_labels) != p.size:
        raise ValueError(f"vocab_labels must have one label per probability ({p.size}), got {len(vocab_labels)}")
    if order is None:
        order = np.argsort(-p, kind="stable")[:top]
    order = [int(i) for i in order]
    fig, ax = _figure_and_axes(ax, (7, 2.8))
    ax.bar(range(len(order)), p[order], color="tab:blue")
    ax.set_xticks(range(len(order)), [_token_label(vocab_labels[i]) for i in order], fontsize=9)
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    kept = int(np.sum(p > 0))
    ax.set_title(title or f"{kept} of {p.size} tokens have probability > 0")
    return fig


def compare_distributions(dists: Mapping[str, ArrayLike], vocab_labels: Sequence[str], top: int = 12) -> Figure:
    """Side-by-side bar charts of several next-token distributions over the same tokens.

    The bars show the ``top`` most probable tokens of the *first* distribution,
    in the same order in every panel, so the effect of a temperature, top-k or
    top-p filter is easy to see.

    Args:
        dists: title → ``(V,)`` probabilities, e.g. ``{"T = 1": p, "top-k, k = 3": q}``.
        vocab_labels: ``V`` token strings.
        top: how many bars per panel.

    Returns:
        The figure.
    """
    if not dists:
        raise ValueError("dists must contain at least one distribution, got an empty mapping")
    first = _to_numpy("the first distribution", next(iter(dists.values())))
    order = np.argsort(-first, kind="stable")[:top]
    fig, axes = plt.subplots(1, len(dists), figsize=(4.3 * len(dists), 2.8), sharey=True, squeeze=False)
    for ax, (name, probs) in zip(axes[0], dists.items()):
        plot_distribution(probs, vocab_labels, title=name, ax=ax, order=order)
    for ax in axes[0][1:]:
        ax.set_ylabel("")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- hidden units

def _check_activations(text: str, activations: ArrayLike) -> np.ndarray:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    acts = _to_numpy("activations", activations)
    if acts.size != len(text):
        raise ValueError(f"activations must have one value per character of text ({len(text)}), "
                         f"got {acts.size}")
    if not np.isfinite(acts).all():
        raise ValueError("activations must be finite, got NaN or infinity")
    return np.clip(acts, -1.0, 1.0)


def _css_colour(a: float) -> str:
    """Activation in [-1, 1] → CSS colour: red for positive, blue for negative, white at 0."""
    fade = int(round(255 * (1.0 - abs(a))))  # 0 at |a| = 1 (full colour), 255 at a = 0 (white)
    return f"rgb(255,{fade},{fade})" if a > 0 else f"rgb({fade},{fade},255)"


def hidden_unit_html(text: str, activations: ArrayLike) -> str:
    """HTML in which each character of ``text`` is shaded by one hidden unit's activation.

    In the style of Karpathy's "The Unreasonable Effectiveness of Recurrent
    Neural Networks": red for positive, blue for negative, white at 0, full
    colour at ±1 (values are clipped to [-1, 1]). Characters are HTML-escaped;
    a newline shows as ``↵`` and breaks the line. Hovering over a character
    shows its activation.

    Args:
        text: ``T`` characters.
        activations: ``(T,)`` activation of the unit after reading each character
            (e.g. ``tanh``-bounded ``h_t[unit]``).

    Returns:
        An HTML ``<div>``; in a notebook, ``IPython.display.HTML(...)`` shows it.
    """
    acts = _check_activations(text, activations)
    spans = []
    for ch, a in zip(text, acts):
        shown = "↵\n" if ch == "\n" else html.escape(ch)
        spans.append(f'<span style="background-color:{_css_colour(float(a))}" title="{a:+.3f}">{shown}</span>')
    return ('<div style="font-family:monospace;white-space:pre-wrap;line-height:1.6;color:black">'
            + "".join(spans) + "</div>")


def plot_hidden_unit(text: str, activations: ArrayLike, ax: Axes | None = None, width: int = 80,
                     title: str | None = None) -> Figure:
    """A static picture of :func:`hidden_unit_html`: characters on a grid, shaded by the activation.

    Lines break at newlines (shown as ``↵``) and after ``width`` characters.
    The colour map is ``bwr`` from -1 (blue) to +1 (red), with a colour bar.

    Args:
        text: ``T`` characters.
        activations: ``(T,)`` activation of one hidden unit after each character.
        ax: axes to draw into; a new figure when ``None``.
        width: characters per line.
        title: the axes title.

    Returns:
        The figure.
    """
    acts = _check_activations(text, activations)
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be an int >= 1, got {width!r}")
    cells = []  # (row, column, character, activation)
    row = col = 0
    for ch, a in zip(text, acts):
        cells.append((row, col, ch, float(a)))
        col += 1
        if ch == "\n" or col >= width:
            row, col = row + 1, 0
    n_rows = max(row + (col > 0), 1)
    grid = np.full((n_rows, width), np.nan)  # (rows, width); NaN = no character (drawn blank)
    for r, c, _, a in cells:
        grid[r, c] = a
    fig, ax = _figure_and_axes(ax, (min(0.14 * width, 16) + 1.0, 0.28 * n_rows + 0.6))
    cmap = plt.get_cmap("bwr").with_extremes(bad="white")
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, norm=Normalize(-1.0, 1.0),
                      aspect="auto", interpolation="nearest", extent=(0, width, n_rows, 0))
    for r, c, ch, _ in cells:
        shown = "↵" if ch == "\n" else ch
        if shown.strip():
            ax.text(c + 0.5, r + 0.5, shown, ha="center", va="center", fontsize=8,
                    family="monospace", parse_math=False)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.02, pad=0.01, label="activation")
    return fig


# ----------------------------------------------------------------------------- diagrams

_GATE, _OP, _STATE, _IO = "#fde2b8", "#ffffff", "#cfe3f7", "#e4f2dc"


def _node(ax: Axes, x: float, y: float, text: str, color: str = _STATE, w: float = 0.9, h: float = 0.55,
          round_: bool = False) -> FancyBboxPatch:
    """A labelled box (rounded for an operation) centred at ``(x, y)``; edges to ``(x, y)`` end at its border."""
    style = "round,pad=0.02,rounding_size=0.25" if round_ else "round,pad=0.02,rounding_size=0.06"
    box = FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle=style, facecolor=color,
                         edgecolor="black", linewidth=1.0, zorder=2)
    ax.add_patch(box)
    ax.text(x, y, text, ha="center", va="center", fontsize=10, zorder=3)
    _NODES.setdefault(id(ax), {})[(round(x, 6), round(y, 6))] = box
    return box


_NODES: dict[int, dict[tuple[float, float], FancyBboxPatch]] = {}  # axes -> node centre -> box


def _edge(ax: Axes, a: tuple[float, float], b: tuple[float, float], color: str = "black",
          curve: float = 0.0, lw: float = 1.2) -> None:
    """An arrow from the node at ``a`` to the node at ``b``, clipped at the boxes' borders."""
    nodes = _NODES.get(id(ax), {})
    key = lambda p: (round(p[0], 6), round(p[1], 6))
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=11, color=color, lw=lw,
                                 patchA=nodes.get(key(a)), patchB=nodes.get(key(b)), shrinkA=1, shrinkB=1,
                                 connectionstyle=f"arc3,rad={curve}", zorder=1))


def _canvas(ax: Axes | None, figsize: tuple[float, float], xlim: tuple[float, float],
            ylim: tuple[float, float], title: str) -> tuple[Figure, Axes]:
    fig, ax = _figure_and_axes(ax, figsize)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title)
    return fig, ax


def draw_lstm_cell(ax: Axes | None = None) -> Figure:
    """The LSTM cell: the cell-state line with its forget product and additive write, the four
    blocks computed from ``[h_{t-1}; x_t]`` (PyTorch order i, f, g, o) and the output product."""
    fig, ax = _canvas(ax, (8, 4.4), (-0.8, 9.6), (-0.9, 4.6), "LSTM cell (PyTorch gate order i, f, g, o)")
    _node(ax, 0.0, 3.8, r"$c_{t-1}$")
    _node(ax, 0.0, 0.0, r"$h_{t-1}$")
    _node(ax, 3.0, -0.55, r"$x_t$", _IO)
    _node(ax, 2.2, 3.8, r"$\times$", _OP, w=0.55, round_=True)
    _node(ax, 4.6, 3.8, r"$+$", _OP, w=0.55, round_=True)
    _node(ax, 8.8, 3.8, r"$c_t$")
    gates = [(1.6, r"$f_t\ \sigma$"), (3.0, r"$i_t\ \sigma$"), (4.4, r"$g_t\ \tanh$"), (5.8, r"$o_t\ \sigma$")]
    for x, label in gates:
        _node(ax, x, 1.3, label, _GATE, w=1.1)
        _edge(ax, (0.0, 0.0), (x, 1.3))
        _edge(ax, (3.0, -0.55), (x, 1.3))
    _node(ax, 3.8, 2.6, r"$\times$", _OP, w=0.55, round_=True)
    _node(ax, 7.0, 2.6, r"$\tanh$", _OP, w=0.8, round_=True)
    _node(ax, 7.0, 1.3, r"$\times$", _OP, w=0.55, round_=True)
    _node(ax, 8.8, 0.0, r"$h_t$")
    _edge(ax, (0.0, 3.8), (2.2, 3.8))
    _edge(ax, (1.6, 1.3), (2.2, 3.8))
    _edge(ax, (2.2, 3.8), (4.6, 3.8))
    _edge(ax, (3.0, 1.3), (3.8, 2.6))
    _edge(ax, (4.4, 1.3), (3.8, 2.6))
    _edge(ax, (3.8, 2.6), (4.6, 3.8))
    _edge(ax, (4.6, 3.8), (8.8, 3.8))
    _edge(ax, (4.6, 3.8), (7.0, 2.6))
    _edge(ax, (7.0, 2.6), (7.0, 1.3))
    _edge(ax, (5.8, 1.3), (7.0, 1.3))
    _edge(ax, (7.0, 1.3), (8.8, 0.0))
    ax.text(3.4, 4.3, r"$c_t = f_t \odot c_{t-1} + i_t \odot g_t$: the additive path", ha="center", fontsize=9)
    ax.text(8.0, -0.7, r"$h_t = o_t \odot \tanh(c_t)$", ha="center", fontsize=9)
    return fig


def plot_memory_trace(offered: ArrayLike, cell: ArrayLike, hidden: ArrayLike, writes: Sequence[int] = (),
                      reads: Sequence[int] = (), ax: Axes | None = None,
                      title: str = "the memory of one LSTM unit") -> Figure:
    """One LSTM unit over time: what it was offered, its cell state ``c_t`` and its output ``h_t``.

    Args:
        offered: ``(T,)`` the candidate offered at each step (dots), e.g. ``tanh(v_t)``.
        cell: ``(T,)`` the cell state ``c_t``.
        hidden: ``(T,)`` the output ``h_t``.
        writes, reads: steps at which the unit was told to write (green dotted lines) and to read
            (orange dotted lines); each in ``[0, T)``.
        ax: axes to draw into; a new figure when ``None``.
        title: the axes title.

    Returns:
        The figure.
    """
    v = _to_numpy("offered", offered)
    c = _to_numpy("cell", cell)
    h = _to_numpy("hidden", hidden)
    if not v.shape == c.shape == h.shape:
        raise ValueError(f"offered, cell and hidden must have the same length, got {v.size}, {c.size} and {h.size}")
    for name, steps in (("writes", writes), ("reads", reads)):
        bad = [t for t in steps if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= t < v.size]
        if bad:
            raise ValueError(f"{name} must hold steps in [0, {v.size}), got {bad}")
    fig, ax = _figure_and_axes(ax, (8, 3.5))
    ax.plot(v, ".", color="lightgray", label="offered at each step")
    ax.plot(c, color="tab:blue", label="cell state $c_t$")
    ax.plot(h, color="tab:red", label="output $h_t$")
    for t in writes:
        ax.axvline(t, color="tab:green", ls=":", lw=1)
    for t in reads:
        ax.axvline(t, color="tab:orange", ls=":", lw=1)
    ax.set_xlabel("step t (green: write, orange: read)")
    ax.set_ylabel("value")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def draw_gru_cell(ax: Axes | None = None) -> Figure:
    """The GRU cell in PyTorch's convention: gates r and z, the candidate n with the reset gate
    applied to ``W_hn h_{t-1} + b_hn``, and ``h_t = z ⊙ h_{t-1} + (1 - z) ⊙ n_t``."""
    fig, ax = _canvas(ax, (8, 4.4), (-0.8, 9.6), (-0.9, 4.6), "GRU cell (PyTorch: gate order r, z, n)")
    _node(ax, 0.0, 3.8, r"$h_{t-1}$")
    _node(ax, 0.0, 0.0, r"$h_{t-1}$")
    _node(ax, 3.0, -0.55, r"$x_t$", _IO)
    _node(ax, 1.6, 1.3, r"$r_t\ \sigma$", _GATE, w=1.1)
    _node(ax, 3.2, 1.3, r"$z_t\ \sigma$", _GATE, w=1.1)
    _node(ax, 5.4, 1.3, r"$n_t\ \tanh$", _GATE, w=1.1)
    _node(ax, 4.2, 0.3, r"$r_t \odot (W_{hn}h + b_{hn})$", _OP, w=2.3, round_=True)
    for x in (1.6, 3.2):
        _edge(ax, (0.0, 0.0), (x, 1.3))
        _edge(ax, (3.0, -0.55), (x, 1.3))
    _edge(ax, (1.6, 1.3), (4.2, 0.3), curve=-0.2)
    _edge(ax, (0.0, 0.0), (4.2, 0.3), curve=0.25)
    _edge(ax, (4.2, 0.3), (5.4, 1.3))
    _edge(ax, (3.0, -0.55), (5.4, 1.3))
    _node(ax, 3.2, 3.8, r"$\times$", _OP, w=0.55, round_=True)
    _node(ax, 5.4, 2.6, r"$\times$", _OP, w=0.55, round_=True)
    _node(ax, 4.4, 2.6, r"$1-$", _OP, w=0.55, round_=True)
    _node(ax, 6.6, 3.8, r"$+$", _OP, w=0.55, round_=True)
    _node(ax, 8.8, 3.8, r"$h_t$")
    _edge(ax, (0.0, 3.8), (3.2, 3.8))
    _edge(ax, (3.2, 1.3), (3.2, 3.8))
    _edge(ax, (3.2, 1.3), (4.4, 2.6))
    _edge(ax, (4.4, 2.6), (5.4, 2.6))
    _edge(ax, (5.4, 1.3), (5.4, 2.6))
    _edge(ax, (3.2, 3.8), (6.6, 3.8))
    _edge(ax, (5.4, 2.6), (6.6, 3.8))
    _edge(ax, (6.6, 3.8), (8.8, 3.8))
    ax.text(4.9, 4.3, r"$h_t = z_t \odot h_{t-1} + (1 - z_t) \odot n_t$: $z$ is the fraction kept",
            ha="center", fontsize=9)
    return fig


def draw_stacked_rnn(layers: int = 2, steps: int = 4, ax: Axes | None = None) -> Figure:
    """An unrolled stack of ``layers`` recurrent layers over ``steps`` time steps: each layer reads
    the states of the layer below, the output reads the top layer."""
    check = [(n, v) for n, v in (("layers", layers), ("steps", steps)) if isinstance(v, bool)
             or not isinstance(v, int) or v < 1]
    if check:
        raise ValueError(f"{check[0][0]} must be an int >= 1, got {check[0][1]!r}")
    fig, ax = _canvas(ax, (1.6 * steps + 1.5, 1.2 * layers + 2.2), (-1.2, 1.6 * steps),
                      (-0.9, 1.2 * layers + 0.9), f"stacked RNN, {layers} layers")
    for t in range(steps):
        x = 1.6 * t + 0.4
        _node(ax, x, -0.3, f"$x_{t + 1}$", _IO)
        for layer in range(1, layers + 1):
            y = 1.2 * layer - 0.3
            _node(ax, x, y, f"$h^{{({layer})}}_{t + 1}$")
            _edge(ax, (x, y - 1.2), (x, y))
            _edge(ax, (x - 1.6, y), (x, y)) if t else _edge(ax, (x - 1.3, y), (x, y))
        _node(ax, x, 1.2 * layers + 0.6, f"$y_{t + 1}$", _IO)
        _edge(ax, (x, 1.2 * layers - 0.3), (x, 1.2 * layers + 0.6))
    return fig


def draw_bidirectional_rnn(steps: int = 4, ax: Axes | None = None) -> Figure:
    """An unrolled bidirectional RNN: a forward layer (left to right) and a backward layer (right to
    left) read the same inputs; each output sees the concatenation ``[→h_t; ←h_t]``."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    fig, ax = _canvas(ax, (1.6 * steps + 1.5, 4.0), (-1.2, 1.6 * steps), (-0.9, 3.5),
                      "bidirectional RNN")
    for t in range(steps):
        x = 1.6 * t + 0.4
        _node(ax, x, -0.3, f"$x_{t + 1}$", _IO)
        _node(ax, x, 0.9, rf"$\overrightarrow{{h}}_{t + 1}$")
        _node(ax, x, 2.0, rf"$\overleftarrow{{h}}_{t + 1}$", "#f7d9e3")
        _node(ax, x, 3.1, f"$y_{t + 1}$", _IO)
        _edge(ax, (x, -0.3), (x, 0.9))
        _edge(ax, (x, -0.3), (x - 0.35, 2.0), curve=0.25)
        _edge(ax, (x, 2.0), (x, 3.1))
        _edge(ax, (x + 0.3, 0.9), (x + 0.3, 3.1), curve=-0.15)
        if t:
            _edge(ax, (x - 1.6, 0.9), (x, 0.9))
            _edge(ax, (x, 2.0), (x - 1.6, 2.0))
    return fig


def plot_beam_tree(trace: Sequence[Sequence[tuple[Sequence[int], float, bool]]], labels: Sequence[str],
                   ax: Axes | None = None, title: str = "beam search") -> Figure:
    """The tree a beam search explored: one column per step, one node per candidate.

    Args:
        trace: what ``beam_search(..., trace=trace)`` recorded: per step, the
            candidates ``(tokens, total_logprob, kept)``.
        labels: the text of every token id.
        ax: axes to draw into; a new figure when ``None``.
        title: the axes title.

    Kept candidates are drawn in blue, pruned ones in grey; each node shows its
    last token and its total log-probability, and an edge joins it to its prefix.

    Returns:
        The figure.
    """
    if not trace:
        raise ValueError("trace must hold at least one step, got an empty list")
    rows = max(len(step) for step in trace)
    fig, ax = _figure_and_axes(ax, (2.3 * len(trace) + 1.5, 0.55 * rows + 1.2))
    where: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, (rows - 1) / 2)}
    _node(ax, 0.0, (rows - 1) / 2, "BOS", _IO, w=0.9, h=0.45)
    for depth, step in enumerate(trace, start=1):
        for row, (tokens, score, kept) in enumerate(step):
            x, y = 2.3 * depth, rows - 1 - row
            colour = _STATE if kept else "#eeeeee"
            _node(ax, x, y, f"{labels[tokens[-1]]}  {score:.2f}", colour, w=1.6, h=0.45)
            parent = where.get(tuple(tokens[:-1]))
            if parent is not None:
                _edge(ax, parent, (x, y), color="tab:blue" if kept else "#bbbbbb", lw=1.0)
            if kept:
                where[tuple(tokens)] = (x, y)
    ax.set_xlim(-0.8, 2.3 * len(trace) + 1.0)
    ax.set_ylim(-0.7, rows - 0.3)
    ax.axis("off")
    ax.set_title(title)
    return fig


def _task_panel(ax: Axes, inputs: Sequence[int], outputs: Sequence[int], n_steps: int, title: str,
                example: str) -> None:
    shift = (6 - n_steps) / 2  # centre the picture in its panel
    ax.set_xlim(-0.6 - shift, 5.6 - shift)
    for t in range(n_steps):
        ax.add_patch(plt.Rectangle((t - 0.3, -0.3), 0.6, 0.6, color="tab:green", alpha=0.7))
        if t > 0:
            ax.annotate("", xy=(t - 0.3, 0), xytext=(t - 0.7, 0), arrowprops=dict(arrowstyle="->", lw=1.5))
        if t in inputs:
            ax.add_patch(plt.Rectangle((t - 0.3, -1.35), 0.6, 0.5, color="tab:red", alpha=0.7))
            ax.annotate("", xy=(t, -0.3), xytext=(t, -0.85), arrowprops=dict(arrowstyle="->", lw=1.5))
        if t in outputs:
            ax.add_patch(plt.Rectangle((t - 0.3, 0.85), 0.6, 0.5, color="tab:blue", alpha=0.7))
            ax.annotate("", xy=(t, 0.85), xytext=(t, 0.3), arrowprops=dict(arrowstyle="->", lw=1.5))
    ax.set_ylim(-2.2, 1.6)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=11)
    ax.text((n_steps - 1) / 2, -2.0, example, ha="center", fontsize=9, style="italic")


def draw_task_kinds() -> Figure:
    """The five kinds of sequence task (one-to-one … aligned many-to-many) as unrolled RNNs:
    red inputs, green recurrent states, blue outputs, time running left to right."""
    fig, axes = plt.subplots(1, 5, figsize=(17, 2.9))
    _task_panel(axes[0], [0], [0], 1, "one-to-one", "image → class")
    _task_panel(axes[1], [0], [0, 1, 2, 3], 4, "one-to-many", "image → caption")
    _task_panel(axes[2], [0, 1, 2, 3], [3], 4, "many-to-one", "review → sentiment")
    _task_panel(axes[3], [0, 1, 2], [3, 4, 5], 6, "many-to-many", "sentence → translation")
    _task_panel(axes[4], [0, 1, 2, 3], [0, 1, 2, 3], 4, "aligned many-to-many", "text → next character")
    fig.text(0.5, 0.06, "red: inputs   green: recurrent state   blue: outputs   (time runs left to right)",
             ha="center")
    return fig


def draw_unrolled_rnn(steps: int = 4, ax: Axes | None = None) -> Figure:
    """The RNN folded (one cell whose state feeds back into itself) and unrolled over ``steps``
    steps, every copy with the same weights ``V`` (input), ``W`` (recurrent) and ``U`` (output)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")

    def box(xy, text, color):
        ax.add_patch(plt.Rectangle((xy[0] - 0.35, xy[1] - 0.3), 0.7, 0.6, color=color, alpha=0.6))
        ax.text(xy[0], xy[1], text, ha="center", va="center", fontsize=13)

    def arrow(start, end, label="", color="black", offset=(0.12, 0.0)):
        ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="->", lw=1.5, color=color))
        if label:
            mid = ((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1])
            ax.text(*mid, label, fontsize=11, color=color)

    fig, ax = _figure_and_axes(ax, (3.2 * steps / 4 * 4 + 0.2, 3.6))
    box((0, 0), "$h_t$", "tab:green")
    box((0, -1.4), "$x_t$", "tab:red")
    box((0, 1.4), r"$\hat y_t$", "tab:blue")
    arrow((0, -1.1), (0, -0.3), "$V$", "tab:red")
    arrow((0, 0.3), (0, 1.1), "$U$", "tab:purple")
    ax.annotate("", xy=(0.35, -0.15), xytext=(0.35, 0.15),
                arrowprops=dict(arrowstyle="->", lw=1.5, color="tab:blue",
                                connectionstyle="arc,angleA=0,angleB=0,armA=30,armB=30,rad=10"))
    ax.text(0.8, -0.05, "$W$", fontsize=11, color="tab:blue")
    ax.text(1.3, 0, "=", fontsize=22, ha="center", va="center")
    ax.text(1.75, 0, "$h_0$", fontsize=13, ha="center", va="center")
    for k in range(1, steps + 1):
        cx = 1.6 + 1.6 * k
        box((cx, 0), f"$h_{k}$", "tab:green")
        box((cx, -1.4), f"$x_{k}$", "tab:red")
        box((cx, 1.4), rf"$\hat y_{k}$", "tab:blue")
        arrow((cx, -1.1), (cx, -0.3), "$V$", "tab:red")
        arrow((cx, 0.3), (cx, 1.1), "$U$", "tab:purple")
        arrow((cx - 1.3, 0), (cx - 0.35, 0), "$W$", "tab:blue", offset=(-0.1, 0.1))
    ax.text(1.6 + 1.6 * steps + 0.55, 0, r"$\cdots$", fontsize=16, va="center")
    ax.set_xlim(-0.8, 1.6 + 1.6 * steps + 1.0)
    ax.set_ylim(-1.9, 1.9)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("the RNN folded (left) and unrolled in time (right): every copy uses the same $V$, $W$, $U$")
    return fig


# ----------------------------------------------------------------------------- images and attention

def _image_hwc(name: str, image: ArrayLike) -> np.ndarray:
    """An RGB image ``(3, S, S)`` (torch layout) as ``(S, S, 3)`` float64 clipped to ``[0, 1]``."""
    arr = _to_numpy(name, image, ndim=3)
    if arr.shape[0] != 3:
        raise ValueError(f"{name} must have shape (3, S, S) (channels first), got {arr.shape}")
    return np.clip(arr.transpose(1, 2, 0), 0.0, 1.0)


def plot_captioned_images(images: ArrayLike, captions: Sequence[str], ncols: int = 4,
                          marks: Sequence[bool] | None = None) -> Figure:
    """A grid of images, each with its caption underneath.

    Args:
        images: ``(N, 3, S, S)`` RGB values in ``[0, 1]``.
        captions: ``N`` strings; long ones are wrapped after the fourth word.
        ncols: images per row.
        marks: optional ``N`` booleans; captions marked ``True`` are drawn in
            green with a ✓, the others in red with a ✗ (e.g. "true of the scene").

    Returns:
        The figure.
    """
    imgs = [_image_hwc(f"images[{i}]", im) for i, im in enumerate(images)]
    if len(captions) != len(imgs):
        raise ValueError(f"captions must have one string per image ({len(imgs)}), got {len(captions)}")
    if marks is not None and len(marks) != len(imgs):
        raise ValueError(f"marks must have one boolean per image ({len(imgs)}), got {len(marks)}")
    if not imgs:
        raise ValueError("images must contain at least one image")
    ncols = max(1, min(int(ncols), len(imgs)))
    nrows = math.ceil(len(imgs) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.3 * ncols, 2.8 * nrows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= len(imgs):
            continue
        ax.imshow(imgs[k], interpolation="nearest")
        words = captions[k].split()
        text = " ".join(words[:4]) + ("\n" + " ".join(words[4:]) if len(words) > 4 else "")
        colour = "black"
        if marks is not None:
            text = ("✓ " if marks[k] else "✗ ") + text
            colour = "tab:green" if marks[k] else "tab:red"
        ax.set_title(text, fontsize=8, y=-0.05, va="top", color=colour)
    fig.tight_layout()
    return fig


def plot_attention_over_image(image: ArrayLike, words: Sequence[str], weights: ArrayLike,
                              ncols: int = 5) -> Figure:
    """One panel per word: the image with the attention map of that step drawn over it.

    The map of step ``t`` is the distribution over the ``h × w`` grid of image
    regions with which word ``t`` was predicted. It is stretched over the
    image (each region covers ``S/h × S/w`` pixels), shown as a brightness
    mask: attended regions stay bright, the rest is darkened, and the most
    attended region is outlined.

    Args:
        image: ``(3, S, S)`` RGB values in ``[0, 1]``.
        words: ``T`` words (the generated caption, EOS included if wanted).
        weights: ``(T, L)`` attention weights, ``L = h * w`` a square number, rows summing to 1.
        ncols: panels per row.

    Returns:
        The figure.
    """
    img = _image_hwc("image", image)
    w = _to_numpy("weights", weights, ndim=2)
    if w.shape[0] != len(words):
        raise ValueError(f"weights must have one row per word ({len(words)}), got shape {w.shape}")
    side = int(round(math.sqrt(w.shape[1])))
    if side * side != w.shape[1]:
        raise ValueError(f"weights must have L = h * w columns for a square grid, got L = {w.shape[1]}")
    S = img.shape[0]
    ncols = max(1, min(int(ncols), len(words)))
    nrows = math.ceil(len(words) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.0 * ncols, 2.2 * nrows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= len(words):
            continue
        grid = w[k].reshape(side, side)
        region = (np.arange(S) * side) // S  # pixel -> row (or column) of its region
        mask = (grid / max(grid.max(), 1e-12))[region][:, region]  # (S, S)
        ax.imshow(img * (0.15 + 0.85 * mask[..., None]), interpolation="nearest")
        r, c = divmod(int(np.argmax(w[k])), side)
        cell = S / side
        ax.add_patch(plt.Rectangle((c * cell - 0.5, r * cell - 0.5), cell, cell, fill=False, ec="white", lw=1.2))
        ax.set_title(f"{words[k]}  (max {w[k].max():.2f})", fontsize=9)
    fig.tight_layout()
    return fig


def plot_caption_losses(histories: Mapping[str, Mapping[str, Sequence[float]]], smooth: int = 25) -> Figure:
    """Training loss (nats per word) of several captioning models against the step, smoothed.

    Args:
        histories: label -> the dict of :func:`rnncourse.captioning.train_captioner`
            (equal-length lists ``step`` and ``train_loss``).
        smooth: window of the trailing moving average.

    Returns:
        The figure (log-scaled loss axis).
    """
    if not histories:
        raise ValueError("histories must contain at least one training history, got an empty mapping")
    fig, ax = plt.subplots(figsize=(6.5, 3))
    for label, history in histories.items():
        step = _to_numpy(f"histories[{label!r}]['step']", history["step"])
        loss = _to_numpy(f"histories[{label!r}]['train_loss']", history["train_loss"])
        if step.shape != loss.shape:
            raise ValueError(f"histories[{label!r}]: step and train_loss must have the same length, "
                             f"got {step.size} and {loss.size}")
        ax.plot(step, _smooth(loss, smooth), label=label)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (nats/word)")
    ax.legend()
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- sequence to sequence

def plot_attention(weights: ArrayLike, source_labels: Sequence[str], target_labels: Sequence[str],
                   ax: Axes | None = None, title: str = "", colorbar: bool = True) -> Figure:
    """Heat map of attention weights: one row per output step, one column per source position.

    Row ``t`` is the distribution :math:`\\alpha_t` over the source that the
    decoder used when it produced ``target_labels[t]``; its entries are in
    [0, 1] and sum to 1. The colour scale is fixed to [0, 1] so that maps of
    different examples compare.

    Args:
        weights: ``(T, S)`` attention weights.
        source_labels: ``S`` labels of the source positions (columns).
        target_labels: ``T`` labels of the output steps (rows).
        ax: axes to draw into; a new figure when ``None``.
        title: the axes title.
        colorbar: draw a colour bar.

    Returns:
        The figure.
    """
    w = _to_numpy("weights", weights, ndim=2)
    T, S = w.shape
    if len(source_labels) != S or len(target_labels) != T:
        raise ValueError(f"weights has shape ({T}, {S}): expected {S} source labels and {T} target labels, "
                         f"got {len(source_labels)} and {len(target_labels)}")
    if not np.isfinite(w).all() or w.min() < 0 or w.max() > 1 + 1e-6:
        raise ValueError("weights must be finite and lie in [0, 1] (a softmax over the source positions)")
    fig, ax = _figure_and_axes(ax, (0.35 * S + 1.6, 0.35 * T + 1.0))
    image = ax.imshow(w, cmap="Greys", norm=Normalize(0.0, 1.0), aspect="auto", interpolation="nearest")
    ax.set_xticks(range(S), [_token_label(s) for s in source_labels], fontsize=9)
    ax.set_yticks(range(T), [_token_label(s) for s in target_labels], fontsize=9)
    ax.set_xlabel("source (attended)")
    ax.set_ylabel("output step")
    ax.xaxis.set_ticks_position("top")
    ax.xaxis.set_label_position("top")
    if title:
        ax.set_title(title, fontsize=10)
    if colorbar:
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="weight")
    return fig


def plot_accuracy_by_length(results: Mapping[str, Mapping[int, float]], ax: Axes | None = None,
                            title: str = "", ylabel: str = "exact-match accuracy") -> Figure:
    """Accuracy against input length, one line per model.

    Args:
        results: label → ``{length: accuracy in [0, 1]}``, e.g. the dicts of
            :func:`rnncourse.seq2seq.accuracy_by_length`.
        ax: axes to draw into; a new figure when ``None``.
        title: the axes title.
        ylabel: the y-axis label.

    Returns:
        The figure.
    """
    if not results:
        raise ValueError("results must contain at least one model, got an empty mapping")
    fig, ax = _figure_and_axes(ax, (6.5, 3.4))
    markers = "osd^v<>"
    for i, (label, acc) in enumerate(results.items()):
        if not acc:
            raise ValueError(f"results[{label!r}] is empty; expected {{length: accuracy}}")
        lengths = sorted(int(n) for n in acc)
        values = _to_numpy(f"results[{label!r}]", [acc[n] for n in lengths])
        if values.min() < 0 or values.max() > 1:
            raise ValueError(f"results[{label!r}] must hold accuracies in [0, 1], got {values.tolist()}")
        ax.plot(lengths, values, marker=markers[i % len(markers)], label=label)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("input length")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    if title:
        ax.set_title(title, fontsize=10)
    return fig
