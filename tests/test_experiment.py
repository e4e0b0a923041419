"""The Experiment: construction, register modes, params.yml, messages, notes, fifteen's helpers."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import stat

import pytest

import fexp
from fexp import _yaml


@fexp.experiment
def train(
    root: fexp.Root,
    lr: float = 1e-3,  # @p learning rate
    epochs: int = 3,  # @p number of epochs
    layers: list[int] = [64, 64],  # @p hidden sizes  # noqa: B006
    dataset: str = "mnist",
) -> float:
    """Train a small model.

    Args:
        dataset: used when the line above carries no comment.
    """
    loss = 1.0
    for epoch in range(epochs):
        loss = lr / (epoch + 1)
        root.message({"loss": loss, "epoch": epoch}, keep="min", leader="loss")
    return loss


class Base(fexp.Experiment):
    """A base class experiment."""

    a: int = 1  # @p first
    b: str = "x"  # @p second

    def run(self) -> None:
        self.message({"sum": self.a + len(self.b)})


class Child(Base):
    a = 5
    c: float = 0.5  # @p third


def test_decorator_builds_an_experiment_class() -> None:
    assert issubclass(train, fexp.Experiment)
    assert train.__name__ == "train"
    assert train.fn.__name__ == "train"
    assert list(train.param_specs) == ["lr", "epochs", "layers", "dataset"]
    assert train.param_specs["lr"].help == "learning rate"
    assert train.param_specs["dataset"].help == "used when the line above carries no comment."
    assert train.description.startswith("Train a small model.")
    exp = train(lr=1e-2)
    assert exp.params == {"lr": 0.01, "epochs": 3, "layers": [64, 64], "dataset": "mnist"}
    assert exp.status == "default"


def test_named_decorator_form() -> None:
    @fexp.experiment(name="renamed")
    def original(root: fexp.Root, x: int = 1) -> None:  # @p x
        pass

    assert original.__name__ == "renamed"
    assert original.kind() == "renamed"


def test_defaults_are_never_shared_between_instances() -> None:
    one, two = train(), train()
    one.params["layers"].append(1)
    assert two.params["layers"] == [64, 64]


def test_bad_overrides_raise_param_error_with_fields() -> None:
    with pytest.raises(fexp.ParamError) as info:
        train(lrr=0.1)
    assert info.value.param == "lrr"
    assert info.value.suggestion == "lr"
    assert "did you mean 'lr'" in str(info.value)
    with pytest.raises(fexp.ParamError) as info:
        train(epochs=1e-3)
    assert (info.value.param, info.value.value, info.value.expected) == ("epochs", 1e-3, "int")


def test_class_api_inherits_params_and_overrides_defaults() -> None:
    assert list(Child.param_specs) == ["a", "b", "c"]
    assert Child.param_specs["a"].default == 5
    assert Child.param_specs["a"].help == "first"
    exp = Child(b="yy")
    assert (exp.a, exp.b, exp.c) == (5, "yy", 0.5)


def test_register_modes(tmp_path: pathlib.Path) -> None:
    first = train().register(tmp_path, "run")
    assert first.directory == tmp_path / "run"
    assert first.status == "registered"
    second = train().register(tmp_path, "run")
    assert second.name == "run_1"
    with pytest.raises(fexp.ExperimentStateError, match="already exists"):
        train().register(tmp_path, "run", exist_ok="error")
    resumed = train(lr=0.5).register(tmp_path, "run", exist_ok="resume")
    assert resumed.directory == tmp_path / "run"
    assert resumed.params["lr"] == 1e-3  # loaded from the existing folder
    restarted = train().register(tmp_path, "run_1", restart=True)
    assert restarted.directory == tmp_path / "run_1"


def test_register_default_name_lists_changed_params(tmp_path: pathlib.Path) -> None:
    assert train(lr=0.1).register(tmp_path).name == "lr=0.1"
    assert train().register(tmp_path).name == "default"


def test_register_rejects_unsafe_names(tmp_path: pathlib.Path) -> None:
    for bad in ("../escape", "a/b", "", ".hidden"):
        with pytest.raises(fexp.FexpError):
            train().register(tmp_path / "set", bad)
    assert not (tmp_path / "escape").exists()


def test_params_yml_has_special_keys_first_and_help_comments(tmp_path: pathlib.Path) -> None:
    exp = train(lr=0.1).register(tmp_path, "x", purpose="check")
    text = (tmp_path / "x" / "params.yml").read_text()
    keys = [line.split(":")[0] for line in text.splitlines() if line and line[0] not in " #-"]
    assert keys[:13] == [
        "_name",
        "_root",
        "_status",
        "_purpose",
        "_created",
        "_registered",
        "_started",
        "_stopped",
        "_last",
        "_messages",
        "_notes",
        "_version",
        "_meta",
    ]
    assert keys[-4:] == ["lr", "epochs", "layers", "dataset"]
    assert "lr: 0.1  # learning rate" in text
    data = _yaml.load(text)
    assert data["_purpose"] == "check"
    assert data["_version"]["function"] == "train"
    assert exp.version["module"] == __name__


def test_message_keep_leader_and_history(tmp_path: pathlib.Path) -> None:
    exp = train(lr=1.0, epochs=4).register(tmp_path, "m")
    exp()
    loaded = train.from_params_file(tmp_path / "m" / "params.yml")
    assert loaded.messages == {"loss": 0.25, "epoch": 3}
    exp2 = train().register(tmp_path, "lead")
    exp2.message({"loss": 0.5, "acc": 0.1}, keep="min", leader="loss")
    exp2.message({"loss": 0.7, "acc": 0.9}, keep="min", leader="loss")
    assert exp2.messages == {"loss": 0.5, "acc": 0.1}
    exp2.message({"note": object()})
    assert exp2.messages["note"].startswith("<object")
    lines = (tmp_path / "lead" / "messages.jsonl").read_text().splitlines()
    assert len(lines) == 3  # the whole history, not only what was kept


def test_message_rejects_unknown_keep(tmp_path: pathlib.Path) -> None:
    with pytest.raises(fexp.ConfigError, match="keep"):
        train().message({"a": 1}, keep="median")


def test_notes_update_and_from_yml(tmp_path: pathlib.Path) -> None:
    exp = train().register(tmp_path, "n")
    exp.note("first")
    exp.note("second")
    exp.note("first", remove=True)
    exp.update({"epochs": 7})
    data = _yaml.read_mapping(tmp_path / "n" / "params.yml")
    assert data["_notes"] == ["second"]
    assert data["epochs"] == 7
    copy = train().from_yml(tmp_path / "n" / "params.yml", copy=True)
    assert copy.params["epochs"] == 7 and copy.status == "default" and copy.notes == []
    full = train().from_yml(tmp_path / "n" / "params.yml")
    assert full.status == "registered" and full.notes == ["second"]


def test_to_root_writes_defaults_and_executable_script(tmp_path: pathlib.Path) -> None:
    script = train.to_root(tmp_path / "set")
    assert script.stat().st_mode & stat.S_IXUSR
    defaults = _yaml.read_mapping(tmp_path / "set" / "defaults.yml")
    assert defaults["lr"] == 1e-3 and defaults["layers"] == [64, 64]
    assert (
        f"{__name__}:train" in script.read_text()
        or "test_experiment.py:train" in script.read_text()
    )


@dataclasses.dataclass
class Config:
    name: str
    sizes: list[int]
    rate: float = 0.5


def test_metadata_round_trips_dataclasses(tmp_path: pathlib.Path) -> None:
    exp = train().register(tmp_path, "meta")
    exp.write_metadata("config", Config("a", [1, 2]))
    assert exp.read_metadata("config", Config) == Config("a", [1, 2], 0.5)
    assert exp.read_metadata("config") == {"name": "a", "sizes": [1, 2], "rate": 0.5}
    with pytest.raises(fexp.FexpError):
        exp.write_metadata("../escape", {"a": 1})


def test_assert_new_exists_clear_and_move(tmp_path: pathlib.Path) -> None:
    exp = train().register(tmp_path, "life")
    exp.assert_new()
    exp.assert_exists()
    exp()
    with pytest.raises(fexp.ExperimentStateError, match="not new"):
        exp.assert_new()
    exp.clear()
    assert sorted(n for n in os.listdir(tmp_path / "life") if not n.startswith(".")) == [
        "params.yml"
    ]
    assert exp.status == "registered"
    exp.move(tmp_path / "moved" / "life")
    assert not (tmp_path / "life").exists()
    data = _yaml.read_mapping(tmp_path / "moved" / "life" / "params.yml")
    assert data["_root"] == str(tmp_path / "moved")
    with pytest.raises(fexp.ExperimentStateError):
        exp.move(tmp_path / "moved" / "life")


def test_unregistered_experiment_cannot_run() -> None:
    with pytest.raises(fexp.ExperimentStateError, match="not registered"):
        train()()


def test_log_writes_tensorboard_and_history(tmp_path: pathlib.Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    exp = train().register(tmp_path, "tb")
    for step in range(3):
        exp.log({"loss": 1.0 / (step + 1)}, step=step)
    exp.close()
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    events = acc.Scalars("loss")
    assert [e.step for e in events] == [0, 1, 2]
    assert events[-1].value == pytest.approx(1 / 3)


def test_parameter_names_may_not_shadow_experiment_attributes() -> None:
    with pytest.raises(fexp.ConfigError, match="status"):

        @fexp.experiment
        def clash(root: fexp.Root, status: str = "x") -> None:  # @p clashes
            pass

    class Clash(fexp.Experiment):
        message: int = 1  # @p clashes with the method

    with pytest.raises(fexp.ConfigError, match="message"):
        _ = Clash.param_specs
