"""Errors raised by :class:`dfns_hsm_signer.HsmRemoteSigner`.

    HsmSignerError
    ├── HsmUnreachableError      the service could not be reached (no socket, refused, reset, TLS)
    ├── HsmTimeoutError          no answer within the timeout
    ├── HsmServiceError          the service answered an error status
    │   ├── HsmUnauthorizedError     401: missing or wrong client token
    │   ├── HsmForbiddenError        403: no usable identity, or refused
    │   └── HsmUnavailableError      503: the HSM is unusable now (retry_after seconds)
    └── HsmProtocolError         a 200 answer that is not a Key assertion
"""

from __future__ import annotations

from typing import Any, Optional

__all__ = [
    "HsmSignerError",
    "HsmUnreachableError",
    "HsmTimeoutError",
    "HsmServiceError",
    "HsmUnauthorizedError",
    "HsmForbiddenError",
    "HsmUnavailableError",
    "HsmProtocolError",
]


class HsmSignerError(Exception):
    """Every error HsmRemoteSigner raises. ``endpoint`` is ``unix:PATH`` or the service URL."""

    def __init__(self, message: str, *, endpoint: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.endpoint = endpoint


class HsmUnreachableError(HsmSignerError):
    """The service could not be reached. ``code`` is the errno name (ENOENT, ECONNREFUSED, ...)."""

    def __init__(self, message: str, *, endpoint: Optional[str] = None, code: Optional[str] = None) -> None:
        super().__init__(message, endpoint=endpoint)
        self.code = code


class HsmTimeoutError(HsmSignerError):
    """No answer within ``timeout`` seconds."""

    def __init__(self, message: str, *, endpoint: Optional[str] = None, timeout: Optional[float] = None) -> None:
        super().__init__(message, endpoint=endpoint)
        self.timeout = timeout


class HsmServiceError(HsmSignerError):
    """The service answered an error status.

    ``status``: the HTTP status; ``code``: the service's error code (``bad_request``,
    ``forbidden``, ``payload_too_large``, ...); ``service_message``: its message; ``body``: the
    response body, parsed when it is JSON.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: Optional[str] = None,
        status: int = 0,
        code: Optional[str] = None,
        service_message: Optional[str] = None,
        body: Any = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint)
        self.status = status
        self.code = code
        self.service_message = service_message
        self.body = body


class HsmUnauthorizedError(HsmServiceError):
    """401: the client token is missing or wrong."""


class HsmForbiddenError(HsmServiceError):
    """403: no identity this client may use matches the challenge, or the request was refused."""


class HsmUnavailableError(HsmServiceError):
    """503: the HSM is unusable right now. ``retry_after``: seconds from Retry-After, or None."""

    def __init__(self, message: str, *, retry_after: Optional[int] = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class HsmProtocolError(HsmSignerError):
    """The service answered 200 with something that is not a Key assertion."""
