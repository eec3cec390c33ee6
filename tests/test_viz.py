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


def test_diagrams_draw_without_error():
    for draw in (viz.draw_lstm_cell, viz.draw_gru_cell, viz.draw_stacked_rnn, viz.draw_bidirectional_rnn,
                 viz.draw_task_kinds, viz.draw_unrolled_rnn):
        assert isinstance(draw(), Figure)
    with pytest.raises(ValueError, match="layers must be an int"):
        viz.draw_stacked_rnn(layers=0)


def test_beam_tree_marks_the_kept_candidates():
    import torch

    from rnncourse.sampling import beam_search

    table = {0: [0.0, 0.0, 0.6, 0.4], 2: [0.0, 0.3, 0.35, 0.35], 3: [0.0, 1.0, 0.0, 0.0]}
    step = lambda prefix: torch.tensor(table[prefix[-1]], dtype=torch.float64).clamp_min(1e-12).log()
    trace = []
    best = beam_search(step, 0, 1, beam_width=2, max_len=3, trace=trace)
    assert [sum(kept for *_, kept in s) for s in trace][0] == 2
    assert best == beam_search(step, 0, 1, beam_width=2, max_len=3)  # tracing changes nothing
    fig = viz.plot_beam_tree(trace, ["BOS", "EOS", "a", "b"])
    assert isinstance(fig, Figure) and len(fig.axes[0].patches) > 4
