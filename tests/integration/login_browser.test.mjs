// The whole login flow in real headless Chromium against the real worker under `wrangler dev`:
// protected page → login page → sign in → the origin shows X-Auth-User → reload keeps the
// session → logout → the protected page redirects again. Screenshots go to tests/artifacts/.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { launchBrowser, saveScreenshot } from './browser.mjs';
import { ROOT, kvPut, startOrigin, startWorker, stopAll } from './harness.mjs';
import { loadExpectFail } from './expect_fail_vectors.mjs';

const BIN = process.env.EDGEAUTH_BIN ?? path.join(ROOT, 'target', 'debug', 'edgeauth');
const PASSWORD = 'a long browser password';
const vectors = loadExpectFail();

let origin;
let edge;
let browser;

before(async () => {
  origin = await startOrigin();
  edge = await startWorker({
    name: 'browser',
    vars: { SIGNING_KEY: vectors.privateJwk(), ISSUER: vectors.doc.issuer, ORIGIN_URL: origin.url, ACCESS_RULES: '[]' },
  });
  const added = spawnSync(BIN, ['add-user', 'x', '--roles', 'user,reports', '--record-only'], { input: `${PASSWORD}\n`, encoding: 'utf8' });
  assert.equal(added.status, 0, added.stderr);
  await kvPut(edge, 'user:ada', added.stdout.trim());
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stopAll();
  await origin?.close();
});

/** What the test origin saw for the page currently shown (it answers with JSON). */
async function originView(page) {
  return JSON.parse(await page.locator('body').innerText());
}

for (const javaScriptEnabled of [true, false]) {
  test(`sign in, reload, sign out (JavaScript ${javaScriptEnabled ? 'on' : 'off'})`, async () => {
    const context = await browser.newContext({ javaScriptEnabled });
    const page = await context.newPage();
    try {
      await page.goto(`${edge.url}/reports/q3?view=full`);
      assert.equal(new URL(page.url()).pathname, '/auth/login', 'redirected to the login page');
      assert.equal(new URL(page.url()).searchParams.get('next'), '/reports/q3?view=full');
      if (javaScriptEnabled) await saveScreenshot(page, 'login-page-worker');

      // A wrong password first: the generic message, still on the login page.
      await page.getByLabel('Username').fill('ada');
      await page.getByLabel('Password').fill('not the password');
      await page.getByRole('button', { name: /sign in/i }).click();
      await page.getByRole('alert').filter({ hasText: 'Invalid username or password.' }).waitFor();
      if (javaScriptEnabled) await saveScreenshot(page, 'login-page-worker-error');

      await page.getByLabel('Username').fill('ada');
      await page.getByLabel('Password').fill(PASSWORD);
      await Promise.all([
        page.waitForURL((url) => url.pathname === '/reports/q3'),
        page.getByRole('button', { name: /sign in/i }).click(),
      ]);
      const seen = await originView(page);
      assert.equal(seen.path, '/reports/q3');
      assert.equal(seen.query, 'view=full');
      assert.equal(seen.headers['x-auth-user'], 'ada');
      assert.equal(seen.headers['x-auth-roles'], 'user,reports');
      assert.equal(seen.headers.cookie, undefined, 'the session cookie stays at the edge');

      const cookies = await context.cookies();
      const session = cookies.find((c) => c.name === '__Host-edgeauth');
      assert.ok(session?.httpOnly && session.secure && session.sameSite === 'Lax', JSON.stringify(session));

      await page.reload();
      assert.equal((await originView(page)).headers['x-auth-user'], 'ada', 'reload keeps the session');

      // Sign out the way a page would: a same-origin POST.
      const status = javaScriptEnabled
        ? await page.evaluate(() => fetch('/auth/logout', { method: 'POST' }).then((r) => r.status))
        : (await context.request.post(`${edge.url}/auth/logout`, { headers: { origin: edge.url } })).status();
      assert.equal(status, 204);
      await page.goto(`${edge.url}/reports/q3`);
      assert.equal(new URL(page.url()).pathname, '/auth/login', 'signed out: redirected again');
    } finally {
      await context.close();
    }
  });
}
