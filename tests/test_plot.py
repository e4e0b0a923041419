"""Tests for fexp._plot: labels, sparklines, terminal plots and matplotlib figures."""

from __future__ import annotations

import math
import pathlib
import re
import sys
from typing import Any

import pytest

from fexp import _errors, _plot


def make_rows(n: int = 3, **extra: object) -> list[dict[str, Any]]:
    return [
        {"name": f"exp{i}", "path": f"/runs/s/exp{i}", "set": "/runs/s", "status": "finished",
         "created": "2024-05-01T12:00:00", "purpose": "", "notes": [], "version": {},
         "params": {"lr": [0.1, 0.01, 0.001, 0.0001][i % 4], "layers": [64, 64],
                    "opt": "adam" if i % 2 else "sgd", **extra},
         "messages": {"loss": 0.5}}
        for i in range(n)
    ]


def make_histories(names: list[str], key: str = "loss", points: int = 20) -> dict[str, Any]:
    return {name: {key: [(float(s), 1000.0 + 30 * s, 1.0 / (s + 1 + i)) for s in range(points)]}
            for i, name in enumerate(names)}


# ---------------------------------------------------------------- labels


def test_varying_labels_name_only_the_parameters_that_vary() -> None:
    rows = make_rows(2)
    assert _plot.varying_labels(rows) == {"exp0": "lr=0.1, opt=sgd", "exp1": "lr=0.01, opt=adam"}


def test_varying_labels_render_lists_compactly() -> None:
    rows = [{"name": "a", "params": {"lr": 0.01, "layers": [64, 64]}},
            {"name": "b", "params": {"lr": 0.01, "layers": [128]}}]
    assert _plot.varying_labels(rows) == {"a": "layers=[64,64]", "b": "layers=[128]"}


def test_varying_labels_fall_back_to_the_name_when_nothing_varies() -> None:
    rows = [{"name": "a", "params": {"lr": 0.1}}, {"name": "b", "params": {"lr": 0.1}}]
    assert _plot.varying_labels(rows) == {"a": "a", "b": "b"}


def test_a_parameter_missing_from_some_rows_varies() -> None:
    rows = [{"name": "a", "params": {"lr": 0.1}}, {"name": "b", "params": {"lr": 0.1, "wd": 0.5}}]
    assert _plot.varying_labels(rows) == {"a": "a", "b": "wd=0.5"}


def test_nested_parameters_are_labelled_by_their_dotted_key() -> None:
    rows = [{"name": "a", "params": {"opt": {"lr": 0.1, "betas": [0.9, 0.99]}}},
            {"name": "b", "params": {"opt": {"lr": 0.2, "betas": [0.9, 0.99]}}}]
    assert _plot.varying_labels(rows) == {"a": "opt.lr=0.1", "b": "opt.lr=0.2"}


def test_format_value() -> None:
    assert _plot.format_value(0.1 + 0.2) == "0.3"
    assert _plot.format_value({"x": 1, "y": [1.5, "a"]}) == "{x:1,y:[1.5,a]}"
    assert _plot.format_value(None) == "None"


# ---------------------------------------------------------------- sparkline


def test_sparkline_maps_min_to_lowest_and_max_to_highest_block() -> None:
    assert _plot.sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert _plot.sparkline([8, 1]) == "█▁"


def test_sparkline_resamples_to_width() -> None:
    assert _plot.sparkline(list(range(1000)), 10) == "▁▂▃▃▄▅▆▆▇█"
    stretched = _plot.sparkline([0.0, 1.0], 6)
    assert stretched == "▁▁▁███"


def test_sparkline_keeps_nan_as_gaps_and_ignores_it_for_scaling() -> None:
    assert _plot.sparkline([0.0, math.nan, 1.0, math.inf]) == "▁ █ "
    assert _plot.sparkline([math.nan, math.nan], 3) == "   "


def test_sparkline_of_a_constant_series_is_flat() -> None:
    line = _plot.sparkline([2.5] * 7)
    assert len(line) == 7 and len(set(line)) == 1 and line[0] in _plot.SPARKS


def test_sparkline_edge_cases() -> None:
    assert _plot.sparkline([]) == ""
    assert _plot.sparkline([3.0]) == "▄"
    assert _plot.sparkline([0.0, 5.0, 10.0], lo=0.0, hi=5.0) == "▁██"
    with pytest.raises(ValueError, match="width"):
        _plot.sparkline([1.0], 0)


# ---------------------------------------------------------------- terminal plot


def test_terminal_plot_has_one_line_per_experiment_with_min_and_last() -> None:
    rows = make_rows(3)
    text = _plot.terminal_plot("loss", rows, make_histories(["exp0", "exp1", "exp2"]), width=20)
    lines = text.splitlines()
    assert lines[0].startswith("loss: 3 experiment(s)")
    assert len(lines) == 4
    assert lines[1].startswith("lr=0.1, opt=sgd")
    assert "min      0.05  last 0.05" in lines[1]
    sparks = [re.search(f"[{_plot.SPARKS}]+", line).group() for line in lines[1:]]  # type: ignore[union-attr]
    assert all(len(s) == 20 for s in sparks)
    # One shared scale: the first experiment starts at the global maximum.
    assert sparks[0][0] == "█" and sparks[2][0] != "█"


def test_terminal_plot_lists_experiments_without_history() -> None:
    rows = make_rows(3)
    text = _plot.terminal_plot("loss", rows, make_histories(["exp0"]))
    assert text.splitlines()[-1] == "(no history for 'loss': exp1, exp2)"


# ---------------------------------------------------------------- errors


def test_unknown_key_lists_the_known_keys_and_suggests_one() -> None:
    rows = make_rows(2)
    histories = make_histories(["exp0", "exp1"])
    with pytest.raises(_errors.ConfigError) as info:
        _plot.terminal_plot("los", rows, histories)
    text = str(info.value)
    assert "KEY" in text and "'los'" in text and "did you mean 'loss'?" in text
    assert "these messages: loss." in text


def test_an_empty_history_does_not_make_a_key_known() -> None:
    rows = [{"name": "a", "params": {}, "messages": {"loss": 0.1}}]
    with pytest.raises(_errors.ConfigError, match="did you mean 'loss'"):
        _plot.terminal_plot("los", rows, {"a": {"los": []}})


def test_unknown_key_without_any_message() -> None:
    rows = [{"name": "a", "params": {}, "messages": {}}]
    with pytest.raises(_errors.ConfigError, match="have sent no messages yet"):
        _plot.terminal_plot("loss", rows, {})


def test_empty_selection_is_an_error() -> None:
    with pytest.raises(_errors.ConfigError, match="no experiments selected.*PATTERN"):
        _plot.terminal_plot("loss", [], {})
    with pytest.raises(_errors.ConfigError, match="PATTERN"):
        _plot.plot_histories("loss", [], {}, out=pathlib.Path("x.png"))


def test_experiments_without_history_are_an_error() -> None:
    rows = make_rows(2)  # messages hold "loss", but no log holds its history
    with pytest.raises(_errors.ConfigError) as info:
        _plot.terminal_plot("loss", rows, {})
    text = str(info.value)
    assert "none of the 2 selected experiment(s) has a recorded history for 'loss'" in text
    assert "messages.jsonl" in text


def test_non_numeric_history_is_an_error() -> None:
    rows = make_rows(1)
    histories = {"exp0": {"phase": [(0.0, 0.0, "warmup"), (1.0, 1.0, "train")]}}
    with pytest.raises(_errors.ConfigError, match="'phase' .*no numeric values"):
        _plot.terminal_plot("phase", rows, histories)


def test_bad_output_suffix_names_option_o(tmp_path: pathlib.Path) -> None:
    rows = make_rows(1)
    out = tmp_path / "plot.jpg"
    with pytest.raises(_errors.ConfigError) as info:
        _plot.plot_histories("loss", rows, make_histories(["exp0"]), out=out)
    assert "(option -o)" in str(info.value) and ".png, .svg, .pdf" in str(info.value)
    assert not out.exists()


def test_unknown_group_by_suggests_a_parameter(tmp_path: pathlib.Path) -> None:
    rows = make_rows(2)
    with pytest.raises(_errors.ConfigError, match=r"--group-by.*did you mean 'opt'\?"):
        _plot.plot_histories("loss", rows, make_histories(["exp0", "exp1"]), group_by="op",
                             out=tmp_path / "p.png")


def test_bad_x_axis(tmp_path: pathlib.Path) -> None:
    with pytest.raises(_errors.ConfigError, match="--x"):
        _plot.plot_histories("loss", make_rows(1), make_histories(["exp0"]),
                             x="epoch", out=tmp_path / "p.png")  # type: ignore[arg-type]


def test_missing_matplotlib_names_the_plot_extra(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(_errors.ConfigError) as info:
        _plot.plot_histories("loss", make_rows(1), make_histories(["exp0"]),
                             out=tmp_path / "p.png")
    assert "pip install 'fexp[plot]'" in str(info.value)
    assert not (tmp_path / "p.png").exists()


# ---------------------------------------------------------------- figures


def test_svg_has_one_line_per_experiment_with_history(tmp_path: pathlib.Path) -> None:
    rows = make_rows(4)
    out = tmp_path / "sub" / "loss.svg"
    summary = _plot.plot_histories("loss", rows, make_histories(["exp0", "exp1", "exp2"]), out=out)
    svg = out.read_text()
    assert svg.lstrip().startswith(("<?xml", "<svg"))
    ids = re.findall(r'<g id="fexp-line-(\d+)"', svg)
    assert ids == ["0", "1", "2"]
    assert summary.lines == ("lr=0.1, opt=sgd", "lr=0.01, opt=adam", "lr=0.001, opt=sgd")
    assert summary.skipped == ("exp3",)
    assert summary.path == out and summary.key == "loss"
    # The labels reach the legend (text is kept as text: svg.fonttype none).
    assert "lr=0.01, opt=adam" in svg


def test_png_is_a_valid_image(tmp_path: pathlib.Path) -> None:
    import matplotlib.image

    out = tmp_path / "loss.png"
    _plot.plot_histories("loss", make_rows(2), make_histories(["exp0", "exp1"]), out=out, x="time")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    image = matplotlib.image.imread(out)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_pdf_output(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "loss.PDF"
    _plot.plot_histories("loss", make_rows(1), make_histories(["exp0"]), out=out)
    assert out.read_bytes().startswith(b"%PDF")


def test_svg_output_is_deterministic(tmp_path: pathlib.Path) -> None:
    rows, histories = make_rows(2), make_histories(["exp0", "exp1"])
    a, b = tmp_path / "a.svg", tmp_path / "b.svg"
    _plot.plot_histories("loss", rows, histories, out=a)
    _plot.plot_histories("loss", rows, histories, out=b)
    assert a.read_bytes() == b.read_bytes()


def test_figure_lines_in_process() -> None:
    rows = make_rows(3)
    series, skipped = _plot.select_series("loss", rows, make_histories(["exp0", "exp1", "exp2"]))
    fig, groups = _plot.build_figure("loss", series, rows)
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 3 and skipped == [] and groups == ()
    assert [line.get_label() for line in ax.get_lines()] == [s.label for s in series]
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "loss"
    assert len({line.get_color() for line in ax.get_lines()}) == 3


def test_time_axis_uses_a_readable_unit() -> None:
    rows = make_rows(1)
    series, _ = _plot.select_series("loss", rows, make_histories(["exp0"], points=10))
    fig, _ = _plot.build_figure("loss", series, rows, x="time")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time (min)"  # 9 steps x 30 s = 270 s
    xs = ax.get_lines()[0].get_xdata()
    assert xs[0] == 0 and xs[-1] == pytest.approx(4.5)


def test_group_by_gives_one_colour_per_value(tmp_path: pathlib.Path) -> None:
    rows = make_rows(4)
    histories = make_histories([r["name"] for r in rows])
    series, _ = _plot.select_series("loss", rows, histories)
    fig, groups = _plot.build_figure("loss", series, rows, group_by="opt")
    colours = [line.get_color() for line in fig.axes[0].get_lines()]
    assert groups == ("sgd", "adam")
    assert colours[0] == colours[2] and colours[1] == colours[3] and colours[0] != colours[1]
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["opt=sgd", "opt=adam"]
    summary = _plot.plot_histories("loss", rows, histories, group_by="opt", out=tmp_path / "g.svg")
    assert summary.groups == ("sgd", "adam") and len(summary.lines) == 4


def test_non_numeric_and_nan_values_are_skipped_or_gaps() -> None:
    rows = make_rows(1)
    histories = {"exp0": {"loss": [(0.0, 0.0, 1.0), (1.0, 1.0, "diverged"), (2.0, 2.0, math.nan),
                                   (3.0, 3.0, True), (4.0, 4.0, 0.5)]}}
    series, _ = _plot.select_series("loss", rows, histories)
    assert series[0].steps == (0.0, 2.0, 4.0)
    assert math.isnan(series[0].values[1])
    assert "min       0.5  last 0.5" in _plot.terminal_plot("loss", rows, histories)
