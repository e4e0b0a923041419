"""The Starlette application of ``fexp ui``: the page, its JSON API and the live event
stream (server-sent events). The only write is a note, through the function the caller
passes in (the CLI passes ``ExperimentSet.note``, which takes the set's lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import pathlib
import re
import shlex
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from ... import _errors
from . import curves, data, detail, security

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

STATIC = pathlib.Path(__file__).parent / "static"
NoteFn = Callable[[pathlib.Path, str, str], None]
MAX_NOTE = 10_000
# (path, handler method of _Handlers, HTTP method); a note is the only POST.
ROUTES = (
    ("/", "index", "GET"),
    ("/static/{path:path}", "static", "GET"),
    ("/api/sets", "sets", "GET"),
    ("/api/rows", "rows", "GET"),
    ("/api/changes", "changes", "GET"),
    ("/api/events", "events", "GET"),
    ("/api/filter", "filter", "GET"),
    ("/api/history", "history", "GET"),
    ("/api/keys", "keys", "GET"),
    ("/api/experiment", "experiment", "GET"),
    ("/api/file", "file", "GET"),
    ("/api/note", "note", "POST"),
    ("/api/report", "report", "GET"),
    ("/api/tensorboard", "tensorboard", "GET"),
)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """JSON the browser can parse: NaN and infinities become text, odd values ``str``."""
    try:
        return json.dumps(value, allow_nan=False, default=str, separators=(",", ":"))
    except ValueError:
        return json.dumps(_clean(value), default=str, separators=(",", ":"))


def _json(value: Any, status: int = 200) -> Response:
    from starlette.responses import Response

    return Response(
        dumps(value),
        status_code=status,
        media_type="application/json",
        headers={"cache-control": "no-store"},
    )


def _error(exc: _errors.FexpError) -> Response:
    status = 404 if isinstance(exc, security.AccessError) else 400
    return _json({"error": str(exc)}, status)


class Live:
    """The background refresher: re-reads changed experiments and wakes event streams."""

    def __init__(self, served: data.Served, stopping: Callable[[], bool]) -> None:
        self.served, self.stopping = served, stopping
        self.changed = asyncio.Event()
        self.interval = 0.5

    async def run(self) -> None:
        import anyio.to_thread

        await anyio.to_thread.run_sync(self.served.warm)
        while True:
            start = time.perf_counter()
            ids = await anyio.to_thread.run_sync(self.served.refresh)
            took = time.perf_counter() - start
            if ids:
                self.wake()
            # A slow disk: never spend more than half of the time stat-ing files.
            await asyncio.sleep(max(self.interval, took))

    def wake(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


def _payload(served: data.Served, version: int) -> dict[str, Any]:
    delta = served.since(version)
    if delta is None:
        return {"reset": True, "version": served.version}
    changed, removed = delta
    rows = []
    for ident in sorted(changed):
        with contextlib.suppress(security.AccessError):
            rows.append(served.locate(ident)[1])
    return {
        "version": served.version,
        "columns": served.columns(),
        "rows": served.client_rows(rows),
        "removed": sorted(removed),
    }


def _int(request: Request, name: str, default: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.lstrip("-").isdigit():
        raise _errors.ConfigError("expected an integer", source=f"query parameter {name!r}")
    return int(text)


def _tensorboard(served: data.Served, ids: list[str]) -> list[str]:
    by_set: dict[pathlib.Path, list[str]] = {}
    for ident in ids:
        one, row = served.locate(ident)
        by_set.setdefault(one.root, []).append(row["name"])
    return [
        "fexp tensorboard "
        + shlex.quote(str(root))
        + " "
        + shlex.quote("re:^(" + "|".join(re.escape(n) for n in names) + r")\Z")
        for root, names in by_set.items()
    ]


def create_app(
    served: data.Served,
    *,
    note: NoteFn | None,
    token: str | None,
    local: bool,
    stopping: Callable[[], bool] = lambda: False,
) -> Starlette:
    """The ASGI app serving ``served``, wrapped in the security guard; event streams end
    once ``stopping()`` is true (the server is shutting down)."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.routing import Route

    live = Live(served, stopping)
    handlers = _Handlers(served, live, note)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(live.run())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    routes = [Route(path, getattr(handlers, name), methods=[m]) for path, name, m in ROUTES]
    middleware = [Middleware(security.Guard, token=token, local=local)]  # type: ignore[arg-type]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


class _Handlers:
    """One method per route; FexpErrors become a JSON ``{"error": ...}`` answer."""

    def __init__(self, served: data.Served, live: Live, note: NoteFn | None) -> None:
        self.served, self.live, self.note_fn = served, live, note
        self._rows_cache: tuple[int, str] | None = None

    async def index(self, request: Request) -> Response:
        from starlette.responses import FileResponse

        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-store"})

    async def static(self, request: Request) -> Response:
        from starlette.responses import FileResponse

        try:
            path = security.confine(STATIC, request.path_params["path"])
        except security.AccessError as exc:
            return _error(exc)
        return FileResponse(path)

    async def sets(self, request: Request) -> Response:
        return _json(detail.sets_summary(self.served))

    def rows(self, request: Request) -> Response:
        from starlette.responses import Response

        version = self.served.version
        if self._rows_cache is None or self._rows_cache[0] != version:
            body = dumps(
                {
                    "version": version,
                    "sets": [str(s.root) for s in self.served.sets],
                    "columns": self.served.columns(),
                    "rows": self.served.client_rows(),
                }
            )
            self._rows_cache = (version, body)
        return Response(
            self._rows_cache[1],
            media_type="application/json",
            headers={"cache-control": "no-store"},
        )

    def changes(self, request: Request) -> Response:
        try:
            return _json(_payload(self.served, _int(request, "since", 0)))
        except _errors.FexpError as exc:
            return _error(exc)

    async def events(self, request: Request) -> Response:
        from starlette.responses import StreamingResponse

        try:
            version = _int(request, "since", self.served.version)
        except _errors.FexpError as exc:
            return _error(exc)

        async def stream() -> AsyncIterator[str]:
            nonlocal version
            quiet = 0
            yield "retry: 1000\n\n"
            while True:
                waiter = self.live.changed
                if version != self.served.version:
                    payload = _payload(self.served, version)
                    version = payload["version"]
                    yield f"event: rows\ndata: {dumps(payload)}\n\n"
                    continue
                try:
                    await asyncio.wait_for(waiter.wait(), timeout=1)
                except asyncio.TimeoutError:
                    if self.live.stopping():
                        return  # end the stream so the server stops at once, quietly
                    quiet += 1
                    if quiet % 15 == 0:
                        yield ": keep-alive\n\n"

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"cache-control": "no-store"}
        )

    def filter(self, request: Request) -> Response:
        try:
            return _json({"ids": self.served.matching(request.query_params.getlist("w"))})
        except _errors.FexpError as exc:
            return _error(exc)

    def history(self, request: Request) -> Response:
        from starlette.responses import Response

        q = request.query_params
        try:
            body = curves.encode(self.served, q.getlist("id"), q.getlist("key"))
        except _errors.FexpError as exc:
            return _error(exc)
        return Response(
            body, media_type="application/octet-stream", headers={"cache-control": "no-store"}
        )

    def keys(self, request: Request) -> Response:
        try:
            return _json(curves.message_keys(self.served, request.query_params.getlist("id")))
        except _errors.FexpError as exc:
            return _error(exc)

    def experiment(self, request: Request) -> Response:
        try:
            return _json(detail.experiment(self.served, request.query_params.get("id", "")))
        except _errors.FexpError as exc:
            return _error(exc)

    def file(self, request: Request) -> Response:
        from starlette.responses import Response

        q = request.query_params
        try:
            body = detail.tail(
                self.served,
                _int(request, "set", -1),
                q.get("path", ""),
                _int(request, "tail", detail.TAIL_BYTES),
            )
        except _errors.FexpError as exc:
            return _error(exc)
        return Response(
            body,
            media_type="text/plain; charset=utf-8",
            headers={"cache-control": "no-store", "content-disposition": "inline"},
        )

    async def note(self, request: Request) -> Response:
        import anyio.to_thread

        try:
            body = await request.json()
        except ValueError:
            body = None
        text = body.get("text") if isinstance(body, dict) else None
        ident = body.get("id") if isinstance(body, dict) else None
        if self.note_fn is None:
            return _json({"error": "this server is read-only"}, 403)
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_NOTE:
            return _json({"error": f"a note is 1 to {MAX_NOTE} characters of text"}, 400)
        try:
            one, row = self.served.locate(str(ident))
            await anyio.to_thread.run_sync(self.note_fn, one.root, row["name"], text.strip())
        except _errors.FexpError as exc:
            return _error(exc)
        await anyio.to_thread.run_sync(self.served.refresh, [str(ident)])
        self.live.wake()
        return _json(detail.experiment(self.served, str(ident)))

    def report(self, request: Request) -> Response:
        from starlette.responses import HTMLResponse

        from ... import _find, _report

        try:
            rows = [self.served.locate(i)[1] for i in request.query_params.getlist("id")]
        except _errors.FexpError as exc:
            return _error(exc)
        html = _report.render_report(
            rows,
            _find.histories(rows),
            {"root": ", ".join(sorted({str(r.get("set")) for r in rows}))},
            title="fexp report",
        )
        match = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html)
        csp = match.group(1) if match else "default-src 'none'"
        return HTMLResponse(html, headers={"content-security-policy": csp})

    def tensorboard(self, request: Request) -> Response:
        try:
            return _json(
                {"commands": _tensorboard(self.served, request.query_params.getlist("id"))}
            )
        except _errors.FexpError as exc:
            return _error(exc)
