// Fault tests under real `wrangler dev`: a malformed configuration answers 500 on every path with
// one clear log line; a worker without the USERS KV binding (tests/integration/wrangler.no-kv.toml)
// refuses logins (fails closed, logged) while existing sessions keep verifying; with
// AUDIT_SAMPLE_ALLOWED=0 plain allows are not logged while refusals still are.
// (The origin stopping mid-run is in load.test.mjs; a missing signing key in gateway.test.mjs.)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { startOrigin, startWorker, stopAll } from './harness.mjs';
import { loadExpectFail } from './expect_fail_vectors.mjs';

const vectors = loadExpectFail();
const { doc } = vectors;
const control = doc.cases.find((c) => c.name === 'valid_control');
const now = () => Math.floor(Date.now() / 1000);
const request = (url, init = {}) => fetch(url, { signal: AbortSignal.timeout(15_000), redirect: 'manual', ...init });
const LOG_BOUND_MS = 10_000;

const baseVars = (originUrl) => ({
  SIGNING_KEY: vectors.privateJwk(),
  ISSUER: doc.issuer,
  SESSION_AUDIENCE: doc.audience,
  ACCESS_RULES: JSON.stringify([{ path: '/public/*', access: 'public' }]),
  ORIGIN_URL: originUrl,
});

let origin;
let badRules;
let noKv;
let sampled;

before(async () => {
  origin = await startOrigin();
  [badRules, noKv, sampled] = await Promise.all([
    startWorker({
      name: 'bad-rules',
      vars: { ...baseVars(origin.url), ACCESS_RULES: '[{"path": "/a/*", "access": "public", "roles": ["x"]}]' },
      readyStatus: 500,
    }),
    startWorker({ name: 'no-kv', vars: baseVars(origin.url), args: ['-c', 'tests/integration/wrangler.no-kv.toml'] }),
    startWorker({ name: 'sampled', vars: { ...baseVars(origin.url), AUDIT_SAMPLE_ALLOWED: '0' } }),
  ]);
});

after(async () => {
  await stopAll();
  await origin?.close();
});

/** Waits (bounded) until `worker`'s log has a JSON line for `requestId`; returns it parsed. */
async function logLine(worker, requestId) {
  const deadline = Date.now() + LOG_BOUND_MS;
  for (;;) {
    const text = fs.readFileSync(worker.logFile, 'utf8');
    const line = text.split('\n').find((l) => l.includes(`"request_id":"${requestId}"`));
    // wrangler prints console.error lines as "[ERROR] {...}" wrapped in terminal colours.
    // eslint-disable-next-line no-control-regex
    if (line) return JSON.parse(line.replace(/\x1b\[[0-9;]*m/g, '').replace(/^[^{]*/, ''));
    if (Date.now() > deadline) assert.fail(`no log line for ${requestId} in ${worker.logFile}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('malformed configuration', () => {
  test('500 on every path, nothing forwarded, and a log line naming the bad setting', async () => {
    const start = origin.received.length;
    const token = vectors.build(control, now());
    for (const path of ['/healthz', '/public/x', '/app/x', '/auth/login', '/.well-known/jwks.json']) {
      const r = await request(`${badRules.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(r.status, 500, path);
      const body = await r.json();
      assert.equal(body.error, 'internal_error');
      assert.doesNotMatch(JSON.stringify(body), /ACCESS_RULES/, 'the body does not say what is wrong');
      const line = await logLine(badRules, body.request_id);
      assert.equal(line.event, 'config_error');
      assert.equal(line.status, 500);
      assert.match(line.reason, /ACCESS_RULES/);
    }
    assert.equal(origin.received.length, start);
  });
});

describe('USERS KV binding absent', () => {
  test('login fails closed with a clear log line; the user store is never bypassed', async () => {
    const r = await request(`${noKv.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', origin: noKv.url },
      body: JSON.stringify({ username: 'demo', password: 'demo-password' }),
    });
    assert.equal(r.status, 500);
    const body = await r.json();
    assert.equal(body.token, undefined);
    assert.equal(r.headers.getSetCookie().length, 0, 'no session cookie');
    const line = await logLine(noKv, body.request_id);
    assert.equal(line.status, 500);
    assert.equal(line.reason, 'kv_binding_missing');
  });

  test('existing sessions keep verifying and reaching the origin; bad ones are still refused', async () => {
    const start = origin.received.length;
    const ok = await request(`${noKv.url}/app/x`, { headers: { authorization: `Bearer ${vectors.build(control, now())}` } });
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
    const expired = await request(`${noKv.url}/app/x`, { headers: { authorization: `Bearer ${vectors.build(control, now() - 10_000)}`, accept: 'application/json' } });
    assert.equal(expired.status, 401);
    await expired.arrayBuffer();
    const seen = origin.received.slice(start);
    assert.equal(seen.length, 1);
    assert.equal(seen[0].headers['x-auth-user'], 'alice');
  });
});

describe('audit sampling', () => {
  test('AUDIT_SAMPLE_ALLOWED=0: allowed requests leave no line, refusals still do', async () => {
    const token = vectors.build(control, now());
    for (let i = 0; i < 5; i += 1) {
      const ok = await request(`${sampled.url}/app/x`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(ok.status, 200);
      await ok.arrayBuffer();
    }
    const denied = await request(`${sampled.url}/app/x`, { headers: { accept: 'application/json' } });
    assert.equal(denied.status, 401);
    const line = await logLine(sampled, (await denied.json()).request_id);
    assert.equal(line.event, 'deny');
    // Lines are written in order: the refusal's line is there, so the allows' would be too.
    assert.doesNotMatch(fs.readFileSync(sampled.logFile, 'utf8'), /"event":"allow"/);
  });
});
