"""ExperimentSet through the Python API: link variants, maintenance, moves, concurrency."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import pytest

import fexp
from fexp import _yaml

from .conftest import EXAMPLES, installed_fexp

HELLO = f"{EXAMPLES / 'hello_world.py'}:hello_world"


@pytest.fixture
def xs(tmp_path: pathlib.Path) -> fexp.ExperimentSet:
    return fexp.ExperimentSet.init(tmp_path / "set", HELLO, purpose="tests")


def test_init_writes_the_set_files(xs: fexp.ExperimentSet) -> None:
    assert (xs.root / "defaults.yml").exists()
    assert os.access(xs.root / "script.sh", os.X_OK)
    state = xs.state()
    assert state["purpose"] == "tests" and state["experiments"] == {}
    assert state["ref"] == HELLO
    defaults = _yaml.read_mapping(xs.root / "defaults.yml")
    assert defaults["greeting"] == "Hello" and defaults["_version"]["function"] == "hello_world"


def test_link_casts_names_and_records_overrides(xs: fexp.ExperimentSet) -> None:
    names = xs.link('{times: 1 | 2.0, to: x | "a, b"}', purpose="p")
    assert names == [
        "times=1__to=x",
        "times=1__to=a,-b@fa1a52b2",
        "times=2__to=x",
        "times=2__to=a,-b@2afd7134",
    ]
    params = _yaml.read_mapping(xs.root / names[3] / "params.yml")
    assert params["_purpose"] == "p" and params["_status"] == "registered"
    assert (params["times"], params["to"]) == (2, "a, b")  # 2.0 cast to the int parameter
    assert xs.state()["experiments"][names[3]] == {"times": 2, "to": "a, b"}
    with pytest.raises(fexp.ParamError, match="'to'.*expects str"):
        xs.link("{to: [a, b]}")  # a list for a str parameter


def test_link_validates_everything_before_writing(xs: fexp.ExperimentSet) -> None:
    with pytest.raises(fexp.ParamError) as info:
        xs.link("{times: 1 | x | 2.5, greting: hi}")
    text = str(info.value)
    assert "'x'" in text and "2.5" in text and "greting" in text  # every problem at once
    assert xs.state()["experiments"] == {}
    assert [p.name for p in xs.root.iterdir() if p.is_dir()] == []


def test_repeats_names_and_collisions(xs: fexp.ExperimentSet) -> None:
    assert xs.link("{times: 3}", repeats=2) == ["times=3__rep=0", "times=3__rep=1"]
    assert xs.link("{times: 3}") == ["times=3"]
    assert xs.link("{times: 3}") == ["times=3_1"]
    assert xs.link("{times: 1 | 2}", name="exp") == ["exp__times=1", "exp__times=2"]
    assert xs.link(None, name="solo") == ["solo"]


def test_config_file_with_parent_chain(xs: fexp.ExperimentSet, tmp_path: pathlib.Path) -> None:
    (tmp_path / "base.yml").write_text("greeting: Base\ntimes: 2\n")
    (tmp_path / "child.yml").write_text("parent: base.yml\ntimes: 5\n")
    names = xs.link("{to: A | B}", config=tmp_path / "child.yml")
    rows = {r["name"]: r["params"] for r in xs.find()}
    assert {rows[n]["greeting"] for n in names} == {"Base"}
    assert {rows[n]["times"] for n in names} == {5}
    assert {rows[n]["to"] for n in names} == {"A", "B"}


def test_random_search_is_reproducible(tmp_path: pathlib.Path) -> None:
    one = fexp.ExperimentSet.init(tmp_path / "a", HELLO)
    two = fexp.ExperimentSet.init(tmp_path / "b", HELLO)
    sweep = "{times: randint(1, 9), greeting: choice(Hi, Yo, Hey)}"
    assert one.link(sweep, samples=5, seed=3) == two.link(sweep, samples=5, seed=3)
    assert len(one.state()["experiments"]) == 5


def test_unlink_relink_clean_reset_note(xs: fexp.ExperimentSet) -> None:
    xs.link("{times: 1 | 2 | 3}")
    assert xs.unlink("times=1") == ["times=1"]
    assert xs.unmanaged() == ["times=1"]
    assert xs.relink() == ["times=1"]
    xs.unlink("times=3")
    assert xs.clean() == ["times=3"]
    assert not (xs.root / "times=3").exists()
    summary = xs.run("times=1")
    assert summary.counts == {"finished": 1}
    assert xs.reset("times=1") == ["times=1"]
    assert xs.find("times=1")[0]["status"] == "registered"
    xs.note("set note")
    xs.note("exp note", "times=2")
    assert xs.state()["notes"] == ["set note"]
    assert xs.find("times=2")[0]["notes"] == ["exp note"]
    with pytest.raises(fexp.ConfigError, match="unknown status"):
        xs.reset("*", status="done")


def test_moved_set_is_rerooted_by_relink(xs: fexp.ExperimentSet, tmp_path: pathlib.Path) -> None:
    xs.link("{times: 1 | 2}")
    moved = tmp_path / "elsewhere"
    shutil.move(str(xs.root), str(moved))
    ys = fexp.ExperimentSet(moved)
    ys.relink()
    for name in ("times=1", "times=2"):
        data = _yaml.read_mapping(moved / name / "params.yml")
        assert data["_root"] == str(moved)
    assert ys.state()["root"] == str(moved)
    assert ys.run().counts == {"finished": 2}


def test_run_force_retries_and_stop_on_failure(tmp_path: pathlib.Path) -> None:
    script = tmp_path / "flaky.sh"
    # Fails until it has been called three times for the same experiment.
    script.write_text(
        '#!/usr/bin/env bash\nd=$(dirname "$1"); echo x >> "$d/calls"\n'
        '[ "$(wc -l < "$d/calls")" -ge 3 ] || exit 1\n'
    )
    defaults = tmp_path / "defaults.yml"
    defaults.write_text("n: 0\n")
    ys = fexp.ExperimentSet.init(tmp_path / "flaky", script=script, defaults=defaults)
    ys.link("{n: 1 | 2}")
    summary = ys.run(retries=2)
    assert summary.counts == {"finished": 2}
    assert [r.attempts for r in summary.results] == [3, 3]
    ys.link("{n: 3 | 4}")
    summary = ys.run(stop_on_failure=True)
    assert len(summary.results) == 1 and summary.stopped_early and summary.failed
    summary = ys.run("n=1", force=True)
    assert summary.results[0].status == "finished"


def test_missing_set_is_a_clear_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(fexp.ExperimentStateError, match="no experiment set"):
        fexp.ExperimentSet(tmp_path).link("{times: 1}")


def test_find_all_sets_and_mode_set(tmp_path: pathlib.Path) -> None:
    a = fexp.ExperimentSet.init(tmp_path / "a", HELLO, purpose="first")
    b = fexp.ExperimentSet.init(tmp_path / "b", HELLO, purpose="second")
    a.link("{times: 1 | 2}")
    b.link("{times: 3}")
    rows = fexp.find(all_sets=True)
    assert sorted(r["params"]["times"] for r in rows) == [1, 2, 3]
    per_set = fexp.find(all_sets=True, mode="set")
    assert sorted(r["experiments"] for r in per_set) == [1, 2]
    frame = fexp.find_df(tmp_path / "a")
    assert len(frame) == 2


def test_concurrent_links_lose_nothing(tmp_path: pathlib.Path, clean_env: pathlib.Path) -> None:
    """8 `fexp link` processes into one set at once: every configuration is registered."""
    xs = fexp.ExperimentSet.init(tmp_path / "busy", HELLO)
    exe = installed_fexp()
    procs = [
        subprocess.Popen(
            [exe, "link", f"{{times: {i}, to: a | b | c}}", "-r", str(xs.root)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    managed = xs.state()["experiments"]
    assert len(managed) == 24
    folders = {p.name for p in xs.root.iterdir() if (p / "params.yml").exists()}
    assert folders == set(managed)
    values = {(r["params"]["times"], r["params"]["to"]) for r in xs.find()}
    assert values == {(i, t) for i in range(8) for t in "abc"}


def test_context_manager_returns_the_set(tmp_path: pathlib.Path) -> None:
    with fexp.ExperimentSet.init(tmp_path / "ctx", HELLO) as xs:
        xs.link("{times: 1}")
        assert xs.run().counts == {"finished": 1}


def test_row_cache_never_serves_stale_rows(xs: fexp.ExperimentSet) -> None:
    """`fexp list` caches parsed rows; any change to params.yml or messages.jsonl shows."""
    xs.link("{times: 1 | 2}")
    assert {r["status"] for r in xs.find()} == {"registered"}
    assert (xs.root / ".fexp-index.json").exists()
    xs.run("times=1")
    rows = {r["name"]: r for r in xs.find()}
    assert rows["times=1"]["status"] == "finished" and rows["times=1"]["messages"] == {"length": 12}
    with open(xs.root / "times=2" / "messages.jsonl", "a") as log:
        log.write('{"t": 1.0, "m": {"late": 3}}\n')
    assert {r["name"]: r for r in xs.find()}["times=2"]["messages"] == {"late": 3}
    params = xs.root / "times=2" / "params.yml"
    params.write_text(params.read_text().replace("_status: registered", "_status: stopped"))
    assert {r["name"]: r for r in xs.find()}["times=2"]["status"] == "stopped"
    (xs.root / ".fexp-index.json").write_text("{not json")
    assert len(xs.find()) == 2


def test_state_sidecar_follows_hand_edits(xs: fexp.ExperimentSet) -> None:
    xs.link("{times: 1}")
    text = (xs.root / "experiment.yml").read_text()
    (xs.root / "experiment.yml").write_text(text.replace("purpose: tests", "purpose: edited"))
    assert xs.state()["purpose"] == "edited"


def test_params_json_twin_equals_the_yaml(xs: fexp.ExperimentSet) -> None:
    """The JSON twin readers use must hold exactly what parsing params.yml gives."""
    import json

    names = xs.link('{times: 1 | 2, greeting: "a: b # c" | "x\\ny" | "yes"}')
    xs.run(names[0])
    xs.note("n", names[1])
    for name in names:
        twin = json.loads((xs.root / name / ".params.yml.json").read_text())["data"]
        assert twin == _yaml.read_mapping(xs.root / name / "params.yml"), name


FLAKY = """
import pathlib
import fexp


@fexp.experiment
def flaky(root: fexp.Root, fail_times: int = 0, n: int = 0):  # @p failures before success
    calls = root.directory / "calls"
    count = len(calls.read_text().splitlines()) if calls.exists() else 0
    calls.write_text("x\\n" * (count + 1))
    if count < fail_times:
        raise RuntimeError(f"failure {count + 1}")
    root.message({"n": n})
"""


def test_run_fork_runs_in_children_with_retries(tmp_path: pathlib.Path) -> None:
    (tmp_path / "flaky.py").write_text(FLAKY)
    ys = fexp.ExperimentSet.init(tmp_path / "forked", f"{tmp_path / 'flaky.py'}:flaky")
    ys.link("{n: 1 | 2 | 3 | 4, fail_times: 0}")
    ys.link("{n: 5, fail_times: 2}")
    summary = ys.run(fork=True, jobs=2, retries=2)
    assert summary.counts == {"finished": 5}
    attempts = {r.name: r.attempts for r in summary.results}
    assert attempts["n=5__fail_times=2"] == 3
    rows = {r["name"]: r for r in ys.find()}
    assert rows["n=3__fail_times=0"]["messages"] == {"n": 3}
    assert rows["n=5__fail_times=2"]["attempts"] == 3  # each attempt recorded by the runner
    ys.link("{n: 6, fail_times: 9}")
    summary = ys.run(fork=True)
    assert summary.failed and summary.results[0].status == "error"
    assert "failure 1" in (ys.root / "n=6__fail_times=9" / "error.txt").read_text()


def test_run_fork_refuses_script_sets(tmp_path: pathlib.Path) -> None:
    script = tmp_path / "job.sh"
    script.write_text("#!/usr/bin/env bash\n")
    defaults = tmp_path / "defaults.yml"
    defaults.write_text("n: 0\n")
    ys = fexp.ExperimentSet.init(tmp_path / "s", script=script, defaults=defaults)
    ys.link("{n: 1}")
    with pytest.raises(fexp.ConfigError, match="--fork"):
        ys.run(fork=True)
