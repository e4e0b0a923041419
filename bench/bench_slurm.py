"""SLURM on the real local cluster: submission cost of one job array vs one sbatch per
experiment, and the end-to-end time of a small array through ``fexp run --slurm``.

For the submission cases, jobs are submitted held (``--hold``) and cancelled right away, so
they measure submission only: writing the manifest and batch scripts plus the sbatch calls.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import tempfile
import time

from bench.common import Result
from fexp._launchers import base, slurm
from tests import slurm_cluster


def _jobs(folder: pathlib.Path, n: int) -> list[base.Job]:
    script = folder / "script.sh"
    script.write_text("#!/usr/bin/env bash\ntrue\n")
    script.chmod(0o755)
    return [base.Job(f"exp_{i}", folder / f"exp_{i}" / "params.yml", script, folder)
            for i in range(n)]


def _submit(folder: pathlib.Path, jobs: list[base.Job], *, array: bool) -> tuple[float, float]:
    """Seconds to submit ``jobs`` held, and to ask all their states (one squeue) after."""
    options = slurm.SlurmOptions(extra_args=("--hold",))
    launcher = slurm.SlurmLauncher(folder, options, array=array)
    start = time.perf_counter()
    subs = launcher.submit(jobs)
    submit_s = time.perf_counter() - start
    start = time.perf_counter()
    states = launcher.states([s.key for s in subs])
    states_s = time.perf_counter() - start
    if sorted({s.status for s in states.values()}) != ["queued"]:
        raise RuntimeError(f"held jobs not all queued: {set(states.values())}")
    # Whole arrays by their job id, single jobs by theirs: one scancel call.
    launcher.cancel(sorted({s.job_id for s in subs}))
    return submit_s, states_s


NOOP = """
import fexp


@fexp.experiment
def noop(root: fexp.Root, i: int = 0):  # @p the experiment's index
    \"\"\"Do nothing.\"\"\"
"""


def _statuses(root: pathlib.Path) -> list[str]:
    from fexp import _errors, _yaml

    out = []
    for path in root.glob("*/params.yml"):
        try:
            out.append(str(_yaml.read_mapping(path).get("_status")))
        except _errors.FexpError:  # a reader may race a writer's rename on some filesystems
            out.append("?")
    return out


def _array_to_finished(folder: pathlib.Path, n: int, timeout: float = 300.0
                       ) -> tuple[float, float]:
    """Seconds ``fexp run '*' --slurm`` takes to return (submitted, recorded and released),
    and seconds from its start until all ``n`` no-op experiments are finished."""
    exe = shutil.which("fexp")
    if exe is None:
        raise RuntimeError("the fexp console script is not installed (pip install -e .)")
    env = {**os.environ, "FEXP_HOME": str(folder / "home")}
    (folder / "noop.py").write_text(NOOP)
    root = folder / "set"
    sweep = "{i: " + " | ".join(str(i) for i in range(n)) + "}"
    for args in (["init", f"{folder / 'noop.py'}:noop", "-r", str(root)],
                 ["link", sweep, "-r", str(root)]):
        subprocess.run([exe, *args], env=env, check=True, capture_output=True)
    start = time.perf_counter()
    subprocess.run([exe, "run", "*", "-r", str(root), "--slurm"], env=env, check=True,
                   capture_output=True)
    submitted = time.perf_counter() - start
    while time.perf_counter() - start < timeout:
        statuses = _statuses(root)
        if len(statuses) == n and all(s == "finished" for s in statuses):
            return submitted, time.perf_counter() - start
        if any(s in ("error", "stopped", "timeout") for s in statuses):
            raise RuntimeError(f"a no-op experiment failed: {sorted(set(statuses))}")
        time.sleep(0.05)
    raise RuntimeError(f"{n} no-op experiments not finished after {timeout:g} s")


def _raw_array_to_finished(folder: pathlib.Path, n: int, timeout: float = 300.0) -> float:
    """The cluster's own floor: seconds until a plain ``sbatch --array`` of ``n`` tasks
    running ``true`` has left the queue."""
    script = folder / "true.sh"
    script.write_text("#!/usr/bin/env bash\ntrue\n")
    script.chmod(0o755)
    start = time.perf_counter()
    out = subprocess.run(["sbatch", "--parsable", f"--array=0-{n - 1}", "-o", "/dev/null",
                          str(script)], check=True, capture_output=True, text=True).stdout
    job_id, _ = slurm.parse_sbatch_output(out)
    while time.perf_counter() - start < timeout:
        left = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%i"], capture_output=True,
                              text=True, check=False).stdout
        if not left.strip():
            return time.perf_counter() - start
        time.sleep(0.05)
    raise RuntimeError(f"{n} trivial array tasks not done after {timeout:g} s")


def run(quick: bool) -> list[Result]:
    """Time submitting N trivial experiments as one array and as N single jobs."""
    reason = slurm_cluster.unavailable_reason()
    if reason:
        return [Result(f"slurm submit: skipped ({reason})", 0.0, "s")]
    n = 200 if quick else 1000
    with slurm_cluster.running_cluster(), tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        jobs = _jobs(root, n)
        array_s, array_states_s = _submit(root / "array", jobs, array=True)
        single_s, single_states_s = _submit(root / "single", jobs, array=False)
        (root / "e2e").mkdir()
        raw_s = _raw_array_to_finished(root / "e2e", 20)
        e2e_submit_s, e2e_s = _array_to_finished(root / "e2e", 20)
    return [
        Result(f"slurm: submit {n} experiments as one job array", array_s, "s",
               target="ratio <= 0.1", baseline=f"{n} single sbatch calls",
               baseline_value=single_s),
        Result(f"slurm: states() of {n} array tasks (one squeue)", array_states_s, "s",
               target="value <= 1"),
        Result(f"slurm: states() of {n} single jobs (one squeue)", single_states_s, "s",
               target="value <= 2"),
        Result("slurm: fexp run --slurm of 20 no-op experiments (one array) returns",
               e2e_submit_s, "s", target="value <= 3"),
        # On a 2-CPU node SLURM itself needs ~8-9 s to start 20 one-CPU tasks two at a time,
        # so the end-to-end time is judged against that floor, measured in the same run.
        Result("slurm: fexp run --slurm of 20 no-op experiments, submission to all finished",
               e2e_s, "s", target="",  # the issue asks to measure this, with no target
               baseline="sbatch --array of 20 `true` tasks", baseline_value=raw_s),
    ]
