"""``fexp run --fork``: run many short experiments without a new interpreter for each.

The experiment's module is imported once in the ``fexp`` process; each experiment then runs
in a forked child (``--jobs K`` children at once), with the same lifecycle as through
script.sh (status, out.txt, signals, error.txt). It skips script.sh, so the set's own
environment lines and interpreter are not used: it is opt-in, for experiments cheap enough
that interpreter start-up dominates. Unix only.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .. import _errors, _layout
from .._core import status as _st
from . import local

if TYPE_CHECKING:
    from .._experiment import Experiment
    from .._expset import ExperimentSet


def _child(cls: type[Experiment], params: str, claim: str | None) -> int:
    """The forked child: run one experiment and return the process exit code."""
    from .. import _cli_params, _runner
    from .._store import owner

    if claim is not None:
        os.environ[owner.CLAIM_ENV] = claim
    for sig in _runner.SIGNAL_STATUS:  # the parent's forwarding handlers are not ours
        signal.signal(sig, signal.SIG_DFL)
    try:
        exp = cls.from_params_file(params)
        _runner.check_runnable(exp)
        exp()
        return 0
    except _runner.Interrupted as stop:
        return _runner.exit_code(stop)
    except _errors.FexpError as exc:
        _cli_params.report_error(exc)
        return 2
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def spawn(
    cls: type[Experiment],
    params: str,
    claim: str | None = None,
    before: Callable[[], None] | None = None,
) -> int:
    """Run the experiment of ``params`` in a forked child (``before()`` first, in the child)
    holding the launch's ``claim``; return the child's pid for ``os.wait``."""
    from .. import _cli_params, _runner  # noqa: F401 - imported once here, not in each child

    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child leaves through os._exit
        if before is not None:
            before()
        os._exit(_child(cls, params, claim))
    return pid


def run_forked(
    xs: ExperimentSet,
    names: Sequence[str],
    *,
    jobs: int,
    retries: int,
    stop_on_failure: bool,
    cancel: local.Cancel,
    mine: Mapping[str, Any],
) -> list[local.RunResult]:
    """Run ``names`` in forked children, ``jobs`` at a time; see the module docstring."""
    if not hasattr(os, "fork"):
        raise _errors.ConfigError(
            "--fork needs a system with fork (Linux, macOS)", source="option --fork"
        )
    cls = xs.experiment_class()
    if cls is None:
        raise _errors.ConfigError(
            "--fork runs Python experiments in this process's children; this set runs a "
            "script, so run it without --fork",
            source="option --fork",
        )
    pending = list(names)
    attempts = dict.fromkeys(names, 0)
    running: dict[int, str] = {}
    results: list[local.RunResult] = []
    stop = False
    while pending or running:
        while pending and len(running) < jobs and not stop and not cancel.is_set():
            name = pending.pop(0)
            attempts[name] += 1
            pid = spawn(cls, str(xs.root / name / _layout.PARAMS_FILE), mine["claim"])
            running[pid] = name
            cancel.pids.add(pid)
        if not running:
            break
        pid, wait_status = _wait()
        cancel.pids.discard(pid)
        name = running.pop(pid)
        code = os.waitstatus_to_exitcode(wait_status)
        status = local.settle(xs, name, code, cancel.is_set(), mine)
        retry = status == _st.ERROR and attempts[name] <= retries and not cancel.is_set()
        if retry and local.reclaim(xs, name, mine, status):
            pending.insert(0, name)
            continue
        results.append(local.RunResult(name, status, code, attempts[name]))
        if stop_on_failure and (status in local.FAILED or code != 0):
            stop = True
            pending.clear()
    return results


def _wait() -> tuple[int, int]:
    """``os.wait`` that a forwarded signal does not cut short."""
    while True:
        try:
            return os.wait()
        except InterruptedError:  # pragma: no cover - PEP 475 retries already
            continue
