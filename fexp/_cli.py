"""The ``fexp`` Typer app: parse arguments -> call the library -> print. The sole error
boundary: a ``FexpError`` becomes one paragraph on stderr and exit code 2, never a traceback.

Registered experiments are subcommands, listed from the config without importing them; a
module that fails to import breaks only its own subcommand.
"""

from __future__ import annotations

import errno
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from . import _cli_params, _config, _errors

ROOT_OPTION = typer.Option("--root", "-r", help="the experiment set's folder")


class _Group(TyperGroup):
    """Adds every registered experiment as a lazily-loaded subcommand."""

    def list_commands(self, ctx: Any) -> list[str]:
        own = super().list_commands(ctx)
        return own + sorted(n for n in _registered() if n not in own)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        entry = _registered().get(cmd_name)
        return _lazy_command(cmd_name, entry) if entry is not None else None


def _registered() -> dict[str, dict[str, Any]]:
    try:
        return dict(_config.load().get("experiments") or {})
    except _errors.FexpError:
        return {}


def _lazy_command(name: str, entry: dict[str, Any]) -> Any:
    """A subcommand whose module is imported only when it runs (or shows its help)."""
    from . import _registry

    lazy = typer.Typer(add_completion=False)
    callback = _cli_params.lazy_command_callback(
        lambda: _registry.resolve(entry["ref"]), f"fexp {name}"
    )
    help_text = (entry.get("description") or f"Run {entry['ref']}").split("\n")[0]

    @lazy.command(
        name=name,
        help=help_text,
        add_help_option=False,
        context_settings={
            "ignore_unknown_options": True,
            "allow_extra_args": True,
            "help_option_names": [],
        },
    )
    def run(args: Annotated[list[str] | None, typer.Argument(hidden=True)] = None) -> None:
        callback(list(args or []))

    return typer.main.get_command(lazy)


app = typer.Typer(
    cls=_Group,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="fexp: define, sweep, run, monitor and find experiments.",
)
experiments_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Register experiment definitions as fexp subcommands.",
)
config_app = typer.Typer(
    add_completion=False,
    invoke_without_command=True,
    help="Show or change the global config ($FEXP_HOME/config.yml).",
)
app.add_typer(experiments_app, name="experiments")
app.add_typer(config_app, name="config")


# -- experiments --------------------------------------------------------------------------
@experiments_app.command("add")
def experiments_add(
    ref: Annotated[str, typer.Argument(help="module:attr or path/to/file.py:attr")],
    name: Annotated[str | None, typer.Argument(help="the subcommand name")] = None,
) -> None:
    """Register an experiment definition as `fexp NAME`."""
    from . import _registry

    cls = _registry.resolve(_absolute_ref(ref))
    name = name or cls.kind()
    reserved = {c.name or "" for c in app.registered_commands} | {"experiments", "config"}
    if name in reserved or not name.replace("-", "_").isidentifier():
        raise _errors.ConfigError(
            f"{name!r} cannot be an experiment name (reserved or not an "
            "identifier); choose another NAME",
            source="argument NAME",
        )
    with _config.editing() as config:
        config["experiments"] = {
            **config.get("experiments", {}),
            name: {"ref": cls.reference(), "description": cls.description},
        }
    print(f"registered {name} -> {cls.reference()}")


def _absolute_ref(ref: str) -> str:
    """Make a file reference absolute so it keeps working from any folder."""
    import pathlib

    from . import _registry

    target, attr = _registry.split_reference(ref)
    if target.endswith(".py") or "/" in target:
        return f"{pathlib.Path(target).resolve()}:{attr}"
    return ref


@experiments_app.command("list")
def experiments_list() -> None:
    """List registered experiments."""
    registered = dict(_config.load().get("experiments") or {})
    if not registered:
        print("no experiments registered; add one with `fexp experiments add module:attr`")
    for name, entry in sorted(registered.items()):
        print(f"{name}\t{entry['ref']}")


@experiments_app.command("show")
def experiments_show(name: Annotated[str, typer.Argument(help="a registered name")]) -> None:
    """Describe an experiment: description and every parameter with type, default, help."""
    from . import _expset, _params, _yaml

    cls = _expset.resolve_experiment(name)
    print(f"{name}: {cls.reference()}")
    if cls.description:
        print(f"\n{cls.description}\n")
    for spec in cls.param_specs.values():
        default = _yaml.dump_flow(_params.to_plain(spec.default))
        print(
            f"  {spec.name} ({spec.type_name}) = {default}"
            + (f"  # {spec.help}" if spec.help else "")
        )


@experiments_app.command("remove")
def experiments_remove(name: Annotated[str, typer.Argument(help="a registered name")]) -> None:
    """Forget a registered experiment (its sets are untouched)."""
    with _config.editing() as config:
        registered = dict(config.get("experiments") or {})
        if name not in registered:
            raise _errors.ConfigError(
                f"no experiment registered as {name!r}", source="argument NAME"
            )
        del registered[name]
        config["experiments"] = registered
    print(f"removed {name}")


# -- execute ------------------------------------------------------------------------------
@app.command("execute")
def execute(
    ref: Annotated[str, typer.Argument(help="module:attr or path/to/file.py:attr")],
    params: Annotated[str, typer.Argument(help="the experiment's params.yml")],
) -> None:
    """Run one registered experiment from its params.yml (what script.sh calls)."""
    _cli_params.execute(ref, params)


# -- config -------------------------------------------------------------------------------
@config_app.callback()
def config_main(
    ctx: typer.Context,
    clean: Annotated[
        bool, typer.Option("--clean", help="forget sets that no longer exist")
    ] = False,
) -> None:
    """Show or change the global config."""
    if clean:
        for path in _config.forget_missing_sets():
            print(f"forgot {path}")
    elif ctx.invoked_subcommand is None:
        config_show()


@config_app.command("show")
def config_show() -> None:
    """Print the global config."""
    from . import _render

    config = _config.load()
    print(f"# {_config.home() / 'config.yml'}")
    for key, (description, _) in _config.SETTINGS.items():
        print(f"# {key}: {description}")
    print(_render.yaml_block(config), end="")


@config_app.command("set")
def config_set(
    key: Annotated[str, typer.Argument(help="one of: " + ", ".join(_config.SETTINGS))],
    value: Annotated[str, typer.Argument(help="the value, as YAML")],
) -> None:
    """Change one global setting."""
    parsed = _config.parse_setting(key, value)
    with _config.editing() as config:
        config[key] = parsed
    print(f"{key} = {parsed!r}")


@app.command("tensorboard")
def tensorboard(
    root: Annotated[
        str | None, typer.Argument(help="an experiment set (default: every known set)")
    ] = None,
    pattern: Annotated[
        str | None, typer.Argument(help="experiment names: glob, or re:REGEX")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", "-p", help="default: a free port")] = None,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
) -> None:
    """Start TensorBoard with one run per matching experiment; Ctrl-C stops it."""
    import collections
    import pathlib

    from . import _find, _services

    rows = _find.find(root, pattern)
    counts = collections.Counter(r["name"] for r in rows)
    runs = {
        (r["name"] if counts[r["name"]] == 1 else f"{pathlib.Path(r['set']).name}/{r['name']}"):
        pathlib.Path(r["path"])
        for r in rows
    }
    if not runs:
        raise _errors.ConfigError("no experiments match", source=f"pattern {pattern!r}")
    import signal

    process, url = _services.start_tensorboard(runs, port=port, host=host)
    print(f"TensorBoard at {url} with {len(runs)} runs; Ctrl-C to stop", flush=True)
    # A SIGTERM (kill, a job scheduler) must stop TensorBoard too, not orphan it.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        process.terminate()
        process.wait(timeout=10)


def _only(args: list[str]) -> typer.Typer:
    """The app to run ``args`` with: when they name one of fexp's own commands, an app
    holding just that command, so that only its parameters are built (Typer builds every
    command's parameters, and their types, for any invocation of a group)."""
    name = args[0] if args else ""
    found = [c for c in app.registered_commands if c.name == name and not name.startswith("-")]
    if len(found) != 1:
        return app
    one = typer.Typer(
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        help=app.info.help,
    )
    one.registered_commands = found
    # A callback keeps it a group (Typer runs a lone command without its name).
    one.callback()(_group_callback)
    return one


def _group_callback() -> None:
    """fexp: define, sweep, run, monitor and find experiments."""


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``fexp`` console script and ``python -m fexp``."""
    _cli_params.install_fast_coercion()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        _only(args)(args=args, prog_name="fexp")
    except _errors.FexpError as exc:
        _cli_params.report_error(exc)
        sys.exit(2)
    except OSError as exc:  # a read-only set, a full disk, a link loop: one paragraph too
        _cli_params.report_error(os_error(exc))
        sys.exit(2)


_OS_HINTS = {
    errno.EACCES: "permission denied: fexp cannot change this file or folder (read-only?)",
    errno.EPERM: "operation not permitted here (read-only?)",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "the disk is full; free some space and retry",
    errno.EDQUOT: "the disk quota is exceeded; free some space and retry",
    errno.EFBIG: "the file grew larger than allowed (disk or ulimit full)",
    errno.ELOOP: "a symbolic link loop; fix the links in this path",
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a part of this path is a file, not a folder",
}


def os_error(exc: OSError) -> _errors.FexpError:
    """The one-paragraph user error for an OSError that reached the command line."""
    hint = _OS_HINTS.get(exc.errno or 0, exc.strerror or str(exc))
    where = exc.filename if exc.filename is not None else None
    return _errors.ExperimentStateError(
        f"{hint} ({exc.strerror or type(exc).__name__}); the command stopped there",
        source=str(where) if where is not None else None,
    )


# The set commands live in their own module; importing it registers them on ``app``.
from . import _cli_cluster, _cli_parity, _cli_record, _cli_sets, _cli_tune, _cli_ui  # noqa: E402,F401
