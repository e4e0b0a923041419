"""The Experiment base class: parameters, status, registration, messages, notes, files.

Running an experiment (signals, tee, error.txt) lives in ``_runner``; the generated CLI in
``_cli_params``; parameter introspection in ``_introspect``. This module must not print.
"""

from __future__ import annotations

import atexit
import copy
import os
import pathlib
import shutil
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from . import _atomic, _errors, _layout, _messages, _params
from ._core import status as _status
from ._store import params_file as _params_file

if TYPE_CHECKING:
    from tensorboardX import SummaryWriter

Status = _status.Status
STATUSES: tuple[str, ...] = _status.RECORDED
ExistOk = Literal["suffix", "error", "resume"]

SPECIAL_KEYS = _layout.SPECIAL_KEYS
# Further bookkeeping keys fexp adds after the SPEC's special keys.
EXTRA_KEYS: tuple[str, ...] = ("_attempts", "_requeues", "_slurm", "_env", "_owner", "_tune")
REFRESH_SECONDS = 1.0  # params.yml's _messages is at most this stale while messages arrive
_PENDING: weakref.WeakSet[Experiment] = weakref.WeakSet()

_CURRENT: list[Experiment] = []


def _flush_pending() -> None:
    """At exit, write the messages a timer had not written yet (registered experiments)."""
    for exp in list(_PENDING):
        exp.refresh_messages()


atexit.register(_flush_pending)


def current() -> Experiment | None:
    """Return the experiment whose ``run`` is executing in this process, if any."""
    return _CURRENT[-1] if _CURRENT else None


# Instance attributes of every Experiment; a parameter may not take one of these names.
INSTANCE_ATTRIBUTES = frozenset(
    {
        "params",
        "directory",
        "status",
        "purpose",
        "messages",
        "notes",
        "version",
        "meta",
        "created",
        "registered",
        "started",
        "stopped",
        "last",
        "extra",
        "callbacks",
        "fn",
    }
)


def check_param_names(owner: str, names: Iterable[str]) -> None:
    """Refuse parameter names that would shadow the Experiment's own attributes."""
    reserved = INSTANCE_ATTRIBUTES | {n for n in dir(Experiment) if not n.startswith("__")}
    clashes = sorted(n for n in names if n in reserved or n.startswith("_"))
    if clashes:
        raise _errors.ConfigError(
            f"experiment {owner!r}: parameter name(s) {', '.join(clashes)} clash with "
            "Experiment attributes (or start with '_'); rename them"
        )


class _ParamSpecs:
    """Class-level ``param_specs``: computed from the class source on first access, cached."""

    def __get__(self, obj: object, cls: type[Experiment]) -> dict[str, _params.ParamSpec]:
        specs = cls.__dict__.get("_param_specs")
        if specs is None:
            from . import _introspect

            info = _introspect.specs_from_class(cls)
            specs = {s.name: s for s in info.specs}
            check_param_names(cls.__qualname__, specs)
            cls._param_specs = specs
            if "description" not in cls.__dict__:
                cls.description = info.description
        return specs


class Experiment:
    """Base class of every experiment: subclass it, mark parameters ``# @p``, define ``run``.

    Example:
        >>> class HelloWorld(Experiment):
        ...     a: str = "Hello"  # @p the greeting
        ...     def run(self):
        ...         print(self.a)
    """

    param_specs: ClassVar[Any] = _ParamSpecs()
    description: ClassVar[str] = ""
    _param_specs: ClassVar[dict[str, _params.ParamSpec] | None] = None
    _ref: ClassVar[str | None] = None
    _tokens: ClassVar[Mapping[str, int]] = {}
    _debug_params: ClassVar[Mapping[str, Any]] = {}

    def __init_subclass__(
        cls,
        *,
        tokens: Mapping[str, int] | None = None,
        debug: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """``class T(Experiment, tokens={"gpu": 1}, debug={"epochs": 1})``: the tokens every
        run holds (see ``fexp.token``) and the parameters ``debug()`` sets."""
        super().__init_subclass__(**kwargs)
        if tokens is not None:
            from . import _token

            for token_name, count in tokens.items():
                _token.check_token(token_name, count, source=f"experiment {cls.__name__!r} token")
            cls._tokens = dict(tokens)
        if debug is not None:
            cls._debug_params = dict(debug)

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        name: str | None = None,
        purpose: str = "",
        **overrides: Any,
    ) -> None:
        specs = type(self).param_specs
        self.params: dict[str, Any] = {n: s.fresh_default() for n, s in specs.items()}
        self.params.update(_params.validate_overrides(specs, overrides, experiment=self.kind()))
        self.directory: pathlib.Path | None = None
        self.status: str = _status.DEFAULT
        self.purpose = purpose
        self.messages: dict[str, Any] = {}
        self.notes: list[str] = []
        self.version: dict[str, Any] = {}
        self.meta: dict[str, Any] = {}
        self.created: str | None = None
        self.registered: str | None = None
        self.started: str | None = None
        self.stopped: str | None = None
        self.last: str | None = None
        self.extra: dict[str, Any] = {}
        self._log: _messages.MessageLog | None = None
        self._refresh: threading.Timer | None = None
        self._saving = threading.RLock()
        self._writer: SummaryWriter | None = None
        self.callbacks: list[Callable[[str], None]] = []
        self._sync_attributes()
        if root is not None:
            self.register(root, name, purpose=purpose)

    # -- identity -------------------------------------------------------------------------
    @classmethod
    def kind(cls) -> str:
        """The experiment definition's name (function or class name)."""
        return cls.__name__

    @property
    def name(self) -> str | None:
        """The experiment folder's name, once registered."""
        return self.directory.name if self.directory else None

    @property
    def root(self) -> pathlib.Path | None:
        """The folder that holds this experiment's folder (its set), once registered."""
        return self.directory.parent if self.directory else None

    @property
    def paths(self) -> _layout.ExperimentPaths:
        return _layout.ExperimentPaths(self._require_directory())

    def _require_directory(self) -> pathlib.Path:
        if self.directory is None:
            raise _errors.ExperimentStateError(
                f"experiment {self.kind()!r} is not registered; call register(root, name) first"
            )
        return self.directory

    def __repr__(self) -> str:
        where = f" at {str(self.directory)!r}" if self.directory else ""
        return f"<{self.kind()} {self.status}{where} {self.params!r}>"

    def run(self) -> None:
        """The experiment's work; subclasses override it."""
        raise NotImplementedError(f"{self.kind()} must define run()")

    # -- parameters -----------------------------------------------------------------------
    def _sync_attributes(self) -> None:
        """Mirror parameters as attributes (class API reads ``self.lr``)."""
        for key, value in self.params.items():
            object.__setattr__(self, key, value)

    def update(self, values: Mapping[str, Any], *, source: str | None = None) -> None:
        """Validate and set parameters; unknown names and bad values raise ``ParamError``."""
        if self.status not in _status.EDITABLE:
            raise _errors.ExperimentStateError(
                f"cannot change the parameters of experiment {self.name!r} with status "
                f"{self.status!r}"
            )
        self.params.update(
            _params.validate_overrides(
                type(self).param_specs, values, experiment=self.kind(), source=source
            )
        )
        self._sync_attributes()
        if self.directory is not None:
            self.save()

    def debug(self) -> Experiment:
        """Shrink the experiment for a quick check (xmen): ``--debug`` calls it before running
        in a temporary folder. By default it sets the ``debug=`` parameters given to
        ``@fexp.experiment(debug={...})`` or the class; override it to do more."""
        if self._debug_params:
            self.update(self._debug_params, source="debug parameters")
        return self

    @classmethod
    def get_param_helps(cls) -> dict[str, str]:
        """Help text for every parameter (xmen parity)."""
        return {name: spec.help for name, spec in cls.param_specs.items()}

    # -- params.yml -----------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The special keys as written to params.yml."""
        special: dict[str, Any] = {
            "_name": self.name,
            "_root": str(self.root) if self.root else None,
            "_status": self.status,
            "_purpose": self.purpose,
            "_created": self.created,
            "_registered": self.registered,
            "_started": self.started,
            "_stopped": self.stopped,
            "_last": self.last,
            "_messages": dict(self.messages),
            "_notes": list(self.notes),
            "_version": self.version,
            "_meta": self.meta,
        }
        special.update({k: v for k, v in self.extra.items() if k in EXTRA_KEYS})
        return special

    def _plain_params(self) -> dict[str, Any]:
        return {k: _params.to_plain(v) for k, v in self.params.items()}

    def render_params(self) -> str:
        from . import _render

        specs = type(self).param_specs
        helps = {n: s.help for n, s in specs.items()}
        return _render.render_params(self.state(), self._plain_params(), helps)

    def _helps(self) -> dict[str, str]:
        return {n: s.help for n, s in type(self).param_specs.items()}

    def save(self) -> bool:
        """Write params.yml atomically under the set's lock (and its JSON twin for readers).

        A read-modify-write: notes others added meanwhile stay. Once a run claimed the
        experiment (``_owner``), nothing is written if someone else took it since (a reset,
        another launcher); returns whether the file was written.
        """
        directory = self._require_directory()
        mine = self.extra.get("_owner")
        self._cancel_refresh()

        def change(data: dict[str, Any]) -> bool:
            if not _params_file.owned_by(data, mine) and data.get("_owner"):
                return False
            recorded = str(data.get("_status", _status.REGISTERED))
            if mine is not None and not _status.can_transition(recorded, self.status):
                return False  # e.g. a run must not turn a reset experiment into finished
            notes = data.get("_notes")
            data.clear()
            data.update({**self.state(), **self._plain_params()})
            if notes is not None:
                data["_notes"] = notes
            return True

        with self._saving, _params_file.locked(directory):
            if not _params_file.path_of(directory).exists():
                data = {**self.state(), **self._plain_params()}
                _params_file.write(directory, data, self._helps())
                return True
            written = _params_file.update(directory, change, self._helps())
        if written is not None:
            self.notes = list(written.get("_notes") or [])
        return written is not None

    def _refresh_later(self) -> None:
        """Refresh ``_messages`` in params.yml within REFRESH_SECONDS (one timer at a time)."""
        timer = threading.Timer(REFRESH_SECONDS, self.refresh_messages)
        timer.daemon = True
        self._refresh = timer
        _PENDING.add(self)
        timer.start()

    def _cancel_refresh(self) -> None:
        timer, self._refresh = self._refresh, None
        if timer is not None:
            timer.cancel()
        _PENDING.discard(self)

    def refresh_messages(self) -> None:
        """Write the current messages into params.yml now (only ``_messages`` and ``_last``)."""
        from . import _meta

        self._cancel_refresh()
        directory = self.directory
        if directory is None:
            return
        mine = self.extra.get("_owner")
        messages, last = dict(self.messages), _meta.now_iso()

        def change(data: dict[str, Any]) -> bool:
            if not _params_file.owned_by(data, mine):
                return False
            data["_messages"], data["_last"] = messages, last
            return True

        try:
            with self._saving:
                _params_file.update(directory, change, self._helps(), durable=False)
        except (OSError, _errors.FexpError):
            pass  # a live view only: the end of the run writes the messages again

    def load_state(
        self, data: Mapping[str, Any], *, source: str | None = None, copy_only_params: bool = False
    ) -> None:
        """Set parameters and (unless ``copy_only_params``) status keys from params.yml data."""
        specs = type(self).param_specs
        values = {k: v for k, v in data.items() if not str(k).startswith("_")}
        self.params.update(
            _params.validate_overrides(specs, values, experiment=self.kind(), source=source)
        )
        self._sync_attributes()
        if copy_only_params:
            return
        status = data.get("_status", _status.REGISTERED)
        if status not in STATUSES:
            raise _errors.YamlError(
                f"_status {status!r} is not one of {', '.join(STATUSES)}", source=source
            )
        self.status = status
        self.purpose = data.get("_purpose") or ""
        for key in ("created", "registered", "started", "stopped", "last"):
            setattr(self, key, data.get(f"_{key}"))
        self.messages = dict(data.get("_messages") or {})
        self.notes = list(data.get("_notes") or [])
        self.version = dict(data.get("_version") or {})
        self.meta = dict(data.get("_meta") or {})
        self.extra = {k: data[k] for k in EXTRA_KEYS if k in data}

    @classmethod
    def from_params_file(cls, path: str | os.PathLike[str]) -> Experiment:
        """Load a registered experiment from its params.yml (folder = the file's folder)."""
        from . import _index

        path = pathlib.Path(path).absolute()
        exp = cls()
        exp.load_state(_index.read_mapping_cached(path), source=str(path))
        exp.directory = path.parent
        exp._replay_messages()
        return exp

    def _replay_messages(self) -> None:
        """Merge in the message log, unless params.yml was written after its last record
        (then its ``_messages`` already says the same, and a long log is not re-read)."""
        paths = self.paths
        try:
            if os.stat(paths.params).st_mtime_ns > os.stat(paths.messages).st_mtime_ns:
                return
        except FileNotFoundError:
            pass
        records = _messages.read(paths.messages)
        if records:
            self.messages = {**self.messages, **_messages.replay(records)}

    def from_yml(self, path: str | os.PathLike[str], copy: bool = False) -> Experiment:
        """Load parameters (and, unless ``copy``, state) from a params.yml or defaults.yml.

        A defaults.yml sets status ``default``; ``copy=True`` takes only the parameters.
        """
        from . import _index

        path = pathlib.Path(path)
        data = _index.read_mapping_cached(path)
        is_defaults = path.name == _layout.DEFAULTS_FILE
        self.load_state(data, source=str(path), copy_only_params=copy or is_defaults)
        if is_defaults and not copy:
            self.status = _status.DEFAULT
        elif not copy and path.name == _layout.PARAMS_FILE:
            self.directory = path.absolute().parent
            self._replay_messages()
        return self

    # -- registration ---------------------------------------------------------------------
    def register(
        self,
        root: str | os.PathLike[str],
        name: str | None = None,
        purpose: str = "",
        exist_ok: ExistOk = "suffix",
        restart: bool = False,
    ) -> Experiment:
        """Create ``root/name/params.yml`` and set status ``registered``.

        Args:
            root: the folder that will hold the experiment's folder.
            name: the folder name; defaults to the overridden parameters (``lr=0.01``).
            exist_ok: on a clash, ``suffix`` appends ``_1, _2, ...``, ``error`` raises,
                ``resume`` loads the existing experiment instead (``restart=True`` is the
                xmen spelling of ``resume``).
        """
        from . import _meta, _naming

        if restart:
            exist_ok = "resume"
        if exist_ok not in ("suffix", "error", "resume"):
            raise _errors.ConfigError(
                f"exist_ok must be 'suffix', 'error' or 'resume', got {exist_ok!r}"
            )
        root = pathlib.Path(root).absolute()
        if name is None:
            specs = type(self).param_specs
            changed = {k: v for k, v in self.params.items() if v != specs[k].default}
            name = _naming.name_for({k: _params.to_plain(v) for k, v in changed.items()})
        else:
            name = _naming.check_name(name)
        root.mkdir(parents=True, exist_ok=True)
        directory = self._claim_folder(root, name, exist_ok)
        if directory is None:
            loaded = type(self).from_params_file(root / name / _layout.PARAMS_FILE)
            self.__dict__.update(loaded.__dict__)
            return self
        self.directory = directory
        self.purpose = purpose or self.purpose
        now = _meta.now_iso()
        self.created = self.created or now
        self.registered = now
        self.status = _status.REGISTERED
        if not self.version:
            self.version = self.version_info()
        try:
            self.save()
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            self.directory = None
            self.status = _status.DEFAULT
            raise
        return self

    @staticmethod
    def _claim_folder(root: pathlib.Path, name: str, exist_ok: str) -> pathlib.Path | None:
        """Create the experiment folder race-free; None means 'resume the existing one'."""

        candidate = name
        for index in range(1, 100_000):
            try:
                (root / candidate).mkdir()
                return root / candidate
            except FileExistsError:
                if exist_ok == "resume" and (root / candidate / _layout.PARAMS_FILE).exists():
                    return None
                if exist_ok == "error":
                    raise _errors.ExperimentStateError(
                        f"an experiment called {candidate!r} already exists; choose another "
                        "--name or pass exist_ok='suffix'",
                        source=str(root),
                    ) from None
                candidate = f"{name}_{index}"
        raise _errors.ExperimentStateError(f"no free name for {name!r}", source=str(root))

    @classmethod
    def version_info(cls) -> dict[str, Any]:
        """``_version``: module, function/class, python, fexp and git of the definition."""
        from . import _meta

        module = sys.modules.get(cls.__module__)
        path = pathlib.Path(getattr(module, "__file__", None) or os.getcwd())
        fn = getattr(cls, "fn", None)
        return _meta.version_info(
            module=cls.__module__,
            function=cls.kind() if fn is not None else None,
            cls=None if fn is not None else cls.__qualname__,
            path=path,
        )

    # -- results --------------------------------------------------------------------------
    def message(
        self,
        values: Mapping[str, Any],
        keep: str = "latest",
        leader: str | None = None,
        step: int | None = None,
    ) -> None:
        """Record scalar results; the full history is kept in ``messages.jsonl``.

        Args:
            values: ``{key: value}``; values other than int/float/str/bool are converted.
            keep: on collision keep the ``latest``, ``min`` or ``max`` value.
            leader: keep the whole group only when this key improves under ``keep``.
            step: an optional x-coordinate for plots (defaults to the call's index).

        Every call is appended to the log before it returns, so an acknowledged message
        survives a SIGKILL a moment later.
        """
        if keep not in _messages.KEEPS:
            raise _errors.ConfigError(f"keep must be one of latest, min, max; got {keep!r}")
        plain = _messages.PLAIN_TYPES  # the common case skips a call per value
        scalars = {
            k if type(k) is str else str(k): v if type(v) in plain else _messages.to_scalar(v)
            for k, v in values.items()
        }
        self.messages.update(_messages.apply(self.messages, scalars, keep, leader))
        if self.directory is None:
            return
        if self._log is None:
            self._log = _messages.MessageLog(self.paths.messages)
        self._log.append(_messages.encode(scalars, keep, leader, step))
        if self._refresh is None:
            self._refresh_later()

    def should_prune(self) -> bool:
        """Whether ``fexp tune``'s pruner says to stop this trial now (False outside a study).

        Reports the objective's values messaged so far (``message({...}, step=epoch)``) as the
        trial's intermediate values first. Once True, return from the experiment: it ends with
        status ``pruned`` and the step is recorded as ``_tune.pruned_at`` in params.yml.
        """
        tune = self.extra.get("_tune")
        if not isinstance(tune, dict) or self.directory is None:
            return False
        if tune.get("pruned_at") is not None:
            return True
        from ._store import study

        step = study.should_prune(self.directory, tune)
        if step is None:
            return False
        self.extra["_tune"] = {**tune, "pruned_at": step}
        self.save()
        return True

    def note(self, text: str, remove: bool = False) -> None:
        """Attach a note to the experiment (or remove it)."""

        def change(notes: list[str]) -> list[str]:
            kept = [n for n in notes if n != text]
            return kept if remove else [*kept, text]

        self.notes = change(self.notes)
        if self.directory is not None:
            written = _params_file.update(
                self.directory,
                lambda data: data.update(_notes=change(list(data.get("_notes") or []))),
                self._helps(),
            )
            if written is not None:
                self.notes = list(written["_notes"])

    def on_interrupt(self, callback: Callable[[str], None]) -> Callable[[str], None]:
        """Register ``callback(status)`` to run on SIGUSR1/SIGTERM/SIGINT before the status is
        recorded — e.g. to save a checkpoint before a time limit. Usable as a decorator."""
        self.callbacks.append(callback)
        return callback

    # -- fifteen's helpers ----------------------------------------------------------------
    def write_metadata(self, name: str, obj: Any) -> pathlib.Path:
        """Save a dataclass or plain data as YAML under ``metadata/NAME.yml``."""
        from . import _metadata

        return _metadata.write(self.paths.metadata, name, obj)

    def read_metadata(self, name: str, type_: type | None = None) -> Any:
        """Read ``metadata/NAME.yml``; a dataclass ``type_`` is rebuilt from it."""
        from . import _metadata

        return _metadata.read(self.paths.metadata, name, type_)

    def save_checkpoint(
        self,
        target: Any,
        step: int,
        prefix: str = "checkpoint_",
        keep: int | None = 1,
        overwrite: bool = False,
        keep_every_n_steps: int | None = None,
    ) -> pathlib.Path:
        """Save ``target`` (a numpy pytree, state_dict object or picklable) atomically."""
        from . import _checkpoint

        return _checkpoint.save(
            self.paths.checkpoints,
            target,
            step,
            prefix=prefix,
            keep=keep,
            overwrite=overwrite,
            keep_every_n_steps=keep_every_n_steps,
        )

    def restore_checkpoint(
        self, target: Any = None, step: int | None = None, prefix: str = "checkpoint_"
    ) -> Any:
        """Restore the latest (or a given step's) checkpoint; ``target`` when none exists."""
        from . import _checkpoint

        return _checkpoint.restore(
            self.paths.checkpoints, target, step=step, prefix=prefix, default=target
        )

    @property
    def summary_writer(self) -> SummaryWriter:
        """A tensorboardX ``SummaryWriter`` on the experiment folder, created on first use."""
        if self._writer is None:
            from tensorboardX import SummaryWriter

            self._writer = SummaryWriter(logdir=str(self._require_directory()))
        return self._writer

    def log(self, data: Mapping[str, Any], step: int) -> None:
        """Write scalars to TensorBoard and the message history at ``step``."""
        writer = self.summary_writer
        for key, value in data.items():
            writer.add_scalar(key, value, global_step=step)
        writer.flush()
        self.message(data, step=step)

    def assert_new(self) -> Experiment:
        """Raise unless the experiment folder is empty or absent (apart from params.yml)."""
        directory = self._require_directory()
        extra = (
            [p.name for p in directory.iterdir() if p.name not in _layout.INTERNAL_FILES]
            if directory.exists()
            else []
        )
        if extra:
            raise _errors.ExperimentStateError(
                f"experiment folder is not new; it holds {', '.join(sorted(extra))}",
                source=str(directory),
            )
        return self

    def assert_exists(self) -> Experiment:
        """Raise unless the experiment folder and its params.yml exist."""
        directory = self._require_directory()
        if not (directory / _layout.PARAMS_FILE).exists():
            raise _errors.ExperimentStateError(
                "experiment folder does not exist", source=str(directory)
            )
        return self

    def clear(self) -> Experiment:
        """Delete everything the runs produced, keeping params.yml; status -> registered."""
        directory = self._require_directory()
        self.close()
        data = _params_file.reset(directory, _status.REGISTERED, self._helps())
        self.messages = {}
        self.status = _status.REGISTERED
        self.started = self.stopped = None
        self.extra.pop("_owner", None)
        if data is not None:
            self.notes = list(data.get("_notes") or [])
        return self

    def move(self, new_directory: str | os.PathLike[str]) -> Experiment:
        """Move the experiment folder to ``new_directory`` (which must not exist)."""
        directory = self._require_directory()
        target = pathlib.Path(new_directory).absolute()
        if target.exists():
            raise _errors.ExperimentStateError("target already exists", source=str(target))
        self.close()
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(directory), str(target))
        self.directory = target
        self.save()
        return self

    def close(self) -> None:
        """Write pending messages to params.yml, close the message log and the summary
        writer (reopened on next use)."""
        if self._refresh is not None:
            self.refresh_messages()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __deepcopy__(self, memo: dict[int, Any]) -> Experiment:
        clone = type(self)()
        clone.params = copy.deepcopy(self.params, memo)
        clone._sync_attributes()
        return clone

    # -- running --------------------------------------------------------------------------
    def __call__(self) -> Any:
        """Run the experiment with status bookkeeping, signals and ``out.txt``; see ``_runner``."""
        from . import _runner

        return _runner.run(self)

    def stdout_to_txt(self) -> None:
        """Also copy stdout and stderr to ``out.txt`` from now on (xmen parity; ``__call__``
        does this for the duration of a run by itself)."""
        from . import _runner

        _runner.tee_forever(self.paths.out)

    def execute(self) -> Any:
        """The body run by ``__call__``: ``run()`` for the class API."""
        return self.run()

    # -- generated files and CLI ----------------------------------------------------------
    @classmethod
    def reference(cls) -> str:
        """``module:attr`` (or ``/path/file.py:attr`` for scripts) that ``fexp execute`` loads."""
        from . import _registry

        return _registry.reference_for(cls)

    @classmethod
    def to_defaults(cls, directory: str | os.PathLike[str]) -> pathlib.Path:
        """Write ``defaults.yml`` (every parameter with its type and help) into ``directory``."""
        from . import _render

        target = pathlib.Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        text = _render.render_defaults(
            list(cls.param_specs.values()), version=cls.version_info(), description=cls.description
        )
        _atomic.atomic_write(target / _layout.DEFAULTS_FILE, text)
        return target / _layout.DEFAULTS_FILE

    @classmethod
    def to_root(
        cls,
        directory: str | os.PathLike[str],
        *,
        header_lines: list[str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> pathlib.Path:
        """Write ``defaults.yml`` and an executable ``script.sh`` into ``directory``."""
        from . import _scripts

        cls.to_defaults(directory)
        return _scripts.write_script(
            pathlib.Path(directory), cls.reference(), header_lines=header_lines, env=env
        )

    @classmethod
    def main(cls, argv: list[str] | None = None) -> None:
        """The generated command line: one option per parameter, ``--root``, ``--name`` ...

        Example:
            >>> if __name__ == "__main__":
            ...     train.main()
        """
        from . import _cli_params

        _cli_params.main(cls, argv)


Root = Experiment
