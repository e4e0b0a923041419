"""ParamSpec -> Typer options; shared by ``fexp NAME`` and ``Experiment.main()``.

Every non-flag option is taken as text and cast by ``_params`` so that a bad value gives
fexp's own one-paragraph error (exit code 2), whatever the type.
"""

from __future__ import annotations

import contextlib
import inspect
import pathlib
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

from . import _errors, _params

if TYPE_CHECKING:
    import typer

    from ._experiment import Experiment

RESERVED = {"root", "name", "purpose", "execute", "to_root", "defaults", "debug", "help"}
CONTROL_PANEL = "Experiment"
METAVARS = {
    "root": "DIR",
    "name": "NAME",
    "purpose": "TEXT",
    "execute": "PARAMS_YML",
    "to_root": "DIR",
    "defaults": "DIR",
}
PARAM_PANEL = "Parameters"


def report_error(exc: _errors.FexpError) -> None:
    """Print a user error as one paragraph on stderr (no traceback), a few lines at most
    whatever the input that caused it."""
    from ._core import limits

    print(limits.bound_message(f"Error: {exc}"), file=sys.stderr)


@contextlib.contextmanager
def error_boundary() -> Iterator[None]:
    """Turn a ``FexpError`` into its message on stderr and exit code 2."""
    try:
        yield
    except _errors.FexpError as exc:
        report_error(exc)
        raise SystemExit(2) from None


def parse_cli_value(spec: _params.ParamSpec, text: Any, *, experiment: str) -> Any:
    """Cast a command-line string for ``spec`` (YAML for lists, dicts, tuples and unions)."""
    from . import _yaml

    if not isinstance(text, str):
        return _params.cast_value(spec, text, experiment=experiment)
    annotation = spec.annotation
    if annotation is str or (isinstance(annotation, type) and issubclass(annotation, pathlib.Path)):
        value: Any = text
    else:
        try:
            value = _yaml.load(text, source=f"option --{spec.name}") if text.strip() else None
        except _errors.YamlError:
            value = text
        if value is None and text.strip().lower() not in ("", "null", "~", "none"):
            value = text
    return _params.cast_value(spec, value, experiment=experiment)


def _option(spec: _params.ParamSpec) -> tuple[Any, Any]:
    """The (annotation, default) of the Typer option for one parameter."""
    import typer

    dashed = "--" + spec.name.replace("_", "-")
    names = [dashed] if dashed == f"--{spec.name}" else [dashed, f"--{spec.name}"]
    from . import _render

    default = _render.yaml_flow(_params.to_plain(spec.default))
    help_text = f"{spec.help}  [default: {default}]" if spec.help else f"[default: {default}]"
    if spec.annotation is bool:
        flag = f"{dashed}/--no-{spec.name.replace('_', '-')}"
        option = typer.Option(flag, help=help_text, show_default=False, rich_help_panel=PARAM_PANEL)
        return Annotated[bool | None, option], None
    option = typer.Option(
        *names,
        help=help_text,
        metavar=metavar(spec),
        show_default=False,
        rich_help_panel=PARAM_PANEL,
    )
    return Annotated[str | None, option], None


def metavar(spec: _params.ParamSpec) -> str:
    """``[fast|slow]`` for choices (Literal, Enum), else the type in capitals (``LIST[INT]``)."""
    import enum
    import typing

    annotation = spec.annotation
    if typing.get_origin(annotation) is typing.Literal:
        return "[" + "|".join(str(a) for a in typing.get_args(annotation)) + "]"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "[" + "|".join(annotation.__members__) + "]"
    return spec.type_name.upper()


def _control_options() -> list[inspect.Parameter]:
    import typer

    def opt(name: str, annotation: Any, *decls: str, help: str) -> inspect.Parameter:
        metavar = None if annotation is bool else METAVARS[name]
        option = typer.Option(*decls, help=help, metavar=metavar, rich_help_panel=CONTROL_PANEL)
        return inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=None if annotation is not bool else False,
            annotation=Annotated[annotation, option],
        )

    return [
        opt(
            "root",
            str | None,
            "--root",
            "-r",
            help="register the experiment in this folder (default: config 'root')",
        ),
        opt(
            "name",
            str | None,
            "--name",
            "-n",
            help="the experiment's folder name (default: the changed parameters)",
        ),
        opt("purpose", str | None, "--purpose", help="why this experiment exists"),
        opt(
            "execute",
            str | None,
            "--execute",
            help="run the experiment described by this params.yml",
        ),
        opt(
            "to_root",
            str | None,
            "--to-root",
            help="write defaults.yml and script.sh into this folder, then exit",
        ),
        opt(
            "defaults",
            str | None,
            "--defaults",
            help="write defaults.yml into this folder, then exit",
        ),
        opt("debug", bool, "--debug", help="run in a temporary folder, then show it"),
    ]


def build_app(cls: type[Experiment]) -> typer.Typer:
    """A Typer app with one command: every parameter an option, plus the control options."""
    import typer

    specs = cls.param_specs
    clashes = sorted(RESERVED & set(specs))
    if clashes:
        raise _errors.ConfigError(
            f"experiment {cls.kind()!r}: parameter name(s) {', '.join(clashes)} clash with "
            "fexp's own options; rename them"
        )
    parameters = [
        inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
        )
        for name, (annotation, default) in ((n, _option(s)) for n, s in specs.items())
    ]
    parameters += _control_options()

    def command(**kwargs: Any) -> None:
        with error_boundary():
            run_command(cls, kwargs)

    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__doc__ = cls.description or f"Run the {cls.kind()} experiment."
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
    app.command(name=cls.kind())(command)
    return app


def overrides_from(cls: type[Experiment], values: dict[str, Any]) -> dict[str, Any]:
    """Cast the parameters given on the command line (others keep their defaults)."""
    problems: list[_errors.ParamError] = []
    cast: dict[str, Any] = {}
    for name, spec in cls.param_specs.items():
        if values.get(name) is None:
            continue
        try:
            cast[name] = parse_cli_value(spec, values[name], experiment=cls.kind())
        except _errors.ParamError as exc:
            exc.source = f"option --{name.replace('_', '-')}"
            problems.append(exc)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise _errors.ParamErrors(problems)
    return cast


def run_command(cls: type[Experiment], values: dict[str, Any]) -> None:
    """What the generated command does with its parsed options."""
    overrides = overrides_from(cls, values)
    if values.get("to_root"):
        path = cls.to_root(values["to_root"])
        print(f"wrote {path.parent / 'defaults.yml'} and {path}")
        return
    if values.get("defaults"):
        print(f"wrote {cls.to_defaults(values['defaults'])}")
        return
    if values.get("execute"):
        if overrides:
            raise _errors.ConfigError(
                "--execute runs a params.yml as it is; edit the file instead of passing parameters",
                source="option --execute",
            )
        exp = cls.from_params_file(values["execute"])
        _run_and_exit(exp)
        return
    if values.get("debug"):
        root = pathlib.Path(tempfile.mkdtemp(prefix=f"fexp-debug-{cls.kind()}-"))
    else:
        from . import _config

        root = pathlib.Path(values.get("root") or _config.load().get("root") or "runs")
    exp = cls(**overrides)
    if values.get("debug"):
        exp.debug()
        exp.update(overrides)  # Options given on the command line win over debug().
    exp.register(root, values.get("name"), purpose=values.get("purpose") or "")
    print(f"fexp: running {cls.kind()} in {exp.directory}", file=sys.stderr)
    _run_and_exit(exp)


def _run_and_exit(exp: Experiment) -> None:
    from . import _runner

    _runner.check_runnable(exp)
    try:
        exp()
    except _runner.Interrupted as stop:
        print(f"fexp: {exp.name} {stop.status} ({stop})", file=sys.stderr)
        raise SystemExit(_runner.exit_code(stop)) from None
    except _errors.FexpError:
        raise
    except Exception as exc:
        from ._store import params_file

        error = (
            params_file.storage_error(exc, str(exp.directory)) if isinstance(exc, OSError) else exc
        )
        if isinstance(error, _errors.FexpError):  # a full disk: one paragraph, exit 2
            raise error from None
        # The user's own code failed: show its traceback, as Python would.
        traceback.print_exc()
        print(f"fexp: {exp.name} ended in error; see {exp.paths.error}", file=sys.stderr)
        raise SystemExit(1) from None


def execute(ref: str, params: str) -> None:
    """``fexp execute REF params.yml``: load the experiment and run it (what script.sh calls).

    Kept free of Typer so that every launched experiment starts fast.
    """
    from . import _registry

    with error_boundary():
        cls = _registry.resolve(ref)
        path = pathlib.Path(params)
        if path.is_dir():
            path = path / "params.yml"
        exp = cls.from_params_file(path)
        _run_and_exit(exp)


def main(
    cls: type[Experiment], argv: list[str] | None = None, prog_name: str | None = None
) -> None:
    """Parse ``argv`` (default ``sys.argv[1:]``) and run the generated command."""
    with error_boundary():
        app = build_app(cls)
    args = sys.argv[1:] if argv is None else list(argv)
    name = prog_name or (pathlib.Path(sys.argv[0]).name if argv is None else cls.kind())
    try:
        app(args=args, prog_name=name)
    except SystemExit as exc:  # Typer always exits; success returns to the caller instead
        if exc.code not in (0, None):
            raise


def lazy_command_callback(loader: Callable[[], type[Experiment]], prog: str) -> Callable[..., None]:
    """A callback that imports the experiment only when its subcommand is used."""

    def callback(args: list[str]) -> None:
        with error_boundary():
            cls = loader()
            app = build_app(cls)
        app(args=list(args), prog_name=prog)

    return callback


_INT_TEXT = r"\s*[+-]?\d[\d_]*(\.0*)?\s*"
_FAST_TYPES = (str, int, float, bool, pathlib.Path)


def install_fast_coercion() -> None:
    """Coerce plain option values (str, int, float, bool, Path, list[str]) without pydantic.

    Typer 0.29 builds a pydantic ``TypeAdapter`` for every parameter it parses, which costs
    more than the rest of a short command. fexp's own commands only take these plain types,
    so they are converted here with the same results and error texts; any other annotation
    still goes through Typer's own coercion.
    """
    import typer.core

    if getattr(typer.core, "_fexp_fast_coercion", False):
        return
    original = typer.core.build_runtime_param  # type: ignore[attr-defined]
    fast = _fast_runtime_param_class()

    def build(descriptor: Any) -> Any:
        annotation = descriptor.annotation
        plain = annotation in _FAST_TYPES or annotation == list[str]
        simple = not (descriptor.file_annotation or descriptor.is_choice or descriptor.is_ranged)
        if plain and simple:
            return fast(parameter_info=descriptor.parameter_info, annotation=annotation)
        return original(descriptor)

    typer.core.build_runtime_param = build  # type: ignore[attr-defined]
    typer.core._fexp_fast_coercion = True  # type: ignore[attr-defined]


def _fast_runtime_param_class() -> Any:
    import dataclasses

    from typer._click.exceptions import BadParameter
    from typer._coercion import RuntimeParam
    from typer._param_types import coerce_cli_path

    convert = _converter(BadParameter, coerce_cli_path)

    @dataclasses.dataclass(frozen=True)
    class FastRuntimeParam(RuntimeParam):  # type: ignore[misc]
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if self.annotation == list[str]:
                return [str(v) for v in value]
            return convert(value, self.annotation, param, ctx, self.parameter_info)

    return FastRuntimeParam


def _converter(bad: Any, coerce_path: Any) -> Any:
    """The conversion of one option value to its plain annotation (pydantic's error texts)."""
    import re

    int_text = re.compile(_INT_TEXT)
    kinds = {int: ("integer", "as an integer"), float: ("number", "as a number")}

    def convert(value: Any, annotation: Any, param: Any, ctx: Any, info: Any) -> Any:
        if annotation is pathlib.Path:
            path = value if isinstance(value, pathlib.Path) else pathlib.Path(str(value))
            return coerce_path(path, info, path_type=pathlib.Path, param=param, ctx=ctx)
        if annotation is str or type(value) is annotation:
            return value
        text = str(value)
        if annotation is int and int_text.fullmatch(text):
            return int(text.strip().split(".")[0])
        if annotation is float:
            with contextlib.suppress(ValueError):
                return float(text)
        if annotation is bool:
            lowered = text.strip().lower()
            if lowered in _BOOL_TEXT:
                return _BOOL_TEXT[lowered]
            raise bad(
                "Input should be a valid boolean, unable to interpret input", ctx=ctx, param=param
            )
        what, how = kinds[annotation]
        raise bad(
            f"Input should be a valid {what}, unable to parse string {how}", ctx=ctx, param=param
        )

    return convert


_BOOL_TEXT = {
    **dict.fromkeys(("1", "true", "t", "yes", "y", "on"), True),
    **dict.fromkeys(("0", "false", "f", "no", "n", "off"), False),
}
