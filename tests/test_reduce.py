"""Reduce (flambe): stage 2 linked from the best N experiments of a real stage-1 sweep."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import fexp
from fexp import _reduce

ROOT = pathlib.Path(__file__).resolve().parent.parent

STAGES = textwrap.dedent(
    """
    import pathlib

    import fexp
    from fexp import Root, _checkpoint


    @fexp.experiment
    def pretrain(
        root: Root,
        lr: float = 0.1,     # @p learning rate
        width: int = 8,      # @p hidden width
        seed: int = 0,       # @p random seed
    ):
        loss = abs(lr - 0.01) * 100 + width / 100
        root.message({"loss": loss, "acc": 1 - loss / 10}, keep="min")
        root.save_checkpoint({"weights": [lr, width]}, step=1)


    @fexp.experiment
    def finetune(
        root: Root,
        lr: float = 0.1,     # @p learning rate
        width: int = 8,      # @p hidden width
        epochs: int = 5,     # @p fine-tuning epochs
        init: str = "",      # @p the pretrained experiment folder
    ):
        weights = _checkpoint.restore(pathlib.Path(init, "checkpoints"))
        root.message({"start": float(weights["weights"][0]), "epochs": epochs})
    """
)


@pytest.fixture
def stages(tmp_path: pathlib.Path) -> tuple[fexp.ExperimentSet, fexp.ExperimentSet]:
    module = tmp_path / "stages.py"
    module.write_text(STAGES)
    one = fexp.ExperimentSet.init(tmp_path / "stage1", f"{module}:pretrain")
    two = fexp.ExperimentSet.init(tmp_path / "stage2", f"{module}:finetune")
    one.link("{lr: 0.001 | 0.01 | 0.1, width: 4 | 16}")
    assert one.run(jobs=3).counts == {"finished": 6}
    return one, two


def rows(*losses: float | None) -> list[dict]:
    return [{"name": f"e{i}", "path": f"/s/e{i}", "params": {"lr": i},
             "messages": {} if loss is None else {"loss": loss}} for i, loss in enumerate(losses)]


def test_select_best_min_max_ties_and_missing() -> None:
    data = rows(0.3, None, 0.1, float("nan"), 0.1, 0.2)
    assert [r["name"] for r in _reduce.select_best(data, 2, "loss")] == ["e2", "e4"]
    assert [r["name"] for r in _reduce.select_best(data, 2, "loss", "max")] == ["e0", "e5"]
    assert [r["name"] for r in _reduce.select_best(data, 10, "loss")] == ["e2", "e4", "e5", "e0"]
    assert _reduce.select_best(data, 1, "loss")[0]["_value"] == 0.1
    assert "_value" not in data[2]  # Pure: the input rows are not changed.
    assert [r["name"] for r in _reduce.select_best(data, 1, "lr", "max")] == ["e5"]  # A param.


def test_select_best_errors_report_everything() -> None:
    with pytest.raises(fexp.ConfigError) as info:
        _reduce.select_best(rows(0.1), 0, "", "median")
    text = str(info.value)
    assert "--best" in text and "--keep" in text and "--by" in text
    with pytest.raises(fexp.ConfigError, match="did you mean 'loss'") as info:
        _reduce.select_best(rows(0.1, 0.2), 1, "los")
    assert info.value.source == "option --by"


def test_plan_points_carry_changed_params_and_cross_the_sweep() -> None:
    from fexp import _params

    specs = {n: _params.ParamSpec(n, t, d) for n, t, d in
             [("lr", float, 0.1), ("width", int, 8), ("epochs", int, 5), ("init", str, "")]}
    chosen = [{"path": "/s/a", "params": {"lr": 0.01, "width": 8, "seed": 3}},
              {"path": "/s/b", "params": {"lr": 0.001, "width": 4, "seed": 0}}]
    points = _reduce.plan_points(chosen, specs, "{epochs: 20 | 40}", "init")
    assert points == [
        {"lr": 0.01, "epochs": 20, "init": "/s/a"}, {"lr": 0.01, "epochs": 40, "init": "/s/a"},
        {"lr": 0.001, "width": 4, "epochs": 20, "init": "/s/b"},
        {"lr": 0.001, "width": 4, "epochs": 40, "init": "/s/b"},
    ]
    with pytest.raises(fexp.ParamError, match="unknown parameter 'inti'.*did you mean 'init'"):
        _reduce.plan_points(chosen, specs, None, "inti")


def test_split_source(tmp_path: pathlib.Path) -> None:
    assert _reduce.split_source(tmp_path) == (tmp_path, None)
    assert _reduce.split_source(f"{tmp_path}/lr=*") == (tmp_path, "lr=*")


def test_two_stage_sweep_links_the_best_two_by_min_loss(
    stages: tuple[fexp.ExperimentSet, fexp.ExperimentSet],
) -> None:
    one, two = stages
    result = _reduce.reduce(one.root, two, best=2, by="loss", keep="min",
                         sweep="{epochs: 20 | 40}", source_param="init")
    # loss = |lr - 0.01| * 100 + width / 100: the best two are lr=0.01 with width 4, then 16.
    assert [r["name"] for r in result.chosen] == ["lr=0.01__width=4", "lr=0.01__width=16"]
    assert result.considered == 6
    found = {(r["params"]["lr"], r["params"]["width"], r["params"]["epochs"]): r
             for r in two.find()}
    assert sorted(found) == [(0.01, 4, 20), (0.01, 4, 40), (0.01, 16, 20), (0.01, 16, 40)]
    assert found[(0.01, 16, 40)]["params"]["init"] == str(one.root / "lr=0.01__width=16")
    assert found[(0.01, 4, 20)]["notes"] == [
        f"reduced from {one.root / 'lr=0.01__width=4'} (loss=0.04)"]
    assert found[(0.01, 4, 20)]["purpose"] == f"best 2 of {one.root} by min loss"
    assert two.run(jobs=2).counts == {"finished": 4}  # Stage 2 starts from stage 1's weights.
    assert {r["messages"]["start"] for r in two.find()} == {0.01}
    assert "kept the best 2 of 6 by min loss" in result.render()


def test_reduce_by_max_with_a_glob_and_where(
    stages: tuple[fexp.ExperimentSet, fexp.ExperimentSet],
) -> None:
    one, two = stages
    result = _reduce.reduce(f"{one.root}/lr=0.1*", two.root, best=1, by="acc", keep="max",
                         where=["width>4"])
    assert [r["name"] for r in result.chosen] == ["lr=0.1__width=16"]
    assert [r["params"]["width"] for r in two.find()] == [16]


def test_only_finished_experiments_count_by_default(
    stages: tuple[fexp.ExperimentSet, fexp.ExperimentSet],
) -> None:
    one, two = stages
    one.reset("lr=0.01*", keep_outputs=True)  # The two best are no longer finished.
    result = _reduce.reduce(one.root, two, best=1, by="loss")
    assert result.chosen[0]["params"]["lr"] == 0.001
    result = _reduce.reduce(one.root, two, best=1, by="loss", status=(), name="any")
    assert result.chosen[0]["params"]["lr"] == 0.01


def test_bad_requests_change_nothing(
    stages: tuple[fexp.ExperimentSet, fexp.ExperimentSet], tmp_path: pathlib.Path,
) -> None:
    one, two = stages
    with pytest.raises(fexp.ExperimentStateError, match="no experiment set"):
        _reduce.reduce(tmp_path / "nowhere", two, best=1, by="loss")
    with pytest.raises(fexp.SweepError):
        _reduce.reduce(one.root, two, best=1, by="loss", sweep="{epochs: [}")
    with pytest.raises(fexp.ParamError, match="epochs"):
        _reduce.reduce(one.root, two, best=1, by="loss", sweep="{epochs: many}")
    assert two.find() == []


def _cli(*args: object) -> subprocess.CompletedProcess[str]:
    code = "import sys, fexp._cli_parity, fexp._cli as c; c.main()"
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=120)


def test_cli_reduce(stages: tuple[fexp.ExperimentSet, fexp.ExperimentSet]) -> None:
    one, two = stages
    done = _cli("reduce", one.root, "{epochs: 7}", "-r", two.root, "--best", "2", "--by", "loss",
                "--source-param", "init")
    assert done.returncode == 0, done.stderr
    assert "kept the best 2 of 6 by min loss" in done.stdout
    assert sorted((r["params"]["width"], r["params"]["epochs"]) for r in two.find()) == [
        (4, 7), (16, 7)]
    bad = _cli("reduce", one.root, "-r", two.root, "--by", "loss", "--keep", "median")
    assert bad.returncode == 2 and "--keep must be 'min' or 'max'" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.skipif(
    "--from-best" not in subprocess.run([sys.executable, "-m", "fexp", "link", "--help"],
                                        capture_output=True, text=True).stdout,
    reason="needs patch 9 of docs/parity.md (fexp link --from-best)")
def test_cli_link_from_best(stages: tuple[fexp.ExperimentSet, fexp.ExperimentSet]) -> None:
    one, two = stages
    done = _cli("link", "{epochs: 20 | 40}", "-r", two.root, "--from", one.root,
                "--from-best", "2", "--by", "loss", "--keep", "min")
    assert done.returncode == 0, done.stderr
    assert len(two.find()) == 4
    bad = _cli("link", "-r", two.root, "--from-best", "2")
    assert bad.returncode == 2
    assert "--from STAGE1" in bad.stderr and "--by KEY" in bad.stderr
