"""Parity with the seeds (docs/parity.md): every row's fexp counterpart resolves, every cited
test exists, and the behaviour the seeds document works here.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap
import time
import zipfile
from typing import Any

import pytest

import fexp
from fexp import _yaml

from .test_token import max_overlap

ROOT = pathlib.Path(__file__).resolve().parent.parent
PARITY = ROOT / "docs" / "parity.md"


def _pythonpath() -> dict[str, str]:
    return {**os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def cli(*args: object, cwd: pathlib.Path | None = None) -> subprocess.CompletedProcess[str]:
    """``fexp ARGS`` in a subprocess, with the parity commands registered."""
    code = "import sys, fexp._cli_parity, fexp._cli as c; c.main()"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, env=_pythonpath(), timeout=120, cwd=cwd)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


BASIC = textwrap.dedent(
    """
    import os, pathlib, time

    import fexp
    from fexp import Root


    @fexp.experiment
    def sleeper(
        root: Root,
        seconds: float = 0.05,  # @p how long to sleep
        tag: str = "a",         # @p a label
    ):
        \"\"\"Sleep a while.\"\"\"
        (root.directory / "enter").write_text(repr(time.time()))
        time.sleep(seconds)
        (root.directory / "leave").write_text(repr(time.time()))
        root.message({"env": os.environ.get("PARITY_VAR", ""), "seconds": seconds,
                      "current": fexp.current() is root})


    @fexp.experiment
    def flaky(
        root: Root,
        steps: int = 6,    # @p how many steps
        fail_at: int = 3,  # @p the step of the first attempt that fails
    ):
        state = root.restore_checkpoint({"step": 0})
        for step in range(int(state["step"]), steps):
            marker = root.directory / "failed_once"
            if step == fail_at and not marker.exists():
                marker.touch()
                raise RuntimeError("boom")
            root.message({"step": step})
            root.save_checkpoint({"step": step + 1}, step=step + 1)
    """
)

DECLARED = textwrap.dedent(
    """
    import time

    import fexp
    from fexp import Root


    @fexp.experiment(tokens={"parity-gpu": 1}, debug={"steps": 1, "tag": "debug"})
    def gpu(
        root: Root,
        seconds: float = 0.3,  # @p how long to hold the GPU
        steps: int = 5,        # @p steps
        tag: str = "a",        # @p a label
    ):
        (root.directory / "enter").write_text(repr(time.time()))
        time.sleep(seconds)
        (root.directory / "leave").write_text(repr(time.time()))
        root.message({"steps": steps, "tag": tag})


    class Small(fexp.Experiment, debug={"n": 2}):
        n: int = 100  # @p size

        def run(self):
            self.message({"n": self.n})


    if __name__ == "__main__":
        gpu.main()
    """
)


@pytest.fixture
def basic(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "parity_basic.py"
    path.write_text(BASIC)
    return path


def _set(tmp_path: pathlib.Path, module: pathlib.Path, attr: str, name: str = "set",
         **kwargs: Any) -> fexp.ExperimentSet:
    return fexp.ExperimentSet.init(tmp_path / name, f"{module}:{attr}", **kwargs)


def _wait_until_one_entered(xs: fexp.ExperimentSet, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not any((folder / "enter").exists() for folder in xs):
        assert time.monotonic() < deadline, "no experiment started"
        time.sleep(0.02)


def _intervals(xs: fexp.ExperimentSet) -> list[tuple[float, float]]:
    return [(float((d / "enter").read_text()), float((d / "leave").read_text())) for d in xs]


# ======================================================================== xmen


def test_functional_api_root_read_comments_and_autodoc() -> None:
    assert fexp.Root is fexp.Experiment

    def train(root: fexp.Root, lr: float = 0.1, epochs: int = 2):  # noqa: ANN202
        """Train.

        Args:
            lr: learning rate.
            epochs: how many epochs.
        """

    cls = fexp.experiment(train)  # xmen.functional_experiment(fn)
    assert issubclass(cls, fexp.Experiment) and cls.fn is train
    assert cls.get_param_helps() == {"lr": "learning rate.", "epochs": "how many epochs."}
    documented = fexp.autodoc(train)
    assert documented is train
    assert "lr (float): learning rate. Defaults to 0.1." in (train.__doc__ or "")


def test_experiment_properties_map_to_attributes(basic: pathlib.Path, tmp_path: pathlib.Path
                                                 ) -> None:
    from fexp import _registry

    cls = _registry.resolve(f"{basic}:sleeper")
    exp = cls(seconds=0.0)
    assert exp.status == "default"
    exp.register(tmp_path / "runs", purpose="props")
    exp()
    assert exp.status == "finished" and exp.purpose == "props"
    assert exp.root == tmp_path / "runs" and exp.name == "seconds=0.0"
    for stamp in (exp.created, exp.registered, exp.started, exp.stopped, exp.last):
        assert isinstance(stamp, str) and "T" in stamp
    assert exp.messages["seconds"] == 0.0 and exp.notes == []
    assert exp.version["function"] == "sleeper"
    assert exp.meta["user"] and exp.meta["host"]  # xmen's user and host properties
    assert exp.messages["current"] is True and fexp.current() is None
    loaded = cls.from_params_file(exp.directory / "params.yml")  # load_params
    assert (loaded.status, loaded.params, loaded.messages) == (exp.status, exp.params,
                                                               exp.messages)


def test_stdout_to_txt_tees_for_the_rest_of_the_process(basic: pathlib.Path,
                                                       tmp_path: pathlib.Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        from fexp import _registry
        exp = _registry.resolve({str(basic)!r} + ":sleeper")()
        exp.register({str(tmp_path)!r}, "tee")
        exp.stdout_to_txt()
        print("to both")
        print("errors too", file=sys.stderr)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=_pythonpath(), timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "to both\n"
    assert (tmp_path / "tee" / "out.txt").read_text() == "to both\nerrors too\n"


def test_debug_hook_and_the_generated_cli_debug(tmp_path: pathlib.Path) -> None:
    module = tmp_path / "declared_debug.py"
    module.write_text(DECLARED)
    sys.path.insert(0, str(tmp_path))
    try:
        declared = importlib.import_module("declared_debug")
    finally:
        sys.path.remove(str(tmp_path))
    exp = declared.gpu()
    assert exp.debug() is exp and exp.params["steps"] == 1 and exp.params["tag"] == "debug"
    assert declared.Small().debug().params["n"] == 2
    done = subprocess.run([sys.executable, str(module), "--debug", "--tag", "mine",
                           "--seconds", "0"], capture_output=True, text=True, timeout=60,
                          env=_pythonpath())
    assert done.returncode == 0, done.stderr
    folder = pathlib.Path(re.search(r"running gpu in (.+)", done.stderr)[1].strip())
    params = _yaml.read_mapping(folder / "params.yml")
    assert (params["steps"], params["tag"]) == (1, "mine")  # The command line wins.

    class Custom(fexp.Experiment):
        size: int = 10  # @p size

        def debug(self) -> fexp.Experiment:
            self.update({"size": 1})
            return self

    assert Custom().debug().params == {"size": 1}


def test_get_meta_groups_are_saved_at_run_start(basic: pathlib.Path,
                                                tmp_path: pathlib.Path) -> None:
    assert sorted(fexp.get_meta(cpu=True, memory=True)) == ["cpu", "memory"]
    ok(cli("config", "set", "meta", "[cpu, conda]"))
    bad = cli("config", "set", "meta", "[cpus]")
    assert bad.returncode == 2 and "groups from cpu" in bad.stderr
    xs = _set(tmp_path, basic, "sleeper")
    xs.link("{seconds: 0}")
    assert xs.run().counts == {"finished": 1}
    meta = xs.find()[0]["meta"]
    assert {"host", "user", "pid", "cpu", "conda"} <= set(meta)
    assert meta["cpu"]["logical"] >= 1


def test_utils_flatten_and_yaml_helpers(tmp_path: pathlib.Path) -> None:
    nested = {"opt": {"lr": 0.1, "betas": [0.9, 0.99]}, "epochs": 3}
    assert fexp.flatten(nested) == {"opt.lr": 0.1, "opt.betas": [0.9, 0.99], "epochs": 3}
    assert fexp.flatten(nested, sep="_") == {"opt_lr": 0.1, "opt_betas": [0.9, 0.99],
                                             "epochs": 3}  # xmen's default separator
    text = fexp.dic_to_yaml(nested)
    assert fexp.dic_from_yml(string=text) == nested
    (tmp_path / "p.yml").write_text(text)
    assert fexp.dic_from_yml(path=tmp_path / "p.yml") == nested
    (tmp_path / "bad.yml").write_text("!!python/object:os.system {}\n")
    with pytest.raises(fexp.YamlError):  # xmen's IncompatibleYmlException
        fexp.dic_from_yml(path=tmp_path / "bad.yml")


def test_utils_version_git_and_run_script(basic: pathlib.Path, tmp_path: pathlib.Path) -> None:
    from fexp import _registry

    cls = _registry.resolve(f"{basic}:sleeper")
    version = cls.version_info()  # xmen get_version(cls=...)
    assert version["function"] == "sleeper" and version["module"]
    script = cls.to_root(tmp_path / "root")  # xmen get_run_script + to_root
    assert script.name == "script.sh" and os.access(script, os.X_OK)
    assert "-m fexp execute" in script.read_text()
    assert (tmp_path / "root" / "defaults.yml").exists()


def test_find_over_every_known_set(basic: pathlib.Path, tmp_path: pathlib.Path) -> None:
    a = _set(tmp_path, basic, "sleeper", "a", purpose="first")
    b = _set(tmp_path, basic, "flaky", "b", purpose="second")
    a.link("{seconds: 0 | 0.01, tag: x | y}")
    b.link("{steps: 1 | 2, fail_at: 9}")
    a.run()
    everything = fexp.find()  # GlobalExperimentManager.find: every known set
    assert len(everything) == 6
    sets = fexp.find(mode="set")
    assert sorted((s["name"], s["experiments"]) for s in sets) == [("a", 4), ("b", 2)]
    assert {r["params"]["steps"] for r in fexp.find(types_match=":flaky$")} == {1, 2}
    # xmen's three param_match forms: "regex", "regex op val", "val1 op1 regex op2 val2".
    assert len(fexp.find(where=["^fail_at$"])) == 2
    assert len(fexp.find(where=["seco.* > 0"])) == 2
    assert len(fexp.find(where=["0 <= seco.* < 0.005"])) == 2
    assert len(fexp.find(where=["steps>=1"])) == 2
    assert len(fexp.find(where=["steps>=1"], missing_entry=True)) == 6  # missing_entry
    latest = fexp.find(sort="-created", limit=2)  # xmen's last=2
    assert len(latest) == 2
    assert len(fexp.find(pattern="tag=x*")) == 0 and len(fexp.find(pattern="*tag=x")) == 2
    frame = fexp.find_df(a.root)  # find_to_dataframe / dics_to_pandas
    assert {"seconds", "tag", "status"} <= set(frame.columns)


def test_find_mode_set_reports_each_sets_purpose_and_creation(basic: pathlib.Path,
                                                              tmp_path: pathlib.Path) -> None:
    a = _set(tmp_path, basic, "sleeper", "a", purpose="first")
    b = _set(tmp_path, basic, "flaky", "b", purpose="second")
    a.link("{tag: x | y}")
    b.link("{steps: 1}")
    sets = {s["name"]: s for s in fexp.find(mode="set")}
    assert (sets["a"]["purpose"], sets["a"]["experiments"]) == ("first", 2)
    assert (sets["b"]["purpose"], sets["b"]["created"]) == ("second", b.state()["created"])
    assert sets["a"]["counts"] == {"registered": 2}


def test_list_display_toggles_and_config_clean(basic: pathlib.Path,
                                               tmp_path: pathlib.Path) -> None:
    xs = _set(tmp_path, basic, "sleeper", purpose="shown")
    xs.link("{tag: x | y}")
    header = ok(cli("list", "-r", xs.root, "--csv", "--show", "purpose,-date,git")).splitlines()[0]
    assert header.split(",")[:3] == ["name", "status", "purpose"] and "created" not in header
    header = ok(cli("list", "-r", xs.root, "--csv", "--show", "-status,-params")).splitlines()[0]
    assert header == "name,created"
    gone = _set(tmp_path, basic, "sleeper", "gone")
    import shutil

    shutil.rmtree(gone.root)
    assert ok(cli("config", "--clean")) == f"forgot {gone.root}\n"
    assert ok(cli("config", "--clean")) == ""


def test_manager_verbs_map_to_set_methods(basic: pathlib.Path, tmp_path: pathlib.Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text('#!/usr/bin/env bash\necho "$1"\n')
    defaults = tmp_path / "defaults.yml"
    defaults.write_text("a: 1\nb: x\n")
    # ExperimentManager.initialise(defaults=, script=, purpose=) and register(...)
    xs = fexp.ExperimentSet.init(tmp_path / "generic", script=script, defaults=defaults,
                                 purpose="generic")
    names = xs.link("{a: 1 | 2, b: y}", name="run", repeats=2, purpose="twice")
    assert names == ["run__a=1__b=y__rep=0", "run__a=1__b=y__rep=1", "run__a=2__b=y__rep=0",
                     "run__a=2__b=y__rep=1"]
    assert [p.name for p in xs] == names  # experimaestro's jobspath: the folders
    assert xs.note("checked", "run__a=1*") == names[:2]
    assert xs.run(names[0]).counts == {"finished": 1}
    assert xs.reset(names[0]) == names[:1]
    assert xs.unlink("*rep=1") == [names[1], names[3]]
    assert xs.relink("run__a=1*") == [names[1]]
    assert xs.clean() == [names[3]]
    with pytest.raises(fexp.ExperimentStateError, match="no experiment set"):  # check_initialised
        fexp.ExperimentSet(tmp_path / "empty").state()


def test_monitor_message_options_reproduce_the_seed_example_4() -> None:
    from fexp.monitor import Monitor

    class Fake:
        def __init__(self) -> None:
            self.messages: dict[str, Any] = {}

        def message(self, values: dict[str, Any], keep: str = "latest",
                    leader: str | None = None, step: int | None = None) -> None:
            from fexp import _messages

            self.messages.update(_messages.apply(self.messages, values, keep, leader))

    ex = Fake()
    m = Monitor(msg="z->^ex$@10s", msg_keep="min", msg_leader="z_y", msg_expand=True,
                msg_prep=True)
    seen = []
    z = {"x": 5, "y": 10}
    for i in m(range(100)):
        z["i"] = i
        z["x"] += 1
        z["y"] = z["x"] ** 2
        if i % 10 == 1:
            seen.append([ex.messages.get(k) for k in ("z_i", "z_y", "z_x")])
    assert seen == [[None, None, None]] + [[9, 225, 15]] * 9


# ======================================================================== experimaestro


def test_with_block_waits_for_what_it_launched(basic: pathlib.Path, tmp_path: pathlib.Path
                                               ) -> None:
    xs = _set(tmp_path, basic, "sleeper")
    xs.link("{seconds: 0.4, tag: a | b | c}")
    began = time.monotonic()
    with fexp.ExperimentSet(xs.root) as open_set:
        launched = open_set.launch(jobs=3)
        assert time.monotonic() - began < 0.4  # launch returns at once
        assert not launched.done()
    assert launched.done()
    assert {r["status"] for r in xs.find()} == {"finished"}
    assert launched.wait().counts == {"finished": 3}


def test_stop_stops_running_experiments_and_launches_nothing_more(
    basic: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    xs = _set(tmp_path, basic, "sleeper")
    xs.link("{seconds: 60, tag: a | b}")
    launched = xs.launch()
    _wait_until_one_entered(xs)
    began = time.monotonic()
    xs.stop()
    summary = launched.wait()
    assert time.monotonic() - began < 10
    statuses = {r["name"]: r["status"] for r in xs.find()}
    assert statuses == {"seconds=60.0__tag=a": "stopped", "seconds=60.0__tag=b": "registered"}
    assert [r.status for r in summary.results] == ["stopped"]


def test_an_exception_in_the_with_block_stops_the_launch(basic: pathlib.Path,
                                                         tmp_path: pathlib.Path) -> None:
    xs = _set(tmp_path, basic, "sleeper")
    xs.link("{seconds: 60}")
    with pytest.raises(KeyError), fexp.ExperimentSet(xs.root) as open_set:
        open_set.launch()
        _wait_until_one_entered(xs)
        raise KeyError("user code failed")
    assert [r["status"] for r in xs.find()] == ["stopped"]


def test_services_are_listed_while_open_and_stopped_on_exit(basic: pathlib.Path,
                                                            tmp_path: pathlib.Path) -> None:
    from fexp import _services_registry

    class Echo(fexp.Service):
        kind = "echo"

        def __init__(self) -> None:
            super().__init__()
            self.stopped = False

        def start(self, xs: fexp.ExperimentSet) -> str | None:
            return f"file://{xs.root}"

        def stop(self) -> None:
            self.stopped = True

    xs = _set(tmp_path, basic, "sleeper")
    events: list[tuple[str, str]] = []
    service = Echo()
    service.add_listener(lambda s, state: events.append((s.kind, state)))
    with fexp.ExperimentSet(xs.root) as open_set:
        assert open_set.add_service("echo", service) is service
        assert open_set.services == {"echo": service} and service.url == f"file://{xs.root}"
        listed = ok(cli("services", "-r", xs.root))
        assert listed.startswith(f"echo\techo\tfile://{xs.root}")
        with pytest.raises(fexp.ConfigError, match="already running"):
            open_set.add_service("echo", Echo())
    assert service.stopped and events == [("echo", "running"), ("echo", "stopped")]
    assert _services_registry.listed(xs) == {}
    assert ok(cli("services", "-r", xs.root)) == "no service running for this set\n"
    listener = events.append
    service.add_listener(listener)  # type: ignore[arg-type]
    service.remove_listener(listener)  # type: ignore[arg-type]


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None,
                    reason="needs the tensorboard extra")
def test_tensorboard_is_the_first_service(basic: pathlib.Path, tmp_path: pathlib.Path) -> None:
    import urllib.request

    xs = _set(tmp_path, basic, "sleeper")
    xs.link("{tag: a | b}")
    with fexp.ExperimentSet(xs.root) as open_set:
        board = open_set.add_service("tensorboard", fexp.TensorboardService())
        assert board.url and board.pid
        with urllib.request.urlopen(board.url + "data/runs", timeout=10) as page:
            assert page.status == 200
        pid = board.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_setenv_is_exported_by_script_sh(basic: pathlib.Path, tmp_path: pathlib.Path) -> None:
    xs = _set(tmp_path, basic, "sleeper")
    xs.setenv("PARITY_VAR", "it's here")
    assert "export PARITY_VAR='it'\"'\"'s here'" in xs.paths.script.read_text()
    xs.link("{seconds: 0}")
    assert xs.run().counts == {"finished": 1}
    assert xs.find()[0]["messages"]["env"] == "it's here"
    with pytest.raises(fexp.ConfigError, match="not a valid environment variable"):
        xs.setenv("BAD-NAME", "x")


def test_setenv_reaches_script_only_sets(tmp_path: pathlib.Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text('#!/usr/bin/env bash\necho "$PARITY_VAR" > "$(dirname "$1")/env.txt"\n')
    defaults = tmp_path / "defaults.yml"
    defaults.write_text("a: 1\n")
    xs = fexp.ExperimentSet.init(tmp_path / "plain", script=script, defaults=defaults)
    xs.setenv("PARITY_VAR", "plain")
    xs.link("{a: 2}")
    assert xs.run().counts == {"finished": 1}
    assert (xs.root / "a=2" / "env.txt").read_text() == "plain\n"
    with pytest.raises(fexp.ConfigError, match="fexp token gpu -c 1 COMMAND"):
        xs.token("gpu", 1)


def test_set_token_caps_how_many_experiments_run_at_once(basic: pathlib.Path,
                                                         tmp_path: pathlib.Path) -> None:
    xs = _set(tmp_path, basic, "sleeper")
    token = xs.token("parity-disk", 1)
    assert isinstance(token, fexp.Token) and token.count == 1
    assert "export FEXP_TOKENS=parity-disk:1" in xs.paths.script.read_text()
    xs.link("{seconds: 0.3, tag: a | b | c}")
    assert xs.run(jobs=3).counts == {"finished": 3}
    assert max_overlap(_intervals(xs)) == 1


def test_experiment_declared_tokens_are_held_by_the_runner(tmp_path: pathlib.Path) -> None:
    module = tmp_path / "declared.py"
    module.write_text(DECLARED)
    xs = fexp.ExperimentSet.init(tmp_path / "gpu", f"{module}:gpu")
    xs.link("{tag: a | b | c}")
    assert xs.run(jobs=3).counts == {"finished": 3}
    assert max_overlap(_intervals(xs)) == 1
    attempts = [r["attempts"] for r in xs.find()]
    assert attempts == [1, 1, 1]
    def zero(root: fexp.Root) -> None:
        """Declares a token with no slot."""

    with pytest.raises(fexp.ConfigError, match="count must be"):
        fexp.experiment(tokens={"gpu": 0})(zero)


@dataclasses.dataclass
class Optim:
    lr: float = 0.1
    betas: tuple[float, float] = (0.9, 0.99)


@dataclasses.dataclass
class Config:
    title: str
    optim: Optim


def test_save_and_load_configuration_objects(basic: pathlib.Path, tmp_path: pathlib.Path
                                             ) -> None:
    xs = _set(tmp_path, basic, "sleeper")
    path = xs.save("default", Config("paper", Optim(0.01)))
    assert path == xs.root / "configs" / "default.yml"
    assert xs.load("default", Config) == Config("paper", Optim(0.01, (0.9, 0.99)))
    assert xs.load("default")["optim"]["lr"] == 0.01
    other = fexp.ExperimentSet(xs.root)  # experimaestro's load(reference): another object
    assert other.load("default", Config).title == "paper"
    with pytest.raises(fexp.ConfigError):
        xs.save("../escape", {})


# ======================================================================== fifteen


def test_fifteen_helpers_return_the_experiment(basic: pathlib.Path, tmp_path: pathlib.Path
                                               ) -> None:
    from fexp import _registry

    exp = _registry.resolve(f"{basic}:sleeper")().register(tmp_path, "e")
    assert exp.assert_new() is exp and exp.assert_exists() is exp
    (exp.directory / "x").write_text("1")
    assert exp.clear() is exp and not (exp.directory / "x").exists()
    assert exp.move(tmp_path / "moved") is exp and exp.directory == tmp_path / "moved"


# ======================================================================== flax_extra


def test_checkpoint_records_step_metrics_elapsed_and_completed_steps(tmp_path: pathlib.Path
                                                                     ) -> None:
    from fexp import _checkpoint

    writer = _checkpoint.CheckpointWriter(tmp_path, keep=None)
    writer.write({"w": [1.0]}, step=10, metrics={"loss": 0.5})
    time.sleep(0.05)
    writer.write({"w": [2.0]}, step=25, metrics={"loss": 0.25})
    first, second = _checkpoint.records(tmp_path)
    assert (first.step, dict(first.metrics), first.completed_steps) == (10, {"loss": 0.5}, 10)
    assert (second.step, second.completed_steps, second.previous_step) == (25, 15, 10)
    assert second.elapsed is not None and second.elapsed >= 0.05
    with zipfile.ZipFile(first.path) as archive:  # CheckpointFile.version: a versioned format
        assert json.loads(archive.read("fexp.json"))["version"] >= 1


def test_best_writers_and_readers_are_public_and_keep_their_own_prefixes(
    tmp_path: pathlib.Path,
) -> None:
    high = fexp.HighestCheckpointWriter(tmp_path, "acc")
    low = fexp.LowestCheckpointWriter(tmp_path, "acc")
    plain = fexp.CheckpointWriter(tmp_path, keep=3)
    for step, acc in enumerate([0.5, 0.7, 0.6, 0.2]):
        high.write({"acc": acc}, step=step, metrics={"acc": acc})
        low.write({"acc": acc}, step=step, metrics={"acc": acc})
        plain.write({"acc": acc}, step=step, metrics={"acc": acc})
    from fexp import _checkpoint

    _checkpoint.wait_for_deletions()
    assert high.is_best(0.71) and not high.is_best(0.7) and low.is_best(0.1)
    assert fexp.read_best(tmp_path, "acc", "max")["acc"] == 0.7
    assert fexp.read_best(tmp_path, "acc", "min")["acc"] == 0.2
    assert fexp.read_latest(tmp_path)["acc"] == 0.2
    assert fexp.read_step(tmp_path, 1)["acc"] == 0.7
    assert fexp.read_latest(tmp_path / "none", default=dict) == {}  # the reader's initializer
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["checkpoint_1", "checkpoint_2", "checkpoint_3", "highest_acc_1",
                     "lowest_acc_3"]
    assert isinstance(fexp.Best("acc", "max"), fexp.Best)
    assert fexp.CheckpointRecord(step=1).step == 1


# ======================================================================== flambe


def test_resume_reruns_interrupted_experiments_from_their_checkpoints(
    basic: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    xs = _set(tmp_path, basic, "flaky")
    xs.link("{steps: 6 | 2}")
    first = xs.run()
    assert first.counts == {"error": 1, "finished": 1}
    again = xs.run()  # plain run: nothing is registered any more
    assert again.results == [] and sorted(again.skipped) == ["steps=2", "steps=6"]
    resumed = xs.run(resume=True)
    assert resumed.counts == {"finished": 1}  # the finished one is never re-run
    assert _steps(xs.root / "steps=6") == [0, 1, 2, 3, 4, 5]  # continued at 3 (checkpoint)
    assert (xs.root / "steps=6" / "checkpoints").exists()  # the folder was kept
    assert not (xs.root / "steps=6" / "error.txt").exists()  # finished: no stale error
    attempts = _yaml.read_mapping(xs.root / "steps=6" / "params.yml")["_attempts"]
    assert [a["status"] for a in attempts] == ["error", "finished"]


def _steps(folder: pathlib.Path) -> list[int]:
    from fexp import _layout, _messages

    return [int(v) for _, _, v in _messages.history(
        _messages.read(folder / _layout.MESSAGES_FILE), "step")]


def test_cli_run_resume(basic: pathlib.Path, tmp_path: pathlib.Path) -> None:
    xs = _set(tmp_path, basic, "flaky")
    xs.link("{steps: 5}")
    assert cli("run", "-r", xs.root).returncode == 1
    assert ok(cli("run", "-r", xs.root, "--resume")).splitlines()[-1] == "ran 1: 1 finished"
    assert _steps(xs.root / "steps=5") == [0, 1, 2, 3, 4]


# ======================================================================== the table itself


@dataclasses.dataclass(frozen=True)
class Row:
    seed: str
    item: str
    counterpart: str
    usage: str
    tests: tuple[str, ...]
    line: int

    @property
    def id(self) -> str:
        return f"{self.seed}:{self.line}:{self.item[:40]}"


@functools.cache
def rows() -> tuple[Row, ...]:
    """Every row of every seed table in docs/parity.md."""
    found = []
    seed = ""
    for number, line in enumerate(PARITY.read_text(encoding="utf-8").splitlines(), 1):
        heading = re.match(r"## (\w+)", line)
        if heading:
            seed = heading[1]
        cells = [c.strip().replace("\\|", "|")
                 for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if not line.startswith("|") or len(cells) != 4 or set(cells[0]) <= set("-: "):
            continue
        if cells[0] == "Seed":
            continue
        tests = tuple(re.findall(r"`(tests/[\w/]+\.py::\w+)`", cells[3]))
        found.append(Row(seed, cells[0], cells[1], cells[2], tests, number))
    return tuple(found)


SEEDS = ("xmen", "fifteen", "experimaestro", "flax_extra", "flambe")


def test_the_table_has_every_seed() -> None:
    counts = {s: sum(r.seed == s for r in rows()) for s in SEEDS}
    assert all(counts[s] >= 8 for s in SEEDS), counts
    assert {r.seed for r in rows()} == set(SEEDS)


@functools.cache
def _test_names(path: str) -> frozenset[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return frozenset(n.name for n in ast.walk(tree)
                     if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))


@pytest.mark.parametrize("row", rows(), ids=lambda r: r.id)
def test_every_row_cites_tests_that_exist(row: Row) -> None:
    if row.counterpart == "n/a":
        assert not row.tests and len(row.usage) > 20, "say in one sentence why"
        return
    assert row.tests, "cite the test that exercises this row"
    for node in row.tests:
        path, _, name = node.partition("::")
        assert (ROOT / path).exists(), node
        assert name in _test_names(path), node


def _resolve(dotted: str) -> Any:
    """The object a dotted name in the table names; instance attributes count too."""
    parts = dotted.split(".")
    if parts[0] in ("Experiment", "ExperimentSet", "Root"):
        parts = ["fexp", *parts]
    obj: Any = importlib.import_module(parts[0])
    for index, part in enumerate(parts[1:], 1):
        if hasattr(obj, part):
            obj = getattr(obj, part)
        elif obj in (fexp.Experiment, fexp.ExperimentSet):
            instance = fexp.Experiment() if obj is fexp.Experiment else obj(ROOT)
            obj = getattr(instance, part)
        else:
            obj = importlib.import_module(".".join(parts[: index + 1]))
    return obj


@functools.cache
def _help(verb: str) -> str:
    return ok(cli(*verb.split(), "--help"))


@pytest.mark.parametrize("row", [r for r in rows() if r.counterpart not in ("n/a",)],
                         ids=lambda r: r.id)
def test_every_counterpart_exists(row: Row) -> None:
    names = re.findall(r"`([^`]+)`", row.counterpart)
    assert names, "name fexp's counterpart in backticks"
    for name in names:
        _check_counterpart(name)


def _check_counterpart(name: str) -> None:
    if name.startswith("fexp ") or name == "fexp":
        words = name.split()
        options = [w.split("=")[0] for w in words if w.startswith("-")]
        verbs = [w for w in words[1:] if re.fullmatch(r"[a-z][a-z-]*", w)][:2]
        text = _help(" ".join(verbs[:1])) if verbs else _help("")
        if len(verbs) > 1 and f"  {verbs[1]} " in text:
            text = _help(" ".join(verbs))
        if verbs:
            assert verbs[0] in _help(""), f"no command fexp {verbs[0]}"
        for option in options:
            assert option in text, f"{name}: no option {option}"
        return
    if re.fullmatch(r"[\w.]+", name) and name.split(".")[0] in (
            "fexp", "Experiment", "ExperimentSet", "Root"):
        _resolve(name)
        return
    if re.fullmatch(r"[\w.]+\(.*\)", name):  # a call: check the callable and its keywords
        target = _resolve(name[: name.index("(")])
        import inspect

        signature = inspect.signature(target)
        for keyword in re.findall(r"(\w+)=", name):
            has_kwargs = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
            assert keyword in signature.parameters or has_kwargs, f"{name}: no {keyword}="
        return
    # Files, folders and keys of params.yml are named as they appear on disk.
    assert re.fullmatch(r"[\w./<>{}*:=$\-]+", name), name


def test_missing_rows_are_explained() -> None:
    missing = [r for r in rows() if r.counterpart.lower().startswith("missing")]
    for row in missing:
        assert len(row.usage) > 30, row
    listed = PARITY.read_text(encoding="utf-8").split("## What \"missing\" remains", 1)[1]
    for row in missing:  # Each one is also listed at the end, with its reason.
        assert row.item.split("`")[1] in listed, row
