// Login, logout, session and renewal under real `wrangler dev`, with the real Workers KV and
// Rate Limiting bindings (local), a real origin, and a real upstream user store on loopback.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ROOT, kvPut, startOrigin, startWorker, stopAll } from './harness.mjs';
import { loadExpectFail } from './expect_fail_vectors.mjs';

const vectors = loadExpectFail();
const { doc } = vectors;
const BIN = process.env.EDGEAUTH_BIN ?? path.join(ROOT, 'target', 'debug', 'edgeauth');
const PASSWORD = 'correct horse battery staple';
const request = (url, init = {}) => fetch(url, { signal: AbortSignal.timeout(15_000), redirect: 'manual', ...init });
const now = () => Math.floor(Date.now() / 1000);

function record(roles, extra = []) {
  const run = spawnSync(BIN, ['add-user', 'x', '--roles', roles.join(','), '--record-only', ...extra], { input: `${PASSWORD}\n`, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim();
}

const baseVars = (originUrl) => ({
  SIGNING_KEY: vectors.privateJwk(),
  ISSUER: doc.issuer,
  SESSION_AUDIENCE: doc.audience,
  ORIGIN_URL: originUrl,
  ACCESS_RULES: JSON.stringify([{ path: '/public/*', access: 'public' }]),
});

/**
 * A real upstream user store: its answer depends on the username. `up-redirect-<status>` is sent
 * to /capture, which would log anyone in: a store that followed it would re-post the password.
 */
function startUpstream() {
  const captured = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const reply = (status, text, headers = {}) => { res.writeHead(status, { 'content-type': 'application/json', ...headers }); res.end(text); };
      if (req.url === '/capture') {
        captured.push(body);
        return reply(200, JSON.stringify({ sub: 'captured', roles: ['admin'] }));
      }
      const { username, password } = JSON.parse(body);
      const redirect = /^up-redirect-(\d{3})$/.exec(username);
      if (redirect) return reply(Number(redirect[1]), '{}', { location: '/capture' });
      if (username === 'up-ok' && password === PASSWORD) return reply(200, JSON.stringify({ sub: 'up-ok', roles: ['staff'], name: 'Up' }));
      if (username === 'up-badjson') return reply(200, '{"sub": "up-badjson", "roles": ');
      if (username === 'up-5xx') return reply(503, '{}');
      if (username === 'up-slow') return setTimeout(() => reply(200, JSON.stringify({ sub: 'up-slow', roles: [] })), 3_000);
      // Headers and half a body, then nothing: the bound covers the body, not just the headers.
      if (username === 'up-stall') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '64' });
        return res.write('{"sub": "up-stall", "roles": ["adm');
      }
      return reply(401, '{"error":"nope"}');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${server.address().port}/authenticate`,
    captured,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  })));
}

let origin;
let upstream;
let edge;
let upEdge;

before(async () => {
  origin = await startOrigin();
  upstream = await startUpstream();
  [edge, upEdge] = await Promise.all([
    startWorker({ name: 'login-kv', vars: baseVars(origin.url) }),
    startWorker({ name: 'login-upstream', vars: { ...baseVars(origin.url), USER_STORE: 'upstream', UPSTREAM_AUTH_URL: upstream.url, UPSTREAM_TIMEOUT_MS: '1000' } }),
  ]);
  await Promise.all([
    ...['alice', 'bob', 'carol', 'dave', 'erin'].map((name) => kvPut(edge, `user:${name}`, record(['user']))),
    kvPut(edge, 'user:root', record(['user', 'admin'], ['--name', 'Root'])),
    kvPut(edge, 'user:mallory', record(['user'], ['--disabled'])),
  ]);
});

after(async () => {
  await stopAll();
  await origin?.close();
  await upstream?.close();
});

function postForm(worker, fields, headers = {}) {
  return request(`${worker.url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: worker.url, ...headers },
    body: new URLSearchParams(fields).toString(),
  });
}

function postJson(worker, body, headers = {}) {
  return request(`${worker.url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', origin: worker.url, ...headers },
    body: JSON.stringify(body),
  });
}

function sessionCookie(response) {
  const header = response.headers.getSetCookie().find((c) => c.startsWith('__Host-edgeauth='));
  return header;
}

describe('the login page', () => {
  test('GET /auth/login serves the page from static assets, with a sanitized next and a strict CSP', async () => {
    const r = await request(`${edge.url}/auth/login?next=%2Fapp%2Freport%3Fm%3D1`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/html/);
    assert.match(r.headers.get('content-security-policy'), /default-src 'self'/);
    const html = await r.text();
    assert.match(html, /<form[^>]+method="post"[^>]+action="\/auth\/login"/);
    assert.match(html, /name="next"[^>]*value="\/app\/report\?m=1"|value="\/app\/report\?m=1"[^>]*name="next"/);
    assert.doesNotMatch(html, /\{\{/, 'every marker is filled');
    const css = await request(`${edge.url}/auth/login.css`);
    assert.equal(css.status, 200);
    assert.match(css.headers.get('content-type'), /text\/css/);
    await css.arrayBuffer();
  });

  for (const trick of ['//evil.example', '/\\evil.example', 'https://evil.example/', '/%2f%2fevil.example', '/%5cevil.example',
    'javascript:alert(1)', '/a%0d%0aSet-Cookie:%20x=1', '%2F%2Fevil.example']) {
    test(`next=${trick} is replaced by /`, async () => {
      const r = await request(`${edge.url}/auth/login?next=${encodeURIComponent(trick)}`);
      const html = await r.text();
      assert.match(html, /name="next"[^>]*value="\/"|value="\/"[^>]*name="next"/, trick);
    });
  }

  test('the raw files of www/ are not served as they are', async () => {
    for (const p of ['/login.html', '/README.md']) {
      const r = await request(`${edge.url}${p}`, { headers: { accept: 'application/json' } });
      assert.equal(r.status, 401, p);
      await r.arrayBuffer();
    }
  });
});

describe('POST /auth/login with the KV store', () => {
  test('form login: 303 to next with a __Host- session cookie that then works', async () => {
    const r = await postForm(edge, { username: 'alice', password: PASSWORD, next: '/app/home?tab=1' });
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), '/app/home?tab=1');
    const cookie = sessionCookie(r);
    assert.ok(cookie, 'a session cookie is set');
    for (const attr of ['HttpOnly', 'Secure', 'SameSite=Lax', 'Path=/']) assert.ok(cookie.includes(attr), attr);
    assert.doesNotMatch(cookie, /Domain=/i);
    const [seen] = await (async () => {
      const start = origin.received.length;
      const page = await request(`${edge.url}/app/home`, { headers: { cookie: cookie.split(';')[0] } });
      assert.equal(page.status, 200);
      await page.arrayBuffer();
      return origin.received.slice(start);
    })();
    assert.equal(seen.headers['x-auth-user'], 'alice');
    assert.equal(seen.headers['x-auth-roles'], 'user');
  });

  test('JSON login: token, expires_at, user and roles; the token works as a bearer', async () => {
    const r = await postJson(edge, { username: 'root', password: PASSWORD });
    assert.equal(r.status, 200);
    const body = await r.json();
    assert.equal(body.user, 'root');
    assert.deepEqual(body.roles, ['user', 'admin']);
    assert.ok(body.expires_at > now());
    const s = await request(`${edge.url}/auth/session`, { headers: { authorization: `Bearer ${body.token}` } });
    assert.equal(s.status, 200);
    const claims = await s.json();
    assert.equal(claims.sub, 'root');
    assert.equal(claims.name, 'Root');
    assert.equal(claims.sid.length, 22);
    assert.equal(claims.auth_time, claims.iat);
  });

  test('wrong password, unknown user and disabled user get the same generic 401', async () => {
    const bodies = [];
    for (const [username, password] of [['bob', 'wrong'], ['nobody-here', PASSWORD], ['mallory', PASSWORD]]) {
      const r = await postJson(edge, { username, password });
      assert.equal(r.status, 401, username);
      assert.equal(sessionCookie(r), undefined);
      const { request_id: _, ...rest } = await r.json();
      bodies.push(rest);
    }
    assert.deepEqual(bodies[0], { error: 'invalid_credentials', message: 'Invalid username or password.' });
    assert.deepEqual(bodies[1], bodies[0]);
    assert.deepEqual(bodies[2], bodies[0]);
  });

  test('a failed form login re-renders the page with the message and keeps next', async () => {
    const r = await postForm(edge, { username: 'carol', password: 'wrong', next: '/app/x' });
    assert.equal(r.status, 401);
    const html = await r.text();
    assert.match(html, /Invalid username or password\./);
    assert.match(html, /value="\/app\/x"/);
  });

  test('a next trick in the form falls back to /', async () => {
    const r = await postForm(edge, { username: 'carol', password: PASSWORD, next: '//evil.example/x' });
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), '/');
    await r.arrayBuffer();
  });

  test('cross-site POSTs are refused before any credential is checked', async () => {
    for (const headers of [{ origin: 'https://evil.example' }, { origin: 'null' }, { origin: edge.url, 'sec-fetch-site': 'cross-site' }]) {
      const r = await postJson(edge, { username: 'dave', password: PASSWORD }, headers);
      assert.equal(r.status, 403, JSON.stringify(headers));
      await r.arrayBuffer();
    }
    const noOrigin = await request(`${edge.url}/auth/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'dave', password: PASSWORD }),
    });
    assert.equal(noOrigin.status, 403);
    await noOrigin.arrayBuffer();
  });

  test('an oversized body is refused with 413', async () => {
    const r = await postJson(edge, { username: 'dave', password: 'x'.repeat(20_000) });
    assert.equal(r.status, 413);
    await r.arrayBuffer();
  });

  test('attempts over the per-username limit get 429 with Retry-After', async () => {
    // The limiter counts in fixed 60 s windows (floor(now / 60 s)): run the attempts inside one
    // window, not across a boundary that would reset the count (a bounded wait, ≤ 10 s).
    const leftInWindow = 60_000 - (Date.now() % 60_000);
    if (leftInWindow < 10_000) await new Promise((resolve) => setTimeout(resolve, leftInWindow + 100));
    const statuses = [];
    for (let i = 0; i < 6; i += 1) {
      const r = await postJson(edge, { username: 'erin', password: 'wrong' });
      statuses.push(r.status);
      if (r.status === 429) assert.match(r.headers.get('retry-after'), /^\d+$/);
      await r.arrayBuffer();
    }
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);
    const right = await postJson(edge, { username: 'erin', password: PASSWORD });
    assert.equal(right.status, 429, 'even the right password waits');
    await right.arrayBuffer();
  });
});

describe('logout and session', () => {
  test('logout clears the cookie (204 for scripts, 303 to the login page for browsers)', async () => {
    const api = await request(`${edge.url}/auth/logout`, { method: 'POST', headers: { origin: edge.url } });
    assert.equal(api.status, 204);
    const cleared = sessionCookie(api);
    assert.match(cleared, /^__Host-edgeauth=;/);
    assert.match(cleared, /Max-Age=0/);
    const page = await request(`${edge.url}/auth/logout`, { method: 'POST', headers: { origin: edge.url, accept: 'text/html' } });
    assert.equal(page.status, 303);
    assert.equal(page.headers.get('location'), '/auth/login');
    const crossSite = await request(`${edge.url}/auth/logout`, { method: 'POST', headers: { origin: 'https://evil.example' } });
    assert.equal(crossSite.status, 403);
    await crossSite.arrayBuffer();
  });

  test('GET /auth/session without a session, or with a forged, expired or malformed one, is 401', async () => {
    const r = await request(`${edge.url}/auth/session`);
    assert.equal(r.status, 401);
    await r.arrayBuffer();
    for (const name of ['signature_bit_flipped', 'kid_unknown', 'exp_past', 'alg_none_unsigned', 'segments_two']) {
      const token = vectors.build(doc.cases.find((c) => c.name === name), now());
      const refused = await request(`${edge.url}/auth/session`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(refused.status, 401, name);
      const body = await refused.json();
      assert.equal(body.error, 'unauthorized', name);
      assert.equal(body.sub, undefined, `${name}: no claims leak`);
    }
  });
});

describe('sliding renewal', () => {
  const control = doc.cases.find((c) => c.name === 'valid_control');
  const token = (iatAgo, expIn) => vectors.build({
    ...control,
    payload: control.payload.replace('"iat":{now-60}', `"iat":{now-${iatAgo}}`).replace('{now+3600}', `{now+${expIn}}`).replace('"auth_time":{now-60}', `"auth_time":{now-${iatAgo}}`),
  }, now());
  const renewedCookie = async (tok, via = 'cookie') => {
    const headers = via === 'cookie' ? { cookie: `__Host-edgeauth=${tok}` } : { authorization: `Bearer ${tok}` };
    const r = await request(`${edge.url}/app/x`, { headers });
    assert.equal(r.status, 200);
    await r.arrayBuffer();
    return sessionCookie(r);
  };

  test('past the threshold, a cookie session gets a new token with the same sid and auth_time', async () => {
    const old = token(3000, 600); // 3000 of 3600 s elapsed: past half
    const cookie = await renewedCookie(old);
    assert.ok(cookie, 'renewed');
    const fresh = cookie.split(';')[0].slice('__Host-edgeauth='.length);
    const claims = (t) => JSON.parse(Buffer.from(t.split('.')[1], 'base64url'));
    assert.equal(claims(fresh).sid, claims(old).sid);
    assert.equal(claims(fresh).auth_time, claims(old).auth_time);
    assert.ok(claims(fresh).exp > claims(old).exp);
    assert.ok(claims(fresh).iat > claims(old).iat);
  });

  test("a renewal is added next to the origin's own cookies", async () => {
    const r = await request(`${edge.url}/respond?header=set-cookie:app=1%3B%20Path%3D%2F`, {
      headers: { cookie: `__Host-edgeauth=${token(3000, 600)}` },
    });
    assert.equal(r.status, 200);
    await r.arrayBuffer();
    const cookies = r.headers.getSetCookie();
    assert.ok(cookies.includes('app=1; Path=/'), JSON.stringify(cookies));
    assert.ok(sessionCookie(r), 'renewed');
  });

  for (const [originSays, want] of [
    ['public, max-age=600', 'private, max-age=600'],
    ['max-age=60, s-maxage=3600', 'private, max-age=60'],
    [undefined, 'private'],
    ['no-store', 'no-store'],
    ['private, max-age=5', 'private, max-age=5'],
    ['public, max-age=600, private="x-debug"', 'private, max-age=600'],
  ]) {
    test(`a response carrying a renewal is never storable by a shared cache (origin: ${originSays ?? 'no Cache-Control'})`, async () => {
      const header = originSays ? `?header=${encodeURIComponent(`cache-control:${originSays}`)}` : '';
      const r = await request(`${edge.url}/respond${header}`, { headers: { cookie: `__Host-edgeauth=${token(3000, 600)}` } });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
      assert.ok(sessionCookie(r), 'renewed');
      assert.equal(r.headers.get('cache-control'), want);
    });
  }

  test('a response carrying a renewal loses its CDN-targeted cache fields', async () => {
    const headers = ['cdn-cache-control:max-age=600', 'cloudflare-cdn-cache-control:max-age=600', 'surrogate-control:max-age=600']
      .map((h) => `header=${encodeURIComponent(h)}`).join('&');
    const r = await request(`${edge.url}/respond?${headers}`, { headers: { cookie: `__Host-edgeauth=${token(3000, 600)}` } });
    await r.arrayBuffer();
    assert.ok(sessionCookie(r), 'renewed');
    for (const name of ['cdn-cache-control', 'cloudflare-cdn-cache-control', 'surrogate-control']) {
      assert.equal(r.headers.get(name), null, name);
    }
  });

  test("without a renewal the origin's Cache-Control is left as it is", async () => {
    const r = await request(`${edge.url}/respond?header=${encodeURIComponent('cache-control:public, max-age=600')}`, {
      headers: { cookie: `__Host-edgeauth=${token(60, 3540)}` },
    });
    await r.arrayBuffer();
    assert.equal(sessionCookie(r), undefined);
    assert.equal(r.headers.get('cache-control'), 'public, max-age=600');
  });

  test('before the threshold, and for bearer tokens, nothing is renewed', async () => {
    assert.equal(await renewedCookie(token(60, 3540)), undefined);
    assert.equal(await renewedCookie(token(3000, 600), 'bearer'), undefined);
  });
});

describe('POST /auth/login with the upstream store', () => {
  test('a 200 answer logs the user in with the upstream roles', async () => {
    const r = await postJson(upEdge, { username: 'up-ok', password: PASSWORD });
    assert.equal(r.status, 200);
    const body = await r.json();
    assert.equal(body.user, 'up-ok');
    assert.deepEqual(body.roles, ['staff']);
  });

  test('a redirect from upstream is a failed login, and the password is never re-posted', async () => {
    for (const status of [301, 302, 303, 307, 308]) {
      const r = await postJson(upEdge, { username: `up-redirect-${status}`, password: PASSWORD });
      assert.equal(r.status, 401, String(status));
      assert.equal(sessionCookie(r), undefined);
      assert.equal((await r.json()).error, 'invalid_credentials');
    }
    assert.deepEqual(upstream.captured, []);
  });

  for (const [username, what] of [['up-deny', '401'], ['up-5xx', '5xx'], ['up-badjson', 'bad JSON'], ['up-slow', 'timeout'], ['up-stall', 'a body stalled half-way']]) {
    test(`${what} from upstream fails closed with the generic 401`, async () => {
      const r = await postJson(upEdge, { username, password: PASSWORD });
      assert.equal(r.status, 401);
      assert.equal(sessionCookie(r), undefined);
      assert.equal((await r.json()).error, 'invalid_credentials');
    });
  }
});
