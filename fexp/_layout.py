"""Every file and folder name fexp puts on disk, and nowhere else.

``ExperimentPaths`` describes one experiment folder, ``SetPaths`` an experiment set.
"""

from __future__ import annotations

import dataclasses
import pathlib

PARAMS_FILE = "params.yml"
DEFAULTS_FILE = "defaults.yml"
SCRIPT_FILE = "script.sh"
SET_FILE = "experiment.yml"
OUT_FILE = "out.txt"
ERROR_FILE = "error.txt"
MESSAGES_FILE = "messages.jsonl"
CHECKPOINT_DIR = "checkpoints"
METADATA_DIR = "metadata"
LOCK_FILE = ".fexp.lock"
CONFIG_FILE = "config.yml"
GENERATED_DIR = "generated"
LAUNCH_LOG = "launch.txt"
ENVIRONMENTS_DIR = "environments"  # in a set: one <hash>.txt per distinct environment
DIFF_FILE = "git.diff"  # in an experiment folder: the dirty tree at run start

# The special keys of params.yml, in the order they are written (SPEC §4).
SPECIAL_KEYS: tuple[str, ...] = (
    "_name",
    "_root",
    "_status",
    "_purpose",
    "_created",
    "_registered",
    "_started",
    "_stopped",
    "_last",
    "_messages",
    "_notes",
    "_version",
    "_meta",
)
CONFIGS_DIR = "configs"
SERVICES_FILE = "services.yml"
TOKENS_DIR = "tokens"
INDEX_FILE = ".fexp-index.json"
# The per-set store (fexp/_store): experiment.yml's journal and twins, the row index's log.
SET_JOURNAL_FILE = ".fexp-journal.jsonl"
SET_HEAD_TWIN = ".experiment.yml.head.json"
SET_NAMES_TWIN = ".experiment.yml.names.json"
INDEX_LOG = ".fexp-index.log"


def sidecar_name(name: str) -> str:
    """The JSON twin that caches a parsed YAML file (``params.yml`` -> ``.params.yml.json``)."""
    return f".{name}.json"


# What fexp itself keeps in an experiment folder besides the run's own output.
INTERNAL_FILES = frozenset({PARAMS_FILE, sidecar_name(PARAMS_FILE), DIFF_FILE})


@dataclasses.dataclass(frozen=True)
class ExperimentPaths:
    """The files of one experiment folder."""

    directory: pathlib.Path

    @property
    def params(self) -> pathlib.Path:
        return self.directory / PARAMS_FILE

    @property
    def out(self) -> pathlib.Path:
        return self.directory / OUT_FILE

    @property
    def error(self) -> pathlib.Path:
        return self.directory / ERROR_FILE

    @property
    def messages(self) -> pathlib.Path:
        return self.directory / MESSAGES_FILE

    @property
    def checkpoints(self) -> pathlib.Path:
        return self.directory / CHECKPOINT_DIR

    @property
    def metadata(self) -> pathlib.Path:
        return self.directory / METADATA_DIR


@dataclasses.dataclass(frozen=True)
class SetPaths:
    """The files of one experiment set (the folder made by ``fexp init``)."""

    root: pathlib.Path

    @property
    def defaults(self) -> pathlib.Path:
        return self.root / DEFAULTS_FILE

    @property
    def script(self) -> pathlib.Path:
        return self.root / SCRIPT_FILE

    @property
    def state(self) -> pathlib.Path:
        return self.root / SET_FILE

    @property
    def lock(self) -> pathlib.Path:
        return self.root / LOCK_FILE

    @property
    def generated(self) -> pathlib.Path:
        return self.root / GENERATED_DIR

    def experiment(self, name: str) -> ExperimentPaths:
        return ExperimentPaths(self.root / name)


# ``fexp tune``: the study lives in the set, in this folder.
TUNE_DIR = "tune"
TUNE_FILE = "tune.yml"
JOURNAL_FILE = "journal.log"
WORKERS_DIR = "workers"
SUBMISSIONS_DIR = "submissions"
