"""Fuzzing the installed ``fexp`` with hostile sweeps and hand-edited params.yml and
experiment.yml files (issue 11): every command either works (exit 0) or refuses in one short
paragraph (exit 2, at most 5 lines on stderr), and no file outside the set ever changes.

Each example runs real subprocesses, so the example counts are small and there is no
deadline (a CI-friendly profile); every run starts again from the same pristine set.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from .hostile_helpers import make_set, run_fexp, snapshot

FUZZ = settings(
    max_examples=int(os.environ.get("FEXP_FUZZ_EXAMPLES", "12")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
COMMANDS = [
    ["list", "-r", "{root}"],
    ["list", "-r", "{root}", "--json"],
    ["note", "fuzzed", "*", "-r", "{root}"],
    ["reset", "*", "-r", "{root}"],
    ["run", "*", "-r", "{root}"],
    ["relink", "-r", "{root}"],
    ["unlink", "lr=0.2", "-r", "{root}"],
    ["clean", "-y", "-r", "{root}"],
    ["plot", "loss", "-r", "{root}"],
    ["report", "-o", "{root}/r.html", "-r", "{root}"],
    ["rm", "{root}/lr=0.1", "-y"],
]


class Lab:
    """A test folder with a pristine set (copied back before every example) and a victim
    folder outside it that must never change."""

    def __init__(self, base: pathlib.Path, home: pathlib.Path) -> None:
        self.base, self.home = base, home
        self.root = make_set(self.cli, base)
        (self.root / "lr=0.3" / "messages.jsonl").write_text('{"t": 1.0, "m": {"loss": 0.5}}\n')
        self.pristine = base / "pristine"
        shutil.copytree(self.root, self.pristine, symlinks=True)
        victim = base / "victim" / "exp"
        victim.mkdir(parents=True)
        (victim / "params.yml").write_text("_name: exp\n_status: finished\nlr: 9\n")

    def cli(self, *args: object) -> subprocess.CompletedProcess[str]:
        return run_fexp(*args, env={"FEXP_HOME": str(self.home)}, cwd=self.base)

    def reset(self) -> dict[str, str]:
        shutil.rmtree(self.root)
        shutil.copytree(self.pristine, self.root, symlinks=True)
        return self.outside()

    def outside(self) -> dict[str, str]:
        return {
            k: v
            for k, v in snapshot(self.base).items()
            if not k.startswith(("set/", "pristine/")) and k != "set"
        }

    def check(self, *args: object) -> subprocess.CompletedProcess[str]:
        before = self.outside()
        proc = self.cli(*(str(a).replace("{root}", str(self.root)) for a in args))
        assert proc.returncode in (0, 2), (args, proc.returncode, proc.stderr[-3000:])
        assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
        if proc.returncode == 2:
            assert len(proc.stderr.splitlines()) <= 5, proc.stderr[:3000]
        assert self.outside() == before, args
        return proc


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    return Lab(tmp_path_factory.mktemp("fuzz"), tmp_path_factory.mktemp("fuzz_home"))


_PIECES = [
    "{",
    "}",
    "[",
    "]",
    "|",
    ":",
    ", ",
    "&a ",
    "*a",
    "!!python/object:os.system ",
    "'",
    '"',
    "lr",
    "epochs",
    "0.1",
    "1e-3",
    "-x",
    "..",
    "/",
    "\n",
    " ",
    "uniform(0, 1)",
    "null",
    "~",
    "%",
    "@",
    "#",
    "\\",
    "\x00",
    "é",
    "a" * 50,
]
sweeps = st.lists(st.sampled_from(_PIECES), max_size=25).map("".join) | st.text(max_size=60)


@FUZZ
@given(sweep=sweeps)
@example(sweep="{lr: [&a [1, 1, 1, 1, 1, 1, 1, 1], &b [*a, *a, *a, *a, *a, *a, *a, *a]]}")
def test_fuzz_sweep_strings(lab: Lab, sweep: str) -> None:
    lab.reset()
    if "\x00" in sweep:  # argv cannot carry NUL: the OS refuses before fexp runs
        sweep = sweep.replace("\x00", "")
    proc = lab.check("link", sweep, "-r", "{root}")
    if proc.returncode == 2:
        assert sorted(p.name for p in lab.root.iterdir() if p.is_dir()) == [
            "lr=0.1",
            "lr=0.2",
            "lr=0.3",
        ]


scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3)
    ),
    max_leaves=6,
)
SPECIAL = [
    "_name",
    "_status",
    "_root",
    "_messages",
    "_notes",
    "_attempts",
    "_meta",
    "_version",
    "_requeues",
    "_slurm",
    "_started",
    "lr",
]


def _edit(text: str, key: str, value: object) -> str:
    lines = [line for line in text.splitlines() if not line.startswith(f"{key}:")]
    return "\n".join([f"{key}: {json.dumps(value)}", *lines]) + "\n"


raw_yaml = st.lists(
    st.sampled_from(
        [
            "a: ",
            "&x ",
            "*x",
            "[",
            "]",
            "{",
            "}",
            "- ",
            "\n",
            "1",
            "_name",
            "_status: ",
            "registered",
            "'",
            "!!binary ",
            ": ",
            "#",
        ]
    ),
    max_size=20,
).map("".join)
params_edits = st.tuples(st.sampled_from(SPECIAL), values).map(
    lambda kv: ("edit", kv)
) | raw_yaml.map(lambda text: ("raw", text))


@FUZZ
@given(edit=params_edits, command=st.sampled_from(COMMANDS))
@example(edit=("edit", ("_messages", [1, 2])), command=COMMANDS[0])
@example(edit=("edit", ("_attempts", 5)), command=COMMANDS[4])
@example(edit=("raw", ""), command=COMMANDS[4])
def test_fuzz_params_yml_edits(lab: Lab, edit: tuple[str, object], command: list[str]) -> None:
    lab.reset()
    path = lab.root / "lr=0.2" / "params.yml"
    kind, payload = edit
    if kind == "edit":
        key, value = payload  # type: ignore[misc]
        path.write_text(_edit(path.read_text(), key, value))
    else:
        path.write_text(str(payload))
    lab.check(*command)


hostile_names = st.sampled_from(
    [
        "../victim/exp",
        "{tmp}/victim/exp",
        "a/b",
        ".",
        "..",
        "",
        "lr=0.1",
        "lr=0.9",
        "-rf",
        ".hidden",
        "~",
        "generated",
        "x\\y",
    ]
)
names = st.one_of(hostile_names, hostile_names, hostile_names, st.text(max_size=10))


@st.composite
def state_edits(draw: st.DrawFn) -> tuple[str, object]:
    kind = draw(st.sampled_from(["names", "experiments", "raw", "drop"]))
    if kind == "names":
        return kind, draw(st.lists(names, max_size=4))
    if kind == "experiments":
        return kind, draw(values)
    if kind == "raw":
        return kind, draw(raw_yaml)
    return kind, draw(st.sampled_from(["experiments", "created", "root", "ref"]))


@FUZZ
@given(edit=state_edits(), command=st.sampled_from(COMMANDS))
@example(edit=("names", ["../victim/exp"]), command=COMMANDS[2])
@example(edit=("names", ["{tmp}/victim/exp", "lr=0.1"]), command=COMMANDS[3])
def test_fuzz_experiment_yml_edits(lab: Lab, edit: tuple[str, object], command: list[str]) -> None:
    import yaml  # PyYAML: an independent writer, as a hand editor would be

    lab.reset()
    path = lab.root / "experiment.yml"
    state = yaml.safe_load(path.read_text())
    kind, payload = edit
    if kind == "names":
        state["experiments"] = {str(n).replace("{tmp}", str(lab.base)): {} for n in payload}  # type: ignore[attr-defined]
    elif kind == "experiments":
        state["experiments"] = payload
    elif kind == "drop":
        state.pop(str(payload), None)
    text = str(payload) if kind == "raw" else yaml.safe_dump(state)
    path.write_text(text)
    lab.check(*command)
