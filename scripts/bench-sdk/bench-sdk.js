#!/usr/bin/env node
// The official-SDK side of dfns-hsm-bench's end-to-end section: as the emulator's admin, create
// a permission and a service account holding it with an in-memory P-256 key, then run CONCURRENCY loops of signed
// `PUT /auth/service-accounts/{id}` (init, sign, action, PUT) through @dfns/sdk +
// @dfns/sdk-keysigner for SECONDS, after a short warm-up.
//
// Usage: node bench-sdk.js STATE_DIR SECONDS CONCURRENCY
// Prints one JSON line: {"ops":N,"secs":S,"latenciesMs":[...]}.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { DfnsApiClient } = require('@dfns/sdk');
const { AsymmetricKeySigner } = require('@dfns/sdk-keysigner');

const [stateDir, secondsArg, concurrencyArg] = process.argv.slice(2);
if (!stateDir || !secondsArg || !concurrencyArg) {
  console.error('usage: node bench-sdk.js STATE_DIR SECONDS CONCURRENCY');
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

async function main() {
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
  await admin.auth.archiveServiceAccount({ serviceAccountId: id, query: { force: true } });
  console.log(JSON.stringify({ ops: latencies.length, secs, latenciesMs: latencies }));
}

main().catch((err) => {
  console.error(`bench-sdk failed: ${err && err.message}`);
  process.exit(1);
});
