"""Sets under hostile or careless hands (issue 11, items 3-5): rm and clean delete only what
fexp made, a corrupt experiment is one ``corrupt`` row that never runs while the rest works,
and many-target requests are all or nothing.
"""

from __future__ import annotations

import json
import pathlib

from .hostile_helpers import Cli, make_set, ok, refused, snapshot


def _rows(fexp_cli: Cli, root: pathlib.Path) -> dict[str, dict[str, object]]:
    return {r["name"]: r for r in json.loads(ok(fexp_cli("list", "-r", root, "--json")).stdout)}


# -- item 3: nothing deleted that fexp did not make ----------------------------------------
def test_clean_deletes_only_what_unlink_removed(fexp_cli: Cli, tmp_path: pathlib.Path) -> None:
    root = make_set(fexp_cli, tmp_path)
    (root / "data").mkdir()
    (root / "data" / "params.yml").write_text("lr: 0.1\nbatch: 8\n")  # a DVC-style folder
    (root / "copied").mkdir()
    (root / "copied" / "params.yml").write_text("_name: copied\n_status: finished\nlr: 1\n")
    assert ok(fexp_cli("clean", "-y", "-r", root)).stdout.strip() == "nothing to clean"
    ok(fexp_cli("unlink", "lr=0.1", "-r", root))
    assert ok(fexp_cli("clean", "-y", "-r", root)).stdout.strip() == "deleted 1"
    assert not (root / "lr=0.1").exists()
    assert (root / "data" / "params.yml").exists() and (root / "copied" / "params.yml").exists()


def test_clean_refuses_an_unlinked_folder_turned_into_a_link(
    fexp_cli: Cli, tmp_path: pathlib.Path
) -> None:
    root = make_set(fexp_cli, tmp_path)
    ok(fexp_cli("unlink", "lr=0.1", "-r", root))
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "params.yml").write_text("_name: x\n_status: finished\n")
    (root / "lr=0.1").rename(tmp_path / "old")
    (root / "lr=0.1").symlink_to(tmp_path / "precious")
    refused(fexp_cli("clean", "-y", "-r", root), "symbolic link")
    assert (tmp_path / "precious" / "params.yml").exists()


def test_emptied_experiment_yml_deletes_nothing(fexp_cli: Cli, tmp_path: pathlib.Path) -> None:
    root = make_set(fexp_cli, tmp_path)
    ok(fexp_cli("run", "*", "-r", root))
    (root / "experiment.yml").write_text("")
    before = snapshot(tmp_path)
    for args in (["clean", "-y"], ["relink"], ["run", "*"], ["note", "x", "*"]):
        refused(fexp_cli(*args, "-r", root), "corrupt")
    assert snapshot(tmp_path) == before


def test_rm_of_an_experiment_unlinks_it(fexp_cli: Cli, tmp_path: pathlib.Path) -> None:
    root = make_set(fexp_cli, tmp_path)
    ok(fexp_cli("rm", root / "lr=0.2", "-y"))
    assert not (root / "lr=0.2").exists()
    assert sorted(_rows(fexp_cli, root)) == ["lr=0.1", "lr=0.3"]
    ok(fexp_cli("run", "*", "-r", root))  # nothing is missing any more


def test_rm_force_deletes_a_set_holding_foreign_files(
    fexp_cli: Cli, tmp_path: pathlib.Path
) -> None:
    root = make_set(fexp_cli, tmp_path)
    ok(fexp_cli("run", "*", "-r", root))
    ok(fexp_cli("note", "x", "*", "-r", root))
    ok(fexp_cli("report", "-o", tmp_path / "r.html", "-r", root))
    ok(fexp_cli("rm", root, "-y"))  # a set fexp made and used is fexp's alone
    root = make_set(fexp_cli, tmp_path / "two")
    (root / "data").mkdir()
    refused(fexp_cli("rm", root, "-y"), "'data'")
    ok(fexp_cli("rm", root, "-y", "--force"))
    assert not root.exists()


# -- item 4: a corrupt experiment is one corrupt row, never run ----------------------------
def test_empty_params_yml_is_corrupt_and_never_runs(fexp_cli: Cli, tmp_path: pathlib.Path) -> None:
    root = make_set(fexp_cli, tmp_path)
    (root / "lr=0.1" / "params.yml").write_text("")
    (root / "lr=0.2" / "params.yml").write_text("lr: 0.2\n")  # no _name, no _status
    rows = _rows(fexp_cli, root)
    assert rows["lr=0.1"]["status"] == rows["lr=0.2"]["status"] == "corrupt"
    assert rows["lr=0.3"]["status"] == "registered"
    fexp_cli("run", "*", "-r", root)
    fexp_cli("run", "*", "--force", "-r", root)
    assert not (root / "lr=0.1" / "ran").exists()
    assert not (root / "lr=0.2" / "ran").exists()
    assert (root / "lr=0.3" / "ran").exists()
    assert (root / "lr=0.1" / "params.yml").read_text() == ""
    assert _rows(fexp_cli, root)["lr=0.1"]["status"] == "corrupt"


BROKEN = {
    "_messages": "_messages: [1, 2]\n",
    "_notes": "_notes: 5\n",
    "_attempts": "_attempts: 5\n",
    "_meta": "_meta: [1]\n",
}


def test_wrong_typed_special_keys_make_one_corrupt_row(
    fexp_cli: Cli, tmp_path: pathlib.Path
) -> None:
    for key, line in BROKEN.items():
        root = make_set(fexp_cli, tmp_path / key.strip("_"))
        path = root / "lr=0.2" / "params.yml"
        path.write_text(path.read_text().replace(f"{key}:", "_was:", 1) + line)
        (root / "lr=0.3" / "messages.jsonl").write_text(
            '{"t": 1.0, "m": {"loss": 0.5}, "step": 1}\n'
        )
        rows = _rows(fexp_cli, root)
        assert rows["lr=0.2"]["status"] == "corrupt", key
        assert key in str(rows["lr=0.2"]["error"])
        assert rows["lr=0.3"]["messages"] == {"loss": 0.5}
        ok(fexp_cli("list", "-r", root))
        ok(fexp_cli("report", "-o", root.parent / "r.html", "-r", root))
        ok(fexp_cli("plot", "loss", "-r", root))
        ok(fexp_cli("run", "*", "-r", root))
        assert (root / "lr=0.1" / "ran").exists() and not (root / "lr=0.2" / "ran").exists()


def test_bad_message_records_make_one_corrupt_row(fexp_cli: Cli, tmp_path: pathlib.Path) -> None:
    root = make_set(fexp_cli, tmp_path)
    (root / "lr=0.1" / "messages.jsonl").write_text('{"t": "noon", "m": {"loss": 1}}\n')
    (root / "lr=0.2" / "messages.jsonl").write_text('{"t": 1, "m": {"loss": 1}, "step": "x"}\n')
    (root / "lr=0.3" / "messages.jsonl").write_text('{"t": 1, "m": {"loss": 0.25}, "step": 2}\n')
    rows = _rows(fexp_cli, root)
    assert rows["lr=0.1"]["status"] == rows["lr=0.2"]["status"] == "corrupt"
    assert rows["lr=0.3"]["messages"] == {"loss": 0.25}
    assert "lr=0.3" in ok(fexp_cli("plot", "loss", "-r", root)).stdout
    ok(fexp_cli("plot", "loss", "-o", tmp_path / "p.svg", "-r", root))
    ok(fexp_cli("report", "-o", tmp_path / "r.html", "-r", root))
    ok(fexp_cli("list", "-r", root, "--csv"))


def test_list_all_sets_shows_a_corrupt_set_as_one_row(
    fexp_cli: Cli, tmp_path: pathlib.Path
) -> None:
    good = make_set(fexp_cli, tmp_path / "good")
    bad = make_set(fexp_cli, tmp_path / "bad")
    (bad / "experiment.yml").write_text("experiments: [\n")
    rows = json.loads(ok(fexp_cli("list", "--all-sets", "--json")).stdout)
    statuses = {(r["set"], r["name"]): r["status"] for r in rows}
    assert statuses[(str(bad), "set")] == "corrupt"
    assert [s for (root, _), s in statuses.items() if root == str(good)] == ["registered"] * 3


# -- item 5: all or nothing ----------------------------------------------------------------
def test_note_and_reset_star_change_nothing_when_one_target_is_corrupt(
    fexp_cli: Cli, tmp_path: pathlib.Path
) -> None:
    root = make_set(fexp_cli, tmp_path)
    ok(fexp_cli("run", "*", "-r", root))
    (root / "lr=0.3" / "params.yml").write_text("_name: lr=0.3\n_status: finished\n_notes: 5\n")
    before = snapshot(tmp_path)
    refused(fexp_cli("note", "checked", "*", "-r", root), "nothing was changed")
    refused(fexp_cli("reset", "*", "-r", root), "nothing was changed")
    assert snapshot(tmp_path) == before
    ok(fexp_cli("note", "checked", "lr=0.[12]", "-r", root))
    assert "checked" in (root / "lr=0.1" / "params.yml").read_text()
