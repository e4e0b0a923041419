"""The record commands of ``fexp``: show, diff, rerun (what a run recorded, and using it).

Registered on ``_cli.app`` when imported (``_cli`` imports this module last); errors reach
``_cli.main``'s boundary. The comparison itself is ``_core.record_diff``.
"""

from __future__ import annotations

import pathlib
import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer

from . import _errors, _layout
from ._cli import app
from ._core import record_diff
from ._store import environment_files

Root = Annotated[pathlib.Path, typer.Option("--root", "-r", help="the experiment set's folder")]
Exp = Annotated[str, typer.Argument(help="an experiment's name in the set, or its folder")]


def experiment_folder(root: pathlib.Path, exp: str, what: str = "EXP") -> pathlib.Path:
    """The folder of ``exp``: a name in the set ``root``, else a folder path."""
    candidates = [root / exp] if "/" not in exp and exp not in (".", "..") else []
    candidates.append(pathlib.Path(exp))
    for folder in candidates:
        if (folder / _layout.PARAMS_FILE).is_file():
            return folder.absolute()
    names = sorted(p.parent.name for p in root.glob(f"*/{_layout.PARAMS_FILE}"))
    hint = _errors.did_you_mean(exp, names)
    extra = f"; did you mean {hint!r}?" if hint else ""
    raise _errors.ConfigError(
        f"no experiment {exp!r} in {str(root)!r} (nor a folder holding {_layout.PARAMS_FILE})"
        + extra,
        source=f"argument {what}",
    )


# --------------------------------------------------------------------------- show


def _version_lines(folder: pathlib.Path, version: Mapping[str, Any], diff: str | None) -> list[str]:
    what = version.get("function") or version.get("class") or "?"
    lines = [
        f"  definition   {version.get('module', '?')}:{what} (python {version.get('python', '?')}"
        f", fexp {version.get('fexp', '?')})"
    ]
    git = version.get("git") if isinstance(version.get("git"), dict) else None
    if git:
        branch = f" ({git['branch']})" if git.get("branch") else ""
        state = "dirty" if git.get("dirty") else "clean"
        commit = record_diff.shown(git.get("commit"))
        lines.append(f"  git          {git.get('repo')} @ {commit}{branch}, {state}")
        if git.get("diff"):
            files = list(record_diff.patch_sections(diff or ""))
            untracked = [ln[4:] for ln in (diff or "").splitlines() if ln.startswith("#   ")]
            detail = f"{len(files)} file(s) changed" + (
                f": {', '.join(files[:5])}" if files else ""
            )
            if untracked:
                detail += f"; untracked: {', '.join(untracked[:5])}"
            lines.append(f"  diff         {folder / _layout.DIFF_FILE} ({git['diff']}; {detail})")
    for key in ("numpy", "torch", "cuda"):
        if key in version:
            lines.append(f"  {key:<12} {version[key]}")
    return lines


def _env_lines(folder: pathlib.Path, version: Mapping[str, Any], packages: Any) -> list[str]:
    digest = version.get("env")
    if not digest:
        return []
    path = environment_files.environment_path(folder.parent, str(digest))
    if packages is None or path is None:
        return [f"  environment  {digest} (no environment file in the set)"]
    return [f"  environment  {path} ({len(packages)} packages)"]


def _timeline(data: Mapping[str, Any]) -> list[str]:
    lines = [
        f"  {key:<11}{data.get(f'_{key}')}"
        for key in ("created", "registered", "started", "stopped")
        if data.get(f"_{key}")
    ]
    attempts = data.get("_attempts")
    for attempt in attempts if isinstance(attempts, list) else []:
        if isinstance(attempt, dict):
            lines.append(
                f"  attempt {attempt.get('attempt')}  {attempt.get('started')} -> "
                f"{attempt.get('stopped')}: {attempt.get('status')}"
                + (f" ({attempt['error']})" if attempt.get("error") else "")
            )
    return lines


def _run_lines(meta: Mapping[str, Any]) -> list[str]:
    lines = [f"  {key:<12} {meta[key]}" for key in record_diff.HOST_KEYS if key in meta]
    command = meta.get("command")
    if isinstance(command, list):
        lines.append(f"  command      {shlex.join(str(c) for c in command)}")
    if meta.get("cwd"):
        lines.append(f"  cwd          {meta['cwd']}")
    env = meta.get("env")
    for name, value in env.items() if isinstance(env, dict) else []:
        lines.append(f"  env          {name}={value}")
    return lines


def _mapping_lines(values: Any) -> list[str]:
    return [f"  {k}: {v}" for k, v in values.items()] if isinstance(values, dict) else []


@app.command("show")
def show(exp: Exp, root: Root = pathlib.Path(".")) -> None:
    """Print one experiment's whole record: parameters, timeline, versions, diff, environment."""
    folder = experiment_folder(root, exp)
    data, record = environment_files.load_record(folder)
    sections = {
        "parameters": _mapping_lines(dict(record.params)),
        "timeline": _timeline(data),
        "versions": _version_lines(folder, record.version, record.diff)
        + _env_lines(folder, record.version, record.packages),
        "run": _run_lines(record.meta),
        "messages": _mapping_lines(data.get("_messages")),
        "notes": [f"  - {n}" for n in data.get("_notes") or [] if isinstance(n, str)],
    }
    out = [f"{folder.name}  ({data.get('_status', '?')})  {folder}"]
    if data.get("_purpose"):
        out.append(f"purpose: {data['_purpose']}")
    for title, lines in sections.items():
        if lines:
            out += [f"{title}:", *lines]
    print("\n".join(out))


# --------------------------------------------------------------------------- diff


def _change_lines(changes: Sequence[record_diff.Change]) -> list[str]:
    return [f"  {c.key}: {record_diff.shown(c.a)} -> {record_diff.shown(c.b)}" for c in changes]


def render_diff(a: str, b: str, diff: record_diff.RecordDiff) -> str:
    """The text of ``fexp diff``: one section per kind of difference."""
    if not diff:
        return f"{a} and {b} recorded the same parameters, code, environment and host"
    out = [f"{a} -> {b}"]
    sections = {
        "parameters": _change_lines(diff.params),
        "code": _change_lines(diff.code)
        + ([f"  changes differ in: {', '.join(diff.patched)}"] if diff.patched else []),
        "environment": _env_change(diff),
        "host": _change_lines(diff.host),
    }
    for title, lines in sections.items():
        if lines:
            out += [f"{title}:", *lines]
    return "\n".join(out)


def _env_change(diff: record_diff.RecordDiff) -> list[str]:
    if diff.env is None:
        return []
    lines = [f"  env: {diff.env.a} -> {diff.env.b}"]
    if diff.packages is None:
        return [*lines, "  (an environment file is missing: packages not compared)"]
    changes = diff.packages
    lines += [f"  changed  {n} {a} -> {b}" for n, (a, b) in changes.changed.items()]
    lines += [f"  added    {n} {v}" for n, v in changes.added.items()]
    lines += [f"  removed  {n} {v}" for n, v in changes.removed.items()]
    if not diff.packages:
        lines.append("  same packages (the python version or platform differs)")
    return lines


@app.command("diff")
def diff(
    a: Annotated[str, typer.Argument(help="the first experiment (name in the set, or folder)")],
    b: Annotated[str, typer.Argument(help="the second experiment")],
    root: Root = pathlib.Path("."),
) -> None:
    """Show what differs between two experiments: parameters, code, environment, host."""
    _, left = environment_files.load_record(experiment_folder(root, a, "A"))
    _, right = environment_files.load_record(experiment_folder(root, b, "B"))
    print(render_diff(left.name, right.name, record_diff.compare(left, right)))


# --------------------------------------------------------------------------- rerun


def parse_param_args(args: Sequence[str]) -> dict[str, Any]:
    """``--lr 0.1 --name=x`` -> ``{"lr": 0.1, "name": "x"}`` (values read as YAML scalars)."""
    from . import _yaml

    values: dict[str, Any] = {}
    items = list(args)
    while items:
        flag = items.pop(0)
        if not flag.startswith("--") or len(flag) < 3:
            raise _errors.ConfigError(
                f"expected --PARAM VALUE, got {flag!r}", source="the parameters of rerun"
            )
        key, sep, text = flag[2:].partition("=")
        if not sep:
            if not items:
                raise _errors.ConfigError(f"{flag} needs a value", source=f"option {flag}")
            text = items.pop(0)
        values[key.replace("-", "_")] = _yaml.load(text, source=f"option {flag}") if text else ""
    return values


def _definition_file(ref: object) -> pathlib.Path | None:
    target = str(ref or "").rpartition(":")[0]
    return pathlib.Path(target) if target.endswith(".py") else None


@app.command("rerun", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def rerun(
    ctx: typer.Context,
    exp: Exp,
    root: Root = pathlib.Path("."),
    name: Annotated[str | None, typer.Option("--name", "-n", help="the new folder's name")] = None,
) -> None:
    """Register a new experiment with EXP's parameters (changed by --PARAM VALUE ...) in the
    same set; warn when the current code or environment differs from EXP's record."""
    from . import _environment, _expset

    folder = experiment_folder(root, exp)
    changes = parse_param_args(list(ctx.args))
    xs = _expset.ExperimentSet(folder.parent)
    state = xs.state()  # a clear error when the folder is not in a set
    data, record = environment_files.load_record(folder)
    listed = state["experiments"].get(folder.name)
    base = dict(listed) if isinstance(listed, dict) else dict(record.params)
    definition = _definition_file(state.get("ref"))
    for warning in _environment.drift(record, definition):
        print(f"warning: {warning}", file=sys.stderr)
    purpose = f"rerun of {folder.name}" + (f": {data['_purpose']}" if data.get("_purpose") else "")
    (new,) = xs.link(
        points=[{**base, **changes}],
        name=name or (None if changes else folder.name),
        purpose=purpose,
    )
    print(
        f"registered {new} (a rerun of {folder.name}); run it with "
        f"`fexp run {shlex.quote(new)} -r {shlex.quote(str(xs.root))}`"
    )
