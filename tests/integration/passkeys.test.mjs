// Passkeys (WebAuthn) at the edge under real `wrangler dev`, over plain fetch: every ceremony the
// browser would run, built by the software authenticator of webauthn.mjs (node:crypto keys and
// signatures), so that each refusal changes exactly one thing a browser could never be made to
// change: another origin or RP ID, a cleared flag, an old counter, a byte flipped after signing.
//
// Every passkey is registered the way a user's first one is: an `edgeauth enroll` link (the real
// CLI, with the worker's key), then register/options and register with the link's token. Each
// refused case asserts the HTTP status, that no session cookie is set, that the body is the one
// generic refusal (which never names the failed check), and the precise `passkey:<code>` reason
// in the edge's audit line. Every request carries its own `cf-ray`, which the edge logs as the
// request_id, so each test waits for its own log line (never an earlier test's line with the same
// reason). Sign-in and sign-in/options count against LOGIN_IP_LIMIT (per `cf-connecting-ip`,
// 50 a minute): each test is its own client with its own documentation-range address.
//
// Time-dependent refusals (an expired challenge or enrollment link) are made with the worker's
// own test key (tests/vectors/expect_fail.json) instead of waiting: the sealed value is built
// exactly as src/token/seal.rs does, and a control case shows a forged but unexpired value is
// accepted, so the refusal is the expiry's.
//
// Two workers start in parallel: `edge` requires user verification (the default), `lenient` has
// PASSKEY_USER_VERIFICATION=preferred. Both use PASSKEY_ORIGINS=http://localhost:*; WebAuthn
// refuses IP addresses, so every request goes to http://localhost:<port>, never 127.0.0.1.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ROOT, kvGet, kvPut, startWorker, stopAll, waitForLog } from './harness.mjs';
import { loadExpectFail } from './expect_fail_vectors.mjs';
import {
  AT, BE, UP, UV, assertionResponse, authenticatorData, b64url, cbor, clientDataJSON, coseKey, fromB64url,
  registrationResponse, softCredential,
} from './webauthn.mjs';

const BIN = process.env.EDGEAUTH_BIN ?? path.join(ROOT, 'target', 'debug', 'edgeauth');
const vectors = loadExpectFail();
const RP_ID = 'localhost';
const SESSION = '__Host-edgeauth';
const CHALLENGE = '__Host-edgeauth-passkey';
const GENERIC = { error: 'sign_in_failed', message: 'Signing in did not complete. Please try again.' };
const PASSWORD = 'a long passkey test password';
/** The worker's signing key (tests/vectors/expect_fail.json), to seal values as the edge does. */
const EDGE_KEY = crypto.createPrivateKey({ key: JSON.parse(vectors.privateJwk()), format: 'jwk' });
const OTHER_KEY = crypto.generateKeyPairSync('ed25519').privateKey;
const now = () => Math.floor(Date.now() / 1000);
const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A running worker as a browser would address it: http://localhost:<port>. */
let edge;
let lenient;
let unclaimable;
let alice;
let bob;

before(async () => {
  const vars = (extra = {}) => ({
    SIGNING_KEY: vectors.privateJwk(),
    ISSUER: vectors.doc.issuer,
    ORIGIN_URL: '',
    ACCESS_RULES: '[]',
    PASSKEY_RP_ID: RP_ID,
    PASSKEY_ORIGINS: 'http://localhost:*',
    ...extra,
  });
  const [strict, preferred, noSingleUse] = await Promise.all([
    startWorker({ name: 'passkeys', vars: vars() }),
    startWorker({ name: 'passkeys-preferred', vars: vars({ PASSKEY_USER_VERIFICATION: 'preferred' }) }),
    startWorker({ name: 'passkeys-no-single-use', vars: vars(), without: ['SINGLE_USE'] }),
  ]);
  const site = (worker) => ({ worker, url: worker.url.replace('//127.0.0.1:', '//localhost:') });
  edge = site(strict);
  lenient = site(preferred);
  unclaimable = site(noSingleUse);
  // The users every sign-in refusal below works with: alice (ES256), whose credential every
  // refusal presents, and bob, another user with a passkey of his own.
  [alice, bob] = await Promise.all([
    enroll(edge, 'alice', { roles: 'user,staff', name: 'Alice' }),
    enroll(edge, 'bob', { roles: 'user' }),
  ]);
});

after(async () => {
  await stopAll();
});

// ---------------------------------------------------------------------------------------------
// HTTP

let requests = 0;
let clients = 0;

/** A fresh client address (TEST-NET-2/3), so no test shares another's login rate limit. */
function clientIp() {
  clients += 1;
  return `${clients <= 250 ? '198.51.100' : '203.0.113'}.${((clients - 1) % 250) + 1}`;
}

/**
 * One request to `site`, same-origin as its own page would send it, with `cookies` (name →
 * value; empty values left out) and its own `cf-ray`. Resolves to
 * `{ status, text, json, requestId, setCookies }`.
 */
async function call(site, method, route, { body, cookies = {}, ip, headers = {} } = {}) {
  requests += 1;
  const requestId = `pk-${process.pid}-${requests}`;
  const cookie = Object.entries(cookies).filter(([, value]) => value).map(([name, value]) => `${name}=${value}`).join('; ');
  const response = await fetch(`${site.url}${route}`, {
    method,
    redirect: 'manual',
    signal: AbortSignal.timeout(15_000),
    headers: {
      origin: site.url,
      'content-type': 'application/json',
      accept: 'application/json',
      'cf-ray': requestId,
      'cf-connecting-ip': ip ?? clientIp(),
      ...(cookie ? { cookie } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, text, json, requestId, setCookies: response.headers.getSetCookie() };
}

/** The value `result` set for cookie `name` (undefined when it set none). */
function cookieSet(result, name) {
  const header = result.setCookies.find((c) => c.startsWith(`${name}=`));
  return header === undefined ? undefined : header.slice(name.length + 1).split(';')[0];
}

/** The edge's audit record of `requestId`, parsed (waits until wrangler has written it). */
async function auditRecord(site, requestId) {
  const pattern = new RegExp(`\\{"event":"[^"]+","request_id":"${escape(requestId)}"[^\\n]*\\}`);
  const log = await waitForLog(site.worker, pattern);
  return JSON.parse(log.match(pattern)[0]);
}

/**
 * Asserts `result` was refused with `status`, set no session cookie, answered the generic body
 * (naming nothing), and that the edge logged exactly `reason` for it.
 */
async function assertRefused(site, result, reason, status = 401) {
  assert.equal(result.status, status, `status (expected log reason ${reason}); body: ${result.text}`);
  assert.equal(cookieSet(result, SESSION), undefined, 'no session cookie is set');
  const { request_id: requestId, ...rest } = result.json ?? {};
  assert.equal(requestId, result.requestId, 'the body carries the request id');
  if (status === 401) assert.deepEqual(rest, GENERIC, 'the one generic refusal');
  const code = reason.replace(/^passkey:/, '');
  assert.ok(!result.text.includes(code), `the body does not name ${code}: ${result.text}`);
  assert.ok(!result.text.includes('passkey'), `the body does not name the check: ${result.text}`);
  const record = await auditRecord(site, result.requestId);
  assert.equal(record.reason, reason, `audit reason of ${result.requestId}`);
  assert.equal(record.status, status);
  assert.equal(record.event, status === 401 ? 'login_failed' : 'deny');
  return record;
}

/** Asserts `session` is a live session of `user` at the edge; resolves to its claims. */
async function assertSessionOf(site, session, user) {
  assert.ok(session, 'a session cookie is set');
  const r = await call(site, 'GET', '/auth/session', { cookies: { [SESSION]: session } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.sub, user);
  return r.json;
}

// ---------------------------------------------------------------------------------------------
// Ceremonies

/** A sealed value as src/token/seal.rs makes it: base64url(payload).base64url(Ed25519 sig). */
function seal(domain, payload, key = EDGE_KEY) {
  const encoded = b64url(Buffer.from(JSON.stringify(payload)));
  return `${encoded}.${b64url(crypto.sign(null, Buffer.from(`${domain}${encoded}`), key))}`;
}

/** A sign-in challenge cookie as the edge seals it (src/login/passkey/challenge.rs). */
function sealedChallenge({ challenge = b64url(crypto.randomBytes(32)), register = false, user = null, enrollment = null, exp }, key) {
  return { challenge, cookie: seal('edgeauth passkey-challenge-v1.', { challenge, register, user, enrollment, exp }, key) };
}

/** An enrollment token as the edge seals it (src/login/passkey/enrollment.rs). */
function sealedEnrollment({ sub, roles = ['user'], iat = now(), exp }, key) {
  return seal('edgeauth passkey-enrollment-v1.', { sub, roles, jti: b64url(crypto.randomBytes(16)), iat, exp }, key);
}

/** The token of a real `edgeauth enroll` link for `user` on `site`. */
function enrollmentToken(site, user, { roles = 'user', name, mintedAt } = {}) {
  const args = ['enroll', '--key', '-', '--url', site.url, user, '--roles', roles, ...(name ? ['--name', name] : []),
    ...(mintedAt ? ['--now', String(mintedAt)] : [])];
  const run = spawnSync(BIN, args, { input: vectors.privateJwk(), encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const link = new URL(run.stdout.trim());
  assert.equal(`${link.origin}${link.pathname}`, `${site.url}/auth/passkeys/enroll`);
  const token = /^#token=([A-Za-z0-9_.-]+)$/.exec(link.hash)?.[1];
  assert.ok(token, `a token in the fragment: ${link.hash}`);
  return token;
}

/** register/options for `body` (an enrollment, or `{}` with a `session`): `{ publicKey, cookie }`. */
async function registrationOptions(site, body, { session, ip } = {}) {
  const r = await call(site, 'POST', '/auth/passkeys/register/options', { body, cookies: { [SESSION]: session }, ip });
  assert.equal(r.status, 200, r.text);
  const cookie = cookieSet(r, CHALLENGE);
  assert.ok(cookie, 'a challenge cookie');
  return { publicKey: r.json.publicKey, cookie };
}

/**
 * Registers a software passkey (`alg`) for `user` from a fresh enrollment link and checks the
 * answer. Resolves to `{ cred, session, token, options }`; `cred.userHandle` is the user handle
 * the edge gave, so assertions carry it as a discoverable credential's do.
 */
async function enroll(site, user, { alg = 'ES256', roles = 'user', name, flags, ip } = {}) {
  const token = enrollmentToken(site, user, { roles, name });
  const cred = softCredential({ alg });
  const options = await registrationOptions(site, { enrollment: token }, { ip });
  const credential = registrationResponse(cred, {
    rpId: RP_ID, origin: site.url, challenge: options.publicKey.challenge, ...(flags === undefined ? {} : { flags }),
  });
  const r = await call(site, 'POST', '/auth/passkeys/register', {
    body: { credential, name: `${alg} key`, enrollment: token }, cookies: { [CHALLENGE]: options.cookie }, ip,
  });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { id: b64url(cred.credentialId), name: `${alg} key` });
  const session = cookieSet(r, SESSION);
  assert.ok(session, 'the enrollment signs the user in');
  cred.userHandle = fromB64url(options.publicKey.user.id);
  return { cred, session, token, options };
}

/** sign-in/options for `body`: `{ publicKey, cookie }`. */
async function signInOptions(site, body, ip) {
  const r = await call(site, 'POST', '/auth/passkeys/sign-in/options', { body, ip });
  assert.equal(r.status, 200, r.text);
  const cookie = cookieSet(r, CHALLENGE);
  assert.ok(cookie, 'a challenge cookie');
  return { publicKey: r.json.publicKey, cookie };
}

/**
 * A whole sign-in with `cred`: options (`username` for a username-first one), an assertion for
 * their challenge from this site (`assertion` overrides assertionResponse()'s arguments, or is a
 * function of the options giving them), then sign-in with the options' challenge cookie
 * (`cookie` replaces it; null sends none). Resolves to the sign-in's result with `credential`
 * (what was posted) and `options`.
 */
async function signIn(site, cred, { ip, username, assertion = {}, cookie, next = '/app' } = {}) {
  const options = await signInOptions(site, username === undefined ? {} : { username }, ip);
  const overrides = typeof assertion === 'function' ? assertion(options) : assertion;
  const credential = assertionResponse(cred, { rpId: RP_ID, origin: site.url, challenge: options.publicKey.challenge, ...overrides });
  const result = await postSignIn(site, credential, cookie === undefined ? options.cookie : cookie, ip, next);
  return { ...result, credential, options };
}

function postSignIn(site, credential, cookie, ip, next = '/app') {
  return call(site, 'POST', '/auth/passkeys/sign-in', { body: { credential, next }, cookies: { [CHALLENGE]: cookie }, ip });
}

/** Asserts a sign-in of `user` succeeded; resolves to the session's claims. */
async function assertSignedIn(site, result, user) {
  assert.equal(result.status, 200, result.text);
  assert.deepEqual(result.json, { next: '/app' });
  const claims = await assertSessionOf(site, cookieSet(result, SESSION), user);
  assert.equal(cookieSet(result, CHALLENGE), '', 'the challenge cookie is cleared');
  const record = await auditRecord(site, result.requestId);
  assert.equal(record.event, 'login');
  assert.equal(record.reason, 'success:passkey');
  assert.equal(record.sub, user);
  return claims;
}

// ---------------------------------------------------------------------------------------------

describe('accepted ceremonies (the controls every refusal below differs from)', () => {
  for (const alg of ['ES256', 'EdDSA', 'RS256']) {
    test(`an ${alg} passkey enrolls from an edgeauth enroll link and signs in`, async () => {
      const ip = clientIp();
      const user = `user-${alg.toLowerCase()}`;
      const { cred, session, options } = await enroll(edge, user, { alg, roles: 'user,reports', name: `User ${alg}`, ip });
      assert.equal(options.publicKey.rp.id, RP_ID);
      assert.equal(options.publicKey.user.name, user);
      assert.equal(options.publicKey.user.displayName, `User ${alg}`);
      assert.equal(options.publicKey.attestation, 'none');
      assert.deepEqual(options.publicKey.excludeCredentials, []);
      assert.ok(options.publicKey.pubKeyCredParams.some((p) => p.alg === cred.coseAlg), `${alg} is offered`);
      const enrolled = await assertSessionOf(edge, session, user);
      assert.deepEqual(enrolled.roles, ['user', 'reports']);

      const claims = await assertSignedIn(edge, await signIn(edge, cred, { ip }), user);
      assert.deepEqual(claims.roles, ['user', 'reports']);
      assert.equal(claims.name, `User ${alg}`);
      assert.deepEqual(claims.amr, ['hwk', 'mfa'], 'a verified passkey is two factors');
    });
  }

  test('username-first: options list the user\'s passkeys, and the sign-in succeeds', async () => {
    const ip = clientIp();
    const result = await signIn(edge, alice.cred, { ip, username: 'alice' });
    // No credential is listed (every passkey is discoverable): the username is sealed into the
    // challenge instead, so only alice's passkey can answer it.
    assert.deepEqual(result.options.publicKey.allowCredentials, []);
    assert.equal(result.options.publicKey.rpId, RP_ID);
    assert.equal(result.options.publicKey.userVerification, 'required');
    await assertSignedIn(edge, result, 'alice');
  });

  test('username-less: no allowCredentials, the user comes from the credential', async () => {
    const result = await signIn(edge, bob.cred, { ip: clientIp() });
    assert.deepEqual(result.options.publicKey.allowCredentials, []);
    await assertSignedIn(edge, result, 'bob');
  });

  test('username-less: an assertion without a user handle is refused (WebAuthn §7.2 step 6)', async () => {
    const result = await signIn(edge, bob.cred, { ip: clientIp(), assertion: { userHandle: null } });
    await assertRefused(edge, result, 'passkey:user_handle_missing');
  });

  test('a forged but unexpired challenge cookie is accepted (the control for challenge_expired)', async () => {
    const ip = clientIp();
    const forged = sealedChallenge({ exp: now() + 120 });
    const credential = assertionResponse(alice.cred, { rpId: RP_ID, origin: edge.url, challenge: forged.challenge });
    await assertSignedIn(edge, await postSignIn(edge, credential, forged.cookie, ip), 'alice');
  });
});

describe('sign-in refusals', () => {
  test('an assertion made for another origin', async () => {
    for (const origin of ['https://evil.example', `http://127.0.0.1:${new URL(edge.url).port}`, `https://localhost:${new URL(edge.url).port}`]) {
      const result = await signIn(edge, alice.cred, { ip: clientIp(), assertion: { origin } });
      await assertRefused(edge, result, 'passkey:wrong_origin');
    }
  });

  test('an assertion made in a cross-origin iframe (crossOrigin true, or a topOrigin)', async () => {
    for (const extra of [{ crossOrigin: true }, { topOrigin: 'https://evil.example' }]) {
      const result = await signIn(edge, alice.cred, {
        ip: clientIp(),
        assertion: ({ publicKey }) => ({ clientDataJSON: clientDataJSON({ type: 'webauthn.get', challenge: publicKey.challenge, origin: edge.url, ...extra }) }),
      });
      await assertRefused(edge, result, 'passkey:cross_origin');
    }
  });

  test('authenticator data signed for another RP ID', async () => {
    for (const rpId of ['evil.example', 'localhost.evil.example']) {
      const result = await signIn(edge, alice.cred, { ip: clientIp(), assertion: { rpId } });
      await assertRefused(edge, result, 'passkey:wrong_rp_id');
    }
  });

  test('client data of a registration (webauthn.create) presented for a sign-in', async () => {
    const result = await signIn(edge, alice.cred, { ip: clientIp(), assertion: { type: 'webauthn.create' } });
    await assertRefused(edge, result, 'passkey:client_data_type');
  });

  test('an assertion over another challenge than the cookie\'s', async () => {
    const result = await signIn(edge, alice.cred, { ip: clientIp(), assertion: { challenge: b64url(crypto.randomBytes(32)) } });
    await assertRefused(edge, result, 'passkey:challenge_mismatch');
  });

  test('a replayed challenge: the same cookie and assertion twice', async () => {
    const ip = clientIp();
    const first = await signIn(edge, alice.cred, { ip });
    await assertSignedIn(edge, first, 'alice');
    const again = await postSignIn(edge, first.credential, first.options.cookie, ip);
    await assertRefused(edge, again, 'passkey:challenge_replayed');
    // The captured assertion with a fresh challenge cookie: bound to its own challenge.
    const fresh = await signInOptions(edge, {}, ip);
    await assertRefused(edge, await postSignIn(edge, first.credential, fresh.cookie, ip), 'passkey:challenge_mismatch');
  });

  test('the same challenge and assertion sent many times at once: exactly one signs in', async () => {
    // Single use is claimed atomically (a Durable Object per challenge), whatever the arrival
    // order: the assertion holds however the requests interleave.
    const ip = clientIp();
    const options = await signInOptions(edge, {}, ip);
    const credential = assertionResponse(alice.cred, { rpId: RP_ID, origin: edge.url, challenge: options.publicKey.challenge });
    const results = await Promise.all(Array.from({ length: 8 }, () => postSignIn(edge, credential, options.cookie, ip)));
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 401, 401, 401, 401, 401, 401, 401]);
    for (const refused of results.filter((r) => r.status !== 200)) {
      await assertRefused(edge, refused, 'passkey:challenge_replayed');
    }
  });

  test('a failed attempt does not use the challenge up (replaying it is harmless); the first valid one does', async () => {
    const ip = clientIp();
    const options = await signInOptions(edge, {}, ip);
    const bad = assertionResponse(alice.cred, { rpId: 'evil.example', origin: edge.url, challenge: options.publicKey.challenge });
    await assertRefused(edge, await postSignIn(edge, bad, options.cookie, ip), 'passkey:wrong_rp_id');
    const good = assertionResponse(alice.cred, { rpId: RP_ID, origin: edge.url, challenge: options.publicKey.challenge });
    await assertSignedIn(edge, await postSignIn(edge, good, options.cookie, ip), 'alice');
    const again = assertionResponse(alice.cred, { rpId: RP_ID, origin: edge.url, challenge: options.publicKey.challenge });
    await assertRefused(edge, await postSignIn(edge, again, options.cookie, ip), 'passkey:challenge_replayed');
  });

  test('no challenge cookie', async () => {
    const result = await signIn(edge, alice.cred, { ip: clientIp(), cookie: null });
    await assertRefused(edge, result, 'passkey:challenge_missing');
  });

  test('an expired challenge cookie (sealed by the edge\'s key, exp in the past)', async () => {
    const ip = clientIp();
    const expired = sealedChallenge({ exp: now() - 1 });
    const credential = assertionResponse(alice.cred, { rpId: RP_ID, origin: edge.url, challenge: expired.challenge });
    await assertRefused(edge, await postSignIn(edge, credential, expired.cookie, ip), 'passkey:challenge_expired');
  });

  test('a challenge cookie sealed by another key, or not a sealed value at all', async () => {
    const ip = clientIp();
    const forged = sealedChallenge({ exp: now() + 120 }, OTHER_KEY);
    const credential = assertionResponse(alice.cred, { rpId: RP_ID, origin: edge.url, challenge: forged.challenge });
    await assertRefused(edge, await postSignIn(edge, credential, forged.cookie, ip), 'passkey:challenge_bad_seal');
    // The edge's own seal over a payload edited to carry the attacker's challenge.
    const genuine = await signInOptions(edge, {}, ip);
    const [payload, signature] = genuine.cookie.split('.');
    const edited = { ...JSON.parse(Buffer.from(payload, 'base64url')), challenge: forged.challenge };
    const spliced = `${b64url(Buffer.from(JSON.stringify(edited)))}.${signature}`;
    await assertRefused(edge, await postSignIn(edge, credential, spliced, ip), 'passkey:challenge_bad_seal');
    await assertRefused(edge, await postSignIn(edge, credential, 'not-a-sealed-value', ip), 'passkey:challenge_malformed');
  });

  test('a registration\'s challenge cookie presented for a sign-in', async () => {
    const ip = clientIp();
    const registration = await registrationOptions(edge, {}, { session: alice.session, ip });
    const credential = assertionResponse(alice.cred, { rpId: RP_ID, origin: edge.url, challenge: registration.publicKey.challenge });
    await assertRefused(edge, await postSignIn(edge, credential, registration.cookie, ip), 'passkey:challenge_other_ceremony');
  });

  test('clientDataJSON changed after signing', async () => {
    const result = await signIn(edge, alice.cred, {
      ip: clientIp(),
      assertion: ({ publicKey }) => ({
        tamper: (parts) => {
          // Still the right type, challenge and origin: only the signature can tell.
          parts.clientDataJSON = clientDataJSON({ type: 'webauthn.get', challenge: publicKey.challenge, origin: edge.url, extra: { edited: true } });
        },
      }),
    });
    await assertRefused(edge, result, 'passkey:bad_signature');
  });

  test('authenticatorData changed after signing (the counter, the flags)', async () => {
    for (const tamper of [(parts) => { parts.authenticatorData[36] ^= 0x01; }, (parts) => { parts.authenticatorData[32] |= BE; }]) {
      const result = await signIn(edge, alice.cred, { ip: clientIp(), assertion: { tamper } });
      await assertRefused(edge, result, 'passkey:bad_signature');
    }
  });

  test('a signature by another key over the right data', async () => {
    const impostor = { ...softCredential(), credentialId: alice.cred.credentialId, userHandle: alice.cred.userHandle };
    const result = await signIn(edge, impostor, { ip: clientIp() });
    await assertRefused(edge, result, 'passkey:bad_signature');
  });

  test('an ES256 signature as raw r ‖ s instead of DER', async () => {
    const result = await signIn(edge, alice.cred, {
      ip: clientIp(),
      assertion: {
        tamper: (parts) => {
          const signed = Buffer.concat([parts.authenticatorData, crypto.createHash('sha256').update(parts.clientDataJSON).digest()]);
          parts.signature = crypto.sign('sha256', signed, { key: alice.cred.privateKey, dsaEncoding: 'ieee-p1363' });
        },
      },
    });
    await assertRefused(edge, result, 'passkey:signature_malformed');
  });

  test('authenticator data with a byte its flags do not announce, or an attested credential', async () => {
    const trailing = Buffer.concat([authenticatorData({ rpId: RP_ID, flags: UP | UV }), Buffer.from([0])]);
    await assertRefused(edge, await signIn(edge, alice.cred, { ip: clientIp(), assertion: { authenticatorData: trailing } }), 'passkey:authenticator_data_malformed');
    const attested = authenticatorData({
      rpId: RP_ID, flags: UP | UV | AT, attestedCredential: { credentialId: alice.cred.credentialId, coseKey: coseKey(alice.cred.publicKey) },
    });
    await assertRefused(edge, await signIn(edge, alice.cred, { ip: clientIp(), assertion: { authenticatorData: attested } }), 'passkey:authenticator_data_malformed');
  });

  test('the UV flag missing while user verification is required', async () => {
    const result = await signIn(edge, alice.cred, { ip: clientIp(), assertion: { flags: UP } });
    await assertRefused(edge, result, 'passkey:user_not_verified');
  });

  test('the UP flag missing', async () => {
    const result = await signIn(edge, alice.cred, { ip: clientIp(), assertion: { flags: UV } });
    await assertRefused(edge, result, 'passkey:user_not_present');
  });

  test('a counter that goes backwards (5, then 3, then 5 again) may be a cloned authenticator', async () => {
    const ip = clientIp();
    const { cred } = await enroll(edge, 'counter-user', { ip });
    await assertSignedIn(edge, await signIn(edge, cred, { ip, assertion: { signCount: 5 } }), 'counter-user');
    await assertRefused(edge, await signIn(edge, cred, { ip, assertion: { signCount: 3 } }), 'passkey:counter_regression');
    await assertRefused(edge, await signIn(edge, cred, { ip, assertion: { signCount: 5 } }), 'passkey:counter_regression');
    await assertRefused(edge, await signIn(edge, cred, { ip, assertion: { signCount: 0 } }), 'passkey:counter_regression');
    await assertSignedIn(edge, await signIn(edge, cred, { ip, assertion: { signCount: 6 } }), 'counter-user');
  });

  test('a credential id the edge never registered', async () => {
    const stranger = softCredential();
    const result = await signIn(edge, stranger, { ip: clientIp(), assertion: { userHandle: alice.cred.userHandle } });
    await assertRefused(edge, result, 'passkey:unknown_credential');
  });

  test('username-first options for bob, answered with alice\'s credential', async () => {
    const result = await signIn(edge, alice.cred, { ip: clientIp(), username: 'bob' });
    await assertRefused(edge, result, 'passkey:credential_of_another_user');
  });

  test('a user handle that is not the credential owner\'s', async () => {
    const result = await signIn(edge, alice.cred, { ip: clientIp(), assertion: { userHandle: bob.cred.userHandle } });
    await assertRefused(edge, result, 'passkey:user_handle_mismatch');
  });

  test('a disabled password user\'s passkey is refused', async () => {
    const ip = clientIp();
    const { cred } = await enroll(edge, 'dora', { ip });
    const record = spawnSync(BIN, ['add-user', 'dora', '--roles', 'user', '--record-only', '--disabled'], { input: `${PASSWORD}\n`, encoding: 'utf8' });
    assert.equal(record.status, 0, record.stderr);
    await kvPut(edge.worker, 'user:dora', record.stdout.trim());
    await assertRefused(edge, await signIn(edge, cred, { ip }), 'passkey:user_disabled');
  });

  test('bodies that are not a credential', async () => {
    const ip = clientIp();
    const options = await signInOptions(edge, {}, ip);
    const credential = assertionResponse(alice.cred, { rpId: RP_ID, origin: edge.url, challenge: options.publicKey.challenge });
    for (const body of [
      '{"credential":',
      JSON.stringify({ credential: { ...credential, id: b64url(crypto.randomBytes(32)) } }), // id and rawId disagree
      JSON.stringify({ credential: { ...credential, type: 'password' } }),
      JSON.stringify({ credential: { ...credential, response: { ...credential.response, signature: '+/+/' } } }),
      `{"credential":${JSON.stringify(credential)},"next":"/a","next":"/b"}`,
    ]) {
      const result = await call(edge, 'POST', '/auth/passkeys/sign-in', { body, cookies: { [CHALLENGE]: options.cookie }, ip });
      await assertRefused(edge, result, 'passkey:body_malformed');
    }
  });

  test('an oversized body is refused with 413 before it is read', async () => {
    const ip = clientIp();
    const options = await signInOptions(edge, {}, ip);
    const credential = assertionResponse(alice.cred, { rpId: RP_ID, origin: edge.url, challenge: options.publicKey.challenge });
    const body = JSON.stringify({ credential, next: `/${'x'.repeat(17 * 1024)}` });
    for (const route of ['/auth/passkeys/sign-in', '/auth/passkeys/register']) {
      const result = await call(edge, 'POST', route, { body, cookies: { [CHALLENGE]: options.cookie }, ip });
      assert.equal(result.json?.error, 'payload_too_large');
      await assertRefused(edge, result, 'body_too_large', 413);
    }
  });

  test('a cross-site POST is refused before anything is checked', async () => {
    const ip = clientIp();
    const options = await signInOptions(edge, {}, ip);
    const credential = assertionResponse(alice.cred, { rpId: RP_ID, origin: edge.url, challenge: options.publicKey.challenge });
    const result = await call(edge, 'POST', '/auth/passkeys/sign-in', {
      body: { credential }, cookies: { [CHALLENGE]: options.cookie }, ip, headers: { origin: 'https://evil.example' },
    });
    await assertRefused(edge, result, 'cross_site', 403);
    // Its challenge was not used up: the same assertion, same-origin, still signs in.
    await assertSignedIn(edge, await postSignIn(edge, credential, options.cookie, ip), 'alice');
  });
});

describe('sign-in options', () => {
  test('the answer is the same for a user with passkeys, one without, and no username: it tells nobody who exists', async () => {
    const ip = clientIp();
    const shape = (options) => ({ ...options.publicKey, challenge: 'x' });
    const known = await signInOptions(edge, { username: 'alice' }, ip);
    const unknown = await signInOptions(edge, { username: 'nobody-here' }, ip);
    const none = await signInOptions(edge, {}, ip);
    assert.deepEqual(shape(unknown), shape(known));
    assert.deepEqual(shape(none), shape(known));
    assert.notEqual(known.publicKey.challenge, unknown.publicKey.challenge, 'a fresh challenge each time');
    // The unknown username's challenge: no passkey of anyone else answers it.
    const credential = assertionResponse(alice.cred, { rpId: RP_ID, origin: edge.url, challenge: unknown.publicKey.challenge });
    await assertRefused(edge, await postSignIn(edge, credential, unknown.cookie, ip), 'passkey:credential_of_another_user');
  });
});

describe('registration refusals', () => {
  /** register/options from alice's session, then register `credential(challenge)` with it. */
  async function registerAsAlice(credentialOf, { name = 'Second key', ip = clientIp() } = {}) {
    const options = await registrationOptions(edge, {}, { session: alice.session, ip });
    assert.deepEqual(options.publicKey.excludeCredentials.map((c) => c.id), [b64url(alice.cred.credentialId)]);
    const credential = credentialOf(options.publicKey.challenge);
    return call(edge, 'POST', '/auth/passkeys/register', {
      body: { credential, name }, cookies: { [SESSION]: alice.session, [CHALLENGE]: options.cookie }, ip,
    });
  }
  const fresh = (overrides = {}) => (challenge) =>
    registrationResponse(softCredential(), { rpId: RP_ID, origin: edge.url, challenge, ...overrides });

  test('an attestationObject that is not CBOR', async () => {
    for (const bytes of [Buffer.from([0xa3, 0x63, 0x66]), Buffer.from([0xff]), Buffer.alloc(0)]) {
      const result = await registerAsAlice(fresh({ tamper: (parts) => { parts.attestationObject = bytes; } }));
      await assertRefused(edge, result, 'passkey:cbor_malformed');
    }
  });

  test('fmt "none" with a non-empty attStmt', async () => {
    const result = await registerAsAlice(fresh({ fmt: 'none', attStmt: { sig: Buffer.alloc(8, 1) } }));
    await assertRefused(edge, result, 'passkey:attestation_malformed');
  });

  test('a registration made for another origin or RP ID, or without user verification', async () => {
    await assertRefused(edge, await registerAsAlice(fresh({ origin: 'https://evil.example' })), 'passkey:wrong_origin');
    await assertRefused(edge, await registerAsAlice(fresh({ rpId: 'evil.example' })), 'passkey:wrong_rp_id');
    await assertRefused(edge, await registerAsAlice(fresh({ flags: UP | AT })), 'passkey:user_not_verified');
  });

  test('a credential that is already registered (to this user or another)', async () => {
    for (const taken of [alice.cred, bob.cred]) {
      const result = await registerAsAlice((challenge) => registrationResponse(taken, { rpId: RP_ID, origin: edge.url, challenge }));
      await assertRefused(edge, result, 'passkey:credential_exists');
    }
  });

  test('a sign-in\'s challenge cookie presented for a registration', async () => {
    const ip = clientIp();
    const options = await signInOptions(edge, {}, ip);
    const credential = registrationResponse(softCredential(), { rpId: RP_ID, origin: edge.url, challenge: options.publicKey.challenge });
    const result = await call(edge, 'POST', '/auth/passkeys/register', {
      body: { credential, name: 'x' }, cookies: { [SESSION]: alice.session, [CHALLENGE]: options.cookie }, ip,
    });
    await assertRefused(edge, result, 'passkey:challenge_other_ceremony');
  });

  test('a signed-in user adds a second passkey (the control for the refusals above)', async () => {
    const cred = softCredential({ alg: 'EdDSA' });
    const result = await registerAsAlice((challenge) => registrationResponse(cred, { rpId: RP_ID, origin: edge.url, challenge }), { name: '  Laptop  ' });
    assert.equal(result.status, 200, result.text);
    assert.deepEqual(result.json, { id: b64url(cred.credentialId), name: 'Laptop' });
    assert.equal(cookieSet(result, SESSION), undefined, 'an add does not mint a new session');
    const list = await call(edge, 'GET', '/auth/passkeys/credentials', { cookies: { [SESSION]: alice.session } });
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(list.json.credentials.map((c) => c.id).sort(), [b64url(alice.cred.credentialId), b64url(cred.credentialId)].sort());
    // Remove it again (alice keeps her first one), so the other tests see one passkey.
    const removed = await call(edge, 'POST', '/auth/passkeys/remove', { body: { id: b64url(cred.credentialId) }, cookies: { [SESSION]: alice.session } });
    assert.equal(removed.status, 200, removed.text);
    const last = await call(edge, 'POST', '/auth/passkeys/remove', { body: { id: b64url(alice.cred.credentialId) }, cookies: { [SESSION]: alice.session } });
    assert.equal(last.status, 403, 'the only passkey is never removed');
    assert.equal((await auditRecord(edge, last.requestId)).reason, 'passkey:last_passkey');
  });
});

describe('enrollment links', () => {
  test('a link works once: a second registration with it is refused, and so are new options', async () => {
    const ip = clientIp();
    const token = enrollmentToken(edge, 'erin');
    // Two ceremonies started from the same link (two tabs), before either finished.
    const [firstOptions, secondOptions] = [await registrationOptions(edge, { enrollment: token }, { ip }), await registrationOptions(edge, { enrollment: token }, { ip })];
    const register = (cred, options) => call(edge, 'POST', '/auth/passkeys/register', {
      body: { credential: registrationResponse(cred, { rpId: RP_ID, origin: edge.url, challenge: options.publicKey.challenge }), name: 'x', enrollment: token },
      cookies: { [CHALLENGE]: options.cookie },
      ip,
    });
    const first = await register(softCredential(), firstOptions);
    assert.equal(first.status, 200, first.text);
    await assertSessionOf(edge, cookieSet(first, SESSION), 'erin');
    const secondCred = softCredential();
    await assertRefused(edge, await register(secondCred, secondOptions), 'passkey:enrollment_used');
    const options = await call(edge, 'POST', '/auth/passkeys/register/options', { body: { enrollment: token }, ip });
    await assertRefused(edge, options, 'passkey:enrollment_used');
    secondCred.userHandle = fromB64url(secondOptions.publicKey.user.id);
    await assertRefused(edge, await signIn(edge, secondCred, { ip }), 'passkey:unknown_credential');
  });

  test('two ceremonies from one link finishing at once: exactly one enrolls', async () => {
    const ip = clientIp();
    const token = enrollmentToken(edge, 'frank');
    const ceremonies = [];
    for (let i = 0; i < 4; i++) ceremonies.push(await registrationOptions(edge, { enrollment: token }, { ip }));
    const results = await Promise.all(ceremonies.map((options) => call(edge, 'POST', '/auth/passkeys/register', {
      body: { credential: registrationResponse(softCredential(), { rpId: RP_ID, origin: edge.url, challenge: options.publicKey.challenge }), name: 'x', enrollment: token },
      cookies: { [CHALLENGE]: options.cookie },
      ip,
    })));
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 401, 401, 401]);
    for (const refused of results.filter((r) => r.status !== 200)) {
      await assertRefused(edge, refused, 'passkey:enrollment_used');
    }
  });

  test('an expired link, and a link sealed by another key, are refused; an unexpired forged one is the control', async () => {
    const ip = clientIp();
    const control = await call(edge, 'POST', '/auth/passkeys/register/options', { body: { enrollment: sealedEnrollment({ sub: 'frank', exp: now() + 600 }) }, ip });
    assert.equal(control.status, 200, control.text);
    assert.equal(control.json.publicKey.user.name, 'frank');
    const expired = await call(edge, 'POST', '/auth/passkeys/register/options', {
      body: { enrollment: sealedEnrollment({ sub: 'frank', iat: now() - 600, exp: now() - 1 }) }, ip,
    });
    await assertRefused(edge, expired, 'passkey:enrollment_expired');
    const foreign = await call(edge, 'POST', '/auth/passkeys/register/options', { body: { enrollment: sealedEnrollment({ sub: 'frank', exp: now() + 600 }, OTHER_KEY) }, ip });
    await assertRefused(edge, foreign, 'passkey:enrollment_bad_seal');
    // The register route checks the link too, not only the options route.
    const options = await registrationOptions(edge, { enrollment: sealedEnrollment({ sub: 'frank', exp: now() + 600 }) }, { ip });
    const credential = registrationResponse(softCredential(), { rpId: RP_ID, origin: edge.url, challenge: options.publicKey.challenge });
    const result = await call(edge, 'POST', '/auth/passkeys/register', {
      body: { credential, name: 'x', enrollment: sealedEnrollment({ sub: 'frank', iat: now() - 600, exp: now() - 1 }) }, cookies: { [CHALLENGE]: options.cookie }, ip,
    });
    await assertRefused(edge, result, 'passkey:enrollment_expired');
  });
});

describe('PASSKEY_USER_VERIFICATION=preferred', () => {
  test('a passkey without user verification enrolls and signs in, as one factor', async () => {
    const ip = clientIp();
    const { cred, session } = await enroll(lenient, 'grace', { flags: UP | AT, ip });
    assert.deepEqual((await assertSessionOf(lenient, session, 'grace')).amr, ['hwk']);
    const result = await signIn(lenient, cred, { ip, assertion: { flags: UP } });
    assert.equal(result.options.publicKey.userVerification, 'preferred');
    const claims = await assertSignedIn(lenient, result, 'grace');
    assert.deepEqual(claims.amr, ['hwk'], 'no mfa without UV');
    const verified = await assertSignedIn(lenient, await signIn(lenient, cred, { ip }), 'grace');
    assert.deepEqual(verified.amr, ['hwk', 'mfa']);
    // Presence is still required.
    await assertRefused(lenient, await signIn(lenient, cred, { ip, assertion: { flags: 0 } }), 'passkey:user_not_present');
  });
});

describe('without the SINGLE_USE Durable Object', () => {
  test('no one-time value can be claimed: enrollment and sign-in fail closed (500), no session', async () => {
    const ip = clientIp();
    const token = enrollmentToken(unclaimable, 'gina');
    const options = await call(unclaimable, 'POST', '/auth/passkeys/register/options', { body: { enrollment: token }, ip });
    assert.equal(options.status, 500, options.text);
    assert.equal(cookieSet(options, CHALLENGE), undefined, 'no ceremony starts');
    assert.equal((await auditRecord(unclaimable, options.requestId)).reason, 'single_use_binding_missing');
    // A passkey stored as a registration would have stored it (no registration can run here).
    const cred = softCredential();
    const sha256 = (data) => crypto.createHash('sha256').update(data).digest();
    cred.userHandle = sha256('edgeauth passkey-user-v1.gina');
    const { kty, crv, x, y } = cred.publicKey.export({ format: 'jwk' });
    const record = {
      id: b64url(cred.credentialId), user: 'gina', public_key: { alg: -7, jwk: { kty, crv, x, y } },
      counter: 0, transports: [], name: 'stored', created: now(),
    };
    const reference = b64url(sha256(cred.credentialId));
    await kvPut(unclaimable.worker, `passkey:cred:${reference}`, JSON.stringify(record));
    await kvPut(unclaimable.worker, `passkey:user:${b64url(Buffer.from('gina'))}:${reference}`, 'stored');
    await kvPut(unclaimable.worker, 'passkey:profile:gina', JSON.stringify({ roles: ['user'] }));
    const signIn = await signInOptions(unclaimable, {}, ip);
    const assertion = assertionResponse(cred, { rpId: RP_ID, origin: unclaimable.url, challenge: signIn.publicKey.challenge });
    const refused = await postSignIn(unclaimable, assertion, signIn.cookie, ip);
    assert.equal(refused.status, 500, refused.text);
    assert.equal(cookieSet(refused, SESSION), undefined);
    assert.equal((await auditRecord(unclaimable, refused.requestId)).reason, 'single_use_binding_missing');
  });
});

/** A session token for `sub` minted with the edge's key, its login at `authTime`. */
function mintSession(sub, { authTime = now(), roles = 'user', amr = ['hwk'], claims = {} } = {}) {
  const extra = Object.entries({ amr, ...claims }).flatMap(([name, value]) => ['--claim', `${name}=${JSON.stringify(value)}`]);
  const args = ['mint', '--key', '-', '--iss', vectors.doc.issuer, '--aud', 'edgeauth', '--sub', sub, '--roles', roles, '--auth-time', String(authTime), ...extra];
  const run = spawnSync(BIN, args, { input: vectors.privateJwk(), encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim();
}

describe('changing passkeys needs a recent browser login of a user the edge knows', () => {
  const sha256 = (data) => crypto.createHash('sha256').update(data).digest();

  test('a bearer token, a login older than 10 minutes, or a user with no record nor enrollment is refused', async () => {
    const ip = clientIp();
    const bearer = await call(edge, 'POST', '/auth/passkeys/register/options', {
      body: {}, headers: { authorization: `Bearer ${alice.session}` }, ip,
    });
    await assertRefused(edge, bearer, 'passkey:not_a_browser_session', 403);
    const old = mintSession('alice', { authTime: now() - 601 });
    const stale = await call(edge, 'POST', '/auth/passkeys/register/options', { body: {}, cookies: { [SESSION]: old }, ip });
    await assertRefused(edge, stale, 'passkey:login_not_recent', 403);
    const removal = await call(edge, 'POST', '/auth/passkeys/remove', { body: { id: b64url(alice.cred.credentialId) }, cookies: { [SESSION]: old }, ip });
    await assertRefused(edge, removal, 'passkey:login_not_recent', 403);
    // A user the edge cannot look up at a later sign-in (a single sign-on or upstream user, say).
    const stranger = await call(edge, 'POST', '/auth/passkeys/register/options', { body: {}, cookies: { [SESSION]: mintSession('corp:carol') }, ip });
    await assertRefused(edge, stranger, 'passkey:not_vouched_for', 403);
    // A single sign-on session whose subject equals an enrolled user's name: not alice's login.
    const federated = mintSession('alice', { amr: ['fed'], claims: { idp: 'corp' } });
    const viaProvider = await call(edge, 'POST', '/auth/passkeys/register/options', { body: {}, cookies: { [SESSION]: federated }, ip });
    await assertRefused(edge, viaProvider, 'passkey:not_vouched_for', 403);
    // The control: a fresh login of alice (enrolled by a link) may.
    await registrationOptions(edge, {}, { session: mintSession('alice'), ip });
  });

  test('a rename writes only the index key, never the credential record', async () => {
    const ip = clientIp();
    const reference = b64url(sha256(alice.cred.credentialId));
    const before = await kvGet(edge.worker, `passkey:cred:${reference}`);
    const renamed = await call(edge, 'POST', '/auth/passkeys/rename', {
      body: { id: b64url(alice.cred.credentialId), name: 'Renamed key' }, cookies: { [SESSION]: alice.session }, ip,
    });
    assert.equal(renamed.status, 200, renamed.text);
    assert.equal(await kvGet(edge.worker, `passkey:cred:${reference}`), before);
    const listed = await call(edge, 'GET', '/auth/passkeys/credentials', { cookies: { [SESSION]: alice.session }, ip });
    assert.ok(listed.json.credentials.some((c) => c.name === 'Renamed key'), listed.text);
  });

  test('a credential record without its owner\'s index key is not a passkey (a record written back by a stale read)', async () => {
    const ip = clientIp();
    const cred = softCredential();
    cred.userHandle = sha256('edgeauth passkey-user-v1.alice');
    const { kty, crv, x, y } = cred.publicKey.export({ format: 'jwk' });
    const record = {
      id: b64url(cred.credentialId), user: 'alice', public_key: { alg: -7, jwk: { kty, crv, x, y } },
      counter: 0, transports: [], name: 'orphan', created: now(),
    };
    await kvPut(edge.worker, `passkey:cred:${b64url(sha256(cred.credentialId))}`, JSON.stringify(record));
    await assertRefused(edge, await signIn(edge, cred, { ip }), 'passkey:unknown_credential');
  });

  test('a sign-in records its counter apart and never rewrites the credential record', async () => {
    const ip = clientIp();
    const reference = b64url(sha256(alice.cred.credentialId));
    const before = await kvGet(edge.worker, `passkey:cred:${reference}`);
    await assertSignedIn(edge, await signIn(edge, alice.cred, { ip, assertion: { signCount: 1000 } }), 'alice');
    assert.equal(await kvGet(edge.worker, `passkey:cred:${reference}`), before, 'the record is as registered');
    const seen = JSON.parse(await kvGet(edge.worker, `passkey:seen:${reference}`));
    assert.equal(seen.counter, 1000);
  });
});

describe('what a registration may not bring', () => {
  const fromAlice = async (credentialOf) => {
    const ip = clientIp();
    const options = await registrationOptions(edge, {}, { session: mintSession('alice'), ip });
    return call(edge, 'POST', '/auth/passkeys/register', {
      body: { credential: credentialOf(options.publicKey.challenge), name: 'x' },
      cookies: { [SESSION]: mintSession('alice'), [CHALLENGE]: options.cookie },
      ip,
    });
  };

  test('an Ed25519 key of small order, or an RSA key with e = 1: keys anyone could forge signatures for', async () => {
    const identityPoint = Buffer.alloc(32);
    identityPoint[0] = 1;
    const weakEd = cbor(new Map([[1, 1], [3, -8], [-1, 6], [-2, identityPoint]]));
    const ed = softCredential({ alg: 'EdDSA' });
    await assertRefused(edge, await fromAlice((challenge) => registrationResponse(ed, { rpId: RP_ID, origin: edge.url, challenge, coseKey: weakEd })), 'passkey:weak_key');
    const rsa = softCredential({ alg: 'RS256' });
    const { n } = rsa.publicKey.export({ format: 'jwk' });
    const weakRsa = cbor(new Map([[1, 3], [3, -257], [-1, fromB64url(n)], [-2, Buffer.from([1])]]));
    await assertRefused(edge, await fromAlice((challenge) => registrationResponse(rsa, { rpId: RP_ID, origin: edge.url, challenge, coseKey: weakRsa })), 'passkey:weak_or_malformed_rsa_key');
  });

  test('a P-256 point that is not on the curve (WebCrypto cannot import it)', async () => {
    const cred = softCredential();
    const offCurve = cbor(new Map([[1, 2], [3, -7], [-1, 1], [-2, Buffer.alloc(32, 1)], [-3, Buffer.alloc(32, 2)]]));
    await assertRefused(edge, await fromAlice((challenge) => registrationResponse(cred, { rpId: RP_ID, origin: edge.url, challenge, coseKey: offCurve })), 'passkey:cose_key_malformed');
  });

  test('client data made for another allowed origin than the one the request came to (a relayed ceremony)', async () => {
    // http://localhost:* allows any port; the request came to this edge's.
    const elsewhere = 'http://localhost:1';
    await assertRefused(edge, await fromAlice((challenge) => registrationResponse(softCredential(), { rpId: RP_ID, origin: elsewhere, challenge })), 'passkey:wrong_origin');
    const result = await signIn(edge, alice.cred, { ip: clientIp(), assertion: { origin: elsewhere } });
    await assertRefused(edge, result, 'passkey:wrong_origin');
  });
});

describe('enrollment links and the profile they meet', () => {
  test('using a link withdraws every link minted before it', async () => {
    const ip = clientIp();
    const older = enrollmentToken(edge, 'jack', { mintedAt: now() - 60 });
    const newer = await enroll(edge, 'jack');
    assert.ok(newer.session);
    const refused = await call(edge, 'POST', '/auth/passkeys/register/options', { body: { enrollment: older }, ip });
    await assertRefused(edge, refused, 'passkey:enrollment_withdrawn');
  });

  test('a KV password user enrolled by a link keeps their record as the one source: disabling it ends their passkeys', async () => {
    const ip = clientIp();
    // USER_STORE is the default (kv): a password record for kim.
    const record = (...flags) => {
      const run = spawnSync(BIN, ['add-user', 'kim', '--roles', 'ops', '--record-only', ...flags], { input: `${PASSWORD}\n`, encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
      return run.stdout.trim();
    };
    await kvPut(edge.worker, 'user:kim', record());
    const kim = await enroll(edge, 'kim', { roles: 'admin' });
    assert.equal(await kvGet(edge.worker, 'passkey:profile:kim'), null, 'no profile for a password user');
    const claims = await assertSignedIn(edge, await signIn(edge, kim.cred, { ip }), 'kim');
    assert.deepEqual(claims.roles, ['ops'], 'the record\'s roles, not the link\'s');
    await kvPut(edge.worker, 'user:kim', record('--disabled'));
    await assertRefused(edge, await signIn(edge, kim.cred, { ip }), 'passkey:user_disabled');
  });

  test('a link never enables a disabled user, and links minted before a withdrawal are refused', async () => {
    const ip = clientIp();
    await kvPut(edge.worker, 'passkey:profile:henry', JSON.stringify({ roles: ['user'], disabled: true }));
    const disabled = await call(edge, 'POST', '/auth/passkeys/register/options', { body: { enrollment: enrollmentToken(edge, 'henry') }, ip });
    await assertRefused(edge, disabled, 'passkey:user_disabled');
    const link = enrollmentToken(edge, 'iris');
    await kvPut(edge.worker, 'passkey:profile:iris', JSON.stringify({ roles: ['user'], enrollments_after: now() + 5 }));
    const withdrawn = await call(edge, 'POST', '/auth/passkeys/register/options', { body: { enrollment: link }, ip });
    await assertRefused(edge, withdrawn, 'passkey:enrollment_withdrawn');
  });
});

describe('bodies without a declared length', () => {
  test('a chunked body past 16 KiB is refused (413) as it arrives, not buffered whole first', async () => {
    // 256 KiB without a declared length. The edge answers as soon as the count passes the cap
    // and stops reading, so the client may see the 413 or, still writing, a reset connection or
    // the dev proxy's 503: either way the edge's own record of the request says what it decided.
    const chunk = new Uint8Array(4096).fill(0x20);
    let sent = 0;
    const body = new ReadableStream({
      pull(controller) {
        if (sent >= 64) return controller.close();
        sent += 1;
        controller.enqueue(chunk);
      },
    });
    const requestId = `pk-${process.pid}-chunked`;
    const response = await fetch(`${edge.url}/auth/passkeys/sign-in`, {
      method: 'POST', body, duplex: 'half',
      headers: { origin: edge.url, 'content-type': 'application/json', 'cf-connecting-ip': clientIp(), 'cf-ray': requestId },
      signal: AbortSignal.timeout(15_000),
    }).catch((error) => {
      assert.match(String(error.cause?.code ?? error.cause), /ECONNRESET|EPIPE|UND_ERR_SOCKET/, String(error.cause ?? error));
      return null;
    });
    if (response) {
      const text = await response.text();
      // wrangler dev's own proxy, between the client and workerd, answers 503 when workerd
      // answers and stops reading while the client is still writing; that is not the edge's
      // answer (it carries no request id), and the edge's record below is what it decided.
      if (response.status === 503) {
        assert.doesNotMatch(text, /request_id/, `an edge answer: ${text}`);
      } else {
        assert.equal(response.status, 413, text);
      }
      assert.equal(response.headers.get('set-cookie'), null);
    }
    const record = await auditRecord(edge, requestId);
    assert.equal(record.status, 413);
    assert.equal(record.reason, 'body_too_large');
  });
});
