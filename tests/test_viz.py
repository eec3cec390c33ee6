import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest
from matplotlib.figure import Figure

from rnncourse import viz


def history():
    return {"step": [1, 2, 3, 4], "train_loss": [4.0, 3.0, 2.5, 2.0], "grad_norm": [5.0, 3.0, 1.0, 0.5],
            "val_step": [2, 4], "val_loss": [3.1, 2.2]}


def test_figures():
    assert isinstance(viz.plot_loss_curves(history()), Figure)
    assert isinstance(viz.plot_grad_norm(history(), clip=1.0), Figure)
    assert isinstance(viz.plot_gradient_vs_lag({"a": [1.0, 0.5, 0.25]}), Figure)
    assert isinstance(viz.plot_distribution([0.1, 0.7, 0.2], ["a", "b", "c"]), Figure)
    assert isinstance(viz.plot_hidden_unit("ab\ncd", np.linspace(-1, 1, 5)), Figure)


def test_hidden_unit_html_escapes_and_colours():
    out = viz.hidden_unit_html("<b>\n", [1.0, -1.0, 0.0, 0.5])
    assert "&lt;" in out and "<b>" not in out
    assert "rgb(255,0,0)" in out and "rgb(0,0,255)" in out
    with pytest.raises(ValueError, match="one value per character"):
        viz.hidden_unit_html("ab", [0.0])
