"""``fexp ui`` through its HTTP API: the installed ``fexp ui`` runs on real uvicorn in a
subprocess and is asked with urllib/http.client, as a browser (or an attacker) would.

The page itself is tested in Chromium in ``test_ui_browser.py``.
"""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import subprocess
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from fexp import _errors, _yaml
from fexp._views.ui import data, security
from tests import ui_sets

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, dict[str, str]]:
    """A finished demo sweep (12 runs + one hostile folder) and the env to reach it."""
    return ui_sets.make_demo(tmp_path_factory, "ui")


@pytest.fixture(scope="module")
def server(demo: tuple[pathlib.Path, dict[str, str]]) -> Iterator[ui_sets.UiServer]:
    root, env = demo
    ui = ui_sets.UiServer(root, env=env)
    yield ui
    ui.stop()


def _list_json(root: pathlib.Path, env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [ui_sets.fexp_exe(), "list", "-r", str(root), "--json", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def _raw_get(server: ui_sets.UiServer, target: str, host: str | None = None) -> tuple[int, bytes]:
    """GET with the request target sent exactly as given (no client-side normalisation)."""
    parts = urllib.parse.urlsplit(server.base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.putrequest("GET", target, skip_host=True)
    conn.putheader("Host", host or parts.netloc)
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body


def test_rows_have_the_columns_and_experiments_of_fexp_list(
    server: ui_sets.UiServer, demo: tuple[pathlib.Path, dict[str, str]]
) -> None:
    root, env = demo
    body = server.json("api/rows")
    headers = [c["header"] for c in body["columns"]]
    assert headers[:3] == ["name", "status", "created"]
    assert {"lr", "width", "seed", "loss", "acc"} <= set(headers)
    kinds = {c["header"]: c["kind"] for c in body["columns"]}
    assert kinds["lr"] == "param" and kinds["loss"] == "message" and kinds["status"] == "field"
    listed = _list_json(root, env)
    assert sorted(r["c"][0] for r in body["rows"]) == sorted(r["name"] for r in listed)
    assert ui_sets.HOSTILE in {r["c"][0] for r in body["rows"]}
    by_name = {r["c"][0]: r for r in body["rows"]}
    for row in listed:
        cells = by_name[row["name"]]["c"]
        assert cells[headers.index("loss")] == row["messages"]["loss"]
        assert cells[headers.index("lr")] == row["params"]["lr"]


def test_the_filter_speaks_the_where_grammar_of_the_cli(
    server: ui_sets.UiServer, demo: tuple[pathlib.Path, dict[str, str]]
) -> None:
    root, env = demo
    for conditions in (["lr<0.01"], ["width==128", "loss<0.2"], ["name~seed=1"]):
        query = urllib.parse.urlencode([("w", c) for c in conditions])
        ids = server.json(f"api/filter?{query}")["ids"]
        expected = _list_json(root, env, *[a for c in conditions for a in ("-w", c)])
        assert sorted(i.split(":", 1)[1] for i in ids) == sorted(r["name"] for r in expected)
        assert ids  # each condition above matches something in the demo sweep
    status, body = server.get("api/filter?w=" + urllib.parse.quote("lr<<1"))
    cli = subprocess.run(
        [ui_sets.fexp_exe(), "list", "-r", str(root), "-w", "lr<<1"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    assert status == 400 and cli.returncode == 2
    assert json.loads(body)["error"] in cli.stderr  # the very text `fexp list -w` prints


def test_the_experiment_page_data(server: ui_sets.UiServer) -> None:
    ident = "0:lr=0.1__width=32__seed=1"
    page = server.json("api/experiment?" + urllib.parse.urlencode({"id": ident}))
    params = {k: (v, h) for k, v, h in page["params"]}
    assert params["lr"][0] == 0.1 and params["lr"][1].startswith("float")
    assert page["status"] == "finished" and page["attempts"][0]["status"] == "finished"
    assert page["files"]["out.txt"] > 0 and page["files"]["error.txt"] is None
    status, _ = server.get("api/history?" + urllib.parse.urlencode({"id": ident, "key": "loss"}))
    assert status == 200  # the series themselves: test_history_bytes_match_the_message_log
    status, out = server.get(
        "api/file?"
        + urllib.parse.urlencode({"set": 0, "path": "lr=0.1__width=32__seed=1/out.txt", "tail": 20})
    )
    assert status == 200 and out.endswith("loss 0.2700\n") and len(out) == 20
    status, body = server.get("api/experiment?id=0:nope")
    assert status == 404 and "no such experiment" in json.loads(body)["error"]


def test_files_outside_the_set_are_refused(
    server: ui_sets.UiServer, demo: tuple[pathlib.Path, dict[str, str]]
) -> None:
    root, _ = demo
    exp = root / "lr=0.01__width=32__seed=0"
    (exp / "leak.txt").symlink_to("/etc/passwd")
    (root / "outside").symlink_to("/etc", target_is_directory=True)
    for target in (
        "/../../etc/passwd",
        "/static/../../../../../../etc/passwd",
        "/static/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    ):
        status, body = _raw_get(server, target)
        assert status in (400, 404) and b"root:" not in body, target
    for path in (
        "../../../../../../etc/passwd",
        "/etc/passwd",
        "outside/passwd",
        f"{exp.name}/leak.txt",
        f"{exp.name}/../../../../etc/passwd",
        f"{exp.name}/\0",
    ):
        status, body = server.get("api/file?" + urllib.parse.urlencode({"set": 0, "path": path}))
        assert status == 404 and "root:" not in body, path
    status, _ = server.get("api/file?set=7&path=x")
    assert status == 404


def test_a_foreign_host_header_is_refused(server: ui_sets.UiServer) -> None:
    status, body = _raw_get(server, "/api/rows", host="attacker.example:80")  # DNS rebinding
    assert status == 421 and b"localhost" in body
    status, _ = _raw_get(server, "/api/sets", host="localhost:1")
    assert status == 200


def test_the_page_is_served_with_a_strict_csp(server: ui_sets.UiServer) -> None:
    resp = http.client.HTTPConnection(urllib.parse.urlsplit(server.base).netloc, timeout=30)
    resp.request("GET", "/")
    answer = resp.getresponse()
    html = answer.read().decode()
    resp.close()
    csp = answer.getheader("content-security-policy") or ""
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe" not in csp
    assert answer.getheader("x-content-type-options") == "nosniff"
    assert "<script>" not in html and "onclick" not in html and "style=" not in html
    status, js = server.get("static/app.js")
    assert status == 200 and "textContent" in js and ".innerHTML" not in js


def test_a_note_is_the_only_write_and_needs_the_page_header(
    server: ui_sets.UiServer, demo: tuple[pathlib.Path, dict[str, str]]
) -> None:
    root, _ = demo
    name = "lr=0.001__width=32__seed=1"
    params = root / name / "params.yml"
    before = params.read_bytes()
    body = json.dumps({"id": f"0:{name}", "text": "seen <b>bold</b> & odd"}).encode()
    url = server.base + "api/note"
    plain = {"Content-Type": "application/json"}
    assert ui_sets.request(url, body, plain, "POST")[0] == 403  # a cross-site form cannot
    foreign = {**plain, "x-fexp-request": "1", "Origin": "http://attacker.example"}
    assert ui_sets.request(url, body, foreign, "POST")[0] == 403
    assert params.read_bytes() == before
    status, answer = ui_sets.request(url, body, {**plain, "x-fexp-request": "1"}, "POST")
    assert status == 200 and json.loads(answer)["notes"] == ["seen <b>bold</b> & odd"]
    assert _yaml.read_mapping(params)["_notes"] == ["seen <b>bold</b> & odd"]
    empty = json.dumps({"id": f"0:{name}", "text": "  "}).encode()
    assert ui_sets.request(url, empty, {**plain, "x-fexp-request": "1"}, "POST")[0] == 400


def test_a_hostile_name_takes_its_note_alone(
    server: ui_sets.UiServer, demo: tuple[pathlib.Path, dict[str, str]]
) -> None:
    root, _ = demo
    body = json.dumps({"id": f"0:{ui_sets.HOSTILE}", "text": "only me"}).encode()
    headers = {"Content-Type": "application/json", "x-fexp-request": "1"}
    assert ui_sets.request(server.base + "api/note", body, headers, "POST")[0] == 200
    noted = [
        p.parent.name
        for p in root.glob("*/params.yml")
        if "only me" in (_yaml.read_mapping(p).get("_notes") or [])
    ]
    assert noted == [ui_sets.HOSTILE]


def test_changes_since_a_version_carry_a_new_message(
    server: ui_sets.UiServer, demo: tuple[pathlib.Path, dict[str, str]]
) -> None:
    root, _ = demo
    version = server.json("api/rows")["version"]
    from fexp import _messages

    with open(root / "lr=0.01__width=128__seed=1" / "messages.jsonl", "ab") as log:
        log.write(_messages.encode({"loss": 0.125}, step=40))

    def changed() -> Any:
        body = server.json(f"api/changes?since={version}")
        return body if body.get("rows") else None

    body = ui_sets.wait_for(changed)
    assert body, "the server never noticed the new message"
    headers = [c["header"] for c in body["columns"]]
    [row] = [r for r in body["rows"] if r["id"] == "0:lr=0.01__width=128__seed=1"]
    assert row["c"][headers.index("loss")] == 0.125
    assert server.json("api/changes?since=-5")["reset"] is True


def test_a_non_local_bind_needs_the_token(demo: tuple[pathlib.Path, dict[str, str]]) -> None:
    root, env = demo
    ui = ui_sets.UiServer(root, "--host", "0.0.0.0", env=env)
    try:
        assert ui.token and len(ui.token) >= 16 and any("token" in line for line in ui.lines)
        local = ui.base.replace("0.0.0.0", "127.0.0.1")
        assert ui_sets.request(local + "api/rows")[0] == 401
        assert ui_sets.request(local + "api/rows?token=wrong-token-wrong-token")[0] == 401
        assert ui_sets.request(local, headers={"Authorization": "Bearer x"})[0] == 401
        status, body = ui_sets.request(
            local + "api/rows", headers={"Authorization": f"Bearer {ui.token}"}
        )
        assert status == 200 and json.loads(body)["rows"]
        conn = http.client.HTTPConnection(urllib.parse.urlsplit(local).netloc, timeout=30)
        conn.request("GET", f"/?token={ui.token}")
        answer = conn.getresponse()
        answer.read()
        conn.close()
        cookie = answer.getheader("set-cookie") or ""
        assert cookie.startswith(f"{security.COOKIE}={ui.token}") and "HttpOnly" in cookie
        status, _ = ui_sets.request(local + "api/sets", headers={"Cookie": cookie.split(";")[0]})
        assert status == 200
    finally:
        ui.stop()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--host", "0.0.0.0", "--token", "short"], "option --token"),
        (["--port", "70000"], "option --port"),
        (["NOSET"], "experiment.yml missing"),
    ],
)
def test_user_errors_are_one_paragraph(
    args: list[str],
    expected: str,
    demo: tuple[pathlib.Path, dict[str, str]],
    tmp_path: pathlib.Path,
) -> None:
    root, env = demo
    argv = [str(tmp_path) if a == "NOSET" else a for a in args]
    if "NOSET" not in args:
        argv.insert(0, str(root))
    done = subprocess.run(
        [ui_sets.fexp_exe(), "ui", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    assert done.returncode == 2 and expected in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_a_busy_port_is_a_clear_error(
    server: ui_sets.UiServer, demo: tuple[pathlib.Path, dict[str, str]]
) -> None:
    root, env = demo
    port = urllib.parse.urlsplit(server.base).port
    done = subprocess.run(
        [ui_sets.fexp_exe(), "ui", str(root), "--port", str(port)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    assert done.returncode == 2 and "--port" in done.stderr and "Traceback" not in done.stderr


def test_confine_and_help_parsing(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f.txt").write_text("x")
    (tmp_path / "a" / "up").symlink_to(tmp_path.parent)
    assert security.confine(tmp_path, "a/f.txt") == (tmp_path / "a" / "f.txt").resolve()
    for bad in ("", "a/../a/f.txt", "/a/f.txt", "a/up/x", "a", "a/missing", "a\\..\\f.txt"):
        with pytest.raises(security.AccessError):
            security.confine(tmp_path, bad)
    text = "# head\n_version:\n  x: 1\nlr: 0.1  # float; the rate\nname: a  # b  # str; two\n"
    assert data.parse_help(text) == {"lr": "float; the rate", "name": "str; two"}
    assert security.is_local("127.0.0.1") and security.is_local("::1")
    assert not security.is_local("0.0.0.0") and not security.is_local("example.org")


def test_history_bytes_match_the_message_log(
    server: ui_sets.UiServer, demo: tuple[pathlib.Path, dict[str, str]]
) -> None:
    import array
    import struct
    import urllib.request

    from fexp import _messages

    ident = "0:lr=0.1__width=32__seed=1"
    query = urllib.parse.urlencode([("id", ident), ("id", "0:lr=0.01__width=32__seed=0")])
    with urllib.request.urlopen(server.base + "api/history?" + query, timeout=30) as resp:
        raw = resp.read()
    assert raw[:4] == b"FXH1"
    size = struct.unpack("<I", raw[4:8])[0]
    header = json.loads(raw[8 : 8 + size])["series"]
    values = array.array("d", raw[8 + size :])
    assert [s[:2] for s in header[:3]] == [[ident, "loss"], [ident, "acc"], [ident, "tag"]]
    records = _messages.read(demo[0] / ident.split(":", 1)[1] / "messages.jsonl")
    expected = _messages.history(records, "loss")
    n = header[0][2]
    assert n == len(expected) == 40 and header[2][2] == 0  # tag is text: no numeric series
    assert list(values[:n]) == [x for x, _, _ in expected]
    assert list(values[n : 2 * n]) == [t for _, t, _ in expected]
    assert list(values[2 * n : 3 * n]) == [v for _, _, v in expected]
    status, body = server.get("api/history?id=0:nope")
    assert status == 404 and "no such experiment" in body


def test_a_torn_log_line_is_skipped_like_the_cli_does() -> None:
    from fexp import _messages
    from fexp._views.ui import curves

    raw = _messages.encode({"a": 1.0}, step=3) + b'{"t": 1, "m": {"a": 2' + b"\n"
    raw += _messages.encode({"a": True, "b": "x"}) + _messages.encode({"a": 4})
    log = curves.parse_log(curves._decode(raw))
    assert log.keys == ["a", "b"] and list(log.series["a"][2]) == [1.0, 4.0]
    assert list(log.series["a"][0]) == [3.0, 2.0]  # x: the step, else the call count


def test_links_out_report_and_tensorboard_command(
    server: ui_sets.UiServer, demo: tuple[pathlib.Path, dict[str, str]]
) -> None:
    root, env = demo
    chosen = [ui_sets.HOSTILE, "lr=0.1__width=32__seed=0"]
    query = urllib.parse.urlencode([("id", f"0:{n}") for n in chosen])
    conn = http.client.HTTPConnection(urllib.parse.urlsplit(server.base).netloc, timeout=30)
    conn.request("GET", "/api/report?" + query)
    answer = conn.getresponse()
    html = answer.read().decode()
    conn.close()
    csp = answer.getheader("content-security-policy") or ""
    assert answer.status == 200 and "script-src 'sha256-" in csp and "default-src 'none'" in csp
    assert "lr=0.1__width=32__seed=0" in html and ui_sets.HOSTILE not in html  # escaped
    [command] = server.json("api/tensorboard?" + query)["commands"]
    import shlex

    argv = shlex.split(command)
    assert argv[:3] == ["fexp", "tensorboard", str(root)]
    listed = subprocess.run(  # the same PATTERN selects exactly the chosen experiments
        [ui_sets.fexp_exe(), "list", argv[3], "-r", str(root), "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert sorted(r["name"] for r in json.loads(listed.stdout)) == sorted(chosen)


def test_ctrl_c_stops_the_server_quietly_with_a_live_page_open(
    demo: tuple[pathlib.Path, dict[str, str]],
) -> None:
    import signal

    ui = ui_sets.UiServer(demo[0], env=demo[1])
    conn = http.client.HTTPConnection(urllib.parse.urlsplit(ui.base).netloc, timeout=30)
    try:
        conn.request("GET", "/api/events")
        stream = conn.getresponse()
        assert stream.status == 200 and stream.readline() == b"retry: 1000\n"
        ui.process.send_signal(signal.SIGINT)
        ui.process.wait(timeout=60)  # an open event stream must not keep it alive
        assert ui.process.stderr is not None
        assert "Traceback" not in ui.process.stderr.read()
    finally:
        conn.close()
        ui.stop()


def test_without_the_ui_extra_the_error_names_it(
    demo: tuple[pathlib.Path, dict[str, str]], tmp_path: pathlib.Path
) -> None:
    fake = tmp_path / "site" / "uvicorn"  # as if uvicorn were not installed
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'uvicorn'\", name='uvicorn')\n"
    )
    env = {**os.environ, **demo[1], "PYTHONPATH": str(tmp_path / "site")}
    done = subprocess.run(
        [ui_sets.fexp_exe(), "ui", str(demo[0])],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "uvicorn is missing" in done.stderr and "pip install 'fexp[ui]'" in done.stderr


def test_names_in_experiment_yml_cannot_lead_out_of_the_set(tmp_path: pathlib.Path) -> None:
    """A name that leads out of the set makes experiment.yml corrupt (as for every command):
    the set is refused, naming the file, and nothing outside it is read."""
    root = tmp_path / "set"
    root.mkdir()
    (tmp_path / "params.yml").write_text("_status: finished\nsecret: 1\n")  # outside the set
    (root / "experiment.yml").write_text(
        'experiments:\n  "..": {}\n  "../set/..": {}\n  ".": {}\n  ok: {}\n'
    )
    (root / "ok").mkdir()
    (root / "ok" / "params.yml").write_text("_status: registered\nlr: 1\n")
    with pytest.raises(_errors.YamlError) as info:
        data.Served([root])
    assert info.value.source == str(root / "experiment.yml") and "'..'" in str(info.value)
