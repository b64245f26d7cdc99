"""The server's boundary: who may talk to the app, from where.

One ASGI middleware (`Boundary`) sits in front of the whole FastAPI app that Gradio is
mounted on, so every route is covered the same way (the page, Gradio's config, API, queue,
upload, file and cancel routes, and anything Gradio adds later). For each request, in order:

1. **Host check** (against DNS rebinding): the `Host` header must name this server
   (127.0.0.1, localhost, [::1], the `--host` name, or, when bound to every address, one of
   this machine's own names and addresses). Anything else: 403.
2. **Origin check** (against cross-site requests): a state-changing request (POST, PUT,
   PATCH, DELETE; every websocket) that carries an `Origin` or `Sec-Fetch-Site` header must
   come from this very origin (same scheme, host and port). Another local port is another
   origin. Clients that send neither (curl, gradio_client) need the secret anyway.
3. **A credential**: the per-launch secret (like Jupyter's token: in the URL Tomes prints as
   `?token=…`, or in an `X-Tomes-Token` / `Authorization: Bearer` header), or a session
   cookie. Opening the URL with the token redirects to the same page without it and sets
   the cookie: HttpOnly, SameSite=Strict, Secure under TLS, named per port. In exposed mode
   users sign in at `/login` with a name and password (form fields as Gradio's, so
   `gradio_client`'s `auth=` works); failed sign-ins are throttled per address and per name.
   No credential: 401 (a browser gets a page saying what to do; in exposed mode, the login
   page).
4. **Exports**: files under the exports folder are served only to the session that wrote them
   (each session writes to its own sub-folder, `Identity.export_key`).

The identity of the caller is put in the request's scope (`identity_of(request)`), and Gradio's
`auth_dependency` reads it, so Gradio's own routes refuse a request that lacks one too.

Responses also get `X-Frame-Options: DENY`, `Content-Security-Policy: frame-ancestors 'none'`
(no clickjacking), `Referrer-Policy: no-referrer` and `X-Content-Type-Options: nosniff`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import ipaddress
import json
import os
import secrets
import stat
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from engine.errors import SettingsError

__all__ = [
    "LOOPBACK_NAMES",
    "MIN_PASSWORD_CHARS",
    "AllowedRoots",
    "Boundary",
    "BoundaryConfig",
    "Credentials",
    "Identity",
    "LoginThrottle",
    "Sessions",
    "allowed_hosts_for",
    "hash_password",
    "identity_of",
    "is_loopback",
    "load_credentials",
    "new_token",
    "parse_users",
    "remote_host",
    "serve_credentials",
    "verify_password",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Host names that always mean this machine.
LOOPBACK_NAMES: Final = frozenset({"127.0.0.1", "localhost", "::1"})
#: The shortest password exposed mode accepts.
MIN_PASSWORD_CHARS: Final = 12
#: Where a `state` key in the ASGI scope holds the caller's `Identity`.
_STATE_KEY: Final = "tomes_identity"
_TOKEN_HEADER: Final = b"x-tomes-token"
_UNSAFE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_LOGIN_PATHS: Final = frozenset({"/login", "/login/"})
_LOGOUT_PATHS: Final = frozenset({"/logout", "/logout/"})
_FILE_PREFIX: Final = "/gradio_api/file="
_MAX_LOGIN_BODY: Final = 16 * 1024
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_SECURITY_HEADERS: Final = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
)


# ---------------------------------------------------------------------------------- secrets
def new_token() -> str:
    """A fresh per-launch secret: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """`scrypt$N$r$p$SALT$HASH` (base64): the form a users file may store instead of the
    password itself."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches a `hash_password` value (constant time)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


@dataclass(frozen=True)
class Credentials:
    """Named users and their password hashes (exposed mode). `source` says where they came
    from, for messages."""

    users: Mapping[str, str]
    source: str

    def check(self, name: str, password: str) -> bool:
        """Whether `name` / `password` sign in. An unknown name costs the same time."""
        stored = self.users.get(name)
        if stored is None:
            verify_password(password, _DUMMY_HASH)
            return False
        return verify_password(password, stored)


_DUMMY_HASH: Final = hash_password("not a password", salt=b"tomes-dummy-salt")


def _check_password(name: str, password: str, where: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise SettingsError(
            f"the password for {name!r} in {where} is too short: use at least "
            f"{MIN_PASSWORD_CHARS} characters (a few words make a good one)"
        )


def parse_users(text: str, *, where: str) -> Credentials:
    """Users from a users file: one `NAME:PASSWORD` or `NAME:scrypt$…` (see `hash_password`,
    `tomes hash-password`) per line; blank lines and `#` comments are ignored."""
    users: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r\n")  # a password may start or end with spaces
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, secret = line.partition(":")
        name = name.strip()
        if not sep or not name or not secret:
            raise SettingsError(f"{where} line {number} must look like NAME:PASSWORD")
        if name in users:
            raise SettingsError(f"{where} names the user {name!r} twice (line {number})")
        if secret.startswith("scrypt$"):
            users[name] = secret
        else:
            _check_password(name, secret, where)
            users[name] = hash_password(secret)
    if not users:
        raise SettingsError(f"{where} has no users: add lines like NAME:PASSWORD")
    return Credentials(users=users, source=where)


def load_credentials(
    *, environ: Mapping[str, str] | None = None, auth_file: Path | None = None
) -> Credentials | None:
    """Exposed-mode users from `--auth-file FILE` or `TOMES_AUTH=NAME:PASSWORD`, or None.

    A password is never taken from the command line: other users of the machine can read a
    process's arguments. A users file must not be readable by other users."""
    env = os.environ if environ is None else environ
    from_env = env.get("TOMES_AUTH")
    if auth_file is not None and from_env:
        raise SettingsError("both TOMES_AUTH and --auth-file are set: use one of them")
    if auth_file is not None:
        path = auth_file.expanduser()
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(f"cannot read the users file {path}: {exc.strerror}") from None
        if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SettingsError(
                f"the users file {path} can be read by other users of this machine: "
                f"run `chmod 600 {path}`"
            )
        return parse_users(text, where=str(path))
    if from_env:
        return parse_users(from_env, where="TOMES_AUTH")
    return None


_AUTH_ON_ARGV: Final = (
    "--auth would put the password on the command line, where other users of this machine "
    "can read it (ps, /proc). Set TOMES_AUTH=NAME:PASSWORD in the environment instead, or "
    "pass --auth-file FILE (one NAME:PASSWORD per line, chmod 600; `tomes hash-password NAME` "
    "makes lines that do not store the password itself)"
)


def serve_credentials(auth: str | None, auth_file: Path | None) -> Credentials | None:
    """The users for `tomes serve` / the desktop app: `--auth` (a password on the command
    line) is refused with the safe ways; else `load_credentials`."""
    if auth is not None:
        raise SettingsError(_AUTH_ON_ARGV)
    return load_credentials(auth_file=auth_file)


# ---------------------------------------------------------------------------------- hosts
def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address, IPv6 with or without brackets) is this machine
    only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def remote_host(url: str) -> str:
    """The host of `url` when it is another machine ('' for none or this machine)."""
    if not url.strip():
        return ""
    host = urlsplit(url.strip() if "//" in url else f"//{url.strip()}").hostname or ""
    return "" if not host or is_loopback(host) else host


def _is_wildcard(host: str) -> bool:
    return host.strip("[]") in ("0.0.0.0", "::", "")


def _machine_names() -> set[str]:
    """This machine's names and interface addresses (for a server bound to every address)."""
    import socket

    import psutil

    # gethostname, not getfqdn: that would ask DNS, and nothing may leave the machine.
    names = {socket.gethostname().lower()}
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family in (socket.AF_INET, socket.AF_INET6):
                names.add(address.address.split("%")[0].lower())
    return {n for n in names if n}


def allowed_hosts_for(host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The Host header names a server bound to `host` answers to."""
    names = set(LOOPBACK_NAMES) | {e.lower().strip("[]") for e in extra}
    if _is_wildcard(host):
        names |= _machine_names()
    else:
        names.add(host.lower().strip("[]"))
    return frozenset(names)


def _split_host(value: str) -> str:
    """The host name of a Host header value ('[::1]:7860' -> '::1', 'a:80' -> 'a')."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else ""
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


# ---------------------------------------------------------------------------------- paths
@dataclass(frozen=True)
class AllowedRoots:
    """Where "add a folder or file by path" may read from, on the server's disk.

    By default (loopback) that is the user's home folder, minus its hidden folders
    (~/.ssh, ~/.gnupg, ~/.config, …); when the server is reachable from other machines,
    nothing, unless folders were allowed with --allow-folder (which may name hidden ones).
    Paths are resolved (symlinks followed) before they are checked. Uploads are unaffected.
    """

    home: Path | None
    extra: tuple[Path, ...] = ()

    @classmethod
    def for_server(cls, *, exposed: bool, allow: Iterable[Path] = ()) -> AllowedRoots:
        home = None if exposed else Path.home()
        return cls(home=home, extra=tuple(Path(p).expanduser().resolve() for p in allow))

    def check(self, path: Path) -> Path:
        """The resolved `path` if it may be read; else SettingsError saying why and how to
        allow it."""
        try:
            resolved = path.expanduser().resolve(strict=True)
        except FileNotFoundError:
            raise SettingsError(f"there is no file or folder at {path}") from None
        except (OSError, RuntimeError) as exc:  # a symlink loop, a permission error
            raise SettingsError(f"{path} cannot be opened ({exc})") from None
        for root in self.extra:
            if resolved == root or resolved.is_relative_to(root):
                return resolved
        how = f"to allow it, restart Tomes with --allow-folder {resolved}, or upload the files"
        if self.home is None:
            raise SettingsError(
                "adding folders by path is off while Tomes is reachable from other machines "
                f"({path} was refused); {how}"
            )
        home = self.home.resolve()
        if not resolved.is_relative_to(home):
            raise SettingsError(
                f"{path} is outside your home folder ({home}), the only place Tomes reads "
                f"folders from by default; {how}"
            )
        hidden = [part for part in resolved.relative_to(home).parts if part.startswith(".")]
        if hidden:
            raise SettingsError(
                f"{path} is inside the hidden folder {hidden[0]!r}, which can hold keys and "
                f"passwords (~/.ssh, ~/.gnupg…), so Tomes does not read it by default; {how}"
            )
        return resolved


# ---------------------------------------------------------------------------------- sessions
@dataclass(frozen=True)
class Identity:
    """Who is calling: a user name ('local' for the holder of the launch token) and the key
    of their session (exports are kept per session, under `export_key`)."""

    user: str
    session: str

    @property
    def export_key(self) -> str:
        return hashlib.sha256(self.session.encode()).hexdigest()[:24]


@dataclass
class Sessions:
    """Signed-in browser sessions of one launch, in memory (a restart signs everyone out)."""

    lifetime_s: float = 12 * 3600
    _by_id: dict[str, tuple[str, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, user: str) -> str:
        """A new session for `user`; returns its id (the cookie value)."""
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._by_id[sid] = (user, time.monotonic() + self.lifetime_s)
        return sid

    def get(self, sid: str | None) -> Identity | None:
        if not sid:
            return None
        with self._lock:
            found = self._by_id.get(sid)
            if found is None:
                return None
            user, expires = found
            if time.monotonic() > expires:
                del self._by_id[sid]
                return None
        return Identity(user=user, session=sid)

    def end(self, sid: str | None) -> None:
        with self._lock:
            self._by_id.pop(sid or "", None)


@dataclass
class LoginThrottle:
    """At most `max_failures` failed sign-ins per client address and per user name within
    `window_s`; after that, every attempt from that address or for that name is refused for
    `lockout_s` seconds (doubling each time the lock is hit again), right or wrong password."""

    max_failures: int = 5
    window_s: float = 60.0
    lockout_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, list[float]] = field(default_factory=dict)
    _locked_until: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after(self, *keys: str) -> float:
        """Seconds until `keys` may try again (0 when they may now)."""
        now = self.clock()
        with self._lock:
            waits = [self._locked_until[k][0] - now for k in keys if k in self._locked_until]
        return max([0.0, *waits])

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                recent = [t for t in self._failures.get(key, []) if now - t < self.window_s]
                recent.append(now)
                self._failures[key] = recent
                if len(recent) >= self.max_failures:
                    previous = self._locked_until.get(key)
                    length = previous[1] * 2 if previous else self.lockout_s
                    self._locked_until[key] = (now + length, length)
                    self._failures[key] = []

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
                self._locked_until.pop(key, None)


# ---------------------------------------------------------------------------------- config
@dataclass
class BoundaryConfig:
    """What the boundary checks against. `credentials` None = no password sign-in (the
    launch token is the only way in)."""

    token: str
    port: int
    allowed_hosts: frozenset[str]
    credentials: Credentials | None = None
    tls: bool = False
    exports_dir: Path | None = None
    sessions: Sessions = field(default_factory=Sessions)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)

    @property
    def cookie_name(self) -> str:
        # Cookies are per host, not per port: two Tomes on one machine must not clobber
        # each other's session.
        return f"tomes-session-{self.port}"

    def token_matches(self, value: str | None) -> bool:
        return bool(value) and hmac.compare_digest(str(value).encode(), self.token.encode())


def identity_of(request: Any) -> Identity | None:
    """The caller's identity, from a Starlette/FastAPI request (or `gr.Request`) that passed
    the boundary."""
    # gr.Request wraps the Starlette request in `.request` (its own __getattr__ would turn
    # the scope into JSON, which an Identity is not): look there first.
    inner = vars(request).get("request") if hasattr(request, "__dict__") else None
    target = inner if inner is not None else request
    scope = vars(target).get("scope") if hasattr(target, "__dict__") else None
    if not isinstance(scope, Mapping):
        return None
    found = (scope.get("state") or {}).get(_STATE_KEY)
    return found if isinstance(found, Identity) else None


# ---------------------------------------------------------------------------------- ASGI
def _headers(scope: Scope) -> dict[bytes, bytes]:
    """Request headers, lower-case names; a repeated header keeps its first value."""
    out: dict[bytes, bytes] = {}
    for name, value in scope.get("headers") or []:
        out.setdefault(bytes(name).lower(), bytes(value))
    return out


def _cookies(raw: bytes | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (raw or b"").decode("latin-1").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            out.setdefault(name, value)
    return out


async def _respond(
    send: Send,
    status: int,
    body: str,
    *,
    content_type: str = "text/plain; charset=utf-8",
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    data = body.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(data)).encode()),
                (b"cache-control", b"no-store"),
                *_SECURITY_HEADERS,
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>"
        + html.escape(title)
        + "</title><style>body{font:16px system-ui,sans-serif;max-width:34em;margin:12vh auto;"
        "padding:0 1em;color:#1f2933}input{font:inherit;padding:.4em;width:100%;"
        "box-sizing:border-box;margin:.2em 0 .8em}button{font:inherit;padding:.4em 1.2em}"
        ".err{color:#a61b1b}</style></head><body>" + body + "</body></html>"
    )


_NO_TOKEN_PAGE: Final = _page(
    "Tomes: open the link from the terminal",
    "<h1>Tomes needs its link</h1><p>This page is private. Open the address that "
    "<code>tomes serve</code> printed in its terminal (it ends in <code>?token=…</code>); "
    "it signs this browser in.</p>",
)


def _login_page(next_path: str, error: str = "") -> str:
    message = f"<p class='err'>{html.escape(error)}</p>" if error else ""
    return _page(
        "Sign in to Tomes",
        "<h1>Sign in to Tomes</h1>" + message + "<form method='post' action='/login'>"
        f"<input type='hidden' name='next' value='{html.escape(next_path, quote=True)}'>"
        "<label>Name<input name='username' autocomplete='username' required></label>"
        "<label>Password<input name='password' type='password' "
        "autocomplete='current-password' required></label>"
        "<button type='submit'>Sign in</button></form>",
    )


def _safe_next(value: str) -> str:
    """A same-site path to go to after signing in (never another site)."""
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


class Boundary:
    """The ASGI middleware (see the module docstring). Add it to the app that Gradio is
    mounted on: `app.add_middleware(Boundary, config=config)`."""

    def __init__(self, app: ASGIApp, config: BoundaryConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan
            return
        headers = _headers(scope)
        refusal = self._refuse_host(headers) or self._refuse_origin(scope, headers)
        if refusal:
            await self._deny(scope, receive, send, 403, refusal)
            return
        path = scope.get("path", "")
        if kind == "http" and path in _LOGIN_PATHS:
            await self._login(scope, receive, send, headers)
            return
        if kind == "http" and path in _LOGOUT_PATHS:
            await self._logout(send, headers)
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if (
            kind == "http"
            and scope.get("method") == "GET"
            and self.config.token_matches(query.get("token"))
        ):
            await self._redeem_token(scope, send, query)
            return
        identity = self._identify(headers, query)
        if identity is None:
            await self._unauthenticated(scope, receive, send, headers)
            return
        if kind == "http" and not self._may_read_file(path, identity):
            await _respond(send, 403, "This file belongs to another session.")
            return
        scope.setdefault("state", {})[_STATE_KEY] = identity
        await self.app(scope, receive, self._with_security_headers(send))

    # ------------------------------------------------------------------ checks
    def _refuse_host(self, headers: Mapping[bytes, bytes]) -> str:
        raw = headers.get(b"host", b"").decode("latin-1")
        if _split_host(raw) in self.config.allowed_hosts:
            return ""
        return (
            f"Host {raw!r} is not this server's name. Open Tomes at the address it printed "
            "(this check stops other web sites from reaching it through DNS tricks)."
        )

    def _refuse_origin(self, scope: Scope, headers: Mapping[bytes, bytes]) -> str:
        if scope.get("type") == "http" and scope.get("method") not in _UNSAFE_METHODS:
            return ""
        origin = headers.get(b"origin")
        fetch_site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
        if origin is None:
            if fetch_site in ("", "same-origin", "none"):
                return ""
            return "Cross-site requests are refused."
        scheme = "https" if self.config.tls else "http"
        expected = f"{scheme}://{headers.get(b'host', b'').decode('latin-1').lower()}"
        got = origin.decode("latin-1").strip().lower()
        parts = urlsplit(got)
        default = {"http": ":80", "https": ":443"}.get(parts.scheme, "")
        if got == expected or (default and got + default == expected):
            return ""
        return f"Requests from {got!r} are refused: only this app's own pages may change data."

    def _identify(
        self, headers: Mapping[bytes, bytes], query: Mapping[str, str]
    ) -> Identity | None:
        config = self.config
        presented = headers.get(_TOKEN_HEADER, b"").decode("latin-1")
        if not presented:
            scheme, _, value = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
            if scheme.lower() in ("bearer", "token"):
                presented = value.strip()
        presented = presented or query.get("token", "")
        if config.token_matches(presented):
            return Identity(user="local", session="launch-token")
        cookie = _cookies(headers.get(b"cookie")).get(config.cookie_name)
        return config.sessions.get(cookie)

    def _may_read_file(self, path: str, identity: Identity) -> bool:
        exports = self.config.exports_dir
        if exports is None or not path.startswith(_FILE_PREFIX):
            return True
        target = Path(unquote(path[len(_FILE_PREFIX) :]))
        try:
            resolved = target.resolve()
            inside = resolved.relative_to(exports.resolve())
        except (OSError, ValueError):
            return True  # not an export: Gradio's own allowed-path rules apply
        return bool(inside.parts) and inside.parts[0] == identity.export_key

    # ------------------------------------------------------------------ responses
    def _cookie(self, value: str, *, max_age: int | None = None) -> tuple[bytes, bytes]:
        parts = [f"{self.config.cookie_name}={value}", "Path=/", "HttpOnly", "SameSite=Strict"]
        if self.config.tls:
            parts.append("Secure")
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        return b"set-cookie", "; ".join(parts).encode()

    async def _deny(
        self, scope: Scope, receive: Receive, send: Send, status: int, why: str
    ) -> None:
        if scope.get("type") == "websocket":
            await receive()  # the websocket.connect message
            await send({"type": "websocket.close", "code": 1008, "reason": why[:120]})
            return
        await _respond(send, status, why)

    async def _unauthenticated(
        self, scope: Scope, receive: Receive, send: Send, headers: Mapping[bytes, bytes]
    ) -> None:
        if scope.get("type") == "websocket":
            await self._deny(scope, receive, send, 401, "Sign in first.")
            return
        wants_page = scope.get("method") == "GET" and b"text/html" in headers.get(b"accept", b"")
        if wants_page and self.config.credentials is not None:
            target = scope.get("path", "/")
            location = "/login?" + urlencode({"next": target})
            await _respond(send, 303, "", headers=[(b"location", location.encode())])
            return
        if wants_page:
            await _respond(send, 401, _NO_TOKEN_PAGE, content_type="text/html; charset=utf-8")
            return
        await _respond(
            send,
            401,
            json.dumps({"error": "Not signed in: send the token Tomes printed at start-up."}),
            content_type="application/json",
        )

    async def _redeem_token(self, scope: Scope, send: Send, query: dict[str, str]) -> None:
        """`/path?token=…`: start a session and redirect to the same URL without the token
        (so it stays out of the history and of any Referer)."""
        sid = self.config.sessions.start("local")
        rest = {k: v for k, v in query.items() if k != "token"}
        location = scope.get("path", "/") + (f"?{urlencode(rest)}" if rest else "")
        await _respond(send, 303, "", headers=[(b"location", location.encode()), self._cookie(sid)])

    async def _logout(self, send: Send, headers: Mapping[bytes, bytes]) -> None:
        self.config.sessions.end(_cookies(headers.get(b"cookie")).get(self.config.cookie_name))
        target = b"/login" if self.config.credentials is not None else b"/"
        await _respond(send, 303, "", headers=[(b"location", target), self._cookie("", max_age=0)])

    async def _login(
        self, scope: Scope, receive: Receive, send: Send, headers: Mapping[bytes, bytes]
    ) -> None:
        credentials = self.config.credentials
        if credentials is None:
            await _respond(send, 404, "Password sign-in is off: open the link Tomes printed.")
            return
        page = "text/html; charset=utf-8"
        if scope.get("method") != "POST":
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            await _respond(
                send, 200, _login_page(_safe_next(query.get("next", "/"))), content_type=page
            )
            return
        body = await _read_body(receive, _MAX_LOGIN_BODY)
        if body is None:
            await _respond(send, 413, "Sign-in request too large.")
            return
        form = dict(parse_qsl(body.decode("utf-8", "replace")))
        name, password = form.get("username", "").strip(), form.get("password", "")
        next_path: str | None = form.get("next")
        client = (scope.get("client") or ("?", 0))[0]
        keys = (f"addr:{client}", f"user:{name}")
        throttle = self.config.throttle
        wait = throttle.retry_after(*keys)
        if wait > 0:
            message = f"Too many failed sign-ins: try again in {int(wait) + 1} seconds."
            retry = [(b"retry-after", str(int(wait) + 1).encode())]
            if next_path is not None:
                await _respond(
                    send, 429, _login_page(_safe_next(next_path), message), content_type=page,
                    headers=retry,
                )  # fmt: skip
            else:
                await _respond(send, 429, message, headers=retry)
            return
        if not credentials.check(name, password):
            throttle.failed(*keys)
            message = "Wrong name or password."
            if next_path is not None:
                await _respond(
                    send, 401, _login_page(_safe_next(next_path), message), content_type=page
                )
            else:
                await _respond(send, 401, message)
            return
        throttle.succeeded(*keys)
        cookie = self._cookie(self.config.sessions.start(name))
        if next_path is not None:  # the browser's form: go where the user was going
            location = _safe_next(next_path).encode()
            await _respond(send, 303, "", headers=[(b"location", location), cookie])
        else:  # an API client (gradio_client's auth=): keep the cookie, carry on
            await _respond(send, 200, json.dumps({"success": True}), headers=[cookie])

    def _with_security_headers(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message.get("type") == "http.response.start":
                present = {bytes(k).lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in _SECURITY_HEADERS if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        return wrapped


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None when it is longer than `limit` bytes."""
    body = bytearray()
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body"):
            return bytes(body)
