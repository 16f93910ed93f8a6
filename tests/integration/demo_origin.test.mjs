// The built-in demo origin (no ORIGIN_URL) under real `wrangler dev`, in real headless Chromium:
// a browser gets a readable HTML page (who you are, the decoded X-Auth-Assertion, every header
// received, sign out / sign in), every interpolated value HTML-escaped, under a strict CSP; API
// clients still get the JSON they always got. Screenshots go to tests/artifacts/.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { launchBrowser, saveScreenshot } from './browser.mjs';
import { ROOT, kvPut, navigate, startWorker, stopAll } from './harness.mjs';
import { loadExpectFail } from './expect_fail_vectors.mjs';

const BIN = process.env.EDGEAUTH_BIN ?? path.join(ROOT, 'target', 'debug', 'edgeauth');
const PASSWORD = 'a long demo origin password';
const COOKIE = '__Host-edgeauth';
/** A header value an attacker controls: markup, quotes and an ampersand. */
const HOSTILE = `<script>alert("x")</script> & 'quoted'`;
const HOSTILE_ESCAPED = '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;';
const vectors = loadExpectFail();
const request = (url, init = {}) => fetch(url, { signal: AbortSignal.timeout(15_000), redirect: 'manual', ...init });

let edge;
let browser;

/** Adds a KV user `name` with `roles` and PASSWORD, as `edgeauth add-user` writes it. */
async function addUser(name, roles) {
  const added = spawnSync(BIN, ['add-user', name, '--roles', roles, '--record-only'], { input: `${PASSWORD}\n`, encoding: 'utf8' });
  assert.equal(added.status, 0, added.stderr);
  await kvPut(edge, `user:${name}`, added.stdout.trim());
}

before(async () => {
  edge = await startWorker({
    name: 'demo-origin-page',
    vars: {
      SIGNING_KEY: vectors.privateJwk(),
      ISSUER: vectors.doc.issuer,
      ORIGIN_URL: '', // the built-in demo origin
      ACCESS_RULES: JSON.stringify([{ path: '/public/*', access: 'public' }]),
    },
  });
  await addUser('ada', 'user,reports');
  await addUser('grace', 'staff');
  await addUser('api', 'user');
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stopAll();
});

/** Fills in the real login page and submits it; resolves to the response of the page it lands on. */
async function signIn(page, username, landingPath) {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  const [landed] = await Promise.all([
    page.waitForResponse((r) => r.request().isNavigationRequest() && new URL(r.url()).pathname === landingPath),
    page.waitForURL((url) => url.pathname === landingPath),
    page.getByRole('button', { name: /sign in/i }).click(),
  ]);
  return landed;
}

/** The headers table as { name: value }, read from the rendered page. */
async function headerTable(page) {
  const rows = await page.locator('#headers tbody tr').evaluateAll((trs) =>
    trs.map((tr) => [tr.querySelector('th').textContent, tr.querySelector('td').textContent]));
  return Object.fromEntries(rows);
}

/** Records CSP violations and script errors a page reports (for inline style: none allowed). */
function watchConsole(page) {
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && /content security policy|style/i.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    d.dismiss();
  });
  return problems;
}

/** Asserts the page's security headers, and that the CSP's style hash is the page's <style>. */
function assertPageHeaders(headers, html) {
  assert.equal(headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(headers['cache-control'], 'no-store');
  assert.equal(headers['x-content-type-options'], 'nosniff');
  assert.equal(headers['x-edgeauth-demo-origin'], '1');
  const styles = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1]);
  assert.equal(styles.length, 1, 'one style block');
  const hash = createHash('sha256').update(styles[0]).digest('base64');
  assert.equal(
    headers['content-security-policy'],
    `default-src 'none'; style-src 'sha256-${hash}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  );
  assert.doesNotMatch(html, /<script/i, 'no script at all');
  assert.doesNotMatch(html, /\sstyle=/i, 'no style attributes (the CSP would refuse them)');
}

/** `exp` as the page shows it: Unix seconds and the UTC date. */
const expiresText = (exp) => `${exp} (${new Date(exp * 1000).toISOString().slice(0, 19).replace('T', ' ')} UTC)`;
const decodeSegment = (segment) => JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));

describe('a browser gets an HTML page', () => {
  test('signed in: who you are, the decoded assertion, every header; sign out ends the session', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems = watchConsole(page);
    try {
      await page.goto(`${edge.url}/reports/q3?view=full`);
      assert.equal(new URL(page.url()).pathname, '/auth/login', 'redirected to the login page');
      const landed = await signIn(page, 'ada', '/reports/q3');
      assert.equal(landed.status(), 200);
      assertPageHeaders(landed.headers(), await landed.text());
      await saveScreenshot(page, 'demo-origin-signed-in');

      // Who you are: the identity headers.
      assert.equal(await page.locator('#user').textContent(), 'ada');
      assert.equal(await page.locator('#roles').textContent(), 'user,reports');
      const table = await headerTable(page);
      assert.equal(table['x-auth-user'], 'ada');
      assert.equal(table['x-auth-roles'], 'user,reports');
      assert.equal(await page.locator('#session').textContent(), table['x-auth-session']);
      assert.equal(await page.locator('#request-line').textContent(), 'GET /reports/q3?view=full');

      // The assertion, decoded (not verified) and pretty-printed, matches the header it came from.
      const [rawHeader, rawClaims] = table['x-auth-assertion'].split('.');
      const joseText = await page.locator('#assertion-header').textContent();
      const claimsText = await page.locator('#assertion-claims').textContent();
      assert.deepEqual(JSON.parse(joseText), decodeSegment(rawHeader));
      assert.deepEqual(JSON.parse(claimsText), decodeSegment(rawClaims));
      assert.match(claimsText, /\n {2}"sub": "ada"/, 'pretty-printed');
      const claims = JSON.parse(claimsText);
      assert.equal(claims.sub, 'ada');
      assert.deepEqual(claims.roles, ['user', 'reports']);
      assert.equal(claims.sid, table['x-auth-session']);
      assert.ok([].concat(claims.aud).includes('origin'), `aud ${JSON.stringify(claims.aud)}`);
      assert.equal(JSON.parse(joseText).alg, 'EdDSA');
      assert.equal(table['x-auth-expires'], String(claims.exp));
      assert.equal(await page.locator('#expires').textContent(), expiresText(claims.exp));
      const jwks = page.getByRole('link', { name: '/.well-known/jwks.json' });
      assert.equal(await jwks.getAttribute('href'), '/.well-known/jwks.json');
      assert.match(await page.locator('body').innerText(), /not verified/i);

      // Every header the origin received, and nothing of the session cookie.
      assert.match(table.accept, /text\/html/);
      assert.ok(table['x-forwarded-host'], 'the edge sets X-Forwarded-Host');
      assert.equal(table.cookie, undefined, 'the session cookie stays at the edge');

      // A page, not JSON; its one style block applied (the CSP hash matches), nothing refused.
      const text = await page.locator('body').innerText();
      assert.throws(() => JSON.parse(text));
      assert.doesNotMatch(text, /"body_bytes"|"headers":/);
      assert.equal(await page.locator('table').evaluate((t) => getComputedStyle(t).borderCollapse), 'collapse');
      assert.equal(await page.locator('script').count(), 0);
      assert.equal(await page.getByRole('link', { name: 'Sign in' }).count(), 0);

      // Sign out with the page's own form: back on the login page, and the session is over.
      const token = (await context.cookies()).find((c) => c.name === COOKIE)?.value;
      assert.ok(token, 'a session cookie was set');
      await Promise.all([
        page.waitForURL((url) => url.pathname === '/auth/login'),
        page.getByRole('button', { name: 'Sign out' }).click(),
      ]);
      await page.getByLabel('Username').waitFor();
      assert.equal((await context.cookies()).find((c) => c.name === COOKIE), undefined, 'cookie cleared');
      await page.goto(`${edge.url}/reports/q3`);
      assert.equal(new URL(page.url()).pathname, '/auth/login', 'signed out: redirected again');
      const replay = await request(`${edge.url}/reports/q3`, { headers: { cookie: `${COOKIE}=${token}`, accept: 'application/json' } });
      assert.equal(replay.status, 401, 'the old session token is revoked');
      await replay.arrayBuffer();
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('public path, no session: "not signed in", hostile headers shown as text, sign-in link returns here', async () => {
    const context = await browser.newContext({ extraHTTPHeaders: { 'x-demo-note': HOSTILE } });
    const page = await context.newPage();
    const problems = watchConsole(page);
    try {
      const response = await page.goto(`${edge.url}/public/hello?lang=en`);
      assert.equal(response.status(), 200);
      assertPageHeaders(response.headers(), await response.text());
      await saveScreenshot(page, 'demo-origin-public');
      assert.match(await page.locator('#identity').textContent(), /^Not signed in\./);
      assert.equal(await page.locator('#assertion-none').count(), 1, 'no assertion without a session');
      assert.equal(await page.getByRole('button', { name: 'Sign out' }).count(), 0);

      // The hostile header value is text in its cell: no element, no script, no dialog.
      assert.equal((await headerTable(page))['x-demo-note'], HOSTILE);
      assert.equal(await page.locator('script').count(), 0);

      const signInLink = page.getByRole('link', { name: 'Sign in' });
      assert.equal(await signInLink.getAttribute('href'), `/auth/login?next=${encodeURIComponent('/public/hello?lang=en')}`);
      await Promise.all([page.waitForURL((url) => url.pathname === '/auth/login'), signInLink.click()]);
      assert.equal(new URL(page.url()).searchParams.get('next'), '/public/hello?lang=en');
      await signIn(page, 'grace', '/public/hello');
      assert.equal(new URL(page.url()).search, '?lang=en');
      assert.equal(await page.locator('#user').textContent(), 'grace');
      assert.equal(await page.locator('#roles').textContent(), 'staff');
      assert.equal(JSON.parse(await page.locator('#assertion-claims').textContent()).sub, 'grace');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('header values are HTML-escaped in the page source', async () => {
    const r = await navigate(`${edge.url}/public/escape`, { headers: { accept: 'text/html', 'x-demo-note': HOSTILE } });
    assert.equal(r.status, 200);
    const html = await r.text();
    assertPageHeaders(Object.fromEntries(r.headers), html);
    assert.ok(html.includes(`<td>${HOSTILE_ESCAPED}</td>`), 'escaped in its table cell');
    assert.ok(!html.includes('<script>'), 'never raw');
  });
});

describe('API clients still get JSON', () => {
  const KEYS = ['body_bytes', 'headers', 'method', 'note', 'origin', 'path', 'query'];
  let token;

  before(async () => {
    const login = await request(`${edge.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', origin: edge.url },
      body: JSON.stringify({ username: 'api', password: PASSWORD }),
    });
    assert.equal(login.status, 200);
    ({ token } = await login.json());
    assert.ok(token);
  });

  for (const [what, accept] of [['Accept: application/json', 'application/json'], ['the default Accept (*/*)', undefined]]) {
    test(`GET with ${what}: the JSON description, as before`, async () => {
      const headers = { authorization: `Bearer ${token}`, ...(accept ? { accept } : {}) };
      const r = await request(`${edge.url}/app/x?y=1`, { headers });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-type'), 'application/json');
      assert.equal(r.headers.get('cache-control'), 'no-store');
      assert.equal(r.headers.get('x-edgeauth-demo-origin'), '1');
      const seen = await r.json();
      assert.deepEqual(Object.keys(seen).sort(), KEYS);
      assert.equal(seen.origin, 'edgeauth built-in demo origin');
      assert.equal(seen.method, 'GET');
      assert.equal(seen.path, '/app/x');
      assert.equal(seen.query, 'y=1');
      assert.equal(seen.body_bytes, 0);
      assert.equal(seen.headers['x-auth-user'], 'api');
      assert.equal(seen.headers['x-auth-roles'], 'user');
    });
  }

  test('a POST is never a navigation, even accepting text/html: JSON', async () => {
    const r = await request(`${edge.url}/public/form`, {
      method: 'POST',
      headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' },
      body: 'a=1',
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/json');
    const seen = await r.json();
    assert.equal(seen.method, 'POST');
    assert.equal(seen.body_bytes, 3);
    assert.equal(seen.query, null);
  });

  test('HEAD follows the same rule: text/html gets the page headers, JSON otherwise', async () => {
    const page = await navigate(`${edge.url}/public/head`, { method: 'HEAD', headers: { accept: 'TEXT/HTML' } });
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    const api = await request(`${edge.url}/public/head`, { method: 'HEAD', headers: { accept: 'application/json' } });
    assert.equal(api.status, 200);
    assert.equal(api.headers.get('content-type'), 'application/json');
  });
});
