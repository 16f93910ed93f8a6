// Load and origin-failure tests against one real `wrangler dev` and the test origin, loopback only.
// Bounded: a fixed number of requests, a fixed concurrency, and a time bound after which the run
// stops and fails (a bound, not a timed assertion).
//
// - Load: LOAD_REQUESTS requests at LOAD_CONCURRENCY, a deterministic mix of valid, expired,
//   forged, revoked (by sid and by user, through the REVOCATIONS document) and missing tokens,
//   wrong role, public routes with and without tokens. Every response
//   is checked against its expected status; the origin must have seen exactly the requests that
//   were allowed, each with the right identity headers (or none, when anonymous).
// - Origin down mid-run: 502 for what would be forwarded (refusals unchanged), then recovery when
//   the origin comes back at the same address.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { kvPut, startOrigin, startWorker, stopAll } from './harness.mjs';
import { loadExpectFail } from './expect_fail_vectors.mjs';

const LOAD_REQUESTS = 10_000;
const LOAD_CONCURRENCY = 32;
const LOAD_BOUND_MS = 300_000;

const vectors = loadExpectFail();
const { doc } = vectors;
const control = doc.cases.find((c) => c.name === 'valid_control');
const now = () => Math.floor(Date.now() / 1000);
const RULES = JSON.stringify([
  { path: '/public/*', access: 'public' },
  { path: '/admin/*', roles: ['admin'] },
]);

const REVOKED_SID = 'revoked-sid-0123456789';

/** A token for `sub` with `roles`, signed by `sign` ('key': trusted, 'other_key': forged), at `at`. */
function token({ sub = 'alice', roles = ['user'], sid = 'c2Vzc2lvbi1pZC0xMjM0NQ', sign = 'key', at = now() }) {
  const payload = control.payload
    .replace('"sub":"alice"', `"sub":"${sub}"`)
    .replace('["user","ops"]', JSON.stringify(roles))
    .replace('"sid":"c2Vzc2lvbi1pZC0xMjM0NQ"', `"sid":"${sid}"`);
  return vectors.build({ ...control, payload, sign }, at);
}

let origin;
let originPort;
/** The cut-off of the `departed` user's revocation. */
let departedBefore;
let edge;

before(async () => {
  origin = await startOrigin();
  originPort = Number(new URL(origin.url).port);
  edge = await startWorker({
    name: 'load',
    vars: {
      SIGNING_KEY: vectors.privateJwk(),
      ISSUER: doc.issuer,
      SESSION_AUDIENCE: doc.audience,
      ACCESS_RULES: RULES,
      ORIGIN_URL: origin.url,
      ORIGIN_TIMEOUT_MS: '5000',
    },
  });
  // Before any session is checked, so the isolate's first read already has it.
  departedBefore = now();
  await kvPut(edge, 'revocations', JSON.stringify({
    format: 1,
    revision: 1,
    sessions: { [REVOKED_SID]: 4_000_000_000 },
    users: { departed: { before: departedBefore, drop_after: 4_000_000_000 } },
  }), 'REVOCATIONS');
});

after(async () => {
  await stopAll();
  await origin?.close();
});

/**
 * The request kinds of the mix: what is sent, the status expected, and the identity the origin
 * must see (null: must not be forwarded; 'anonymous': forwarded without identity headers).
 */
function kinds() {
  const users = Array.from({ length: 16 }, (_, i) => ({
    sub: `user${i}`, sid: `sid-${i}-${'x'.repeat(16)}`, roles: i % 4 === 0 ? ['admin', 'user'] : ['user'],
  }));
  const valid = users.map((u) => ({ ...u, token: token(u) }));
  const expired = token({ at: now() - 10_000 });
  const forged = token({ sign: 'other_key' });
  const revokedSession = token({ sub: 'user3', sid: REVOKED_SID });
  // Began before the cut-off however long the run has taken so far (not `now() - 60`: a slow
  // load phase would carry it past the cut-off).
  const departed = token({ sub: 'departed', sid: 'departed-session-0123', at: departedBefore - 60 });
  const admin = valid.find((u) => u.roles.includes('admin'));
  const plain = valid.find((u) => !u.roles.includes('admin'));
  const bearer = (t) => ({ authorization: `Bearer ${t}` });
  const cookie = (t) => ({ cookie: `__Host-edgeauth=${t}` });
  return [
    ...valid.map((u, i) => ({ name: `valid:${u.sub}`, path: '/app/data', headers: (i % 2 ? bearer : cookie)(u.token), status: 200, identity: u })),
    { name: 'valid-admin', path: '/admin/panel', headers: bearer(admin.token), status: 200, identity: admin },
    { name: 'wrong-role', path: '/admin/panel', headers: bearer(plain.token), status: 403, identity: null },
    { name: 'expired', path: '/app/data', headers: bearer(expired), status: 401, identity: null },
    { name: 'expired-cookie', path: '/app/data', headers: cookie(expired), status: 401, identity: null },
    { name: 'forged', path: '/app/data', headers: bearer(forged), status: 401, identity: null },
    { name: 'forged-admin', path: '/admin/panel', headers: bearer(forged), status: 401, identity: null },
    { name: 'revoked-session', path: '/app/data', headers: bearer(revokedSession), status: 401, identity: null },
    { name: 'revoked-session-cookie', path: '/app/data', headers: cookie(revokedSession), status: 401, identity: null },
    { name: 'revoked-user', path: '/app/data', headers: bearer(departed), status: 401, identity: null },
    { name: 'public-revoked', path: '/public/page', headers: bearer(revokedSession), status: 200, identity: 'anonymous' },
    { name: 'missing', path: '/app/data', headers: {}, status: 401, identity: null },
    { name: 'garbage', path: '/app/data', headers: bearer('not.a.token'), status: 401, identity: null },
    { name: 'public-anonymous', path: '/public/page', headers: {}, status: 200, identity: 'anonymous' },
    { name: 'public-forged', path: '/public/page', headers: bearer(forged), status: 200, identity: 'anonymous' },
    { name: 'public-valid', path: '/public/page', headers: bearer(plain.token), status: 200, identity: plain },
  ];
}

/**
 * Sends `count` requests (request i is kind i mod kinds) at `concurrency`; each carries `?n=i` so
 * the origin's record can be matched back. Returns per-request outcomes.
 */
async function run({ count, concurrency, mix, boundMs }) {
  const outcomes = new Array(count);
  const deadline = Date.now() + boundMs;
  let next = 0;
  async function lane() {
    while (next < count) {
      if (Date.now() > deadline) throw new Error(`run exceeded its ${boundMs} ms bound at request ${next}`);
      const n = next++;
      const kind = mix[n % mix.length];
      let status;
      try {
        const response = await fetch(`${edge.url}${kind.path}?n=${n}`, {
          headers: { accept: 'application/json', ...kind.headers },
          redirect: 'manual',
          signal: AbortSignal.timeout(30_000),
        });
        await response.arrayBuffer();
        status = response.status;
      } catch (error) {
        status = `error: ${error.message}`;
      }
      outcomes[n] = { n, kind, status };
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane));
  return outcomes;
}

/** The origin's records during `fn`, by request number. */
async function originDuring(fn) {
  const start = origin.received.length;
  const result = await fn();
  const byN = new Map();
  for (const seen of origin.received.slice(start)) {
    const n = new URLSearchParams(seen.query).get('n');
    assert.ok(!byN.has(n), `the origin saw request ${n} twice`);
    byN.set(n, seen);
  }
  return { result, byN };
}

function checkIdentity(seen, identity, label) {
  if (identity === 'anonymous') {
    for (const name of Object.keys(seen.headers)) assert.ok(!name.startsWith('x-auth-'), `${label}: ${name} on an anonymous request`);
    return;
  }
  assert.equal(seen.headers['x-auth-user'], identity.sub, label);
  assert.equal(seen.headers['x-auth-roles'], identity.roles.join(','), label);
  assert.equal(seen.headers['x-auth-session'], identity.sid, label);
  assert.ok(seen.headers['x-auth-assertion'], `${label}: no assertion`);
  assert.equal(seen.headers.authorization, undefined, `${label}: the bearer token was forwarded`);
}

describe('load', () => {
  test(`${LOAD_REQUESTS} mixed requests at concurrency ${LOAD_CONCURRENCY}: zero wrong decisions`, async () => {
    const mix = kinds();
    const started = Date.now();
    const { result: outcomes, byN } = await originDuring(() =>
      run({ count: LOAD_REQUESTS, concurrency: LOAD_CONCURRENCY, mix, boundMs: LOAD_BOUND_MS }));
    const seconds = (Date.now() - started) / 1000;

    const wrong = outcomes.filter((o) => o.status !== o.kind.status);
    const unexpected5xx = outcomes.filter((o) => typeof o.status !== 'number' || o.status >= 500);
    const allowed = outcomes.filter((o) => o.kind.identity !== null);
    const counts = {};
    for (const o of outcomes) counts[o.kind.name.split(':')[0]] = (counts[o.kind.name.split(':')[0]] ?? 0) + 1;
    console.log(`load: ${LOAD_REQUESTS} requests, concurrency ${LOAD_CONCURRENCY}, ${seconds.toFixed(1)} s ` +
      `(${Math.round(LOAD_REQUESTS / seconds)} req/s), ${wrong.length} wrong decisions, ${unexpected5xx.length} 5xx/errors, ` +
      `${allowed.length} forwarded; mix ${JSON.stringify(counts)}`);

    assert.deepEqual(wrong.slice(0, 5).map((o) => `${o.n} ${o.kind.name}: ${o.status}`), [], `${wrong.length} wrong decisions`);
    assert.equal(unexpected5xx.length, 0);
    assert.equal(byN.size, allowed.length, 'the origin saw exactly the allowed requests');
    for (const o of allowed) {
      const seen = byN.get(String(o.n));
      assert.ok(seen, `allowed request ${o.n} (${o.kind.name}) never reached the origin`);
      assert.equal(seen.path, o.kind.path);
      checkIdentity(seen, o.kind.identity, `${o.n} ${o.kind.name}`);
    }
  });
});

describe('origin failure mid-run', () => {
  test('origin stops: 502 for what would be forwarded, refusals unchanged; it comes back: 200 again', async () => {
    const mix = kinds();
    const phase = (expectDown) => run({ count: 300, concurrency: 8, mix, boundMs: 60_000 }).then((outcomes) => {
      for (const o of outcomes) {
        const expected = expectDown && o.kind.status === 200 ? 502 : o.kind.status;
        assert.equal(o.status, expected, `${expectDown ? 'down' : 'up'}: ${o.n} ${o.kind.name}`);
      }
    });
    await phase(false);
    await origin.close();
    await phase(true);
    origin = await startOrigin({ port: originPort });
    const { byN } = await originDuring(() => phase(false));
    assert.ok(byN.size > 0, 'the restarted origin receives requests again');
  });
});
