"""Launchers: turn a selection of experiments into scheduler jobs (SLURM, or fake for tests).

``base`` holds the interface and records, ``slurm`` the sbatch text/argv builders and the thin
submit/status/cancel shell, ``fake`` an in-memory launcher for unit tests.
"""

from __future__ import annotations
