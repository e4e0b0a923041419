"""A real single-node SLURM on localhost, for tests (pytest plugin) and benchmarks.

Follows the tested recipe in the team notes (slurm-local.md): one temp dir under /tmp holds
the munge key and socket, slurm.conf, state, spool and logs; munged, slurmctld and slurmd
run in the foreground as children of this process and are stopped by PID.

Outside pytest: ``cluster = start_cluster(); ...; cluster.stop()`` (SLURM_CONF is in
``cluster.env``). In pytest: register the plugin (``pytest_plugins = ["tests.slurm_cluster"]``)
and mark tests ``@pytest.mark.slurm``: the session-scoped ``slurm_cluster`` fixture starts the
cluster on first use and every marked test sees ``SLURM_CONF``.

``MaxArraySize`` is 1001 (indices 0-1000, Slurm's default): big enough for the 1,000-task
benchmark array, while tests exercise array splitting by passing a small ``max_array_size``
to the launcher instead of reconfiguring the cluster.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
from typing import Any

import pytest

MAX_ARRAY_SIZE = 1001
CRED_EXPIRE = 5  # seconds; the minimum. A requeued job waits cred_expire + 1 s before it restarts.
STARTUP_TIMEOUT = 30.0
DAEMONS = ("munged", "slurmctld", "slurmd")
BINARIES = (
    "munged",
    "mungekey",
    "slurmctld",
    "slurmd",
    "sinfo",
    "sbatch",
    "squeue",
    "scontrol",
    "scancel",
)
# Preemption (PreemptType=preempt/partition_prio): a job on HIGH_PARTITION takes the node from
# jobs on the default partition ``debug`` (PreemptMode=REQUEUE: SLURM requeues them) and on
# CANCEL_PARTITION (PreemptMode=CANCEL: they end PREEMPTED unless someone requeues them).
HIGH_PARTITION = "high"
CANCEL_PARTITION = "lowcancel"
PARTITIONS = ("debug", CANCEL_PARTITION, HIGH_PARTITION)
TERMINAL_STATES = frozenset(
    {
        "BOOT_FAIL",
        "CANCELLED",
        "COMPLETED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "TIMEOUT",
    }
)

SLURM_CONF_TEMPLATE = """\
ClusterName=fexptest
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={d}/run/munge.sock,cred_expire={cred_expire}
SlurmUser=root
SlurmdUser=root
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/run/slurmctld.pid
SlurmdPidFile={d}/run/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={d}/log/jobcomp.txt
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=1,bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
JobRequeue=1
MinJobAge=600
KillWait=5
MaxArraySize={max_array_size}
NodeName=localhost NodeAddr=127.0.0.1 CPUs={ncpu} RealMemory={mem} State=UNKNOWN
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
PartitionName=debug Nodes=ALL Default=YES PriorityTier=1 MaxTime=INFINITE State=UP
PartitionName={cancel_partition} Nodes=ALL PriorityTier=1 PreemptMode=CANCEL State=UP
PartitionName={high_partition} Nodes=ALL PriorityTier=10 PreemptMode=OFF State=UP
"""


class SlurmUnavailable(RuntimeError):
    """SLURM cannot run here (binaries missing or not root); the message says why."""


def unavailable_reason() -> str | None:
    """Say why a local cluster cannot start here, or None when it can."""
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if missing:
        return (
            f"SLURM is not installed (missing {', '.join(missing)}); install it with "
            "apt-get install slurmctld slurmd slurm-client munge"
        )
    if os.geteuid() != 0:
        return "the local SLURM cluster needs root (slurmd runs jobs as root)"
    return None


@dataclasses.dataclass
class Cluster:
    """A running local cluster: its folder, environment and daemon processes."""

    directory: pathlib.Path
    max_array_size: int = MAX_ARRAY_SIZE
    procs: dict[str, subprocess.Popen[bytes]] = dataclasses.field(default_factory=dict)
    stopped: bool = False

    @property
    def conf(self) -> pathlib.Path:
        return self.directory / "etc" / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """The current environment plus this cluster's SLURM_CONF."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *argv: str, check: bool = True, timeout: float = 30.0) -> str:
        """Run a SLURM client command against this cluster and return its stdout."""
        proc = subprocess.run(
            argv, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr}")
        return proc.stdout

    def log_tails(self, lines: int = 25) -> str:
        """The last lines of every daemon log, for error messages."""
        parts = []
        for path in sorted((self.directory / "log").glob("*")):
            with contextlib.suppress(OSError):
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path.name} ---\n" + "\n".join(tail))
        return "\n".join(parts)

    def stop(self, drain_timeout: float = 30.0) -> None:
        """Cancel every job, wait (bounded) for them to end, stop the daemons, delete the dir."""
        if self.stopped:
            return
        self.stopped = True
        try:
            if self.procs.get("slurmctld") is not None and self.procs["slurmctld"].poll() is None:
                self._drain(drain_timeout)
            # slurmd first (so no slurmstepd is orphaned mid-job), then slurmctld, then munged.
            for name in ("slurmd", "slurmctld", "munged"):
                proc = self.procs.get(name)
                if proc is not None:
                    _terminate(proc)
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _drain(self, timeout: float) -> None:
        for partition in PARTITIONS:  # scancel takes one partition at a time
            with contextlib.suppress(Exception):
                self.run("scancel", f"--partition={partition}", check=False, timeout=10)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                busy = self.run(
                    "squeue", "-h", "-t", "R,CG,S,CF", "-o", "%i", check=False, timeout=10
                ).strip()
            except subprocess.TimeoutExpired:
                busy = "?"
            if not busy:
                return
            time.sleep(0.2)


def _terminate(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """TERM one daemon, then KILL it if it is still alive after ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(5)


def _free_ports(count: int) -> list[int]:
    """Ports the kernel just called free (all held open together, so they differ)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _real_memory() -> int:
    """RealMemory in MB as slurmd detects it (setting more drains the node)."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"RealMemory=(\d+)", out)
    if not match:
        raise SlurmUnavailable(f"cannot read RealMemory from `slurmd -C`: {out!r}")
    return int(match.group(1))


def _spawn(cluster: Cluster, name: str, argv: list[str]) -> None:
    # A new session keeps a terminal's Ctrl-C away from the daemons: teardown stops them in
    # order instead. Popen duplicates the log's descriptor, so closing ours is fine.
    with open(cluster.directory / "log" / f"{name}.out", "wb") as log:
        cluster.procs[name] = subprocess.Popen(
            argv,
            env=cluster.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _wait_until(cluster: Cluster, what: str, ready: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        dead = [n for n, p in cluster.procs.items() if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            why = f"{', '.join(dead)} exited" if dead else f"no {what} after {timeout:g} s"
            raise RuntimeError(f"local SLURM did not start: {why}\n{cluster.log_tails()}")
        time.sleep(0.1)


def _node_idle(cluster: Cluster) -> bool:
    try:
        out = cluster.run("sinfo", "-h", "-o", "%T", check=False, timeout=5)
    except subprocess.TimeoutExpired:
        return False
    return "idle" in out.split()


def start_cluster(
    max_array_size: int = MAX_ARRAY_SIZE,
    cred_expire: int = CRED_EXPIRE,
    timeout: float = STARTUP_TIMEOUT,
) -> Cluster:
    """Start munged, slurmctld and slurmd in a new /tmp folder; return once the node is idle.

    Raises:
        SlurmUnavailable: SLURM is not installed or we are not root.
        RuntimeError: a daemon died or the node was not idle within ``timeout`` (log tails
            included). Nothing is left behind in either case.
    """
    reason = unavailable_reason()
    if reason:
        raise SlurmUnavailable(reason)
    # Not under pytest's 0700 tmp root: munged wants every parent of its socket world-executable.
    d = pathlib.Path(tempfile.mkdtemp(prefix="fexp-slurm-", dir="/tmp"))
    d.chmod(0o755)
    cluster = Cluster(d, max_array_size=max_array_size)
    # A script that forgets stop() (or dies on an exception) still leaves nothing running.
    atexit.register(cluster.stop)
    try:
        for sub, mode in (
            ("etc", 0o755),
            ("state", 0o755),
            ("spool", 0o755),
            ("log", 0o755),
            ("run", 0o755),
            ("munge", 0o700),
        ):
            (d / sub).mkdir(mode=mode)
            (d / sub).chmod(mode)
        key = d / "munge" / "munge.key"
        subprocess.run(["mungekey", "-c", "-k", str(key)], check=True, capture_output=True)
        ctld_port, slurmd_port = _free_ports(2)
        cluster.conf.write_text(
            SLURM_CONF_TEMPLATE.format(
                d=d,
                ctld_port=ctld_port,
                slurmd_port=slurmd_port,
                cred_expire=cred_expire,
                max_array_size=max_array_size,
                high_partition=HIGH_PARTITION,
                cancel_partition=CANCEL_PARTITION,
                ncpu=os.cpu_count() or 1,
                mem=_real_memory(),
            )
        )
        sock = d / "run" / "munge.sock"
        _spawn(
            cluster,
            "munged",
            [
                "munged",
                "-F",
                f"--key-file={key}",
                f"--socket={sock}",
                f"--pid-file={d}/run/munged.pid",
                f"--seed-file={d}/munge/munged.seed",
                f"--log-file={d}/log/munged.log",
            ],
        )
        _wait_until(cluster, "munge socket", sock.exists, 10.0)
        _spawn(cluster, "slurmctld", ["slurmctld", "-D", "-i"])
        _spawn(cluster, "slurmd", ["slurmd", "-D", "-N", "localhost"])
        _wait_until(cluster, "idle node in sinfo", lambda: _node_idle(cluster), timeout)
    except BaseException:
        cluster.stop(drain_timeout=5.0)
        raise
    return cluster


@contextlib.contextmanager
def running_cluster(**kwargs: Any) -> Iterator[Cluster]:
    """``start_cluster`` as a context manager; SLURM_CONF is set in os.environ inside it."""
    cluster = start_cluster(**kwargs)
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    try:
        yield cluster
    finally:
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old
        cluster.stop()


# --- helpers for tests -------------------------------------------------------------------------


def job_info(job_id: str) -> dict[str, str]:
    """``scontrol -o show job JOB_ID`` as a dict (the first record; {} when unknown)."""
    from fexp._launchers import slurm

    proc = subprocess.run(
        ["scontrol", "-o", "show", "job", str(job_id)], capture_output=True, text=True, check=False
    )
    records = slurm.parse_scontrol_show_job(proc.stdout) if proc.returncode == 0 else []
    return records[0] if records else {}


def wait_for_state(
    job_id: str,
    states: Collection[str] | str,
    timeout: float = 30.0,
    *,
    fail_on_other_terminal: bool = True,
) -> dict[str, str]:
    """Poll until the job's JobState is one of ``states``; return its ``job_info``.

    Raises:
        AssertionError: the job ended in a state not asked for (when
            ``fail_on_other_terminal``), or ``timeout`` passed; the message has the job info.
    """
    wanted = {states} if isinstance(states, str) else set(states)
    deadline = time.monotonic() + timeout
    info: dict[str, str] = {}
    while time.monotonic() < deadline:
        info = job_info(job_id)
        state = info.get("JobState", "")
        if state in wanted:
            return info
        if fail_on_other_terminal and state in TERMINAL_STATES:
            raise AssertionError(f"job {job_id} ended {state}, wanted {sorted(wanted)}: {info}")
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} not in {sorted(wanted)} after {timeout:g} s: {info}")


# --- pytest plugin ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[Cluster]:
    """A real local SLURM for the whole session; SLURM_CONF is exported while it runs.

    Skips when SLURM is not installed, unless the ``CI`` env var is set: then it fails, so
    a CI machine that lost its packages cannot pass by skipping.
    """
    reason = unavailable_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(
                f"CI is set but the local SLURM cluster cannot start: {reason}", pytrace=False
            )
        pytest.skip(reason)
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture
def slurm_conf(slurm_cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """The running cluster's slurm.conf, also set as SLURM_CONF for this test (monkeypatched)."""
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster.conf))
    return slurm_cluster.conf


@pytest.fixture(autouse=True)
def _slurm_marker(request: pytest.FixtureRequest) -> None:
    """Give every ``@pytest.mark.slurm`` test the cluster and its SLURM_CONF."""
    if request.node.get_closest_marker("slurm") is not None:
        request.getfixturevalue("slurm_conf")
