"""Example: an app on dfns-sdk whose signing key is on the HSM behind ``dfns-hsm serve``.

Compared with a PEM key, only the signer changes:

    - signer=KeySigner(credential_id=cred_id, private_key=pem),
    + signer=HsmRemoteSigner(socket_path="/run/dfns-hsm/sign.sock"),

The service picks the HSM key from the challenge's allowed credentials, so the app needs no
credential id either. Run (after ``pip install dfns-sdk ./clients/python``):

    DFNS_API_URL=https://api.dfns.io DFNS_AUTH_TOKEN_FILE=admin.token \\
    DFNS_HSM_SOCKET=/run/dfns-hsm/sign.sock python create_service_account.py NAME PUBLIC_KEY.pem
"""

import os
import sys

from dfns_sdk import DfnsClient, DfnsClientConfig

from dfns_hsm_signer import HsmRemoteSigner, HsmSignerError, HsmUnavailableError


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: python create_service_account.py NAME PUBLIC_KEY.pem", file=sys.stderr)
        return 2
    name, public_key_file = sys.argv[1:]
    with open(os.environ["DFNS_AUTH_TOKEN_FILE"], encoding="utf-8") as f:
        token = f.read().strip()
    with open(public_key_file, encoding="utf-8") as f:
        public_key = f.read()
    client = DfnsClient(
        DfnsClientConfig(
            auth_token=token,
            base_url=os.environ.get("DFNS_API_URL", "https://api.dfns.io"),
            signer=HsmRemoteSigner(socket_path=os.environ.get("DFNS_HSM_SOCKET", "/run/dfns-hsm/sign.sock")),
        )
    )
    try:
        # The API's field names (camelCase), as the request body is sent unchanged.
        account = client.auth.create_service_account({"name": name, "publicKey": public_key})
    except HsmUnavailableError as err:
        print(f"the HSM is busy or down, try again in {err.retry_after or 'a few'} s: {err}", file=sys.stderr)
        return 1
    except HsmSignerError as err:  # unreachable, 401, 403, ...: the SDK lets them through
        print(f"{type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(f"created {account['userInfo']['userId']} ({account['userInfo']['name']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
