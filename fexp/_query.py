"""Find experiments: parse ``-w`` conditions, filter and sort rows, render them (table/CSV/JSON).

Pure over rows (one dict per experiment, built by the caller from params.yml files); no I/O.

Regex rules, one per place: regexes over *keys* (condition keys, ``param_regex``,
``msg_regex``) must match the whole key (``re.fullmatch``); regexes over *text* (``~``/``!~``
values, ``re:`` name patterns, ``types_match``) search anywhere (``re.search``; anchor with
``^``/``$``).
"""

from __future__ import annotations

import dataclasses
import datetime
import fnmatch
import math
import operator
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar

from . import _errors, _yaml

if TYPE_CHECKING:
    pass

R = TypeVar("R", bound=Mapping[str, Any])

#: Returned by :meth:`Column.get` when a row has no value for the column.
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()

OPS: tuple[str, ...] = ("<", "<=", "==", "!=", ">=", ">", "~", "!~")
_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_HINTS = {"=": "==", "=<": "<=", "=>": ">=", "<>": "!=", "=~": "~", "~=": "~", "=!": "!="}
_OP_CHARS = frozenset("<>=!~")
_OPENERS = {"(": ")", "{": "}", "[": "]"}
_PLAIN_KEY = re.compile(r"[\w.\-]+")
_NUMBER = re.compile(r"[-+]?(\d[\d_]*\.?\d*|\.\d+)([eE][-+]?\d+)?")
# Top-level row fields, in the order render_json writes them.
FIELDS: tuple[str, ...] = (
    "name",
    "path",
    "set",
    "status",
    "created",
    "registered",
    "started",
    "stopped",
    "purpose",
    "params",
    "messages",
    "version",
    "meta",
    "notes",
    "error",
    "slurm",
)


# --------------------------------------------------------------------------- conditions


@dataclasses.dataclass(frozen=True)
class Condition:
    """One parsed ``-w`` condition: a key (name or regex) and the tests its value must pass.

    Attributes:
        text: the condition as the user wrote it.
        key: a literal key (``lr``, ``opt.lr``, ``status``) or a regex's source.
        regex: the compiled key regex, or None when ``key`` is literal.
        tests: ``(op, value)`` pairs, each read as ``key op value``; empty for a bare regex,
            which only asks that some key matches. ``~``/``!~`` values are compiled regexes.
    """

    text: str
    key: str
    regex: re.Pattern[str] | None = None
    tests: tuple[tuple[str, Any], ...] = ()


def parse_condition(text: str, *, source: str = "option --where") -> Condition:
    """Parse a condition such as ``lr<0.01``, ``status==finished`` or ``0.001 < lr.* <= 0.1``.

    Forms (spaces optional; xmen's ``param_match`` forms included):

    - ``key op value`` with ``op`` in ``< <= == != >= >``; ``value`` is a YAML scalar
      (``0.01``, ``1e-3``, ``true``, ``null``, ``'quoted text'``, ``[64, 64]``; a date such as
      ``2024-01-01`` becomes its ISO text, to compare with ``created``).
    - ``key ~ regex`` / ``key !~ regex``: the value's text contains (does not contain) a
      match; everything after ``~`` is the regex, verbatim.
    - ``regex`` alone: the row has a parameter or message whose key fully matches it.
    - ``regex op value``: some key fully matching ``regex`` satisfies ``op value``.
    - ``value1 op1 regex op2 value2``: some key satisfies both (``0.001 < lr.* <= 0.1``).

    Ambiguities are resolved as follows. Text with no operator is a (key) regex. A key made
    only of word characters, dots and hyphens (``lr``, ``opt.lr``) is looked up literally,
    dots walking into nested dicts; anything else is a regex. ``0.01 > lr`` (a number left
    of a single operator) is read as ``lr < 0.01``. Operator characters inside quotes or
    brackets (``(?<=x)``, ``[<>]``) are not operators; elsewhere a run of them must be one
    operator (``=<`` is an error, not ``=`` then ``<``), so quote values that contain them
    (``name == 'lr=0.1'``). Use ``null`` rather than ``~`` for None.

    Raises:
        ConfigError: malformed text (unknown operator, missing key or value, unbalanced
            quotes or brackets, invalid regex), naming ``text`` and ``source``.
    """
    where = f"condition {text!r} ({source})"
    parts = _split(text, where)
    if len(parts) == 1:
        return Condition(text, *_key(parts[0], where, required=True))
    ops = parts[1::2]
    for op in ops:
        if op not in OPS:
            raise _bad(where, _unknown_op(op))
    if len(ops) > 2:
        raise _bad(
            where,
            f"too many operators ({' '.join(ops)}); write 'key op value' or "
            "'value op key op value', e.g. '0.001 < lr <= 0.1'.",
        )
    if ops[0] in ("~", "!~"):
        key, regex = _key(parts[0], where)
        return Condition(text, key, regex, ((ops[0], _pattern(parts[2], where)),))
    if len(ops) == 1:
        return _comparison(text, parts[0], ops[0], parts[2], where)
    if "~" in ops[1]:
        raise _bad(
            where,
            "'~' cannot be used in a range; write 'value op key op value' "
            "with op in < <= == != >= >, e.g. '0.001 < lr <= 0.1'.",
        )
    key, regex = _key(parts[2], where, op=ops[1])
    low = (_FLIP[ops[0]], _value(parts[0], ops[0], where, before=True))
    return Condition(text, key, regex, (low, (ops[1], _value(parts[4], ops[1], where))))


def _comparison(text: str, left: str, op: str, right: str, where: str) -> Condition:
    if _NUMBER.fullmatch(left.strip()) and not _NUMBER.fullmatch(right.strip()):
        left, op, right = right, _FLIP[op], left
    key, regex = _key(left, where, op=op)
    return Condition(text, key, regex, ((op, _value(right, op, where)),))


def _bad(where: str, detail: str) -> _errors.ConfigError:
    return _errors.ConfigError(detail, source=where)


def _unknown_op(op: str) -> str:
    hint = f"; did you mean {_HINTS[op]!r}?" if op in _HINTS else "."
    return (
        f"unknown operator {op!r}{hint} Operators: {' '.join(OPS)}; quote values that "
        "contain them, e.g. \"name == 'a=b'\"."
    )


def _split(text: str, where: str) -> list[str]:
    """Split at operator runs outside quotes and brackets: [part, op, part, op, part]."""
    out: list[str] = []
    stack: list[str] = []
    start = i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if stack and stack[-1] == "]":  # Inside [...] only the nesting of [ and ] counts.
            if c == "[":
                stack.append("]")
            elif c == "]":
                stack.pop()
        elif c in "'\"":
            end = _quote_end(text, i)
            if end < 0:
                raise _bad(where, f"unbalanced quote {c} at position {i}; close it.")
            i = end
        elif c in _OPENERS:
            stack.append(_OPENERS[c])
        elif c in ")}]":
            if not stack or stack[-1] != c:
                raise _bad(where, f"unbalanced {c!r} at position {i}; escape it as '\\{c}'.")
            stack.pop()
        elif c in _OP_CHARS and not stack:
            j = i
            while j < len(text) and text[j] in _OP_CHARS:
                j += 1
            out += [text[start:i], text[i:j]]
            start = i = j
            if out[-1] in ("~", "!~"):  # The rest is a regex, taken verbatim.
                break
            continue
        i += 1
    if stack:  # Never after a "~": operators only count outside brackets.
        opener = {v: k for k, v in _OPENERS.items()}[stack[-1]]
        raise _bad(
            where, f"unbalanced {opener!r}: never closed; close it or escape it as '\\{opener}'."
        )
    return [*out, text[start:]]


def _quote_end(text: str, i: int) -> int:
    quote, j = text[i], i + 1
    while j < len(text):
        if quote == '"' and text[j] == "\\":
            j += 2
        elif text[j] == quote and quote == "'" and text[j + 1 : j + 2] == "'":
            j += 2  # '' is an escaped quote in YAML single-quoted text.
        elif text[j] == quote:
            return j
        else:
            j += 1
    return -1


def _unquote(part: str) -> str:
    part = part.strip()
    if len(part) >= 2 and part[0] == part[-1] and part[0] in "'\"":
        try:
            value = _yaml.load(part)
        except _errors.YamlError:
            return part[1:-1]
        return value if isinstance(value, str) else part[1:-1]
    return part


def _key(
    part: str, where: str, *, op: str = "", required: bool = False
) -> tuple[str, re.Pattern[str] | None]:
    key = _unquote(part)
    if not key:
        what = f"nothing before {op!r}" if op else "empty condition"
        raise _bad(
            where,
            f"{what}; expected a parameter, message or field name (or a "
            "regex over them), e.g. 'lr<0.01' or 'status==finished'.",
        )
    if _PLAIN_KEY.fullmatch(key) and not required:
        return key, None
    return key, _compile(key, where, "key regex")


def _compile(text: str, where: str, what: str) -> re.Pattern[str]:
    try:
        with warnings.catch_warnings():
            # re warns about constructs like "[[" that may change meaning in future Pythons;
            # the user's pattern works as written today, so the warning is only noise.
            warnings.simplefilter("ignore", FutureWarning)
            return re.compile(text)
    except (re.error, OverflowError, RecursionError) as exc:
        raise _bad(where, f"invalid {what} {text!r}: {exc}.") from None


def _pattern(part: str, where: str) -> re.Pattern[str]:
    text = _unquote(part)
    if not text:
        raise _bad(where, "nothing after '~'; expected a regex, e.g. \"name ~ '^lr'\".")
    return _compile(text, where, "regex")


def _value(part: str, op: str, where: str, *, before: bool = False) -> Any:
    text = part.strip()
    if not text:
        side = "before" if before else "after"
        raise _bad(where, f"nothing {side} {op!r}; expected a value, e.g. 'lr<0.01'.")
    try:
        value = _yaml.load(text)
    except (_errors.YamlError, RecursionError):
        return text
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return text if isinstance(value, Mapping) else value


# --------------------------------------------------------------------------- matching


_NOT_MAPPINGS = frozenset({int, float, str, bool, list, tuple, type(None)})


def _is_map(value: Any) -> TypeGuard[Mapping[Any, Any]]:
    """isinstance(value, Mapping), without the slow ABC check for the usual types."""
    kind = type(value)
    return kind is dict or (kind not in _NOT_MAPPINGS and isinstance(value, Mapping))


def flatten(d: Mapping[Any, Any], sep: str = ".", parent_key: str = "") -> dict[str, Any]:
    """Flatten nested mappings, joining keys with ``sep`` (xmen ``flatten``; lists stay values).

    Example:
        >>> flatten({"opt": {"lr": 0.1, "betas": [0.9, 0.99]}, "epochs": 3})
        {'opt.lr': 0.1, 'opt.betas': [0.9, 0.99], 'epochs': 3}
    """
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{parent_key}{sep}{k}" if parent_key else str(k)
        if _is_map(v):
            out.update(flatten(v, sep, key))
        else:
            out[key] = v
    return out


def _dig(d: Any, key: str) -> Any:
    """Look ``key`` up in nested dicts, where each dot may separate two levels."""
    if not _is_map(d):
        return MISSING
    if key in d:
        return d[key]
    dot = key.find(".")
    while dot > 0:
        found = _dig(d.get(key[:dot]), key[dot + 1 :])
        if found is not MISSING:
            return found
        dot = key.find(".", dot + 1)
    return MISSING


def lookup(row: Mapping[str, Any], key: str) -> Any:
    """Return a row's value for ``key``: params, then messages, then top-level fields.

    Dots walk into nested dicts (``opt.lr``, ``version.git.commit``); MISSING when absent.
    """
    params = row.get("params")
    if type(params) is dict and key in params:  # The common case, without the walk.
        return params[key]
    for where in (params, row.get("messages"), row):
        value = _dig(where, key)
        if value is not MISSING:
            return value
    return MISSING


def _candidates(row: Mapping[str, Any], regex: re.Pattern[str]) -> list[Any]:
    """Values of the parameters (flattened) and messages whose key fully matches ``regex``."""
    full = regex.fullmatch
    params = row.get("params")
    if not _is_map(params):
        params = {}
    flat = flatten(params) if any(_is_map(v) for v in params.values()) else params
    found = [v for k, v in flat.items() if full(str(k))]
    messages = row.get("messages")
    if _is_map(messages):
        found += [v for k, v in messages.items() if isinstance(k, str) and full(k)]
    return found


_KINDS = {bool: "bool", int: "number", float: "number", str: "str", list: "list", tuple: "list"}


def _kind(value: Any) -> str:
    kind = _KINDS.get(type(value))  # Exact types first: the common case, and fast.
    if kind is not None:
        return kind
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "list" if isinstance(value, (list, tuple)) else type(value).__name__


def format_value(value: Any, missing: str = "") -> str:
    """Render a cell: YAML-like scalars (``true``, ``null``, ``nan``), ``[a, b]``, ``{k: v}``."""
    if value is MISSING:
        return missing
    if value is None or isinstance(value, bool):
        return _text(value)
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {format_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def _text(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return value if isinstance(value, str) else format_value(value)


def _same(a: Any, b: Any) -> bool:
    if _kind(a) != _kind(b):
        return False
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - an odd value's __eq__ must not break a query.
        return False


def compare(value: Any, op: str, ref: Any) -> bool:
    """Return ``value op ref``; False (never an exception) when the types do not compare.

    Values of different kinds (number, bool, str, null, list, ...) are never equal, so
    ``==`` is False and ``!=`` is True between them; ``< <= >= >`` are False. NaN equals NaN.
    ``~``/``!~`` take a compiled regex and search the value's text.
    """
    order = _ORDER.get(op)
    if order is not None and type(value) in _NUMBERS and type(ref) in _NUMBERS:
        return bool(order(value, ref))  # The common case: plain int/float, no checks needed.
    if op in ("~", "!~"):
        found = ref.search(_text(value)) is not None
        return found if op == "~" else not found
    if op in ("==", "!="):
        return _same(value, ref) is (op == "==")
    if _kind(value) != _kind(ref):
        return False
    try:
        return bool(_ORDER[op](value, ref))
    except Exception:  # noqa: BLE001 - e.g. None < None, or lists holding mixed types.
        return False


_NUMBERS = frozenset({int, float})


def _holds(row: Mapping[str, Any], cond: Condition, missing_entry: bool | str) -> bool:
    if cond.regex is None:
        value = lookup(row, cond.key)
        if value is MISSING:
            return bool(missing_entry)
        return all(compare(value, op, ref) for op, ref in cond.tests)
    values = _candidates(row, cond.regex)
    if not values:
        return bool(missing_entry)
    return any(all(compare(v, op, ref) for op, ref in cond.tests) for v in values)


def matches(
    row: Mapping[str, Any], conditions: Sequence[Condition], *, missing_entry: bool | str = False
) -> bool:
    """Return whether ``row`` satisfies every condition (AND).

    A condition whose key is absent from the row (no literal key, or no key matching its
    regex) is False, or True when ``missing_entry`` is truthy (xmen: rows missing a key are
    kept and show ``missing_entry`` there). Never raises for odd values.
    """
    return all(_holds(row, c, missing_entry) for c in conditions)


# --------------------------------------------------------------------------- selecting


def _statuses() -> tuple[str, ...]:
    from ._core import status

    return status.STATUSES


def select(
    rows: Iterable[R],
    *,
    pattern: str | None = None,
    where: Sequence[str | Condition] = (),
    status: Sequence[str] = (),
    types_match: str | None = None,
    missing_entry: bool | str = False,
    sort: str | None = None,
    limit: int | None = None,
) -> list[R]:
    """Filter, sort and truncate rows; all arguments are checked before any row is read.

    Args:
        pattern: a glob over the row's name (over its path when the pattern contains a
            ``/``), or a regex searched in the name when it starts with ``re:``.
        where: conditions (text, see :func:`parse_condition`, or parsed), all must hold.
        status: keep rows whose status is one of these.
        types_match: a regex searched in ``module:function`` (or ``module:class``) of the
            row's ``version``.
        missing_entry: keep rows that lack a key a condition names (truthy), or drop them;
            a string is meant to be shown in those cells (``render_csv(missing=...)``).
        sort: a key (see :func:`lookup`), ``-key`` for descending; missing values go last.
        limit: keep at most this many rows (after sorting).

    Raises:
        ConfigError: every malformed argument, reported together in one message.
    """
    keep = row_test(
        pattern=pattern, where=where, status=status, types_match=types_match,
        missing_entry=missing_entry, limit=limit,
    )
    out = [row for row in rows if keep(row)]
    if sort:
        out = sort_rows(out, sort)
    return out if limit is None else out[:limit]


def row_test(
    *,
    pattern: str | None = None,
    where: Sequence[str | Condition] = (),
    status: Sequence[str] = (),
    types_match: str | None = None,
    missing_entry: bool | str = False,
    limit: int | None = None,
) -> Callable[[Mapping[str, Any]], bool]:
    """The filter of :func:`select` as one test on a row, to apply while rows are read.

    Raises:
        ConfigError: every malformed argument, reported together in one message.
    """
    problems: list[_errors.ConfigError] = []
    tests = _filters(pattern, where, status, types_match, missing_entry, problems)
    if limit is not None and limit < 0:
        problems.append(_bad(f"limit {limit!r} (option --limit)", "expected 0 or more."))
    if problems:
        raise _join(problems)
    if not tests:
        return lambda row: True
    if len(tests) == 1:
        return tests[0]
    return lambda row: all(test(row) for test in tests)


def prefilter(
    where: Sequence[str | Condition] = (), status: Sequence[str] = ()
) -> Callable[[Mapping[str, Any], str], bool] | None:
    """A test on a row's parameters and status alone, for rows not built yet (pushdown).

    It returns False only for rows that :func:`select` would drop with these ``where`` and
    ``status`` (a condition on a literal key that the parameters hold is decided by them,
    since :func:`lookup` looks there first); anything else passes, to be decided on the
    built row. None when there is nothing to decide early. Call it after :func:`row_test`
    has checked the arguments.
    """
    conditions = [c if isinstance(c, Condition) else parse_condition(c) for c in where]
    literal = [(c.key, c.tests) for c in conditions if c.regex is None]
    wanted = frozenset(status)
    if not literal and not wanted:
        return None

    def test(params: Mapping[str, Any], row_status: str) -> bool:
        if wanted and row_status not in wanted:
            return False
        for key, tests in literal:
            if key in params:
                value = params[key]
                if not all(compare(value, op, ref) for op, ref in tests):
                    return False
        return True

    return test


def _join(problems: list[_errors.ConfigError]) -> _errors.ConfigError:
    if len(problems) == 1:
        return problems[0]
    return _errors.ConfigError(" ".join(str(p) for p in problems))


def _filters(
    pattern: str | None,
    where: Sequence[str | Condition],
    status: Sequence[str],
    types_match: str | None,
    missing_entry: bool | str,
    problems: list[_errors.ConfigError],
) -> list[Callable[[Mapping[str, Any]], bool]]:
    tests: list[Callable[[Mapping[str, Any]], bool]] = []
    try:
        if pattern is not None:
            tests.append(_name_test(pattern))
        if types_match is not None:
            where_t = f"type regex {types_match!r} (option --types)"
            search = _compile(types_match, where_t, "regex").search
            tests.append(lambda row: search(_type_of(row)) is not None)
    except _errors.ConfigError as exc:
        problems.append(exc)
    if status:
        known = _statuses()
        for s in status:
            if s not in known:
                hint = _errors.did_you_mean(s, known)
                problems.append(
                    _bad(
                        f"status {s!r} (option --status)",
                        (
                            f"unknown status{f'; did you mean {hint!r}?' if hint else '.'} "
                            f"Known: {', '.join(known)}."
                        ),
                    )
                )
        wanted = frozenset(status)
        tests.append(lambda row: row.get("status") in wanted)
    conditions: list[Condition] = []
    for text in where:
        try:
            conditions.append(text if isinstance(text, Condition) else parse_condition(text))
        except _errors.ConfigError as exc:
            problems.append(exc)
    if conditions:
        tests.append(lambda row: matches(row, conditions, missing_entry=missing_entry))
    return tests


def _name_test(pattern: str) -> Callable[[Mapping[str, Any]], bool]:
    if pattern.startswith("re:"):
        where = f"pattern {pattern!r} (argument PATTERN)"
        search = _compile(pattern[3:], where, "regex").search
        return lambda row: search(str(row.get("name", ""))) is not None
    field = "path" if "/" in pattern else "name"
    match = re.compile(fnmatch.translate(pattern)).match
    return lambda row: match(str(row.get(field, ""))) is not None


def _type_of(row: Mapping[str, Any]) -> str:
    version = row.get("version")
    if not isinstance(version, Mapping):
        return ""
    attr = version.get("function") or version.get("class") or ""
    return f"{version.get('module') or ''}:{attr}"


def _sort_key(value: Any) -> tuple[int, Any, str]:
    kind = _kind(value)
    if kind == "number":
        return (0, value, "")
    if kind == "bool":
        return (1, int(value), "")
    return (2, 0, value) if kind == "str" else (3, 0, _text(value))


def sort_rows(rows: Sequence[R], key: str) -> list[R]:
    """Sort rows by ``key`` (``-key`` descending, stable); missing values and NaN go last.

    Numbers sort before booleans, then strings, then anything else by its text.

    Raises:
        ConfigError: an empty key, or a key that no row has.
    """
    name = key[1:] if key.startswith(("-", "+")) else key
    present: list[tuple[tuple[int, Any, str], R]] = []
    absent: list[R] = []
    seen = False
    for row in rows:
        value = lookup(row, name)
        seen = seen or value is not MISSING
        if value is MISSING or (isinstance(value, float) and math.isnan(value)):
            absent.append(row)
        else:
            present.append((_sort_key(value), row))
    if not name or (rows and not seen):
        known = _known_keys(rows)
        hint = _errors.did_you_mean(name, known)
        raise _bad(
            f"sort key {key!r} (option --sort)",
            (
                f"no experiment has this key{f'; did you mean {hint!r}?' if hint else '.'} "
                f"Known: {', '.join(known[:30])}{' ...' if len(known) > 30 else ''}."
            ),
        )
    present.sort(key=lambda pair: pair[0], reverse=key.startswith("-"))
    return [row for _, row in present] + absent


def _known_keys(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(flatten(_mapping(row.get("params")))))
        keys.update(dict.fromkeys(_mapping(row.get("messages"))))
    keys.update(dict.fromkeys(f for f in FIELDS if f not in ("params", "messages")))
    return list(keys)


def _mapping(value: Any) -> Mapping[Any, Any]:
    return value if isinstance(value, Mapping) else {}


def varying_params(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Return the flattened parameter keys whose values differ across rows, first-seen order.

    A key present in some rows but not others varies. Corrupt rows (``error`` set) are
    ignored, since they have no parameters to compare.
    """
    flats = [flatten(_mapping(r.get("params"))) for r in rows if not r.get("error")]
    order: dict[str, None] = {}
    for flat in flats:
        order.update(dict.fromkeys(flat))
    out = []
    for key in order:
        first = flats[0].get(key, MISSING)
        if any(_differs(flat.get(key, MISSING), first) for flat in flats[1:]):
            out.append(key)
    return out


def _differs(a: Any, b: Any) -> bool:
    if a is MISSING or b is MISSING:
        return a is not b
    return not _same(a, b)
