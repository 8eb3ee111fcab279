#!/usr/bin/env node
// Example: an app on @dfns/sdk whose signing key is on the HSM behind `dfns-hsm serve`.
// Compared with a PEM key, only the signer changes:
//
//   - signer: new AsymmetricKeySigner({ credId, privateKey }),
//   + signer: new HsmRemoteSigner({ socketPath: '/run/dfns-hsm/sign.sock' }),
//
// The service picks the HSM key from the challenge's allowed credentials, so the app needs no
// credential id either. Run (after `npm install @dfns/sdk ./clients/typescript`):
//
//   DFNS_API_URL=https://api.dfns.io DFNS_AUTH_TOKEN_FILE=admin.token \
//   DFNS_HSM_SOCKET=/run/dfns-hsm/sign.sock node create-service-account.js NAME PUBLIC_KEY.pem
'use strict';

const fs = require('node:fs');
const { DfnsApiClient } = require('@dfns/sdk');
const { HsmRemoteSigner, HsmUnavailableError } = require('dfns-hsm-signer');

async function main() {
  const [name, publicKeyFile] = process.argv.slice(2);
  if (!name || !publicKeyFile) {
    console.error('usage: node create-service-account.js NAME PUBLIC_KEY.pem');
    process.exit(2);
  }
  const dfns = new DfnsApiClient({
    baseUrl: process.env.DFNS_API_URL || 'https://api.dfns.io',
    authToken: fs.readFileSync(process.env.DFNS_AUTH_TOKEN_FILE, 'utf8').trim(),
    signer: new HsmRemoteSigner({ socketPath: process.env.DFNS_HSM_SOCKET || '/run/dfns-hsm/sign.sock' }),
  });
  const account = await dfns.auth.createServiceAccount({
    body: { name, publicKey: fs.readFileSync(publicKeyFile, 'utf8') },
  });
  console.log(`created ${account.userInfo.userId} (${account.userInfo.name})`);
}

main().catch((err) => {
  // Signer errors arrive as they are: HsmUnreachableError, HsmForbiddenError, HsmUnavailableError, ...
  if (err instanceof HsmUnavailableError) {
    console.error(`the HSM is busy or down, try again in ${err.retryAfterSeconds ?? 'a few'} s: ${err.message}`);
  } else {
    console.error(`${err.name}: ${err.message}`);
  }
  process.exit(1);
});
