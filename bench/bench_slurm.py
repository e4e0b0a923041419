"""SLURM submission cost on the real local cluster: one job array vs one sbatch per experiment.

Jobs are submitted held (``--hold``) and cancelled right away, so this measures submission
only: writing the manifest and batch scripts plus the sbatch calls.
"""

from __future__ import annotations

import pathlib
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
    return [
        Result(f"slurm: submit {n} experiments as one job array", array_s, "s",
               target="ratio <= 0.1", baseline=f"{n} single sbatch calls",
               baseline_value=single_s),
        Result(f"slurm: states() of {n} array tasks (one squeue)", array_states_s, "s",
               target="value <= 1"),
        Result(f"slurm: states() of {n} single jobs (one squeue)", single_states_s, "s",
               target="value <= 2"),
    ]
