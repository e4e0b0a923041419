"""The global config in $FEXP_HOME: defaults, round trip, hand edits, settings, known sets."""

from __future__ import annotations

import pathlib

import pytest

import fexp
from fexp import _config

from .conftest import EXAMPLES


def test_missing_config_gives_defaults(clean_env: pathlib.Path) -> None:
    config = _config.load()
    assert config["root"] == "runs" and config["experiments"] == {} and config["prompt"] is True
    assert not (clean_env / "config.yml").exists()


def test_edits_round_trip_and_hand_edits_are_seen_at_once(clean_env: pathlib.Path) -> None:
    with _config.editing() as config:
        config["header"] = ["#SBATCH --time=1:00:00"]
    assert _config.load()["header"] == ["#SBATCH --time=1:00:00"]
    path = clean_env / "config.yml"
    path.write_text(path.read_text().replace("1:00:00", "2:00:00"))  # edited by hand
    assert _config.load()["header"] == ["#SBATCH --time=2:00:00"]


@pytest.mark.parametrize(
    ("key", "text", "message"),
    [
        ("roots", "x", "did you mean 'root'"),
        ("prompt", "maybe", "true or false"),
        ("header", "[1, 2]", "list of lines"),
        ("env", "[A]", "mapping"),
        ("env", "{1a: x}", "mapping"),
        ("meta", "[gpu, colour]", "groups"),
    ],
)
def test_bad_settings_name_the_argument(key: str, text: str, message: str) -> None:
    with pytest.raises(fexp.ConfigError, match=message):
        _config.parse_setting(key, text)


def test_settings_are_cast() -> None:
    assert _config.parse_setting("prompt", "false") is False
    assert _config.parse_setting("header", "'#SBATCH -p gpu'") == ["#SBATCH -p gpu"]
    assert _config.parse_setting("env", "{OMP_NUM_THREADS: 1}") == {"OMP_NUM_THREADS": "1"}


def test_known_sets_and_forgetting_deleted_ones(tmp_path: pathlib.Path) -> None:
    import shutil

    keep = fexp.ExperimentSet.init(tmp_path / "keep", f"{EXAMPLES / 'hello_world.py'}:hello_world")
    gone = fexp.ExperimentSet.init(tmp_path / "gone", f"{EXAMPLES / 'hello_world.py'}:hello_world")
    assert set(_config.known_sets()) == {keep.root, gone.root}
    shutil.rmtree(gone.root)
    assert _config.known_sets() == [keep.root]
    assert _config.forget_missing_sets() == [str(gone.root)]
    assert _config.load()["sets"] == [str(keep.root)]
