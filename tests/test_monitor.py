"""The Monitor: nested-loop counters, the seed's Logger/Messenger examples, limits, hooks,
checkpoint and resume."""

# The monitor reads loop variables from the frame, which linters cannot see.
# ruff: noqa: F841, B007

from __future__ import annotations

import pathlib
import re
from typing import Any

import numpy as np
import pytest

from fexp import _checkpoint, _errors, _messages
from fexp.monitor import (
    Best,
    Checkpointer,
    Hook,
    Logger,
    Messenger,
    Monitor,
    Probe,
    Timer,
    _context,
    _probe,
    load,
)

TIME = r"\d\d:\d\d[AP]M \d\d/\d\d/\d\d"


class FakeExperiment:
    """The experiment contract the monitor relies on (see SupportsMessage)."""

    def __init__(self, name: str = "ex", directory: pathlib.Path | None = None) -> None:
        self.name = name
        self.directory = directory
        self.messages: dict[str, Any] = {}
        self.calls: list[tuple[dict[str, Any], str, str | None, int | None]] = []
        self.callbacks: list[Any] = []

    def message(
        self,
        values: dict[str, Any],
        keep: str = "latest",
        leader: str | None = None,
        step: int | None = None,
    ) -> None:
        scalars = {k: _messages.to_scalar(v) for k, v in values.items()}
        self.messages.update(_messages.apply(self.messages, scalars, keep, leader))
        self.calls.append((scalars, keep, leader, step))

    def on_interrupt(self, callback: Any) -> Any:
        self.callbacks.append(callback)
        return callback


def untimed(lines: str) -> list[str]:
    """Output lines with the leading time removed, after checking its format."""
    out = []
    for line in lines.splitlines():
        match = re.fullmatch(rf"\[{TIME} ?(.*)", line)
        assert match, line
        out.append("[" + match.group(1))
    return out


def test_fake_experiment_satisfies_the_protocol() -> None:
    assert isinstance(FakeExperiment(), _context.SupportsMessage)


# -- the seed's Logger example ------------------------------------------------------------------


def seed_logger_example() -> tuple[Monitor, list[str], float]:
    """The seed's code as is, in a function of its own: only its variables are in scope."""
    m = Monitor(
        hooks=[Logger("x@2s", process_func=lambda x: "|".join(x)), Logger("y@1e", format=".5f")]
    )
    x = ["cat", "dog"]
    y = 0.0
    for _ in m(range(3)):
        for i in m(range(5)):
            y += i
    return m, x, y


def test_logger_seed_example(capsys: pytest.CaptureFixture[str]) -> None:
    m, x, y = seed_logger_example()
    # The seed prints "cat|do" and "10.0000" (typos: '|'.join gives "cat|dog", .5f five zeros).
    assert untimed(capsys.readouterr().out) == [
        "[0/3 2/15]: x = cat|dog",
        "[0/3 4/15]: x = cat|dog",
        "[1/3]: y = 10.00000",
        "[1/3 6/15]: x = cat|dog",
        "[1/3 8/15]: x = cat|dog",
        "[1/3 10/15]: x = cat|dog",
        "[2/3]: y = 20.00000",
        "[2/3 12/15]: x = cat|dog",
        "[2/3 14/15]: x = cat|dog",
        "[3/3]: y = 30.00000",
    ]
    assert (m.step, m.epoch, x, y) == (15, 3, ["cat", "dog"], 30.0)


def seed_monitor_example() -> tuple[Monitor, FakeExperiment, tuple[int, ...]]:
    """The seed's Monitor example as is (X is a fake experiment), in a function of its own."""
    X = FakeExperiment("X")
    a, b, c, d, e, f = 0, 0, 0, 0, 0, 0

    def identity(x: Any) -> Any:
        return x

    def mult(x: Any) -> Any:
        return 10 * x

    m = Monitor(
        log=("a|b@2s", "b@1e", "c@1er", "d|e@1eo", "e@1se"),
        log_fn=(mult, identity, identity, identity, identity),
        log_format=".3f",
        msg="a->X@1s",
        time=("@2s", "@1e"),
        probe="X@10s",
        limit="@20s",
    )
    for _ in m(range(2)):
        for _ in m(range(2)):
            for _ in m(range(3)):
                for _ in m(range(4)):
                    for _ in m(range(5)):
                        a += 1
                    b += 1
                c += 1
            d += 1
        e += 1
    return m, X, (a, b, c, d, e, f)


def test_five_level_seed_example_with_limit(capsys: pytest.CaptureFixture[str]) -> None:
    m, X, values = seed_monitor_example()
    # The limit stops every loop after 20 steps; the bodies that completed are counted.
    assert values == (20, 4, 1, 1, 1, 0)
    assert m.counters() == {"step": 20, "epoch": 4, "era": 1, "eon": 1, "supereon": 1}
    lines = untimed(capsys.readouterr().out)
    logged = [line for line in lines if "wall = " not in line]
    timed = [line for line in lines if "wall = " in line]
    assert logged == [
        "[0/2 0/4 0/12 0/48 2/20]: a = 20.000",
        "[0/2 0/4 0/12 0/48 2/20]: b = 0.000",
        "[0/2 0/4 0/12 0/48 4/20]: a = 40.000",
        "[0/2 0/4 0/12 0/48 4/20]: b = 0.000",
        "[0/2 0/4 0/12 1/48]: b = 1.000",
        "[0/2 0/4 0/12 1/48 6/20]: a = 60.000",
        "[0/2 0/4 0/12 1/48 6/20]: b = 10.000",
        "[0/2 0/4 0/12 1/48 8/20]: a = 80.000",
        "[0/2 0/4 0/12 1/48 8/20]: b = 10.000",
        "[0/2 0/4 0/12 1/48 10/20]: a = 100.000",
        "[0/2 0/4 0/12 1/48 10/20]: b = 10.000",
        "[0/2 0/4 0/12 2/48]: b = 2.000",
        "[0/2 0/4 0/12 2/48 12/20]: a = 120.000",
        "[0/2 0/4 0/12 2/48 12/20]: b = 20.000",
        "[0/2 0/4 0/12 2/48 14/20]: a = 140.000",
        "[0/2 0/4 0/12 2/48 14/20]: b = 20.000",
        "[0/2 0/4 0/12 3/48]: b = 3.000",
        "[0/2 0/4 0/12 3/48 16/20]: a = 160.000",
        "[0/2 0/4 0/12 3/48 16/20]: b = 30.000",
        "[0/2 0/4 0/12 3/48 18/20]: a = 180.000",
        "[0/2 0/4 0/12 3/48 18/20]: b = 30.000",
        "[0/2 0/4 0/12 3/48 20/20]: a = 200.000",
        "[0/2 0/4 0/12 3/48 20/20]: b = 30.000",
        "[0/2 0/4 0/12 4/48]: b = 4.000",
        "[0/2 0/4 1/12]: c = 1.000",
        "[0/2 1/4]: d = 1.000",
        "[0/2 1/4]: e = 0.000",
        "[1/2]: e = 1.000",
    ]
    assert len(timed) == 10 + 4  # time='@2s' fires 10 times, '@1e' 4 times
    assert X.messages["a"] == 20  # msg='a->X@1s'
    probes = [call for call in X.calls if "rss_mb" in call[0]]  # probe='X@10s'
    assert [call[3] for call in probes] == [10, 20]


# -- the seed's Messenger examples --------------------------------------------------------------


def test_messenger_seed_example_1_basic() -> None:
    ex1, ex2 = FakeExperiment("ex1"), FakeExperiment("ex2")
    m = Monitor(hooks=[Messenger("y.*->ex.*@10s")])
    y1, y2 = 0, 0
    seen = []
    for i in m(range(40)):
        y1 += 1
        y2 += 2
        if i % 10 == 1:
            seen.append([ex.messages.get(k) for ex in (ex1, ex2) for k in ("y1", "y2")])
    assert seen == [[None, None, None, None], [10, 20, 10, 20], [20, 40, 20, 40], [30, 60, 30, 60]]
    assert ex1.messages == {"y1": 40, "y2": 80}
    assert [call[3] for call in ex1.calls] == [10, 20, 30, 40]  # messages carry the step


def test_messenger_seed_example_2_leader() -> None:
    ex = FakeExperiment()
    m = Monitor(hooks=[Messenger("^y$|^i$->^ex$@10s", keep="min", leader="^y$")])
    x = -50
    seen = []
    for i in m(range(100)):
        x += 1
        y = x**2
        if i % 10 == 1:
            seen.append([ex.messages.get(k) for k in ("i", "y")])
    assert seen == [
        [None, None],
        [9, 1600],
        [19, 900],
        [29, 400],
        [39, 100],
        [49, 0],
        [49, 0],
        [49, 0],
        [49, 0],
        [49, 0],
    ]
    assert y == 2500


def test_messenger_seed_example_3_expand() -> None:
    ex = FakeExperiment()
    m = Monitor(hooks=[Messenger("z->^ex$@10s", keep="min", leader="y", expand=True)])
    z = {"x": 5, "y": 10}
    seen = []
    for i in m(range(100)):
        z["i"] = i
        z["x"] += 1
        z["y"] = z["x"] ** 2
        if i % 10 == 1:
            seen.append([ex.messages.get(k) for k in ("i", "y", "x")])
    assert seen == [[None, None, None]] + [[9, 225, 15]] * 9


def test_messenger_seed_example_4_prepend() -> None:
    ex = FakeExperiment()
    m = Monitor(
        hooks=[Messenger("z->^ex$@10s", keep="min", leader="z_y", expand=True, prepend=True)]
    )
    z = {"x": 5, "y": 10}
    seen = []
    for i in m(range(100)):
        z["i"] = i
        z["x"] += 1
        z["y"] = z["x"] ** 2
        if i % 10 == 1:
            seen.append([ex.messages.get(k) for k in ("z_i", "z_y", "z_x")])
    assert seen == [[None, None, None]] + [[9, 225, 15]] * 9


def test_msg_keyword_arguments_build_messengers() -> None:
    ex = FakeExperiment()
    m = Monitor(msg="^loss$->^ex$@2s", msg_keep="min")
    for i in m(range(6)):
        loss = [5, 1, 4, 0.5, 3, 2][i]
    assert ex.messages == {"loss": 0.5}
    assert loss == 2


def test_messenger_without_arrow_messages_the_running_experiment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    running = FakeExperiment("run", tmp_path)
    monkeypatch.setattr(_context, "_current_experiment", lambda: running)
    m = Monitor(msg="^acc$@3s")
    assert m.directory == tmp_path  # the running experiment's folder is the default
    for acc in m(range(7)):
        pass
    assert [call[0] for call in running.calls] == [{"acc": 2}, {"acc": 5}]


def test_messenger_without_arrow_outside_an_experiment_is_an_error() -> None:
    with pytest.raises(_errors.ConfigError, match="names no experiments"):
        Monitor(msg="loss@10s")


def test_bad_msg_keep() -> None:
    with pytest.raises(_errors.ConfigError, match="got 'mean'"):
        Monitor(msg="a->b@1s", msg_keep="mean")


# -- counting -----------------------------------------------------------------------------------


def test_counts_and_levels() -> None:
    m = Monitor()
    for _ in m(range(3)):
        for _ in m(range(4)):
            pass
    assert (m.step, m.epoch, m.era) == (12, 3, 0)
    assert m.total(0) == 12 and m.total(1) == 3


def test_break_does_not_count_the_unfinished_iteration() -> None:
    m = Monitor()
    for i in m(range(10)):
        if i == 3:
            break
    assert m.step == 3
    for _ in m(range(2)):
        pass
    assert m.step == 5  # the broken loop was popped: the next loop is the step loop again


def test_manual_increment_runs_hooks() -> None:
    hook = Collect("^v$@2e")
    m = Monitor(hooks=[hook])
    v = 7
    for _ in range(5):
        m.inc("e")
        v += 1
    assert hook.seen == [(0, 2, {"v": 8}), (0, 4, {"v": 10})]
    with pytest.raises(ValueError, match="unknown trigger 'week'"):
        m.inc("week")
    assert m.modulo("epoch", 5) and not m.modulo("epoch", 2)
    assert not Monitor().modulo("step", 3, exclude_1st=True)


def test_unsized_iterables_and_generators() -> None:
    m = Monitor()
    for _ in m(x for x in range(3)):
        for _ in m(iter(range(2))):
            pass
    assert (m.step, m.epoch, m.total(0)) == (6, 3, None)
    assert re.fullmatch(rf"{TIME} 3 6", m.prefix(0))


def test_limit_on_epochs_and_restart() -> None:
    m = Monitor(limit="@2e")
    for _ in m(range(5)):
        for _ in m(range(3)):
            pass
    assert (m.step, m.epoch, m.stopped) == (6, 2, True)
    for _ in m(range(3)):  # a stopped monitor runs no more loops
        raise AssertionError
    m._set_counters({"step": 0})
    assert not m.stopped


def test_six_nested_loops_are_refused() -> None:
    m = Monitor()
    with pytest.raises(_errors.ConfigError, match="at most 5 nested loops"):
        for _ in m(range(1)):
            for _ in m(range(1)):
                for _ in m(range(1)):
                    for _ in m(range(1)):
                        for _ in m(range(1)):
                            for _ in m(range(1)):
                                pass


def test_frames_are_read_only_when_a_hook_fires(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = Monitor._advance

    def spy(self: Monitor, level: int, count: int, depth: int) -> bool:
        calls.append((level, count))
        return original(self, level, count, depth + 1)

    monkeypatch.setattr(Monitor, "_advance", spy)
    hook = Collect("^loss$@25s")
    m = Monitor(hooks=[hook], log="^nothing$@1000s", limit="@90s")
    for _ in m(range(4)):
        for step in m(range(50)):
            loss = step * 2
    # Plus, once, the first increment of each level: the first pass shows which loops are
    # wrapped, and specs no loop can fire are reported then (no frame is read for that).
    assert calls == [(0, 1), (0, 25), (0, 50), (1, 1), (0, 75), (0, 90), (1, 2)]
    assert [(s, e) for s, e, _ in hook.seen] == [(25, 0), (50, 0), (75, 1)]
    assert hook.seen[0][2] == {"loss": 48}
    assert loss == 78


def test_hook_selection_skips_modules_functions_dunders_and_the_monitor() -> None:
    hook = Collect(".*@1s")
    namespace = {
        "__name__": "x",
        "np": np,
        "f": test_counts_and_levels,
        "cls": Monitor,
        "keep": 1,
        "m": None,
    }
    m = Monitor(hooks=[hook])
    namespace["m"] = m
    assert hook.select(namespace, m) == {"keep": 1}


class Collect(Hook):
    """A user hook: records (step, epoch, variables) at each call."""

    def __init__(self, spec: str | None) -> None:
        super().__init__(spec)
        self.seen: list[tuple[int, int, dict[str, Any]]] = []

    def __call__(self, var_dict: dict[str, Any], monitor: Monitor) -> None:
        self.seen.append((monitor.step, monitor.epoch, dict(var_dict)))


def test_user_hooks_and_manual_hooks() -> None:
    manual = Collect(None)
    m = Monitor(hooks=[manual])
    m.to_hooks(a=1, b="x")
    assert manual.seen == [(0, 0, {"a": 1, "b": "x"})]
    assert "Collect(None)" in m.summary(verbose=1)
    assert m.summary().startswith("step = 0, epoch = 0")


def test_log_method(capsys: pytest.CaptureFixture[str]) -> None:
    m = Monitor()
    for _ in m(range(2)):
        for _ in m(range(2)):
            pass
        m.log(3.14159, format=".2f")
    assert untimed(capsys.readouterr().out) == ["[0/2 2/4]: 3.14", "[1/2 4/4]: 3.14"]


def test_logger_format_falls_back_to_str(capsys: pytest.CaptureFixture[str]) -> None:
    m = Monitor(log="^word$@1s", log_format=".3f")
    for word in m(["a"]):
        pass
    assert untimed(capsys.readouterr().out) == ["[1/1]: word = a"]


def test_option_lists_must_match_the_specs() -> None:
    with pytest.raises(_errors.ConfigError, match="log_format has 2 entries for 3 specs"):
        Monitor(log=["a@1s", "b@1s", "c@1s"], log_format=[".1f", ".2f"])


def test_timer_lines(capsys: pytest.CaptureFixture[str]) -> None:
    m = Monitor(time=("@2s", "@1e"))
    for _ in m(range(2)):
        for _ in m(range(4)):
            pass
    lines = untimed(capsys.readouterr().out)
    assert len(lines) == 6
    step_line = re.compile(
        r"\[\d/2 \d/8\]: wall = 0:00:00, step = [\d.e-]+ ms, "
        r"load = [\d.e-]+ ms, eta = 0:00:00"
    )
    assert step_line.fullmatch(lines[0]), lines[0]
    assert re.fullmatch(r"\[1/2\]: wall = .*", lines[2]), lines[2]
    assert m.load_seconds >= 0
    assert isinstance(m.hooks[0], Timer)


def test_timed_loops_hand_hooks_the_loop_frame(capsys: pytest.CaptureFixture[str]) -> None:
    m = Monitor(time="@100s", log="^x$@2s")  # a Timer switches to the timed loop
    for x in m(range(4)):
        pass
    assert untimed(capsys.readouterr().out) == ["[2/4]: x = 1", "[4/4]: x = 3"]


# -- probe --------------------------------------------------------------------------------------


def test_parse_nvidia_smi_output() -> None:
    # No GPU here: this checks the parsing of text in nvidia-smi's CSV format only.
    text = "0, 35, 1200, 16160\n1, [N/A], 3, 16160\nNVIDIA-SMI has failed\n"
    assert _probe.parse_nvidia_smi(text) == [
        _probe.GpuUsage(0, 35.0, 1200.0, 16160.0),
        _probe.GpuUsage(1, None, 3.0, 16160.0),
    ]


def test_probe_messages_experiments(monkeypatch: pytest.MonkeyPatch) -> None:
    ex = FakeExperiment()
    probe = Probe("^ex$@2s")
    # Fake nvidia-smi's answer (no GPU on this machine), to check the GPU values' names.
    monkeypatch.setattr(probe, "gpus", lambda: _probe.parse_nvidia_smi("0, 50, 100, 200"))
    m = Monitor(hooks=[probe])
    for _ in m(range(4)):
        sum(range(1000))
    assert len(ex.calls) == 2
    values = ex.calls[-1][0]
    assert set(values) == {"cpu_percent", "rss_mb", "gpu0_utilization", "gpu0_memory_mb"}
    assert values["rss_mb"] > 1 and values["gpu0_utilization"] == 50.0


def test_probe_without_experiment_prints(capsys: pytest.CaptureFixture[str]) -> None:
    m = Monitor(probe="@1s")
    for _ in m(range(1)):
        pass
    (line,) = untimed(capsys.readouterr().out)
    assert re.fullmatch(r"\[1/1\]: cpu_percent = [\d.e+]+, rss_mb = [\d.e+]+", line), line


# -- checkpoints and resume ---------------------------------------------------------------------


class Stateful:
    """An object checkpointed through state_dict()/load_state_dict(), like a torch module."""

    def __init__(self, w: float = 0.0) -> None:
        self.w = np.full(3, w)

    def state_dict(self) -> dict[str, Any]:
        return {"w": self.w.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.w = state["w"]


def test_checkpoint_and_load_resume_counters(tmp_path: pathlib.Path) -> None:
    m = Monitor(tmp_path, ckpt="^model$|^params$@5s", ckpt_keep=2)
    model = Stateful()
    params = {"b": np.zeros(2)}
    for _ in m(range(3)):
        for _ in m(range(4)):
            model.w += 1
            params["b"] += 1
    assert _checkpoint.steps(tmp_path / "checkpoints") == [5, 10]
    # Step 10 is the 3rd item of epoch 2: each active loop's place in its pass is saved.
    assert _checkpoint.records(tmp_path / "checkpoints")[-1].counters == {
        "step": 10,
        "epoch": 2,
        "era": 0,
        "eon": 0,
        "supereon": 0,
        "loop0.level": 1,
        "loop0.done": 2,
        "loop1.level": 0,
        "loop1.done": 2,
    }

    resumed = Monitor(tmp_path, ckpt="^model$|^params$@5s", ckpt_keep=2)
    fresh = Stateful()
    restored = resumed.load(model=fresh, params=None)
    assert restored["model"] is fresh and fresh.w.tolist() == [10.0] * 3
    assert restored["params"]["b"].tolist() == [10.0, 10.0]
    assert (resumed.step, resumed.epoch) == (10, 2)
    seen = [(epoch, batch) for epoch in resumed(range(3)) for batch in resumed(range(4))]
    assert seen == [(2, 2), (2, 3)]  # the same loops go on where the checkpoint stood
    assert (resumed.step, resumed.epoch) == (12, 3)


def test_load_without_checkpoints(tmp_path: pathlib.Path) -> None:
    m = Monitor(tmp_path)
    assert m.load(model=Stateful()) == {}
    assert m.step == 0
    with pytest.raises(_errors.ExperimentStateError, match="no checkpoint holds 'model'"):
        m.load(attempt=False, model=Stateful())
    with pytest.raises(_errors.ExperimentStateError, match="no checkpoint to load"):
        m.load(attempt=False)
    assert load(tmp_path, model=Stateful()) == {}


def test_manual_checkpoint_load_step_and_module_load(tmp_path: pathlib.Path) -> None:
    m = Monitor(tmp_path, ckpt_keep=None)
    for i in m(range(6)):
        if i % 2 == 1:
            m.checkpoint(x=np.array([m.step + 1]))
    assert _checkpoint.steps(tmp_path / "checkpoints") == [1, 3, 5]
    assert m.load(step=3, x=None)["x"].tolist() == [4]
    assert m.step == 3
    assert load(tmp_path, x=None)["x"].tolist() == [6]
    with pytest.raises(_errors.ExperimentStateError, match="at step 4"):
        load(tmp_path, step=4, attempt=False, x=None)


def test_two_checkpoint_specs_use_two_prefixes(tmp_path: pathlib.Path) -> None:
    m = Monitor(tmp_path, ckpt=["^a$@2s", "^b$@3s"], ckpt_keep=1)
    a, b = np.zeros(1), np.ones(1)
    for _ in m(range(6)):
        a = a + 1
        b = b + 1
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["checkpoint_1_6", "checkpoint_6"]
    fresh = Monitor(tmp_path)
    restored = fresh.load(a=None, b=None)
    assert restored["a"].tolist() == [6.0] and restored["b"].tolist() == [7.0]
    assert fresh.step == 6


def test_checkpointer_best_keeps_the_best_by_a_frame_variable(tmp_path: pathlib.Path) -> None:
    m = Monitor(tmp_path, ckpt="^w$@1s", ckpt_keep=1, ckpt_best=Best("val", "max", 2))
    w = np.zeros(1)
    for val in m([0.1, 0.9, 0.3, 0.8, 0.2]):
        w = w + 1
    folder = tmp_path / "checkpoints"
    assert _checkpoint.steps(folder) == [2, 4, 5]
    assert _checkpoint.restore(folder, best=Best("val", "max"))["w"].tolist() == [2.0]


def test_interrupt_callback_checkpoints_the_live_objects(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    running = FakeExperiment("run", tmp_path)
    monkeypatch.setattr(_context, "_current_experiment", lambda: running)
    m = Monitor(ckpt="^model$@4s", ckpt_keep=3)
    assert running.callbacks == [m._interrupted]
    model = Stateful()
    for _ in m(range(6)):
        model.w += 1
    running.callbacks[0]("timeout")  # what the runner does on SIGUSR1
    folder = tmp_path / "checkpoints"
    assert _checkpoint.steps(folder) == [4, 6]
    assert _checkpoint.restore(folder)["model"]["w"].tolist() == [6.0] * 3
    running.callbacks[0]("timeout")  # twice at one step replaces it
    assert _checkpoint.steps(folder) == [4, 6]
    assert Monitor(tmp_path).checkpoint() is None  # nothing remembered yet


def test_saving_behind_existing_checkpoints_is_refused(tmp_path: pathlib.Path) -> None:
    m = Monitor(tmp_path, ckpt="^x$@2s")
    for x in m(range(4)):
        pass
    restarted = Monitor(tmp_path, ckpt="^x$@2s")  # forgot m.load(): step restarts at 0
    with pytest.raises(_errors.ExperimentStateError, match="cannot save step 2"):
        for x in restarted(range(4)):
            pass
    assert _checkpoint.steps(tmp_path / "checkpoints") == [2, 4]


def test_hooks_needing_a_folder() -> None:
    with pytest.raises(_errors.ConfigError, match="needs a folder"):
        Monitor(ckpt="x@1s")
    with pytest.raises(_errors.ConfigError, match="needs a folder"):
        Monitor(sca="x@1s")
    with pytest.raises(_errors.ConfigError, match="has no folder"):
        Monitor().checkpoint(x=1)
    assert isinstance(Checkpointer("x@1s").objects, dict)


def test_torch_objects_checkpoint_and_resume(tmp_path: pathlib.Path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    m = Monitor(tmp_path, ckpt="^model$|^opt$@3s")
    for _ in m(range(3)):
        opt.zero_grad()
        model(torch.ones(1, 2)).sum().backward()
        opt.step()
    fresh = torch.nn.Linear(2, 1)
    fresh_opt = torch.optim.SGD(fresh.parameters(), lr=0.5, momentum=0.9)
    resumed = Monitor(tmp_path)
    out = resumed.load(model=fresh, opt=fresh_opt)
    assert out == {"model": fresh, "opt": fresh_opt} and resumed.step == 3
    assert torch.equal(fresh.weight, model.weight)
    assert fresh_opt.param_groups[0]["lr"] == 0.1
    assert torch.equal(
        fresh_opt.state_dict()["state"][0]["momentum_buffer"],
        opt.state_dict()["state"][0]["momentum_buffer"],
    )
