// Key rotation under real `wrangler dev`: docs/rotation.md's procedure, step by step. The "old" key is
// the test-only key of tests/vectors/expect_fail.json; the "new" one is generated per run.
// - during rotation (SIGNING_KEY = new, PREVIOUS_KEYS = old public key): tokens of both keys
//   verify, the JWKS publishes both, and what the edge mints is signed by the new key;
// - after rotation (PREVIOUS_KEYS emptied): a token of the removed key is refused;
// - always: a token whose `kid` names one key but is signed by another is refused.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';

import { startOrigin, startWorker, stopAll } from './harness.mjs';
import { loadExpectFail } from './expect_fail_vectors.mjs';

const vectors = loadExpectFail();
const { doc } = vectors;
const request = (url, init = {}) => fetch(url, { signal: AbortSignal.timeout(15_000), redirect: 'manual', ...init });
const now = () => Math.floor(Date.now() / 1000);
const b64url = (bytes) => Buffer.from(bytes).toString('base64url');

/** RFC 7638 thumbprint of an Ed25519 public JWK: the `kid` the edge computes. */
const thumbprint = (x) => b64url(crypto.createHash('sha256').update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest());

function keyPair(privateKey) {
  const { x, d } = privateKey.export({ format: 'jwk' });
  const kid = thumbprint(x);
  return {
    privateKey,
    kid,
    privateJwk: JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x, d, kid }),
    publicJwk: JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x, kid }),
  };
}

const seedKey = (hex) => crypto.createPrivateKey({
  key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(hex, 'hex')]),
  format: 'der',
  type: 'pkcs8',
});
const oldKey = keyPair(seedKey(doc.key_seed_hex));
const removedKey = keyPair(seedKey(doc.other_key_seed_hex));
const newKey = keyPair(crypto.generateKeyPairSync('ed25519').privateKey);

/** A valid session, `kid` in the header, signed by `signer`. */
function token({ kid, signer, sub = 'alice' }) {
  const t = now();
  const header = b64url(JSON.stringify({ alg: 'EdDSA', typ: 'JWT', kid }));
  const payload = b64url(JSON.stringify({
    iss: doc.issuer, aud: doc.audience, sub, sid: b64url(crypto.randomBytes(16)),
    iat: t - 60, exp: t + 3600, auth_time: t - 60, roles: ['user'],
  }));
  const signature = crypto.sign(null, Buffer.from(`${header}.${payload}`), signer.privateKey);
  return `${header}.${payload}.${b64url(signature)}`;
}

const vars = (originUrl, previous) => ({
  SIGNING_KEY: newKey.privateJwk,
  ...(previous === undefined ? {} : { PREVIOUS_KEYS: previous }),
  ISSUER: doc.issuer,
  SESSION_AUDIENCE: doc.audience,
  ACCESS_RULES: '[]',
  ORIGIN_URL: originUrl,
});

let origin;
let during;
let afterRotation;

before(async () => {
  origin = await startOrigin();
  [during, afterRotation] = await Promise.all([
    startWorker({ name: 'rotation-during', vars: vars(origin.url, `{"keys":[${oldKey.publicJwk}]}`) }),
    startWorker({ name: 'rotation-after', vars: vars(origin.url) }),
  ]);
});

after(async () => {
  await stopAll();
  await origin?.close();
});

/** Status of GET /app with `bearer`, and how many requests the origin saw meanwhile. */
async function attempt(worker, bearer) {
  const start = origin.received.length;
  const response = await request(`${worker.url}/app`, { headers: { authorization: `Bearer ${bearer}`, accept: 'application/json' } });
  await response.arrayBuffer();
  return { status: response.status, seen: origin.received.slice(start) };
}

describe('during rotation (new signing key, old key in PREVIOUS_KEYS)', () => {
  test('the JWKS publishes the signing key and the previous key, public parts only', async () => {
    const response = await request(`${during.url}/.well-known/jwks.json`);
    assert.equal(response.status, 200);
    const jwks = await response.json();
    assert.deepEqual(jwks.keys.map((k) => k.kid).sort(), [newKey.kid, oldKey.kid].sort());
    for (const key of jwks.keys) assert.equal(key.d, undefined);
  });

  test('a token signed by the retired-but-listed key verifies; the assertion is signed by the new key', async () => {
    const { status, seen } = await attempt(during, token({ kid: oldKey.kid, signer: oldKey }));
    assert.equal(status, 200);
    assert.equal(seen.length, 1);
    assert.equal(seen[0].headers['x-auth-user'], 'alice');
    const assertion = seen[0].headers['x-auth-assertion'];
    const header = JSON.parse(Buffer.from(assertion.split('.')[0], 'base64url'));
    assert.equal(header.kid, newKey.kid);
    const jwks = await (await request(`${during.url}/.well-known/jwks.json`)).json();
    const { payload } = await jwtVerify(assertion, createLocalJWKSet(jwks), { issuer: doc.issuer, audience: 'origin' });
    assert.equal(payload.sub, 'alice');
  });

  test('a token signed by the new key verifies', async () => {
    const { status } = await attempt(during, token({ kid: newKey.kid, signer: newKey }));
    assert.equal(status, 200);
  });

  test('a key never listed (or already removed) is refused', async () => {
    const { status, seen } = await attempt(during, token({ kid: removedKey.kid, signer: removedKey }));
    assert.equal(status, 401);
    assert.equal(seen.length, 0);
  });

  test('a kid naming one listed key with a signature by another is refused, both ways', async () => {
    for (const [kid, signer] of [[oldKey.kid, newKey], [newKey.kid, oldKey], [oldKey.kid, removedKey]]) {
      const { status, seen } = await attempt(during, token({ kid, signer }));
      assert.equal(status, 401, `kid ${kid}`);
      assert.equal(seen.length, 0);
    }
  });
});

describe('after rotation (old key removed from PREVIOUS_KEYS)', () => {
  test('a token signed by the removed key is refused; the JWKS no longer lists it', async () => {
    const { status, seen } = await attempt(afterRotation, token({ kid: oldKey.kid, signer: oldKey }));
    assert.equal(status, 401);
    assert.equal(seen.length, 0);
    const jwks = await (await request(`${afterRotation.url}/.well-known/jwks.json`)).json();
    assert.deepEqual(jwks.keys.map((k) => k.kid), [newKey.kid]);
  });

  test('tokens of the signing key still verify', async () => {
    const { status } = await attempt(afterRotation, token({ kid: newKey.kid, signer: newKey }));
    assert.equal(status, 200);
  });
});
