"""Parameter introspection: comments through tokenize, docstrings, annotations, the MRO.

This module uses ``from __future__ import annotations`` on purpose: every annotation below
is a string that ``_introspect`` has to resolve. The experiments below use mutable defaults,
``Optional``/``Union`` and a semicolon on purpose, because users write them.
"""

# ruff: noqa: B006, UP007, UP045, E701, E702

from __future__ import annotations

import abc
import enum
import functools
import importlib.util
import itertools
import pathlib
import sys
import tempfile
import textwrap
import typing
from typing import Annotated, Any, Literal, Optional, Union

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fexp import _errors, _introspect
from fexp._params import ParamSpec


class Root:
    """Stands in for ``fexp.Root``: matched by name, like the real one."""


class MyRoot(Root):
    """A subclass of Root is a root too."""


T = typing.TypeVar("T")


class Color(enum.Enum):
    RED = 1
    BLUE = 2


def dec(*args: Any, **kwargs: Any) -> Any:
    """A decorator factory that changes nothing."""
    return lambda fn: fn


def specs(fn: Any) -> dict[str, ParamSpec]:
    return {spec.name: spec for spec in _introspect.specs_from_function(fn).specs}


def helps(fn: Any) -> dict[str, str]:
    return _introspect.param_helps(_introspect.specs_from_function(fn).specs)


def config_error(fn: Any) -> _errors.ConfigError:
    with pytest.raises(_errors.ConfigError) as info:
        _introspect.specs_from_function(fn)
    return info.value


# -- functions: comments ---------------------------------------------------------------------


def test_spec_example_comments_continuation_docstring_and_description() -> None:
    def train(
        root: Root,                 # the experiment itself: directory, message(), ...
        lr: float = 1,              # @p learning rate
        epochs: int = 10,           # @p number of epochs; a help text may
                                    #    continue on the next comment line
        layers: list[int] = [64, 64],  # @p hidden sizes
        dataset: str = "mnist",
    ) -> None:
        """Train a small model.

        Args:
            dataset: used when the line above carries no comment.
        """

    info = _introspect.specs_from_function(train)
    assert info.description == "Train a small model."
    assert info.root_name == "root"
    assert [s.name for s in info.specs] == ["lr", "epochs", "layers", "dataset"]
    assert info.specs[0] == ParamSpec("lr", float, 1.0, "learning rate")
    assert isinstance(info.specs[0].default, float)
    assert _introspect.param_helps(info.specs) == {
        "lr": "learning rate",
        "epochs": "number of epochs; a help text may continue on the next comment line",
        "layers": "hidden sizes",
        "dataset": "used when the line above carries no comment.",
    }


def test_hash_inside_string_default_is_not_a_comment() -> None:
    def f(root: Root, a: str = "x # not help", b: str = '#', c: str = "y"):  # c's help
        pass

    got = specs(f)
    assert (got["a"].default, got["a"].help) == ("x # not help", "")
    assert (got["b"].default, got["b"].help) == ("#", "")
    assert (got["c"].default, got["c"].help) == ("y", "c's help")


def test_comment_may_contain_hash_and_quotes() -> None:
    def f(
        root: Root,
        a: int = 1,  # @p the "a" value # with 'hash' ü
    ):
        pass

    assert helps(f) == {"a": "the \"a\" value # with 'hash' ü"}


def test_multiline_default_takes_the_comment_where_it_ends() -> None:
    def f(
        root: Root,
        a: list[int] = [
            1,  # inner comment, not help
            2,
        ],  # @p help of a
        b: str = """one
two""",  # help of b
        c: int = 3,  # help of c
    ):
        pass

    got = specs(f)
    assert got["a"].default == [1, 2]
    assert got["b"].default == "one\ntwo"
    assert helps(f) == {"a": "help of a", "b": "help of b", "c": "help of c"}


def test_first_line_comment_of_a_multiline_default_is_a_fallback() -> None:
    def f(
        root: Root,
        a: dict[str, int] = {  # @p first line help
            "x": 1,  # inner
        },
        b: list[int] = [  # first line of b
            2,
        ],  # end line of b wins
    ):
        pass

    assert helps(f) == {"a": "first line help", "b": "end line of b wins"}


def test_nested_brackets_in_annotation_and_default() -> None:
    def f(
        root: Root,
        a: dict[str, list[tuple[int, int]]] = {"k": [(1, (2)), (3, 4)]},  # @p nested
        b: int = max((1, (2 + 3))),  # @p parens
    ):
        pass

    got = specs(f)
    assert got["a"].default == {"k": [(1, 2), (3, 4)]}
    assert got["a"].annotation == dict[str, list[tuple[int, int]]]
    assert helps(f) == {"a": "nested", "b": "parens"}


def test_decorators_with_arguments_over_several_lines() -> None:
    @dec(
        "def g(x=1):  # not a parameter",  # a comment in the decorator
        key=[1, (2, 3)],
    )
    @dec()
    def f(root: Root,
          a: int = 1,  # help a
          b: int = 2):  # help b
        pass

    assert helps(f) == {"a": "help a", "b": "help b"}


def test_parameters_without_comments_have_empty_help() -> None:
    def f(root: Root, a: int = 1, b: str = "x"):
        pass

    assert helps(f) == {"a": "", "b": ""}


def test_one_line_def() -> None:
    def f(root, a=1): ...

    info = _introspect.specs_from_function(f)
    assert info.specs == (ParamSpec("a", int, 1, ""),)
    assert info.root_name == "root"


def test_one_line_def_body_comment_is_not_help() -> None:
    def f(root, a=1): return None  # about the body

    assert helps(f) == {"a": ""}


def test_keyword_only_parameters() -> None:
    def f(
        root: Root,
        a: int = 1,  # help a
        *,
        b: float = 2,  # help b
        c: str = "c",
    ):
        pass

    got = specs(f)
    assert list(got) == ["a", "b", "c"]
    assert got["b"] == ParamSpec("b", float, 2.0, "help b")
    assert helps(f) == {"a": "help a", "b": "help b", "c": ""}


def test_comment_on_closing_line_goes_to_the_last_parameter_only_on_its_line() -> None:
    def f(
        root: Root,
        a: int = 1,
    ):  # not a's help: a ended on the line above
        pass

    assert helps(f) == {"a": ""}


def test_continuation_lines_stop_at_blank_lines_code_and_own_column() -> None:
    def f(
        root: Root,
        a: int = 1,  # @p first
            # second
        # a heading at the parameter's column: not a continuation

        b: int = 2,  # @p b help

            # after a blank line: not a continuation
        c: int = 3,  # @p c help
    ):
        pass

    assert helps(f) == {"a": "first second", "b": "b help", "c": "c help"}


def test_several_parameters_on_one_line_comment_goes_to_the_last() -> None:
    def f(root: Root, a: int = 1, b: int = 2,  # help b
          c: int = 3):
        pass

    assert helps(f) == {"a": "", "b": "help b", "c": ""}


def test_pragmas_and_empty_markers_fall_back_to_the_docstring() -> None:
    def f(
        root: Root,
        a: int = 1,  # noqa: E501
        b: int = 2,  # type: ignore[assignment]
        c: int = 3,  # @p
        d: int = 4,  #: sphinx style
    ):
        """Do it.

        Args:
            a: doc a.
            b: doc b.
            c: doc c.
        """

    assert helps(f) == {"a": "doc a.", "b": "doc b.", "c": "doc c.", "d": "sphinx style"}


def test_pragma_after_the_help_is_dropped() -> None:
    def f(
        root: Root,
        a: int = 1,  # @p help a  # noqa: E501
        b: int = 2,  # help b # type: ignore[assignment]
        c: int = 3,  # help c, see issue #12
    ):
        pass

    assert helps(f) == {"a": "help a", "b": "help b", "c": "help c, see issue #12"}


def test_method_source_is_dedented() -> None:
    class Holder:
        @staticmethod
        def f(
            root: Root,
            a: int = 1,  # help a
        ):
            pass

    assert helps(Holder.f) == {"a": "help a"}


def test_functools_wraps_reads_the_wrapped_function() -> None:
    def logged(fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        return wrapper

    @logged
    def f(
        root: Root,
        a: int = 1,  # help a
    ):
        """Wrapped."""

    info = _introspect.specs_from_function(f)
    assert (info.description, info.specs) == ("Wrapped.", (ParamSpec("a", int, 1, "help a"),))


def test_source_unavailable_falls_back_to_docstring() -> None:
    namespace: dict[str, Any] = {"Root": Root}
    code = textwrap.dedent('''
        def f(root: Root, a: int = 1, b: float = 2):  # lost: no source
            """Run.

            Args:
                a: doc a
            """
    ''')
    exec(compile(code, "<generated>", "exec"), namespace)
    info = _introspect.specs_from_function(namespace["f"])
    assert info.description == "Run."
    assert info.specs == (ParamSpec("a", int, 1, "doc a"), ParamSpec("b", float, 2.0, ""))


# -- functions: docstrings ---------------------------------------------------------------------


def test_google_docstring() -> None:
    def f(root: Root, a: int = 1, b: str = "x"):
        """Short summary.

        Longer description
        on two lines.

        Args:
            a (int): the a
                continued.
            b: the b.

        Returns:
            Nothing.
        """

    info = _introspect.specs_from_function(f)
    assert info.description == "Short summary.\n\nLonger description\non two lines."
    assert _introspect.param_helps(info.specs) == {"a": "the a continued.", "b": "the b."}


def test_numpy_docstring() -> None:
    def f(root: Root, a: int = 1, b: str = "x", c: int = 0):
        """Short summary.

        Parameters
        ----------
        a : int
            the a
        b, c
            shared help
        """

    info = _introspect.specs_from_function(f)
    assert info.description == "Short summary."
    assert _introspect.param_helps(info.specs) == {
        "a": "the a", "b": "shared help", "c": "shared help"}


def test_rest_docstring() -> None:
    def f(root: Root, a: int = 1, b: str = "x"):
        """Short summary.

        :param a: the a
        :param str b: the b
        """

    info = _introspect.specs_from_function(f)
    assert info.description == "Short summary."
    assert _introspect.param_helps(info.specs) == {"a": "the a", "b": "the b"}


def test_comment_wins_over_docstring() -> None:
    def f(root: Root, a: int = 1):  # from the comment
        """Doc.

        Args:
            a: from the docstring
        """

    assert helps(f) == {"a": "from the comment"}


def test_no_docstring_gives_empty_description() -> None:
    def f(root: Root, a: int = 1):
        pass

    assert _introspect.specs_from_function(f).description == ""


# -- functions: root, annotations and types --------------------------------------------------------


def test_root_by_annotation_subclass_or_name() -> None:
    def by_annotation(r: Root, a: int = 1):
        pass

    def by_subclass(r: MyRoot, a: int = 1):
        pass

    def by_name(root, a: int = 1):
        pass

    def by_unresolvable_string(r: fexp.Root, a: int = 1):  # noqa: F821 - never imported
        pass

    for fn in (by_annotation, by_subclass, by_unresolvable_string):
        assert _introspect.specs_from_function(fn).root_name == "r"
    assert _introspect.specs_from_function(by_name).root_name == "root"
    assert _introspect.specs_from_function(by_unresolvable_string).specs == (
        ParamSpec("a", int, 1, ""),)


class Mode(enum.Enum):
    FAST = "fast"
    SLOW = "slow"


def test_every_supported_type() -> None:
    def f(
        root: Root,
        i: int = 1.0,
        x: float = 1,
        s: str = "s",
        b: bool = False,
        o1: Optional[int] = None,
        o2: int | None = 2,
        u: Union[int, str] = "u",
        li: list[int] = [1, 2.0],
        tu: tuple[int, str] = [1, "a"],
        tv: tuple[float, ...] = (1, 2),
        d: dict[str, float] = {"a": 1},
        lit: Literal["a", "b"] = "b",
        col: Color = Color.BLUE,
        mode: Mode = "fast",
        path: pathlib.Path = "data/x.csv",
        ann: Annotated[int, "meta"] = 3,
        un=0.5,
        un_none=None,
        un_list=[1],
    ):
        pass

    got = {name: (spec.annotation, spec.default) for name, spec in specs(f).items()}
    assert got == {
        "i": (int, 1),
        "x": (float, 1.0),
        "s": (str, "s"),
        "b": (bool, False),
        "o1": (Optional[int], None),
        "o2": (int | None, 2),
        "u": (Union[int, str], "u"),
        "li": (list[int], [1, 2]),
        "tu": (tuple[int, str], (1, "a")),
        "tv": (tuple[float, ...], (1.0, 2.0)),
        "d": (dict[str, float], {"a": 1.0}),
        "lit": (Literal["a", "b"], "b"),
        "col": (Color, Color.BLUE),
        "mode": (Mode, Mode.FAST),
        "path": (pathlib.Path, pathlib.Path("data/x.csv")),
        "ann": (int, 3),
        "un": (float, 0.5),
        "un_none": (Any, None),
        "un_list": (list, [1]),
    }
    assert type(got["i"][1]) is int and type(got["x"][1]) is float
    assert [type(v) for v in got["tv"][1]] == [float, float]


def test_typing_module_aliases_resolve() -> None:
    def f(root: Root, a: typing.List[int] = [1], b: typing.Dict[str, int] = {}):  # noqa: UP006
        pass

    got = specs(f)
    assert got["a"].default == [1] and got["b"].default == {}


# -- functions: errors ------------------------------------------------------------------------


def test_missing_default() -> None:
    def f(root: Root, *, lr: float, a: int = 1):
        pass

    exc = config_error(f)
    where = f"experiment function '{__name__}.{f.__qualname__}'"
    assert exc.detail == (
        f"{where}: parameter 'lr' has no default; every parameter after the root needs one, "
        "e.g. `lr: int = 0`."
    )
    assert exc.source == f"{__file__}:{f.__code__.co_firstlineno}"
    assert str(exc) == f"{exc.source}: {exc.detail}"


def test_missing_root() -> None:
    def f(lr: float = 0.1):
        pass

    def g():
        pass

    def h(*, root: Root, a: int = 1):
        pass

    exc = config_error(f)
    assert "test_missing_root.<locals>.f" in exc.detail
    assert "first argument must be the experiment root" in exc.detail
    assert "got 'lr'" in exc.detail
    assert "it takes no arguments" in config_error(g).detail
    assert "got 'root'" in config_error(h).detail


def test_variadic_and_positional_only_parameters() -> None:
    def star(root: Root, *args: int):
        pass

    def kwargs(root: Root, a: int = 1, **extra: int):
        pass

    def posonly(root: Root, a: int = 1, /, b: int = 2):
        pass

    assert "'*args' is not allowed" in config_error(star).detail
    assert "'**extra' is not allowed" in config_error(kwargs).detail
    detail = config_error(posonly).detail
    assert "parameter 'a' is positional-only" in detail
    assert "'b'" not in detail


def test_bad_default_names_parameter_and_type() -> None:
    def f(root: Root, epochs: int = 1e-3, mode: Literal["a", "b"] = "c"):
        pass

    detail = config_error(f).detail
    assert "the default 0.001 of parameter 'epochs' does not fit its annotation int." in detail
    assert "the default 'c' of parameter 'mode' does not fit its annotation Literal['a', 'b']" \
        in detail
    assert "choose one of 'a', 'b'" in detail


def test_every_problem_is_reported_at_once() -> None:
    def f(a: int = 1, b: int = "x", *c: int, d: int):
        pass

    detail = config_error(f).detail
    for part in ("got 'a'", "parameter 'b'", "'*c'", "parameter 'd' has no default"):
        assert part in detail
    assert "\n" not in detail


def test_unresolvable_annotation_is_named() -> None:
    def f(root: Root, a: NoSuchType = 1):  # type: ignore[name-defined]  # noqa: F821
        pass

    exc = config_error(f)
    assert "cannot resolve the annotation 'NoSuchType' of parameter 'a'" in exc.detail
    assert "NameError" in exc.detail


def test_not_inspectable() -> None:
    with pytest.raises(_errors.ConfigError, match="not a function fexp can inspect"):
        _introspect.specs_from_function(dict)


# -- classes ---------------------------------------------------------------------------------


def test_class_marked_attributes_only() -> None:
    class Hello:
        """Say hello.

        Longer text.
        """

        a: int = 3  # @p help a
        b = "x"  # @p help b
                 # continued b
        # a heading at the attribute's column: not a continuation
        c: float = 1  # @p
        d = [1,
             2]  # @p help d
        e = 5  # an ordinary comment: not a parameter
        f: int = 6
        g = ("one"  # not on the line where g ends
             "two")  # @p help g

        def run(self) -> None:
            x = 1  # @p not an attribute
            del x

    info = _introspect.specs_from_class(Hello)
    assert info.description == "Say hello.\n\nLonger text."
    assert info.specs == (
        ParamSpec("a", int, 3, "help a"),
        ParamSpec("b", str, "x", "help b continued b"),
        ParamSpec("c", float, 1.0, ""),
        ParamSpec("d", list, [1, 2], "help d"),
        ParamSpec("g", str, "onetwo", "help g"),
    )


def test_class_mro_overrides_and_inherited_help() -> None:
    class Base:
        """Base.

        Attributes:
            c: doc help of c
        """

        a: int = 3  # @p help a
        b: str = "x"  # @p help b
        c: float = 1  # @p

    class Middle(Base):
        a = 5
        d: Color = Color.RED  # @p help d

    class Leaf(Middle):
        b: str = "y"  # @p new help b
        d = Color.BLUE  # a plain comment keeps the inherited help
        c = 2

    assert _introspect.specs_from_class(Leaf) == _introspect.ClassInfo("", (
        ParamSpec("a", int, 5, "help a"),
        ParamSpec("b", str, "y", "new help b"),
        ParamSpec("c", float, 2.0, "doc help of c"),
        ParamSpec("d", Color, Color.BLUE, "help d"),
    ))
    assert [s.default for s in _introspect.specs_from_class(Base).specs] == [3, "x", 1.0]


def test_class_annotation_from_nearest_declaration() -> None:
    class Base:
        a: int = 1  # @p help a
        b = 2

    class Sub(Base):
        a: float = 2.5
        b = 3  # @p now a parameter

    got = {s.name: s for s in _introspect.specs_from_class(Sub).specs}
    assert got["a"] == ParamSpec("a", float, 2.5, "help a")
    assert got["b"] == ParamSpec("b", int, 3, "now a parameter")


def test_class_first_line_comment_and_semicolons() -> None:
    class Cfg:
        layers: list[int] = [  # @p hidden sizes
            64,
            64,
        ]
        x = 1; y = 2  # @p help y

    assert _introspect.specs_from_class(Cfg).specs == (
        ParamSpec("layers", list[int], [64, 64], "hidden sizes"),
        ParamSpec("y", int, 2, "help y"),
    )


def test_class_one_liner_nested_class_and_blocks() -> None:
    class One: a = 1  # @p one-liner

    class Outer:
        class Inner:
            z = 1  # @p belongs to Inner only

        if True:
            q = 2  # @p inside a block: not a class-level declaration
        b = {"x": 1,
             "y": 2}  # @p help b
        match = 3  # @p a soft keyword is a valid name

    assert _introspect.specs_from_class(One).specs == (ParamSpec("a", int, 1, "one-liner"),)
    assert _introspect.specs_from_class(Outer).specs == (
        ParamSpec("b", dict, {"x": 1, "y": 2}, "help b"),
        ParamSpec("match", int, 3, "a soft keyword is a valid name"),
    )
    assert [s.name for s in _introspect.specs_from_class(Outer.Inner).specs] == ["z"]


def test_class_bases_without_source_are_skipped() -> None:
    Dynamic = type("Dynamic", (), {"a": 1, "__doc__": "Dyn.\n\nArgs:\n    a: doc a"})

    class Sub(Dynamic):  # type: ignore[valid-type, misc]
        b: int = 2  # @p help b

    assert _introspect.specs_from_class(Sub).specs == (ParamSpec("b", int, 2, "help b"),)


def test_class_with_generic_and_abstract_bases() -> None:
    class Typed(typing.Generic[T], abc.ABC):
        a: int = 1  # @p help a

    assert _introspect.specs_from_class(Typed).specs == (ParamSpec("a", int, 1, "help a"),)


def test_class_from_fexp_package_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    class LibraryBase:
        hidden: int = 1  # @p would be a parameter if it were user code

    class User(LibraryBase):
        a: int = 2  # @p help a

    monkeypatch.setitem(sys.modules, "fexp._fake_base", sys.modules[__name__])
    assert [s.name for s in _introspect.specs_from_class(User).specs] == ["hidden", "a"]
    monkeypatch.setattr(LibraryBase, "__module__", "fexp._fake_base")
    assert [s.name for s in _introspect.specs_from_class(User).specs] == ["a"]


def test_class_errors() -> None:
    class NoValue:
        a: int  # @p no default anywhere

    class BadDefault:
        a: int = "x"  # @p wrong type

    class BadAnnotation:
        a: Missing = 1  # @p  # noqa: F821

    with pytest.raises(_errors.ConfigError) as info:
        _introspect.specs_from_class(NoValue)
    assert "NoValue' " in info.value.detail or "NoValue'" in info.value.detail
    assert "attribute 'a' is marked `# @p` but has no value" in info.value.detail
    with pytest.raises(_errors.ConfigError, match="the default 'x' of parameter 'a'"):
        _introspect.specs_from_class(BadDefault)
    with pytest.raises(_errors.ConfigError, match="cannot resolve the annotation 'Missing'"):
        _introspect.specs_from_class(BadAnnotation)


def test_class_without_parameters() -> None:
    class Empty:
        pass

    assert _introspect.specs_from_class(Empty) == _introspect.ClassInfo("", ())


# -- rendering --------------------------------------------------------------------------------


def test_render_param_docs() -> None:
    rendered = _introspect.render_param_docs("Train.\n", [
        ParamSpec("lr", float, 0.1, "learning rate"),
        ParamSpec("mode", Color, Color.RED, "which one?"),
        ParamSpec("path", pathlib.Path, pathlib.Path("a/b"), ""),
        ParamSpec("o", Optional[int], None, "done."),
    ])
    assert rendered == textwrap.dedent("""\
        Train.

        Args:
            lr (float): learning rate. Defaults to 0.1.
            mode (Color): which one? Defaults to Color.RED.
            path (Path): Defaults to 'a/b'.
            o (int | None): done. Defaults to None.""")
    assert _introspect.render_param_docs("Only.", []) == "Only."
    assert _introspect.render_param_docs("", [ParamSpec("a", int, 1)]).startswith("Args:\n")


def test_autodoc_rewrites_docstring_and_returns_fn() -> None:
    def train(
        root: Root,
        lr: float = 1e-3,  # @p learning rate
        epochs: int = 10,
    ):
        """Train.

        Args:
            epochs: how long
        """

    assert _introspect.autodoc(train) is train
    assert train.__doc__ == (
        "Train.\n\nArgs:\n"
        "    lr (float): learning rate. Defaults to 0.001.\n"
        "    epochs (int): how long. Defaults to 10."
    )


# -- property: comments survive any text -------------------------------------------------------

_COUNTER = itertools.count()
_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=40)


def _load(source: str, directory: str) -> Any:
    """Import ``source`` as a fresh module from a file, so that ``inspect`` finds its text."""
    name = f"_fexp_generated_{next(_COUNTER)}"
    path = pathlib.Path(directory) / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # inspect finds a class's file through sys.modules.
    spec.loader.exec_module(module)
    return module


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(help_a=_TEXT, help_b=_TEXT, default=_TEXT)
def test_help_and_defaults_round_trip_through_source(help_a: str, help_b: str,
                                                     default: str) -> None:
    assume(not any(_introspect._PRAGMA_TAIL.search(" " + h) for h in (help_a, help_b)))
    source = (
        "from __future__ import annotations\n"
        "class Root: ...\n"
        "@(lambda fn: fn)\n"
        "def f(\n"
        "    root: Root,\n"
        f"    a: str = {default!r},  # @p {help_a}\n"
        f"    b: list[str] = [{default!r},\n"
        f"                    {default!r}],  # @p {help_b}\n"
        "):\n"
        "    pass\n"
        "class C:\n"
        f"    a: str = {default!r}  # @p {help_a}\n"
    )
    with tempfile.TemporaryDirectory() as directory:
        module = _load(source, directory)
        try:
            fn_specs = _introspect.specs_from_function(module.f).specs
            class_specs = _introspect.specs_from_class(module.C).specs
        finally:
            del sys.modules[module.__name__]
    assert fn_specs == (ParamSpec("a", str, default, help_a.strip()),
                        ParamSpec("b", list[str], [default, default], help_b.strip()))
    assert class_specs == (ParamSpec("a", str, default, help_a.strip()),)
