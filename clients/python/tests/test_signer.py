"""Unit tests of HsmRemoteSigner against a fake ``dfns-hsm serve`` (http.server on a unix socket in
a temp dir, or on 127.0.0.1): the request it sends, the assertion it returns, and the error for
every way the service can fail. No HSM, no Dfns, standard library only.

    python -m unittest discover -s clients/python/tests -p 'test_*.py'
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import socketserver
import tempfile
import threading
import time
import unittest

from dfns_hsm_signer import (
    HsmForbiddenError,
    HsmProtocolError,
    HsmRemoteSigner,
    HsmServiceError,
    HsmSignerError,
    HsmTimeoutError,
    HsmUnauthorizedError,
    HsmUnavailableError,
    HsmUnreachableError,
)

CHALLENGE = {
    "challenge": "Y2hhbGxlbmdl",
    "challengeIdentifier": "ci-1",
    "supportedCredentialKinds": [{"kind": "Key", "factor": "first", "requiresSecondFactor": False}],
    "allowCredentials": {"key": [{"type": "public-key", "id": "cr-admin"}], "webauthn": []},
    "externalAuthenticationUrl": "",
    "userVerification": "required",
}
ASSERTION = {
    "kind": "Key",
    "credentialAssertion": {"credId": "cr-admin", "clientData": "eyJ0eXBlIjoia2V5LmdldCJ9", "signature": "MEUCIQ"},
}


class Fake:
    """What the fake service answers, and what it saw last."""

    def __init__(self):
        self.reply = (200, {}, ASSERTION)  # status, headers, body (dict/str) or a callable(handler)
        self.seen = None


def make_handler(fake):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def address_string(self):  # unix sockets have no (host, port)
            return "fake"

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8")
            fake.seen = {"method": "POST", "path": self.path, "headers": dict(self.headers.items()), "body": body}
            reply = fake.reply
            if callable(reply):
                reply(self)
                return
            status, headers, payload = reply
            data = payload if isinstance(payload, str) else json.dumps(payload)
            data = data.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

    return Handler


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class TCPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


class SignerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="hsm-signer-test-")
        cls.socket_path = os.path.join(cls.dir, "sign.sock")
        cls.fake = Fake()
        cls.server = UnixServer(cls.socket_path, make_handler(cls.fake))
        cls.thread = threading.Thread(target=cls.server.serve_forever, daemon=True)
        cls.thread.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        self.fake.reply = (200, {}, ASSERTION)
        self.fake.seen = None

    def signer(self, **kwargs):
        return HsmRemoteSigner(socket_path=self.socket_path, **kwargs)

    def assertRaisesHsm(self, cls, fn):
        with self.assertRaises(cls) as ctx:
            fn()
        self.assertIsInstance(ctx.exception, HsmSignerError)
        return ctx.exception

    def test_sign_posts_the_challenge_and_returns_the_assertion(self):
        out = self.signer().sign(CHALLENGE)
        self.assertEqual(out, ASSERTION)
        seen = self.fake.seen
        self.assertEqual(seen["path"], "/v1/sign")
        self.assertEqual(seen["headers"]["Content-Type"], "application/json")
        self.assertEqual(seen["headers"]["Host"], "localhost")
        self.assertNotIn("Authorization", seen["headers"])
        self.assertNotIn("X-Dfns-Hsm-Identity", seen["headers"])
        self.assertEqual(json.loads(seen["body"]), CHALLENGE)

    def test_token_and_identity_headers(self):
        self.signer(token="tok-1", identity="treasury").sign(CHALLENGE)
        self.assertEqual(self.fake.seen["headers"]["Authorization"], "Bearer tok-1")
        self.assertEqual(self.fake.seen["headers"]["X-Dfns-Hsm-Identity"], "treasury")

    def test_only_assertion_fields_are_returned(self):
        extra = dict(ASSERTION["credentialAssertion"], algorithm="ES256", extra=1)
        self.fake.reply = (200, {}, {"kind": "Key", "credentialAssertion": extra, "other": 2})
        out = self.signer().sign(CHALLENGE)
        self.assertEqual(out["credentialAssertion"], dict(ASSERTION["credentialAssertion"], algorithm="ES256"))
        self.assertEqual(set(out), {"kind", "credentialAssertion"})

    def test_401(self):
        self.fake.reply = (401, {}, {"error": {"code": "unauthorized", "message": "wrong client token"}})
        err = self.assertRaisesHsm(HsmUnauthorizedError, lambda: self.signer(token="bad").sign(CHALLENGE))
        self.assertIsInstance(err, HsmServiceError)
        self.assertEqual((err.status, err.code, err.service_message), (401, "unauthorized", "wrong client token"))
        self.assertIn("401", str(err))
        self.assertIn("wrong client token", str(err))
        self.assertIn(self.socket_path, str(err))

    def test_403(self):
        self.fake.reply = (403, {}, {"error": {"code": "forbidden", "message": "no usable identity"}})
        err = self.assertRaisesHsm(HsmForbiddenError, lambda: self.signer().sign(CHALLENGE))
        self.assertEqual((err.status, err.code), (403, "forbidden"))
        self.assertIn("no usable identity", str(err))

    def test_503_with_and_without_retry_after(self):
        self.fake.reply = (503, {"Retry-After": "7"}, {"error": {"code": "hsm_unavailable", "message": "CKR_DEVICE_ERROR"}})
        err = self.assertRaisesHsm(HsmUnavailableError, lambda: self.signer().sign(CHALLENGE))
        self.assertEqual(err.retry_after, 7)
        self.assertEqual(err.status, 503)
        self.assertIn("HSM unavailable", str(err))
        self.assertIn("CKR_DEVICE_ERROR", str(err))
        self.assertIn("retry after 7 s", str(err))
        self.fake.reply = (503, {}, {"error": {"code": "hsm_unavailable", "message": "down"}})
        err = self.assertRaisesHsm(HsmUnavailableError, lambda: self.signer().sign(CHALLENGE))
        self.assertIsNone(err.retry_after)
        self.assertIn("no Retry-After", str(err))

    def test_other_statuses(self):
        self.fake.reply = (413, {}, {"error": {"code": "payload_too_large", "message": "body over 1 MiB"}})
        err = self.assertRaisesHsm(HsmServiceError, lambda: self.signer().sign(CHALLENGE))
        self.assertIs(type(err), HsmServiceError)
        self.assertEqual((err.status, err.code), (413, "payload_too_large"))
        self.assertIn("body over 1 MiB", str(err))
        self.fake.reply = (500, {}, "internal trouble")
        err = self.assertRaisesHsm(HsmServiceError, lambda: self.signer().sign(CHALLENGE))
        self.assertEqual(err.status, 500)
        self.assertIsNone(err.code)
        self.assertIn("internal trouble", str(err))

    def test_200_that_is_not_a_key_assertion(self):
        bad = [
            "not json",
            {},
            {"kind": "Fido2", "credentialAssertion": ASSERTION["credentialAssertion"]},
            {"kind": "Key", "credentialAssertion": {"credId": "cr-1", "clientData": "", "signature": "x"}},
            {"kind": "Key", "credentialAssertion": {"credId": "cr-1", "clientData": "a+b/", "signature": "x"}},
        ]
        for body in bad:
            self.fake.reply = (200, {}, body)
            self.assertRaisesHsm(HsmProtocolError, lambda: self.signer().sign(CHALLENGE))

    def test_missing_socket(self):
        missing = os.path.join(self.dir, "nowhere", "sign.sock")
        err = self.assertRaisesHsm(HsmUnreachableError, lambda: HsmRemoteSigner(socket_path=missing).sign(CHALLENGE))
        self.assertEqual(err.code, "ENOENT")
        self.assertIn("unix:" + missing, str(err))
        self.assertIn("is dfns-hsm serve running", str(err))
        self.assertIsInstance(err.__cause__, FileNotFoundError)

    def test_nothing_listening(self):
        stale = os.path.join(self.dir, "stale.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(stale)
        s.close()  # bound, never listening: connect() is refused
        err = self.assertRaisesHsm(HsmUnreachableError, lambda: HsmRemoteSigner(socket_path=stale).sign(CHALLENGE))
        self.assertEqual(err.code, "ECONNREFUSED")
        self.assertIn(stale, str(err))

    def test_connection_closed_mid_answer(self):
        def half(handler):
            handler.send_response(200)
            handler.send_header("Content-Length", "1000")
            handler.end_headers()
            handler.wfile.write(b'{"kind":')
            handler.wfile.flush()
            handler.connection.shutdown(socket.SHUT_RDWR)

        self.fake.reply = half
        self.assertRaisesHsm(HsmUnreachableError, lambda: self.signer().sign(CHALLENGE))

    def test_no_answer_times_out(self):
        self.fake.reply = lambda handler: time.sleep(1.5)
        started = time.monotonic()
        err = self.assertRaisesHsm(HsmTimeoutError, lambda: self.signer(timeout=0.3).sign(CHALLENGE))
        took = time.monotonic() - started
        self.assertEqual(err.timeout, 0.3)
        self.assertIn("0.3 s", str(err))
        self.assertTrue(0.25 <= took < 1.4, took)

    def test_url_and_token_over_tcp(self):
        server = TCPServer(("127.0.0.1", 0), make_handler(self.fake))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            port = server.server_address[1]
            signer = HsmRemoteSigner(url=f"http://127.0.0.1:{port}/", token="tcp-token")
            self.assertEqual(signer.endpoint, f"http://127.0.0.1:{port}")
            self.assertEqual(signer.sign(CHALLENGE), ASSERTION)
            self.assertEqual(self.fake.seen["path"], "/v1/sign")
            self.assertEqual(self.fake.seen["headers"]["Authorization"], "Bearer tcp-token")
            HsmRemoteSigner(url=f"http://127.0.0.1:{port}/hsm", token="t").sign(CHALLENGE)
            self.assertEqual(self.fake.seen["path"], "/hsm/v1/sign")
        finally:
            server.shutdown()
            server.server_close()
        err = self.assertRaisesHsm(
            HsmUnreachableError, lambda: HsmRemoteSigner(url=f"http://127.0.0.1:{port}", token="t").sign(CHALLENGE)
        )
        self.assertEqual(err.code, "ECONNREFUSED")
        self.assertIn(f"http://127.0.0.1:{port}", str(err))

    def test_bad_arguments(self):
        for kwargs in [
            {},
            {"socket_path": "/s", "url": "http://127.0.0.1:1"},
            {"url": "ftp://x"},
            {"url": "http://u:p@127.0.0.1:1"},
            {"url": "http://127.0.0.1:1/?q=1"},
            {"socket_path": "/s", "token": "a\r\nX-Evil: 1"},
            {"socket_path": "/s", "identity": ""},
            {"socket_path": "/s", "timeout": 0},
        ]:
            with self.assertRaises(ValueError, msg=repr(kwargs)):
                HsmRemoteSigner(**kwargs)
        with self.assertRaises(TypeError):
            self.signer().sign("challenge")

    def test_is_a_dfns_sdk_signer_when_installed(self):
        try:
            from dfns_sdk.auth import Signer  # noqa: F401
        except ImportError:
            self.skipTest("dfns_sdk not installed")
        signer = self.signer()
        self.assertTrue(callable(getattr(signer, "sign", None)))


if __name__ == "__main__":
    unittest.main()
