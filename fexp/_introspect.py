"""Parameter introspection: signature, ``# @p`` comments (tokenize) and docstrings -> ParamSpecs.

Pure over source text: it reads source through ``inspect`` and never runs the experiment;
casting lives in ``_params`` and rendering of files elsewhere.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import io
import keyword
import pathlib
import re
import sys
import textwrap
import tokenize
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from . import _errors, _params

_F = TypeVar("_F", bound=Callable[..., Any])
_ROOT_NAMES = frozenset({"Root", "Experiment"})
_OPEN, _CLOSE = frozenset("([{"), frozenset(")]}")
# Not every standard-library name: a user's own `test.py` or `code.py` must still be read.
_GENERIC_BASE_MODULES = frozenset({"builtins", "abc", "typing", "typing_extensions"})
_LAYOUT = frozenset({tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                     tokenize.ENCODING})
# Tool pragmas (noqa, type: ignore, pragma: no cover ...) are not help texts, neither alone
# nor when they follow the help text on the same line.
_PRAGMAS = r"(?:noqa\b|type:|pragma\b|pylint:|fmt:|isort:|nosec\b|mypy:|ruff:|pyright:)"
_PRAGMA = re.compile(_PRAGMAS, re.IGNORECASE)
_PRAGMA_TAIL = re.compile(r"\s+#\s*" + _PRAGMAS + ".*$", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class FunctionInfo:
    """What a functional experiment declares: description, root argument and parameters."""

    description: str
    root_name: str
    specs: tuple[_params.ParamSpec, ...]


@dataclasses.dataclass(frozen=True)
class ClassInfo:
    """What a class experiment declares: description and ``# @p`` parameters (MRO order)."""

    description: str
    specs: tuple[_params.ParamSpec, ...]


# -- comments (tokenize) ------------------------------------------------------------------


@dataclasses.dataclass
class _Comment:
    parts: list[str]
    marked: bool  # carried the `@p` marker
    column: int  # where the commented statement or parameter starts
    row: int  # the row of the latest part, for continuation lines
    weak: bool  # found on the first line of a multi-line value, not where it ends

    @property
    def text(self) -> str:
        return " ".join(part for part in self.parts if part)


def _parse_comment(raw: str) -> tuple[str, bool] | None:
    """Return (text, marked) of a ``#`` comment token, or None for a tool pragma."""
    body = _PRAGMA_TAIL.sub("", raw[1:]).strip()
    if body.startswith(":"):  # Sphinx's `#:` attribute comments.
        body = body[1:].strip()
    if body == "@p" or body.startswith(("@p ", "@p\t")):
        return body[2:].strip(), True
    if _PRAGMA.match(body):
        return None
    return body, False


class _CommentBook:
    """Comments by owner name; comment-only lines right below a comment continue it."""

    def __init__(self) -> None:
        self.comments: dict[str, _Comment] = {}
        self.owner: str | None = None

    def trailing(self, owner: str | None, tok: tokenize.TokenInfo, column: int,
                 weak: bool = False) -> None:
        parsed = _parse_comment(tok.string)
        self.owner = None
        if owner is None or parsed is None:
            return
        old = self.comments.get(owner)
        if old is not None and not (old.weak and (parsed[1] or not old.marked)):
            return
        self.comments[owner] = _Comment([parsed[0]], parsed[1], column, tok.start[0], weak)
        self.owner = owner

    def standalone(self, tok: tokenize.TokenInfo) -> None:
        comment = self.comments.get(self.owner) if self.owner is not None else None
        parsed = _parse_comment(tok.string)
        # A continuation is indented past its owner's start: a comment at the owner's own
        # column introduces what follows (e.g. a section heading), it does not continue.
        if (comment is None or parsed is None or tok.start[0] != comment.row + 1
                or tok.start[1] <= comment.column):
            self.owner = None
            return
        comment.parts.append(parsed[0])
        comment.row = tok.start[0]

    def interrupt(self) -> None:
        self.owner = None


class _SignatureScanner:
    """Walks the tokens of one ``def`` header and files each comment under its parameter."""

    def __init__(self) -> None:
        self.book = _CommentBook()
        self.phase = "header"  # header -> params -> tail -> (done)
        self.seen_def = False
        self.depth = 0
        self.expecting = False
        self.current: tokenize.TokenInfo | None = None  # the name of the open parameter
        self.ended: tokenize.TokenInfo | None = None  # the parameter closed by the last comma
        self.last: tuple[tokenize.TokenInfo, int] | None = None  # last parameter, end row
        self.prev: tokenize.TokenInfo | None = None

    def feed(self, tok: tokenize.TokenInfo) -> bool:
        """Consume one token; return True once the header is over."""
        if tok.type == tokenize.COMMENT:
            self._comment(tok)
            return False
        if tok.type in _LAYOUT:
            return tok.type == tokenize.NEWLINE and self.phase == "tail"
        self.book.interrupt()
        if self.phase == "header":
            self._header(tok)
        elif self.phase == "params":
            self._param(tok)
        self.prev = tok
        return tok.type == tokenize.ENDMARKER

    def _header(self, tok: tokenize.TokenInfo) -> None:
        if tok.type == tokenize.NAME and tok.string == "def":
            self.seen_def = True
        elif self.seen_def and tok.type == tokenize.OP:
            if tok.string == "(" and self.depth == 0:
                self.phase, self.depth, self.expecting = "params", 1, True
            else:
                self.depth += (tok.string in _OPEN) - (tok.string in _CLOSE)

    def _param(self, tok: tokenize.TokenInfo) -> None:
        if tok.type == tokenize.OP and tok.string in _OPEN:
            self.depth += 1
        elif tok.type == tokenize.OP and tok.string in _CLOSE:
            self.depth -= 1
            if self.depth == 0:
                self._end(self.prev.end[0] if self.prev else tok.start[0])
                self.phase = "tail"
        elif self.depth == 1 and tok.type == tokenize.OP and tok.string == ",":
            self._end(tok.start[0])
            self.expecting = True
        elif self.depth == 1 and self.expecting and tok.type == tokenize.NAME:
            self.current, self.expecting = tok, False

    def _end(self, row: int) -> None:
        self.ended = self.current
        if self.current is not None:
            self.last = (self.current, row)
        self.current = None

    def _comment(self, tok: tokenize.TokenInfo) -> None:
        if self.prev is None or self.prev.end[0] != tok.start[0]:
            self.book.standalone(tok)
            return
        owner, weak = None, False
        if self.phase == "params" and self.depth > 1:
            # Inside a multi-line default: only a comment on the parameter's first line counts.
            if self.current is not None and self.current.start[0] == tok.start[0]:
                owner, weak = self.current, True
        elif self.phase == "params":
            owner = self.ended if self.prev.string == "," else self.current
        elif self.phase == "tail" and self.prev.string == ":" and self.last is not None:
            owner = self.last[0] if self.last[1] == tok.start[0] else None
        if owner is None:
            self.book.trailing(None, tok, 0)
        else:
            self.book.trailing(owner.string, tok, owner.start[1], weak)


class _ClassScanner:
    """Walks the tokens of one ``class`` and files trailing comments under body attributes."""

    def __init__(self) -> None:
        self.book = _CommentBook()
        self.in_body = False
        self.seen_class = False
        self.depth = 0
        self.level = 0
        self.statement: list[tokenize.TokenInfo] = []
        self.prev: tokenize.TokenInfo | None = None

    def feed(self, tok: tokenize.TokenInfo) -> bool:
        """Consume one token; return True once the class body is over."""
        if tok.type == tokenize.COMMENT:
            self._comment(tok)
        elif tok.type == tokenize.INDENT and self.in_body:
            self.level += 1
        elif tok.type == tokenize.DEDENT and self.in_body:
            self.level -= 1
            return self.level <= 0
        elif tok.type == tokenize.NEWLINE and self.in_body:
            one_liner = self.level == 0 and bool(self.statement)  # `class A: x = 1`
            self.statement = []
            return one_liner
        elif tok.type not in _LAYOUT:
            self.book.interrupt()
            self._significant(tok)
            self.prev = tok
        return tok.type == tokenize.ENDMARKER

    def _significant(self, tok: tokenize.TokenInfo) -> None:
        if tok.type == tokenize.OP:
            self.depth += (tok.string in _OPEN) - (tok.string in _CLOSE)
        if not self.in_body:
            self.seen_class = self.seen_class or (tok.type == tokenize.NAME
                                                  and tok.string == "class")
            self.in_body = self.seen_class and tok.string == ":" and self.depth == 0
        elif self.level <= 1:
            if tok.string == ";" and self.depth == 0:
                self.statement = []
            else:
                self.statement.append(tok)

    def _attribute(self) -> tokenize.TokenInfo | None:
        stmt = self.statement
        if (len(stmt) >= 2 and stmt[0].type == tokenize.NAME and not keyword.iskeyword(
                stmt[0].string) and stmt[1].type == tokenize.OP and stmt[1].string in (":", "=")):
            return stmt[0]
        return None

    def _comment(self, tok: tokenize.TokenInfo) -> None:
        if self.prev is None or self.prev.end[0] != tok.start[0]:
            self.book.standalone(tok)
            return
        name = self._attribute() if self.in_body and self.level <= 1 else None
        if name is None or (self.depth > 0 and name.start[0] != tok.start[0]):
            self.book.trailing(None, tok, 0)
        else:
            self.book.trailing(name.string, tok, name.start[1], weak=self.depth > 0)


def _scan(obj: Any, scanner: _SignatureScanner | _ClassScanner) -> dict[str, _Comment] | None:
    """Feed ``obj``'s source to ``scanner``; None when the source is unavailable."""
    try:
        source = inspect.getsource(obj)
    except (OSError, TypeError):
        return None
    readline = io.StringIO(textwrap.dedent(source)).readline
    try:
        for tok in tokenize.generate_tokens(readline):
            if scanner.feed(tok):
                break
    except (tokenize.TokenError, SyntaxError):
        pass  # Only text after the part we read can be malformed; keep what was read.
    return scanner.book.comments


# -- docstrings -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Docstring:
    description: str
    helps: Mapping[str, str]


# A Google section header ("Args:"), a NumPy underline ("-----") or a reST field (":param").
_SECTIONED = re.compile(r"^\s*[A-Z][A-Za-z ]*:\s*$|^\s*-{3,}\s*$|^\s*:\w+", re.M)


def _parse_docstring(doc: str | None) -> _Docstring:
    """Split a docstring (Google, NumPy, reST) into description and per-parameter help."""
    if not doc or not doc.strip():
        return _Docstring("", {})
    text = inspect.cleandoc(doc)
    if not _SECTIONED.search(text):
        # No "Args:", NumPy underline or ":param": all description. Skipping the parser
        # keeps it (and its import) off every experiment launch and --help.
        return _Docstring(text.strip(), {})
    import docstring_parser

    try:
        parsed = docstring_parser.parse(text)
    except docstring_parser.ParseError:
        return _Docstring(text, {})
    gap = "\n\n" if parsed.blank_after_short_description else "\n"
    parts = [p.strip() for p in (parsed.short_description, parsed.long_description) if p]
    helps: dict[str, str] = {}
    for param in parsed.params:
        for name in param.arg_name.split(","):
            if param.description and name.strip():
                helps[name.strip().lstrip("*")] = " ".join(param.description.split())
    return _Docstring(gap.join(p for p in parts if p), helps)


# -- annotations and specs -------------------------------------------------------------------


def _qualified_name(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _location(obj: Any) -> str | None:
    code = getattr(inspect.unwrap(obj), "__code__", None)
    return f"{code.co_filename}:{code.co_firstlineno}" if code is not None else None


def _resolve(annotation: Any, globalns: dict[str, Any], localns: Mapping[str, Any] | None,
             where: str, name: str) -> Any:
    """Evaluate a string annotation (``from __future__ import annotations``)."""
    if not isinstance(annotation, str):
        return annotation
    try:
        return eval(annotation, globalns, localns)  # As typing.get_type_hints does.
    except Exception as exc:
        raise _errors.ConfigError(
            f"{where}: cannot resolve the annotation {annotation!r} of parameter {name!r} "
            f"({type(exc).__name__}: {exc}); import the names it uses at module level."
        ) from None


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated``, ``ClassVar`` and ``Final`` wrappers, which do not change the type."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Annotated, typing.ClassVar, typing.Final):
        args = typing.get_args(annotation)
        return _unwrap(args[0]) if args else typing.Any
    return annotation


def _resolved_signature(fn: Callable[..., Any], where: str) -> inspect.Signature:
    """The one place where a function's annotations are resolved."""
    try:
        return inspect.signature(fn, eval_str=True)
    except Exception:  # Diagnosed annotation by annotation below.
        pass
    try:
        raw = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise _errors.ConfigError(f"{where}: not a function fexp can inspect ({exc}).") from None
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = {}
    globalns = getattr(inspect.unwrap(fn), "__globals__", {})
    parameters = []
    for index, param in enumerate(raw.parameters.values()):
        annotation = hints.get(param.name, param.annotation)
        if not (index == 0 and _names_root(annotation)):  # The root's type is never needed.
            annotation = _resolve(annotation, globalns, None, where, param.name)
        parameters.append(param.replace(annotation=annotation))
    return raw.replace(parameters=parameters)


def _names_root(annotation: Any) -> bool:
    """True for ``Root``, ``Experiment``, their subclasses and strings naming them."""
    if isinstance(annotation, str):
        return annotation.strip().strip("'\"").rsplit(".", 1)[-1] in _ROOT_NAMES
    return isinstance(annotation, type) and any(c.__name__ in _ROOT_NAMES
                                                for c in annotation.__mro__)


def _make_spec(name: str, annotation: Any, default: Any, help_: str) -> _params.ParamSpec:
    """Build a spec with its default cast to its annotation; ParamError when it does not fit."""
    if annotation is inspect.Parameter.empty:
        annotation = _params.annotation_from_default(default)
    spec = _params.ParamSpec(name, _unwrap(annotation), default, help_)
    return dataclasses.replace(spec, default=_params.cast_value(spec, default))


def _default_problem(name: str, default: Any, exc: _errors.ParamError) -> str:
    reason = f" ({exc.reason})" if exc.reason else ""
    return (f"the default {default!r} of parameter {name!r} does not fit its annotation "
            f"{exc.expected}{reason}.")


def _parameter_problem(param: inspect.Parameter) -> str | None:
    kind = param.kind
    if kind is param.VAR_POSITIONAL or kind is param.VAR_KEYWORD:
        stars = "*" if kind is param.VAR_POSITIONAL else "**"
        return (f"'{stars}{param.name}' is not allowed; an experiment takes named parameters "
                "with defaults only.")
    if kind is param.POSITIONAL_ONLY:
        return (f"parameter {param.name!r} is positional-only; parameters are passed by name, "
                "so put them after the '/'.")
    if param.default is param.empty:
        return (f"parameter {param.name!r} has no default; every parameter after the root "
                f"needs one, e.g. `{param.name}: int = 0`.")
    return None


def _root_problem(parameters: list[inspect.Parameter]) -> str | None:
    first = parameters[0] if parameters else None
    if first is not None and first.kind in (first.POSITIONAL_ONLY, first.POSITIONAL_OR_KEYWORD):
        if first.name == "root" or _names_root(first.annotation):
            return None
    got = f"got {first.name!r}" if first is not None else "it takes no arguments"
    return ("the first argument must be the experiment root, annotated `Root` "
            f"(`from fexp import Root`) or named `root`; {got}.")


def specs_from_function(fn: Callable[..., Any]) -> FunctionInfo:
    """Read a functional experiment's parameters from its signature, comments and docstring.

    Every problem found (missing root, missing defaults, ``*args``, defaults that do not fit
    their annotation) is reported together in one ``ConfigError``.

    Example:
        >>> def train(root, lr: float = 1):  # @p learning rate
        ...     pass
        >>> specs_from_function(train).specs[0].default
        1.0
    """
    where = f"experiment function {_qualified_name(fn)!r}"
    parameters = list(_resolved_signature(fn, where).parameters.values())
    doc = _parse_docstring(inspect.getdoc(fn))
    comments = _scan(fn, _SignatureScanner()) or {}
    problems = [p for p in [_root_problem(parameters)] if p]
    specs = []
    for param in parameters[1:]:
        problem = _parameter_problem(param)
        if problem is not None:
            problems.append(problem)
            continue
        comment = comments.get(param.name)
        help_ = comment.text if comment and comment.text else doc.helps.get(param.name, "")
        try:
            specs.append(_make_spec(param.name, param.annotation, param.default, help_))
        except _errors.ParamError as exc:
            problems.append(_default_problem(param.name, param.default, exc))
    if problems:
        raise _errors.ConfigError(f"{where}: " + " ".join(problems), source=_location(fn))
    return FunctionInfo(doc.description, parameters[0].name, tuple(specs))


def _is_library_class(klass: type) -> bool:
    """fexp's own bases and the usual generic bases declare no parameters."""
    module = klass.__module__ or ""
    if module in _GENERIC_BASE_MODULES:
        return True
    is_test = any(part.startswith("test") for part in module.split("."))
    return (module == "fexp" or module.startswith("fexp.")) and not is_test


def specs_from_class(cls: type) -> ClassInfo:
    """Read a class experiment's ``# @p`` attributes through its MRO, bases first.

    A subclass may override a default by plain assignment; help and annotation come from
    the nearest class that declares them, the default is ``getattr(cls, name)``.
    """
    where = f"experiment class {_qualified_name(cls)!r}"
    order: list[str] = []
    helps: dict[str, str] = {}
    doc_helps: dict[str, str] = {}
    raw: dict[str, tuple[Any, type]] = {}  # name -> (annotation, the class declaring it)
    for klass in reversed(cls.__mro__):
        comments = None if _is_library_class(klass) else _scan(klass, _ClassScanner())
        if comments is None:
            continue
        order += [n for n, c in comments.items() if c.marked and n not in order]
        doc_helps.update(_parse_docstring(klass.__dict__.get("__doc__")).helps)
        helps.update({n: c.text for n, c in comments.items() if c.marked and c.text})
        raw.update({n: (a, klass) for n, a in inspect.get_annotations(klass).items()})
    annotations = {name: _class_annotation(*raw[name], where, name)
                   for name in order if name in raw}
    return ClassInfo(_parse_docstring(cls.__dict__.get("__doc__")).description,
                     _class_specs(cls, where, order, annotations, helps, doc_helps))


def _class_annotation(annotation: Any, klass: type, where: str, name: str) -> Any:
    module = sys.modules.get(klass.__module__)
    globalns = dict(vars(module)) if module is not None else {}
    return _resolve(annotation, globalns, dict(vars(klass)), where, name)


def _class_specs(cls: type, where: str, order: list[str], annotations: Mapping[str, Any],
                 helps: Mapping[str, str], doc_helps: Mapping[str, str]
                 ) -> tuple[_params.ParamSpec, ...]:
    specs, problems = [], []
    for name in order:
        if not hasattr(cls, name):
            problems.append(f"attribute {name!r} is marked `# @p` but has no value; give it a "
                            f"default, e.g. `{name}: int = 0  # @p help`.")
            continue
        default = getattr(cls, name)
        help_ = helps.get(name) or doc_helps.get(name, "")
        annotation = annotations.get(name, inspect.Parameter.empty)
        try:
            specs.append(_make_spec(name, annotation, default, help_))
        except _errors.ParamError as exc:
            problems.append(_default_problem(name, default, exc))
    if problems:
        raise _errors.ConfigError(f"{where}: " + " ".join(problems))
    return tuple(specs)


# -- rendering -------------------------------------------------------------------------------


def param_helps(specs: Iterable[_params.ParamSpec]) -> dict[str, str]:
    """Return each parameter's help text by name, in declaration order."""
    return {spec.name: spec.help for spec in specs}


def _render_default(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, pathlib.PurePath):
        return repr(str(value))
    return repr(value)


def render_param_docs(description: str, specs: Iterable[_params.ParamSpec]) -> str:
    """Append a Google-style ``Args:`` section documenting ``specs`` to ``description``.

    Example:
        >>> print(render_param_docs("Train.", [_params.ParamSpec("lr", float, 0.1, "rate")]))
        Train.
        <BLANKLINE>
        Args:
            lr (float): rate. Defaults to 0.1.
    """
    lines = []
    for spec in specs:
        help_ = spec.help.strip()
        if help_ and not help_.endswith((".", "!", "?")):
            help_ += "."
        lead = f"{help_} " if help_ else ""
        lines.append(f"    {spec.name} ({spec.type_name}): {lead}"
                     f"Defaults to {_render_default(spec.default)}.")
    head = description.strip()
    if not lines:
        return head
    return (f"{head}\n\n" if head else "") + "Args:\n" + "\n".join(lines)


def autodoc(fn: _F) -> _F:
    """Rewrite ``fn.__doc__`` as its description plus an ``Args:`` section of every parameter.

    The help of each parameter comes from its comment or docstring entry, as for
    ``specs_from_function``; other docstring sections (``Returns:`` ...) are dropped.
    """
    info = specs_from_function(fn)
    fn.__doc__ = render_param_docs(info.description, info.specs)
    return fn
