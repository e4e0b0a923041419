"""Services of an experiment set (experimaestro's ``add_service``): helper processes such as a
TensorBoard, started while a set is open, listed in ``<set>/services.yml``, stopped on exit.

``Service`` is the interface; ``TensorboardService`` the first one. ``start``/``stop`` keep
``services.yml`` up to date under the set's lock; ``listed`` reads it back for ``fexp services``.
"""

from __future__ import annotations

import abc
import os
import socket
import subprocess
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from . import _atomic, _errors, _layout, _meta, _yaml

if TYPE_CHECKING:
    from ._expset import ExperimentSet

Listener = Callable[["Service", str], None]


class Service(abc.ABC):
    """A process that serves a set's experiments while the set is open (subclass it).

    ``start`` returns the URL (or None) once the service answers; ``stop`` ends it. Listeners
    added with ``add_listener`` are called as ``listener(service, state)`` with ``running``
    and ``stopped`` (experimaestro's service listeners).

    Example:
        >>> with fexp.ExperimentSet("runs/sweep") as xs:  # doctest: +SKIP
        ...     tb = xs.add_service("tensorboard", fexp.TensorboardService())
        ...     print(tb.url)
    """

    kind: ClassVar[str] = "service"

    def __init__(self) -> None:
        self.url: str | None = None
        self.state = "stopped"
        self._listeners: list[Listener] = []

    @abc.abstractmethod
    def start(self, xs: ExperimentSet) -> str | None:
        """Start serving ``xs``; return the URL users open, if any."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop the service (idempotent)."""

    @property
    def pid(self) -> int | None:
        """The service's process id, when it runs in its own process."""
        return None

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(service, state)`` on every change of state."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener`` (a listener never added is ignored)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _set_state(self, state: str) -> None:
        self.state = state
        for listener in list(self._listeners):
            listener(self, state)

    def __repr__(self) -> str:
        url = f" at {self.url}" if self.url else ""
        return f"<{type(self).__name__} {self.state}{url}>"


class TensorboardService(Service):
    """A TensorBoard over the set's experiments (or those matching ``pattern``), one run each.

    Needs the ``tensorboard`` extra; ``port=None`` picks a free port.
    """

    kind: ClassVar[str] = "tensorboard"

    def __init__(
        self,
        pattern: str | None = None,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        timeout: float = 60.0,
    ) -> None:
        super().__init__()
        self.pattern = pattern
        self.port = port
        self.host = host
        self.timeout = timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self, xs: ExperimentSet) -> str | None:
        from . import _services

        runs = {name: xs.root / name for name in xs.names(self.pattern)}
        self._process, url = _services.start_tensorboard(
            runs, self.port, self.host, timeout=self.timeout
        )
        return url

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- bookkeeping in <set>/services.yml ---------------------------------------------------


def _read(xs: ExperimentSet) -> dict[str, Any]:
    path = xs.root / _layout.SERVICES_FILE
    return _yaml.read_mapping(path) if path.exists() else {}


def _write(xs: ExperimentSet, entries: dict[str, Any]) -> None:
    from . import _render

    path = xs.root / _layout.SERVICES_FILE
    if not entries:
        path.unlink(missing_ok=True)
        return
    text = "# services of this set while it is open: managed by fexp\n"
    _atomic.atomic_write(path, text + _render.yaml_block(entries))


def start(xs: ExperimentSet, name: str, service: Service) -> Service:
    """Start ``service`` for ``xs`` under ``name`` and list it in services.yml.

    Raises:
        ConfigError: a bad name, or a service of that name is already running for the set.
    """
    from . import _naming

    _naming.check_name(name, source="argument name")
    if name in listed(xs):
        raise _errors.ConfigError(
            f"a service called {name!r} is already running for this set; stop it or choose "
            "another name",
            source="argument name",
        )
    service.url = service.start(xs)
    entry = {
        "kind": service.kind,
        "url": service.url,
        "pid": service.pid,
        "host": socket.gethostname(),
        "owner": os.getpid(),
        "started": _meta.now_iso(),
    }
    try:
        with xs.locked():
            _write(xs, {**_read(xs), name: entry})
    except BaseException:
        service.stop()
        raise
    service._set_state("running")
    return service


def stop(xs: ExperimentSet, name: str, service: Service) -> None:
    """Stop ``service`` and remove it from services.yml."""
    try:
        service.stop()
    finally:
        with xs.locked():
            entries = _read(xs)
            entries.pop(name, None)
            _write(xs, entries)
        service._set_state("stopped")


def listed(xs: ExperimentSet) -> dict[str, dict[str, Any]]:
    """The services of ``xs`` whose owning process still runs (on this host, as far as
    can be checked); entries of crashed owners are left out."""
    here = socket.gethostname()
    out = {}
    for name, entry in _read(xs).items():
        if not isinstance(entry, dict):
            continue
        if entry.get("host") == here and not _meta.pid_alive(entry.get("owner")):
            continue
        out[str(name)] = entry
    return out
