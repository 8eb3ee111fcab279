#!/usr/bin/env node
// Drive a running dfns-emulator with Dfns's official TypeScript SDK (@dfns/sdk +
// @dfns/sdk-keysigner): the full service-account lifecycle as the emulator's admin, the
// permissions calls, plus signed calls made by new service accounts with their own token and
// key (a new account holds no permission: each gets one from the admin first).
//
// Usage: node sdk-check.js STATE_DIR [--expect-archive-approval]
//   (or DFNS_EMULATOR_STATE_DIR=...). With --expect-archive-approval the emulator must have been
//   started with `--approval-required ServiceAccounts:Archive`: an archive without force must
//   then raise the SDK's PolicyPendingError (HTTP 202), and one with ?force=true must succeed.
// Exits 0 when every step passes; otherwise prints the failing step and exits 1.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { DfnsApiClient, DfnsError, PolicyPendingError } = require('@dfns/sdk');
const { AsymmetricKeySigner } = require('@dfns/sdk-keysigner');

const args = process.argv.slice(2);
const expectArchiveApproval = args.includes('--expect-archive-approval');
const stateDir = args.find((a) => !a.startsWith('--')) || process.env.DFNS_EMULATOR_STATE_DIR;
if (!stateDir) {
  console.error('usage: node sdk-check.js STATE_DIR');
  process.exit(2);
}

const read = (name) => fs.readFileSync(path.join(stateDir, name), 'utf8').trim();

let step = 'setup';
const ok = (what) => console.log(`ok - ${what}`);
const check = (cond, what) => {
  if (!cond) throw new Error(`assertion failed: ${what}`);
};

// Run `fn` and require it to fail with a DfnsError of HTTP status `status` (and, when given,
// a message containing `needle`).
async function expectStatus(status, what, fn, needle) {
  try {
    await fn();
  } catch (err) {
    if (err instanceof DfnsError && err.httpStatus === status) {
      if (needle !== undefined && !String(err.message).includes(needle)) {
        throw new Error(`${what}: HTTP ${status}, but the message does not name ${needle}: ${err.message}`);
      }
      ok(`${what} -> ${status} (${err.message})`);
      return;
    }
    throw new Error(`${what}: expected HTTP ${status}, got ${err && err.httpStatus} ${err && err.message}`);
  }
  throw new Error(`${what}: expected HTTP ${status}, but the call succeeded`);
}

function clientFor({ baseUrl, authToken, credId, privateKey, orgId }) {
  return new DfnsApiClient({
    baseUrl,
    authToken,
    orgId, // makes the SDK check the token's https://custom/app_metadata orgId claim
    signer: new AsymmetricKeySigner({ credId, privateKey }),
  });
}

function newKeyPair(kind) {
  const options = {
    'P-256': ['ec', { namedCurve: 'P-256' }],
    secp256k1: ['ec', { namedCurve: 'secp256k1' }],
    Ed25519: ['ed25519', {}],
    'RSA-2048': ['rsa', { modulusLength: 2048 }],
  }[kind];
  const { publicKey, privateKey } = crypto.generateKeyPairSync(options[0], {
    ...options[1],
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { publicKey, privateKey };
}

async function main() {
  const baseUrl = read('ready');
  const state = JSON.parse(read('state.json'));
  const orgId = state.orgId;
  const admin = clientFor({
    baseUrl,
    orgId,
    authToken: read('admin.token'),
    credId: read('admin.cred-id'),
    privateKey: read('admin.key.pem'),
  });
  const run = Date.now().toString(36);

  step = 'create';
  const key = newKeyPair('P-256');
  const name = `sdk-check-${run}`;
  const created = await admin.auth.createServiceAccount({
    body: { name, publicKey: key.publicKey, daysValid: 30, externalId: `ext-${run}` },
  });
  const id = created.userInfo.userId;
  const token = created.accessTokens[0];
  check(/^us-[a-z0-9]{5}-[a-z0-9]{5}-[a-z0-9]{14,16}$/.test(id), `userId shape: ${id}`);
  check(created.userInfo.isServiceAccount === true, 'isServiceAccount');
  check(token.kind === 'ServiceAccount' && typeof token.accessToken === 'string', 'accessToken returned on create');
  ok(`create ${id}`);

  step = 'list';
  const list = await admin.auth.listServiceAccounts();
  const listed = list.items.find((sa) => sa.userInfo.userId === id);
  check(listed, 'new account listed');
  check(listed.accessTokens[0].accessToken === undefined, 'list hides accessToken');
  ok(`list (${list.items.length} accounts)`);

  step = 'get';
  const got = await admin.auth.getServiceAccount({ serviceAccountId: id });
  check(got.userInfo.name === name, 'get returns the name');
  check(got.accessTokens[0].credId === token.credId, 'get returns the credId');
  ok('get');

  step = 'update';
  const updated = await admin.auth.updateServiceAccount({
    serviceAccountId: id,
    body: { name: `${name}-renamed` },
  });
  check(updated.userInfo.name === `${name}-renamed`, 'update renamed');
  ok('update');

  const sa = clientFor({
    baseUrl,
    orgId,
    authToken: token.accessToken,
    credId: token.credId,
    privateKey: key.privateKey,
  });

  step = 'permissions';
  check(Array.isArray(created.userInfo.permissionAssignments) && created.userInfo.permissionAssignments.length === 0,
    'a new service account holds no permission');
  const notAuthorized = (op) => `is not authorized to perform operation (${op})`;
  await expectStatus(403, 'service account without a permission lists service accounts',
    () => sa.auth.listServiceAccounts(), notAuthorized('Auth:ServiceAccounts:Read'));
  await expectStatus(403, 'service account without a permission updates itself',
    () => sa.auth.updateServiceAccount({ serviceAccountId: id, body: { externalId: `denied-${run}` } }),
    notAuthorized('Auth:ServiceAccounts:Update'));
  const selfOps = ['Auth:ServiceAccounts:Read', 'Auth:ServiceAccounts:Update', 'Auth:ServiceAccounts:Deactivate'];
  const permission = await admin.permissions.createPermission({ body: { name: `sdk-self-${run}`, operations: selfOps } });
  check(/^pm-/.test(permission.id) && permission.name === `sdk-self-${run}`, `permission shape: ${JSON.stringify(permission)}`);
  check(JSON.stringify(permission.operations) === JSON.stringify(selfOps), 'permission operations');
  const gotPermission = await admin.permissions.getPermission({ permissionId: permission.id });
  check(gotPermission.id === permission.id && gotPermission.isArchived === false, 'getPermission');
  const permissions = await admin.permissions.listPermissions();
  check(permissions.items.some((p) => p.id === permission.id), 'listPermissions has the new permission');
  check(permissions.items.some((p) => p.isImmutable === true), 'listPermissions has the immutable owner permission');
  const assignment = await admin.permissions.createAssignment({ permissionId: permission.id, body: { identityId: id } });
  check(/^as-/.test(assignment.id) && assignment.identityId === id, `assignment shape: ${JSON.stringify(assignment)}`);
  const assignments = await admin.permissions.listAssignments({ permissionId: permission.id });
  check(assignments.items.length === 1 && assignments.items[0].id === assignment.id, 'listAssignments');
  const readable = await sa.auth.listServiceAccounts();
  check(readable.items.some((a) => a.userInfo.userId === id), 'with the permission, the account lists service accounts');
  const mine = await admin.auth.getServiceAccount({ serviceAccountId: id });
  check(mine.userInfo.permissionAssignments[0].assignmentId === assignment.id, 'permissionAssignments shows the assignment');
  await admin.permissions.deleteAssignment({ permissionId: permission.id, assignmentId: assignment.id });
  await expectStatus(403, 'after revoke the account lists service accounts',
    () => sa.auth.listServiceAccounts(), notAuthorized('Auth:ServiceAccounts:Read'));
  await admin.permissions.createAssignment({ permissionId: permission.id, body: { identityId: id } });
  ok('permissions: 403 naming the operation, create, get, list, assign, list assignments, revoke, 403 again, assign again');

  step = 'deactivate';
  const deactivated = await admin.auth.deactivateServiceAccount({ serviceAccountId: id, body: { force: false } });
  check(deactivated.userInfo.isActive === false, 'deactivated');
  ok('deactivate');
  await expectStatus(401, 'deactivated account lists service accounts', () => sa.auth.listServiceAccounts());

  step = 'activate';
  const activated = await admin.auth.activateServiceAccount({ serviceAccountId: id });
  check(activated.userInfo.isActive === true, 'activated');
  ok('activate');

  step = 'signed call as the service account';
  const self = await sa.auth.updateServiceAccount({
    serviceAccountId: id,
    body: { externalId: `self-${run}` },
  });
  check(self.userInfo.userId === id, 'service account updated itself');
  ok('service account signs its own user action (update itself)');
  await expectStatus(403, 'service account creates a service account', () =>
    sa.auth.createServiceAccount({ body: { name: `nested-${run}`, publicKey: newKeyPair('P-256').publicKey } }),
  );

  step = 'archive';
  if (expectArchiveApproval) {
    try {
      await admin.auth.archiveServiceAccount({ serviceAccountId: id });
      throw new Error('archive without force succeeded, expected HTTP 202 pending approval');
    } catch (err) {
      if (!(err instanceof PolicyPendingError)) throw err;
      const approval = err.context;
      check(approval && approval.status === 'Pending', `pending approval body: ${JSON.stringify(approval)}`);
      ok(`archive without force -> 202 PolicyPendingError (${approval.activity.kind})`);
    }
    await admin.auth.getServiceAccount({ serviceAccountId: id });
    ok('account still there while the archive is pending');
  }
  const archived = await admin.auth.archiveServiceAccount({ serviceAccountId: id, query: { force: true } });
  check(archived.userInfo.isActive === false, 'archived account is inactive');
  ok('archive (?force=true)');
  await expectStatus(404, 'get archived account', () => admin.auth.getServiceAccount({ serviceAccountId: id }));
  await expectStatus(401, 'archived account authenticates', () => sa.auth.listServiceAccounts());

  // Node's own signatures for every algorithm (secp256k1 from OpenSSL is not low-S normalized).
  for (const kind of ['P-256', 'secp256k1', 'Ed25519', 'RSA-2048']) {
    step = `service account with ${kind}`;
    const pair = newKeyPair(kind);
    const acct = await admin.auth.createServiceAccount({
      body: { name: `sdk-${kind}-${run}`, publicKey: pair.publicKey, permissionId: permission.id },
    });
    check(acct.userInfo.permissionAssignments[0].permissionId === permission.id, `${kind}: permissionId assigned at creation`);
    const client = clientFor({
      baseUrl,
      orgId,
      authToken: acct.accessTokens[0].accessToken,
      credId: acct.accessTokens[0].credId,
      privateKey: pair.privateKey,
    });
    const acctId = acct.userInfo.userId;
    for (let i = 0; i < 3; i++) {
      await client.auth.updateServiceAccount({ serviceAccountId: acctId, body: { externalId: `${kind}-${i}` } });
    }
    const gone = await client.auth.deactivateServiceAccount({ serviceAccountId: acctId });
    check(gone.userInfo.isActive === false, `${kind} account deactivated itself`);
    await admin.auth.archiveServiceAccount({ serviceAccountId: acctId, query: { force: true } });
    ok(`${kind}: create, 3 self-signed updates, self-deactivate, archive`);
  }

  console.log('sdk-check: all steps passed');
}

main().catch((err) => {
  const detail = err instanceof DfnsError ? ` (HTTP ${err.httpStatus}: ${JSON.stringify(err.context && err.context.body)})` : '';
  console.error(`sdk-check FAILED at step "${step}": ${err && err.message}${detail}`);
  process.exit(1);
});
