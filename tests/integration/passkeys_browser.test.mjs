// Passkeys end to end in real headless Chromium with its virtual authenticator (CTAP2, internal
// transport, resident keys, user verification; webauthn.mjs) against the real worker under
// `wrangler dev`: a first passkey from an `edgeauth enroll` link, a sign-out, "Sign in with a
// passkey" on the login page landing on `next` with the identity headers at the origin, a second
// passkey from another authenticator on the passkeys page, rename and remove there, and a
// username-first sign-in with the passkey that is left while the removed one is refused.
//
// Chromium allows one internal authenticator per browser environment, so "another device" is the
// first authenticator removed and a second one added. Its virtual authenticator also answers a
// conditional (autofill) request at once, with no user action: the login page's autofill sign-in
// (passkeys.js asks for one on load) would sign in before any click. The button tests therefore
// run with PublicKeyCredential.isConditionalMediationAvailable() answering false (an init
// script, as in a browser without passkey autofill); the autofill path has its own test.
//
// WebAuthn refuses IP addresses: every page is http://localhost:<port> (a secure context without
// TLS), never the 127.0.0.1 the harness reports. Screenshots go to tests/artifacts/.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { CHROMIUM, launchBrowser, saveScreenshot } from './browser.mjs';
import { ROOT, startOrigin, startWorker, stopAll, waitForLog } from './harness.mjs';
import { loadExpectFail } from './expect_fail_vectors.mjs';
import { addVirtualAuthenticator, credentialsOf } from './webauthn.mjs';

const BIN = process.env.EDGEAUTH_BIN ?? path.join(ROOT, 'target', 'debug', 'edgeauth');
const SESSION = '__Host-edgeauth';
const vectors = loadExpectFail();
const skip = !fs.existsSync(CHROMIUM) && `${CHROMIUM} is missing`;

let origin;
let edge; // passkeys on
let plain; // passkeys off (no PASSKEY_RP_ID)
let browser;
/** http://localhost:<port> of a worker. */
const at = (worker) => worker.url.replace('//127.0.0.1:', '//localhost:');

before(async () => {
  if (skip) return;
  origin = await startOrigin();
  const vars = {
    SIGNING_KEY: vectors.privateJwk(),
    ISSUER: vectors.doc.issuer,
    ORIGIN_URL: origin.url,
    ACCESS_RULES: '[]',
  };
  [edge, plain] = await Promise.all([
    startWorker({ name: 'passkeys-browser', vars: { ...vars, PASSKEY_RP_ID: 'localhost', PASSKEY_ORIGINS: 'http://localhost:*' } }),
    startWorker({ name: 'passkeys-browser-off', vars }),
  ]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stopAll();
  await origin?.close();
});

/** The link `edgeauth enroll` prints for `user` on `worker`. */
function enrollmentLink(worker, user, roles, name) {
  const run = spawnSync(BIN, ['enroll', '--key', '-', '--url', at(worker), user, '--roles', roles, '--name', name], {
    input: vectors.privateJwk(),
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr);
  const link = run.stdout.trim();
  assert.match(link, new RegExp(`^${at(worker)}/auth/passkeys/enroll#token=[A-Za-z0-9_.-]+$`));
  return link;
}

/** What the test origin saw for the page shown (it answers with JSON). */
async function originView(page) {
  return JSON.parse(await page.locator('body').innerText());
}

/** The payload of the X-Auth-Assertion the origin received. */
function assertionClaims(seen) {
  return JSON.parse(Buffer.from(seen.headers['x-auth-assertion'].split('.')[1], 'base64url'));
}

/** Signs out the way a page does (a same-origin POST); asserts the session cookie is gone. */
async function signOut(page) {
  const status = await page.evaluate(() => fetch('/auth/logout', { method: 'POST' }).then((r) => r.status));
  assert.equal(status, 204);
  assert.equal((await page.context().cookies()).find((c) => c.name === SESSION), undefined, 'signed out');
}

/** Waits until the passkeys page lists exactly `names` (in any order: KV lists by credential id). */
async function waitForList(page, names) {
  await page.waitForFunction(
    (expected) => JSON.stringify([...document.querySelectorAll('#passkey-list li .passkey-name')].map((n) => n.textContent).sort()) === expected,
    JSON.stringify([...names].sort()),
  );
}

/** Resolves to the JSON body of the next sign-in/options request `page` sends. */
function nextOptionsBody(page) {
  return page
    .waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/auth/passkeys/sign-in/options')
    .then((r) => JSON.parse(r.postData()));
}

/** Clicks "Sign in with a passkey" and resolves once the page it lands on (`pathname`) loaded. */
async function clickPasskeyButton(page, pathname) {
  await Promise.all([page.waitForURL((url) => url.pathname === pathname), page.locator('#passkey-button').click()]);
}

const item = (page, name) => page.locator('#passkey-list li', { has: page.locator('.passkey-name', { hasText: new RegExp(`^${name}$`) }) });

test('without PASSKEY_RP_ID the login page shows no passkey button', { skip }, async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const scripts = [];
    page.on('request', (r) => scripts.push(new URL(r.url()).pathname));
    await page.goto(`${at(plain)}/auth/login?next=/app`);
    await page.getByLabel('Username').waitFor();
    assert.equal(await page.locator('#passkey-button').isVisible(), false, 'no visible passkey button');
    assert.ok(!scripts.includes('/auth/passkeys.js'), 'passkeys.js is not even loaded');
    const account = await context.request.get(`${at(plain)}/auth/passkeys`, { maxRedirects: 0 });
    assert.equal(account.status(), 404, 'no passkeys page either');
  } finally {
    await context.close();
  }
});

describe('enroll, sign in, manage passkeys', { skip }, () => {
  let context;
  let page;
  let laptop; // the first virtual authenticator
  let laptopCredential; // its passkey, exported before it is removed
  let phone; // the second one

  before(async () => {
    context = await browser.newContext();
    // The button path: no autofill request (see the top of this file).
    await context.addInitScript(() => {
      if (window.PublicKeyCredential) {
        Object.defineProperty(PublicKeyCredential, 'isConditionalMediationAvailable', { value: () => Promise.resolve(false) });
      }
    });
    page = await context.newPage();
  });

  after(async () => {
    await context?.close();
  });

  test('an edgeauth enroll link creates the first passkey and signs the user in', async () => {
    const link = enrollmentLink(edge, 'alice', 'user,staff', 'Alice Liddell');
    laptop = await addVirtualAuthenticator(page);
    await page.goto(link);
    await page.locator('#enroll-button').waitFor();
    assert.equal(new URL(page.url()).hash, '', 'the token is taken out of the address bar and history');
    assert.equal(await page.locator('#account').isVisible(), false);
    await page.locator('#enroll-name').fill('Laptop');
    await page.locator('#enroll-button').click();
    await page.locator('#passkey-status').filter({ hasText: 'Your passkey is ready and you are signed in.' }).waitFor();
    await waitForList(page, ['Laptop']);

    const session = (await context.cookies()).find((c) => c.name === SESSION);
    assert.ok(session?.httpOnly && session.secure && session.sameSite === 'Lax', JSON.stringify(session));
    const held = await credentialsOf(laptop);
    assert.equal(held.length, 1);
    assert.equal(held[0].rpId, 'localhost');
    assert.equal(held[0].isResidentCredential, true, 'a discoverable credential: sign-in needs no username');
    assert.equal(held[0].userName, 'alice');
    assert.equal(held[0].userDisplayName, 'Alice Liddell');
    await waitForLog(edge, /"event":"passkey_register"[^\n]*"reason":"success:enrollment"[^\n]*"sub":"alice"/);
    await saveScreenshot(page, 'passkeys-enrolled');
  });

  test('signed out, "Sign in with a passkey" (no username) lands on next with the identity headers', async () => {
    await signOut(page);
    await page.goto(`${at(edge)}/app`);
    assert.equal(new URL(page.url()).pathname, '/auth/login', 'signed out: the protected page sends to the login page');
    await page.goto(`${at(edge)}/auth/login?next=/app`);
    await page.locator('#passkey-button').waitFor({ state: 'visible' });
    const optionsBody = nextOptionsBody(page);
    await clickPasskeyButton(page, '/app');
    assert.deepEqual(await optionsBody, {}, 'username-less: the browser finds the passkey');

    const seen = await originView(page);
    assert.equal(seen.path, '/app');
    assert.equal(seen.headers['x-auth-user'], 'alice');
    assert.equal(seen.headers['x-auth-roles'], 'user,staff');
    assert.equal(seen.headers.cookie, undefined, 'the session cookie stays at the edge');
    const claims = assertionClaims(seen);
    assert.equal(claims.name, 'Alice Liddell');
    assert.deepEqual(claims.amr, ['hwk', 'mfa'], 'a verified passkey');
    assert.ok((await context.cookies()).some((c) => c.name === SESSION));
    const [laptopHeld] = await credentialsOf(laptop);
    assert.equal(laptopHeld.signCount, 2, 'the authenticator counted the registration and the sign-in');
  });

  test('another authenticator adds a second passkey; two are listed, one is renamed, one removed', async () => {
    await page.goto(`${at(edge)}/auth/passkeys`);
    await waitForList(page, ['Laptop']);
    // Another device: the laptop's authenticator goes away (its passkey exported first), a
    // phone's comes. Asked with the laptop's passkey in excludeCredentials, it creates a new one.
    [laptopCredential] = await credentialsOf(laptop);
    await laptop.cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: laptop.authenticatorId });
    phone = await addVirtualAuthenticator(page);
    await page.locator('#add-name').fill('Phone');
    await page.locator('#add-button').click();
    await page.locator('#passkey-status').filter({ hasText: 'Passkey added.' }).waitFor();
    await waitForList(page, ['Laptop', 'Phone']);
    assert.equal((await credentialsOf(phone)).length, 1);
    assert.notEqual((await credentialsOf(phone))[0].credentialId, laptopCredential.credentialId);
    await saveScreenshot(page, 'passkeys-page');

    // Rename through the page's prompt.
    const dialog = new Promise((resolve) => {
      page.once('dialog', async (d) => {
        resolve({ type: d.type(), message: d.message(), defaultValue: d.defaultValue() });
        await d.accept('Work phone');
      });
    });
    await item(page, 'Phone').getByRole('button', { name: 'Rename' }).click();
    assert.deepEqual(await dialog, { type: 'prompt', message: 'New name', defaultValue: 'Phone' });
    await waitForList(page, ['Laptop', 'Work phone']);

    await item(page, 'Laptop').getByRole('button', { name: 'Remove' }).click();
    await page.locator('#passkey-status').filter({ hasText: 'Passkey removed.' }).waitFor();
    await waitForList(page, ['Work phone']);

    // The only one left is never removed (403): the page says so and keeps it.
    await item(page, 'Work phone').getByRole('button', { name: 'Remove' }).click();
    await page.locator('#passkey-status').filter({ hasText: 'This is your only passkey: add another before removing it.' }).waitFor();
    await waitForList(page, ['Work phone']);
    const listed = await page.evaluate(() => fetch('/auth/passkeys/credentials').then((r) => r.json()));
    assert.deepEqual(listed.credentials.map((c) => c.name), ['Work phone']);
    await saveScreenshot(page, 'passkeys-page-after-remove');
  });

  test('the passkey left signs in username-first; the removed one is refused', async () => {
    await signOut(page);
    await page.goto(`${at(edge)}/auth/login?next=/app/after`);
    await page.getByLabel('Username').fill('alice');
    const optionsBody = nextOptionsBody(page);
    await clickPasskeyButton(page, '/app/after');
    assert.deepEqual(await optionsBody, { username: 'alice' }, 'username-first: the typed username');
    const seen = await originView(page);
    assert.equal(seen.headers['x-auth-user'], 'alice');
    assert.equal(seen.headers['x-auth-roles'], 'user,staff');

    // The removed laptop passkey, back in a browser: refused, the generic message, no session.
    await signOut(page);
    await phone.cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: phone.authenticatorId });
    const oldLaptop = await authenticatorHolding(page, laptopCredential);
    assert.equal((await credentialsOf(oldLaptop)).length, 1);
    await page.goto(`${at(edge)}/auth/login?next=/app`);
    await page.locator('#passkey-button').click();
    await page.getByRole('alert').filter({ hasText: 'Sign-in failed. Try again.' }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/auth/login');
    assert.equal((await context.cookies()).find((c) => c.name === SESSION), undefined, 'no session');
    await waitForLog(edge, /"event":"login_failed"[^\n]*"status":401,"reason":"passkey:unknown_credential"/);
  });
});

/** A new virtual authenticator on `page` holding `credential` (as credentialsOf() exported it). */
async function authenticatorHolding(page, credential) {
  const auth = await addVirtualAuthenticator(page);
  await auth.cdp.send('WebAuthn.addCredential', {
    authenticatorId: auth.authenticatorId,
    credential: {
      credentialId: credential.credentialId,
      isResidentCredential: true,
      rpId: credential.rpId,
      privateKey: credential.privateKey,
      userHandle: credential.userHandle,
      signCount: credential.signCount,
    },
  });
  return auth;
}

test('autofill: the login page signs in with the passkey the browser offers, no click needed', { skip }, async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await addVirtualAuthenticator(page);
    await page.goto(enrollmentLink(edge, 'bob', 'user', 'Bob'));
    await page.locator('#enroll-button').click();
    await page.locator('#passkey-status').filter({ hasText: 'Your passkey is ready and you are signed in.' }).waitFor();
    await signOut(page);
    assert.equal(await page.evaluate(() => PublicKeyCredential.isConditionalMediationAvailable()), true);
    // The conditional request passkeys.js starts on load is answered by the virtual
    // authenticator as a user picking the passkey from the username field's autofill would.
    const optionsBody = nextOptionsBody(page);
    await Promise.all([page.waitForURL((url) => url.pathname === '/reports'), page.goto(`${at(edge)}/auth/login?next=/reports`)]);
    assert.deepEqual(await optionsBody, {}, 'autofill is always username-less');
    const seen = await originView(page);
    assert.equal(seen.path, '/reports');
    assert.equal(seen.headers['x-auth-user'], 'bob');
  } finally {
    await context.close();
  }
});
