'use strict';
// Unit tests of HsmRemoteSigner against a fake `dfns-hsm serve` (a tiny HTTP server on a unix
// socket in a temp dir, or on 127.0.0.1): the request it sends, the assertion it returns, and
// the error for every way the service can fail. No HSM, no Dfns.
//
//   node --test clients/typescript/test/signer.test.js

const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { test, before, after } = require('node:test');

const {
  HsmRemoteSigner,
  HsmSignerError,
  HsmUnreachableError,
  HsmTimeoutError,
  HsmServiceError,
  HsmUnauthorizedError,
  HsmForbiddenError,
  HsmUnavailableError,
  HsmProtocolError,
} = require('..');

const CHALLENGE = {
  challenge: 'Y2hhbGxlbmdl',
  challengeIdentifier: 'ci-1',
  supportedCredentialKinds: [{ kind: 'Key', factor: 'first', requiresSecondFactor: false }],
  allowCredentials: { key: [{ type: 'public-key', id: 'cr-admin' }], webauthn: [] },
  externalAuthenticationUrl: '',
  userVerification: 'required',
};
const ASSERTION = {
  kind: 'Key',
  credentialAssertion: { credId: 'cr-admin', clientData: 'eyJ0eXBlIjoia2V5LmdldCJ9', signature: 'MEUCIQ' },
};

let dir;
let server;
let socketPath;
let handler; // (req, body, res) => void, set per test
let seen; // the last request: { method, url, headers, body }

function json(res, status, value, headers = {}) {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function listen(srv, where) {
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(where, () => resolve(srv));
  });
}

function fakeServer() {
  return http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      seen = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      handler(req, seen.body, res);
    });
  });
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsm-signer-test-'));
  socketPath = path.join(dir, 'sign.sock');
  server = await listen(fakeServer(), socketPath);
});

after(() => {
  server.close();
  server.closeAllConnections();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function rejectsWith(promise, Class, check) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof Class, `expected ${Class.name}, got ${err && err.name}: ${err && err.message}`);
    assert.ok(err instanceof HsmSignerError);
    if (check) check(err);
    return err;
  }
  assert.fail(`expected ${Class.name}, but it resolved`);
}

test('signs: POST /v1/sign with the challenge as JSON, returns the Key assertion', async () => {
  handler = (req, body, res) => json(res, 200, ASSERTION);
  const signer = new HsmRemoteSigner({ socketPath });
  const out = await signer.sign(CHALLENGE);
  assert.deepEqual(out, ASSERTION);
  assert.equal(seen.method, 'POST');
  assert.equal(seen.url, '/v1/sign');
  assert.equal(seen.headers['content-type'], 'application/json');
  assert.equal(seen.headers.host, 'localhost');
  assert.equal(seen.headers.authorization, undefined, 'no token: no Authorization header');
  assert.equal(seen.headers['x-dfns-hsm-identity'], undefined);
  assert.deepEqual(JSON.parse(seen.body), CHALLENGE);
  assert.equal(signer.endpoint, `unix:${socketPath}`);
  // A second call reuses the kept-alive connection.
  assert.deepEqual(await signer.sign(CHALLENGE), ASSERTION);
  signer.close();
});

test('token and identity become Authorization and X-Dfns-Hsm-Identity', async () => {
  handler = (req, body, res) => json(res, 200, ASSERTION);
  const signer = new HsmRemoteSigner({ socketPath, token: 'tok-1', identity: 'treasury' });
  await signer.sign(CHALLENGE);
  assert.equal(seen.headers.authorization, 'Bearer tok-1');
  assert.equal(seen.headers['x-dfns-hsm-identity'], 'treasury');
  signer.close();
});

test('a kept-alive connection the service drops on reuse is retried once on a new one', async () => {
  const served = new WeakMap();
  let drops = 0;
  handler = (req, body, res) => {
    const n = served.get(req.socket) || 0;
    served.set(req.socket, n + 1);
    if (n >= 1) {
      // As if the service closed the idle connection just as the request arrived.
      drops += 1;
      req.socket.destroy();
      return;
    }
    json(res, 200, ASSERTION);
  };
  const signer = new HsmRemoteSigner({ socketPath });
  assert.deepEqual(await signer.sign(CHALLENGE), ASSERTION);
  assert.deepEqual(await signer.sign(CHALLENGE), ASSERTION);
  assert.equal(drops, 1);
  signer.close();
});

test('only the assertion fields are returned (algorithm kept, extras dropped)', async () => {
  handler = (req, body, res) =>
    json(res, 200, { kind: 'Key', credentialAssertion: { ...ASSERTION.credentialAssertion, algorithm: 'ES256', extra: 1 }, other: 2 });
  const out = await new HsmRemoteSigner({ socketPath }).sign(CHALLENGE);
  assert.deepEqual(out, { kind: 'Key', credentialAssertion: { ...ASSERTION.credentialAssertion, algorithm: 'ES256' } });
});

test('401 -> HsmUnauthorizedError with the service message', async () => {
  handler = (req, body, res) => json(res, 401, { error: { code: 'unauthorized', message: 'wrong client token' } });
  await rejectsWith(new HsmRemoteSigner({ socketPath, token: 'bad' }).sign(CHALLENGE), HsmUnauthorizedError, (err) => {
    assert.ok(err instanceof HsmServiceError);
    assert.equal(err.status, 401);
    assert.equal(err.code, 'unauthorized');
    assert.equal(err.serviceMessage, 'wrong client token');
    assert.match(err.message, /401/);
    assert.match(err.message, /wrong client token/);
    assert.ok(err.message.includes(socketPath), err.message);
  });
});

test('403 -> HsmForbiddenError', async () => {
  handler = (req, body, res) => json(res, 403, { error: { code: 'forbidden', message: 'no usable identity for cr-other' } });
  await rejectsWith(new HsmRemoteSigner({ socketPath }).sign(CHALLENGE), HsmForbiddenError, (err) => {
    assert.equal(err.status, 403);
    assert.equal(err.code, 'forbidden');
    assert.match(err.message, /no usable identity for cr-other/);
  });
});

test('503 -> HsmUnavailableError with Retry-After', async () => {
  handler = (req, body, res) =>
    json(res, 503, { error: { code: 'hsm_unavailable', message: 'CKR_DEVICE_ERROR' } }, { 'retry-after': '7' });
  await rejectsWith(new HsmRemoteSigner({ socketPath }).sign(CHALLENGE), HsmUnavailableError, (err) => {
    assert.equal(err.status, 503);
    assert.equal(err.retryAfterSeconds, 7);
    assert.match(err.message, /HSM unavailable/);
    assert.match(err.message, /CKR_DEVICE_ERROR/);
    assert.match(err.message, /retry after 7 s/);
  });
  handler = (req, body, res) => json(res, 503, { error: { code: 'hsm_unavailable', message: 'down' } });
  await rejectsWith(new HsmRemoteSigner({ socketPath }).sign(CHALLENGE), HsmUnavailableError, (err) => {
    assert.equal(err.retryAfterSeconds, undefined);
    assert.match(err.message, /no Retry-After/);
  });
});

test('other statuses -> HsmServiceError with status, code and message', async () => {
  handler = (req, body, res) => json(res, 413, { error: { code: 'payload_too_large', message: 'body over 1 MiB' } });
  await rejectsWith(new HsmRemoteSigner({ socketPath }).sign(CHALLENGE), HsmServiceError, (err) => {
    assert.equal(err.constructor, HsmServiceError);
    assert.equal(err.status, 413);
    assert.equal(err.code, 'payload_too_large');
    assert.match(err.message, /413.*body over 1 MiB/);
  });
  handler = (req, body, res) => {
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end('internal trouble');
  };
  await rejectsWith(new HsmRemoteSigner({ socketPath }).sign(CHALLENGE), HsmServiceError, (err) => {
    assert.equal(err.status, 500);
    assert.equal(err.code, undefined);
    assert.match(err.message, /500.*internal trouble/);
  });
});

test('a 200 that is not a Key assertion -> HsmProtocolError', async () => {
  for (const body of ['not json', '{}', JSON.stringify({ kind: 'Fido2', credentialAssertion: ASSERTION.credentialAssertion }),
    JSON.stringify({ kind: 'Key', credentialAssertion: { credId: 'cr-1', clientData: '', signature: 'x' } }),
    JSON.stringify({ kind: 'Key', credentialAssertion: { credId: 'cr-1', clientData: 'a+b/', signature: 'x' } })]) {
    handler = (req, b, res) => json(res, 200, body);
    await rejectsWith(new HsmRemoteSigner({ socketPath }).sign(CHALLENGE), HsmProtocolError);
  }
});

test('no socket -> HsmUnreachableError naming the path and ENOENT', async () => {
  const missing = path.join(dir, 'nowhere', 'sign.sock');
  await rejectsWith(new HsmRemoteSigner({ socketPath: missing }).sign(CHALLENGE), HsmUnreachableError, (err) => {
    assert.equal(err.code, 'ENOENT');
    assert.ok(err.message.includes(`unix:${missing}`), err.message);
    assert.match(err.message, /ENOENT/);
    assert.match(err.message, /is dfns-hsm serve running/);
    assert.ok(err.cause);
  });
});

test('nothing listening -> HsmUnreachableError ECONNREFUSED', async () => {
  const stale = path.join(dir, 'stale.sock');
  fs.writeFileSync(stale, '');
  await rejectsWith(new HsmRemoteSigner({ socketPath: stale }).sign(CHALLENGE), HsmUnreachableError, (err) => {
    assert.equal(err.code, 'ECONNREFUSED');
    assert.ok(err.message.includes(stale));
  });
});

test('connection closed mid-answer -> HsmUnreachableError', async () => {
  handler = (req, body, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
    res.write('{"kind":');
    setTimeout(() => res.destroy(), 20);
  };
  await rejectsWith(new HsmRemoteSigner({ socketPath }).sign(CHALLENGE), HsmUnreachableError);
});

test('no answer -> HsmTimeoutError after timeoutMs', async () => {
  handler = () => {}; // never answers
  const started = Date.now();
  await rejectsWith(new HsmRemoteSigner({ socketPath, timeoutMs: 200 }).sign(CHALLENGE), HsmTimeoutError, (err) => {
    assert.equal(err.timeoutMs, 200);
    assert.match(err.message, /200 ms/);
  });
  const took = Date.now() - started;
  assert.ok(took >= 190 && took < 5000, `took ${took} ms`);
});

test('url + token over TCP: Authorization, path prefix kept', async () => {
  const tcp = await listen(fakeServer(), { host: '127.0.0.1', port: 0 });
  try {
    handler = (req, body, res) => json(res, 200, ASSERTION);
    const { port } = tcp.address();
    const signer = new HsmRemoteSigner({ url: `http://127.0.0.1:${port}/`, token: 'tcp-token' });
    assert.equal(signer.endpoint, `http://127.0.0.1:${port}`);
    assert.deepEqual(await signer.sign(CHALLENGE), ASSERTION);
    assert.equal(seen.url, '/v1/sign');
    assert.equal(seen.headers.authorization, 'Bearer tcp-token');
    signer.close();
    const prefixed = new HsmRemoteSigner({ url: `http://127.0.0.1:${port}/hsm`, token: 'tcp-token' });
    await prefixed.sign(CHALLENGE);
    assert.equal(seen.url, '/hsm/v1/sign');
    prefixed.close();
  } finally {
    tcp.close();
    tcp.closeAllConnections();
  }
});

test('unreachable TCP -> HsmUnreachableError naming the URL', async () => {
  const tcp = await listen(http.createServer(), { host: '127.0.0.1', port: 0 });
  const { port } = tcp.address();
  await new Promise((r) => tcp.close(r));
  await rejectsWith(new HsmRemoteSigner({ url: `http://127.0.0.1:${port}`, token: 't' }).sign(CHALLENGE), HsmUnreachableError, (err) => {
    assert.equal(err.code, 'ECONNREFUSED');
    assert.ok(err.message.includes(`http://127.0.0.1:${port}`), err.message);
  });
});

test('constructor and sign refuse bad arguments', async () => {
  assert.throws(() => new HsmRemoteSigner(), TypeError);
  assert.throws(() => new HsmRemoteSigner({}), /exactly one of socketPath and url/);
  assert.throws(() => new HsmRemoteSigner({ socketPath, url: 'http://127.0.0.1:1' }), /exactly one/);
  assert.throws(() => new HsmRemoteSigner({ url: 'ftp://x' }), /http: or https:/);
  assert.throws(() => new HsmRemoteSigner({ url: 'not a url' }), /not a valid URL/);
  assert.throws(() => new HsmRemoteSigner({ url: 'http://u:p@127.0.0.1:1' }), /no credentials/);
  assert.throws(() => new HsmRemoteSigner({ socketPath, token: 'a\r\nX-Evil: 1' }), /CR, LF/);
  assert.throws(() => new HsmRemoteSigner({ socketPath, identity: '' }), /non-empty/);
  assert.throws(() => new HsmRemoteSigner({ socketPath, timeoutMs: 0 }), /positive/);
  assert.throws(() => new HsmRemoteSigner({ url: 'http://127.0.0.1:1', ca: 'x' }), /https/);
  await assert.rejects(new HsmRemoteSigner({ socketPath }).sign('challenge'), TypeError);
  await assert.rejects(new HsmRemoteSigner({ socketPath }).sign(null), TypeError);
});
