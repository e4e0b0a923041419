"""ExperimentSet: a folder of experiments sharing defaults.yml, script.sh and experiment.yml.

Every change takes the set's file lock, validates the whole request, then writes atomically;
a failure part-way removes what the request created, so nothing is left half-written.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import _atomic, _errors, _find, _layout, _meta, _params, _yaml
from ._store import set_file

if TYPE_CHECKING:
    from ._experiment import Experiment
    from ._launchers.local import Launch, RunSummary
    from ._services_registry import Service
    from ._sets.tune import TuneResult
    from ._token import Token


class ExperimentSet:
    """A set of experiments in one folder (made by ``fexp init``).

    Example:
        >>> with ExperimentSet("runs/sweep") as xs:  # doctest: +SKIP
        ...     xs.link("{lr: 1e-2 | 1e-3}")
        ...     xs.run()
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = pathlib.Path(root).absolute()
        self.paths = _layout.SetPaths(self.root)
        self._launched: list[Any] = []
        self.services: dict[str, Service] = {}

    def __repr__(self) -> str:
        return f"ExperimentSet({str(self.root)!r})"

    def __enter__(self) -> ExperimentSet:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        """Wait for what this object launched (stop it first after an exception), then stop
        its services (experimaestro's ``with experiment(...)``)."""
        try:
            if exc_type is not None:
                self.stop()
            self.wait()
        finally:
            self.stop_services()

    # -- state ----------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.paths.state.exists()

    def _require(self) -> None:
        if not self.paths.state.exists():
            raise _errors.ExperimentStateError(
                f"no experiment set here ({_layout.SET_FILE} missing); create one with "
                "`fexp init NAME -r DIR`",
                source=str(self.root),
            )

    def state(self) -> dict[str, Any]:
        """experiment.yml (with its journal) as data, once it is known to be a sound set
        state (``_store.set_state``); a missing or corrupt file is a clear error."""
        from ._store import set_state

        self._require()
        data = set_file.read_state(self.root)
        return set_state.check_state(data, self.root, self.paths.state)

    def head(self) -> dict[str, Any]:
        """experiment.yml without its experiments (ref, env, root, notes ...), read without
        parsing every experiment's entry."""
        self._require()
        return set_file.read_head(self.root)

    def _write_state(self, state: Mapping[str, Any]) -> None:
        set_file.write_state(self.root, state)

    def locked(self) -> Any:
        """The set's inter-process lock (a context manager)."""
        return _atomic.locked(self.paths.lock)

    def names(self, pattern: str | None = None) -> list[str]:
        """Names of the set's experiments matching a glob (or ``re:REGEX``)."""
        self._require()
        return _find.match_names(set_file.read_names(self.root), pattern)

    # -- definition -----------------------------------------------------------------------
    def experiment_class(self) -> type[Experiment] | None:
        """The Experiment class behind the set, or None for script-only sets."""
        from . import _registry

        ref = self.head().get("ref")
        return _registry.resolve(ref) if ref else None

    def specs(self) -> dict[str, _params.ParamSpec]:
        """Parameter specs: from the experiment class, else inferred from defaults.yml."""
        from . import _sweep

        cls = self.experiment_class()
        if cls is not None:
            return dict(cls.param_specs)
        defaults = _yaml.read_mapping(self.paths.defaults)
        return _sweep.specs_from_defaults(
            {k: v for k, v in defaults.items() if not str(k).startswith("_")}
        )

    @classmethod
    def init(
        cls,
        root: str | os.PathLike[str],
        experiment: str | type[Experiment] | None = None,
        *,
        script: str | os.PathLike[str] | None = None,
        defaults: str | os.PathLike[str] | None = None,
        purpose: str = "",
        env: Mapping[str, str] | None = None,
    ) -> ExperimentSet:
        """Create a set from an experiment (registered name, ``module:attr``, or class), or
        from ``script`` + ``defaults`` for experiments that are not Python."""
        from . import _config

        xs = cls(root)
        if xs.exists():
            raise _errors.ExperimentStateError(
                "an experiment set already exists here; use it, or choose another -r DIR",
                source=str(xs.root),
            )
        if (experiment is None) == (script is None):
            raise _errors.ConfigError(
                "give either an experiment (NAME or module:attr) or --script with --defaults"
            )
        if script is not None and defaults is None:
            raise _errors.ConfigError(
                "--script needs --defaults (the parameters' defaults.yml)",
                source="option --defaults",
            )
        exp_cls = resolve_experiment(experiment) if experiment is not None else None
        _config.load()  # a broken global config is reported before anything is written
        with _undone_on_failure(xs):
            with xs.locked():
                xs._write_definition(exp_cls, script, defaults, env)
                state: dict[str, Any] = {
                    "created": _meta.now_iso(),
                    "purpose": purpose,
                    "notes": [],
                    "ref": exp_cls.reference() if exp_cls else None,
                    "root": str(xs.root),
                    "env": dict(env or {}),
                    "experiments": {},
                }
                xs._write_state(state)
            _config.add_set(xs.root)
        return xs

    def _write_definition(
        self,
        exp_cls: type[Experiment] | None,
        script: str | os.PathLike[str] | None,
        defaults: str | os.PathLike[str] | None,
        env: Mapping[str, str] | None,
    ) -> list[pathlib.Path]:
        from . import _scripts

        if exp_cls is not None:
            exp_cls.to_defaults(self.root)
            _scripts.write_script(self.root, exp_cls.reference(), env=env)
            return [self.paths.defaults, self.paths.script]
        script_path, defaults_path = pathlib.Path(str(script)), pathlib.Path(str(defaults))
        for path, option in ((script_path, "--script"), (defaults_path, "--defaults")):
            if not path.is_file():
                raise _errors.ConfigError("file not found", source=f"option {option} {str(path)!r}")
        _yaml.read_mapping(defaults_path)  # validate before writing anything
        _atomic.atomic_write(self.paths.defaults, defaults_path.read_bytes())
        _atomic.atomic_write(self.paths.script, script_path.read_bytes(), mode=0o755)
        return [self.paths.defaults, self.paths.script]

    # -- link -----------------------------------------------------------------------------
    def link(
        self,
        sweep: str | None = None,
        *,
        config: str | os.PathLike[str] | None = None,
        repeats: int = 1,
        name: str | None = None,
        purpose: str = "",
        samples: int | None = None,
        seed: int | None = None,
        points: Sequence[Mapping[str, Any]] | None = None,
    ) -> list[str]:
        """Register one experiment per configuration of a sweep; return their names.

        Args:
            sweep: ``"{lr: 1e-2 | 1e-3, epochs: 10}"`` (SPEC §6), or with ``samples``
                a random search ``"{lr: loguniform(1e-5, 1e-1)}"``.
            config: a YAML file of overrides (``parent:`` chains merged first).
            repeats: register each configuration this many times.
            name: the folder name (a prefix when there are several configurations).
            points: configurations given directly (used by ``--from-best``).
        """
        from . import _linking

        return _linking.link(
            self,
            sweep,
            config=config,
            repeats=repeats,
            name=name,
            purpose=purpose,
            samples=samples,
            seed=seed,
            points=points,
        )

    # -- maintenance ----------------------------------------------------------------------
    def unlink(self, pattern: str) -> list[str]:
        """Stop managing matching experiments (their folders stay until ``clean``)."""
        from ._sets import maintenance

        return maintenance.unlink(self, pattern)

    def unmanaged(self) -> list[str]:
        """Experiment folders in the set that experiment.yml does not list."""
        from ._sets import maintenance

        return maintenance.unmanaged(self)

    def relink(self, pattern: str | None = None) -> list[str]:
        """Manage again the unlinked folders matching ``pattern``, and re-root every
        experiment whose recorded ``_root`` differs (the set folder was moved)."""
        from ._sets import maintenance

        return maintenance.relink(self, pattern)

    def _write_params(
        self, directory: pathlib.Path, data: Mapping[str, Any], *, durable: bool = True
    ) -> None:
        from ._store import params_file

        params_file.write(directory, data, self.helps(), durable=durable)

    def helps(self) -> dict[str, str]:
        """Each parameter's help, from defaults.yml's comments (never imports the code)."""
        from ._core import helps

        try:
            return helps.helps_from_defaults(self.paths.defaults.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            return {}

    def _specs_or_empty(self) -> dict[str, _params.ParamSpec]:
        try:
            return self.specs()
        except _errors.FexpError:
            return {}

    def reset(
        self, pattern: str, status: str = "registered", *, keep_outputs: bool = False
    ) -> list[str]:
        """Set matching experiments back to ``status`` (default ``registered``); back to
        ``registered`` their outputs, messages, checkpoints and error.txt are removed too
        (unless ``keep_outputs``), so the next run starts from scratch."""
        from ._core import status as _status
        from ._store import params_file

        if status not in _status.RECORDED:
            raise _errors.ConfigError(
                f"unknown status {status!r}; one of {', '.join(_status.RECORDED)}",
                source="option --status",
            )
        from ._sets import maintenance

        with self.locked():
            names = self.names(pattern)
            maintenance.read_all(self, names, "reset")  # all or nothing: validate every target
            helps = self.helps()
            for name in names:
                params_file.reset(self.root / name, status, helps, keep_outputs=keep_outputs)
        return names

    def clean(self) -> list[str]:
        """Delete the folders ``unlink`` removed from the set (only while their params.yml
        is one fexp wrote); return their names."""
        from ._sets import maintenance

        return maintenance.clean(self)

    def note(self, text: str, pattern: str | None = None, remove: bool = False) -> list[str]:
        """Add (or remove) a note on the set, or on the experiments matching ``pattern``."""
        with self.locked():
            state = self.state()
            if pattern is None:
                notes = [n for n in state.get("notes") or [] if n != text]
                state["notes"] = notes if remove else [*notes, text]
                self._write_state(state)
                return []
            from ._sets import maintenance

            def change(data: dict[str, Any]) -> None:
                notes = [n for n in data.get("_notes") or [] if n != text]
                data["_notes"] = notes if remove else [*notes, text]

            return maintenance.update_all(self, pattern, "note", change)

    def setenv(self, name: str, value: str) -> None:
        """Record an environment variable in the set; script.sh exports it."""
        from . import _scripts

        if not name.isidentifier():
            raise _errors.ConfigError(f"{name!r} is not a valid environment variable name")
        with self.locked():
            state = self.state()
            state["env"] = {**(state.get("env") or {}), name: str(value)}
            self._write_state(state)
            if state.get("ref"):
                _scripts.write_script(self.root, state["ref"], env=state["env"])

    # -- running and finding --------------------------------------------------------------
    def run(
        self,
        pattern: str | None = None,
        launcher: Sequence[str] = ("bash",),
        *,
        jobs: int = 1,
        force: bool = False,
        retries: int = 0,
        stop_on_failure: bool = False,
        progress: bool = False,
        fork: bool = False,
        resume: bool = False,
    ) -> RunSummary:
        """Run matching ``registered`` experiments through script.sh and wait for them.

        ``resume`` also re-runs interrupted and failed ones in their folders (they continue
        from their checkpoints); ``force`` runs any status. ``launch`` runs in the background.
        """
        from ._launchers import local

        return local.run_set(
            self,
            pattern,
            launcher,
            jobs=jobs,
            force=force,
            retries=retries,
            stop_on_failure=stop_on_failure,
            progress=progress,
            resume=resume,
            fork=fork,
        )

    def launch(
        self,
        pattern: str | None = None,
        launcher: Sequence[str] = ("bash",),
        *,
        jobs: int = 1,
        force: bool = False,
        retries: int = 0,
        stop_on_failure: bool = False,
        resume: bool = False,
    ) -> Launch:
        """Start ``run`` in the background and return at once; ``wait()``, ``stop()`` and the
        end of a ``with`` block wait for (or stop) what it started."""
        from ._launchers import local

        self.names(pattern)  # A missing set is reported here, not in the background.
        launched = local.Launch(
            lambda cancel: local.run_set(
                self, pattern, launcher, jobs=jobs, force=force, retries=retries,
                stop_on_failure=stop_on_failure, progress=False, resume=resume, cancel=cancel,
            )
        )
        self._launched.append(launched)
        return launched

    def tune(
        self,
        space: str | None = None,
        *,
        objectives: Sequence[str] = (),
        trials: int = 0,
        jobs: int = 1,
        experiment: str | type[Experiment] | None = None,
        sampler: str | None = None,
        pruner: str | None = None,
        seed: int | None = None,
        fork: bool = False,
    ) -> TuneResult:
        """Start (or continue) an adaptive search; every trial is an experiment of this set.

        Arguments as ``fexp tune`` (extra ``fexp[tune]``): ``space`` in the random-search
        grammar, ``objectives`` like ``"val_loss:min"``, ``trials`` added to the budget,
        ``jobs`` trials at once; a new set also needs ``experiment``. Returns what ran.

        Example:
            >>> xs.tune("{lr: loguniform(1e-5, 1e-1)}", objectives=["loss:min"],
            ...         trials=20, experiment="train")  # doctest: +SKIP
        """
        from ._sets import tune

        return tune.tune_set(
            self.root,
            tune.TuneRequest(experiment, space, tuple(objectives), trials, sampler, pruner, seed),
            jobs=jobs,
            fork=fork,
        )

    def stop(self) -> None:
        """Stop what this object launched: nothing more starts, running experiments get
        SIGTERM and record ``stopped``."""
        for launched in self._launched:
            launched.stop()

    # -- experimaestro: services, tokens, configuration objects --------------------------
    def add_service(self, name: str, service: Service) -> Service:
        """Start ``service`` (e.g. ``fexp.TensorboardService()``) for this set; it is listed
        in ``services`` and by ``fexp services`` until ``stop_services`` or the ``with`` ends."""
        from . import _services_registry

        self.services[name] = _services_registry.start(self, name, service)
        return service

    def stop_services(self) -> None:
        """Stop every service started by ``add_service``, newest first."""
        from . import _services_registry

        while self.services:
            name, service = self.services.popitem()
            _services_registry.stop(self, name, service)

    def token(self, name: str, count: int = 1) -> Token:
        """Make every experiment of this set hold a slot of token ``name`` (``count`` slots on
        each machine) while it runs: script.sh exports ``FEXP_TOKENS``. Returns the token."""
        from . import _token

        token = _token.Token(name, count)
        state = self.state()
        if not state.get("ref"):
            raise _errors.ConfigError(
                f"a script-only set cannot hold tokens for its script; run the command in "
                f"script.sh as `fexp token {name} -c {count} COMMAND`", source=str(self.root))
        specs = _token.parse_tokens((state.get("env") or {}).get(_token.ENV_VAR, ""))
        self.setenv(_token.ENV_VAR, _token.render_tokens({**specs, name: count}))
        return token

    def save(self, name: str, obj: Any) -> pathlib.Path:
        """Save a configuration object (dataclass or plain data) as ``configs/NAME.yml``."""
        from . import _metadata

        return _metadata.write(self.root / _layout.CONFIGS_DIR, name, obj)

    def load(self, name: str, type_: type | None = None) -> Any:
        """Load ``configs/NAME.yml``; a dataclass ``type_`` is rebuilt from it."""
        from . import _metadata

        return _metadata.read(self.root / _layout.CONFIGS_DIR, name, type_)

    def find(self, pattern: str | None = None, **kwargs: Any) -> list[dict[str, Any]]:
        """Rows for this set's experiments (see ``fexp.find``)."""
        return _find.find(self.root, pattern, **kwargs)

    def wait(self) -> None:
        """Wait for everything this set object launched in the background."""
        for proc in self._launched:
            proc.wait()
        self._launched.clear()

    def __iter__(self) -> Iterator[pathlib.Path]:
        return iter(self.root / n for n in self.names())


@contextlib.contextmanager
def _undone_on_failure(xs: ExperimentSet) -> Iterator[None]:
    """Create the set's folder; if the block fails, remove the files it made there and the
    folders this call created, so a failed ``init`` leaves no half-made set."""
    made = [xs.paths.defaults, xs.paths.script, xs.paths.state, xs.paths.lock,
            xs.root / _layout.sidecar_name(_layout.SET_FILE)]  # fmt: skip
    made = [p for p in made if not p.exists()]
    folders = [p for p in [xs.root, *xs.root.parents] if not p.exists()]
    xs.root.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for path in made:
            path.unlink(missing_ok=True)
        for folder in folders:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def resolve_experiment(experiment: str | type[Experiment]) -> type[Experiment]:
    """A class, a registered name, or a reference (``module:attr``/``file.py:attr``)."""
    from . import _config, _registry

    if isinstance(experiment, type):
        return experiment
    if ":" in experiment:
        return _registry.resolve(experiment)
    registered = _config.load().get("experiments") or {}
    entry = registered.get(experiment)
    if entry is None:
        known = ", ".join(sorted(registered)) or "none yet"
        hint = _errors.did_you_mean(experiment, registered)
        extra = f" Did you mean {hint!r}?" if hint else ""
        raise _errors.ConfigError(
            f"no experiment registered as {experiment!r}.{extra} Registered: {known}. Add one "
            "with `fexp experiments add module:attr NAME`, or pass module:attr directly."
        )
    return _registry.resolve(entry["ref"])
