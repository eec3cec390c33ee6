"""Searching hidden units for interpretable ones.

Record a trained network's hidden units over a text, one row of activations per
character, and a numeric property of the text at every position (the position
in the line, 1 inside quotes and 0 outside, …). A unit that *tracks* the
property rises and falls with it. The Pearson correlation (the formula is in
:func:`find_unit`) measures how well a straight line through the unit's
activation predicts the property, whatever the unit's scale and offset. A unit
that falls when the property rises (a correlation near −1) tracks it as well as
one that rises, so the search ranks units by the correlation's absolute value,
as Karpathy, Johnson & Fei-Fei (2015) did over the cells of character LSTMs.

Dimensions: ``T`` positions (characters), ``H`` hidden units.
"""
from __future__ import annotations

import numpy as np

from rnncourse._validate import check_ndim, describe


def unit_correlations(acts: np.ndarray, prop: np.ndarray) -> np.ndarray:
    """The Pearson correlation ``r_u`` of every hidden unit with a property of the text.

    ``r_u`` is the correlation that :func:`find_unit` defines and ranks. A
    unit whose activation never changes has no linear relation to anything:
    its ``r_u`` is 0 (not ``0 / 0 = NaN``, which ``np.corrcoef`` gives).

    Args:
        acts: ``(T, H)`` activations, ``acts[t, u]`` = unit ``u`` after the
            ``t``-th character (any real dtype).
        prop: ``(T,)`` the property at every position (numbers or booleans).
            It must vary: a constant property correlates with nothing.

    Returns:
        ``r``: a new ``(H,)`` float64 array with values in ``[-1, 1]``. The
        inputs are not modified.

    Raises:
        ValueError: as :func:`find_unit`.
    """
    check_ndim("acts", acts, 2)
    check_ndim("prop", prop, 1)
    if acts.shape[0] != prop.shape[0]:
        raise ValueError(f"acts has shape {tuple(acts.shape)} and prop has shape {tuple(prop.shape)}: acts needs "
                         "one row per position of prop, (T, H) and (T,)")
    a = np.asarray(acts, dtype=np.float64)                 # (T, H)
    p = np.asarray(prop, dtype=np.float64)                 # (T,)
    if a.shape[1] == 0:
        raise ValueError(f"acts has no units to search, got {describe(acts)}")
    for name, value in (("acts", a), ("prop", p)):
        if not np.isfinite(value).all():
            raise ValueError(f"{name} holds NaN or inf values, got {describe(value)}")
    if p.size < 2:
        raise ValueError(f"prop needs at least 2 positions to correlate over, got {describe(prop)}")
    if p.max() == p.min():
        raise ValueError(f"prop is constant (every value is {float(p[0]):g}), got {describe(prop)}: a property "
                         "that never changes correlates with no unit")
    a_c = a - a.mean(axis=0)                               # (T, H) each unit around its mean, a new array
    p_c = p - p.mean()                                     # (T,)
    num = p_c @ a_c                                        # (H,) Σ_t (a_tu − ā_u)(p_t − p̄)
    den = np.sqrt((a_c * a_c).sum(axis=0) * (p_c @ p_c))   # (H,)
    # a constant unit sits a rounding error off its own mean, so its 0 / 0 would come out as noise
    constant = (a.max(axis=0) == a.min(axis=0)) | (den == 0)   # (H,)
    r = np.where(constant, 0.0, num / np.where(constant, 1.0, den))  # (H,)
    return np.clip(r, -1.0, 1.0)                           # rounding may step just past ±1


def find_unit(acts: np.ndarray, prop: np.ndarray) -> tuple[int, float]:
    """The hidden unit whose activation correlates best with a property of the text.

    For every unit ``u`` (a column of ``acts``) compute the Pearson correlation
    (:func:`unit_correlations`)

    .. math::

        r_u = \\frac{\\sum_t (a_{tu} - \\bar a_u)(p_t - \\bar p)}
                   {\\sqrt{\\sum_t (a_{tu} - \\bar a_u)^2 \\, \\sum_t (p_t - \\bar p)^2}},

    and return the unit with the largest ``|r_u|`` together with its *signed*
    ``r_u``. A unit whose activation never changes has no linear relation to
    anything: its ``r_u`` is 0 (not ``0 / 0 = NaN``). Ties go to the lowest
    index (as ``np.argmax`` does).

    Args:
        acts: ``(T, H)`` activations, ``acts[t, u]`` = unit ``u`` after the
            ``t``-th character.
        prop: ``(T,)`` the property at every position (numbers or booleans).
            It must vary: a constant property correlates with nothing.

    Returns:
        ``(unit, corr)``: a Python ``int`` in ``[0, H)`` and a Python
        ``float`` in ``[-1, 1]``. The inputs are not modified.

    Raises:
        ValueError: ``acts`` is not 2-D or has no units, ``prop`` is not 1-D,
            their lengths differ, a value is not finite, or ``prop`` is
            constant (or shorter than 2).

    Example::

        >>> rng = np.random.default_rng(0)
        >>> prop = np.arange(50.0) % 10                   # (T,) position in a 10-character line
        >>> acts = rng.standard_normal((50, 8))           # (T, H) unrelated units ...
        >>> acts[:, 5] = 3.0 - 0.2 * prop + 0.01 * rng.standard_normal(50)  # ... and one counter
        >>> unit, corr = find_unit(acts, prop)
        >>> unit, round(corr, 2)
        (5, -1.0)
    """
    r = unit_correlations(acts, prop)                      # (H,)
    unit = int(np.argmax(np.abs(r)))                       # the first of equal |r_u|
    return unit, float(r[unit])
