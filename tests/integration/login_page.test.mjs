// The login page in a real browser (Debian's Chromium, headless, driven by playwright-core),
// served from www/ by a small static server on loopback: no worker needed. The server fills the
// template's markers the way src/login_page.rs does and sends the adapter's
// `Content-Security-Policy: default-src 'self'`. It serves no login endpoint: a POST gets 405,
// as from any static server, which the page must show as a failed login.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { launchBrowser, saveScreenshot } from './browser.mjs';
import { ROOT } from './harness.mjs';

const WWW = path.join(ROOT, 'www');
const TEMPLATE = fs.readFileSync(path.join(WWW, 'login.html'), 'utf8');
const INVALID = 'Invalid username or password.';
const NEXT = '/app/reports?year=2026&tab=q1';
const CSP = "default-src 'self'";
const STATIC = { '/auth/login.css': 'text/css; charset=utf-8', '/auth/login.js': 'text/javascript; charset=utf-8' };

const escapeHtml = (text) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

/** What src/login_page.rs `render` does: one pass, HTML-escaped values. */
function renderLogin(next, error) {
  return TEMPLATE.replace(/\{\{(error|error_autofocus|next)\}\}/g, (_, marker) => {
    if (marker === 'next') return escapeHtml(next);
    if (marker === 'error') return escapeHtml(error ?? '');
    return error ? 'autofocus' : '';
  });
}

let server;
let origin;
/** Every request the static server received, in order: { method, path, headers, body }. */
const received = [];
let browser;

before(async () => {
  server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url, 'http://localhost');
      received.push({ method: req.method, path: url.pathname, headers: req.headers, body: Buffer.concat(chunks).toString() });
      const send = (status, type, body) => {
        res.writeHead(status, { 'content-type': type, 'content-security-policy': CSP, 'cache-control': 'no-store' });
        res.end(body);
      };
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        send(405, 'application/json', '{"error":"method_not_allowed"}');
      } else if (url.pathname === '/auth/login') {
        send(200, 'text/html; charset=utf-8', renderLogin(NEXT, null));
      } else if (url.pathname === '/auth/login-failed') {
        // The page as the adapter re-renders it after a failed form login.
        send(200, 'text/html; charset=utf-8', renderLogin(NEXT, INVALID));
      } else if (STATIC[url.pathname]) {
        send(200, STATIC[url.pathname], fs.readFileSync(path.join(WWW, path.basename(url.pathname))));
      } else {
        send(404, 'text/plain', 'not found');
      }
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  origin = `http://127.0.0.1:${server.address().port}`;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (server) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/**
 * A new page in its own context, recording every request Playwright sees and every console
 * error, page error or CSP violation. `check()` asserts that nothing left the loopback server
 * and nothing went wrong.
 */
async function openPage({ javaScriptEnabled = true, viewport = { width: 1024, height: 720 }, colorScheme = 'light' } = {}) {
  const context = await browser.newContext({ javaScriptEnabled, viewport, colorScheme });
  const page = await context.newPage();
  const requests = [];
  const problems = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/status of 40[45]/.test(message.text())) {
      problems.push(`console: ${message.text()}`);
    }
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  return {
    page,
    async check() {
      const foreign = requests.filter((url) => !url.startsWith(`${origin}/`));
      assert.deepEqual(foreign, [], 'requests that did not go to the loopback server');
      for (const file of javaScriptEnabled ? ['/auth/login.css', '/auth/login.js'] : ['/auth/login.css']) {
        assert.ok(requests.includes(`${origin}${file}`), `${file} was not requested: ${requests}`);
      }
      assert.deepEqual(problems, [], 'console errors, page errors or CSP violations');
      await context.close();
    },
  };
}

const activeId = (page) => page.evaluate(() => document.activeElement?.id ?? null);

/**
 * The focused element's id once the browser has run autofocus. Chromium applies `autofocus` at
 * a rendering step after `load`, so reading the focus right after `goto` races it: this waits
 * (bounded: 5 s) until something has the focus, then answers. A page without autofocus answers
 * '' after the bound, and the assertion that follows says so.
 */
async function arrivalFocus(page) {
  for (let waited = 0; waited < 5_000; waited += 50) {
    const id = await activeId(page);
    if (id) return id;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return activeId(page);
}

/** Whether the focused element draws a visible focus indicator (an outline). */
const focusVisible = (page) =>
  page.evaluate(() => {
    const style = getComputedStyle(document.activeElement);
    return style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
  });

describe('the login page in Chromium', () => {
  test('every input has its label; the form posts to /auth/login with the hidden next', async () => {
    const { page, check } = await openPage();
    await page.goto(`${origin}/auth/login`);
    assert.equal(await page.title(), 'Sign in');
    const fields = await page.evaluate(() =>
      [...document.querySelectorAll('input:not([type=hidden])')].map((input) => ({
        id: input.id,
        labels: [...input.labels].map((label) => label.textContent.trim()),
        autocomplete: input.autocomplete,
        required: input.required,
        type: input.type,
      })),
    );
    assert.deepEqual(fields, [
      // `webauthn`: where passkeys are configured, the browser's autofill offers them here too.
      { id: 'username', labels: ['Username'], autocomplete: 'username webauthn', required: true, type: 'text' },
      { id: 'password', labels: ['Password'], autocomplete: 'current-password', required: true, type: 'password' },
    ]);
    // What assistive technology resolves from the labels.
    assert.equal(await page.getByLabel('Username').getAttribute('id'), 'username');
    assert.equal(await page.getByLabel('Password').getAttribute('id'), 'password');
    assert.equal(await page.getByRole('button', { name: 'Sign in' }).count(), 1);
    const form = await page.evaluate(() => {
      const form = document.getElementById('login-form');
      return { method: form.method, action: new URL(form.action).pathname, next: form.elements.next.value, nextType: form.elements.next.type };
    });
    assert.deepEqual(form, { method: 'post', action: '/auth/login', next: NEXT, nextType: 'hidden' });
    assert.equal(
      await page.evaluate(() => document.querySelector('meta[name=viewport]')?.content),
      'width=device-width, initial-scale=1',
    );
    await saveScreenshot(page, 'login-page');
    await check();
  });

  test('the error region is an empty, invisible alert until there is an error', async () => {
    const { page, check } = await openPage();
    await page.goto(`${origin}/auth/login`);
    const region = await page.evaluate(() => {
      const el = document.getElementById('login-error');
      return { role: el.getAttribute('role'), live: el.getAttribute('aria-live'), text: el.textContent, height: el.getBoundingClientRect().height };
    });
    assert.deepEqual(region, { role: 'alert', live: 'assertive', text: '', height: 0 });
    assert.equal(await arrivalFocus(page), 'username', 'the username field has the focus on arrival');
    await check();
  });

  test('keyboard only: Tab goes username → password → submit with visible focus; Enter submits; a failure shows inline', async () => {
    const { page, check } = await openPage();
    await page.goto(`${origin}/auth/login`);
    // Focus starts on the username; Tab walks the form, leaves the page after the button and
    // comes back to the username first: nothing else is in the tab order.
    const order = [await arrivalFocus(page)];
    for (let i = 0; i < 4; i += 1) {
      if (order.at(-1)) assert.ok(await focusVisible(page), `no visible focus on #${order.at(-1)}`);
      await page.keyboard.press('Tab');
      order.push(await activeId(page));
    }
    assert.deepEqual(order, ['username', 'password', 'submit', '', 'username']);
    await page.keyboard.type('alice');
    await page.keyboard.press('Tab');
    await page.keyboard.type('wrong password');
    await page.evaluate(() => {
      window.stillTheSamePage = true;
    });
    const before = received.length;
    await page.keyboard.press('Enter');

    // The static server has no login endpoint: its 405 is a failed login for the page.
    await page.getByRole('alert').filter({ hasText: INVALID }).waitFor();
    assert.equal(await page.getByRole('alert').textContent(), INVALID);
    assert.equal(await activeId(page), 'login-error', 'focus moved to the message');
    assert.ok(await focusVisible(page));
    assert.equal(await page.evaluate(() => window.stillTheSamePage), true, 'the page did not reload');
    assert.equal(page.url(), `${origin}/auth/login`);
    assert.equal(await page.inputValue('#password'), '', 'the password field is cleared');
    assert.equal(await page.inputValue('#username'), 'alice');
    assert.equal(await page.isEnabled('#submit'), true, 'the button works again');

    const posts = received.slice(before).filter((r) => r.method === 'POST');
    assert.equal(posts.length, 1);
    assert.equal(posts[0].path, '/auth/login');
    assert.equal(posts[0].headers['content-type'], 'application/json');
    assert.equal(posts[0].headers.accept, 'application/json');
    assert.equal(posts[0].headers.origin, origin, 'the same-origin check will have an Origin');
    assert.deepEqual(JSON.parse(posts[0].body), { username: 'alice', password: 'wrong password' });

    await saveScreenshot(page, 'login-page-error');
    // Tab from the message goes on to the form.
    await page.keyboard.press('Tab');
    assert.equal(await activeId(page), 'username');
    await check();
  });

  test('without JavaScript the form posts urlencoded, keyboard only', async () => {
    const { page, check } = await openPage({ javaScriptEnabled: false });
    await page.goto(`${origin}/auth/login`);
    assert.equal(await arrivalFocus(page), 'username', 'autofocus works without JavaScript');
    await page.keyboard.type('bob@example.com');
    await page.keyboard.press('Tab');
    await page.keyboard.type('p@ss word&=');
    const before = received.length;
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST'),
      page.keyboard.press('Enter'),
    ]);
    assert.equal(response.status(), 405, 'the static server has no login endpoint');
    const posts = received.slice(before).filter((r) => r.method === 'POST');
    assert.equal(posts.length, 1);
    assert.equal(posts[0].path, '/auth/login');
    assert.equal(posts[0].headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(posts[0].headers.origin, origin);
    assert.deepEqual(Object.fromEntries(new URLSearchParams(posts[0].body)), {
      next: NEXT,
      username: 'bob@example.com',
      password: 'p@ss word&=',
    });
    await check();
  });

  test('required fields stop an empty submission before anything is sent', async () => {
    const { page, check } = await openPage();
    await page.goto(`${origin}/auth/login`);
    const before = received.length;
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.getElementById('username').validity.valueMissing), true);
    // A same-origin GET after the Enter, so any POST it caused has arrived before we count.
    await page.evaluate(() => fetch('/auth/login.css').then((r) => r.text()));
    assert.equal(received.slice(before).filter((r) => r.method === 'POST').length, 0);
    await check();
  });

  test('after a failed form login without JavaScript, focus lands on the announced message', async () => {
    const { page, check } = await openPage({ javaScriptEnabled: false });
    await page.goto(`${origin}/auth/login-failed`);
    assert.equal(await page.getByRole('alert').textContent(), INVALID);
    assert.equal(await arrivalFocus(page), 'login-error');
    const box = await page.locator('#login-error').boundingBox();
    assert.ok(box && box.height > 20, 'the message is visible');
    await check();
  });

  test('on a phone (375×667) there is no horizontal scroll and text stays readable', async () => {
    const { page, check } = await openPage({ viewport: { width: 375, height: 667 } });
    await page.goto(`${origin}/auth/login`);
    const layout = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      clientWidth: document.documentElement.clientWidth,
      inputFont: parseFloat(getComputedStyle(document.getElementById('username')).fontSize),
      card: document.querySelector('main').getBoundingClientRect().toJSON(),
      button: document.getElementById('submit').getBoundingClientRect().toJSON(),
    }));
    assert.ok(layout.scrollWidth <= layout.clientWidth, `horizontal scroll: ${layout.scrollWidth} > ${layout.clientWidth}`);
    assert.ok(layout.card.left >= 0 && layout.card.right <= 375, `card off screen: ${JSON.stringify(layout.card)}`);
    assert.ok(layout.inputFont >= 16, 'inputs under 16px make phones zoom in');
    assert.ok(layout.button.height >= 44, 'the button is a comfortable touch target');
    assert.ok(layout.button.bottom <= 667, 'the button is on the first screen');
    await saveScreenshot(page, 'login-page-mobile');
    await check();
  });

  test('dark mode follows prefers-color-scheme', async () => {
    const colors = {};
    for (const colorScheme of ['light', 'dark']) {
      const { page, check } = await openPage({ colorScheme });
      await page.goto(`${origin}/auth/login`);
      colors[colorScheme] = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      if (colorScheme === 'dark') await saveScreenshot(page, 'login-page-dark');
      await check();
    }
    assert.notEqual(colors.light, colors.dark);
  });
});
