"""Sweep strings and sweep config files -> lists of parameter points; casting points - pure.

Owns the sweep grammar (``{lr: 1e-2 | 1e-3, layers: [64] | [64, 64]}``), random search
(``loguniform(1e-4, 1e-1)``) and ``parent:`` merging of config files; never writes files.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import itertools
import math
import pathlib
import random
import re
from collections.abc import Mapping
from typing import Any, Literal

from . import _errors, _params, _yaml
from ._core import limits

MAX_POINTS = limits.MAX_EXPERIMENTS
"""A sweep that expands to more points than this is refused (a typo, not a plan); the
same documented limit caps points x repeats and ``--samples`` (``fexp._core.limits``)."""

_MAX_DEPTH = 64
_DIST_NAMES = ("loguniform", "uniform", "randint", "int", "choice")
_DIST_RE = re.compile(r"\A(loguniform|uniform|randint|int|choice)\s*\((.*)\)\Z", re.DOTALL)
_QUOTE_START_AFTER = frozenset("[{(,:|")
_OPENER_OF = {"]": "[", "}": "{"}
_YAML_MARK_RE = re.compile(r'\s*in "<unicode string>", line \d+, column \d+')
_PARENT_KEY = "parent"

DistKind = Literal["loguniform", "uniform", "randint", "choice"]


# --------------------------------------------------------------------------- tokenizer


@dataclasses.dataclass(frozen=True)
class _Lexed:
    """A piece of sweep text with the nesting depth of every character.

    ``depth[i]`` is 0 for characters at the top level of the piece (outside brackets,
    braces, distribution parentheses and quoted strings); only those can separate items.
    ``base`` is the offset of ``text[0]`` in the original string, for error columns.
    """

    text: str
    depth: tuple[int, ...]
    base: int

    def strip(self) -> _Lexed:
        left = len(self.text) - len(self.text.lstrip())
        right = len(self.text.rstrip())
        if right <= left:
            return _Lexed("", (), self.base + left)
        return _Lexed(self.text[left:right], self.depth[left:right], self.base + left)

    def split(self, seps: str, maxsplit: int = -1) -> list[_Lexed]:
        pieces: list[_Lexed] = []
        start = 0
        for i, char in enumerate(self.text):
            if maxsplit >= 0 and len(pieces) >= maxsplit:
                break
            if self.depth[i] == 0 and char in seps:
                pieces.append(_Lexed(self.text[start:i], self.depth[start:i], self.base + start))
                start = i + 1
        pieces.append(_Lexed(self.text[start:], self.depth[start:], self.base + start))
        return pieces

    def has_top(self, chars: str) -> bool:
        return any(d == 0 and c in chars for c, d in zip(self.text, self.depth, strict=True))


class _LexError(Exception):
    """Internal: unbalanced brackets or quotes; the message names the column."""


def _lex(text: str, base: int = 0) -> _Lexed:  # noqa: C901 - one small state machine
    """Compute nesting depths, blank out ``#`` comments, and check brackets and quotes."""
    chars = list(text)
    depth = [0] * len(text)
    stack: list[tuple[str, int]] = []
    token_start = 0
    prev: str | None = None
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        level = len(stack)
        if char in "'\"" and (prev is None or prev in _QUOTE_START_AFTER):
            end = _quote_end(text, i)
            if end < 0:
                raise _LexError(f"unterminated quoted string starting at column {base + i + 1}")
            for k in range(i, end + 1):
                depth[k] = level + 1
            prev = char
            i = end + 1
            continue
        if char == "#" and (i == 0 or text[i - 1].isspace()):
            end = text.find("\n", i)
            end = n if end < 0 else end
            for k in range(i, end):
                chars[k] = " "
                depth[k] = level
            i = end
            continue
        depth[i] = level
        if char in "[{":
            stack.append((char, i))
            if len(stack) > _MAX_DEPTH:
                raise _LexError(f"nesting deeper than {_MAX_DEPTH} at column {base + i + 1}")
        elif char == "(" and (
            (level == 0 and text[token_start:i].strip() in _DIST_NAMES)
            or (stack and stack[-1][0] == "(")
        ):
            # Parentheses nest only in a distribution's arguments: elsewhere they are text.
            stack.append((char, i))
        elif char in "]}":
            if not stack:
                raise _LexError(f"unexpected {char!r} at column {base + i + 1}")
            opener, where = stack[-1]
            if opener != _OPENER_OF[char]:
                raise _LexError(
                    f"{opener!r} at column {base + where + 1} is closed by {char!r} "
                    f"at column {base + i + 1}"
                )
            stack.pop()
            depth[i] = len(stack)
        elif char == ")" and stack and stack[-1][0] == "(":
            stack.pop()
            depth[i] = len(stack)
        elif level == 0 and char in ",:|":
            token_start = i + 1
        if not char.isspace():
            prev = char
        i += 1
    if stack:
        opener, where = stack[-1]
        closer = {"[": "]", "{": "}", "(": ")"}[opener]
        raise _LexError(f"{opener!r} at column {base + where + 1} is never closed by {closer!r}")
    return _Lexed("".join(chars), tuple(depth), base)


def _quote_end(text: str, start: int) -> int:
    """Return the index of the quote closing the one at ``start``, or -1."""
    quote = text[start]
    j = start + 1
    while j < len(text):
        if quote == '"' and text[j] == "\\":
            j += 2
            continue
        if text[j] == quote:
            if quote == "'" and j + 1 < len(text) and text[j + 1] == "'":
                j += 2
                continue
            return j
        j += 1
    return -1


def _unbrace(lexed: _Lexed) -> _Lexed:
    """Drop the optional outer braces of a sweep (``{a: 1}`` -> ``a: 1``)."""
    body = lexed.strip()
    text, depth = body.text, body.depth
    if (
        len(text) >= 2
        and text[0] == "{"
        and text[-1] == "}"
        and depth[-1] == 0
        and all(d >= 1 for d in depth[1:-1])
    ):
        return _lex(text[1:-1], body.base + 1)
    return body


# --------------------------------------------------------------------------- values


@dataclasses.dataclass(frozen=True)
class Distribution:
    """A random-search distribution from a sweep, e.g. ``loguniform(1e-4, 1e-1)``.

    Attributes:
        kind: ``loguniform``, ``uniform`` (floats in [a, b]), ``randint`` (ints in [a, b],
            inclusive) or ``choice`` (one of the arguments, uniformly).
        args: the bounds (two numbers) or the choices.
    """

    kind: DistKind
    args: tuple[Any, ...]

    def sample(self, rng: random.Random) -> Any:
        """Draw one value with ``rng``."""
        if self.kind == "uniform":
            return rng.uniform(self.args[0], self.args[1])
        if self.kind == "loguniform":
            low, high = math.log(self.args[0]), math.log(self.args[1])
            return math.exp(rng.uniform(low, high))
        if self.kind == "randint":
            return rng.randint(self.args[0], self.args[1])
        return copy.deepcopy(rng.choice(self.args))


class _ValueError(Exception):
    """Internal: one value of a sweep cannot be parsed; message without the source."""


def _clean_yaml_detail(error: _errors.YamlError) -> str:
    return _YAML_MARK_RE.sub("", error.detail)


def _load_one(text: str) -> Any:
    """Parse one flow-context YAML value (``text`` is stripped and not empty)."""
    try:
        loaded = _yaml.load("[" + text + "\n]")
    except _errors.YamlError as exc:
        loaded = [_load_block_scalar(text, exc)]
    except RecursionError:
        raise _ValueError("nested too deeply") from None
    if not isinstance(loaded, list) or len(loaded) != 1:
        raise _ValueError("not a single YAML value; quote it")
    value = loaded[0]
    if isinstance(value, dict) and not text.startswith("{"):
        raise _ValueError(
            "it looks like 'key: value'; quote a string containing ': ' "
            f"({_quote(text)}) or write a mapping in braces ({{{text}}})"
        )
    if isinstance(value, (datetime.date, datetime.datetime)):
        return text  # A plain date stays the text the user typed.
    return _plain(value)


def _load_block_scalar(text: str, flow_error: _errors.YamlError) -> Any:
    """Retry a one-line plain scalar outside flow context, where ``host:port`` is text."""
    if "\n" not in text and text[0] not in "[{!&*>|%":
        try:
            value = _yaml.load(text)
        except _errors.YamlError:
            pass
        else:
            if not isinstance(value, (list, dict)):
                return value
    raise _ValueError(_clean_yaml_detail(flow_error))


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _plain(value: Any) -> Any:
    """Keep only JSON-like data (plus nested dates as ISO strings); refuse other types."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if not (key is None or isinstance(key, (bool, int, float, str))):
                raise _ValueError(f"mapping key {key!r} is not a plain scalar")
            out[key] = _plain(item)
        return out
    raise _ValueError(f"YAML type {type(value).__name__} is not supported in sweeps")


def _parse_alternative(piece: _Lexed) -> Any:
    """Parse one ``|`` alternative: a YAML value or a distribution."""
    text = piece.text
    if not text:
        return None
    match = _DIST_RE.match(text)
    if match is None:
        return _load_one(text)
    kind = match.group(1)
    open_at = text.index("(")
    args_lexed = _lex(match.group(2), piece.base + open_at + 1)
    args: list[Any] = []
    raw_args = args_lexed.split(",")
    if raw_args and not raw_args[-1].strip().text and len(raw_args) > 1:
        raw_args = raw_args[:-1]  # A trailing comma is allowed, as in YAML.
    for raw in raw_args:
        arg = raw.strip()
        if not arg.text:
            if len(raw_args) == 1:
                break
            raise _ValueError(f"{kind}() has an empty argument at column {arg.base + 1}")
        if _DIST_RE.match(arg.text):
            raise _ValueError(f"distributions cannot be nested ({arg.text!r} inside {kind}())")
        args.append(_load_one(arg.text))
    return _make_distribution(kind, args)


def _make_distribution(kind: str, args: list[Any]) -> Distribution:
    if kind == "int":
        kind = "randint"  # ``int(a, b)`` is the same distribution, named as ``fexp tune`` shows it
    if kind == "choice":
        if not args:
            raise _ValueError("choice() needs at least one value, e.g. choice(a, b)")
        return Distribution("choice", tuple(args))
    if len(args) != 2:
        raise _ValueError(f"{kind}() takes two bounds, e.g. {kind}(1, 10); got {len(args)}")
    low, high = args
    for bound in (low, high):
        if isinstance(bound, bool) or not isinstance(bound, (int, float)):
            raise _ValueError(f"{kind}() bounds must be numbers, got {bound!r}")
        if not math.isfinite(bound):
            raise _ValueError(f"{kind}() bounds must be finite, got {bound!r}")
    if kind == "randint":
        for bound in (low, high):
            if isinstance(bound, float) and not bound.is_integer():
                raise _ValueError(f"randint() bounds must be integers, got {bound!r}")
        low, high = int(low), int(high)
    if not low < high:
        raise _ValueError(f"{kind}() needs a < b, got {kind}({low!r}, {high!r})")
    if kind == "loguniform" and low <= 0:
        raise _ValueError(f"loguniform() needs a > 0, got loguniform({low!r}, {high!r})")
    if kind == "uniform":
        return Distribution("uniform", (float(low), float(high)))
    if kind == "loguniform":
        return Distribution("loguniform", (float(low), float(high)))
    return Distribution("randint", (low, high))


# --------------------------------------------------------------------------- sweeps


def render_source(text: str, source: str) -> str:
    """Render where a sweep came from, as errors show it: ``sweep '{a: 1}' (argument SWEEP)``.

    Example:
        >>> render_source("{lr: 1 | 2}", "argument SWEEP")
        "sweep '{lr: 1 | 2}' (argument SWEEP)"
    """
    shown = text if len(text) <= 100 else text[:97] + "..."
    return f"sweep {shown!r} ({source})"


def _parse_items(text: str, source: str) -> list[tuple[str, list[Any]]]:
    """Parse a sweep into ``(key, alternatives)`` pairs, collecting every problem."""
    where = render_source(text, source)
    try:
        body = _unbrace(_lex(text))
    except _LexError as exc:
        raise _errors.SweepError(f"{exc}.", source=where) from None
    items = body.split(",")
    if not items[-1].strip().text:
        items = items[:-1]  # Allow a trailing comma, and the empty sweep.
    problems: list[str] = []
    parsed: list[tuple[str, list[Any]]] = []
    first_item: dict[str, int] = {}
    for number, raw in enumerate(items, start=1):
        item = raw.strip()
        try:
            key, alternatives = _parse_item(item, number)
        except (_ValueError, _LexError) as exc:
            problems.append(f"{exc}.")
            continue
        if key in first_item:
            problems.append(
                f"parameter {key!r} is given twice (items {first_item[key]} and {number}); "
                "put all its values in one item separated by '|'."
            )
            continue
        first_item[key] = number
        parsed.append((key, alternatives))
    if problems:
        raise _errors.SweepError(" ".join(problems), source=where)
    return parsed


def _parse_item(item: _Lexed, number: int) -> tuple[str, list[Any]]:
    if not item.text:
        raise _ValueError(f"item {number} at column {item.base + 1} is empty (two commas?)")
    parts = item.split(":", maxsplit=1)
    if len(parts) == 1:
        raise _ValueError(f"item {number} {item.text!r} has no ':'; write it as key: value")
    key_part, value_part = parts[0].strip(), parts[1]
    if key_part.has_top("|"):
        raise _ValueError(
            f"item {number} {item.text!r} has '|' before ':'; alternatives go after the key"
        )
    if not key_part.text:
        raise _ValueError(f"item {number} {item.text!r} has an empty key")
    try:
        key = _load_one(key_part.text)
    except _ValueError as exc:
        raise _ValueError(f"cannot parse key {key_part.text!r} of item {number}: {exc}") from None
    if not isinstance(key, str):
        raise _ValueError(
            f"key {key_part.text!r} of item {number} is not a parameter name "
            f"(YAML reads it as {type(key).__name__})"
        )
    if not key.strip():
        raise _ValueError(f"item {number} {item.text!r} has an empty key")
    alternatives: list[Any] = []
    problems: list[str] = []
    for piece in value_part.split("|"):
        try:
            alternatives.append(_parse_alternative(piece.strip()))
        except _ValueError as exc:
            problems.append(f"value {piece.strip().text!r} of {key!r}: {exc}")
        except _LexError as exc:
            problems.append(f"value {piece.strip().text!r} of {key!r}: {exc}")
    if problems:
        raise _ValueError("; ".join(problems))
    return key, alternatives


def parse_items(text: str, *, source: str = "argument SWEEP") -> list[tuple[str, list[Any]]]:
    """Parse a sweep into ``(key, alternatives)`` pairs without expanding or sampling it;
    an alternative is a plain value or a ``Distribution`` (``fexp tune``'s search space).

    Raises:
        SweepError: for malformed text or bad distribution bounds (every problem at once).
    """
    return _parse_items(text, source)


def _count(items: list[tuple[str, list[Any]]]) -> int:
    return math.prod(len(alternatives) for _, alternatives in items)


def parse_sweep(text: str, *, source: str = "argument SWEEP") -> list[dict[str, Any]]:
    """Parse a sweep string into the cross product of its alternatives.

    The grammar is a YAML flow mapping (outer braces optional) in which a top-level ``|``
    separates alternatives. Keys keep their order and the first key varies slowest. An
    empty alternative (``a: 1 |``) is None; quoted strings keep their ``|``; the empty
    sweep (``""`` or ``{}``) is one point with no overrides.

    Args:
        text: the sweep, e.g. ``{lr: 1e-2 | 1e-3, layers: [64] | [64, 64]}``.
        source: where the text came from, for error messages.

    Raises:
        SweepError: for malformed text, duplicate or non-string keys, unsafe YAML tags,
            random distributions (use ``sample_sweep``), or more than ``MAX_POINTS`` points.

    Example:
        >>> parse_sweep("{lr: 1e-2 | 1e-3, epochs: 10}")
        [{'lr': 0.01, 'epochs': 10}, {'lr': 0.001, 'epochs': 10}]
    """
    items = _parse_items(text, source)
    random_keys = [key for key, alts in items if any(isinstance(a, Distribution) for a in alts)]
    if random_keys:
        raise _errors.SweepError(
            f"random distributions given for {', '.join(repr(k) for k in random_keys)}; "
            "pass --samples N to draw N random points, or quote the value to mean the text.",
            source=render_source(text, source),
        )
    total = _count(items)
    if total > MAX_POINTS:
        raise _errors.SweepError(
            f"the sweep expands to {total} points, more than {MAX_POINTS}; "
            "use fewer alternatives or random search (--samples N).",
            source=render_source(text, source),
        )
    keys = [key for key, _ in items]
    return [
        copy.deepcopy(dict(zip(keys, combo, strict=True)))
        for combo in itertools.product(*(alts for _, alts in items))
    ]


def sample_sweep(
    text: str, samples: int, seed: int | None, *, source: str = "argument SWEEP"
) -> list[dict[str, Any]]:
    """Draw ``samples`` random points from a sweep (random search).

    Values may be distributions: ``loguniform(a, b)`` and ``uniform(a, b)`` (floats),
    ``randint(a, b)`` (ints, both ends included) and ``choice(x, y, ...)``. A key's ``|``
    alternatives are picked uniformly (a distribution among them is then sampled) and a
    plain value is constant. The same seed gives the same points.

    Raises:
        SweepError: for a malformed sweep, bad distribution bounds or ``samples < 1``.

    Example:
        >>> sample_sweep("{lr: loguniform(1e-4, 1e-1), bs: 32 | 64}", 2, seed=0)[0].keys()
        dict_keys(['lr', 'bs'])
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise _errors.SweepError(
            f"the number of samples must be a positive integer, got {samples!r}.",
            source="argument --samples",
        )
    too_many = limits.check_count(samples, f"--samples {samples}")
    if too_many:
        raise _errors.SweepError(f"{too_many}.", source="option --samples")
    items = _parse_items(text, source)
    rng = random.Random(seed)
    points: list[dict[str, Any]] = []
    for _ in range(samples):
        point: dict[str, Any] = {}
        for key, alternatives in items:
            picked = rng.choice(alternatives) if len(alternatives) > 1 else alternatives[0]
            if isinstance(picked, Distribution):
                point[key] = picked.sample(rng)
            else:
                point[key] = copy.deepcopy(picked)
        points.append(point)
    return points


# --------------------------------------------------------------------------- points


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``base`` updated by ``override``, merging nested mappings recursively.

    Neither argument is modified; the result shares no mutable value with them.

    Example:
        >>> merge({"opt": {"lr": 1, "m": 0.9}}, {"opt": {"lr": 2}})
        {'opt': {'lr': 2, 'm': 0.9}}
    """
    out: dict[str, Any] = copy.deepcopy(dict(base))
    for key, value in override.items():
        current = out.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            out[key] = merge(current, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def specs_from_defaults(defaults: Mapping[str, Any]) -> dict[str, _params.ParamSpec]:
    """Build parameter specs from plain defaults (a set made from a script + defaults.yml).

    Each parameter's type is the type of its default (None means any value). Keys starting
    with ``_`` (``_version`` and fexp's other special keys) are not parameters and skipped.

    Example:
        >>> specs_from_defaults({"lr": 0.1})["lr"].type_name
        'float'
    """
    return {
        str(name): _params.ParamSpec(
            str(name), _params.annotation_from_default(default), copy.deepcopy(default)
        )
        for name, default in defaults.items()
        if not str(name).startswith("_")
    }


def apply_point(
    point: Mapping[str, Any],
    specs: Mapping[str, _params.ParamSpec],
    *,
    experiment: str | None = None,
    source: str | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Cast every value of a sweep point to its parameter's type.

    A mapping given for a parameter whose default is a mapping is partial: it is merged
    recursively into a copy of the default (missing keys keep their default) before the
    cast. When ``specs`` is empty, they are inferred from ``defaults``
    (``specs_from_defaults``).

    Args:
        point: parameter name -> value, e.g. one element of ``parse_sweep``.
        specs: the experiment's parameters.
        experiment: the experiment's name, for messages.
        source: where the point came from (``render_source(...)``), for messages.
        defaults: plain defaults used when ``specs`` is empty.

    Raises:
        ParamError: one unknown name (with a did-you-mean) or ill-typed value;
            ``ParamErrors`` listing them all when there are several.

    Example:
        >>> apply_point({"lr": 1}, {}, defaults={"lr": 0.1})
        {'lr': 1.0}
    """
    if not specs and defaults:
        specs = specs_from_defaults(defaults)
    merged = {
        name: merge(specs[name].default, value)
        if name in specs and isinstance(specs[name].default, Mapping) and isinstance(value, Mapping)
        else value
        for name, value in point.items()
    }
    return _params.validate_overrides(specs, merged, experiment=experiment, source=source)


# --------------------------------------------------------------------------- config files


def load_sweep_config(path: pathlib.Path) -> dict[str, Any]:
    """Read a config file of overrides (``-c config.yml``), merging its ``parent:`` chain.

    A config is one point: its values are single values, never ``|`` alternatives (a
    string ``"a | b"`` stays that string). The optional ``parent:`` key names another YAML
    file, relative to the folder of the file that names it; the chain is merged from the
    oldest ancestor down, nested mappings recursively, the child winning. ``parent`` is
    therefore reserved and never returned.

    Raises:
        YamlError: a missing, unreadable, malformed or non-mapping file (named).
        SweepError: a bad ``parent`` value, a missing parent file, a cycle of parents, or a
            non-string key.

    Example:
        ``base.yml`` holds ``{lr: 0.1, opt: {m: 0.9}}`` and ``run.yml`` holds
        ``{parent: base.yml, opt: {m: 0.5}}``: ``load_sweep_config(run.yml)`` is
        ``{'lr': 0.1, 'opt': {'m': 0.5}}``.
    """
    chain: list[pathlib.Path] = []
    layers: list[dict[str, Any]] = []
    seen: set[pathlib.Path] = set()
    current: pathlib.Path | None = path
    child: pathlib.Path | None = None
    while current is not None:
        try:
            resolved = current.resolve()
        except (OSError, RuntimeError) as exc:  # A symlink loop.
            raise _errors.SweepError(
                f"cannot resolve {str(current)!r}: {exc}.", source=str(path)
            ) from None
        if resolved in seen:
            shown = " -> ".join(str(p) for p in [*chain, current])
            raise _errors.SweepError(
                f"the parent: chain is a cycle ({shown}); remove one of the parent: keys.",
                source=str(path),
            )
        seen.add(resolved)
        if child is not None and not current.is_file():
            raise _errors.SweepError(
                f"parent file {str(current)!r} does not exist or is not a file.", source=str(child)
            )
        data = _yaml.read_mapping(current)
        bad_keys = [k for k in data if not isinstance(k, str)]
        if bad_keys:
            raise _errors.SweepError(
                f"keys must be parameter names, got {', '.join(repr(k) for k in bad_keys)}.",
                source=str(current),
            )
        chain.append(current)
        parent = data.pop(_PARENT_KEY, None)
        layers.append(data)
        child = current
        current = _parent_path(current, parent)
    result: dict[str, Any] = {}
    for layer in reversed(layers):
        result = merge(result, layer)
    return result


def _parent_path(child: pathlib.Path, parent: Any) -> pathlib.Path | None:
    if parent is None:
        return None
    if not isinstance(parent, str) or not parent.strip():
        raise _errors.SweepError(
            f"'parent' must name a YAML file (relative to this file's folder), got {parent!r}.",
            source=str(child),
        )
    return child.parent / parent
