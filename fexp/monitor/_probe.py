"""The Probe hook: CPU %, RSS, and GPU utilisation and memory from ``nvidia-smi``."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from . import _context
from ._hooks import Hook, _compile, find_experiments
from ._specs import Spec

if TYPE_CHECKING:
    from ._monitor import Monitor


@dataclasses.dataclass(frozen=True)
class GpuUsage:
    """One GPU as reported by ``nvidia-smi``: utilisation in % and memory in MiB."""

    index: int
    utilization: float | None
    memory_used: float | None
    memory_total: float | None


def parse_nvidia_smi(text: str) -> list[GpuUsage]:
    """Parse ``nvidia-smi --query-gpu=index,utilization.gpu,memory.used,memory.total
    --format=csv,noheader,nounits`` output; ``[N/A]`` fields become None.

    Example:
        >>> parse_nvidia_smi("0, 35, 1200, 16160\\n1, [N/A], 3, 16160\\n")[1]
        GpuUsage(index=1, utilization=None, memory_used=3.0, memory_total=16160.0)
    """

    def number(field: str) -> float | None:
        try:
            return float(field)
        except ValueError:
            return None

    gpus = []
    for line in text.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 4 or not fields[0].isdigit():
            continue
        gpus.append(GpuUsage(int(fields[0]), *(number(f) for f in fields[1:])))
    return gpus


NVIDIA_SMI_QUERY = (
    "--query-gpu=index,utilization.gpu,memory.used,memory.total",
    "--format=csv,noheader,nounits",
)


class Probe(Hook):
    """Measure resource use (CPU %, RSS, GPU utilisation and memory) every N triggers.

    The spec's regex names the experiments to message (``"ex@10s"``); with an empty regex
    (``"@10s"``) the running fexp experiment gets them, or they are printed when there is none.
    GPU figures come from ``nvidia-smi`` when it is on the PATH.
    """

    def __init__(self, spec: str | Spec, *, write: Callable[[str], None] | None = None) -> None:
        import psutil

        super().__init__(spec)
        assert self.spec is not None
        self._experiments = _compile(self.spec.regex, self.spec.text) if self.spec.regex else None
        self._use_pattern("")
        self.write = write
        self._process = psutil.Process()
        self._process.cpu_percent(None)
        self._smi = shutil.which("nvidia-smi")

    def gpus(self) -> list[GpuUsage]:
        """Current GPU usage, empty without ``nvidia-smi``."""
        if self._smi is None:
            return []
        try:
            out = subprocess.run(
                [self._smi, *NVIDIA_SMI_QUERY], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return []
        return parse_nvidia_smi(out.stdout) if out.returncode == 0 else []

    def measure(self) -> dict[str, float]:
        """One measurement as message values."""
        values = {
            "cpu_percent": float(self._process.cpu_percent(None)),
            "rss_mb": self._process.memory_info().rss / 2**20,
        }
        for gpu in self.gpus():
            if gpu.utilization is not None:
                values[f"gpu{gpu.index}_utilization"] = gpu.utilization
            if gpu.memory_used is not None:
                values[f"gpu{gpu.index}_memory_mb"] = gpu.memory_used
        return values

    def __call__(self, var_dict: dict[str, Any], monitor: Monitor) -> None:
        values = self.measure()
        if self._experiments is not None:
            targets: Iterable[Any] = find_experiments(self._experiments, monitor)
        else:
            current = _context._current_experiment()
            targets = [current] if current is not None else []
        sent = False
        for experiment in targets:
            experiment.message(values, step=monitor.step)
            sent = True
        if not sent:
            level = self.spec.level if self.spec is not None else 0
            text = ", ".join(f"{k} = {v:.4g}" for k, v in values.items())
            (self.write or monitor.write)(f"[{monitor.prefix(level)}]: {text}")
