"""Tests for fexp._render: the template loader, the YAML emitter and the three renderers."""

from __future__ import annotations

import math
import os
import pathlib
import subprocess
import sys
import timeit
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fexp import _params, _render, _yaml
from tests import regen

# --------------------------------------------------------------------------- helpers

_NAN = object()


def _canon(value: Any) -> Any:
    """Replace NaN (never equal to itself) by one sentinel, so round trips compare equal."""
    if isinstance(value, float) and math.isnan(value):
        return _NAN
    if isinstance(value, list):
        return [_canon(v) for v in value]
    if isinstance(value, dict):
        return {k: _canon(v) for k, v in value.items()}
    return value


# fmt: off
TRICKY_STRINGS = [
    "", " ", "yes", "No", "ON", "off", "y", "N", "null", "Null", "~", "true", "False",
    "1e3", "0x1", "0o17", "1_000", "+1", "-1", ".5", "1.", ".inf", "-.inf", ".NaN", "nan",
    "2024-01-01", "12:30", "1:30:00", " a", "a ", "a: b", "a:b", "a #b", "a#b", "#x",
    "|x", ">x", "!x", "&x", "*x", "%x", "@x", "`x`", "-", "- a", "-a", "? a", "?", ":",
    "=", "<<", "'", '"', "\\", "a\nb", "a\rb", "\t", "a,b", "[a]", "{a}", "a]", "a}",
    "\u2028", "\x85", "\ufeff", "\x00", "\x7f", "\x1b", "é", "日本語", "😀", "²",
    "key=value__other=1", "/abs/path with space", "./rel", "../up", "C:\\win",
    "$(touch pwned)", "; rm -rf /", "a -- b", "...", "---", "--- a",
]
# fmt: on

texts = st.one_of(st.text(), st.sampled_from(TRICKY_STRINGS), st.text(alphabet="ab :#-?!&*|>'\"\n"))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
)
json_like = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(texts, children, max_size=4)
    ),
    max_leaves=20,
)


# --------------------------------------------------------------------------- templates


def test_template_dir_holds_the_templates() -> None:
    folder = _render.template_dir()
    for name in ("defaults.yml.j2", "script.sh.j2", "sbatch.sh.j2"):
        assert (folder / name).is_file()


@pytest.mark.parametrize("installed", [True, False])
def test_template_dir_in_wheel_and_checkout(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, installed: bool
) -> None:
    package = tmp_path / "fexp"
    package.mkdir()
    expected = (package if installed else tmp_path) / "templates"
    expected.mkdir()
    monkeypatch.setattr(_render, "__file__", str(package / "_render.py"))
    assert _render.template_dir() == expected.resolve()


def test_template_dir_missing(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_render, "__file__", str(tmp_path / "fexp" / "_render.py"))
    with pytest.raises(FileNotFoundError, match="templates"):
        _render.template_dir()


def test_render_template_rejects_undefined_variables() -> None:
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        _render.render_template("defaults.yml.j2")


def test_render_template_filters() -> None:
    env = _render._environment()
    text = env.from_string("{{ a | shquote }} {{ b | yaml }} #{{ c | comment }}").render(
        a="x y", b={"k": [1, "yes"]}, c="one\ntwo"
    )
    assert text == "'x y' {k: [1, \"yes\"]} #one two"


def test_importing_render_does_not_import_jinja2() -> None:
    code = (
        "import sys, fexp._render, fexp._meta;"
        "print('jinja2' in sys.modules, 'psutil' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# --------------------------------------------------------------------------- YAML emitter


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-12, "-12"),
        (10**30, "1" + "0" * 30),
        (1e-3, "0.001"),
        (1e-8, "1.0e-08"),
        (1e16, "1.0e+16"),
        (-0.0, "-0.0"),
        (math.inf, ".inf"),
        (-math.inf, "-.inf"),
        (math.nan, ".nan"),
        ("mnist", "mnist"),
        ("hello world", "hello world"),
        ("/data/set 1", "/data/set 1"),
        ("yes", '"yes"'),
        ("Null", '"Null"'),
        ("~", '"~"'),
        ("1e3", '"1e3"'),
        ("0x1", '"0x1"'),
        (" a", '" a"'),
        ("a: b", '"a: b"'),
        ("a #b", '"a #b"'),
        ("!x", '"!x"'),
        ('say "hi"\n', '"say \\"hi\\"\\n"'),
        ("\u2028", '"\\u2028"'),
        ("", '""'),
        (pathlib.Path("/a/b"), "/a/b"),
    ],
)
def test_yaml_scalar(value: Any, text: str) -> None:
    assert _render.yaml_scalar(value) == text


def test_yaml_scalar_numpy_and_enum() -> None:
    import enum

    import numpy as np

    class Color(enum.Enum):
        RED = 1

    class Mode(str, enum.Enum):
        FAST = "fast"

    assert _render.yaml_scalar(np.float32(0.5)) == "0.5"
    assert _render.yaml_scalar(np.int64(3)) == "3"
    assert _render.yaml_scalar(np.float64(0.1)) == "0.1"
    assert _render.yaml_scalar(Color.RED) == "RED"
    assert _render.yaml_flow([Mode.FAST]) == "[FAST]"


def test_yaml_scalar_rejects_unknown_types_and_surrogates() -> None:
    with pytest.raises(TypeError, match="object"):
        _render.yaml_scalar(object())
    with pytest.raises(ValueError, match="surrogate"):
        _render.yaml_scalar("\udc80")


def test_yaml_flow_nested() -> None:
    value = {"layers": [64, 64], "opt": {"name": "adam", "betas": (0.9, 0.999)}, "": [], "x": {}}
    assert _render.yaml_flow(value) == (
        '{layers: [64, 64], opt: {name: adam, betas: [0.9, 0.999]}, "": [], x: {}}'
    )


def test_yaml_flow_long_keys_use_explicit_form() -> None:
    key = "k" * 2000
    for value in ({key: 1}, {"a": {key: [1, 2]}}):
        assert _yaml.load(_render.yaml_flow(value)) == value
        assert _yaml.load(_render.yaml_block(value)) == value


@settings(max_examples=500, deadline=None)
@given(json_like)
def test_yaml_flow_round_trips(value: Any) -> None:
    text = _render.yaml_flow(value)
    assert "\n" not in text
    assert _canon(_yaml.load(text)) == _canon(value)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(texts, json_like, max_size=6))
def test_yaml_block_round_trips(value: dict[str, Any]) -> None:
    assert _canon(_yaml.load(_render.yaml_block(value)) or {}) == _canon(value)


@given(st.sampled_from(TRICKY_STRINGS))
def test_plain_strings_mean_the_same_to_yaml_1_1_readers(text: str) -> None:
    """A plain (unquoted) scalar must not be read as a bool/null/number by YAML 1.1 tools."""
    from ruamel.yaml import YAML

    rendered = _render.yaml_scalar(text)
    if not rendered.startswith('"'):
        yaml = YAML(typ="safe")
        yaml.version = (1, 1)
        assert yaml.load(f"x: {rendered}") == {"x": text}


@given(texts)
def test_one_line_is_a_single_safe_line(text: str) -> None:
    line = _render.one_line(text)
    assert _yaml.load(f"a: 1  # {line}\nb: 2\n") == {"a": 1, "b": 2}


# --------------------------------------------------------------------------- defaults.yml


def _golden(name: str) -> str:
    path = regen.GOLDEN_DIR / name
    assert path.exists(), f"missing golden {path}; run `python -m tests.regen` and review"
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(regen.GOLDENS))
def test_golden(name: str) -> None:
    assert regen.GOLDENS[name]() == _golden(name), "run `python -m tests.regen` and review"


def test_defaults_round_trip() -> None:
    data = _yaml.load(regen.defaults_yml())
    expected = {spec.name: _params.to_plain(spec.default) for spec in regen.SPECS}
    assert data == {"_version": regen.VERSION, **expected}
    assert list(data) == ["_version", *expected]


def test_defaults_comments_carry_type_and_help() -> None:
    text = regen.defaults_yml()
    assert "lr: 0.001  # float; learning rate\n" in text
    assert "layers: [64, 64]  # list[int]; hidden sizes\n" in text
    assert "tag: null  # str | None\n" in text
    assert text.startswith("# Train a small model.\n")


def test_defaults_with_hostile_help_and_description() -> None:
    specs = [
        _params.ParamSpec("a", str, "x: y", "evil\nb: 666 \u2028c: 7 \x85 d: 8"),
        _params.ParamSpec("b", int, 1, "# \x00 \x7f"),
    ]
    text = _render.render_defaults(
        specs, version={"module": "m"}, description="line\n_version: hacked\u2028x: 1"
    )
    assert _yaml.load(text) == {"_version": {"module": "m"}, "a": "x: y", "b": 1}


def test_defaults_path_and_enum_defaults_are_plain() -> None:
    import enum

    class Mode(enum.Enum):
        FAST = "fast"

    specs = [
        _params.ParamSpec("out", pathlib.Path, pathlib.Path("/tmp/out"), ""),
        _params.ParamSpec("mode", Mode, Mode.FAST, "speed"),
        _params.ParamSpec("shape", tuple[int, int], (2, 3), ""),
    ]
    data = _yaml.load(_render.render_defaults(specs, version={"module": "m"}))
    assert data == {"_version": {"module": "m"}, "out": "/tmp/out", "mode": "FAST", "shape": [2, 3]}


# --------------------------------------------------------------------------- params.yml


def test_params_round_trip_and_order() -> None:
    text = regen.params_yml()
    data = _yaml.load(text)
    assert list(data)[:14] == [*_render.SPECIAL_KEYS, "_requeues"]
    assert list(data)[14:] == [spec.name for spec in regen.SPECS]
    assert data["lr"] == 0.01
    assert data["_meta"]["slurm"]["array_task_id"] == 3


def test_params_special_keys_sorted_and_extras_kept_in_order() -> None:
    text = _render.render_params({"_z": 1, "_status": "x", "_a": 2, "_name": "n"}, {"p": 1})
    assert list(_yaml.load(text)) == ["_name", "_status", "_z", "_a", "p"]


def test_params_rejects_bad_special_keys() -> None:
    with pytest.raises(ValueError, match="name"):
        _render.render_params({"name": 1}, {})
    with pytest.raises(ValueError, match="_x"):
        _render.render_params({"_x": 1}, {"_x": 2})


def test_params_helps_become_one_line_comments() -> None:
    helps = {"a": "first\nsecond line", "b": "evil\u2028c: 1"}
    text = _render.render_params({"_name": "n"}, {"a": 1, "b": 2, "c": 3}, helps)
    assert "a: 1  # first second line\n" in text
    assert "c: 3\n" in text
    assert _yaml.load(text) == {"_name": "n", "a": 1, "b": 2, "c": 3}


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(texts.map(lambda t: "_" + t), json_like, max_size=5),
    st.dictionaries(texts.filter(lambda t: not t.startswith("_")), json_like, max_size=5),
    st.dictionaries(texts, texts, max_size=5),
)
def test_params_round_trip_property(
    special: dict[str, Any], params: dict[str, Any], helps: dict[str, str]
) -> None:
    data = _yaml.load(_render.render_params(special, params, helps)) or {}
    assert _canon(data) == _canon({**special, **params})


def test_params_render_is_fast() -> None:
    """params.yml is rendered once per experiment of a sweep: keep it well under 1 ms."""
    special = _yaml.load(regen.params_yml())
    params = {f"p{i}": [i, i] if i % 3 else f"value {i}" for i in range(20)}
    helps = {name: f"help of {name}" for name in params}
    special = {k: v for k, v in special.items() if k.startswith("_")}
    _render.render_params(special, params, helps)
    runs = timeit.repeat(lambda: _render.render_params(special, params, helps), number=50, repeat=5)
    assert min(runs) / 50 < 1e-3


# --------------------------------------------------------------------------- script.sh


def test_script_is_valid_bash() -> None:
    for name in ("script.sh", "script_dirty.sh", "script_minimal.sh"):
        subprocess.run(["bash", "-n"], input=regen.GOLDENS[name](), text=True, check=True)


def test_script_env_numbers_become_text() -> None:
    text = _render.render_script(
        ref="m:f", python="/p", pythonpath=[], git=None, env={"N": 1, "X": 0.5}, generated_on=""
    )
    assert "export N=1\nexport X=0.5\n" in text


def test_script_dirty_warning_only_when_dirty() -> None:
    assert "# WARNING: the git tree was dirty" in regen.script_dirty_sh()
    assert "WARNING" not in regen.script_sh()


def test_script_git_header_before_the_first_commit_and_detached() -> None:
    git = {"repo": "/r", "branch": None, "remote": None, "commit": None, "dirty": False}
    text = _render.render_script(ref="m:f", python="/p", pythonpath=[], git=git, generated_on="")
    assert "# git: commit (none yet) on branch (detached) of /r\n" in text
    assert "git remote" not in text


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"header_lines": ["#SBATCH --time=1\nrm -rf /"]}, "line break"),
        ({"header_lines": ["#SBATCH\r"]}, "line break"),
        ({"env": {"BAD-NAME": "x"}}, "BAD-NAME"),
        ({"env": {"1X": "x"}}, "1X"),
        ({"env": {"A": "x\0y"}}, "NUL"),
        ({"pythonpath": ["/a:/b"]}, "':'"),
        ({"ref": "m:\0f"}, "NUL"),
        ({"env": {"A": [1]}}, "must be text"),
        ({"header_lines": [1]}, "not text"),
    ],
)
def test_script_rejects_unsafe_input(kwargs: dict[str, Any], match: str) -> None:
    base: dict[str, Any] = {
        "ref": "m:f",
        "python": "/usr/bin/python3",
        "pythonpath": [],
        "git": None,
        "generated_on": "now",
    }
    with pytest.raises(ValueError, match=match):
        _render.render_script(**{**base, **kwargs})


_FAKE_PYTHON = """#!/usr/bin/env bash
printf '%s\\0' "$@" > "$FEXP_TEST_OUT/argv"
printf '%s' "${PYTHONPATH-<unset>}" > "$FEXP_TEST_OUT/pythonpath"
printf '%s' "$HOSTILE" > "$FEXP_TEST_OUT/env"
"""

_HOSTILE = "a'b\"c $(touch pwned1) `touch pwned2` ; touch pwned3 && touch pwned4\nnext ${HOME} \\"


def _hostile_script(folder: pathlib.Path, out: pathlib.Path) -> tuple[pathlib.Path, str, list[str]]:
    python = folder / "fake python $(touch pwned5) `touch pwned6`;"
    python.write_text(_FAKE_PYTHON)
    python.chmod(0o755)
    ref = "mod'; touch pwned7; echo '$(touch pwned8):attr\n`touch pwned9`"
    pythonpath = [str(folder), "/x y/$(touch pwned10)", "/q'uote\"/`touch pwned11`"]
    git = {
        "repo": "/r\ntouch pwned12",
        "branch": "$(touch pwned13)",
        "remote": "x\n`touch pwned14`",
        "commit": "abc\rtouch pwned15\n",
        "dirty": True,
    }
    script = _render.render_script(
        ref=ref,
        python=str(python),
        pythonpath=pythonpath,
        git=git,
        header_lines=["#SBATCH --job-name=$(touch pwned16)"],
        env={"FEXP_TEST_OUT": str(out), "HOSTILE": _HOSTILE},
        generated_on="today\ntouch pwned17",
    )
    path = folder / "script.sh"
    path.write_text(script)
    path.chmod(0o755)
    return path, ref, pythonpath


@pytest.mark.parametrize("existing", [None, "/existing:/other"])
def test_script_with_hostile_values_executes_nothing(
    weird_path: pathlib.Path, tmp_path: pathlib.Path, existing: str | None
) -> None:
    """Run the generated script with bash and a fake interpreter that records its argv."""
    out = tmp_path / "out"
    out.mkdir()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    script, ref, pythonpath = _hostile_script(weird_path, out)
    params = weird_path / "p $(touch pwned18) `x`\n.yml"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if existing is not None:
        env["PYTHONPATH"] = existing
    subprocess.run(["bash", "-n", str(script)], check=True)
    subprocess.run([str(script), str(params)], cwd=cwd, env=env, check=True, timeout=30)
    argv = (out / "argv").read_text().split("\0")[:-1]
    assert argv == ["-m", "fexp", "execute", ref, str(params)]
    expected_path = ":".join(pythonpath) + (f":{existing}" if existing else "")
    assert (out / "pythonpath").read_text() == expected_path
    assert (out / "env").read_text() == _HOSTILE
    assert not [p for p in tmp_path.rglob("*pwned*") if "fake python" not in p.name]
    assert not list(cwd.iterdir())


def test_script_without_argument_prints_usage(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "script.sh"
    path.write_text(regen.script_minimal_sh())
    path.chmod(0o755)
    done = subprocess.run([str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "usage:" in done.stderr
