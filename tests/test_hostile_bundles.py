"""``fexp import`` of hostile bundles (issue 11, item 1): no code of the bundle or named by it
is ever imported, only fexp's own members are accepted, and a refused bundle writes nothing.
"""

from __future__ import annotations

import gzip
import io
import pathlib
import shutil
import subprocess
import tarfile
from collections.abc import Callable

import pytest

from .hostile_helpers import (
    LAUGHS,
    Cli,
    make_set,
    members,
    ok,
    refused,
    run_fexp,
    snapshot,
    write_bundle,
)

EVIL = "import pathlib\npathlib.Path(__file__).with_name('IMPORTED').write_text('pwned')\n"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """One bundle exported through the CLI (export runs pip freeze: once per module)."""
    where = tmp_path_factory.mktemp("exported")

    def cli(*args: object) -> subprocess.CompletedProcess[str]:
        return run_fexp(*args, env={"FEXP_HOME": str(where / "home")})

    root = make_set(cli, where / "src")
    ok(cli("export", "*", "-o", where / "b.tar.gz", "-r", root))
    return where / "b.tar.gz"


@pytest.fixture
def bundle(exported: pathlib.Path, tmp_path: pathlib.Path) -> pathlib.Path:
    return pathlib.Path(shutil.copy(exported, tmp_path / "b.tar.gz"))


def _with(bundle: pathlib.Path, changes: dict[str, bytes | None]) -> pathlib.Path:
    files = members(bundle)
    for name, data in changes.items():
        if data is None:
            files.pop(name, None)
        else:
            files[name] = data
    return write_bundle(bundle.with_name("hostile.tar.gz"), files)


def _state(bundle: pathlib.Path) -> str:
    return members(bundle)["set/experiment.yml"].decode()


def _ref(tmp: pathlib.Path, bundle: pathlib.Path) -> pathlib.Path:
    """A bundle whose experiment.yml names an experiment in a module that marks an import."""
    (tmp / "evil").mkdir()
    (tmp / "evil" / "evil.py").write_text(EVIL)
    text = _state(bundle).replace("ref: null", f"ref: '{tmp / 'evil' / 'evil.py'}:x'")
    assert "evil.py" in text
    return _with(bundle, {"set/experiment.yml": text.encode()})


def test_import_never_imports_the_code_a_bundle_names(
    fexp_cli: Cli, tmp_path: pathlib.Path, bundle: pathlib.Path
) -> None:
    hostile = _ref(tmp_path, bundle)
    ok(fexp_cli("import", hostile, tmp_path / "there"))
    assert not (tmp_path / "evil" / "IMPORTED").exists()
    params = (tmp_path / "there" / "lr=0.1" / "params.yml").read_text()
    assert "the learning rate" in params  # helps come from defaults.yml, not the code
    ok(fexp_cli("note", "seen", "*", "-r", tmp_path / "there"))
    ok(fexp_cli("reset", "*", "-r", tmp_path / "there"))
    moved = tmp_path / "moved"
    (tmp_path / "there").rename(moved)
    ok(fexp_cli("relink", "-r", moved))
    assert not (tmp_path / "evil" / "IMPORTED").exists()
    assert f"_root: {moved}" in (moved / "lr=0.2" / "params.yml").read_text()


def _oversized_known(bundle: pathlib.Path) -> pathlib.Path:
    """A known member (set/defaults.yml) larger than the documented cap."""
    files = members(bundle)
    path = bundle.with_name("bigdefaults.tar.gz")
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for name, data in files.items():
            if name == "set/defaults.yml":
                data = b"#" * (64 * 1024 * 1024 + 1)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _special(bundle: pathlib.Path, name: str, kind: bytes, link: str = "") -> pathlib.Path:
    files = members(bundle)
    path = bundle.with_name("special.tar.gz")
    with tarfile.open(path, "w:gz") as tar:
        for member, data in files.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, link
        tar.addfile(info)
    return path


def _gzip_of_text(bundle: pathlib.Path) -> pathlib.Path:
    path = bundle.with_name("text.tar.gz")
    path.write_bytes(gzip.compress(b"not a tar at all\n" * 100))
    return path


Make = Callable[[pathlib.Path], pathlib.Path]
BAD_BUNDLES: list[tuple[str, Make, str]] = [
    (
        "python module member",
        lambda b: _with(b, {"set/sweep/evil.py": EVIL.encode()}),
        "not part of an fexp bundle",
    ),
    (
        "pickle member",
        lambda b: _with(b, {"set/lr=0.1/model.pkl": b"\x80\x04K\x01."}),
        "not part of an fexp bundle",
    ),
    (
        "top-level stranger",
        lambda b: _with(b, {"run.sh": b"rm -rf ~\n"}),
        "not part of an fexp bundle",
    ),
    (
        "environment stranger",
        lambda b: _with(b, {"environment/setup.py": b"x\n"}),
        "not part of an fexp bundle",
    ),
    (
        "generated folder",
        lambda b: _with(b, {"set/generated/params.yml": b"_name: g\n"}),
        "not part of an fexp bundle",
    ),
    (
        "hidden experiment",
        lambda b: _with(b, {"set/.hidden/params.yml": b"_name: h\n"}),
        "not part of an fexp bundle",
    ),
    ("known member over the cap", _oversized_known, "more than the"),
    (
        "symlink member",
        lambda b: _special(b, "set/lr=0.1/params.yml2", tarfile.SYMTYPE, "/etc/passwd"),
        "is a link",
    ),
    (
        "hard link member",
        lambda b: _special(b, "set/defaults.yml2", tarfile.LNKTYPE, "manifest.json"),
        "is a link",
    ),
    ("device member", lambda b: _special(b, "set/dev", tarfile.CHRTYPE), "device"),
    ("absolute member", lambda b: _with(b, {"/tmp/evil-fexp": b"x"}), "absolute path"),
    ("dotdot member", lambda b: _with(b, {"set/../../evil": b"x"}), "points outside"),
    ("gzip of text", _gzip_of_text, "not a readable tar archive"),
    ("laughs experiment.yml", lambda b: _with(b, {"set/experiment.yml": LAUGHS.encode()}), "alias"),
    ("laughs params.yml", lambda b: _with(b, {"set/lr=0.1/params.yml": LAUGHS.encode()}), "alias"),
    (
        "dotdot name",
        lambda b: _with(
            b, {"set/experiment.yml": _state(b).replace("lr=0.1:", "../../victim:").encode()}
        ),
        "corrupt",
    ),
    (
        "absolute name",
        lambda b: _with(
            b, {"set/experiment.yml": _state(b).replace("lr=0.1:", "/tmp/victim:").encode()}
        ),
        "corrupt",
    ),
    (
        "no experiments mapping",
        lambda b: _with(b, {"set/experiment.yml": b"created: x\n"}),
        "corrupt",
    ),
    ("empty params.yml", lambda b: _with(b, {"set/lr=0.2/params.yml": b""}), "empty"),
    (
        "params.yml without _status",
        lambda b: _with(b, {"set/lr=0.2/params.yml": b"_name: x\n"}),
        "_status",
    ),
    (
        "params.yml wrong _notes",
        lambda b: _with(
            b, {"set/lr=0.2/params.yml": b"_name: x\n_status: registered\n_notes: 5\n"}
        ),
        "'_notes'",
    ),
    (
        "python tag",
        lambda b: _with(
            b, {"set/defaults.yml": b"a: !!python/object/apply:os.system ['touch pwned']\n"}
        ),
        "unsafe",
    ),
    ("no script", lambda b: _with(b, {"set/script.sh": None}), "script.sh is missing"),
]


@pytest.mark.parametrize("case", BAD_BUNDLES, ids=[c[0] for c in BAD_BUNDLES])
def test_bad_bundles_are_refused_whole(
    fexp_cli: Cli, tmp_path: pathlib.Path, bundle: pathlib.Path, case: tuple[str, Make, str]
) -> None:
    _, make, fragment = case
    hostile = make(bundle)
    before = snapshot(tmp_path)
    refused(fexp_cli("import", hostile, tmp_path / "out" / "there", cwd=tmp_path), fragment)
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "out").exists() and not (tmp_path / "pwned").exists()
