#!/usr/bin/env node
// Dfns's official TypeScript SDK (@dfns/sdk 0.8.21, pinned in package.json beside this file)
// with HsmRemoteSigner against a running `dfns-hsm serve` and a dfns-emulator whose admin key is
// on the HSM behind the service: the service-account lifecycle as the admin, every signature
// checked independently with node:crypto, and the signer's errors (no socket, unknown identity,
// wrong client token, malformed challenge, a credential the service does not hold).
// Run by scripts/serve-sdk-check.sh.
//
// Usage: node sdk-check.js --state-dir DIR --admin-public-key PEM_FILE --socket PATH
//        node sdk-check.js --state-dir DIR --admin-public-key PEM_FILE --tcp-url URL --tcp-token-file FILE
//   (the second: HsmRemoteSigner({ url, token }) over loopback TCP: one signed create and
//   archive, and 401 without or with a wrong client token)
// Prints `ok - ...` per step; exits 1 at the first failure.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { DfnsApiClient, DfnsError } = require('@dfns/sdk');
const {
  HsmRemoteSigner,
  HsmUnreachableError,
  HsmForbiddenError,
  HsmUnauthorizedError,
  HsmServiceError,
} = require('dfns-hsm-signer');

const USAGE = 'usage: node sdk-check.js --state-dir DIR --admin-public-key PEM_FILE (--socket PATH | --tcp-url URL --tcp-token-file FILE)';
function arg(name, optional) {
  const i = process.argv.indexOf(name);
  if (i < 0 || i + 1 >= process.argv.length) {
    if (optional) return undefined;
    console.error(USAGE);
    process.exit(2);
  }
  return process.argv[i + 1];
}
const stateDir = arg('--state-dir');
const tcpUrl = arg('--tcp-url', true);
const tcpToken = tcpUrl === undefined ? undefined : fs.readFileSync(arg('--tcp-token-file'), 'utf8').trim();
const socketPath = tcpUrl === undefined ? arg('--socket') : undefined;
const adminPublicKey = crypto.createPublicKey(fs.readFileSync(arg('--admin-public-key'), 'utf8'));
const read = (name) => fs.readFileSync(path.join(stateDir, name), 'utf8').trim();

let step = 'setup';
const ok = (what) => console.log(`ok - ${what}`);
const check = (cond, what) => {
  if (!cond) throw new Error(`assertion failed: ${what}`);
};

async function expectError(what, Class, fn, inspect) {
  try {
    await fn();
  } catch (err) {
    if (!(err instanceof Class)) {
      throw new Error(`${what}: expected ${Class.name}, got ${err && err.name}: ${err && err.message}`);
    }
    if (inspect) inspect(err);
    ok(`${what} -> ${err.name}: ${err.message}`);
    return err;
  }
  throw new Error(`${what}: expected ${Class.name}, but it succeeded`);
}

const b64url = (buf) => buf.toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const unb64url = (s) => Buffer.from(s, 'base64url');

// Check one firstFactor on its own: the credential, clientData as Dfns wants it, and the
// ECDSA P-256 signature (DER, base64url) over the exact clientData bytes with the admin's
// public key exported from the HSM.
function verifyAssertion(challenge, assertion, credId) {
  check(assertion.kind === 'Key', `kind Key: ${JSON.stringify(assertion)}`);
  const { credId: got, clientData, signature } = assertion.credentialAssertion;
  check(got === credId, `credId ${got} is the admin's ${credId}`);
  check(/^[A-Za-z0-9_-]+$/.test(clientData) && /^[A-Za-z0-9_-]+$/.test(signature), 'clientData and signature are unpadded base64url');
  const clientDataBytes = unb64url(clientData);
  check(b64url(clientDataBytes) === clientData, 'clientData round-trips as base64url');
  const parsed = JSON.parse(clientDataBytes.toString('utf8'));
  check(parsed.type === 'key.get', `clientData.type key.get: ${parsed.type}`);
  check(parsed.challenge === challenge.challenge, 'clientData.challenge is the challenge');
  const der = unb64url(signature);
  check(der[0] === 0x30 && der.length >= 8 && der.length <= 72, `DER ECDSA signature (${der.length} bytes)`);
  check(crypto.verify('sha256', clientDataBytes, { key: adminPublicKey, dsaEncoding: 'der' }, der),
    'ECDSA P-256 signature verifies over the clientData bytes with the HSM public key');
}

async function main() {
  const baseUrl = read('ready');
  const orgId = JSON.parse(read('state.json')).orgId;
  const authToken = read('admin.token');
  const adminCred = read('admin.cred-id');
  const run = Date.now().toString(36);

  // The SDK's signer is HsmRemoteSigner; a thin wrapper records what it was given and returned.
  const hsm = new HsmRemoteSigner({ socketPath, timeoutMs: 20000 });
  const signed = [];
  const recording = {
    async sign(challenge) {
      const assertion = await hsm.sign(challenge);
      signed.push({ challenge, assertion });
      return assertion;
    },
  };
  const admin = new DfnsApiClient({ baseUrl, orgId, authToken, signer: recording });

  step = 'create';
  const { publicKey } = crypto.generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const name = `serve-ts-${run}`;
  const created = await admin.auth.createServiceAccount({
    body: { name, publicKey, daysValid: 30, externalId: `ext-${run}` },
  });
  const id = created.userInfo.userId;
  check(/^us-/.test(id), `userId: ${id}`);
  check(created.userInfo.isServiceAccount === true && created.userInfo.isActive === true, 'active service account');
  check(created.userInfo.name === name, 'name');
  check(typeof created.accessTokens[0].accessToken === 'string', 'access token returned');
  check(signed.length === 1, `one signature for the create (${signed.length})`);
  ok(`create ${id} (user action signed through dfns-hsm serve)`);

  step = 'verify signature';
  verifyAssertion(signed[0].challenge, signed[0].assertion, adminCred);
  check(signed[0].challenge.allowCredentials.key.some((c) => c.id === adminCred), 'the challenge allowed the admin credential');
  ok('firstFactor verified independently (node:crypto, ECDSA P-256, DER, over the exact clientData bytes)');

  step = 'list';
  const list = await admin.auth.listServiceAccounts();
  check(list.items.some((sa) => sa.userInfo.userId === id), 'listed');
  ok(`list (${list.items.length} accounts)`);

  step = 'get';
  const got = await admin.auth.getServiceAccount({ serviceAccountId: id });
  check(got.userInfo.name === name && got.userInfo.externalId === `ext-${run}`, 'get name and externalId');
  ok('get');

  step = 'update';
  const updated = await admin.auth.updateServiceAccount({ serviceAccountId: id, body: { name: `${name}-renamed` } });
  check(updated.userInfo.name === `${name}-renamed`, 'renamed');
  ok('update');

  step = 'deactivate';
  const deactivated = await admin.auth.deactivateServiceAccount({ serviceAccountId: id, body: { force: false } });
  check(deactivated.userInfo.isActive === false, 'inactive');
  ok('deactivate');

  step = 'activate';
  const activated = await admin.auth.activateServiceAccount({ serviceAccountId: id });
  check(activated.userInfo.isActive === true, 'active again');
  ok('activate');

  step = 'concurrent updates';
  const n = 8;
  const before = signed.length;
  const results = await Promise.all(Array.from({ length: n }, (_, i) =>
    admin.auth.updateServiceAccount({ serviceAccountId: id, body: { externalId: `par-${i}-${run}` } })));
  check(results.every((r) => r.userInfo.userId === id), 'every concurrent update succeeded');
  check(signed.length === before + n, `${n} more signatures`);
  ok(`${n} concurrent signed updates`);

  step = 'archive';
  const archived = await admin.auth.archiveServiceAccount({ serviceAccountId: id });
  check(archived.userInfo.isActive === false, 'archived is inactive');
  try {
    await admin.auth.getServiceAccount({ serviceAccountId: id });
    throw new Error('get after archive succeeded');
  } catch (err) {
    if (!(err instanceof DfnsError && err.httpStatus === 404)) throw err;
  }
  ok('archive (get -> 404 afterwards)');

  step = 'verify every signature';
  for (const { challenge, assertion } of signed) verifyAssertion(challenge, assertion, adminCred);
  check(new Set(signed.map((s) => s.challenge.challengeIdentifier)).size === signed.length, 'one challenge per signature');
  ok(`all ${signed.length} firstFactors verify`);

  // Errors, through the SDK: the signer's own error reaches the caller unwrapped.
  step = 'errors';
  const missing = path.join(path.dirname(socketPath), 'no-such-dir', 'sign.sock');
  const offline = new DfnsApiClient({ baseUrl, orgId, authToken, signer: new HsmRemoteSigner({ socketPath: missing }) });
  await expectError('socket path that does not exist', HsmUnreachableError,
    () => offline.auth.createServiceAccount({ body: { name: `never-${run}`, publicKey } }),
    (err) => {
      check(err.message.includes(missing), `the message names the socket: ${err.message}`);
      check(err.code === 'ENOENT', `code ENOENT: ${err.code}`);
    });

  const stranger = new DfnsApiClient({ baseUrl, orgId, authToken, signer: new HsmRemoteSigner({ socketPath, identity: 'no-such-identity' }) });
  await expectError('X-Dfns-Hsm-Identity naming no identity', HsmForbiddenError,
    () => stranger.auth.createServiceAccount({ body: { name: `never-${run}`, publicKey } }),
    (err) => check(err.status === 403 && err.code === 'forbidden', `403 forbidden: ${err.status} ${err.code}`));

  await expectError('wrong client token on the unix socket', HsmUnauthorizedError,
    () => new HsmRemoteSigner({ socketPath, token: 'not-a-client-token' }).sign(signed[0].challenge),
    (err) => check(err.code === 'unauthorized', `code unauthorized: ${err.code}`));

  await expectError('malformed challenge', HsmServiceError,
    () => hsm.sign({ challengeIdentifier: 'x' }),
    (err) => check(err.status === 400 && err.code === 'bad_request', `400 bad_request: ${err.status} ${err.code}`));

  const foreign = {
    ...signed[0].challenge,
    allowCredentials: { key: [{ type: 'public-key', id: 'cr-not-on-this-hsm' }], webauthn: [] },
  };
  await expectError('challenge allowing only a credential the service does not hold', HsmForbiddenError,
    () => hsm.sign(foreign));

  hsm.close();
  console.log(`sdk-check (TypeScript): all steps passed (${signed.length} signatures through the service)`);
}

async function tcpMain() {
  const baseUrl = read('ready');
  const orgId = JSON.parse(read('state.json')).orgId;
  const authToken = read('admin.token');
  const adminCred = read('admin.cred-id');
  const run = Date.now().toString(36);
  const hsm = new HsmRemoteSigner({ url: tcpUrl, token: tcpToken });
  const signed = [];
  const admin = new DfnsApiClient({
    baseUrl, orgId, authToken,
    signer: { sign: async (c) => { const a = await hsm.sign(c); signed.push({ challenge: c, assertion: a }); return a; } },
  });
  step = 'tcp create';
  const { publicKey } = crypto.generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const created = await admin.auth.createServiceAccount({ body: { name: `serve-ts-tcp-${run}`, publicKey } });
  const id = created.userInfo.userId;
  await admin.auth.archiveServiceAccount({ serviceAccountId: id });
  check(signed.length === 2, `two signatures (${signed.length})`);
  for (const { challenge, assertion } of signed) verifyAssertion(challenge, assertion, adminCred);
  ok(`HsmRemoteSigner({ url: '${tcpUrl}', token }): create ${id} and archive, both signatures verified`);
  step = 'tcp errors';
  await expectError('TCP without a client token', HsmUnauthorizedError,
    () => new HsmRemoteSigner({ url: tcpUrl }).sign(signed[0].challenge),
    (err) => check(err.status === 401 && err.message.includes(tcpUrl), `401 naming the URL: ${err.message}`));
  await expectError('TCP with a wrong client token', HsmUnauthorizedError,
    () => new HsmRemoteSigner({ url: tcpUrl, token: 'not-a-client-token' }).sign(signed[0].challenge));
  hsm.close();
  console.log('sdk-check (TypeScript, TCP): all steps passed');
}

(tcpUrl === undefined ? main() : tcpMain()).catch((err) => {
  const detail = err instanceof DfnsError ? ` (HTTP ${err.httpStatus}: ${JSON.stringify(err.context && err.context.body)})` : '';
  console.error(`not ok - TypeScript sdk-check failed at step "${step}": ${err && err.name}: ${err && err.message}${detail}`);
  process.exit(1);
});
