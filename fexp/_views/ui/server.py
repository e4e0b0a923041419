"""Run the ``fexp ui`` app on uvicorn: bind the socket first (so a busy port is a clear
error and the printed URL has the real port), then serve until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import dataclasses
import pathlib
import socket
from collections.abc import Callable, Sequence

from ... import _errors
from . import app, data, security


@dataclasses.dataclass(frozen=True)
class Options:
    """How ``fexp ui`` serves: where it listens and with which token (None: no token)."""

    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None


def plan(host: str, port: int, token: str | None) -> Options:
    """Check the options; a non-local host without a token gets a random one.

    Raises:
        ConfigError: a port outside 0..65535 or a token too short.
    """
    if not 0 <= port <= 65535:
        raise _errors.ConfigError(f"expected 0..65535, got {port}", source="option --port")
    token = security.check_token(token)
    if token is None and not security.is_local(host):
        token = security.new_token()
    return Options(host, port, token)


def bind(options: Options) -> socket.socket:
    """A listening socket on ``options.host:options.port`` (port 0: any free port)."""
    family = socket.AF_INET6 if ":" in options.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((options.host.strip("[]"), options.port))
    except OSError as exc:
        sock.close()
        raise _errors.ConfigError(
            f"cannot listen on {options.host}:{options.port}: {exc.strerror or exc}; "
            "choose another --port (or --port 0 for any free one)",
            source="options --host/--port",
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url(options: Options, sock: socket.socket) -> str:
    """The address to open, with the token when there is one."""
    port = sock.getsockname()[1]
    host = f"[{options.host.strip('[]')}]" if ":" in options.host else options.host
    return f"http://{host}:{port}/" + (f"?token={options.token}" if options.token else "")


def serve(
    roots: Sequence[pathlib.Path],
    options: Options,
    *,
    note: app.NoteFn | None,
    announce: Callable[[str], None],
) -> None:
    """Load the sets, bind, announce the URL, serve until interrupted."""
    import uvicorn

    served = data.Served(roots)
    sock = bind(options)
    servers: list[uvicorn.Server] = []
    application = app.create_app(
        served,
        note=note,
        token=options.token,
        local=security.is_local(options.host),
        stopping=lambda: bool(servers and servers[0].should_exit),
    )
    config = uvicorn.Config(
        application,
        log_level="warning",
        timeout_graceful_shutdown=1,
        access_log=False,
        lifespan="on",
    )
    count = sum(len(s.rows) for s in served.sets)
    announce(
        f"fexp ui at {url(options, sock)} ({len(served.sets)} set(s), {count} experiments); "
        "Ctrl-C to stop"
    )
    try:
        servers.append(uvicorn.Server(config))
        servers[0].run(sockets=[sock])
    finally:
        sock.close()
