// The request path's Ed25519 verification inside workerd (core strict pre-checks + WebCrypto
// Ed25519 + claims), through the test-only route of the `vector-tests` build
// (src/adapter/vector_tests.rs; scripts/build_vector_tests.sh builds it into
// target/vector-tests/, never into build/). Every Wycheproof and CCTV vector and every
// expect-fail token must get exactly the verdict ed25519-dalek's `verify_strict` gives natively
// (pinned by tests/public_vectors.rs, tests/expect_fail.rs and tests/signature_precheck.rs).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { ROOT, startWorker, stopAll } from './harness.mjs';
import { loadExpectFail } from './expect_fail_vectors.mjs';

const CONFIG = path.join(ROOT, 'target', 'vector-tests', 'wrangler.toml');
const vectors = loadExpectFail();
const { doc } = vectors;
const load = (name) => JSON.parse(fs.readFileSync(path.join(ROOT, 'tests/vectors', name), 'utf8'));
const b64 = (hex) => Buffer.from(hex, 'hex').toString('base64url');

let worker;

before(async () => {
  assert.ok(fs.existsSync(CONFIG), `${CONFIG} is missing: run scripts/build_vector_tests.sh (make test does)`);
  worker = await startWorker({
    name: 'vector-tests',
    vars: {
      SIGNING_KEY: vectors.privateJwk(),
      ISSUER: doc.issuer,
      SESSION_AUDIENCE: doc.audience,
      LEEWAY_SECS: String(doc.leeway_secs),
      MAX_SESSION_AGE_SECS: String(doc.max_session_age_secs),
      MAX_TOKEN_BYTES: String(doc.max_token_bytes),
    },
    args: ['-c', CONFIG],
  });
});

after(stopAll);

/** Runs `body` through the route in batches; returns the concatenated verdicts. */
async function run({ signatures = [], tokens = [], now = doc.now, signing = [] }) {
  const out = { signatures: [], tokens: [], signing: [] };
  const BATCH = 200;
  for (let i = 0; i < Math.max(signatures.length, tokens.length, signing.length); i += BATCH) {
    const res = await fetch(`${worker.url}/__test/vectors`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        now, signatures: signatures.slice(i, i + BATCH), tokens: tokens.slice(i, i + BATCH), signing: signing.slice(i, i + BATCH),
      }),
      signal: AbortSignal.timeout(60_000),
    });
    assert.equal(res.status, 200, await res.clone().text());
    const body = await res.json();
    out.signatures.push(...body.signatures);
    out.tokens.push(...body.tokens);
    out.signing.push(...body.signing);
  }
  assert.equal(out.signatures.length, signatures.length);
  assert.equal(out.tokens.length, tokens.length);
  return out;
}

test('Wycheproof: every case as expected (88 valid accepted, 63 invalid refused)', async () => {
  const suite = load('wycheproof_ed25519_test.json');
  const cases = suite.testGroups.flatMap((group) =>
    group.tests.map((c) => ({ id: c.tcId, expected: c.result === 'valid', key: b64(group.publicKey.pk), msg: b64(c.msg), sig: b64(c.sig) })));
  const { signatures } = await run({ signatures: cases });
  cases.forEach((c, i) => assert.equal(signatures[i], c.expected, `Wycheproof tcId ${c.id}`));
  assert.deepEqual([cases.filter((c) => c.expected).length, cases.length], [88, 151]);
});

// The same rule as tests/public_vectors.rs: refused when flagged low_order_A, low_order_R,
// non_canonical_A, non_canonical_R or low_order_residue (cofactorless); the rest accepted.
const REFUSED_FLAGS = ['low_order_A', 'low_order_R', 'non_canonical_A', 'non_canonical_R', 'low_order_residue'];

test('CCTV: every vector pinned (43 of 914 accepted)', async () => {
  const cases = load('cctv_ed25519vectors.json').map((v) => ({
    number: v.number,
    expected: !(v.flags ?? []).some((flag) => REFUSED_FLAGS.includes(flag)),
    key: b64(v.key),
    msg: Buffer.from(v.msg, 'utf8').toString('base64url'),
    sig: b64(v.sig),
  }));
  const { signatures } = await run({ signatures: cases });
  cases.forEach((c, i) => assert.equal(signatures[i], c.expected, `CCTV vector ${c.number}`));
  assert.deepEqual([signatures.filter(Boolean).length, cases.length], [43, 914]);
});

test('expect-fail tokens: each gets exactly its named outcome', async () => {
  const cases = doc.cases;
  const { tokens } = await run({ tokens: cases.map((c) => vectors.build(c, doc.now)) });
  cases.forEach((c, i) => {
    const expected = c.expect === 'malformed' ? `malformed:${c.detail}` : c.expect;
    assert.equal(tokens[i], expected, `case ${c.name}`);
  });
  assert.ok(tokens.filter((t) => t !== 'ok').length >= 60);
  assert.ok(tokens.includes('ok'));
});

test('WebCrypto signs as RFC 8032 says: RFC 8037 A.4 exactly, and node\'s Ed25519 byte for byte', async () => {
  const rfc = load('rfc8037_ed25519_jws.json');
  const jwk = JSON.stringify(rfc.private_jwk);
  const [header, payload, published] = rfc.jws_compact.split('.');
  // Deterministic Ed25519: one key and message have one signature.
  const key = crypto.createPrivateKey({ key: rfc.private_jwk, format: 'jwk' });
  const messages = [Buffer.from(`${header}.${payload}`), Buffer.alloc(0), Buffer.from('72', 'hex'), crypto.randomBytes(1000)];
  const other = crypto.generateKeyPairSync('ed25519').privateKey;
  const otherJwk = JSON.stringify(other.export({ format: 'jwk' }));
  const cases = [
    ...messages.map((msg) => ({ jwk, msg: msg.toString('base64url') })),
    { jwk: otherJwk, msg: messages[3].toString('base64url') },
    // x of another key: the import check refuses to sign at all.
    { jwk: JSON.stringify({ ...rfc.private_jwk, x: JSON.parse(otherJwk).x }), msg: 'AA' },
  ];
  const { signing } = await run({ signing: cases });
  assert.equal(signing[0], published, 'RFC 8037 A.4');
  messages.forEach((msg, i) => {
    assert.equal(signing[i], crypto.sign(null, msg, key).toString('base64url'), `message ${i}`);
    assert.ok(crypto.verify(null, msg, crypto.createPublicKey(key), Buffer.from(signing[i], 'base64url')));
  });
  assert.equal(signing[4], crypto.sign(null, messages[3], other).toString('base64url'));
  assert.equal(signing[5], null, 'a JWK whose x is not its d\'s is never used to sign');
});

test('the production bundle has no vector route (the code is not compiled in)', () => {
  // The route's own error text is a marker of its code (the path itself is compiled into
  // comparisons, not stored as a string).
  const marker = '{"error":"signature case"}';
  const wasm = (file) => fs.readFileSync(path.join(ROOT, file));
  assert.equal(wasm('target/vector-tests/build/index_bg.wasm').includes(marker), true);
  assert.equal(wasm('build/index_bg.wasm').includes(marker), false);
});
