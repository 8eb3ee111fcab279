"""Dfns's official Python SDK (dfns-sdk 1.0.4) with HsmRemoteSigner against a running
``dfns-hsm serve`` and a dfns-emulator whose admin key is on the HSM behind the service: the
service-account lifecycle as the admin, every signature checked independently (with the
``cryptography`` package dfns-sdk depends on), and the signer's errors through the SDK.
Run by scripts/serve-sdk-check.sh in a venv with ``pip install dfns-sdk==1.0.4 ./clients/python``.

    python sdk_check.py --state-dir DIR --admin-public-key PEM_FILE --socket PATH
    python sdk_check.py --state-dir DIR --admin-public-key PEM_FILE --tcp-url URL --tcp-token-file FILE

(the second: HsmRemoteSigner(url=..., token=...) over loopback TCP: one signed create and
archive, and 401 without or with a wrong client token)

Prints ``ok - ...`` per step; exits 1 at the first failure.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from dfns_sdk import DfnsClient, DfnsClientConfig, DfnsError

from dfns_hsm_signer import (
    HsmForbiddenError,
    HsmRemoteSigner,
    HsmServiceError,
    HsmUnauthorizedError,
    HsmUnreachableError,
)

step = "setup"


def ok(what: str) -> None:
    print(f"ok - {what}", flush=True)


def check(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(f"assertion failed: {what}")


def expect_error(what, cls, fn, inspect=None):
    try:
        fn()
    except cls as err:
        if inspect:
            inspect(err)
        ok(f"{what} -> {type(err).__name__}: {err}")
        return err
    except Exception as err:  # noqa: BLE001
        raise AssertionError(f"{what}: expected {cls.__name__}, got {type(err).__name__}: {err}") from err
    raise AssertionError(f"{what}: expected {cls.__name__}, but it succeeded")


def unb64url(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Recording:
    """The SDK's signer: HsmRemoteSigner, recording what it was given and returned."""

    def __init__(self, inner):
        self.inner = inner
        self.signed = []

    def sign(self, challenge):
        assertion = self.inner.sign(challenge)
        self.signed.append((challenge, assertion))
        return assertion


def verify(challenge, assertion, cred_id, public_key) -> None:
    check(assertion["kind"] == "Key", f"kind Key: {assertion}")
    ca = assertion["credentialAssertion"]
    check(ca["credId"] == cred_id, f"credId {ca['credId']} is the admin's {cred_id}")
    client_data = unb64url(ca["clientData"])
    parsed = json.loads(client_data)
    check(parsed["type"] == "key.get", f"clientData.type: {parsed.get('type')}")
    check(parsed["challenge"] == challenge["challenge"], "clientData.challenge is the challenge")
    try:
        public_key.verify(unb64url(ca["signature"]), client_data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as err:
        raise AssertionError("the ECDSA P-256 signature does not verify over clientData") from err


def new_public_key() -> str:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def tcp_main(args, base_url, token, admin_cred, admin_public_key, run) -> None:
    global step
    with open(args.tcp_token_file, encoding="utf-8") as f:
        client_token = f.read().strip()
    recording = Recording(HsmRemoteSigner(url=args.tcp_url, token=client_token))
    admin = DfnsClient(DfnsClientConfig(auth_token=token, base_url=base_url, signer=recording))
    step = "tcp create"
    created = admin.auth.create_service_account({"name": f"serve-py-tcp-{run}", "publicKey": new_public_key()})  # type: ignore[typeddict-unknown-key]
    sa_id = created["userInfo"]["userId"]
    admin.auth.delete_service_account(sa_id)
    check(len(recording.signed) == 2, f"two signatures ({len(recording.signed)})")
    for challenge, assertion in recording.signed:
        verify(challenge, assertion, admin_cred, admin_public_key)
    ok(f"HsmRemoteSigner(url={args.tcp_url!r}, token=...): create {sa_id} and archive, both signatures verified")
    step = "tcp errors"
    first = recording.signed[0][0]
    expect_error(
        "TCP without a client token",
        HsmUnauthorizedError,
        lambda: HsmRemoteSigner(url=args.tcp_url).sign(first),
        lambda err: check(err.status == 401 and args.tcp_url.rstrip("/") in str(err), f"401 naming the URL: {err}"),
    )
    expect_error(
        "TCP with a wrong client token",
        HsmUnauthorizedError,
        lambda: HsmRemoteSigner(url=args.tcp_url, token="not-a-client-token").sign(first),
    )
    print("sdk-check (Python, TCP): all steps passed")


def main() -> None:
    global step
    parser = argparse.ArgumentParser()
    parser.add_argument("--state-dir", required=True)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--socket")
    where.add_argument("--tcp-url")
    parser.add_argument("--tcp-token-file")
    parser.add_argument("--admin-public-key", required=True)
    args = parser.parse_args()
    if args.tcp_url and not args.tcp_token_file:
        parser.error("--tcp-url needs --tcp-token-file")

    def read(name: str) -> str:
        with open(os.path.join(args.state_dir, name), encoding="utf-8") as f:
            return f.read().strip()

    base_url = read("ready")
    token = read("admin.token")
    admin_cred = read("admin.cred-id")
    with open(args.admin_public_key, "rb") as f:
        admin_public_key = serialization.load_pem_public_key(f.read())
    run = format(int(time.time() * 1000), "x")
    if args.tcp_url:
        tcp_main(args, base_url, token, admin_cred, admin_public_key, run)
        return

    recording = Recording(HsmRemoteSigner(socket_path=args.socket, timeout=20.0))
    admin = DfnsClient(DfnsClientConfig(auth_token=token, base_url=base_url, signer=recording))

    step = "create"
    public_key = new_public_key()
    name = f"serve-py-{run}"
    # The SDK's TypedDicts spell the fields in snake_case but send the dict as it is: the
    # API's own camelCase names are what must be given.
    created = admin.auth.create_service_account(
        {"name": name, "publicKey": public_key, "daysValid": 30, "externalId": f"ext-{run}"}  # type: ignore[typeddict-unknown-key]
    )
    user = created["userInfo"]
    sa_id = user["userId"]
    check(sa_id.startswith("us-"), f"userId {sa_id}")
    check(user["isServiceAccount"] is True and user["isActive"] is True, "active service account")
    check(user["name"] == name, "name")
    check(isinstance(created["accessTokens"][0]["accessToken"], str), "access token returned")
    check(len(recording.signed) == 1, f"one signature for the create ({len(recording.signed)})")
    ok(f"create {sa_id} (user action signed through dfns-hsm serve)")

    step = "verify signature"
    challenge, assertion = recording.signed[0]
    check(isinstance(challenge, dict) and isinstance(assertion, dict), "dict in, dict out")
    check(any(c["id"] == admin_cred for c in challenge["allowCredentials"]["key"]), "the challenge allowed the admin credential")
    verify(challenge, assertion, admin_cred, admin_public_key)
    ok("firstFactor verified independently (cryptography, ECDSA P-256 over the clientData bytes)")

    step = "list"
    listed = admin.auth.list_service_accounts()
    check(any(sa["userInfo"]["userId"] == sa_id for sa in listed["items"]), "listed")
    ok(f"list ({len(listed['items'])} accounts)")

    step = "get"
    got = admin.auth.get_service_account(sa_id)
    check(got["userInfo"]["name"] == name and got["userInfo"]["externalId"] == f"ext-{run}", "get name and externalId")
    ok("get")

    step = "update"
    updated = admin.auth.update_service_account(sa_id, {"name": f"{name}-renamed"})
    check(updated["userInfo"]["name"] == f"{name}-renamed", "renamed")
    ok("update")

    step = "deactivate"
    deactivated = admin.auth.deactivate_service_account(sa_id, {"force": False})  # type: ignore[typeddict-unknown-key]
    check(deactivated["userInfo"]["isActive"] is False, "inactive")
    ok("deactivate")

    step = "activate"
    activated = admin.auth.activate_service_account(sa_id)
    check(activated["userInfo"]["isActive"] is True, "active again")
    ok("activate")

    step = "concurrent updates"
    before = len(recording.signed)
    n = 4
    with ThreadPoolExecutor(max_workers=n) as pool:
        results = list(
            pool.map(lambda i: admin.auth.update_service_account(sa_id, {"externalId": f"par-{i}-{run}"}), range(n))  # type: ignore[typeddict-unknown-key]
        )
    check(all(r["userInfo"]["userId"] == sa_id for r in results), "every concurrent update succeeded")
    check(len(recording.signed) == before + n, f"{n} more signatures")
    ok(f"{n} concurrent signed updates (threads sharing one signer)")

    step = "archive"
    archived = admin.auth.delete_service_account(sa_id)
    check(archived["userInfo"]["isActive"] is False, "archived is inactive")
    try:
        admin.auth.get_service_account(sa_id)
        raise AssertionError("get after archive succeeded")
    except DfnsError as err:
        check(err.status_code == 404, f"404 after archive, got {err.status_code}")
    ok("archive (delete_service_account; get -> 404 afterwards)")

    step = "verify every signature"
    for challenge, assertion in recording.signed:
        verify(challenge, assertion, admin_cred, admin_public_key)
    ok(f"all {len(recording.signed)} firstFactors verify")

    step = "errors"
    missing = os.path.join(os.path.dirname(args.socket), "no-such-dir", "sign.sock")
    offline = DfnsClient(DfnsClientConfig(auth_token=token, base_url=base_url, signer=HsmRemoteSigner(socket_path=missing)))

    def names_socket(err):
        check(missing in str(err), f"the message names the socket: {err}")
        check(err.code == "ENOENT", f"code ENOENT: {err.code}")

    expect_error(
        "socket path that does not exist",
        HsmUnreachableError,
        lambda: offline.auth.create_service_account({"name": f"never-{run}", "publicKey": public_key}),  # type: ignore[typeddict-unknown-key]
        names_socket,
    )
    stranger = DfnsClient(
        DfnsClientConfig(
            auth_token=token, base_url=base_url,
            signer=HsmRemoteSigner(socket_path=args.socket, identity="no-such-identity"),
        )
    )
    expect_error(
        "X-Dfns-Hsm-Identity naming no identity",
        HsmForbiddenError,
        lambda: stranger.auth.create_service_account({"name": f"never-{run}", "publicKey": public_key}),  # type: ignore[typeddict-unknown-key]
        lambda err: check(err.status == 403 and err.code == "forbidden", f"403 forbidden: {err.status} {err.code}"),
    )
    first_challenge = recording.signed[0][0]
    expect_error(
        "wrong client token on the unix socket",
        HsmUnauthorizedError,
        lambda: HsmRemoteSigner(socket_path=args.socket, token="not-a-client-token").sign(first_challenge),
        lambda err: check(err.code == "unauthorized", f"code unauthorized: {err.code}"),
    )
    expect_error(
        "malformed challenge",
        HsmServiceError,
        lambda: recording.inner.sign({"challengeIdentifier": "x"}),
        lambda err: check(err.status == 400 and err.code == "bad_request", f"400 bad_request: {err.status} {err.code}"),
    )
    foreign = dict(first_challenge, allowCredentials={"key": [{"type": "public-key", "id": "cr-not-on-this-hsm"}], "webauthn": []})
    expect_error(
        "challenge allowing only a credential the service does not hold",
        HsmForbiddenError,
        lambda: recording.inner.sign(foreign),
    )
    print(f"sdk-check (Python): all steps passed ({len(recording.signed)} signatures through the service)")


if __name__ == "__main__":
    try:
        main()
    except Exception as err:  # noqa: BLE001
        detail = ""
        if isinstance(err, DfnsError):
            detail = f" (HTTP {err.status_code}: {err.details})"
        print(f"not ok - Python sdk-check failed at step {step!r}: {type(err).__name__}: {err}{detail}", file=sys.stderr)
        sys.exit(1)
