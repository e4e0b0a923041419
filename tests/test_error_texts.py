"""A snapshot of each FexpError subclass's text: one paragraph, source first, names the key."""

from __future__ import annotations

import pytest

from fexp import _errors

CASES: dict[str, tuple[_errors.FexpError, str]] = {
    "ParamError unknown": (
        _errors.ParamError(
            "lrr", 0.1, experiment="train", known=["lr", "epochs", "layers", "dataset"]
        ),
        "unknown parameter 'lrr' for experiment 'train'; did you mean 'lr'? "
        "Known: lr, epochs, layers, dataset.",
    ),
    "ParamError unknown, nothing close": (
        _errors.ParamError("zzz", 1, known=["lr", "epochs"]),
        "unknown parameter 'zzz'. Known: lr, epochs.",
    ),
    "ParamError wrong type": (
        _errors.ParamError("epochs", 0.001, "int", experiment="train", default=10),
        "parameter 'epochs' for experiment 'train' expects int (default 10), got 0.001.",
    ),
    "ParamError with reason": (
        _errors.ParamError(
            "layers", [1, "x"], "list[int]", default=[64, 64], reason="item 1 ('x') is not int"
        ),
        "parameter 'layers' expects list[int] (default [64, 64]), got [1, 'x']: "
        "item 1 ('x') is not int.",
    ),
    "ParamError with source": (
        _errors.ParamError(
            "lr", "abc", "float", default=0.001, source="sweep '{lr: 1e-2 | abc}' (argument SWEEP)"
        ),
        "sweep '{lr: 1e-2 | abc}' (argument SWEEP): parameter 'lr' expects float "
        "(default 0.001), got 'abc'.",
    ),
    "ParamErrors": (
        _errors.ParamErrors(
            [
                _errors.ParamError("lrr", 0.1, experiment="train", known=["lr", "epochs"]),
                _errors.ParamError("epochs", "ten", "int", experiment="train", default=10),
            ],
            source="config.yml",
        ),
        "config.yml: unknown parameter 'lrr' for experiment 'train'; did you mean 'lr'? "
        "Known: lr, epochs. parameter 'epochs' for experiment 'train' expects int "
        "(default 10), got 'ten'.",
    ),
    "SweepError with source": (
        _errors.SweepError(
            "unbalanced brackets: '[' at column 5 is never closed",
            source="sweep '{a: [1 | 2}' (argument SWEEP)",
        ),
        "sweep '{a: [1 | 2}' (argument SWEEP): unbalanced brackets: '[' at column 5 is never "
        "closed",
    ),
    "TuneError with source": (
        _errors.TuneError(
            "the first trial (trial=0000) finished without messaging a number for objective "
            "'val_loss'; it messaged 'accuracy', 'loss'. Report it with "
            "root.message({'val_loss': value}, step=epoch) or choose one of those keys with "
            "--objective KEY:min|max.",
            source="option --objective",
        ),
        "option --objective: the first trial (trial=0000) finished without messaging a number "
        "for objective 'val_loss'; it messaged 'accuracy', 'loss'. Report it with "
        "root.message({'val_loss': value}, step=epoch) or choose one of those keys with "
        "--objective KEY:min|max.",
    ),
    "YamlError with source": (
        _errors.YamlError(
            "refusing an unsafe or unknown YAML tag (tag:yaml.org,2002:python/object/apply)",
            source="runs/lr=0.1/params.yml",
        ),
        "runs/lr=0.1/params.yml: refusing an unsafe or unknown YAML tag "
        "(tag:yaml.org,2002:python/object/apply)",
    ),
    "StorageError": (
        _errors.StorageError(
            "cannot write there: the file system has no space left (No space left on device); "
            "free space or make it writable, then run the command again",
            source="runs/a/messages.jsonl",
        ),
        "runs/a/messages.jsonl: cannot write there: the file system has no space left (No space "
        "left on device); free space or make it writable, then run the command again",
    ),
    "LockTimeout": (
        _errors.LockTimeout(
            "another fexp process has held this lock for more than 60 s; retry when it is done",
            source="runs/.fexp.lock",
        ),
        "runs/.fexp.lock: another fexp process has held this lock for more than 60 s; "
        "retry when it is done",
    ),
    "ConfigError": (
        _errors.ConfigError(
            "cannot import module 'trian'; did you mean 'train'?", source="argument REF"
        ),
        "argument REF: cannot import module 'trian'; did you mean 'train'?",
    ),
    "ExperimentStateError": (
        _errors.ExperimentStateError(
            "experiment is finished; `fexp reset` it before running again",
            source="runs/lr=0.1",
        ),
        "runs/lr=0.1: experiment is finished; `fexp reset` it before running again",
    ),
    "FexpError without source": (
        _errors.FexpError("something the user can fix"),
        "something the user can fix",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_error_text(case: str) -> None:
    error, text = CASES[case]
    assert str(error) == text
    assert "\n" not in str(error)
    assert isinstance(error, _errors.FexpError)
    if error.source:
        assert str(error).startswith(f"{error.source}: ")
    else:
        assert str(error) == error.detail


@pytest.mark.parametrize("case", [c for c in CASES if c.startswith("ParamError")])
def test_param_error_texts_name_the_parameter(case: str) -> None:
    error, _ = CASES[case]
    assert isinstance(error, _errors.ParamError)
    assert repr(error.param) in str(error)


def test_every_error_class_has_a_snapshot() -> None:
    def subclasses(cls: type[Exception]) -> set[type[Exception]]:
        found: set[type[Exception]] = set()
        for sub in cls.__subclasses__():
            found |= {sub} | subclasses(sub)
        return found

    ours = {c for c in subclasses(_errors.FexpError) if c.__module__ == "fexp._errors"}
    covered = {type(error) for error, _ in CASES.values()}
    assert ours | {_errors.FexpError} == covered


def test_source_set_later_is_used_by_str() -> None:
    error = _errors.ParamError("lr", "abc", "float")
    error.source = "argument --lr"
    assert str(error) == "argument --lr: parameter 'lr' expects float, got 'abc'."


def test_a_value_with_a_newline_stays_on_one_line() -> None:
    error = _errors.ParamError("name", "a\nb", "int", source="params.yml")
    assert str(error) == "params.yml: parameter 'name' expects int, got 'a\\nb'."


def test_suggestion() -> None:
    assert _errors.ParamError("epoch", known=["epochs", "lr"]).suggestion == "epochs"
    assert _errors.ParamError("zzz", known=["epochs", "lr"]).suggestion is None
    assert _errors.ParamError("lr", 1, "str").suggestion is None
    assert _errors.did_you_mean("datset", ["dataset", "data"]) == "dataset"
    assert _errors.did_you_mean("x", []) is None
