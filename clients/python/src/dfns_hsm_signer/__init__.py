"""dfns_hsm_signer: a signer for Dfns's Python SDK (``dfns-sdk``) whose key stays on an HSM.

``HsmRemoteSigner`` implements ``dfns_sdk``'s ``Signer`` protocol: ``sign(challenge)`` hands the
user-action challenge to the local ``dfns-hsm serve`` service (``POST /v1/sign``, over a unix
socket or HTTP(S)), which signs it with the HSM key of one of the challenge's allowed
credentials and answers the firstFactor. Standard library only.

    from dfns_sdk import DfnsClient, DfnsClientConfig
    from dfns_hsm_signer import HsmRemoteSigner

    client = DfnsClient(DfnsClientConfig(
        auth_token=token,
        base_url="https://api.dfns.io",
        signer=HsmRemoteSigner(socket_path="/run/dfns-hsm/sign.sock"),
    ))
"""

from ._signer import HsmRemoteSigner, UnixHTTPConnection
from .errors import (
    HsmForbiddenError,
    HsmProtocolError,
    HsmServiceError,
    HsmSignerError,
    HsmTimeoutError,
    HsmUnauthorizedError,
    HsmUnavailableError,
    HsmUnreachableError,
)

__version__ = "0.1.0"

__all__ = [
    "HsmRemoteSigner",
    "UnixHTTPConnection",
    "HsmSignerError",
    "HsmUnreachableError",
    "HsmTimeoutError",
    "HsmServiceError",
    "HsmUnauthorizedError",
    "HsmForbiddenError",
    "HsmUnavailableError",
    "HsmProtocolError",
]
