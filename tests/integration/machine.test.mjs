// Programs as callers, under real `wrangler dev`: access tokens from real OpenID Providers
// (npm oidc-provider, oidc_provider.mjs: its own client credentials grant and JWT access
// tokens, RFC 9068) for two trusted issuers, and service tokens made by `edgeauth
// service-token create` and stored in the real local Workers KV. The test origin sees only what
// the edge forwards: the identity headers and the signed assertion, never the credential.
//
// Tokens the providers would never issue (expired, signed by a stranger's key, one issuer's key
// claiming the other's `iss`, `alg: none`, HS256) are signed here, with the providers' own keys
// where the attack needs them (signJwt), as an attacker holding such a key would.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { SignJWT, createRemoteJWKSet, jwtVerify } from 'jose';

import { ROOT, kvDelete, kvPut, startOrigin, startWorker, stopAll, waitForLog } from './harness.mjs';
import { startProvider } from './oidc_provider.mjs';
import { loadExpectFail } from './expect_fail_vectors.mjs';

const vectors = loadExpectFail();
const { doc } = vectors;
const BIN = process.env.EDGEAUTH_BIN ?? path.join(ROOT, 'target', 'debug', 'edgeauth');
const now = () => Math.floor(Date.now() / 1000);

/** The APIs behind the edge, as the providers name them (resource indicators, `aud`). */
const API = 'https://api.example.test';
const API_ES = 'https://api-es.example.test';
const API_ED = 'https://api-ed.example.test';
const ELSEWHERE = 'https://elsewhere.example.test';
const CI = { client_id: 'ci-job', client_secret: 'ci job secret' };
const PARTNER = { client_id: 'partner-svc', client_secret: 'partner secret' };
const ROTOR = { client_id: 'rotor-job', client_secret: 'rotor secret' };
const machineClient = ({ client_id, client_secret }) => ({
  client_id, client_secret, grant_types: ['client_credentials'], response_types: [], redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_basic',
});

/**
 * An issuer that is down: its JWKS answers 503, and every fetch is counted. `close()` stops it.
 */
async function startDownIssuer() {
  const server = http.createServer((req, res) => {
    down.fetches += 1;
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.end('unavailable');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  const down = { url, fetches: 0, close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }) };
  return down;
}

let origin;
let down;
let corp;
let partner;
let rotor;
let edge;
let requests = 0;

before(async () => {
  [origin, down, corp, partner, rotor] = await Promise.all([
    startOrigin(),
    startDownIssuer(),
    startProvider({
      name: 'corp',
      algs: ['RS256', 'ES256', 'EdDSA'],
      resourceServers: {
        [API]: { scope: 'deploy read', alg: 'RS256' },
        [API_ES]: { scope: 'deploy read', alg: 'ES256' },
        [API_ED]: { scope: 'deploy read', alg: 'EdDSA' },
        [ELSEWHERE]: { scope: 'deploy read', alg: 'RS256' },
      },
    }),
    startProvider({ name: 'partner', algs: ['ES256'], resourceServers: { [API]: { scope: 'orders', alg: 'ES256' } } }),
    startProvider({ name: 'rotor', algs: ['RS256'], resourceServers: { [API]: { scope: 'deploy', alg: 'RS256' } } }),
  ]);
  await Promise.all([
    corp.registerClient(machineClient(CI)),
    partner.registerClient(machineClient(PARTNER)),
    rotor.registerClient(machineClient(ROTOR)),
  ]);
  const issuers = [
    {
      // Keys found through discovery; EdDSA is published but not accepted from this issuer.
      id: 'corp',
      issuer: corp.issuer,
      audiences: [API, API_ES, API_ED],
      algorithms: ['RS256', 'ES256'],
      required_scopes: ['deploy'],
      mapping: { default_roles: ['machine'], scope_roles: { deploy: ['deployer'], read: ['reader'] } },
    },
    // Keys at a configured JWKS URL.
    { id: 'partner', issuer: partner.issuer, jwks_uri: `${partner.issuer}/jwks`, audiences: [API], algorithms: ['ES256'], mapping: { default_roles: ['partner'] } },
    { id: 'rotor', issuer: rotor.issuer, audiences: [API], mapping: { scope_roles: { deploy: ['deployer'] } } },
    { id: 'down', issuer: down.url, jwks_uri: `${down.url}/jwks`, audiences: [API] },
  ];
  edge = await startWorker({
    name: 'machine',
    vars: {
      SIGNING_KEY: vectors.privateJwk(),
      ISSUER: doc.issuer,
      SESSION_AUDIENCE: doc.audience,
      ORIGIN_URL: origin.url,
      ACCESS_RULES: JSON.stringify([
        { path: '/deploy/*', roles: ['deployer'] },
        { path: '/public/*', access: 'public' },
      ]),
      TRUSTED_ISSUERS: JSON.stringify(issuers),
      SERVICE_TOKENS: 'kv',
      REVOCATION_REFRESH_SECS: '0',
    },
  });
});

after(async () => {
  await stopAll();
  await Promise.all([origin?.close(), down?.close(), corp?.close(), partner?.close(), rotor?.close()]);
});

/**
 * One request through the edge with `headers` and its own `cf-ray`; resolves to
 * `{ status, seen, requestId, text }`, `seen` being what the origin received (null if nothing).
 */
async function call(route, headers = {}, init = {}) {
  requests += 1;
  const requestId = `machine-${process.pid}-${requests}`;
  const before = origin.received.length;
  const response = await fetch(`${edge.url}${route}`, {
    redirect: 'manual',
    signal: AbortSignal.timeout(15_000),
    ...init,
    headers: { accept: 'application/json', 'cf-ray': requestId, ...headers },
  });
  const text = await response.text();
  const seen = origin.received.slice(before).at(-1) ?? null;
  return { status: response.status, seen, requestId, text };
}

const bearer = (token) => ({ authorization: `Bearer ${token}` });

/** The edge's audit record of `requestId`, parsed (waits until wrangler has written it). */
async function auditRecord(requestId) {
  const pattern = new RegExp(`\\{"event":"[^"]+","request_id":"${requestId}"[^\\n]*\\}`);
  const log = await waitForLog(edge, pattern);
  return JSON.parse(log.match(pattern)[0]);
}

/** Asserts `result` was refused with `status` and nothing reached the origin; returns its audit reason. */
async function refused(result, status = 401) {
  assert.equal(result.status, status, result.text);
  assert.equal(result.seen, null, 'nothing reached the origin');
  assert.doesNotMatch(result.text, /issuer|service|scope|audience|expired|signature/i, 'the body names no check');
  return (await auditRecord(result.requestId)).reason;
}

/** The assertion the origin received, verified with the edge's JWKS. */
async function assertion(seen) {
  const jwks = createRemoteJWKSet(new URL(`${edge.url}/.well-known/jwks.json`));
  const { payload } = await jwtVerify(seen.headers['x-auth-assertion'], jwks, { algorithms: ['EdDSA'], issuer: doc.issuer, audience: 'origin' });
  return payload;
}

const token = (provider, client, resource, scope = 'deploy') => provider.clientCredentialsToken({ ...client, resource, scope });

/** A token as `provider`'s current `alg` key signs it, with the claims of a real one overridden. */
function forged(provider, alg, claims = {}, header = {}) {
  const t = now();
  return provider.signJwt(alg, { iss: provider.issuer, aud: API, sub: CI.client_id, client_id: CI.client_id, scope: 'deploy', jti: crypto.randomUUID(), iat: t - 10, exp: t + 600, ...claims }, { typ: 'at+jwt', ...header });
}

describe('access tokens of trusted issuers', () => {
  test('an RS256 token from the client credentials grant is admitted with its mapped identity, and is not forwarded', async () => {
    const result = await call('/deploy/app', bearer(await token(corp, CI, API, 'deploy read')));
    assert.equal(result.status, 200, result.text);
    assert.equal(result.seen.headers['x-auth-user'], 'corp:ci-job');
    assert.equal(result.seen.headers['x-auth-roles'], 'machine,deployer,reader');
    assert.equal(result.seen.headers.authorization, undefined, 'the access token never reaches the origin');
    const claims = await assertion(result.seen);
    assert.equal(claims.sub, 'corp:ci-job');
    assert.equal(claims.machine, 'issuer');
    assert.equal(claims.idp, 'corp');
    assert.equal(claims.scope, 'deploy read');
    assert.equal(result.seen.headers['x-auth-session'], claims.sid);
    assert.match(claims.sid, /^corp:/, 'the token\'s jti, in the issuer\'s namespace');
    const record = await auditRecord(result.requestId);
    assert.equal(record.sub, 'corp:ci-job');
  });

  test('an ES256 token is admitted; a second issuer\'s token with its keys at a configured JWKS URL too', async () => {
    const es = await call('/deploy/app', bearer(await token(corp, CI, API_ES)));
    assert.equal(es.status, 200, es.text);
    assert.equal(es.seen.headers['x-auth-user'], 'corp:ci-job');
    const other = await call('/orders', bearer(await token(partner, PARTNER, API, 'orders')));
    assert.equal(other.status, 200, other.text);
    assert.equal(other.seen.headers['x-auth-user'], 'partner:partner-svc');
    assert.equal(other.seen.headers['x-auth-roles'], 'partner');
    // The rules treat programs as they treat people: no deployer role, no /deploy.
    const forbidden = await call('/deploy/app', bearer(await token(partner, PARTNER, API, 'orders')));
    assert.equal(await refused(forbidden, 403), 'missing_role');
  });

  test('a token for another audience, without the required scope, or from an algorithm the issuer may not use is refused', async () => {
    assert.equal(await refused(await call('/deploy/app', bearer(await token(corp, CI, ELSEWHERE)))), 'issuer_wrong_audience');
    assert.equal(await refused(await call('/deploy/app', bearer(await token(corp, CI, API, 'read')))), 'issuer_missing_scope');
    // A real EdDSA token of the issuer, its key in the issuer's JWKS: not an accepted algorithm here.
    assert.equal(await refused(await call('/deploy/app', bearer(await token(corp, CI, API_ED)))), 'issuer_algorithm');
  });

  test('expired, not yet valid, too long-lived, unsigned and HMAC tokens are refused', async () => {
    const t = now();
    assert.equal(await refused(await call('/x', bearer(await forged(corp, 'RS256', { iat: t - 4000, exp: t - 3000 })))), 'issuer_expired');
    assert.equal(await refused(await call('/x', bearer(await forged(corp, 'RS256', { iat: t + 3000, exp: t + 4000 })))), 'issuer_not_yet_valid');
    assert.equal(await refused(await call('/x', bearer(await forged(corp, 'RS256', { exp: t + 200_000 })))), 'issuer_lifetime_too_long');
    assert.equal(await refused(await call('/x', bearer(await forged(corp, 'none')))), 'issuer_malformed');
    // HS256 with a secret the attacker knows (the client's): never accepted from anyone.
    const hmac = await new SignJWT({ iss: corp.issuer, aud: API, sub: 'ci-job', scope: 'deploy', iat: t, exp: t + 600 })
      .setProtectedHeader({ alg: 'HS256', kid: corp.kids.RS256 })
      .sign(new TextEncoder().encode(CI.client_secret));
    assert.equal(await refused(await call('/x', bearer(hmac))), 'issuer_malformed');
    // A tampered payload under a real signature.
    const real = await token(corp, CI, API, 'read');
    const [h, p, s] = real.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url'));
    const widened = Buffer.from(JSON.stringify({ ...claims, scope: 'deploy read' })).toString('base64url');
    assert.equal(await refused(await call('/deploy/app', bearer(`${h}.${widened}.${s}`))), 'issuer_bad_signature');
  });

  test('a token signed by a key not in the JWKS, or by one issuer claiming another\'s iss, is refused', async () => {
    // A stranger's key, its kid unknown to the partner issuer (one bounded JWKS refetch).
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const t = now();
    const stranger = await new SignJWT({ iss: partner.issuer, aud: API, sub: 'partner-svc', iat: t, exp: t + 600 })
      .setProtectedHeader({ alg: 'ES256', kid: 'stranger-key', typ: 'at+jwt' })
      .sign(privateKey);
    assert.equal(await refused(await call('/orders', bearer(stranger))), 'issuer_unknown_kid');
    // The stranger's key under the partner's real kid.
    const posing = await new SignJWT({ iss: partner.issuer, aud: API, sub: 'partner-svc', iat: t, exp: t + 600 })
      .setProtectedHeader({ alg: 'ES256', kid: partner.kids.ES256, typ: 'at+jwt' })
      .sign(privateKey);
    assert.equal(await refused(await call('/orders', bearer(posing))), 'issuer_bad_signature');
    // The partner's real key, claiming to be corp (with corp's kid, so corp's key is used).
    const crossed = await forged(partner, 'ES256', { iss: corp.issuer, aud: API_ES }, { kid: corp.kids.ES256 });
    assert.equal(await refused(await call('/deploy/app', bearer(crossed))), 'issuer_bad_signature');
    // An issuer the edge does not trust at all is not one of ours either: our own verifier refuses it.
    const untrusted = await forged(partner, 'ES256', { iss: 'https://untrusted.example' });
    assert.equal(await refused(await call('/x', bearer(untrusted))), 'malformed');
  });

  test('a key rotation at the issuer: the new key is fetched at once, a retired one is refused', async () => {
    const early = await token(rotor, ROTOR, API);
    const unused = await token(rotor, ROTOR, API);
    assert.equal((await call('/deploy/app', bearer(early))).status, 200);
    await rotor.rotateKeys();
    const rotated = await call('/deploy/app', bearer(await token(rotor, ROTOR, API)));
    assert.equal(rotated.status, 200, rotated.text);
    assert.equal(rotated.seen.headers['x-auth-user'], 'rotor:rotor-job');
    // Signed by the retired key: no longer in the JWKS the edge just fetched.
    assert.equal(await refused(await call('/deploy/app', bearer(unused))), 'issuer_unknown_kid');
  });

  test('an issuer whose keys cannot be fetched refuses its tokens, and is not asked again at once', async () => {
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const t = now();
    const token = await new SignJWT({ iss: down.url, aud: API, sub: 'job', iat: t, exp: t + 600 })
      .setProtectedHeader({ alg: 'RS256', kid: 'k' })
      .sign(privateKey);
    const started = Date.now();
    assert.equal(await refused(await call('/x', bearer(token))), 'issuer_keys_unavailable');
    assert.equal(down.fetches, 1);
    assert.equal(await refused(await call('/x', bearer(token))), 'issuer_keys_unavailable');
    // Within FETCH_RETRY_SECS (10 s) of the failure, no second fetch; a slower machine only
    // skips this one assertion.
    if (Date.now() - started < 9_000) assert.equal(down.fetches, 1, 'the failure is not retried at once');
  });

  test('an access token is bearer-only: as a cookie, or on /auth/session, it is not a session', async () => {
    const t = await token(corp, CI, API);
    assert.equal((await call('/deploy/app', bearer(t))).status, 200, 'cached now');
    assert.equal(await refused(await call('/deploy/app', { cookie: `__Host-edgeauth=${t}` })), 'malformed');
    assert.equal((await call('/auth/session', bearer(t))).status, 401);
    const response = await fetch(`${edge.url}/deploy/app`, { headers: bearer(t), signal: AbortSignal.timeout(15_000) });
    await response.arrayBuffer();
    assert.equal(response.status, 200);
    assert.deepEqual(response.headers.getSetCookie(), [], 'never renewed into a session cookie');
  });

  test('revoking the issuer\'s subject refuses its tokens, cached ones included', async () => {
    const t = await token(rotor, ROTOR, API);
    assert.equal((await call('/deploy/app', bearer(t))).status, 200);
    const users = { 'rotor:rotor-job': { before: now() + 1, drop_after: 4_000_000_000 } };
    await kvPut(edge, 'revocations', JSON.stringify({ format: 1, revision: 1, sessions: {}, users }), 'REVOCATIONS');
    assert.equal(await refused(await call('/deploy/app', bearer(t))), 'revoked_user');
    await kvPut(edge, 'revocations', JSON.stringify({ format: 1, revision: 2, sessions: {}, users: {} }), 'REVOCATIONS');
  });
});

/** Runs the CLI without blocking the event loop. */
function edgeauth(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `edgeauth service-token create`, stored in the edge's KV: `{ client_id, secret, record }`. */
async function serviceToken(name, roles, extra = []) {
  const run = await edgeauth(['service-token', 'create', name, '--roles', roles.join(','), '--local', ...extra]);
  assert.equal(run.code, 0, run.stderr);
  const field = (label) => new RegExp(`^${label}: (.*)$`, 'm').exec(run.stdout)[1];
  const created = { client_id: field('client_id'), secret: field('secret'), record: field('record') };
  assert.doesNotMatch(created.record, new RegExp(created.secret.slice(4)), 'the record holds no secret');
  await kvPut(edge, `service-token:${created.client_id}`, created.record);
  return created;
}

const presenting = ({ client_id, secret }) => ({ 'edgeauth-client-id': client_id, 'edgeauth-client-secret': secret });

describe('service tokens', () => {
  let ci;
  before(async () => {
    ci = await serviceToken('ci-deploy', ['deployer']);
  });

  test('a service token is admitted as service:<name> with its roles; neither header reaches the origin', async () => {
    const result = await call('/deploy/app', presenting(ci));
    assert.equal(result.status, 200, result.text);
    assert.equal(result.seen.headers['x-auth-user'], 'service:ci-deploy');
    assert.equal(result.seen.headers['x-auth-roles'], 'deployer');
    assert.equal(result.seen.headers['x-auth-session'], ci.client_id);
    assert.equal(result.seen.headers['edgeauth-client-id'], undefined);
    assert.equal(result.seen.headers['edgeauth-client-secret'], undefined);
    const claims = await assertion(result.seen);
    assert.equal(claims.machine, 'service_token');
    assert.equal(claims.sub, 'service:ci-deploy');
    const record = await auditRecord(result.requestId);
    assert.equal(record.sid, ci.client_id, 'the log names the client id');
  });

  test('a wrong secret, an unknown client id, a missing or malformed header, and an expired token are refused', async () => {
    const other = await serviceToken('other', ['deployer']);
    assert.equal(await refused(await call('/deploy/app', presenting({ ...ci, secret: other.secret }))), 'service_token_wrong_secret');
    assert.equal(await refused(await call('/deploy/app', presenting({ ...ci, client_id: 'f'.repeat(32) }))), 'service_token_unknown');
    assert.equal(await refused(await call('/deploy/app', { 'edgeauth-client-id': ci.client_id })), 'service_token_malformed');
    assert.equal(await refused(await call('/deploy/app', presenting({ ...ci, secret: `${ci.secret}x` }))), 'service_token_malformed');
    const expired = await serviceToken('expired', ['deployer'], ['--now', String(now() - 7200), '--ttl', '3600']);
    assert.equal(await refused(await call('/deploy/app', presenting(expired))), 'service_token_expired');
    // On a public route a bad service token is ignored, and still not forwarded.
    const pub = await call('/public/x', presenting({ ...ci, secret: other.secret }));
    assert.equal(pub.status, 200);
    assert.equal(pub.seen.headers['x-auth-user'], undefined);
    assert.equal(pub.seen.headers['edgeauth-client-secret'], undefined);
  });

  test('a service token with a bearer token at once is ambiguous; on /auth/session it is no session', async () => {
    const both = await call('/deploy/app', { ...presenting(ci), ...bearer(await token(corp, CI, API)) });
    assert.equal(await refused(both, 400), 'ambiguous_credentials');
    assert.equal((await call('/auth/session', presenting(ci))).status, 401);
  });

  test('a revoked service token is refused from then on', async () => {
    const revoked = await serviceToken('short-lived', ['deployer']);
    assert.equal((await call('/deploy/app', presenting(revoked))).status, 200);
    const run = await edgeauth(['service-token', 'revoke', revoked.client_id, '--local']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`kv key delete --local --binding USERS 'service-token:${revoked.client_id}'`));
    await kvDelete(edge, `service-token:${revoked.client_id}`);
    assert.equal(await refused(await call('/deploy/app', presenting(revoked))), 'service_token_unknown');
  });

  test('no secret is ever written to the log', async () => {
    await waitForLog(edge, new RegExp(ci.client_id));
    const log = fs.readFileSync(edge.logFile, 'utf8');
    assert.doesNotMatch(log, /eas_[A-Za-z0-9_-]{43}/, 'no secret in the log');
  });
});
