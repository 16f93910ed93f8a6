// The gateway under real `wrangler dev`, against a real origin on loopback: verification,
// access rules, path normalization, header hygiene, forwarding fidelity, origin failures,
// configuration failures, and every attack of tests/vectors/expect_fail.json refused at the edge.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';

import { crateVersion, freePort, navigate, receivedDuring, startOrigin, startWorker, stopAll } from './harness.mjs';
import { loadExpectFail } from './expect_fail_vectors.mjs';

const vectors = loadExpectFail();
const { doc } = vectors;
const RULES = JSON.stringify([
  { path: '/public/*', access: 'public' },
  { path: '/admin/*', roles: ['admin'] },
  { path: '/respond', access: 'public' },
  { path: '/slow', access: 'public' },
]);
const edgeVars = (originUrl) => ({
  SIGNING_KEY: vectors.privateJwk(),
  ISSUER: doc.issuer,
  SESSION_AUDIENCE: doc.audience,
  ACCESS_RULES: RULES,
  RESERVED_HEADERS: 'X-Remote-User',
  ORIGIN_TIMEOUT_MS: '2000',
  ORIGIN_URL: originUrl,
});
const request = (url, init = {}) => fetch(url, { signal: AbortSignal.timeout(15_000), redirect: 'manual', ...init });
const now = () => Math.floor(Date.now() / 1000);
const control = doc.cases.find((c) => c.name === 'valid_control');

/** A valid session token for the worker's (test-only) key, with `roles`. */
function session(roles = ['user', 'ops']) {
  const payload = control.payload.replace('["user","ops"]', JSON.stringify(roles));
  return vectors.build({ ...control, payload }, now());
}

/** GET with a raw, unnormalized request target (fetch would normalize it first). */
function rawGet(base, target, headers = {}) {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname, port, path: target, method: 'GET', headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.setTimeout(15_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

let origin;
let live;
let demo;
let down;
let nokey;

before(async () => {
  origin = await startOrigin();
  const deadPort = await freePort();
  [live, demo, down, nokey] = await Promise.all([
    startWorker({ name: 'live', vars: edgeVars(origin.url) }),
    startWorker({ name: 'demo', vars: edgeVars('') }),
    startWorker({ name: 'down', vars: edgeVars(`http://127.0.0.1:${deadPort}`) }),
    startWorker({ name: 'nokey', vars: { ...edgeVars(origin.url), SIGNING_KEY: '' }, readyStatus: 500 }),
  ]);
});

after(async () => {
  await stopAll();
  await origin?.close();
});

/** The requests the origin saw while `fn` ran. */
const seenDuring = (fn) => receivedDuring(origin, fn);

describe('endpoints served by the edge', () => {
  test('GET /healthz answers with the version and never reaches the origin', async () => {
    const seen = await seenDuring(async () => {
      const response = await request(`${live.url}/healthz`);
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { status: 'ok', version: crateVersion() });
    });
    assert.equal(seen.length, 0);
  });

  test('GET /.well-known/jwks.json publishes the public key, cacheable, without the private part', async () => {
    const response = await request(`${live.url}/.well-known/jwks.json`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('cache-control'), /public, max-age=\d+/);
    const jwks = await response.json();
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0].kid, doc.kid);
    assert.equal(jwks.keys[0].alg, 'EdDSA');
    assert.equal(jwks.keys[0].d, undefined);
  });
});

describe('valid sessions reach the origin with trusted identity headers', () => {
  for (const via of ['cookie', 'bearer']) {
    test(`via ${via}: identity headers set, credentials removed, assertion verifiable with the JWKS`, async () => {
      const token = session();
      const headers = via === 'cookie'
        ? { cookie: `theme=dark; __Host-edgeauth=${token}; lang=en` }
        : { authorization: `Bearer ${token}`, cookie: 'theme=dark' };
      const [seen] = await seenDuring(async () => {
        const response = await request(`${live.url}/app/items?x=1`, { headers });
        assert.equal(response.status, 200);
        await response.arrayBuffer();
      });
      assert.equal(seen.path, '/app/items');
      assert.equal(seen.query, 'x=1');
      assert.equal(seen.headers['x-auth-user'], 'alice');
      assert.equal(seen.headers['x-auth-roles'], 'user,ops');
      assert.equal(seen.headers['x-auth-session'], 'c2Vzc2lvbi1pZC0xMjM0NQ');
      assert.match(seen.headers['x-auth-expires'], /^\d+$/);
      assert.equal(seen.headers.authorization, undefined, 'the bearer token is not forwarded');
      assert.equal(seen.headers.cookie, via === 'cookie' ? 'theme=dark; lang=en' : 'theme=dark');
      const jwks = createRemoteJWKSet(new URL(`${live.url}/.well-known/jwks.json`));
      const { payload } = await jwtVerify(seen.headers['x-auth-assertion'], jwks, {
        algorithms: ['EdDSA'], issuer: doc.issuer, audience: 'origin',
      });
      assert.equal(payload.sub, 'alice');
      assert.equal(payload.sid, 'c2Vzc2lvbi1pZC0xMjM0NQ');
    });
  }

  test('the assertion the origin receives is refused as a session', async () => {
    const [seen] = await seenDuring(async () => {
      const r = await request(`${live.url}/app/x`, { headers: { authorization: `Bearer ${session()}` } });
      await r.arrayBuffer();
    });
    const seenAgain = await seenDuring(async () => {
      const r = await request(`${live.url}/app/x`, { headers: { authorization: `Bearer ${seen.headers['x-auth-assertion']}` } });
      assert.equal(r.status, 401);
      await r.arrayBuffer();
    });
    assert.equal(seenAgain.length, 0);
  });

  test('method, body, other headers and the origin response pass through unchanged', async () => {
    const body = Buffer.alloc(70_000);
    for (let i = 0; i < body.length; i += 1) body[i] = (i * 31 + 7) % 256;
    const response = await request(`${live.url}/blobs/1?draft=1`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${session()}`, 'content-type': 'application/octet-stream', 'x-client-note': 'hi' },
      body,
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-test-origin'), '1');
    const seen = await response.json();
    assert.equal(seen.method, 'PUT');
    assert.equal(seen.query, 'draft=1');
    assert.equal(seen.headers['x-client-note'], 'hi');
    assert.equal(seen.headers.host, new URL(origin.url).host);
    assert.ok(Buffer.from(seen.body_base64, 'base64').equals(body), 'the body changed on the way');
    const redirect = await request(`${live.url}/respond?status=302&location=/elsewhere`);
    assert.equal(redirect.status, 302, 'origin redirects are passed back, not followed');
    assert.equal(redirect.headers.get('location'), '/elsewhere');
    await redirect.arrayBuffer();
  });

  test('no protocol switch passes the edge: the origin never sees Upgrade', async () => {
    const r = await rawGet(live.url, '/socket', {
      authorization: `Bearer ${session()}`,
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-version': '13',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
    });
    assert.equal(r.status, 200, 'a plain request reaches the origin');
    const seen = JSON.parse(r.body);
    assert.equal(seen.path, '/socket');
    assert.equal(seen.headers.upgrade, undefined);
    assert.notEqual(seen.headers['x-auth-user'], undefined, 'the request was authenticated');
  });

  test("the origin's hop-by-hop response headers are dropped, its other headers kept", async () => {
    const headers = { authorization: `Bearer ${session()}` };
    const plain = await request(`${live.url}/respond?header=x-app:1`, { headers });
    assert.equal(plain.headers.get('x-app'), '1');
    assert.equal(plain.headers.get('content-type'), 'application/json');
    await plain.arrayBuffer();
    const hop = await request(`${live.url}/respond?header=x-app:2&header=proxy-authenticate:Basic`, { headers });
    assert.equal(hop.status, 200);
    assert.equal(hop.headers.get('x-app'), '2');
    assert.equal(hop.headers.get('proxy-authenticate'), null);
    assert.equal((await hop.json()).path, '/respond', 'the body is streamed through');
  });
});

describe('spoofed identity headers never reach the origin', () => {
  const spoofs = { 'X-Auth-User': 'admin', 'x-auth-roles': 'admin', X_Auth_User: 'admin', 'X.Auth.User': 'admin', 'X-Remote-User': 'admin' };
  for (const [label, extra] of [['anonymous, public route', {}], ['authenticated', { authorization: `Bearer ${session()}` }]]) {
    test(label, async () => {
      const [seen] = await seenDuring(async () => {
        const r = await request(`${live.url}/public/page`, { headers: { ...spoofs, ...extra } });
        assert.equal(r.status, 200);
        await r.arrayBuffer();
      });
      for (const name of Object.keys(seen.headers)) {
        const canonical = name.toLowerCase().replaceAll('_', '-').replaceAll('.', '-');
        if (canonical === 'x-remote-user') assert.fail('x-remote-user reached the origin');
        if (canonical.startsWith('x-auth-')) assert.notEqual(seen.headers[name], 'admin', `${name} reached the origin`);
      }
      assert.equal(seen.headers['x-auth-user'], extra.authorization ? 'alice' : undefined);
    });
  }
});

describe('every attack in the expect-fail file is refused at the edge', () => {
  // HTTP strips optional whitespace around header values (RFC 9110 §5.5) and forbids a newline
  // in one, so those cases cannot reach the edge as written; the native tests cover them.
  const onTheWire = doc.cases.filter((c) => c.expect !== 'ok' && !c.name.startsWith('whitespace_'));
  for (const via of ['bearer', 'cookie']) {
    test(`via ${via}: ${onTheWire.length} cases, none reaches the origin`, async () => {
      const seen = await seenDuring(async () => {
        for (const testCase of onTheWire) {
          const token = vectors.build(testCase, now());
          const headers = via === 'bearer' ? { authorization: `Bearer ${token}` } : { cookie: `__Host-edgeauth=${token}` };
          const response = await request(`${live.url}/app/secret`, { headers: { ...headers, accept: 'application/json' } });
          const body = await response.json();
          assert.ok([400, 401].includes(response.status), `${testCase.name}: status ${response.status}`);
          assert.ok(body.request_id, `${testCase.name}: no request id`);
          assert.doesNotMatch(JSON.stringify(body), /expired|signature|kid|issuer|audience|malformed/i, testCase.name);
        }
      });
      assert.equal(seen.length, 0, `the origin saw ${seen.map((s) => s.path)}`);
    });
  }

  test('the control token itself is accepted (so the refusals above are meaningful)', async () => {
    const response = await request(`${live.url}/app/secret`, { headers: { authorization: `Bearer ${vectors.build(control, now())}` } });
    assert.equal(response.status, 200);
    await response.arrayBuffer();
  });
});

describe('access rules', () => {
  test('public routes work without a token, and with a bad one as anonymous', async () => {
    for (const headers of [{}, { authorization: 'Bearer not.a.token' }]) {
      const [seen] = await seenDuring(async () => {
        const r = await request(`${live.url}/public/x`, { headers });
        assert.equal(r.status, 200);
        await r.arrayBuffer();
      });
      assert.equal(seen.headers['x-auth-user'], undefined);
    }
  });

  test('a role-protected route gives 403 without the role and 200 with it', async () => {
    const denied = await request(`${live.url}/admin/panel`, { headers: { authorization: `Bearer ${session(['user'])}` } });
    assert.equal(denied.status, 403);
    assert.equal((await denied.json()).error, 'forbidden');
    const allowed = await request(`${live.url}/admin/panel`, { headers: { authorization: `Bearer ${session(['admin'])}` } });
    assert.equal(allowed.status, 200);
    await allowed.arrayBuffer();
  });

  test('browser navigation is redirected to the login page, an API call gets 401', async () => {
    const nav = await navigate(`${live.url}/app/report?month=11`);
    assert.equal(nav.status, 302);
    assert.equal(nav.headers.get('location'), '/auth/login?next=%2Fapp%2Freport%3Fmonth%3D11');
    await nav.arrayBuffer();
    const api = await request(`${live.url}/app/report`, { headers: { accept: 'application/json' } });
    assert.equal(api.status, 401);
    assert.match(api.headers.get('www-authenticate'), /^Bearer/);
    const body = await api.json();
    assert.equal(body.error, 'unauthorized');
    assert.match(body.request_id, /\S/);
  });

  test('a cookie and a different bearer token together are refused', async () => {
    const r = await request(`${live.url}/app/x`, {
      headers: { cookie: `__Host-edgeauth=${session(['user'])}`, authorization: `Bearer ${session(['admin'])}` },
    });
    assert.equal(r.status, 400);
    await r.arrayBuffer();
  });
});

describe('path tricks never reach a protected resource', () => {
  const tricks = ['/public/../admin', '/public/%2e%2e/admin', '/public/%2E%2E/admin/x', '//admin', '/admin%2f..',
    '/public%2f..%2fadmin', '/ADMIN', '/admin;x', '/admin?x=/public', '/public/..%5cadmin', '/admin%00'];
  test('anonymous: refused, and the origin sees none of them', async () => {
    const seen = await seenDuring(async () => {
      for (const target of tricks) {
        const r = await rawGet(live.url, target, { accept: 'application/json' });
        assert.ok([400, 401].includes(r.status), `${target}: ${r.status}`);
      }
    });
    assert.deepEqual(seen.map((s) => s.path), []);
  });

  test('authenticated without the admin role: refused wherever the path lands on /admin', async () => {
    const user = { authorization: `Bearer ${session(['user'])}` };
    for (const target of ['/public/../admin', '/public/%2e%2e/admin', '//admin', '/admin;x', '/admin?x=/public']) {
      const r = await rawGet(live.url, target, user);
      assert.ok([400, 403].includes(r.status), `${target}: ${r.status}`);
    }
  });

  test('the origin receives exactly the normalized path that was checked', async () => {
    const [seen] = await seenDuring(async () => {
      const r = await rawGet(live.url, '/public/./a//b/%7Euser/%61?q=/admin');
      assert.equal(r.status, 200);
    });
    assert.equal(seen.url, '/public/a/b/~user/a?q=/admin');
  });
});

describe('failures fail closed', () => {
  test('origin down: 502 with a generic body naming no address', async () => {
    const r = await request(`${down.url}/public/x`);
    assert.equal(r.status, 502);
    const text = await r.text();
    const body = JSON.parse(text);
    assert.equal(body.error, 'bad_gateway');
    assert.doesNotMatch(text, /127\.0\.0\.1|localhost|:\d{2,5}/);
  });

  test('origin too slow: 504', async () => {
    const r = await request(`${live.url}/slow?ms=5000`);
    assert.equal(r.status, 504);
    assert.equal((await r.json()).error, 'gateway_timeout');
  });

  test('missing signing key: 500 on every path, public ones and /healthz included, nothing forwarded', async () => {
    const seen = await seenDuring(async () => {
      for (const path of ['/healthz', '/public/x', '/app/x', '/.well-known/jwks.json']) {
        const r = await request(`${nokey.url}${path}`, { headers: { authorization: `Bearer ${session()}` } });
        assert.equal(r.status, 500, path);
        const body = await r.json();
        assert.equal(body.error, 'internal_error');
        assert.doesNotMatch(JSON.stringify(body), /SIGNING_KEY/);
      }
    });
    assert.equal(seen.length, 0);
  });
});

describe('the built-in demo origin', () => {
  test('shows the identity headers the edge added', async () => {
    const r = await request(`${demo.url}/hello?name=edge`, { headers: { authorization: `Bearer ${session()}` } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-edgeauth-demo-origin'), '1');
    const seen = await r.json();
    assert.equal(seen.path, '/hello');
    assert.equal(seen.headers['x-auth-user'], 'alice');
  });
});
