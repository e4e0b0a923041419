"""The one template loader (checkout and wheel), a fast YAML emitter, and the renderers.

Everything here is pure text building: ``render_*`` return strings and never write files.
"""

from __future__ import annotations

import enum
import functools
import math
import pathlib
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import _layout, _params

if TYPE_CHECKING:
    import jinja2

SPECIAL_KEYS = _layout.SPECIAL_KEYS

# YAML's implicit keys may span at most 1024 characters; longer keys use the `? key` form.
_MAX_SIMPLE_KEY = 1000


# --------------------------------------------------------------------------- templates


def template_dir() -> pathlib.Path:
    """Return the folder holding fexp's Jinja templates.

    An installed wheel ships them inside the package (``fexp/templates``); a checkout
    (``pip install -e .``) keeps them in the repository's ``templates/`` next to ``fexp/``.
    """
    package = pathlib.Path(__file__).resolve().parent
    for candidate in (package / "templates", package.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"fexp templates not found in {package} or its parent")


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        # Templates ship with the package and never change while a process runs, so the
        # per-render mtime check of auto_reload would only cost time in large sweeps.
        auto_reload=False,
    )
    env.filters["shquote"] = shlex.quote
    env.filters["yaml"] = yaml_flow
    env.filters["comment"] = one_line
    return env


def render_template(name: str, **context: Any) -> str:
    """Render the template ``name`` (e.g. ``"sbatch.sh.j2"``) with ``context``.

    Filters available to templates: ``shquote`` (``shlex.quote``), ``yaml`` (one value as
    flow YAML) and ``comment`` (text made safe for a one-line comment). Undefined
    variables are errors.
    """
    return _environment().get_template(name).render(**context)


# --------------------------------------------------------------------------- YAML scalars

# A string is written plain only when it matches this conservative pattern: a letter,
# underscore, `/`, `./` or `../` first, then word characters and a few harmless symbols,
# no trailing space. Anything else is double-quoted, which always round-trips.
_PLAIN = re.compile(r"(?:[^\W\d]|/|\.\.?/)[\w ./+=@~-]*(?<! )\Z")
# Plain words that YAML 1.1 readers (PyYAML and friends) resolve to booleans or null.
_RESERVED = frozenset(
    ["true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"],
)
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_table() -> dict[int, str]:
    table: dict[int, str] = {ord('"'): '\\"', ord("\\"): "\\\\"}
    named = {"\0": "\\0", "\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n"}
    named.update({"\v": "\\v", "\f": "\\f", "\r": "\\r", "\x1b": "\\e"})
    for code in [*range(0x20), *range(0x7F, 0xA0)]:
        table[code] = named.get(chr(code), f"\\x{code:02x}")
    # Line and paragraph separators, the byte-order mark and noncharacters are escaped
    # because YAML readers treat them as line breaks or reject them.
    for code in (0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF):
        table[code] = f"\\u{code:04x}"
    return table


_ESCAPES = _escape_table()
# Comments cannot escape anything, so non-printable characters become U+FFFD.
_COMMENT_UNSAFE = {code: "\ufffd" for code in _ESCAPES if chr(code) not in '"\\'}


def _quoted(text: str) -> str:
    if _SURROGATE.search(text):
        raise ValueError(f"cannot write a lone surrogate to YAML: {text!r}")
    return '"' + text.translate(_ESCAPES) + '"'


# Sweeps render the same keys, names and help texts thousands of times: memoise them.
@functools.lru_cache(maxsize=8192)
def _string(text: str) -> str:
    if _PLAIN.match(text) and text.lower() not in _RESERVED:
        return text
    return _quoted(text)


def _float(value: float) -> str:
    if value != value:
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = float.__repr__(value)
    # YAML 1.1 readers need a dot in the mantissa: `1e-05` would be a string there.
    if "e" in text and "." not in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{exponent}"
    return text


def yaml_scalar(value: Any) -> str:
    """Render one scalar (None, bool, int, float, str, Path, Enum) as YAML.

    Strings stay plain when unambiguous and are double-quoted otherwise; floats
    round-trip exactly (``.nan``, ``.inf``, ``-.inf``).

    Example:
        >>> [yaml_scalar(v) for v in (None, True, 1e-3, "mnist", "yes", "1e3")]
        ['null', 'true', '0.001', 'mnist', '"yes"', '"1e3"']
    """
    kind = type(value)
    if kind is str:
        return _string(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return _float(value)
    if value is None:
        return "null"
    return _scalar_fallback(value)


def _scalar_fallback(value: Any) -> str:
    # Enums first (also str/int mixins): written by name, as ``_params.to_plain`` does.
    if isinstance(value, enum.Enum):
        return _string(value.name)
    if isinstance(value, str):
        return _string(str.__str__(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, pathlib.PurePath):
        return _string(str(value))
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():
        return yaml_scalar(item())  # numpy scalars and 0-d arrays
    raise TypeError(f"cannot render a {type(value).__name__} as YAML: {value!r}")


_SCALAR_TYPES = frozenset([str, int, float, bool, type(None)])


def yaml_key(key: Any) -> str:
    """Render a mapping key (a scalar) as YAML."""
    return _string(key) if type(key) is str else yaml_scalar(key)


def yaml_flow(value: Any) -> str:
    """Render plain data on one line in flow style, e.g. ``[1, 2]`` or ``{a: 1}``.

    Example:
        >>> yaml_flow({"layers": [64, 64], "name": "a: b"})
        '{layers: [64, 64], name: "a: b"}'
    """
    kind = type(value)
    if kind is list or kind is tuple:
        return "[" + ", ".join([yaml_flow(v) for v in value]) + "]"
    if kind is dict:
        return "{" + ", ".join([_flow_item(k, v) for k, v in value.items()]) + "}"
    if kind in _SCALAR_TYPES:
        return yaml_scalar(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join([_flow_item(k, v) for k, v in value.items()]) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join([yaml_flow(v) for v in value]) + "]"
    return yaml_scalar(value)


def _flow_item(key: Any, value: Any) -> str:
    text = yaml_key(key)
    if len(text) > _MAX_SIMPLE_KEY:
        return f"? {_quoted(str(key)) if type(key) is str else text} : {yaml_flow(value)}"
    return f"{text}: {yaml_flow(value)}"


def yaml_block(mapping: Mapping[str, Any], indent: int = 0) -> str:
    """Render a mapping in block style: nested mappings and lists indented, leaves flow.

    Example:
        >>> print(yaml_block({"git": {"commit": "abc", "dirty": False}}), end="")
        git:
          commit: abc
          dirty: false
    """
    lines: list[str] = []
    _block_lines(mapping, " " * indent, lines)
    return "\n".join(lines) + "\n" if lines else ""


def _block_lines(mapping: Mapping[Any, Any], pad: str, lines: list[str]) -> None:
    for key, value in mapping.items():
        text = yaml_key(key)
        if len(text) > _MAX_SIMPLE_KEY:
            lines.append(f"{pad}? {_quoted(str(key)) if type(key) is str else text}")
            lines.append(f"{pad}: {yaml_flow(value)}")
        elif isinstance(value, Mapping) and value:
            lines.append(f"{pad}{text}:")
            _block_lines(value, pad + "  ", lines)
        elif isinstance(value, (list, tuple)) and value:
            lines.append(f"{pad}{text}:")
            lines.extend(f"{pad}  - {yaml_flow(item)}" for item in value)
        else:
            lines.append(f"{pad}{text}: {yaml_flow(value)}")


def one_line(text: object) -> str:
    """Make ``text`` safe for a one-line comment (YAML or shell): whitespace runs, line
    breaks included, become one space; non-printable characters become U+FFFD."""
    return _one_line(str(text))


@functools.lru_cache(maxsize=4096)
def _one_line(text: str) -> str:
    return _SURROGATE.sub("\ufffd", " ".join(text.split()).translate(_COMMENT_UNSAFE))


# --------------------------------------------------------------------------- YAML files


def render_defaults(
    specs: Sequence[_params.ParamSpec],
    *,
    version: Mapping[str, Any],
    description: str = "",
) -> str:
    """Render ``defaults.yml``: the description as a comment, ``_version``, then every
    parameter as ``name: default  # type; help`` in declared order."""
    params = [
        (yaml_key(spec.name), yaml_flow(_params.to_plain(spec.default)), _spec_comment(spec))
        for spec in specs
    ]
    return render_template(
        "defaults.yml.j2",
        description=[one_line(line) for line in description.strip().splitlines()],
        version=yaml_block({"_version": dict(version)}),
        params=params,
    )


def _spec_comment(spec: _params.ParamSpec) -> str:
    text = spec.type_name + (f"; {spec.help}" if spec.help else "")
    return one_line(text)


def render_special(special: Mapping[str, Any]) -> str:
    """Render params.yml's special keys (``_name``, ``_status``, ...) in their fixed order.

    Raises:
        ValueError: a key without a leading ``_``.
    """
    bad = [k for k in special if not k.startswith("_")]
    if bad:
        raise ValueError(f"invalid special keys: {bad!r}")
    ordered = {k: special[k] for k in SPECIAL_KEYS if k in special}
    ordered.update((k, v) for k, v in special.items() if k not in ordered)
    return yaml_block(ordered)


def render_param_lines(params: Mapping[str, Any], helps: Mapping[str, str] | None = None) -> str:
    """The ``# Parameters`` section: one line per parameter with its help as a comment."""
    helps = helps or {}
    lines = ["\n# Parameters\n"]
    for name, value in params.items():
        note = helps.get(name)
        line = f"{yaml_key(name)}: {yaml_flow(value)}"
        lines.append(f"{line}  # {one_line(note)}\n" if note else f"{line}\n")
    return "".join(lines)


def render_params(
    special: Mapping[str, Any],
    params: Mapping[str, Any],
    helps: Mapping[str, str] | None = None,
) -> str:
    """Render an experiment's ``params.yml``: special keys, then one line per parameter.

    Special keys (all starting with ``_``) come first in the order of ``SPECIAL_KEYS``,
    then any other ``_x`` keys in the order given; nested values are block style.
    Parameters keep their order, each on one line with its help as a trailing comment.
    (Plain string assembly, not a template: params.yml is rewritten at every status change
    of a running experiment, and importing Jinja there would slow every launch.)

    Raises:
        ValueError: a special key without a leading ``_`` or a key in both mappings.
    """
    clash = [k for k in params if k in special]
    if clash:
        raise ValueError(f"invalid or duplicate special keys: {clash!r}")
    return render_special(special) + render_param_lines(params, helps)


# --------------------------------------------------------------------------- script.sh

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def render_script(
    *,
    ref: str,
    python: str,
    pythonpath: Sequence[str],
    git: Mapping[str, Any] | None,
    header_lines: Sequence[str] = (),
    env: Mapping[str, str | int | float] | None = None,
    generated_on: str,
) -> str:
    """Render a set's ``script.sh``: ``./script.sh path/to/params.yml`` runs one experiment.

    Every value that reaches a command is ``shlex.quote``-d; values in comments are
    reduced to one line. ``header_lines`` (e.g. ``#SBATCH --time=1:00:00`` from the
    global config) are the user's own lines and are copied verbatim. Numbers in ``env``
    (as read from a YAML config) are written as text.

    Raises:
        ValueError: a header line that is not text or has a line break, an invalid
            environment variable name or value, a PYTHONPATH entry containing ``:``, or
            a NUL character anywhere; every problem is listed.
    """
    variables = {k: _env_value(v) for k, v in (env or {}).items()}
    problems = _script_problems(ref, python, pythonpath, header_lines, variables)
    if problems:
        raise ValueError("cannot render script.sh: " + "; ".join(problems))
    return render_template(
        "script.sh.j2",
        ref=ref,
        python=python,
        pythonpath=":".join(shlex.quote(p) for p in pythonpath),
        git=dict(git) if git else None,
        header_lines=list(header_lines),
        env=sorted(variables.items()),
        generated_on=generated_on,
    )


def _env_value(value: object) -> object:
    # Numbers from a YAML config (`OMP_NUM_THREADS: 1`) are fine as text; others are not.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def _script_problems(
    ref: str,
    python: str,
    pythonpath: Sequence[str],
    header_lines: Sequence[object],
    env: Mapping[str, object],
) -> list[str]:
    problems = [f"header line {h!r} is not text" for h in header_lines if not isinstance(h, str)]
    problems += [f"header line {h!r} has a line break" for h in header_lines if _breaks(h)]
    problems += [f"invalid environment variable name {k!r}" for k in env if not _ENV_NAME.match(k)]
    problems += [
        f"variable {k!r} must be text, got {v!r}" for k, v in env.items() if not isinstance(v, str)
    ]
    problems += [f"PYTHONPATH entry {p!r} contains ':'" for p in pythonpath if ":" in p]
    values = [ref, python, *pythonpath, *env.values(), *header_lines]
    problems += [f"value {v!r} contains a NUL character" for v in values if "\0" in str(v)]
    return problems


def _breaks(line: object) -> bool:
    return isinstance(line, str) and ("\n" in line or "\r" in line)
