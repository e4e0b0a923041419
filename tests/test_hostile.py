"""The table of refused inputs (issue 11): each hostile or careless input, given to the
installed ``fexp`` in a subprocess, is refused with exit 2 and a message of at most 5 lines,
no traceback, and no file written anywhere (caches aside).

Each case: files written first (paths relative to the test folder; ``HOME/`` is FEXP_HOME;
a value ``-> TARGET`` makes a symbolic link; ``{tmp}`` is the test folder), then the command
(``{root}`` is a set of three registered experiments lr=0.1/0.2/0.3), then a fragment of
the expected message. Grow it with every new hole found.
"""

from __future__ import annotations

import os
import pathlib

import pytest

from .hostile_helpers import LAUGHS, Cli, make_set, refused, snapshot

FEXP_PARAMS = "_name: exp\n_status: finished\nlr: 0.5\n"
SET_HEAD = "created: '2026-01-01'\nroot: {tmp}/set\n"
LAUGH_SWEEP = "{lr: [&a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1], &b [*a, *a, *a, *a, *a, *a, *a, *a]]}"


def _state(*names: str) -> str:
    return SET_HEAD + "experiments:\n" + "".join(f"  {n}: {{}}\n" for n in names)


def _params(**special: object) -> str:
    lines = {"_name": "lr=0.1", "_status": "registered", **special}
    return "".join(f"{k}: {v}\n" for k, v in lines.items()) + "lr: 0.1\n"


VICTIM = {"victim/exp/params.yml": FEXP_PARAMS}
Case = tuple[str, dict[str, str], list[str], str]

REFUSED: list[Case] = [
    # -- resource bombs: aliases, counts ------------------------------------------------
    ("sweep alias", {}, ["link", "{lr: &x 0.5 | *x}", "-r", "{root}"], "YAML alias"),
    ("sweep billion laughs", {}, ["link", LAUGH_SWEEP, "-r", "{root}"], "alias"),
    (
        "-c billion laughs",
        {"laughs.yml": LAUGHS},
        ["link", "-c", "{tmp}/laughs.yml", "-r", "{root}"],
        "alias",
    ),
    (
        "-c alias in parent",
        {"base.yml": "x: &x 1\ny: *x\n", "c.yml": "parent: base.yml\n"},
        ["link", "-c", "{tmp}/c.yml", "-r", "{root}"],
        "alias",
    ),
    (
        "params.yml laughs",
        {"set/lr=0.1/params.yml": LAUGHS},
        ["note", "x", "*", "-r", "{root}"],
        "alias",
    ),
    ("experiment.yml laughs", {"set/experiment.yml": LAUGHS}, ["list", "-r", "{root}"], "alias"),
    ("-x ten million", {}, ["link", "{lr: 0.5}", "-x", "10000000", "-r", "{root}"], "100,000"),
    (
        "--samples ten million",
        {},
        ["link", "{lr: uniform(0, 1)}", "--samples", "10000000", "-r", "{root}"],
        "100,000",
    ),
    (
        "points x repeats",
        {},
        [
            "link",
            "{lr: " + " | ".join(str(i / 7) for i in range(400)) + "}",
            "-x",
            "300",
            "-r",
            "{root}",
        ],
        "100,000",
    ),
    ("huge sweep text", {}, ["link", "{lr: " + "[" * 5000 + "}", "-r", "{root}"], "sweep"),
    # -- names that escape the set --------------------------------------------------------
    (
        "note ../ name",
        {**VICTIM, "set/experiment.yml": _state("../victim/exp")},
        ["note", "pwned", "*", "-r", "{root}"],
        "corrupt",
    ),
    (
        "reset ../ name",
        {**VICTIM, "set/experiment.yml": _state("../victim/exp")},
        ["reset", "*", "-r", "{root}"],
        "corrupt",
    ),
    (
        "relink ../ name",
        {**VICTIM, "set/experiment.yml": _state("../victim/exp")},
        ["relink", "-r", "{root}"],
        "corrupt",
    ),
    (
        "run ../ name",
        {**VICTIM, "set/experiment.yml": _state("../victim/exp")},
        ["run", "*", "-r", "{root}"],
        "corrupt",
    ),
    (
        "note absolute name",
        {**VICTIM, "set/experiment.yml": _state("'{tmp}/victim/exp'")},
        ["note", "pwned", "*", "-r", "{root}"],
        "corrupt",
    ),
    (
        "note link leaving the set",
        {**VICTIM, "set/out": "-> {tmp}/victim/exp", "set/experiment.yml": _state("out")},
        ["note", "pwned", "*", "-r", "{root}"],
        "link that leads outside",
    ),
    (
        "export ../ name",
        {**VICTIM, "set/experiment.yml": _state("../victim/exp")},
        ["export", "*", "-o", "{tmp}/b.tar.gz", "-r", "{root}"],
        "corrupt",
    ),
    (
        "name is a number",
        {"set/experiment.yml": SET_HEAD + "experiments: {7: {}}\n"},
        ["note", "x", "*", "-r", "{root}"],
        "corrupt",
    ),
    (
        "overrides not a mapping",
        {"set/experiment.yml": SET_HEAD + "experiments: {a: [1]}\n"},
        ["list", "-r", "{root}"],
        "not a mapping",
    ),
    # -- deleting what fexp did not make --------------------------------------------------
    (
        "clean after experiment.yml emptied",
        {"set/experiment.yml": ""},
        ["clean", "-y", "-r", "{root}"],
        "corrupt",
    ),
    (
        "experiments is a list",
        {"set/experiment.yml": SET_HEAD + "experiments: [a, b]\n"},
        ["clean", "-y", "-r", "{root}"],
        "corrupt",
    ),
    (
        "rm DVC folder",
        {"dvc/params.yml": "lr: 0.1\n", "dvc/data.csv": "1,2\n"},
        ["rm", "{tmp}/dvc", "-y"],
        "not written by fexp",
    ),
    (
        "rm Hydra folder",
        {"hydra/experiment.yml": "defaults: [{db: mysql}]\n", "hydra/main.py": "print(1)\n"},
        ["rm", "{tmp}/hydra", "-y"],
        "not written by fexp",
    ),
    (
        "rm set holding data/",
        {"set/data/big.csv": "1,2\n"},
        ["rm", "{root}", "-y"],
        "fexp did not write",
    ),
    (
        "rm set holding notes",
        {"set/NOTES.md": "mine\n"},
        ["rm", "{root}", "-y"],
        "fexp did not write",
    ),
    ("rm a link to a set", {"alias": "-> {tmp}/set"}, ["rm", "{tmp}/alias", "-y"], "symbolic link"),
    (
        "rm corrupt experiment.yml",
        {"set/experiment.yml": "a: [\n"},
        ["rm", "{root}", "-y"],
        "cannot be read",
    ),
    (
        "rm plain folder",
        {"plain/readme.txt": "x\n"},
        ["rm", "{tmp}/plain", "-y"],
        "not an experiment set",
    ),
    (
        "rm experiment with foreign params",
        {"set/lr=0.1/params.yml": "lr: 0.1\n"},
        ["rm", "{root}/lr=0.1", "-y"],
        "not written by fexp",
    ),
    # -- corrupt targets stop the whole request ------------------------------------------
    (
        "note * with an empty params.yml",
        {"set/lr=0.2/params.yml": ""},
        ["note", "x", "*", "-r", "{root}"],
        "nothing was changed",
    ),
    (
        "reset * with _notes: 5",
        {"set/lr=0.2/params.yml": _params(_notes=5)},
        ["reset", "*", "-r", "{root}"],
        "'_notes'",
    ),
    (
        "note * with _messages list",
        {"set/lr=0.3/params.yml": _params(_messages="[1, 2]")},
        ["note", "x", "*", "-r", "{root}"],
        "'_messages'",
    ),
    (
        "reset * with _meta list",
        {"set/lr=0.3/params.yml": _params(_meta="[1]")},
        ["reset", "*", "-r", "{root}"],
        "'_meta'",
    ),
    (
        "reset * with _attempts int",
        {"set/lr=0.1/params.yml": _params(_attempts=5)},
        ["reset", "*", "-r", "{root}"],
        "'_attempts'",
    ),
    (
        "relink with a broken params.yml",
        {
            "set/lr=0.1/params.yml": "_name: [\n",
            "set/experiment.yml": _state("lr=0.2", "lr=0.3").replace("/set\n", "/moved\n"),
        },
        ["relink", "-r", "{root}"],
        "nothing was changed",
    ),
    # -- the global config and the environment -------------------------------------------
    (
        "config experiments list",
        {"HOME/config.yml": "experiments: [1, 2]\n"},
        ["experiments", "list"],
        "'experiments'",
    ),
    ("config prompt text", {"HOME/config.yml": "prompt: 'sure'\n"}, ["config", "show"], "'prompt'"),
    ("config sets number", {"HOME/config.yml": "sets: 5\n"}, ["list", "--all-sets"], "'sets'"),
    (
        "config header mapping",
        {"HOME/config.yml": "header: {a: 1}\n"},
        ["init", "--script", "{tmp}/s.sh", "--defaults", "{tmp}/d.yml", "-r", "{tmp}/new"],
        "'header'",
    ),
    (
        "config aliases",
        {"HOME/config.yml": "env: &e {A: '1'}\nx: *e\n"},
        ["experiments", "list"],
        "alias",
    ),
    (
        "unknown launcher",
        {},
        ["run", "*", "no-such-launcher-xyz", "-r", "{root}"],
        "launcher program not found",
    ),
    (
        "init -r symlink loop",
        {"loop1": "-> {tmp}/loop2", "loop2": "-> {tmp}/loop1"},
        ["init", "--script", "{tmp}/s.sh", "--defaults", "{tmp}/d.yml", "-r", "{tmp}/loop1/x"],
        "symbolic link loop",
    ),
    (
        "experiments add sys.exit",
        {"exits.py": "import sys\nsys.exit(3)\n"},
        ["experiments", "add", "{tmp}/exits.py:x"],
        "sys.exit(3)",
    ),
    (
        "experiments add SystemExit",
        {"exits0.py": "raise SystemExit\n"},
        ["experiments", "add", "{tmp}/exits0.py:x", "name"],
        "sys.exit(None)",
    ),
]


def _write(tmp: pathlib.Path, home: pathlib.Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = home / name[5:] if name.startswith("HOME/") else tmp / name
        text = text.replace("{tmp}", str(tmp))
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir() and not path.is_symlink():
            continue
        path.unlink(missing_ok=True)
        if text.startswith("-> "):
            os.symlink(text[3:], path)
        else:
            path.write_text(text)


@pytest.mark.parametrize("case", REFUSED, ids=[c[0] for c in REFUSED])
def test_refused(
    fexp_cli: Cli, tmp_path: pathlib.Path, clean_env: pathlib.Path, case: Case
) -> None:
    _, files, argv, fragment = case
    root = make_set(fexp_cli, tmp_path)
    _write(tmp_path, clean_env, files)
    before = snapshot(tmp_path)
    args = [a.replace("{root}", str(root)).replace("{tmp}", str(tmp_path)) for a in argv]
    refused(fexp_cli(*args, cwd=tmp_path), fragment)
    assert snapshot(tmp_path) == before


def test_the_table_is_large_and_distinct() -> None:
    assert len({c[0] for c in REFUSED}) == len(REFUSED) >= 40
