// Single sign-on under `wrangler dev` against real OpenID Providers (npm oidc-provider, see
// oidc_provider.mjs), in real headless Chromium: /app → the login page → "Sign in with …" → the
// provider's own login form → back on /app with the mapped identity; with each signing
// algorithm, two providers at once, concurrent logins in one browser, a key rotation at the
// provider; and the refusals: a domain not allowed, the user cancelling at the provider, a
// replayed callback, a state that is not the transaction's, a code sent to another provider's
// callback, a discovery document naming another issuer.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { launchBrowser, saveScreenshot } from './browser.mjs';
import { startOrigin, startWorker, stopAll, waitForLog } from './harness.mjs';
import { LOGIN_FORM, LOGOUT_FORM, startProvider } from './oidc_provider.mjs';
import { loadExpectFail } from './expect_fail_vectors.mjs';

const vectors = loadExpectFail();
const USERS = [
  { id: 'ada', password: 'ada-password', claims: { email: 'ada@example.com', email_verified: true, name: 'Ada', groups: ['eng'] } },
  { id: 'eve', password: 'eve-password', claims: { email: 'eve@elsewhere.example', email_verified: true, name: 'Eve' } },
];
const BOB = { id: 'bob', password: 'bob-password', claims: { email: 'bob@beta.example', email_verified: true, name: 'Bob' } };
/** Our provider entries at the alpha provider: one client per signing algorithm. */
const ALPHA_CLIENTS = [
  { id: 'alpha', alg: 'RS256', label: 'Alpha' },
  { id: 'alpha-es', alg: 'ES256', label: 'Alpha ES256' },
  { id: 'alpha-ed', alg: 'EdDSA', label: 'Alpha EdDSA' },
];

let origin;
let alpha;
let beta;
let edge;
let browser;

before(async () => {
  [origin, alpha, beta] = await Promise.all([
    startOrigin(),
    startProvider({ name: 'alpha', algs: ['RS256', 'ES256', 'EdDSA'], users: USERS }),
    startProvider({ name: 'beta', algs: ['ES256'], users: [BOB] }),
  ]);
  const mapping = {
    default_roles: ['user'],
    group_roles: { eng: ['dev'] },
    allowed_email_domains: ['example.com'],
    keep_claims: ['groups'],
  };
  const providers = [
    ...ALPHA_CLIENTS.map(({ id, label }) => ({
      id,
      label,
      issuer: alpha.issuer,
      client_id: `edge-${id}`,
      client_secret_secret: 'ALPHA_SECRET',
      scopes: ['openid', 'email', 'profile', 'groups'],
      mapping,
      // A browser's sign-out continues to the provider for this one (RP-initiated logout).
      end_session: id === 'alpha-ed',
    })),
    {
      id: 'beta',
      label: 'Beta',
      issuer: beta.issuer,
      client_id: 'edge-beta',
      client_secret_secret: 'BETA_SECRET',
      token_auth: 'client_secret_post',
      mapping: { sub: 'plain', default_roles: ['partner'] },
    },
    // Its discovery names the issuer without the trailing slash written here: refused.
    { id: 'wrong-issuer', label: 'Wrong issuer', issuer: `${alpha.issuer}/`, client_id: 'edge-alpha', client_secret_secret: 'ALPHA_SECRET' },
  ];
  edge = await startWorker({
    name: 'sso',
    vars: {
      SIGNING_KEY: vectors.privateJwk(),
      ISSUER: vectors.doc.issuer,
      ORIGIN_URL: origin.url,
      // A login older than 10 minutes is sent to log in again on /pay.
      // /eng needs the provider's group, kept in the session by the mapping.
      ACCESS_RULES: JSON.stringify([
        { path: '/pay/*', access: 'authenticated', max_auth_age_secs: 600 },
        { path: '/eng/*', claims: [{ claim: 'groups', any_of: ['eng'] }] },
      ]),
      IDENTITY_PROVIDERS: JSON.stringify(providers),
      // Revocations (back-channel logout) apply at the next request.
      REVOCATION_REFRESH_SECS: '0',
      ALPHA_SECRET: 'alpha client secret',
      BETA_SECRET: 'beta client secret',
    },
  });
  for (const { id, alg } of ALPHA_CLIENTS) {
    await alpha.registerClient({
      client_id: `edge-${id}`,
      client_secret: 'alpha client secret',
      redirect_uris: [`${edge.url}/auth/callback/${id}`],
      id_token_signed_response_alg: alg,
      token_endpoint_auth_method: 'client_secret_basic',
      // oidc-provider puts its session id (sid) in ID tokens only for such clients.
      backchannel_logout_uri: `${edge.url}/auth/backchannel-logout/${id}`,
      backchannel_logout_session_required: true,
      post_logout_redirect_uris: [`${edge.url}/auth/login`],
    });
  }
  await beta.registerClient({
    client_id: 'edge-beta',
    client_secret: 'beta client secret',
    redirect_uris: [`${edge.url}/auth/callback/beta`],
    id_token_signed_response_alg: 'ES256',
    token_endpoint_auth_method: 'client_secret_post',
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stopAll();
  await Promise.all([origin?.close(), alpha?.close(), beta?.close()]);
});

/** What the test origin saw for the page shown (it answers with JSON). */
async function originView(page) {
  return JSON.parse(await page.locator('body').innerText());
}

/** Fills the provider's own login form and submits it. */
async function signInAtProvider(page, { id, password }) {
  await page.locator(LOGIN_FORM.username).fill(id);
  await page.locator(LOGIN_FORM.password).fill(password);
  await page.locator(LOGIN_FORM.submit).click();
}

/** The session's claims, as /auth/session shows them to this browser context. */
async function sessionClaims(page) {
  const response = await page.request.get(`${edge.url}/auth/session`);
  assert.equal(response.status(), 200);
  return response.json();
}

/** From the login page of /app: click "Sign in with <label>", land on the provider's form. */
async function startAt(page, label, next = '/app') {
  await page.goto(`${edge.url}${next}`);
  assert.equal(new URL(page.url()).pathname, '/auth/login');
  await Promise.all([
    page.waitForURL((url) => url.pathname.startsWith('/interaction/')),
    page.getByRole('link', { name: `Sign in with ${label}`, exact: true }).click(),
  ]);
}

describe('signing in through a provider', () => {
  for (const { id, alg, label } of ALPHA_CLIENTS) {
    test(`${alg}: /app → login page → the provider's form → /app as the mapped identity`, async () => {
      const context = await browser.newContext({ javaScriptEnabled: false });
      const page = await context.newPage();
      try {
        await startAt(page, label, '/app/reports?q=1');
        if (alg === 'RS256') await saveScreenshot(page, 'sso-provider-login');
        await Promise.all([page.waitForURL((url) => url.pathname === '/app/reports'), signInAtProvider(page, USERS[0])]);
        const seen = await originView(page);
        assert.equal(seen.query, 'q=1', 'next kept its query');
        assert.equal(seen.headers['x-auth-user'], `${id}:ada`, 'sub namespaced by provider');
        assert.equal(seen.headers['x-auth-roles'], 'user,dev');
        // The provider's own cookies are the browser's for 127.0.0.1 (cookies ignore ports).
        assert.doesNotMatch(seen.headers.cookie ?? '', /__Host-edgeauth/, 'no cookie of ours reaches the origin');
        const claims = await sessionClaims(page);
        assert.equal(claims.idp, id);
        assert.equal(claims.email, 'ada@example.com');
        assert.equal(typeof claims.idp_sid, 'string', "the provider's sid is kept");
        const cookies = await context.cookies();
        assert.deepEqual(cookies.filter((c) => c.name.startsWith('__Host-edgeauth-sso-')), [], 'transaction cookie cleared');
        const session = cookies.find((c) => c.name === '__Host-edgeauth');
        assert.ok(session?.httpOnly && session.secure && session.sameSite === 'Lax');
      } finally {
        await context.close();
      }
    });
  }

  test("a rule on the provider's groups: kept in the session, it admits a member and refuses another", async () => {
    for (const [label, user, status] of [['Alpha', USERS[0], 200], ['Beta', BOB, 403]]) {
      const context = await browser.newContext();
      const page = await context.newPage();
      try {
        await startAt(page, label, '/app');
        await Promise.all([page.waitForURL((url) => url.pathname === '/app'), signInAtProvider(page, user)]);
        const response = await page.goto(`${edge.url}/eng/wiki`);
        assert.equal(response.status(), status, `${user.id} through ${label}`);
        if (status === 200) assert.deepEqual((await sessionClaims(page)).groups, ['eng']);
      } finally {
        await context.close();
      }
    }
  });

  test('a second provider (client_secret_post, plain sub) at the same time', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await startAt(page, 'Beta');
      await Promise.all([page.waitForURL((url) => url.pathname === '/app'), signInAtProvider(page, BOB)]);
      const seen = await originView(page);
      assert.equal(seen.headers['x-auth-user'], 'bob');
      assert.equal(seen.headers['x-auth-roles'], 'partner');
    } finally {
      await context.close();
    }
  });

  test('two logins in flight in one browser do not disturb each other', async () => {
    const context = await browser.newContext();
    const [first, second] = [await context.newPage(), await context.newPage()];
    try {
      await startAt(first, 'Alpha', '/first');
      await startAt(second, 'Beta', '/second');
      assert.equal(
        (await context.cookies()).filter((c) => c.name.startsWith('__Host-edgeauth-sso-')).length,
        2,
        'one transaction cookie per login',
      );
      await Promise.all([second.waitForURL((url) => url.pathname === '/second'), signInAtProvider(second, BOB)]);
      await Promise.all([first.waitForURL((url) => url.pathname === '/first'), signInAtProvider(first, USERS[0])]);
      assert.equal((await originView(first)).headers['x-auth-user'], 'alpha:ada');
      assert.equal((await originView(second)).headers['x-auth-user'], 'bob');
    } finally {
      await context.close();
    }
  });

  test('after the provider rotates its keys, the new kid is fetched and the login works', async () => {
    const kids = await alpha.rotateKeys();
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await startAt(page, 'Alpha');
      await Promise.all([page.waitForURL((url) => url.pathname === '/app'), signInAtProvider(page, USERS[0])]);
      assert.equal((await originView(page)).headers['x-auth-user'], 'alpha:ada');
      assert.ok(kids.RS256, 'a new RS256 kid');
    } finally {
      await context.close();
    }
  });
});

describe('a login too old for the path', () => {
  const control = vectors.cases.find((c) => c.name === 'valid_control');
  /** An edge session of alpha:ada through provider alpha, logged in `age` seconds ago. */
  function oldSession(age) {
    const payload = JSON.stringify({
      iss: vectors.doc.issuer, aud: 'edgeauth', sub: 'alpha:ada', sid: 'b2xkLWxvZ2luLXNlc3Npb24', roles: ['user'],
      amr: ['fed'], idp: 'alpha',
    }).replace(/\}$/, `,"iat":{now-10},"exp":{now+3600},"auth_time":{now-${age}}}`);
    return vectors.build({ ...control, payload }, Math.floor(Date.now() / 1000));
  }

  test('is sent to log in again, and the provider is made to authenticate afresh (prompt=login)', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      // A session at the provider first: without prompt=login it would answer at once.
      await startAt(page, 'Alpha');
      await Promise.all([page.waitForURL((url) => url.pathname === '/app'), signInAtProvider(page, USERS[0])]);
      await page.goto(`${edge.url}/auth/sso/alpha?next=%2Fapp%2Fagain`);
      assert.equal(new URL(page.url()).pathname, '/app/again', 'the provider reused its session, no form');
      // The edge's session is now one that logged in long ago.
      await context.addCookies([{ name: '__Host-edgeauth', value: oldSession(4000), domain: new URL(edge.url).hostname, path: '/', secure: true, httpOnly: true, sameSite: 'Lax' }]);
      await page.goto(`${edge.url}/pay/invoices`);
      const login = new URL(page.url());
      assert.equal(login.pathname, '/auth/login');
      assert.equal(login.searchParams.get('reauth'), '1');
      await Promise.all([
        page.waitForURL((url) => url.pathname.startsWith('/interaction/')),
        page.getByRole('link', { name: 'Sign in with Alpha', exact: true }).click(),
      ]);
      assert.ok(await page.locator(LOGIN_FORM.username).isVisible(), 'the provider asks for the password again');
      await Promise.all([page.waitForURL((url) => url.pathname === '/pay/invoices'), signInAtProvider(page, USERS[0])]);
      assert.equal((await originView(page)).headers['x-auth-user'], 'alpha:ada');
      const claims = await sessionClaims(page);
      assert.ok(claims.auth_time >= Math.floor(Date.now() / 1000) - 60, 'a fresh login');
    } finally {
      await context.close();
    }
  });
});

describe('logout from the provider (back-channel)', () => {
  /** Signs ada in through alpha in a fresh context: the context, its page, the session claims. */
  async function signedIn() {
    const context = await browser.newContext();
    const page = await context.newPage();
    await startAt(page, 'Alpha');
    await Promise.all([page.waitForURL((url) => url.pathname === '/app'), signInAtProvider(page, USERS[0])]);
    return { context, page, claims: await sessionClaims(page) };
  }

  test("the provider's logout token for a session ends that session at the edge, and only it", async () => {
    const one = await signedIn();
    const other = await signedIn();
    try {
      assert.notEqual(one.claims.idp_sid, other.claims.idp_sid, 'two provider sessions');
      await alpha.backchannelLogout({ client_id: 'edge-alpha', sub: 'ada', sid: one.claims.idp_sid });
      await waitForLog(edge, /"event":"backchannel_logout"[^\n]*"revoked":\{"idp":"alpha","idp_sid":"[^"]+"\}/);
      const ended = await one.page.request.get(`${edge.url}/auth/session`);
      assert.equal(ended.status(), 401, 'the ended session is refused');
      await one.page.goto(`${edge.url}/app`);
      assert.equal(new URL(one.page.url()).pathname, '/auth/login', 'the browser must sign in again');
      assert.equal((await other.page.request.get(`${edge.url}/auth/session`)).status(), 200, 'the other session lives');
    } finally {
      await one.context.close();
      await other.context.close();
    }
  });

  test('signing out continues to the provider (RP-initiated logout), which ends its session and comes back', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await startAt(page, 'Alpha EdDSA');
      await Promise.all([page.waitForURL((url) => url.pathname === '/app'), signInAtProvider(page, USERS[0])]);
      const logout = await page.request.post(`${edge.url}/auth/logout`, {
        headers: { origin: edge.url, accept: 'text/html' },
        maxRedirects: 0,
      });
      assert.equal(logout.status(), 303);
      const location = new URL(logout.headers().location);
      assert.equal(location.origin, alpha.issuer, "to the provider's end_session_endpoint");
      assert.equal(location.searchParams.get('client_id'), 'edge-alpha-ed');
      assert.equal(location.searchParams.get('post_logout_redirect_uri'), `${edge.url}/auth/login`);
      assert.equal((await page.request.get(`${edge.url}/auth/session`)).status(), 401, 'the edge session is over');
      await page.goto(location.href);
      await Promise.all([
        page.waitForURL((url) => url.origin === edge.url && url.pathname === '/auth/login'),
        page.locator(LOGOUT_FORM.confirm).click(),
      ]);
      // The provider asks for the password again: its own session ended too.
      await startAt(page, 'Alpha EdDSA');
      await page.locator(LOGIN_FORM.password).waitFor();
    } finally {
      await context.close();
    }
  });

  test('a provider without end_session: signing out stays at the edge', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await startAt(page, 'Alpha');
      await Promise.all([page.waitForURL((url) => url.pathname === '/app'), signInAtProvider(page, USERS[0])]);
      const logout = await page.request.post(`${edge.url}/auth/logout`, {
        headers: { origin: edge.url, accept: 'text/html' },
        maxRedirects: 0,
      });
      assert.equal(logout.status(), 303);
      assert.equal(logout.headers().location, '/auth/login');
    } finally {
      await context.close();
    }
  });

  test('a logout token that is not the provider\'s, or not a logout token, changes nothing', async () => {
    const { context, page, claims } = await signedIn();
    try {
      const post = (token) =>
        fetch(`${edge.url}/auth/backchannel-logout/alpha`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ logout_token: token }),
        });
      const valid = await alpha.logoutToken({ client_id: 'edge-alpha', sub: 'ada', sid: claims.idp_sid });
      const [header, payload] = valid.split('.');
      const events = { 'http://schemas.openid.net/event/backchannel-logout': {} };
      const now = Math.floor(Date.now() / 1000);
      const base = { iss: alpha.issuer, aud: 'edge-alpha', iat: now, jti: 'j', sid: claims.idp_sid, events };
      for (const [why, token] of [
        ['signature of another token', `${header}.${payload}.${(await alpha.mintIdToken({ client_id: 'edge-alpha' })).split('.')[2]}`],
        ['alg none', await alpha.signJwt('none', base, { typ: 'logout+jwt' })],
        ['an ID token', await alpha.mintIdToken({ client_id: 'edge-alpha', claims: { sub: 'ada', nonce: 'n' } })],
        ['with a nonce', await alpha.signJwt('RS256', { ...base, nonce: 'n' }, { typ: 'logout+jwt' })],
        ['for another client', await alpha.signJwt('RS256', { ...base, aud: 'someone-else' }, { typ: 'logout+jwt' })],
        ['no jti', await alpha.signJwt('RS256', { ...base, jti: undefined }, { typ: 'logout+jwt' })],
      ]) {
        const response = await post(token);
        assert.equal(response.status, 400, why);
        await response.arrayBuffer();
      }
      const wrongProvider = await fetch(`${edge.url}/auth/backchannel-logout/beta`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ logout_token: valid }),
      });
      assert.equal(wrongProvider.status, 400, "alpha's token at beta's endpoint");
      await wrongProvider.arrayBuffer();
      assert.equal((await page.request.get(`${edge.url}/auth/session`)).status(), 200, 'still signed in');
    } finally {
      await context.close();
    }
  });
});

describe('refusals', () => {
  /** The login page shown after a failed sign-in: its generic message. */
  async function failureMessage(page) {
    assert.equal(new URL(page.url()).pathname.startsWith('/auth/'), true, page.url());
    return page.getByRole('alert').innerText();
  }

  test('a user whose e-mail domain is not allowed gets the generic message, the reason is logged', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await startAt(page, 'Alpha');
      const [response] = await Promise.all([
        page.waitForResponse((r) => new URL(r.url()).pathname === '/auth/callback/alpha'),
        signInAtProvider(page, USERS[1]),
      ]);
      assert.equal(response.status(), 401);
      assert.match(await failureMessage(page), /Signing in did not complete/);
      assert.equal((await context.cookies()).some((c) => c.name === '__Host-edgeauth'), false);
      await waitForLog(edge, /"event":"login_failed"[^\n]*"reason":"email_domain_not_allowed"/);
    } finally {
      await context.close();
    }
  });

  test('cancelling at the provider (access_denied) comes back to the login page', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await startAt(page, 'Alpha');
      await Promise.all([
        page.waitForURL((url) => url.pathname === '/auth/callback/alpha'),
        page.locator(LOGIN_FORM.cancel).click(),
      ]);
      assert.match(await failureMessage(page), /Signing in did not complete/);
      await waitForLog(edge, /"reason":"provider_error:access_denied"/);
    } finally {
      await context.close();
    }
  });

  /**
   * A login through alpha stopped just before its callback: the provider's redirects are
   * followed by hand from the login form's POST (a route never sees a redirect's target), so the
   * edge has not seen the code. The callback URL, and the browser context holding the
   * transaction cookie.
   */
  async function stoppedAtCallback() {
    const context = await browser.newContext();
    const page = await context.newPage();
    await startAt(page, 'Alpha');
    let callback;
    await page.route(`${alpha.issuer}/interaction/**`, async (route) => {
      if (route.request().method() !== 'POST') return route.continue();
      let response = await route.fetch({ maxRedirects: 0 });
      let location = response.headers().location;
      while (location && !location.startsWith(`${edge.url}/auth/callback/`)) {
        response = await context.request.get(new URL(location, alpha.issuer).href, { maxRedirects: 0 });
        location = response.headers().location;
      }
      callback = location;
      return route.fulfill({ status: 200, contentType: 'text/plain', body: 'stopped before the callback' });
    });
    await signInAtProvider(page, USERS[0]);
    await page.getByText('stopped before the callback').waitFor();
    await page.unroute(`${alpha.issuer}/interaction/**`);
    assert.ok(callback, 'the provider redirected to the callback');
    return { context, page, callback: new URL(callback) };
  }

  test('a replayed callback finds no transaction', async () => {
    const { context, page, callback } = await stoppedAtCallback();
    try {
      await page.goto(callback.href);
      await page.waitForURL((url) => url.pathname === '/app');
      assert.equal((await originView(page)).headers['x-auth-user'], 'alpha:ada', 'the first use signs in');
      await context.clearCookies({ name: '__Host-edgeauth' });
      const replay = await page.goto(callback.href);
      assert.equal(replay.status(), 401);
      assert.match(await failureMessage(page), /Signing in did not complete/);
      await waitForLog(edge, /"reason":"transaction:missing"/);
    } finally {
      await context.close();
    }
  });

  test("a state that is not the transaction's is refused", async () => {
    const { context, page, callback } = await stoppedAtCallback();
    try {
      const state = callback.searchParams.get('state');
      // Same cookie name (its first 16 characters), another state.
      const forged = `${state.slice(0, 16)}${'A'.repeat(state.length - 16)}`;
      assert.notEqual(forged, state);
      callback.searchParams.set('state', forged);
      const response = await page.goto(callback.href);
      assert.equal(response.status(), 401);
      await waitForLog(edge, /"reason":"transaction:state_mismatch"/);
      assert.equal((await context.cookies()).some((c) => c.name === '__Host-edgeauth'), false);
    } finally {
      await context.close();
    }
  });

  test("a code sent to another provider's callback is refused", async () => {
    const { context, page, callback } = await stoppedAtCallback();
    try {
      const elsewhere = new URL(`${edge.url}/auth/callback/beta${callback.search}`);
      const response = await page.goto(elsewhere.href);
      assert.equal(response.status(), 401);
      await waitForLog(edge, /"reason":"transaction:other_provider"/);
      assert.equal((await context.cookies()).some((c) => c.name === '__Host-edgeauth'), false);
    } finally {
      await context.close();
    }
  });

  test('a discovery document naming another issuer is refused before the browser leaves', async () => {
    const response = await fetch(`${edge.url}/auth/sso/wrong-issuer?next=/app`, { redirect: 'manual' });
    assert.equal(response.status, 502);
    assert.match(await response.text(), /could not be reached/);
    assert.equal(response.headers.get('set-cookie'), null, 'no transaction started');
    await waitForLog(edge, /"reason":"discovery:issuer does not match"/);
  });

  test('an unknown provider is 404', async () => {
    for (const path of ['/auth/sso/nope', '/auth/callback/nope?code=x&state=y', '/auth/sso/', '/auth/sso/alpha/x']) {
      const response = await fetch(`${edge.url}${path}`, { redirect: 'manual' });
      assert.equal(response.status, 404, path);
      await response.arrayBuffer();
    }
  });

  test('the start sends the browser to the provider with PKCE S256, state and nonce, and seals them', async () => {
    const response = await fetch(`${edge.url}/auth/sso/alpha?next=//evil.example`, { redirect: 'manual' });
    assert.equal(response.status, 303);
    const location = new URL(response.headers.get('location'));
    assert.equal(location.origin, alpha.issuer);
    const q = location.searchParams;
    assert.equal(q.get('response_type'), 'code');
    assert.equal(q.get('client_id'), 'edge-alpha');
    assert.equal(q.get('redirect_uri'), `${edge.url}/auth/callback/alpha`);
    assert.equal(q.get('code_challenge_method'), 'S256');
    assert.match(q.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/);
    assert.match(q.get('state'), /^[A-Za-z0-9_-]{43}$/);
    assert.match(q.get('nonce'), /^[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(q.get('scope').split(' '), ['openid', 'email', 'profile', 'groups']);
    const cookie = response.headers.get('set-cookie');
    assert.match(cookie, new RegExp(`^__Host-edgeauth-sso-${q.get('state').slice(0, 16)}=`));
    assert.match(cookie, /Max-Age=600; Path=\/; Secure; HttpOnly; SameSite=Lax/);
    // The sealed transaction names the safe next, never the one asked for.
    const sealed = cookie.split(';')[0].split('=')[1].split('.')[0];
    const transaction = JSON.parse(Buffer.from(sealed, 'base64url').toString());
    assert.equal(transaction.next, '/');
    assert.equal(transaction.provider, 'alpha');
  });
});
