// The origin receives exactly what was checked, under real `wrangler dev` with a real origin:
// every spelling of a path either refused or forwarded as the very path that was matched (with
// `;parameters` refused by default, stripped when configured); no credential the edge did not
// accept, no routing or method-override header from the client, no method other than the one
// matched, and TRACE refused.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { receivedDuring, startOrigin, startWorker, stopAll } from './harness.mjs';
import { loadExpectFail } from './expect_fail_vectors.mjs';

const vectors = loadExpectFail();
const { doc } = vectors;
const control = doc.cases.find((c) => c.name === 'valid_control');
const RULES = JSON.stringify([
  { path: '/public/*', access: 'public' },
  { path: '/admin/*', roles: ['admin'] },
  { path: '/billing', roles: ['billing'] },
  { path: '/dav/*', methods: ['GET'], access: 'public' },
]);
const vars = (originUrl, extra = {}) => ({
  SIGNING_KEY: vectors.privateJwk(),
  ISSUER: doc.issuer,
  SESSION_AUDIENCE: doc.audience,
  ACCESS_RULES: RULES,
  ORIGIN_URL: originUrl,
  AUDIT_SAMPLE_ALLOWED: '1',
  ...extra,
});
const now = () => Math.floor(Date.now() / 1000);

/** A session token for the worker's (test-only) key with `roles`; `expIn` seconds left. */
function session(roles, expIn = 3600) {
  const payload = control.payload
    .replace('["user","ops"]', JSON.stringify(roles))
    .replace('{now+3600}', expIn >= 0 ? `{now+${expIn}}` : `{now-${-expIn}}`);
  return vectors.build({ ...control, payload }, now());
}

/**
 * One request with its target as given (fetch would normalize it) and header lines as given,
 * repeated names included; resolves with the status once the answer has been read.
 */
function raw(base, { method = 'GET', target, headers = [] }) {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const lines = ['host', `${hostname}:${port}`, ...headers.flat()]; // an array: no Host of its own
    const req = http.request({ hostname, port, path: target, method, headers: lines, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers }));
    });
    req.setTimeout(15_000, () => req.destroy(new Error(`timeout: ${method} ${target}`)));
    req.on('error', reject);
    req.end();
  });
}

let origin;
let strict;
let lenient;

before(async () => {
  origin = await startOrigin();
  [strict, lenient] = await Promise.all([
    startWorker({ name: 'checked-strict', vars: vars(origin.url) }),
    startWorker({ name: 'checked-lenient', vars: vars(origin.url, { PATH_PARAMETERS: 'strip', FORWARD_CLIENT_AUTHORIZATION: 'true' }) }),
  ]);
});

after(async () => {
  await stopAll();
  await origin?.close();
});

/** The requests the origin saw while `fn` ran. */
const seenDuring = (fn) => receivedDuring(origin, fn);

const credentials = (token) => ({
  cookie: [['cookie', `__Host-edgeauth=${token}`]],
  bearer: [['authorization', `Bearer ${token}`]],
});

// Each aims at /admin/* through the public prefix or at /admin itself. The runtime's URL parser
// resolves `x;y/..` itself before the edge sees the path (a `;` segment is no dot segment to it),
// so some arrive at /public/admin or /admin: [target, what the edge sees, parameters stripped].
const PARAMETER_TRICKS = [
  ['/public/..;/admin', 'parameter', '/admin'],
  ['/public/..;x/admin', 'parameter', '/admin'],
  ['/public/..;x;y/admin/users', 'parameter', '/admin/users'],
  ['/public/.;x/../admin', '/public/admin', '/public/admin'],
  ['/public/;x/../admin', '/public/admin', '/public/admin'],
  ['/public;x/../admin', '/admin', '/admin'],
  ['/;x/admin', 'parameter', '/admin'],
  ['/public/%2e%2e;x/admin', 'parameter', '/admin'],
  ['/public/.%2E;x/admin', 'parameter', '/admin'],
  ['/admin;x', 'parameter', '/admin'],
  ['/admin;jsessionid=1/users', 'parameter', '/admin/users'],
  ['/public/%2e%2e;/admin/', 'parameter', '/admin/'],
];
const isPublic = (path) => path === '/public' || path.startsWith('/public/');
const isAdmin = (path) => path === '/admin' || path.startsWith('/admin/');
const OTHER_TRICKS = ['/public/..%3Bx/admin', '/public/..%3b/admin', '/admin%3Bx', '/public/%252e%252e/admin',
  '/public/%c0%ae%c0%ae/admin', '/public/%2e%2e%2fadmin', '/admin%0d%0a', '/public/...', '/public/..%20/admin',
  '/public/..::$DATA/admin', '/public/%EF%BC%8E%EF%BC%8E/admin', '/public/%EF%BC%8E%EF%BC%8E%EF%BC%8Fadmin', '/adm%C4%B0n',
  '/%E2%84%AAey'];
// Spellings other origins read as /admin…: forwarded as they are, but only to callers /admin admits.
const READ_AS_ADMIN = ['/admin.', '/admin./users', '/admin%2e', '/admin%20', '/admin%20/users', '/admin::$DATA', '/ADMIN/x',
  '/Admin', '/admin.json', '/ADMIN.json', '/public/../ADMIN/'];

describe('path spellings: refused by default', () => {
  for (const [who, roles] of [['anonymous', null], ['a user without the role', ['user']]]) {
    for (const via of roles ? ['cookie', 'bearer'] : ['none']) {
      test(`${who} (${via}): parameters and ambiguous segments get 400; nothing reaches a path the caller may not see`, async () => {
        const headers = roles ? credentials(session(roles))[via] : [['accept', 'application/json']];
        const refusedAs = roles ? 403 : 401;
        for (const [target, seenAs] of PARAMETER_TRICKS) {
          const seen = await seenDuring(async () => {
            const r = await raw(strict.url, { target, headers });
            const want = seenAs === 'parameter' ? 400 : isPublic(seenAs) ? 200 : refusedAs;
            assert.equal(r.status, want, target);
          });
          assert.deepEqual(seen.map((s) => s.path), seenAs === 'parameter' || !isPublic(seenAs) ? [] : [seenAs], target);
        }
        const seen = await seenDuring(async () => {
          for (const target of OTHER_TRICKS) {
            assert.equal((await raw(strict.url, { target, headers })).status, 400, target);
          }
          for (const target of READ_AS_ADMIN) {
            assert.equal((await raw(strict.url, { target, headers })).status, refusedAs, target);
          }
        });
        assert.deepEqual(seen.map((s) => s.url), []);
      });
    }
  }

  test('what Windows, case-insensitive or format-routing origins read as /admin reaches them for an admin only, as sent', async () => {
    const admin = credentials(session(['admin'])).cookie;
    const seen = await seenDuring(async () => {
      for (const target of READ_AS_ADMIN) {
        assert.equal((await raw(strict.url, { target, headers: admin })).status, 200, target);
      }
    });
    assert.deepEqual(seen.map((s) => s.url), ['/admin.', '/admin./users', '/admin.', '/admin%20', '/admin%20/users', '/admin::$DATA',
      '/ADMIN/x', '/Admin', '/admin.json', '/ADMIN.json', '/ADMIN/']);
  });

  test('a role-protected exact path is protected with a trailing slash too', async () => {
    const user = credentials(session(['user'])).bearer;
    for (const target of ['/billing', '/billing/', '/public/../billing/']) {
      assert.equal((await raw(strict.url, { target, headers: user })).status, 403, target);
    }
    const [seen] = await seenDuring(async () => {
      const r = await raw(strict.url, { target: '/public/../billing/', headers: credentials(session(['billing'])).bearer });
      assert.equal(r.status, 200);
    });
    assert.equal(seen.url, '/billing/');
  });

  test('unreserved escapes are decoded, reserved ones kept (upper-case hex), rules see them decoded', async () => {
    const seen = await seenDuring(async () => {
      for (const target of ['/public/a%3ab', '/public/a:b', '/public/x|y', '/public/x%7cy', '/public/%7Euser/%41', '/public/c%2B%2B']) {
        assert.equal((await raw(strict.url, { target })).status, 200, target);
      }
    });
    assert.deepEqual(seen.map((s) => s.url), ['/public/a%3Ab', '/public/a:b', '/public/x|y', '/public/x%7Cy', '/public/~user/A',
      '/public/c%2B%2B']);
    const user = credentials(session(['user'])).bearer;
    assert.equal((await raw(strict.url, { target: '/%61dmin/x', headers: user })).status, 403);
  });
});

describe('path spellings with PATH_PARAMETERS=strip: matched and forwarded as Tomcat reads them', () => {
  for (const via of ['cookie', 'bearer']) {
    test(`anonymous gets 401, a user without the role 403, an admin reaches the stripped path (${via})`, async () => {
      const user = credentials(session(['user']))[via];
      const admin = credentials(session(['admin']))[via];
      for (const [target, , stripped] of PARAMETER_TRICKS) {
        const refused = await seenDuring(async () => {
          const anonymous = await raw(lenient.url, { target, headers: [['accept', 'application/json']] });
          assert.equal(anonymous.status, isPublic(stripped) ? 200 : 401, target);
          assert.equal((await raw(lenient.url, { target, headers: user })).status, isPublic(stripped) ? 200 : 403, target);
        });
        assert.ok(refused.every((s) => !isAdmin(s.path)), target);
        const admitted = await seenDuring(async () => {
          assert.equal((await raw(lenient.url, { target, headers: admin })).status, 200, target);
        });
        assert.deepEqual(admitted.map((s) => s.path), [stripped], target);
      }
    });
  }

  test('what is refused either way stays refused', async () => {
    const seen = await seenDuring(async () => {
      for (const target of OTHER_TRICKS) {
        assert.equal((await raw(lenient.url, { target })).status, 400, target);
      }
    });
    assert.deepEqual(seen, []);
  });
});

describe('credentials the edge did not accept', () => {
  const forged = `${session(['admin']).slice(0, -4)}AAAA`;
  const expired = session(['admin'], -600);
  const unverified = [['forged', `Bearer ${forged}`], ['expired', `Bearer ${expired}`], ['not ours', 'Bearer opaque-api-token'],
    ['another scheme', 'Basic dXNlcjpwdw==']];

  test('are not forwarded on public routes by default', async () => {
    const seen = await seenDuring(async () => {
      for (const [, authorization] of unverified) {
        assert.equal((await raw(strict.url, { target: '/public/x', headers: [['authorization', authorization]] })).status, 200);
      }
    });
    assert.equal(seen.length, unverified.length);
    for (const s of seen) {
      assert.equal(s.headers.authorization, undefined);
      assert.equal(s.headers['x-auth-user'], undefined);
    }
  });

  test('are forwarded as they are with FORWARD_CLIENT_AUTHORIZATION, a valid session never', async () => {
    const seen = await seenDuring(async () => {
      for (const [, authorization] of [...unverified, ['valid', `Bearer ${session(['user'])}`]]) {
        assert.equal((await raw(lenient.url, { target: '/public/x', headers: [['authorization', authorization]] })).status, 200);
      }
    });
    assert.deepEqual(seen.map((s) => s.headers.authorization), [...unverified.map(([, a]) => a), undefined]);
    assert.equal(seen.at(-1).headers['x-auth-user'], 'alice');
  });

  test('cookies an origin could read as the session cookie are stripped', async () => {
    const [seen] = await seenDuring(async () => {
      const cookie = `a=1; __HOST-EDGEAUTH=${session(['admin'])}; %5F%5FHost-edgeauth=x; __host-edgeauth=y; b=2`;
      assert.equal((await raw(strict.url, { target: '/public/x', headers: [['cookie', cookie]] })).status, 200);
    });
    assert.equal(seen.headers.cookie, 'a=1; b=2');
  });

  test('a session cookie on a second Cookie line is refused, on public routes too', async () => {
    const token = session(['admin']);
    const seen = await seenDuring(async () => {
      for (const target of ['/public/x', '/admin/x']) {
        for (const headers of [
          [['cookie', 'theme=dark'], ['cookie', `__Host-edgeauth=${token}`]],
          [['cookie', `__Host-edgeauth=${session(['user'])}`], ['cookie', `__Host-edgeauth=${token}`]],
          [['cookie', `theme=dark,__Host-edgeauth=${token}`]],
        ]) {
          assert.equal((await raw(strict.url, { target, headers })).status, 400, `${target} ${JSON.stringify(headers)}`);
        }
      }
    });
    assert.deepEqual(seen, []);
  });
});

describe('/auth is the edge\'s in every spelling', () => {
  test('no spelling of /auth/… reaches the origin, and escaped ones reach the edge\'s own route', async () => {
    const seen = await seenDuring(async () => {
      for (const target of ['/AUTH/session', '/Auth/login', '/auth/nothing', '/AUTH']) {
        assert.equal((await raw(strict.url, { target })).status, 404, target);
      }
      // Canonically /auth/session: the edge answers it (no session: 401).
      for (const target of ['/%61uth/session', '//auth/./session', '/public/../auth/session']) {
        assert.equal((await raw(strict.url, { target })).status, 401, target);
      }
    });
    assert.deepEqual(seen, []);
  });
});

describe('a second path or method the origin acts on', () => {
  test('a WebDAV Destination is checked like the request path, and forwarded in its canonical form', async () => {
    const user = credentials(session(['user'])).bearer;
    const admin = credentials(session(['admin'])).bearer;
    const { host } = new URL(strict.url);
    const refused = await seenDuring(async () => {
      for (const destination of [`http://${host}/admin/x`, '/admin/x', '/ADMIN/x', '/public/../admin/x']) {
        const r = await raw(strict.url, { method: 'COPY', target: '/public/x', headers: [...user, ['destination', destination]] });
        assert.equal(r.status, 403, destination);
      }
      for (const destination of ['/admin;x', 'admin/x', '//evil.example/x', '/admin/secret?x=://h/public/y',
        'http://other.example/public/y', `http://u@${host}/public/y`]) {
        const r = await raw(strict.url, { method: 'MOVE', target: '/public/x', headers: [...admin, ['destination', destination]] });
        assert.equal(r.status, 400, destination);
      }
    });
    assert.deepEqual(refused, []);
    const seen = await seenDuring(async () => {
      for (const destination of ['/admin/x', `http://${host}/public/caf%c3%a9/./y//z`]) {
        const r = await raw(strict.url, { method: 'COPY', target: '/public/x', headers: [...admin, ['destination', destination]] });
        assert.equal(r.status, 200, destination);
      }
    });
    assert.deepEqual(seen.map((s) => s.method), ['COPY', 'COPY']);
    assert.deepEqual(seen.map((s) => s.headers.destination), ['/admin/x', `http://${host}/public/caf%C3%A9/y/z`]);
  });

  test('a _method override in the query is refused', async () => {
    const seen = await seenDuring(async () => {
      for (const query of ['_method=DELETE', 'a=1&_method=PUT', '%5Fmethod=PATCH', '.method=DELETE']) {
        assert.equal((await raw(strict.url, { method: 'POST', target: `/public/x?${query}` })).status, 400, query);
      }
    });
    assert.deepEqual(seen, []);
  });
});

describe('routing and method-override headers', () => {
  test('never reach the origin from a client; X-Forwarded-* are the edge’s', async () => {
    const spoofed = [['X-Original-URL', '/admin'], ['X-Rewrite-URL', '/admin'], ['X-HTTP-Method-Override', 'DELETE'],
      ['X-HTTP-Method', 'DELETE'], ['X-Method-Override', 'DELETE'], ['X-Forwarded-Host', 'evil.example'],
      ['X-Forwarded-Prefix', '/admin'], ['X-Forwarded-For', '10.9.9.9'], ['X-Forwarded-Proto', 'gopher'],
      ['X_Forwarded_Host', 'evil.example'], ['Forwarded', 'for=10.9.9.9;host=evil.example'], ['X-Real-IP', '10.9.9.9'],
      ['X-Script-Name', '/admin'], ['X-Original-Forwarded-For', '10.9.9.9']];
    const [seen] = await seenDuring(async () => {
      assert.equal((await raw(strict.url, { target: '/public/x', headers: spoofed })).status, 200);
    });
    for (const [name] of spoofed) {
      const value = seen.headers[name.toLowerCase()];
      assert.ok(!/evil|10\.9\.9\.9|admin|DELETE|gopher/.test(value ?? ''), `${name}: ${value}`);
    }
    for (const name of ['x-original-url', 'x-rewrite-url', 'x-http-method-override', 'x-http-method', 'x-method-override',
      'x-forwarded-prefix', 'x_forwarded_host', 'forwarded', 'x-real-ip', 'x-script-name', 'x-original-forwarded-for']) {
      assert.equal(seen.headers[name], undefined, name);
    }
    const { host } = new URL(strict.url);
    assert.equal(seen.headers['x-forwarded-host'], host);
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
  });
});

describe('methods', () => {
  test('an unknown method is matched and forwarded as itself, never as GET', async () => {
    const anonymous = await seenDuring(async () => {
      // /dav/* is public for GET only: PROPFIND needs a session.
      const r = await raw(strict.url, { method: 'PROPFIND', target: '/dav/file', headers: [['accept', 'application/json']] });
      assert.equal(r.status, 401);
    });
    assert.deepEqual(anonymous, []);
    const seen = await seenDuring(async () => {
      for (const method of ['PROPFIND', 'MKCOL', 'REPORT', 'PATCH']) {
        const r = await raw(strict.url, { method, target: '/dav/file', headers: credentials(session(['user'])).bearer });
        assert.equal(r.status, 200, method);
      }
      assert.equal((await raw(strict.url, { method: 'GET', target: '/dav/file' })).status, 200);
    });
    assert.deepEqual(seen.map((s) => s.method), ['PROPFIND', 'MKCOL', 'REPORT', 'PATCH', 'GET']);
  });

  test('TRACE is refused with 405 (TRACK is refused by the runtime itself), on public routes and with a session', async () => {
    const seen = await seenDuring(async () => {
      for (const [method, statuses] of [['TRACE', [405]], ['TRACK', [405, 501]]]) {
        for (const headers of [[], credentials(session(['admin'])).bearer]) {
          const r = await raw(strict.url, { method, target: '/public/x', headers });
          assert.ok(statuses.includes(r.status), `${method}: ${r.status}`);
        }
      }
    });
    assert.deepEqual(seen, []);
  });
});
