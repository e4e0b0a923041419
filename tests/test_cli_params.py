"""The generated command line (``Experiment.main``) for every supported parameter type."""

from __future__ import annotations

import enum
import pathlib
from typing import Literal, Optional

import pytest

import fexp
from fexp import _yaml


class Color(enum.Enum):
    RED = "r"
    BLUE = "b"


@fexp.experiment
def typed(
    root: fexp.Root,
    flag: bool = False,  # @p a switch
    count: int = 1,  # @p an int
    rate: float = 0.5,  # @p a float
    layers: list[int] = [8],  # @p a list  # noqa: B006
    opts: dict[str, float] = {"m": 0.9},  # @p a dict  # noqa: B006
    pair: tuple[int, str] = (1, "a"),  # @p a tuple
    maybe: Optional[int] = None,  # @p optional  # noqa: UP045
    mode: Literal["fast", "slow"] = "fast",  # @p a literal
    color: Color = Color.RED,  # @p an enum
    data: pathlib.Path = pathlib.Path("data"),  # @p a path
    batch_size: int = 32,  # @p underscores become dashes
) -> None:
    """Exercise every parameter type."""
    root.message({"count": count})


def params_of(directory: pathlib.Path) -> dict[str, object]:
    return _yaml.read_mapping(directory / "params.yml")


def test_every_type_from_the_command_line(tmp_path: pathlib.Path) -> None:
    typed.main(
        [
            "--flag",
            "--count",
            "3",
            "--rate",
            "1",
            "--layers",
            "[1, 2]",
            "--opts",
            "{m: 0.5, n: 2}",
            "--pair",
            "[2, b]",
            "--maybe",
            "7",
            "--mode",
            "slow",
            "--color",
            "BLUE",
            "--data",
            "/tmp/x y",
            "--batch-size",
            "4",
            "-r",
            str(tmp_path),
            "-n",
            "all",
        ]
    )
    data = params_of(tmp_path / "all")
    assert data["_status"] == "finished"
    assert (data["flag"], data["count"], data["rate"]) == (True, 3, 1.0)
    assert data["layers"] == [1, 2] and data["opts"] == {"m": 0.5, "n": 2.0}
    assert data["pair"] == [2, "b"] and data["maybe"] == 7 and data["mode"] == "slow"
    assert data["color"] == "BLUE" and data["data"] == "/tmp/x y" and data["batch_size"] == 4


def test_defaults_and_no_flag(tmp_path: pathlib.Path) -> None:
    typed.main(
        ["--no-flag", "--maybe", "null", "--batch_size", "8", "-r", str(tmp_path), "-n", "d"]
    )
    data = params_of(tmp_path / "d")
    assert data["flag"] is False and data["maybe"] is None and data["batch_size"] == 8
    assert data["layers"] == [8] and data["color"] == "RED"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--count", "abc"], "option --count: parameter 'count'"),
        (["--rate", "fast"], "parameter 'rate' for experiment 'typed' expects float"),
        (["--layers", "[1, x]"], "parameter 'layers'"),
        (["--mode", "medium"], "choose one of 'fast', 'slow'"),
        (["--color", "GREEN"], "choose one of RED, BLUE"),
        (["--pair", "[1]"], "expected 2 items"),
    ],
)
def test_bad_values_exit_2_with_the_parameter_named(
    argv: list[str], message: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        typed.main([*argv, "-r", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing registered


def test_several_bad_values_are_reported_together(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        typed.main(["--count", "x", "--rate", "y", "-r", str(tmp_path)])
    err = capsys.readouterr().err
    assert "'count'" in err and "'rate'" in err


def test_help_lists_types_defaults_and_helps(capsys: pytest.CaptureFixture[str]) -> None:
    typed.main(["--help"])  # success returns to the caller
    out = capsys.readouterr().out
    for text in (
        "--flag / --no-flag",
        "--layers LIST[INT]",
        "[default: [8]]",
        "a literal",
        "--mode [fast|slow]",
        "--color [RED|BLUE]",
        "--batch-size",
        "Exercise every parameter type.",
    ):
        assert text in out, text


def test_execute_refuses_extra_parameters(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exp = typed().register(tmp_path, "e")
    with pytest.raises(SystemExit) as exit_info:
        typed.main(["--execute", str(exp.paths.params), "--count", "2"])
    assert exit_info.value.code == 2
    assert "--execute runs a params.yml as it is" in capsys.readouterr().err
    typed.main(["--execute", str(exp.paths.params)])
    assert params_of(tmp_path / "e")["_status"] == "finished"


def test_class_api_main(tmp_path: pathlib.Path) -> None:
    class Greeter(fexp.Experiment):
        """Greets."""

        who: str = "world"  # @p who

        def run(self) -> None:
            self.message({"who": self.who})

    Greeter.main(["--who", "class", "-r", str(tmp_path), "-n", "g"])
    assert params_of(tmp_path / "g")["_messages"] == {"who": "class"}
