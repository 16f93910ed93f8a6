// Revocation under real `wrangler dev`: the document in the REVOCATIONS KV namespace (key
// "revocations"), written with the real `wrangler kv key put --local` (as a broken or
// hand-written document would be), and through the edge's one writer (a Durable Object) by
// `POST /auth/logout`, `POST /auth/revoke` and `edgeauth revoke`. Workers re-read it on every
// request (REVOCATION_REFRESH_SECS=0), so no test waits for a refresh interval.
// - strict (REVOCATION_MAX_STALE_SECS=0) and cold (same, never read a valid document);
// - tolerant (REVOCATION_MAX_STALE_SECS=3600): keeps its last good copy when the document breaks;
// - brief (REVOCATION_MAX_STALE_SECS=8): keeps it, then fails closed once the copy is too old;
// - no-binding: a worker whose config lacks the REVOCATIONS binding fails closed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ROOT, kvGet, kvPut, navigate, startOrigin, startWorker, stopAll, waitForLog } from './harness.mjs';
import { loadExpectFail } from './expect_fail_vectors.mjs';

const vectors = loadExpectFail();
const { doc } = vectors;
const control = doc.cases.find((c) => c.name === 'valid_control');
const BIN = process.env.EDGEAUTH_BIN ?? path.join(ROOT, 'target', 'debug', 'edgeauth');
const now = () => Math.floor(Date.now() / 1000);
const request = (url, init = {}) => fetch(url, { signal: AbortSignal.timeout(15_000), redirect: 'manual', ...init });
const FAR = 4_000_000_000;
const BRIEF_STALE_SECS = 8;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A valid session for `sub`/`sid` with `roles`, begun `age` seconds ago. */
function session({ sub = 'alice', sid = crypto.randomBytes(16).toString('base64url'), age = 60, roles = ['user'] } = {}) {
  const payload = control.payload
    .replace('"sub":"alice"', `"sub":"${sub}"`)
    .replace('"sid":"c2Vzc2lvbi1pZC0xMjM0NQ"', `"sid":"${sid}"`)
    .replace('"auth_time":{now-60}', `"auth_time":{now-${age}}`)
    .replace('"roles":["user","ops"]', `"roles":${JSON.stringify(roles)}`);
  return vectors.build({ ...control, payload }, now());
}

/** Runs the CLI without blocking the event loop (idle keep-alive sockets must stay serviced). */
function edgeauth(args, input = '', env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

const revocations = ({ sessions = {}, users = {} } = {}) => JSON.stringify({ format: 1, revision: 1, sessions, users });

let origin;
let strict;
let cold;
let tolerant;
let unbound;
let brief;

before(async () => {
  origin = await startOrigin();
  const vars = (maxStale) => ({
    SIGNING_KEY: vectors.privateJwk(),
    ISSUER: doc.issuer,
    SESSION_AUDIENCE: doc.audience,
    ACCESS_RULES: JSON.stringify([{ path: '/public/*', access: 'public' }]),
    ORIGIN_URL: origin.url,
    REVOCATION_REFRESH_SECS: '0',
    REVOCATION_MAX_STALE_SECS: String(maxStale),
  });
  [strict, cold, tolerant, unbound, brief] = await Promise.all([
    startWorker({ name: 'revocation-strict', vars: vars(0) }),
    startWorker({ name: 'revocation-cold', vars: vars(0) }),
    startWorker({ name: 'revocation-tolerant', vars: vars(3600) }),
    startWorker({ name: 'revocation-unbound', vars: vars(0), without: ['REVOCATIONS'] }),
    startWorker({ name: 'revocation-brief', vars: vars(BRIEF_STALE_SECS) }),
  ]);
});

after(async () => {
  await stopAll();
  await origin?.close();
});

/** `method` `path` with `token` as bearer: the status, body, and what the origin saw. */
async function call(worker, path, token, { method = 'GET', accept = 'application/json', body, headers: extra = {} } = {}) {
  const start = origin.received.length;
  const headers = { accept, ...extra };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  // A page is asked for as a browser navigates to it; anything else as a script asks.
  const response = accept.includes('text/html') && body === undefined
    ? await navigate(`${worker.url}${path}`, { method, headers })
    : await request(`${worker.url}${path}`, { method, headers, body });
  const text = await response.text();
  return { status: response.status, text, location: response.headers.get('location'), setCookie: response.headers.get('set-cookie'), seen: origin.received.slice(start) };
}
const get = (worker, path, token, accept) => call(worker, path, token, { accept });

describe('revoked sessions and users', () => {
  test('no document: nothing is revoked', async () => {
    assert.equal((await get(strict, '/app', session())).status, 200);
  });

  test('a revoked sid is refused on protected routes and anonymous on public ones', async () => {
    const sid = 'revoked-session-id-1';
    const revoked = session({ sid });
    assert.equal((await get(strict, '/app/x', revoked)).status, 200, 'valid (and now cached) before');
    await kvPut(strict, 'revocations', revocations({ sessions: { [sid]: FAR } }), 'REVOCATIONS');
    const api = await get(strict, '/app/x', revoked);
    assert.equal(api.status, 401, 'refused although the token is in the verified-session cache');
    assert.equal(api.seen.length, 0);
    const nav = await get(strict, '/app/x', revoked, 'text/html');
    assert.equal(nav.status, 302);
    assert.match(nav.location, /^\/auth\/login\?next=/);
    const pub = await get(strict, '/public/x', revoked);
    assert.equal(pub.status, 200);
    assert.equal(pub.seen[0].headers['x-auth-user'], undefined, 'forwarded anonymously');
    assert.equal(pub.seen[0].headers.authorization, undefined, 'and without the revoked token');
    assert.equal((await get(strict, '/auth/session', revoked)).status, 401);
    assert.equal((await get(strict, '/app/x', session())).status, 200, 'other sessions are untouched');
    await waitForLog(strict, /"event":"deny"[^\n]*"reason":"revoked_session"[^\n]*"sid":"revoked-session-id-1"/);
  });

  test('a user-wide revocation refuses that user\'s sessions begun before the cut-off only', async () => {
    await kvPut(strict, 'revocations', revocations({ users: { bob: { before: now() - 100, drop_after: FAR } } }), 'REVOCATIONS');
    assert.equal((await get(strict, '/app', session({ sub: 'bob', age: 200 }))).status, 401);
    assert.equal((await get(strict, '/app', session({ sub: 'bob', age: 50 }))).status, 200, 'a later login works');
    assert.equal((await get(strict, '/app', session({ sub: 'carol', age: 200 }))).status, 200);
  });
});

describe('logout and the admin endpoint', () => {
  const sameOrigin = (worker) => ({ origin: worker.url });

  test('logout revokes its own sid: the same token is refused afterwards, everywhere', async () => {
    const token = session({ sub: 'dave' });
    assert.equal((await get(strict, '/app', token)).status, 200);
    const out = await call(strict, '/auth/logout', token, { method: 'POST', headers: sameOrigin(strict) });
    assert.equal(out.status, 204);
    assert.match(out.setCookie, /Max-Age=0/);
    assert.equal((await get(strict, '/app', token)).status, 401, 'the edge that logged out');
    assert.equal((await get(cold, '/app', token)).status, 200, 'another deployment with its own KV is untouched');
    await waitForLog(strict, /"event":"logout"[^\n]*"revoked":\{"sid":"[^"]+"\}[^\n]*"revision":\d+/);
  });

  test('POST /auth/revoke: only REVOKE_ROLE may revoke, and it revokes a session or a user', async () => {
    const admin = session({ sub: 'root', roles: ['admin'] });
    const victim = session({ sub: 'erin', age: 30 });
    const other = session({ sub: 'erin', sid: 'erin-second-session', age: 30 });
    const body = (value) => JSON.stringify(value);

    assert.equal((await call(strict, '/auth/revoke', null, { method: 'POST', body: body({ sub: 'erin' }) })).status, 401);
    const notAdmin = await call(strict, '/auth/revoke', session({ sub: 'mallory' }), { method: 'POST', body: body({ sub: 'erin' }) });
    assert.equal(notAdmin.status, 403);
    assert.equal((await get(strict, '/app', victim)).status, 200, 'a refused revocation changed nothing');
    for (const bad of ['{}', '{"sid":"a","sub":"b"}', `{"sub":"erin","before":${now() + 3600}}`, 'not json']) {
      assert.equal((await call(strict, '/auth/revoke', admin, { method: 'POST', body: bad })).status, 400, bad);
    }
    assert.equal((await call(strict, '/auth/revoke', admin, { method: 'GET' })).status, 405);
    const oversized = JSON.stringify({ sid: 'x'.repeat(2000) });
    assert.equal((await call(strict, '/auth/revoke', admin, { method: 'POST', body: oversized })).status, 413);

    const one = await call(strict, '/auth/revoke', admin, { method: 'POST', body: body({ sid: 'erin-second-session' }) });
    assert.equal(one.status, 200, one.text);
    assert.deepEqual(JSON.parse(one.text).revoked, { sid: 'erin-second-session' });
    assert.equal((await get(strict, '/app', other)).status, 401);
    assert.equal((await get(strict, '/app', victim)).status, 200);

    const all = await call(strict, '/auth/revoke', admin, { method: 'POST', body: body({ sub: 'erin' }) });
    assert.equal(all.status, 200, all.text);
    assert.equal((await get(strict, '/app', victim)).status, 401);
    // The cut-off is the second after the revocation (whole seconds): a session begun in the
    // revocation's second is revoked, one begun at the cut-off works.
    const { before: cutOff } = JSON.parse(all.text).revoked;
    assert.ok(cutOff > now() - 5 && cutOff <= now() + 1, `default cut-off ${cutOff}`);
    while (now() < cutOff) await sleep(100);
    assert.equal((await get(strict, '/app', session({ sub: 'erin', age: now() - cutOff }))).status, 200, 'a login at the cut-off works');
    assert.equal((await get(strict, '/app', session({ sub: 'erin', age: now() - cutOff + 1 }))).status, 401, 'one begun just before it is revoked');
    await waitForLog(strict, /"event":"revoke"[^\n]*"sub":"root"[^\n]*"revoked":\{"before":\d+,"sub":"erin"\}/);
  });

  test('a cookie session must revoke same-origin (no cross-site revocation)', async () => {
    const admin = session({ sub: 'root', roles: ['admin'] });
    const headers = { cookie: `__Host-edgeauth=${admin}`, origin: 'https://evil.example', 'content-type': 'application/json' };
    const response = await request(`${strict.url}/auth/revoke`, { method: 'POST', headers, body: '{"sub":"frank"}' });
    assert.equal(response.status, 403);
    const same = await request(`${strict.url}/auth/revoke`, { method: 'POST', headers: { ...headers, origin: strict.url }, body: '{"sub":"frank"}' });
    assert.equal(same.status, 200, 'the same request from the same origin is allowed');
  });

  test('edgeauth revoke goes through the edge with an admin token, and only with one', async () => {
    const victim = session({ sub: 'grace' });
    assert.equal((await get(strict, '/app', victim)).status, 200);
    const refused = await edgeauth(['revoke', '--url', strict.url, '--user', 'grace'], '', { EDGEAUTH_TOKEN: session({ sub: 'mallory' }) });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /answered 403/);
    assert.equal((await get(strict, '/app', victim)).status, 200);
    const run = await edgeauth(['revoke', '--url', strict.url, '--user', 'grace'], '', { EDGEAUTH_TOKEN: session({ sub: 'root', roles: ['admin'] }) });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).revoked.sub, 'grace');
    assert.equal((await get(strict, '/app', victim)).status, 401);
    assert.equal((await get(strict, '/app', session({ sub: 'not-grace' }))).status, 200);
  });

  test('concurrent revocations are all kept (one writer), and in KV once answered', async () => {
    const admin = session({ sub: 'root', roles: ['admin'] });
    const sids = Array.from({ length: 16 }, (_, i) => `concurrent-${i}-${crypto.randomBytes(6).toString('hex')}`);
    const answers = await Promise.all(sids.map((sid) => call(strict, '/auth/revoke', admin, { method: 'POST', body: JSON.stringify({ sid }) })));
    for (const answer of answers) assert.equal(answer.status, 200, answer.text);
    const revisions = answers.map((answer) => JSON.parse(answer.text).revision);
    assert.equal(new Set(revisions).size, sids.length, 'each write got its own revision');
    for (const sid of sids) assert.equal((await get(strict, '/app', session({ sid }))).status, 401, sid);
    // The writer answers only once a publish holding the write is in KV, so one read after the
    // answers finds every sid (faults_under_load.test.mjs kills workerd mid-burst to show it).
    const published = JSON.parse((await kvGet(strict, 'revocations', 'REVOCATIONS')) ?? '{"sessions":{}}');
    for (const sid of sids) assert.ok(sid in published.sessions, `${sid} published`);
    assert.ok(published.revision >= Math.max(...revisions));
  });
});

describe('an unreadable document', () => {
  test('no good copy yet (corrupt from the start): protected routes fail closed, public ones pass anonymously', async () => {
    await kvPut(cold, 'revocations', '{"format":1,"revision":', 'REVOCATIONS');
    const token = session();
    const api = await get(cold, '/app', token);
    assert.equal(api.status, 401);
    assert.equal(api.seen.length, 0);
    const pub = await get(cold, '/public/x', token);
    assert.equal(pub.status, 200);
    assert.equal(pub.seen[0].headers['x-auth-user'], undefined);
    await waitForLog(cold, /"reason":"revocation_unavailable"/);
    await waitForLog(cold, /revocation_refresh_failed/);
    // A corrupt document is never overwritten blind: revoking through the edge fails, 503.
    const admin = session({ sub: 'root', roles: ['admin'] });
    const revoke = await call(cold, '/auth/logout', admin, { method: 'POST', headers: { origin: cold.url } });
    assert.equal(revoke.status, 503);
    assert.match(revoke.setCookie, /Max-Age=0/, 'the cookie is cleared all the same');
    // Fixed: sessions pass again.
    await kvPut(cold, 'revocations', revocations(), 'REVOCATIONS');
    assert.equal((await get(cold, '/app', token)).status, 200);
  });

  test('within REVOCATION_MAX_STALE_SECS the last good copy is kept, revocations included', async () => {
    const sid = 'revoked-session-id-2';
    await kvPut(tolerant, 'revocations', revocations({ sessions: { [sid]: FAR } }), 'REVOCATIONS');
    assert.equal((await get(tolerant, '/app', session({ sid }))).status, 401);
    await kvPut(tolerant, 'revocations', 'not json', 'REVOCATIONS');
    assert.equal((await get(tolerant, '/app', session({ sid }))).status, 401, 'still revoked from the copy');
    assert.equal((await get(tolerant, '/app', session())).status, 200, 'others still pass on the copy');
  });

  test('past REVOCATION_MAX_STALE_SECS without a good read, protected routes fail closed', async () => {
    const token = session();
    await kvPut(brief, 'revocations', revocations(), 'REVOCATIONS');
    const readAt = Date.now();
    assert.equal((await get(brief, '/app', token)).status, 200, 'a good read');
    await kvPut(brief, 'revocations', '{"format":99}', 'REVOCATIONS');
    // Still inside the bound (writing through wrangler takes a second or two): the copy is used.
    if (Date.now() - readAt < (BRIEF_STALE_SECS - 2) * 1000) {
      assert.equal((await get(brief, '/app', token)).status, 200, 'the last good copy');
    }
    await sleep(Math.max(0, readAt + (BRIEF_STALE_SECS + 1.5) * 1000 - Date.now()));
    const closed = await get(brief, '/app', token);
    assert.equal(closed.status, 401, 'the copy is too old: fail closed');
    assert.equal(closed.seen.length, 0);
    assert.equal((await get(brief, '/public/x', token)).status, 200, 'public routes still pass, anonymously');
    await waitForLog(brief, /"reason":"revocation_unavailable"/);
  });

  test('no REVOCATIONS binding: sessions are refused on protected routes, with a clear log', async () => {
    const token = session();
    assert.equal((await get(unbound, '/app', token)).status, 401);
    assert.equal((await get(unbound, '/public/x', token)).status, 200);
    await waitForLog(unbound, /REVOCATIONS KV binding missing/);
  });
});
