#!/usr/bin/env node
// The official-SDK side of dfns-hsm-bench's end-to-end and `serve` sections: CONCURRENCY loops
// of signed `PUT /auth/service-accounts/{id}` (init, sign, action, PUT) through @dfns/sdk for
// SECONDS, after a short warm-up, with one of two signers:
//
// - default: @dfns/sdk-keysigner with an in-memory P-256 key. As the emulator's admin, create a
//   permission and a service account holding it with a fresh key (archived at the end).
// - --hsm-socket PATH --account-id ID --token-file FILE: dfns-hsm-signer's HsmRemoteSigner
//   (clients/typescript) on the unix socket of `dfns-hsm serve`, for an existing service account
//   whose key is on the HSM behind the service (FILE holds its Dfns token).
//
// Usage: node bench-sdk.js STATE_DIR SECONDS CONCURRENCY [--hsm-socket PATH --account-id ID --token-file FILE]
// Prints one JSON line: {"ops":N,"secs":S,"latenciesMs":[...]}.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { DfnsApiClient } = require('@dfns/sdk');
const { AsymmetricKeySigner } = require('@dfns/sdk-keysigner');

const USAGE =
  'usage: node bench-sdk.js STATE_DIR SECONDS CONCURRENCY [--hsm-socket PATH --account-id ID --token-file FILE]';
const [stateDir, secondsArg, concurrencyArg, ...rest] = process.argv.slice(2);
if (!stateDir || !secondsArg || !concurrencyArg) {
  console.error(USAGE);
  process.exit(2);
}
const remote = {};
for (let i = 0; i < rest.length; i += 2) {
  const key = { '--hsm-socket': 'socketPath', '--account-id': 'accountId', '--token-file': 'tokenFile' }[rest[i]];
  if (!key || rest[i + 1] === undefined) {
    console.error(USAGE);
    process.exit(2);
  }
  remote[key] = rest[i + 1];
}
const remoteKeys = Object.keys(remote).length;
if (remoteKeys !== 0 && remoteKeys !== 3) {
  console.error(USAGE);
  process.exit(2);
}
const seconds = Number(secondsArg);
const concurrency = Number(concurrencyArg);
const read = (name) => fs.readFileSync(path.join(stateDir, name), 'utf8').trim();

function clientFor({ baseUrl, authToken, credId, privateKey }) {
  return new DfnsApiClient({
    baseUrl,
    authToken,
    signer: new AsymmetricKeySigner({ credId, privateKey }),
  });
}

// The service-account loop, with `client` updating account `id`.
async function measure(client, id) {
  const update = (externalId) =>
    client.auth.updateServiceAccount({ serviceAccountId: id, body: { externalId } });

  for (let i = 0; i < 20; i++) await update(`warm-${i}`);

  const latencies = [];
  const started = process.hrtime.bigint();
  const limit = started + BigInt(Math.round(seconds * 1e9));
  const worker = async (w) => {
    for (let i = 0; process.hrtime.bigint() < limit; i++) {
      const t0 = process.hrtime.bigint();
      await update(`sdk-${w}-${i}`);
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  const secs = Number(process.hrtime.bigint() - started) / 1e9;
  return { ops: latencies.length, secs, latenciesMs: latencies };
}

// HsmRemoteSigner: the key stays on the HSM behind `dfns-hsm serve`.
async function mainRemote() {
  // The adapter of this repository, loaded from its directory (no runtime dependency).
  const { HsmRemoteSigner } = require(path.join(__dirname, '..', '..', 'clients', 'typescript'));
  const signer = new HsmRemoteSigner({ socketPath: remote.socketPath });
  const client = new DfnsApiClient({
    baseUrl: read('ready'),
    authToken: fs.readFileSync(remote.tokenFile, 'utf8').trim(),
    signer,
  });
  const result = await measure(client, remote.accountId);
  signer.close();
  console.log(JSON.stringify(result));
}

async function main() {
  if (remoteKeys) return mainRemote();
  const baseUrl = read('ready');
  const admin = clientFor({
    baseUrl,
    authToken: read('admin.token'),
    credId: read('admin.cred-id'),
    privateKey: read('admin.key.pem'),
  });
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const run = `${Date.now().toString(36)}-${process.pid}`;
  // A new service account holds no permission: give it the one its updates need.
  const permission = await admin.permissions.createPermission({
    body: { name: `bench-sdk-${run}`, operations: ['Auth:ServiceAccounts:Update'] },
  });
  const created = await admin.auth.createServiceAccount({
    body: { name: `bench-sdk-${run}`, publicKey, daysValid: 30, permissionId: permission.id },
  });
  const id = created.userInfo.userId;
  const token = created.accessTokens[0];
  const client = clientFor({ baseUrl, authToken: token.accessToken, credId: token.credId, privateKey });
  const result = await measure(client, id);
  await admin.auth.archiveServiceAccount({ serviceAccountId: id, query: { force: true } });
  console.log(JSON.stringify(result));
}

main().catch((err) => {
  console.error(`bench-sdk failed: ${err && err.message}`);
  process.exit(1);
});
