// Two apps behind one `wrangler dev`, on two hosts, with two origins, and one sign-on through the
// auth host (APPS, AUTH_HOST). Hosts are names on loopback: every request goes to 127.0.0.1 with
// the `Host` a browser would send, and a small cookie jar keeps each host's cookies apart as a
// browser does. Checks: sign in once and reach both apps; a session of one app refused by the
// other; a handoff replayed, sent to the wrong app, or redeemed without the browser's nonce
// refused; only configured apps get a handoff; an unconfigured, missing or doubled Host refused;
// logout of one app and of all; XHR and preflight on an app; each app's own assertion audience.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';

import { ROOT, kvPut, startOrigin, startWorker, stopAll } from './harness.mjs';
import { loadExpectFail } from './expect_fail_vectors.mjs';

const vectors = loadExpectFail();
const BIN = process.env.EDGEAUTH_BIN ?? path.join(ROOT, 'target', 'debug', 'edgeauth');
const PASSWORD = 'correct horse battery staple';

let edge;
let port;
let wikiOrigin;
let toolsOrigin;
let jwks;
const AUTH = () => `auth.test:${port}`;
const WIKI = () => `wiki.test:${port}`;
const TOOLS = () => `x.tools.test:${port}`;

function record(roles) {
  const run = spawnSync(BIN, ['add-user', 'x', '--roles', roles.join(','), '--record-only'], { input: `${PASSWORD}\n`, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim();
}

/**
 * One request to the edge for `host`, as node:http sends it (no redirect followed). `host: null`
 * sends no Host header at all.
 */
function send(host, target, { method = 'GET', headers = {}, body } = {}) {
  const sent = { ...headers };
  if (host !== null) sent.host = host;
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: target, method, headers: sent, setHost: false, timeout: 15_000 },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => resolve({
          status: res.statusCode,
          headers: res.headers,
          cookies: res.headers['set-cookie'] ?? [],
          text: Buffer.concat(chunks).toString('utf8'),
        }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${host}${target}: timed out`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// Password users, taken in turn by each new browser: no user logs in more than LOGIN_USER_LIMIT
// (5) times in this file, and all logins and logouts together stay under LOGIN_IP_LIMIT (50),
// so no rate-limit window, wherever it falls, can refuse one.
const USERS = ['alice', 'bob', 'erin', 'frank', 'grace', 'ivan', 'judy', 'mike'];
let browsers = 0;

/** A browser's cookies by host name, as `__Host-` cookies are: each host its own. */
class Browser {
  constructor() {
    this.jar = new Map();
    this.user = USERS[browsers++ % USERS.length];
  }

  cookieHeader(host) {
    const cookies = this.jar.get(host.split(':')[0]) ?? new Map();
    return [...cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  cookie(host, name) {
    return this.jar.get(host.split(':')[0])?.get(name);
  }

  keep(host, response) {
    const name = host.split(':')[0];
    const cookies = this.jar.get(name) ?? new Map();
    for (const line of response.cookies) {
      const [pair, ...attributes] = line.split(';');
      const at = pair.indexOf('=');
      const maxAge = attributes.find((a) => /^\s*max-age=/i.test(a));
      if (maxAge && Number(maxAge.split('=')[1]) <= 0) cookies.delete(pair.slice(0, at));
      else cookies.set(pair.slice(0, at), pair.slice(at + 1));
    }
    this.jar.set(name, cookies);
  }

  /** A top-level navigation to `host` + `target`, with this browser's cookies for that host. */
  async navigate(host, target) {
    const cookie = this.cookieHeader(host);
    const response = await send(host, target, {
      headers: { accept: 'text/html', 'sec-fetch-mode': 'navigate', ...(cookie ? { cookie } : {}) },
    });
    this.keep(host, response);
    return response;
  }

  /** Follows redirects from a navigation, across hosts, until an answer that is not one. */
  async follow(host, target, { until = () => false, limit = 10 } = {}) {
    let response = await this.navigate(host, target);
    const hops = [{ host, target, status: response.status }];
    while ([302, 303].includes(response.status) && !until(response, host) && hops.length < limit) {
      const next = new URL(response.headers.location, `http://${host}${target}`);
      host = next.host;
      target = `${next.pathname}${next.search}`;
      response = await this.navigate(host, target);
      hops.push({ host, target, status: response.status });
    }
    return { response, hops, host, target };
  }

  /** The password login form, posted from the auth host's login page. */
  async logIn(target, username = this.user) {
    const host = AUTH();
    const next = new URL(target, 'http://x').searchParams.get('next') ?? '/';
    const cookie = this.cookieHeader(host);
    const response = await send(host, '/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: `http://${host}`, accept: 'text/html', ...(cookie ? { cookie } : {}) },
      body: new URLSearchParams({ username, password: PASSWORD, next }).toString(),
    });
    this.keep(host, response);
    return response;
  }

  /** From a page on an app to that page with a session: the handoff, a login where one is needed. */
  async signInAt(host, page, username = this.user) {
    const needsLogin = (r, at) => at === AUTH() && r.headers.location.startsWith('/auth/login');
    let { response, host: at, target } = await this.follow(host, page, { until: needsLogin });
    if (at === AUTH() && response.status === 303 && response.headers.location.startsWith('/auth/login')) {
      const login = await this.logIn(response.headers.location, username);
      assert.equal(login.status, 303, login.text);
      ({ response, host: at, target } = await this.follow(AUTH(), login.headers.location));
    }
    return { response, host: at, target };
  }
}

const assertionOf = async (received, audience) => {
  const { payload } = await jwtVerify(received.headers['x-auth-assertion'] ?? '', jwks, { audience, issuer: 'edgeauth' });
  return payload;
};

before(async () => {
  [wikiOrigin, toolsOrigin] = await Promise.all([startOrigin(), startOrigin()]);
  edge = await startWorker({
    name: 'apps',
    // No app is served on 127.0.0.1: the health check there answers 421 like any other path.
    readyStatus: 421,
    vars: {
      SIGNING_KEY: vectors.privateJwk(),
      ISSUER: 'edgeauth',
      // wrangler.toml's demo rules: unset (empty), since each app has its own.
      ACCESS_RULES: '',
      AUTH_HOST: 'auth.test',
      APPS: JSON.stringify([
        {
          id: 'wiki',
          hosts: ['wiki.test'],
          origin: wikiOrigin.url,
          rules: [
            { path: '/public/*', access: 'public' },
            { path: '/api/*', access: 'authenticated', preflight: 'pass' },
            { path: '/admin/*', roles: ['admin'] },
          ],
        },
        { id: 'tools', hosts: ['*.tools.test'], origin: toolsOrigin.url, assertion_binding: 'request' },
      ]),
    },
  });
  port = Number(new URL(edge.url).port);
  await Promise.all([
    ...USERS.map((name) => kvPut(edge, `user:${name}`, record(['user']))),
    kvPut(edge, 'user:root', record(['user', 'admin'])),
  ]);
  const keys = await send(WIKI(), '/.well-known/jwks.json');
  assert.equal(keys.status, 200);
  jwks = createLocalJWKSet(JSON.parse(keys.text));
});

after(async () => {
  await stopAll();
  await wikiOrigin?.close();
  await toolsOrigin?.close();
});

describe('hosts', () => {
  test('a host no app is served on is refused with 421 and reaches no origin', async () => {
    const before = wikiOrigin.received.length + toolsOrigin.received.length;
    for (const host of ['other.test', `127.0.0.1:${port}`, 'tools.test', 'a.b.tools.test', 'wiki.test.evil.org']) {
      const response = await send(host, '/public/page');
      assert.equal(response.status, 421, host);
      assert.equal(JSON.parse(response.text).error, 'misdirected_request');
    }
    assert.equal(wikiOrigin.received.length + toolsOrigin.received.length, before);
  });

  test('a missing, doubled or malformed Host is refused and reaches no origin', async () => {
    const before = wikiOrigin.received.length + toolsOrigin.received.length;
    const missing = await send(null, '/public/page');
    assert.ok(missing.status >= 400 && missing.status < 500, `missing Host: ${missing.status}`);
    // Two values joined by a comma: wrangler's dev proxy cannot make a URL of it and answers 500
    // itself, before the Worker runs (the edge's own refusal of it, 400, is a unit test).
    const malformed = await send('wiki.test, x.tools.test', '/public/page');
    assert.ok(malformed.status >= 400, `joined Host: ${malformed.status}`);
    // Two Host lines on the wire: refused before the Worker (wrangler's dev proxy answers 500 for
    // both of these; Cloudflare's edge answers 400), and the origin never sees it.
    const doubled = await new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.write(`GET /public/page HTTP/1.1\r\nHost: wiki.test\r\nHost: x.tools.test\r\nConnection: close\r\n\r\n`);
      });
      let text = '';
      socket.on('data', (chunk) => { text += chunk; });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(doubled)?.[1]);
    assert.ok(status >= 400, `doubled Host: ${doubled.slice(0, 80)}`);
    assert.equal(wikiOrigin.received.length + toolsOrigin.received.length, before);
  });

  test('the auth host forwards nothing; health and keys answer on every app', async () => {
    const page = await send(AUTH(), '/public/page');
    assert.equal(page.status, 404);
    for (const host of [AUTH(), WIKI(), TOOLS()]) {
      assert.equal((await send(host, '/healthz')).status, 200, host);
    }
    const wikiKeys = await send(WIKI(), '/.well-known/jwks.json');
    const toolsKeys = await send(TOOLS(), '/.well-known/jwks.json');
    assert.equal(wikiKeys.text, toolsKeys.text);
  });

  test('each app forwards to its own origin, with its rules', async () => {
    const wiki = await send(WIKI(), '/public/a');
    assert.equal(wiki.status, 200);
    assert.equal(wikiOrigin.received.at(-1).path, '/public/a');
    // tools has no public rule: everything needs a session.
    assert.equal((await send(TOOLS(), '/public/a')).status, 401);
  });
});

describe('one sign-on across two apps', () => {
  const browser = new Browser();
  let wikiSession;
  let toolsSession;

  test('a page of an app without a session goes through the auth host to a login, then back', async () => {
    const first = await browser.navigate(WIKI(), '/docs?page=2');
    assert.equal(first.status, 302);
    assert.equal(first.headers.location, '/auth/login?next=%2Fdocs%3Fpage%3D2');
    const start = await browser.navigate(WIKI(), first.headers.location);
    assert.equal(start.status, 303);
    const toAuth = new URL(start.headers.location, `http://${WIKI()}`);
    assert.equal(toAuth.host, AUTH());
    assert.equal(toAuth.pathname, '/auth/handoff');
    assert.equal(toAuth.searchParams.get('app'), WIKI());
    assert.equal(toAuth.searchParams.get('next'), '/docs?page=2');
    assert.ok(browser.cookie(WIKI(), '__Host-edgeauth-handoff'), 'the nonce cookie is set on the app');
    assert.equal(start.headers['referrer-policy'], 'no-referrer');

    const atAuth = await browser.navigate(AUTH(), `${toAuth.pathname}${toAuth.search}`);
    assert.equal(atAuth.status, 303);
    assert.ok(atAuth.headers.location.startsWith('/auth/login?next=%2Fauth%2Fhandoff%3F'), atAuth.headers.location);

    const login = await browser.logIn(atAuth.headers.location);
    assert.equal(login.status, 303, login.text);
    assert.ok(login.headers.location.startsWith('/auth/handoff?'), login.headers.location);
    assert.ok(browser.cookie(AUTH(), '__Host-edgeauth'), 'the auth host holds the login');

    const issued = await browser.navigate(AUTH(), login.headers.location);
    assert.equal(issued.status, 303);
    assert.equal(issued.headers['referrer-policy'], 'no-referrer');
    const toApp = new URL(issued.headers.location, `http://${AUTH()}`);
    assert.equal(toApp.host, WIKI());
    assert.equal(toApp.pathname, '/auth/handoff');

    const redeemed = await browser.navigate(WIKI(), `${toApp.pathname}${toApp.search}`);
    assert.equal(redeemed.status, 303, redeemed.text);
    assert.equal(redeemed.headers.location, '/docs?page=2');
    wikiSession = browser.cookie(WIKI(), '__Host-edgeauth');
    assert.ok(wikiSession, 'the app sets its own cookie');
    assert.equal(browser.cookie(WIKI(), '__Host-edgeauth-handoff'), undefined, 'the nonce is used up');

    const page = await browser.navigate(WIKI(), '/docs?page=2');
    assert.equal(page.status, 200);
    const seen = wikiOrigin.received.at(-1);
    assert.equal(seen.url, '/docs?page=2');
    assert.equal(seen.headers['x-auth-user'], browser.user);
    const assertion = await assertionOf(seen, 'origin:wiki');
    assert.equal(assertion.sub, browser.user);
    assert.equal(typeof assertion.psid, 'string');
  });

  test('the second app signs on without a second login', async () => {
    const { response, host, target } = await browser.signInAt(TOOLS(), '/reports');
    assert.equal(host, TOOLS());
    assert.equal(target, '/reports');
    assert.equal(response.status, 200, response.text);
    toolsSession = browser.cookie(TOOLS(), '__Host-edgeauth');
    assert.ok(toolsSession);
    assert.notEqual(toolsSession, wikiSession);
    const seen = toolsOrigin.received.at(-1);
    assert.equal(seen.path, '/reports');
    // tools binds its assertions to the request: its audience, its host.
    const assertion = await assertionOf(seen, 'origin:tools');
    assert.equal(assertion.htu, `http://${TOOLS()}/reports`);
    await assert.rejects(assertionOf(seen, 'origin:wiki'));
  });

  test("a session of one app is refused by the other, and the auth host's by both", async () => {
    const central = browser.cookie(AUTH(), '__Host-edgeauth');
    for (const [host, token] of [[TOOLS(), wikiSession], [WIKI(), toolsSession], [WIKI(), central], [TOOLS(), central]]) {
      for (const headers of [{ cookie: `__Host-edgeauth=${token}` }, { authorization: `Bearer ${token}` }]) {
        const response = await send(host, '/private', { headers });
        assert.equal(response.status, 401, `${host} ${Object.keys(headers)[0]}`);
      }
    }
    // An app's session opens nothing at the auth host either.
    const atAuth = await send(AUTH(), '/auth/session', { headers: { cookie: `__Host-edgeauth=${wikiSession}` } });
    assert.equal(atAuth.status, 401);
  });

  test('XHR and fetch calls get 401, never a login page; a preflight passes where its rule says', async () => {
    const xhr = await send(WIKI(), '/private', { headers: { accept: 'text/html', 'x-requested-with': 'XMLHttpRequest' } });
    assert.equal(xhr.status, 401);
    const script = await send(WIKI(), '/private', { headers: { accept: 'text/html', 'sec-fetch-mode': 'cors' } });
    assert.equal(script.status, 401);
    const preflight = await send(WIKI(), '/api/items', {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'PUT' },
    });
    assert.equal(preflight.status, 200);
    assert.equal(wikiOrigin.received.at(-1).method, 'OPTIONS');
    assert.equal(wikiOrigin.received.at(-1).headers['x-auth-user'], undefined);
    const toolsPreflight = await send(TOOLS(), '/api/items', {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'PUT' },
    });
    assert.equal(toolsPreflight.status, 401);
  });
});

describe('handoffs', () => {
  /** A browser signed in at the auth host, and a handoff to `host` issued to it (not redeemed). */
  async function issued(host, browser = new Browser()) {
    const start = await browser.navigate(host, '/auth/login?next=%2Fhere');
    const toAuth = new URL(start.headers.location, `http://${host}`);
    let atAuth = await browser.navigate(AUTH(), `${toAuth.pathname}${toAuth.search}`);
    if (atAuth.headers.location.startsWith('/auth/login')) {
      const login = await browser.logIn(atAuth.headers.location);
      atAuth = await browser.navigate(AUTH(), login.headers.location);
    }
    assert.equal(atAuth.status, 303);
    const toApp = new URL(atAuth.headers.location, `http://${AUTH()}`);
    assert.equal(toApp.host, host);
    return { browser, target: `${toApp.pathname}${toApp.search}`, token: toApp.searchParams.get('token') };
  }

  test('a handoff is redeemed once', async () => {
    const { browser, target } = await issued(WIKI());
    const nonce = browser.cookie(WIKI(), '__Host-edgeauth-handoff');
    assert.equal((await browser.navigate(WIKI(), target)).status, 303);
    const replay = await send(WIKI(), target, { headers: { cookie: `__Host-edgeauth-handoff=${nonce}` } });
    assert.equal(replay.status, 401);
    assert.equal(JSON.parse(replay.text).error, 'sign_in_failed');
    assert.equal(replay.cookies.length, 0);
  });

  test('a handoff sent to another app or host, or tampered with, is refused and stays unused', async () => {
    const { browser, target } = await issued(WIKI());
    const cookie = `__Host-edgeauth-handoff=${browser.cookie(WIKI(), '__Host-edgeauth-handoff')}`;
    assert.equal((await send(TOOLS(), target, { headers: { cookie } })).status, 401, 'another app');
    assert.equal((await send('y.tools.test:' + port, target, { headers: { cookie } })).status, 401, 'another host');
    const tampered = target.replace(/token=(.)/, (_, c) => `token=${c === 'A' ? 'B' : 'A'}`);
    assert.equal((await send(WIKI(), tampered, { headers: { cookie } })).status, 401, 'tampered');
    // None of those was this app's genuine handoff: it still works, once.
    const redeemed = await browser.navigate(WIKI(), target);
    assert.equal(redeemed.status, 303);
    assert.equal(redeemed.headers['x-frame-options'], 'DENY');
    assert.equal((await send(WIKI(), target, { headers: { cookie } })).status, 401, 'used');
  });

  test('a handoff presented by a browser without its nonce is refused, and used up', async () => {
    // A leaked handoff URL opened elsewhere: no nonce, or another browser's.
    for (const otherNonce of [false, true]) {
      const { browser, target } = await issued(WIKI());
      const cookie = `__Host-edgeauth-handoff=${browser.cookie(WIKI(), '__Host-edgeauth-handoff')}`;
      const other = new Browser();
      if (otherNonce) await other.navigate(WIKI(), '/auth/login');
      const headers = otherNonce ? { cookie: other.cookieHeader(WIKI()) } : {};
      assert.equal((await send(WIKI(), target, { headers })).status, 401, `other nonce: ${otherNonce}`);
      // The rightful browser must start again: the handoff is gone.
      assert.equal((await send(WIKI(), target, { headers: { cookie } })).status, 401);
    }
  });

  test("a handoff an attacker started and a victim's browser completed is useless to the attacker", async () => {
    const attacker = new Browser();
    const start = await attacker.navigate(WIKI(), '/auth/login?next=%2F');
    const toAuth = new URL(start.headers.location, `http://${WIKI()}`);
    // The victim, signed in at the auth host, is lured to the attacker's handoff URL.
    const victim = new Browser();
    assert.equal((await victim.signInAt(WIKI(), '/mine')).response.status, 200);
    const issuedToVictim = await victim.navigate(AUTH(), `${toAuth.pathname}${toAuth.search}`);
    assert.equal(issuedToVictim.status, 303);
    const toApp = new URL(issuedToVictim.headers.location, `http://${AUTH()}`);
    // The victim's browser follows it at once: its nonce does not match, and that uses it up.
    assert.equal((await victim.navigate(WIKI(), `${toApp.pathname}${toApp.search}`)).status, 401);
    // The attacker, with the matching nonce, gets nothing.
    const stolen = await attacker.navigate(WIKI(), `${toApp.pathname}${toApp.search}`);
    assert.equal(stolen.status, 401);
    assert.equal(attacker.cookie(WIKI(), '__Host-edgeauth'), undefined);
  });

  test('the nonce cookie never reaches an origin', async () => {
    const browser = new Browser();
    await browser.navigate(WIKI(), '/auth/login');
    const cookie = browser.cookieHeader(WIKI());
    assert.match(cookie, /__Host-edgeauth-handoff=/);
    const seen = await send(WIKI(), '/public/x', { headers: { cookie: `${cookie}; theme=dark` } });
    assert.equal(seen.status, 200);
    assert.equal(wikiOrigin.received.at(-1).headers.cookie, 'theme=dark');
  });

  test('the auth host hands off only to configured apps', async () => {
    const browser = new Browser();
    await issued(WIKI(), browser);
    const state = 'A'.repeat(43);
    for (const app of ['evil.test', `evil.test:${port}`, `wiki.test:1`, AUTH(), 'wiki.test@evil.test', '']) {
      const response = await browser.navigate(AUTH(), `/auth/handoff?app=${encodeURIComponent(app)}&state=${state}&next=%2F`);
      assert.equal(response.status, 400, app);
      assert.equal(response.headers.location, undefined);
    }
    const badState = await browser.navigate(AUTH(), `/auth/handoff?app=${encodeURIComponent(WIKI())}&state=short&next=%2F`);
    assert.equal(badState.status, 400);
    // `next` is a path on the app: an absolute URL becomes `/`.
    const absolute = await browser.navigate(AUTH(), `/auth/handoff?app=${encodeURIComponent(WIKI())}&state=${state}&next=${encodeURIComponent('https://evil.test/')}`);
    assert.equal(absolute.status, 303);
    assert.equal(new URL(absolute.headers.location, 'http://x').host, WIKI());
  });

  test('an app has no login of its own, and no handoff to give', async () => {
    for (const [method, target] of [['POST', '/auth/login'], ['GET', '/auth/passkeys'], ['GET', '/auth/sso/any'], ['POST', '/auth/revoke']]) {
      const response = await send(WIKI(), target, { method, headers: { origin: `http://${WIKI()}` } });
      assert.ok([404, 405].includes(response.status), `${method} ${target}: ${response.status}`);
    }
  });
});

describe('logout', () => {
  test('logging out of one app ends that app only; of all, every app and the auth host', async () => {
    const browser = new Browser();
    assert.equal((await browser.signInAt(WIKI(), '/one')).response.status, 200);
    assert.equal((await browser.signInAt(TOOLS(), '/one')).response.status, 200);
    const wiki = browser.cookie(WIKI(), '__Host-edgeauth');
    const tools = browser.cookie(TOOLS(), '__Host-edgeauth');
    const central = browser.cookie(AUTH(), '__Host-edgeauth');
    const ok = async (host, token) => (await send(host, '/private', { headers: { cookie: `__Host-edgeauth=${token}` } })).status;

    const one = await send(WIKI(), '/auth/logout', { method: 'POST', headers: { origin: `http://${WIKI()}`, cookie: `__Host-edgeauth=${wiki}`, accept: 'text/html' } });
    assert.equal(one.status, 303);
    assert.equal(new URL(one.headers.location, 'http://x').host, AUTH(), 'back to the auth host');
    assert.ok(one.cookies.some((c) => c.startsWith('__Host-edgeauth=;')), 'the app cookie is cleared');
    assert.equal(await ok(WIKI(), wiki), 401, 'the wiki session is ended');
    assert.equal(await ok(TOOLS(), tools), 200, 'the tools session is not');
    const stillSignedOn = await send(AUTH(), '/auth/session', { headers: { cookie: `__Host-edgeauth=${central}` } });
    assert.equal(stillSignedOn.status, 200, 'nor the sign-on');

    // Signing on to wiki again needs no login; then log out of every app from tools.
    assert.equal((await browser.signInAt(WIKI(), '/two')).response.status, 200);
    const wikiAgain = browser.cookie(WIKI(), '__Host-edgeauth');
    const all = await send(TOOLS(), '/auth/logout?all=1', { method: 'POST', headers: { origin: `http://${TOOLS()}`, cookie: `__Host-edgeauth=${tools}` } });
    assert.equal(all.status, 204);
    assert.equal(await ok(TOOLS(), tools), 401);
    assert.equal(await ok(WIKI(), wikiAgain), 401, 'every app of the sign-on is ended');
    const signedOff = await send(AUTH(), '/auth/session', { headers: { cookie: `__Host-edgeauth=${central}` } });
    assert.equal(signedOff.status, 401, 'and the sign-on itself');
    // The next visit logs in again.
    const again = await browser.follow(WIKI(), '/three', { until: (r, at) => at === AUTH() && r.headers.location.startsWith('/auth/login') });
    assert.equal(again.host, AUTH());
    assert.equal(again.response.status, 303);
  });

  test('logging out at the auth host ends every app', async () => {
    const browser = new Browser();
    assert.equal((await browser.signInAt(WIKI(), '/one', 'root')).response.status, 200);
    const wiki = browser.cookie(WIKI(), '__Host-edgeauth');
    const central = browser.cookie(AUTH(), '__Host-edgeauth');
    const out = await send(AUTH(), '/auth/logout', { method: 'POST', headers: { origin: `http://${AUTH()}`, cookie: `__Host-edgeauth=${central}` } });
    assert.equal(out.status, 204);
    assert.equal((await send(WIKI(), '/admin/x', { headers: { cookie: `__Host-edgeauth=${wiki}` } })).status, 401);
  });

  test('a logout ends the sign-on of every login in this browser, earlier ones included', async () => {
    const browser = new Browser();
    assert.equal((await browser.signInAt(WIKI(), '/one')).response.status, 200);
    const wiki = browser.cookie(WIKI(), '__Host-edgeauth');
    const firstLogin = browser.cookie(AUTH(), '__Host-edgeauth');
    // A second login in the same browser (a rule's max_auth_age_secs asks for one, say).
    const login = await browser.logIn('/auth/login?next=%2F');
    assert.equal(login.status, 303);
    const secondLogin = browser.cookie(AUTH(), '__Host-edgeauth');
    assert.notEqual(secondLogin, firstLogin);
    assert.equal((await browser.signInAt(TOOLS(), '/two')).response.status, 200);
    const tools = browser.cookie(TOOLS(), '__Host-edgeauth');
    const out = await send(AUTH(), '/auth/logout', { method: 'POST', headers: { origin: `http://${AUTH()}`, cookie: `__Host-edgeauth=${secondLogin}` } });
    assert.equal(out.status, 204);
    for (const [host, token] of [[WIKI(), wiki], [TOOLS(), tools]]) {
      assert.equal((await send(host, '/private', { headers: { cookie: `__Host-edgeauth=${token}` } })).status, 401, host);
    }
    const first = await send(AUTH(), '/auth/session', { headers: { cookie: `__Host-edgeauth=${firstLogin}` } });
    assert.equal(first.status, 401, 'the earlier login too');
  });

  test('three logins in one browser, apps entered after each: one logout ends them all', async () => {
    const browser = new Browser();
    assert.equal((await browser.signInAt(WIKI(), '/one')).response.status, 200);
    const wiki = browser.cookie(WIKI(), '__Host-edgeauth');
    assert.equal((await browser.logIn('/auth/login?next=%2F')).status, 303);
    assert.equal((await browser.signInAt(TOOLS(), '/two')).response.status, 200);
    const tools = browser.cookie(TOOLS(), '__Host-edgeauth');
    assert.equal((await browser.logIn('/auth/login?next=%2F')).status, 303);
    // Log out of every app from wiki, whose session came from the first login.
    const all = await send(WIKI(), '/auth/logout?all=1', { method: 'POST', headers: { origin: `http://${WIKI()}`, cookie: `__Host-edgeauth=${wiki}` } });
    assert.equal(all.status, 204);
    assert.equal((await send(TOOLS(), '/private', { headers: { cookie: `__Host-edgeauth=${tools}` } })).status, 401, 'the app of the second login');
    const central = browser.cookie(AUTH(), '__Host-edgeauth');
    assert.equal((await send(AUTH(), '/auth/session', { headers: { cookie: `__Host-edgeauth=${central}` } })).status, 401, 'the third login');
  });

  test("a logout at the auth host with its expired session still ends the apps' live ones", async () => {
    // The auth host's session is never renewed; its apps' are. Expired an hour ago, it still
    // names the sign-on.
    const control = vectors.doc.cases.find((c) => c.name === 'valid_control');
    const t = Math.floor(Date.now() / 1000);
    const session = (aud, sid, iat, exp) => vectors.build({
      ...control,
      sign: 'key',
      payload: JSON.stringify({ iss: 'edgeauth', aud, sub: 'henry', sid, iat, exp, auth_time: t - 7200, roles: ['user'], login_time: t - 7200, psid: 'sign-on-of-henry-01' }),
    }, t);
    const expiredCentral = session('edgeauth', 'central-of-henry-01', t - 7200, t - 3600);
    const liveApp = session('edgeauth:wiki', 'wiki-of-henry-0001', t - 60, t + 3000);
    assert.equal((await send(WIKI(), '/private', { headers: { cookie: `__Host-edgeauth=${liveApp}` } })).status, 200);
    assert.equal((await send(AUTH(), '/auth/session', { headers: { cookie: `__Host-edgeauth=${expiredCentral}` } })).status, 401, 'expired');
    const out = await send(AUTH(), '/auth/logout', { method: 'POST', headers: { origin: `http://${AUTH()}`, cookie: `__Host-edgeauth=${expiredCentral}` } });
    assert.equal(out.status, 204);
    assert.equal((await send(WIKI(), '/private', { headers: { cookie: `__Host-edgeauth=${liveApp}` } })).status, 401);
  });

  test('a cross-site logout is refused', async () => {
    const response = await send(WIKI(), '/auth/logout?all=1', { method: 'POST', headers: { origin: `http://${TOOLS()}` } });
    assert.equal(response.status, 403);
  });
});

describe('renewal and revocation per app', () => {
  const control = vectors.doc.cases.find((c) => c.name === 'valid_control');
  const now = () => Math.floor(Date.now() / 1000);
  /** A session of `audience` for `sub`, issued `age` seconds ago with a one-hour lifetime. */
  const sessionFor = (audience, { sub = 'carol', age = 3000, psid = 'sign-on-of-carol-0001' } = {}) => {
    const t = now();
    const payload = JSON.stringify({
      iss: 'edgeauth', aud: audience, sub, sid: `app-session-${audience.replace(/\W/g, '')}-${sub}`,
      iat: t - age, exp: t - age + 3600, auth_time: t - age, roles: ['user'], login_time: t - age, psid,
    });
    return vectors.build({ ...control, payload, sign: 'key' }, t);
  };
  const claimsOf = (token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());

  test("an app renews its own sessions, for itself, keeping the sign-on", async () => {
    const old = sessionFor('edgeauth:wiki');
    const response = await send(WIKI(), '/renew-me', { headers: { cookie: `__Host-edgeauth=${old}` } });
    assert.equal(response.status, 200);
    const renewed = response.cookies.find((c) => c.startsWith('__Host-edgeauth='));
    assert.ok(renewed, 'a renewed cookie');
    const claims = claimsOf(renewed.split(';')[0].slice('__Host-edgeauth='.length));
    assert.equal(claims.aud, 'edgeauth:wiki');
    assert.equal(claims.psid, 'sign-on-of-carol-0001');
    assert.equal(claims.sid, claimsOf(old).sid);
    assert.ok(claims.exp > claimsOf(old).exp);
    // The same token is nothing at the other app: refused, not renewed.
    const elsewhere = await send(TOOLS(), '/renew-me', { headers: { cookie: `__Host-edgeauth=${old}` } });
    assert.equal(elsewhere.status, 401);
    assert.equal(elsewhere.cookies.filter((c) => c.startsWith('__Host-edgeauth=ey')).length, 0);
  });

  test("an administrator's revocation of a user ends that user's sessions at every app", async () => {
    const wiki = sessionFor('edgeauth:wiki', { sub: 'dave', age: 10 });
    const tools = sessionFor('edgeauth:tools', { sub: 'dave', age: 10 });
    const status = async (host, token) => (await send(host, '/private', { headers: { cookie: `__Host-edgeauth=${token}` } })).status;
    assert.equal(await status(WIKI(), wiki), 200);
    assert.equal(await status(TOOLS(), tools), 200);
    const browser = new Browser();
    await browser.signInAt(WIKI(), '/x', 'root');
    const admin = browser.cookie(AUTH(), '__Host-edgeauth');
    const revoke = await send(AUTH(), '/auth/revoke', {
      method: 'POST',
      headers: { origin: `http://${AUTH()}`, cookie: `__Host-edgeauth=${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sub: 'dave' }),
    });
    assert.equal(revoke.status, 200, revoke.text);
    assert.equal(await status(WIKI(), wiki), 401);
    assert.equal(await status(TOOLS(), tools), 401);
  });
});
