"""What keeps ``fexp ui`` safe to run on a shared login node: the access token, the Host
check (no DNS rebinding), the response headers (a strict Content-Security-Policy) and the
confinement of every file request to the served sets (no ``..``, no symlink escape).

Pure rules plus one ASGI middleware; no Starlette import at module level.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import pathlib
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from http import cookies
from typing import Any
from urllib.parse import parse_qs

from ... import _errors

COOKIE = "fexp_ui_token"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),  # the token in the URL never leaves in a Referer
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
WRITE_HEADER = "x-fexp-request"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class AccessError(_errors.FexpError):
    """A request for a file outside the served sets, or an unknown experiment."""


def is_local(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine (a loopback address)."""
    if host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A fresh random access token (URL-safe)."""
    return secrets.token_urlsafe(24)


def check_token(token: str | None) -> str | None:
    """Refuse a token too short to be secret; return it unchanged otherwise."""
    if token is not None and len(token) < 16:
        raise _errors.ConfigError(
            f"a token of {len(token)} characters is too easy to guess; use 16 or more "
            "(or leave --token out to get a random one)",
            source="option --token",
        )
    return token


def confine(root: pathlib.Path, relative: str) -> pathlib.Path:
    """The regular file ``relative`` inside ``root``, after resolving every symlink.

    Raises:
        AccessError: an absolute path, a ``..`` part, a NUL byte, a path that resolves
            outside ``root`` (a symlink out of the set) or that is not a regular file.
    """
    parts = relative.replace("\\", "/").split("/")
    if not relative or "\0" in relative or relative.startswith("/") or ".." in parts:
        raise AccessError("only paths inside the set are served", source=f"path {relative!r}")
    base = os.path.realpath(root)
    target = os.path.realpath(os.path.join(base, *parts))
    if os.path.commonpath([base, target]) != base:
        raise AccessError("the path leads outside the set", source=f"path {relative!r}")
    if not os.path.isfile(target):
        raise AccessError("no such file in the set", source=f"path {relative!r}")
    return pathlib.Path(target)


def _host_name(header: str) -> str:
    if header.startswith("["):
        return header.split("]")[0] + "]"
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _token_from(scope: Scope, headers: dict[str, str]) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("token"):
        return str(query["token"][0])
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    jar = cookies.SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except cookies.CookieError:
        return None
    return jar[COOKIE].value if COOKIE in jar else None


def refusal(scope: Scope, headers: dict[str, str], token: str | None, local: bool) -> str | None:
    """Why this request is refused (a short text), or None to let it through."""
    if local and _host_name(headers.get("host", "")) not in LOCAL_NAMES:
        return "421 this server answers only to localhost"
    if token is not None:
        given = _token_from(scope, headers)
        if given is None or not hmac.compare_digest(given.encode(), token.encode()):
            return "401 a valid token is required (open the URL fexp ui printed)"
    if scope.get("method", "GET") not in ("GET", "HEAD"):
        origin = headers.get("origin")
        if headers.get(WRITE_HEADER) != "1" or (
            origin is not None and origin.split("//", 1)[-1] != headers.get("host")
        ):
            return "403 writes come only from the fexp ui page"
    return None


class Guard:
    """ASGI middleware: refuse what :func:`refusal` refuses, add the security headers, and
    turn a ``?token=`` into an HttpOnly cookie so the page's own requests carry it."""

    def __init__(self, app: App, *, token: str | None, local: bool) -> None:
        self.app, self.token, self.local = app, token, local

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        refused = refusal(scope, headers, self.token, self.local)
        if refused is not None:
            await _plain(send, int(refused[:3]), refused[4:])
            return
        set_cookie = self.token is not None and b"token=" in scope.get("query_string", b"")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [h for h in HEADERS if h[0] not in names]  # the report brings its own
                if set_cookie:
                    value = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
                    extra.append((b"set-cookie", value.encode()))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _plain(send: Send, status: int, text: str) -> None:
    body = (text + "\n").encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), *HEADERS],
        }
    )
    await send({"type": "http.response.body", "body": body})
