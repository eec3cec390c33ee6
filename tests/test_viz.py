import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from rnncourse import viz


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


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


def test_captioned_images_and_attention_panels():
    images = np.random.default_rng(0).random((3, 3, 48, 48))
    fig = viz.plot_captioned_images(images, ["a red circle left of a blue square", "b", "c"], ncols=2,
                                    marks=[True, False, True])
    assert isinstance(fig, Figure)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0].startswith("✓ a red circle left\nof") and titles[1] == "✗ b"
    weights = np.zeros((2, 36))
    weights[0, 7] = weights[1, 35] = 1.0
    fig = viz.plot_attention_over_image(images[0], ["a", "red"], weights)
    shown = fig.axes[0].images[0].get_array()
    assert shown.shape == (48, 48, 3)
    # region 7 = row 1, column 1 of the 6 x 6 grid: pixels 8..15 keep their brightness, others are dimmed
    assert np.allclose(shown[8:16, 8:16], np.clip(images[0].transpose(1, 2, 0), 0, 1)[8:16, 8:16])
    assert np.allclose(shown[0:8, 0:8], 0.15 * images[0].transpose(1, 2, 0)[0:8, 0:8])


def test_image_figures_name_bad_arguments():
    with pytest.raises(ValueError, match="channels first"):
        viz.plot_captioned_images(np.zeros((1, 48, 48, 3)), ["x"])
    with pytest.raises(ValueError, match="one string per image"):
        viz.plot_captioned_images(np.zeros((2, 3, 8, 8)), ["x"])
    with pytest.raises(ValueError, match="one row per word"):
        viz.plot_attention_over_image(np.zeros((3, 8, 8)), ["a"], np.ones((2, 4)) / 4)
    with pytest.raises(ValueError, match="square grid"):
        viz.plot_attention_over_image(np.zeros((3, 8, 8)), ["a"], np.ones((1, 5)) / 5)


def test_caption_losses_plots_one_smoothed_line_per_model():
    fig = viz.plot_caption_losses({"a": {"step": [1, 2, 3], "train_loss": [3.0, 1.0, 2.0]},
                                   "b": {"step": [1, 2], "train_loss": [1.0, 0.5]}}, smooth=2)
    lines = fig.axes[0].get_lines()
    assert [ln.get_label() for ln in lines] == ["a", "b"]
    assert np.allclose(lines[0].get_ydata(), [3.0, 2.0, 1.5])
    with pytest.raises(ValueError, match="same length"):
        viz.plot_caption_losses({"a": {"step": [1, 2], "train_loss": [1.0]}})


def test_attention_heat_map_has_one_row_per_output_and_one_column_per_source():
    w = np.full((3, 4), 0.25)
    fig = viz.plot_attention(w, list("abcd"), ["x", "y", "<eos>"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list("abcd")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x", "y", "<eos>"]
    assert ax.images[0].get_array().shape == (3, 4)
    with pytest.raises(ValueError, match="expected 4 source labels and 3 target labels"):
        viz.plot_attention(w, list("abc"), list("xyz"))
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        viz.plot_attention(-w, list("abcd"), list("xyz"))


def test_accuracy_by_length_draws_one_line_per_model_in_length_order():
    fig = viz.plot_accuracy_by_length({"a": {4: 0.5, 2: 1.0}, "b": {2: 0.1, 4: 0.0}})
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2 and list(lines[0].get_xdata()) == [2, 4] and list(lines[0].get_ydata()) == [1.0, 0.5]
    with pytest.raises(ValueError, match="accuracies in \\[0, 1\\]"):
        viz.plot_accuracy_by_length({"a": {2: 2.0}})


def test_timings_draw_one_labelled_bar_per_entry_first_on_top():
    times = {"torch GRU": 12.5, "scratch GRU": 30.0, "torch LSTM": 0.0}
    fig = viz.plot_timings(times, xlabel="ms per step", colors=["g", "y", "b"])
    ax = fig.axes[0]
    bars = sorted(ax.patches, key=lambda b: -b.get_y())  # top to bottom
    assert [b.get_width() for b in bars] == [12.5, 30.0, 0.0]
    by_height = dict(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels())))
    assert [by_height[k] for k in sorted(by_height, reverse=True)] == list(times)
    assert ax.get_xlabel() == "ms per step" and [t.get_text() for t in ax.texts] == ["12.5", "30.0", "0.0"]
    with pytest.raises(ValueError, match="at least one label"):
        viz.plot_timings({})
    with pytest.raises(ValueError, match="finite times >= 0"):
        viz.plot_timings({"a": float("nan")})
    with pytest.raises(ValueError, match="one colour per label"):
        viz.plot_timings(times, colors=["g"])
    matplotlib.pyplot.close(fig)


def test_curves_draw_one_line_per_label_and_leave_non_positive_values_off_a_log_axis():
    fig = viz.plot_curves({"a": [1.0, 0.1, 0.0], "b": [2.0, 1.0, 0.5]}, logy=True, hlines={"floor": 0.3},
                          vlines=[1.5])
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines() if line.get_label() in ("a", "b")]
    assert [line.get_label() for line in lines] == ["a", "b"]
    assert np.isnan(lines[0].get_ydata()[2])  # 0 is not drawn on a log scale
    assert ax.get_yscale() == "log" and "floor" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_curves_name_a_curve_whose_length_differs_from_x():
    with pytest.raises(ValueError, match=r"curves\['b'\] has 2 values but x has 3"):
        viz.plot_curves({"a": [1, 2, 3], "b": [1, 2]}, x=[1, 2, 3])
    with pytest.raises(ValueError, match="at least one label"):
        viz.plot_curves({})


def test_probability_table_writes_every_value_in_its_cell():
    probs = np.array([[0.1, 0.9], [0.75, 0.25]])
    fig = viz.plot_probability_table(probs, ["x", "y"], ["p", "q"])
    assert sorted(t.get_text() for t in fig.axes[0].texts) == ["0.10", "0.25", "0.75", "0.90"]
    with pytest.raises(ValueError, match=r"shape \(2, 2\), but there are 3 row labels"):
        viz.plot_probability_table(probs, ["x", "y", "z"], ["p", "q"])


def test_memory_trace_draws_the_three_curves_and_marks_writes_and_reads():
    offered, cell, hidden = np.linspace(-1, 1, 10), np.full(10, 0.5), np.zeros(10)
    fig = viz.plot_memory_trace(offered, cell, hidden, writes=[2], reads=[4, 8])
    lines = fig.axes[0].get_lines()
    assert [ln.get_label() for ln in lines[:3]] == ["offered at each step", "cell state $c_t$", "output $h_t$"]
    assert np.allclose(lines[1].get_ydata(), cell)
    marks = [(ln.get_color(), ln.get_xdata()[0]) for ln in lines[3:]]
    assert marks == [("tab:green", 2), ("tab:orange", 4), ("tab:orange", 8)]
    plt.close(fig)
    with pytest.raises(ValueError, match="same length, got 10, 9 and 10"):
        viz.plot_memory_trace(offered, cell[:9], hidden)
    with pytest.raises(ValueError, match=r"reads must hold steps in \[0, 10\), got \[10\]"):
        viz.plot_memory_trace(offered, cell, hidden, reads=[10])


def test_gradient_vs_depth_plots_the_norms_at_the_given_depths():
    fig = viz.plot_gradient_vs_depth([1, 8, 15], {"plain": [1.0, 1e-3, 1e-6], "residual": [1.0, 2.0, 3.0]},
                                      colors={"plain": "k"})
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    plain, residual = ax.get_lines()
    assert list(plain.get_xdata()) == [1, 8, 15] and np.allclose(plain.get_ydata(), [1.0, 1e-3, 1e-6])
    assert plain.get_color() == "k" and residual.get_label() == "residual"
    plt.close(fig)
    with pytest.raises(ValueError, match="has 2 values for 3 depths"):
        viz.plot_gradient_vs_depth([1, 8, 15], {"plain": [1.0, 2.0]})


def test_training_runs_draw_every_seed_smoothed_and_label_each_model_once():
    runs = {"a": [([2.0, 1.0, 0.0], [0.0, 0.5, 1.0]), ([1.0, 1.0, 1.0], [0.2, 0.2, 0.2])],
            "b": [([1.5, 1.5, 1.5], [0.25, 0.25, 0.25])]}
    fig = viz.plot_training_runs(runs, n_classes=4, colors={"a": "tab:blue"}, smooth=2)
    ax_loss, ax_acc = fig.axes
    curves = [ln for ln in ax_loss.get_lines() if ln.get_linestyle() != "--"]
    assert len(curves) == 3 and curves[0].get_color() == "tab:blue"
    assert np.allclose(curves[0].get_ydata(), [2.0, 1.5, 0.5])  # trailing mean of 2
    assert [t.get_text() for t in ax_acc.get_legend().get_texts()] == ["a", "b", "chance"]
    chance = [ln for ln in ax_loss.get_lines() if ln.get_linestyle() == "--"][0]
    assert np.isclose(chance.get_ydata()[0], np.log(4))
    plt.close(fig)
    with pytest.raises(ValueError, match="same length, got 3 and 2"):
        viz.plot_training_runs({"a": [([1.0, 2.0, 3.0], [0.0, 1.0])]})
    with pytest.raises(ValueError, match="n_classes must be an int >= 2"):
        viz.plot_training_runs(runs, n_classes=1)
