"""HsmRemoteSigner: dfns_sdk's ``Signer`` protocol, signing through ``dfns-hsm serve``."""

from __future__ import annotations

import errno
import http.client
import json
import re
import socket
import ssl
from collections.abc import Mapping
from typing import Any, Dict, Optional
from urllib.parse import urlsplit

from .errors import (
    HsmForbiddenError,
    HsmProtocolError,
    HsmServiceError,
    HsmTimeoutError,
    HsmUnauthorizedError,
    HsmUnavailableError,
    HsmUnreachableError,
)

SIGN_PATH = "/v1/sign"
# The service's answers are small; anything bigger is not one of them.
MAX_RESPONSE_BYTES = 1024 * 1024

_HINTS = {
    "ENOENT": "no such socket; is dfns-hsm serve running?",
    "ECONNREFUSED": "connection refused; is dfns-hsm serve running?",
    "EACCES": "permission denied; the socket is owner-only unless configured otherwise",
}
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")


class UnixHTTPConnection(http.client.HTTPConnection):
    """An HTTPConnection to a unix socket (the Host header says ``localhost``)."""

    def __init__(self, socket_path: str, timeout: Optional[float] = None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _check_header_value(what: str, value: Any) -> str:
    if not isinstance(value, str) or not value or any(c in value for c in "\r\n\0"):
        raise ValueError(f"HsmRemoteSigner: {what} must be a non-empty string without CR, LF or NUL")
    return value


def _errno_name(err: OSError) -> Optional[str]:
    if err.errno is not None and err.errno in errno.errorcode:
        return errno.errorcode[err.errno]
    return None


class HsmRemoteSigner:
    """A ``dfns_sdk`` signer whose key is on the HSM behind ``dfns-hsm serve``.

    ``HsmRemoteSigner(socket_path="/run/dfns-hsm/sign.sock")`` or
    ``HsmRemoteSigner(url="https://signer.internal:8700", token="...")``: exactly one of
    ``socket_path`` and ``url``. ``token`` is the client bearer token (required by the service on
    TCP; on a unix socket it selects the client entry with that token). ``timeout`` (seconds)
    bounds the connection and each read. ``identity`` is sent as ``X-Dfns-Hsm-Identity``.
    ``ssl_context`` is used for ``https:`` URLs (default: the system's trust store).

    ``sign(challenge)`` takes the user-action challenge (the ``/auth/action/init`` response, the
    dict dfns_sdk hands its signer) and returns the firstFactor dict
    ``{"kind": "Key", "credentialAssertion": {"credId", "clientData", "signature"}}``. Each call
    uses its own connection, so one signer may be shared between threads.
    """

    def __init__(
        self,
        socket_path: Optional[str] = None,
        url: Optional[str] = None,
        token: Optional[str] = None,
        timeout: float = 10.0,
        *,
        identity: Optional[str] = None,
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        if (socket_path is None) == (url is None):
            raise ValueError("HsmRemoteSigner: pass exactly one of socket_path and url")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError("HsmRemoteSigner: timeout must be a positive number of seconds")
        self.timeout = float(timeout)
        self._headers: Dict[str, str] = {
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        if token is not None:
            self._headers["Authorization"] = "Bearer " + _check_header_value("token", token)
        if identity is not None:
            self._headers["X-Dfns-Hsm-Identity"] = _check_header_value("identity", identity)

        self._socket_path: Optional[str] = None
        self._ssl_context = ssl_context
        if socket_path is not None:
            if not isinstance(socket_path, str) or not socket_path:
                raise ValueError("HsmRemoteSigner: socket_path must be a non-empty string")
            if ssl_context is not None:
                raise ValueError("HsmRemoteSigner: ssl_context needs an https: url")
            self._socket_path = socket_path
            self.endpoint = "unix:" + socket_path
            self._path = SIGN_PATH
        else:
            assert url is not None
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https"):
                raise ValueError(f"HsmRemoteSigner: url must be http: or https:, not {url!r}")
            if not parts.hostname:
                raise ValueError(f"HsmRemoteSigner: url has no host: {url!r}")
            if parts.username or parts.password or parts.query or parts.fragment:
                raise ValueError("HsmRemoteSigner: url must have no credentials, query or fragment (pass the token as token=)")
            if parts.scheme == "http" and ssl_context is not None:
                raise ValueError("HsmRemoteSigner: ssl_context needs an https: url")
            try:
                port = parts.port
            except ValueError as err:
                raise ValueError(f"HsmRemoteSigner: bad port in url {url!r}") from err
            self._scheme = parts.scheme
            self._host = parts.hostname
            self._port = port
            prefix = parts.path.rstrip("/")
            self.endpoint = f"{parts.scheme}://{parts.netloc}{prefix}"
            self._path = prefix + SIGN_PATH

    def __repr__(self) -> str:
        return f"HsmRemoteSigner({self.endpoint!r})"

    def _connection(self) -> http.client.HTTPConnection:
        if self._socket_path is not None:
            return UnixHTTPConnection(self._socket_path, timeout=self.timeout)
        if self._scheme == "https":
            context = self._ssl_context or ssl.create_default_context()
            return http.client.HTTPSConnection(self._host, self._port, timeout=self.timeout, context=context)
        return http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)

    def sign(self, challenge: Mapping[str, Any]) -> Dict[str, Any]:
        """Sign a user-action challenge; returns the firstFactor (a dfns_sdk CredentialAssertion)."""
        if not isinstance(challenge, Mapping):
            raise TypeError("HsmRemoteSigner.sign: the challenge must be a mapping (the /auth/action/init response)")
        body = json.dumps(dict(challenge), separators=(",", ":")).encode("utf-8")
        status, headers, text = self._post(body)
        return self._assertion(status, headers, text)

    def _post(self, body: bytes):
        endpoint = self.endpoint
        conn = self._connection()
        try:
            try:
                conn.connect()
            except (socket.timeout, TimeoutError) as err:
                raise HsmTimeoutError(
                    f"cannot reach dfns-hsm serve at {endpoint}: no connection within {self.timeout:g} s",
                    endpoint=endpoint, timeout=self.timeout,
                ) from err
            except OSError as err:
                raise self._unreachable(err) from err
            try:
                conn.request("POST", self._path, body=body, headers=self._headers)
                response = conn.getresponse()
                data = self._read_body(response)
            except (socket.timeout, TimeoutError) as err:
                raise HsmTimeoutError(
                    f"dfns-hsm serve at {endpoint}: no answer within {self.timeout:g} s",
                    endpoint=endpoint, timeout=self.timeout,
                ) from err
            except (http.client.HTTPException, OSError) as err:
                raise self._unreachable(err, during="the request") from err
            return response.status, response.headers, data.decode("utf-8", errors="replace")
        finally:
            conn.close()

    def _read_body(self, response: http.client.HTTPResponse) -> bytes:
        # Bounded, and a body shorter than its Content-Length is a connection lost mid-answer
        # (http.client's read(amt) returns what came without saying so).
        declared = response.getheader("Content-Length")
        chunks = []
        total = 0
        while True:
            chunk = response.read(65536)
            if not chunk:
                break
            total += len(chunk)
            if total > MAX_RESPONSE_BYTES:
                raise HsmProtocolError(
                    f"dfns-hsm serve at {self.endpoint}: answer over {MAX_RESPONSE_BYTES} bytes", endpoint=self.endpoint
                )
            chunks.append(chunk)
        if declared is not None and declared.strip().isdigit() and int(declared) != total:
            raise http.client.IncompleteRead(b"".join(chunks), int(declared) - total)
        return b"".join(chunks)

    def _unreachable(self, err: BaseException, during: Optional[str] = None) -> HsmUnreachableError:
        code = _errno_name(err) if isinstance(err, OSError) else None
        if isinstance(err, (http.client.IncompleteRead, http.client.RemoteDisconnected)):
            cause = f"connection closed mid-answer ({type(err).__name__}: {err})"
        elif isinstance(err, http.client.HTTPException) and not isinstance(err, OSError):
            cause = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        elif isinstance(err, ssl.SSLError):
            cause = f"TLS: {err}"
        else:
            cause = f"{code}: {getattr(err, 'strerror', None) or err}" if code else f"{type(err).__name__}: {err}"
        hint = _HINTS.get(code or "")
        what = f" during {during}" if during else ""
        return HsmUnreachableError(
            f"cannot reach dfns-hsm serve at {self.endpoint}{what}: {cause}" + (f" ({hint})" if hint else ""),
            endpoint=self.endpoint,
            code=code,
        )

    def _assertion(self, status: int, headers: Any, text: str) -> Dict[str, Any]:
        endpoint = self.endpoint
        try:
            parsed: Any = json.loads(text) if text else None
        except ValueError:
            parsed = None
        if status != 200:
            error = parsed.get("error") if isinstance(parsed, dict) else None
            error = error if isinstance(error, dict) else {}
            code = error.get("code") if isinstance(error.get("code"), str) else None
            message = error.get("message") if isinstance(error.get("message"), str) else (text.strip()[:500] or None)
            detail = (f"{code}: " if code else "") + (message or "(no message)")
            common = dict(
                endpoint=endpoint, status=status, code=code, service_message=message,
                body=parsed if parsed is not None else text,
            )
            if status == 401:
                raise HsmUnauthorizedError(
                    f"dfns-hsm serve at {endpoint} refused the client token (401 {detail}); check the token", **common
                )
            if status == 403:
                raise HsmForbiddenError(f"dfns-hsm serve at {endpoint} refused to sign (403 {detail})", **common)
            if status == 503:
                raw = headers.get("Retry-After") if headers is not None else None
                retry_after = int(raw.strip()) if isinstance(raw, str) and raw.strip().isdigit() else None
                retry = f"retry after {retry_after} s" if retry_after is not None else "no Retry-After"
                raise HsmUnavailableError(
                    f"dfns-hsm serve at {endpoint}: HSM unavailable (503 {detail}); {retry}",
                    retry_after=retry_after, **common,
                )
            raise HsmServiceError(f"dfns-hsm serve at {endpoint} answered {status} ({detail})", **common)

        assertion = parsed.get("credentialAssertion") if isinstance(parsed, dict) else None
        if not (
            isinstance(parsed, dict)
            and parsed.get("kind") == "Key"
            and isinstance(assertion, dict)
            and all(isinstance(assertion.get(k), str) and assertion.get(k) for k in ("credId", "clientData", "signature"))
            and _BASE64URL.match(assertion["clientData"])
            and _BASE64URL.match(assertion["signature"])
        ):
            raise HsmProtocolError(
                f"dfns-hsm serve at {endpoint} answered 200 without a Key assertion: {text[:200]}", endpoint=endpoint
            )
        out: Dict[str, Any] = {
            "kind": "Key",
            "credentialAssertion": {
                "credId": assertion["credId"],
                "clientData": assertion["clientData"],
                "signature": assertion["signature"],
            },
        }
        if isinstance(assertion.get("algorithm"), str):
            out["credentialAssertion"]["algorithm"] = assertion["algorithm"]
        return out
