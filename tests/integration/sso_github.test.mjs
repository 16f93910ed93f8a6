// Single sign-on with GitHub (OAuth 2.0 without ID tokens) under `wrangler dev`.
//
// GitHub's OAuth and REST API are proprietary: no real GitHub can run on loopback. The provider
// here is github_standin.mjs, a local stand-in of GitHub's documented endpoints and answers
// (https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps, the
// access token request errors page, and the REST reference for GET /user, /user/emails and
// /user/teams); the brief allows a stand-in for a vendor's proprietary API. The first block
// checks the stand-in itself against those documented behaviours (200 with an error from the
// token endpoint, the format chosen by Accept, PKCE, 403 without a User-Agent, 401 Bad
// credentials, scopes), so that what the edge is tested against means something.
//
// One worker, two provider entries at the same stand-in: 'gh' (mapping: default role user,
// acme/eng → dev, only members of org acme) and 'gh-open' (another client_id, no allow list, no
// groups: its logins must never read /user/teams). A Chromium click-through covers the browser
// flow (/app → login page → "Sign in with GitHub" → the stand-in's authorize page → /app); the
// other logins are driven with fetch and `redirect: 'manual'` as in sso_conformance.test.mjs:
// each callback carries its own `cf-ray`, which the edge logs as the request_id, so each test
// reads its own log line.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { launchBrowser } from './browser.mjs';
import { startOrigin, startWorker, stopAll, waitForLog } from './harness.mjs';
import { loadExpectFail } from './expect_fail_vectors.mjs';
import { startGitHub } from './github_standin.mjs';

const vectors = loadExpectFail();
const GH_SECRET = 'gh client secret: not & a + real = one';
const SCOPES = ['read:user', 'user:email', 'read:org'];
const OPEN_SCOPES = ['read:user', 'user:email'];

/** In acme/eng: admitted by 'gh', roles user and dev. Their public e-mail is not the primary one. */
const OCTOCAT = {
  id: 583231,
  login: 'octocat',
  name: 'The Octocat',
  email: 'octo@public.example',
  emails: [
    { email: 'old@unverified.example', primary: false, verified: false },
    { email: 'octocat@github.example', primary: true, verified: true },
    { email: 'octo@public.example', primary: false, verified: true },
  ],
  teams: [
    { org: 'acme', slug: 'eng', name: 'Eng' },
    { org: 'other', slug: 'ops', name: 'Ops' },
  ],
};
/** In acme (team interns): admitted, but their only address is unverified. */
const NEWBIE = {
  id: 1000001,
  login: 'newbie',
  name: 'New Bie',
  emails: [{ email: 'newbie@acme.example', primary: true, verified: false }],
  teams: [{ org: 'acme', slug: 'interns' }],
};
/** A team called eng, but in another org: not in acme. */
const OUTSIDER = {
  id: 2000002,
  login: 'outsider',
  name: 'Out Sider',
  emails: [{ email: 'outsider@elsewhere.example', primary: true, verified: true }],
  teams: [{ org: 'elsewhere', slug: 'eng' }],
};

/** The stand-in's own client for the self-check (never the edge's). */
const SELF = { client_id: 'standin-self-check', client_secret: 'self-check secret', redirect_uri: 'http://127.0.0.1:9/callback' };
/** RFC 7636 appendix B. */
const RFC_VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const RFC_CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

let origin;
let gh;

before(async () => {
  [origin, gh] = await Promise.all([startOrigin(), startGitHub({ users: [OCTOCAT, NEWBIE, OUTSIDER], clients: [SELF] })]);
});

after(async () => {
  await stopAll();
  await Promise.all([origin?.close(), gh?.close()]);
});

/** A GET without the User-Agent that Node's fetch always adds. */
function rawGet(url, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
  });
}

describe('the stand-in itself (GitHub as documented)', () => {
  /** Authorizes SELF for `user` at once; resolves to the code. */
  async function selfCode({ user = 'octocat', scope = SCOPES.join(' '), challenge = RFC_CHALLENGE } = {}) {
    const authorize = new URL(`${gh.url}/login/oauth/authorize`);
    authorize.searchParams.set('client_id', SELF.client_id);
    authorize.searchParams.set('redirect_uri', SELF.redirect_uri);
    authorize.searchParams.set('scope', scope);
    authorize.searchParams.set('state', 'self-check-state');
    authorize.searchParams.set('code_challenge', challenge);
    authorize.searchParams.set('code_challenge_method', 'S256');
    gh.setUser(user);
    try {
      const response = await fetch(authorize, { redirect: 'manual' });
      await response.arrayBuffer();
      assert.equal(response.status, 302);
      const back = new URL(response.headers.get('location'));
      assert.equal(`${back.origin}${back.pathname}`, SELF.redirect_uri);
      assert.equal(back.searchParams.get('state'), 'self-check-state');
      return back.searchParams.get('code');
    } finally {
      gh.setUser(null);
    }
  }

  async function exchange(fields, { accept = 'application/json' } = {}) {
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    if (accept) headers.accept = accept;
    const defined = Object.entries(fields).filter(([, value]) => value !== undefined);
    const response = await fetch(`${gh.url}/login/oauth/access_token`, { method: 'POST', headers, body: new URLSearchParams(defined) });
    return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
  }

  const fieldsFor = async (overrides = {}) => ({
    client_id: SELF.client_id,
    client_secret: SELF.client_secret,
    code: await selfCode(),
    redirect_uri: SELF.redirect_uri,
    code_verifier: RFC_VERIFIER,
    ...overrides,
  });

  test('the token endpoint answers 200 with an error for a wrong verifier, secret or code, and a token for the right ones', async () => {
    const own = () => gh.counts.clients[SELF.client_id];
    const errorOf = (answer) => {
      assert.equal(answer.status, 200, 'GitHub answers errors with 200');
      assert.match(answer.type, /^application\/json/);
      return JSON.parse(answer.text).error;
    };
    const before = { ...own(), tokenErrors: { ...own().tokenErrors } };
    assert.equal(errorOf(await exchange(await fieldsFor({ code_verifier: 'x'.repeat(43) }))), 'bad_verification_code', 'wrong PKCE verifier');
    assert.equal(own().pkceRejected, before.pkceRejected + 1);
    assert.equal(errorOf(await exchange(await fieldsFor({ code_verifier: undefined }))), 'bad_verification_code', 'no verifier');
    assert.equal(errorOf(await exchange(await fieldsFor({ client_secret: 'wrong' }))), 'incorrect_client_credentials');
    assert.equal(errorOf(await exchange({ ...(await fieldsFor()), code: '0123456789abcdef0123' })), 'bad_verification_code', 'unknown code');
    assert.equal(errorOf(await exchange(await fieldsFor({ redirect_uri: 'http://127.0.0.1:9/elsewhere' }))), 'redirect_uri_mismatch');

    const fields = await fieldsFor();
    const right = await exchange(fields);
    assert.equal(right.status, 200);
    const answer = JSON.parse(right.text);
    assert.match(answer.access_token, /^gho_[A-Za-z0-9]{36}$/);
    assert.equal(answer.token_type, 'bearer');
    assert.equal(answer.scope, 'read:user,user:email,read:org');
    assert.equal(errorOf(await exchange(fields)), 'bad_verification_code', 'a code is good once');

    const form = await exchange(await fieldsFor(), { accept: null });
    assert.equal(form.status, 200);
    assert.match(form.type, /^application\/x-www-form-urlencoded/, 'without Accept: application/json, GitHub answers form-encoded');
    const parsed = new URLSearchParams(form.text);
    assert.match(parsed.get('access_token'), /^gho_/);
    assert.equal(parsed.get('token_type'), 'bearer');

    gh.rejectCodes(true);
    try {
      assert.equal(errorOf(await exchange(await fieldsFor())), 'bad_verification_code', 'rejectCodes');
    } finally {
      gh.rejectCodes(false);
    }
    assert.equal(own().pkceVerified, before.pkceVerified + 2);
  });

  test('the API wants a User-Agent and a known token, and answers with GitHub\'s shapes', async () => {
    const { access_token: token } = JSON.parse((await exchange(await fieldsFor())).text);
    const headers = { authorization: `Bearer ${token}`, accept: 'application/vnd.github+json', 'user-agent': 'self-check' };
    const noAgent = await rawGet(`${gh.api}/user`, { authorization: headers.authorization, accept: headers.accept });
    assert.equal(noAgent.status, 403);
    assert.match(noAgent.text, /User-Agent/);
    const anonymous = await fetch(`${gh.api}/user`, { headers: { 'user-agent': 'self-check' } });
    assert.equal(anonymous.status, 401);
    assert.equal((await anonymous.json()).message, 'Requires authentication');
    const wrong = await fetch(`${gh.api}/user`, { headers: { ...headers, authorization: 'Bearer gho_wrong' } });
    assert.equal(wrong.status, 401);
    assert.equal((await wrong.json()).message, 'Bad credentials');

    const user = await fetch(`${gh.api}/user`, { headers });
    assert.equal(user.status, 200);
    assert.equal(user.headers.get('x-oauth-scopes'), 'read:user, user:email, read:org');
    const body = await user.json();
    assert.equal(body.id, 583231);
    assert.equal(body.login, 'octocat');
    assert.equal(body.name, 'The Octocat');
    assert.equal(body.email, 'octo@public.example', 'the public e-mail');
    assert.equal(body.type, 'User');

    const emails = await (await fetch(`${gh.api}/user/emails`, { headers })).json();
    assert.deepEqual(emails, [
      { email: 'old@unverified.example', primary: false, verified: false, visibility: null },
      { email: 'octocat@github.example', primary: true, verified: true, visibility: 'private' },
      { email: 'octo@public.example', primary: false, verified: true, visibility: null },
    ]);
    const teams = await (await fetch(`${gh.api}/user/teams`, { headers })).json();
    assert.deepEqual(
      teams.map((team) => [team.organization.login, team.slug, team.name]),
      [['acme', 'eng', 'Eng'], ['other', 'ops', 'Ops']],
    );
    const firstPage = await fetch(`${gh.api}/user/teams?per_page=1`, { headers });
    assert.equal((await firstPage.json()).length, 1);
    assert.match(firstPage.headers.get('link'), /<[^>]+\/api\/user\/teams\?per_page=1&page=2>; rel="next"/);

    // A token without user:email and read:org sees neither list.
    const narrow = JSON.parse(
      (await exchange({ client_id: SELF.client_id, client_secret: SELF.client_secret, code: await selfCode({ scope: 'read:user' }), redirect_uri: SELF.redirect_uri, code_verifier: RFC_VERIFIER })).text,
    );
    assert.equal(narrow.scope, 'read:user');
    for (const path of ['/user/emails', '/user/teams']) {
      const response = await fetch(`${gh.api}${path}`, { headers: { ...headers, authorization: `Bearer ${narrow.access_token}` } });
      assert.equal(response.status, 404, path);
      await response.arrayBuffer();
    }

    gh.revokeTokens(true);
    try {
      const { access_token: revoked } = JSON.parse((await exchange(await fieldsFor())).text);
      const response = await fetch(`${gh.api}/user`, { headers: { ...headers, authorization: `Bearer ${revoked}` } });
      assert.equal(response.status, 401);
      assert.equal((await response.json()).message, 'Bad credentials');
    } finally {
      gh.revokeTokens(false);
    }
  });

  test('the authorize endpoint: deny, an unknown client, a foreign redirect_uri, and the HTML page', async () => {
    const authorize = (params) => {
      const url = new URL(`${gh.url}/login/oauth/authorize`);
      for (const [name, value] of Object.entries({ client_id: SELF.client_id, redirect_uri: SELF.redirect_uri, scope: 'read:user', state: 's1', code_challenge: RFC_CHALLENGE, code_challenge_method: 'S256', ...params })) {
        url.searchParams.set(name, value);
      }
      return fetch(url, { redirect: 'manual' });
    };
    gh.deny(true);
    try {
      const denied = await authorize({});
      assert.equal(denied.status, 302);
      const back = new URL(denied.headers.get('location'));
      assert.equal(back.searchParams.get('error'), 'access_denied');
      assert.equal(back.searchParams.get('state'), 's1');
      assert.equal(back.searchParams.get('code'), null);
    } finally {
      gh.deny(false);
    }
    assert.equal((await authorize({ client_id: 'nobody' })).status, 404);
    assert.equal((await authorize({ redirect_uri: 'http://127.0.0.1:10/callback' })).status, 400);
    assert.equal((await authorize({ code_challenge_method: 'plain' })).status, 400);
    const page = await authorize({});
    assert.equal(page.status, 200);
    const html = await page.text();
    for (const login of ['octocat', 'newbie', 'outsider']) assert.match(html, new RegExp(`Authorize as ${login}`));
    assert.doesNotMatch(html, /<script/i, 'a plain form page');
  });
});

describe('through the edge', () => {
  let edge;
  let browser;
  let requests = 0;
  const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  before(async () => {
    const providers = [
      {
        id: 'gh',
        label: 'GitHub',
        kind: 'github',
        client_id: 'gh-client',
        client_secret_secret: 'GH_SECRET',
        web_url: gh.url,
        api_url: gh.api,
        scopes: SCOPES,
        mapping: { default_roles: ['user'], group_roles: { 'acme/eng': ['dev'] }, allowed_groups: ['acme'] },
      },
      {
        id: 'gh-open',
        label: 'GitHub (open)',
        kind: 'github',
        client_id: 'gh-open-client',
        client_secret_secret: 'GH_SECRET',
        web_url: gh.url,
        api_url: gh.api,
        scopes: OPEN_SCOPES,
        mapping: { default_roles: ['guest'] },
      },
    ];
    edge = await startWorker({
      name: 'sso-github',
      vars: {
        SIGNING_KEY: vectors.privateJwk(),
        ISSUER: vectors.doc.issuer,
        ORIGIN_URL: origin.url,
        ACCESS_RULES: '[]',
        IDENTITY_PROVIDERS: JSON.stringify(providers),
        GH_SECRET,
      },
    });
    gh.registerClient({ client_id: 'gh-client', client_secret: GH_SECRET, redirect_uri: `${edge.url}/auth/callback/gh` });
    gh.registerClient({ client_id: 'gh-open-client', client_secret: GH_SECRET, redirect_uri: `${edge.url}/auth/callback/gh-open` });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
  });

  const nextRequestId = () => {
    requests += 1;
    return `gh-${process.pid}-${requests}`;
  };

  /** The edge's audit record of `requestId` (optionally of `event` only), parsed. */
  async function record(requestId, event = '[^"]+') {
    const pattern = new RegExp(`\\{"event":"${event}","request_id":"${escape(requestId)}"[^\\n]*\\}`);
    const log = await waitForLog(edge, pattern);
    return JSON.parse(log.match(pattern)[0]);
  }

  /**
   * A login through entry `id` up to GitHub's redirect back to the edge: /auth/sso/<id> → the
   * stand-in's authorize endpoint, which approves `user` at once (or answers access_denied with
   * `deny`). Resolves to `{ authorize, state, cookie, callback }`; nothing reached the callback.
   */
  async function untilCallback(id, user, { next = '/app', deny = false } = {}) {
    const start = await fetch(`${edge.url}/auth/sso/${id}?next=${encodeURIComponent(next)}`, { redirect: 'manual' });
    const startBody = await start.text();
    assert.equal(start.status, 303, `/auth/sso/${id} starts the login (answered ${startBody.slice(0, 200)})`);
    const authorize = new URL(start.headers.get('location'));
    assert.equal(`${authorize.origin}${authorize.pathname}`, `${gh.url}/login/oauth/authorize`);
    const state = authorize.searchParams.get('state');
    const cookieName = `__Host-edgeauth-sso-${state.slice(0, 16)}`;
    const transaction = start.headers.getSetCookie().find((c) => c.startsWith(`${cookieName}=`));
    assert.ok(transaction, `the start sets ${cookieName}`);
    gh.setUser(deny ? null : user);
    gh.deny(deny);
    let atGitHub;
    try {
      atGitHub = await fetch(authorize, { redirect: 'manual' });
    } finally {
      gh.setUser(null);
      gh.deny(false);
    }
    const body = await atGitHub.text();
    assert.equal(atGitHub.status, 302, `the stand-in redirects back (it answered ${body.slice(0, 200)})`);
    const callback = new URL(atGitHub.headers.get('location'));
    assert.equal(`${callback.origin}${callback.pathname}`, `${edge.url}/auth/callback/${id}`);
    assert.equal(callback.searchParams.get('state'), state);
    return { authorize, state, cookie: transaction.split(';')[0], callback };
  }

  /** Sends `callback` to the edge with `cookie` (or none) and its own cf-ray. */
  async function callBack(callback, cookie) {
    const requestId = nextRequestId();
    const headers = { 'cf-ray': requestId };
    if (cookie) headers.cookie = cookie;
    const response = await fetch(callback, { redirect: 'manual', headers });
    const body = await response.text();
    return { response, body, requestId, cookies: response.headers.getSetCookie() };
  }

  /** A whole login through `id` for `user`: the edge's answer to the callback. */
  async function login(id, user, options) {
    const { callback, cookie } = await untilCallback(id, user, options);
    return callBack(callback, cookie);
  }

  const sessionCookie = (cookies) => cookies.find((c) => c.startsWith('__Host-edgeauth='));

  /** Asserts the login was refused: `status`, the generic page, no session, the transaction cleared; returns the log record. */
  async function assertRefused(result, { status = 401 } = {}) {
    const { response, body, requestId, cookies } = result;
    const logged = await record(requestId);
    assert.equal(response.status, status, `status (the edge logged ${JSON.stringify(logged)})`);
    assert.match(response.headers.get('content-type'), /^text\/html/);
    assert.match(body, status === 401 ? /Signing in did not complete/ : /could not be reached/);
    assert.equal(sessionCookie(cookies), undefined, 'no session cookie');
    assert.ok(
      cookies.some((c) => c.startsWith('__Host-edgeauth-sso-') && /Max-Age=0/.test(c)),
      'the transaction cookie is cleared',
    );
    assert.equal(logged.event, status >= 500 ? 'error' : 'login_failed', JSON.stringify(logged));
    assert.equal(logged.status, status);
    return logged;
  }

  /** Asserts the login succeeded (303 to `next`, a working session, the log line); returns the session's claims. */
  async function assertSignedIn(result, id, next = '/app') {
    const { response, body, requestId, cookies } = result;
    assert.equal(response.status, 303, `the login succeeds (answered ${response.status}: ${body.slice(0, 300)}; logged ${JSON.stringify(await record(requestId))})`);
    assert.equal(response.headers.get('location'), next);
    const session = sessionCookie(cookies);
    assert.ok(session, 'a session cookie is set');
    assert.match(session, /HttpOnly/);
    const logged = await record(requestId, 'login');
    assert.equal(logged.reason, `success:${id}`);
    const claims = await fetch(`${edge.url}/auth/session`, { headers: { cookie: session.split(';')[0] } });
    assert.equal(claims.status, 200, 'the session works on /auth/session');
    return { claims: await claims.json(), cookie: session.split(';')[0] };
  }

  /** What the origin sees for /app with `cookie`. */
  async function originSees(cookie) {
    const response = await fetch(`${edge.url}/app`, { headers: { cookie } });
    assert.equal(response.status, 200);
    return response.json();
  }

  describe('signing in', () => {
    test('Chromium: /app → login page → "Sign in with GitHub" → the stand-in → /app as gh:583231 with roles user,dev', async () => {
      const context = await browser.newContext({ javaScriptEnabled: false });
      const requestId = nextRequestId();
      await context.setExtraHTTPHeaders({ 'cf-ray': requestId });
      const page = await context.newPage();
      try {
        await page.goto(`${edge.url}/app/reports?q=1`);
        assert.equal(new URL(page.url()).pathname, '/auth/login');
        await Promise.all([
          page.waitForURL((url) => url.origin === gh.url && url.pathname === '/login/oauth/authorize'),
          page.getByRole('link', { name: 'Sign in with GitHub', exact: true }).click(),
        ]);
        await Promise.all([
          page.waitForURL((url) => url.origin === edge.url && url.pathname === '/app/reports'),
          page.getByRole('button', { name: 'Authorize as octocat', exact: true }).click(),
        ]);
        const seen = JSON.parse(await page.locator('body').innerText());
        assert.equal(seen.query, 'q=1', 'next kept its query');
        assert.equal(seen.headers['x-auth-user'], 'gh:583231', 'sub namespaced, the numeric GitHub id');
        assert.equal(seen.headers['x-auth-roles'], 'user,dev');
        assert.doesNotMatch(seen.headers.cookie ?? '', /__Host-edgeauth/, 'no cookie of ours reaches the origin');
        const response = await page.request.get(`${edge.url}/auth/session`);
        assert.equal(response.status(), 200);
        const claims = await response.json();
        assert.equal(claims.sub, 'gh:583231');
        assert.equal(claims.idp, 'gh');
        assert.equal(claims.email, 'octocat@github.example', 'the primary verified address, not the public or an unverified one');
        assert.deepEqual(claims.roles, ['user', 'dev']);
        const cookies = await context.cookies();
        assert.deepEqual(cookies.filter((c) => c.name.startsWith('__Host-edgeauth-sso-')), [], 'transaction cookie cleared');
        const session = cookies.find((c) => c.name === '__Host-edgeauth');
        assert.ok(session?.httpOnly && session.secure && session.sameSite === 'Lax');
        const logged = await record(requestId, 'login');
        assert.equal(logged.reason, 'success:gh');
        assert.equal(logged.sub, 'gh:583231');
      } finally {
        await context.close();
      }
    });

    test('Chromium: Cancel at GitHub comes back to the login page with the generic message', async () => {
      const context = await browser.newContext({ javaScriptEnabled: false });
      const requestId = nextRequestId();
      await context.setExtraHTTPHeaders({ 'cf-ray': requestId });
      const page = await context.newPage();
      try {
        await page.goto(`${edge.url}/app`);
        await Promise.all([
          page.waitForURL((url) => url.origin === gh.url && url.pathname === '/login/oauth/authorize'),
          page.getByRole('link', { name: 'Sign in with GitHub', exact: true }).click(),
        ]);
        const [response] = await Promise.all([
          page.waitForResponse((r) => new URL(r.url()).pathname === '/auth/callback/gh'),
          page.getByRole('button', { name: 'Cancel', exact: true }).click(),
        ]);
        assert.equal(response.status(), 401);
        assert.match(await page.getByRole('alert').innerText(), /Signing in did not complete/);
        assert.equal((await context.cookies()).some((c) => c.name === '__Host-edgeauth'), false);
        const logged = await record(requestId, 'login_failed');
        assert.equal(logged.reason, 'provider_error:access_denied');
      } finally {
        await context.close();
      }
    });

    test("the start sends the browser to GitHub's authorize endpoint with the configured scopes, state and PKCE S256", async () => {
      for (const [id, clientId, scopes] of [['gh', 'gh-client', SCOPES], ['gh-open', 'gh-open-client', OPEN_SCOPES]]) {
        const response = await fetch(`${edge.url}/auth/sso/${id}?next=//evil.example`, { redirect: 'manual' });
        await response.arrayBuffer();
        assert.equal(response.status, 303, id);
        const location = new URL(response.headers.get('location'));
        assert.equal(`${location.origin}${location.pathname}`, `${gh.url}/login/oauth/authorize`);
        const q = location.searchParams;
        assert.equal(q.get('client_id'), clientId);
        assert.equal(q.get('redirect_uri'), `${edge.url}/auth/callback/${id}`);
        assert.deepEqual(q.get('scope').split(' '), scopes, 'space-separated, as configured (no openid)');
        assert.equal(q.get('code_challenge_method'), 'S256');
        assert.match(q.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/);
        assert.match(q.get('state'), /^[A-Za-z0-9_-]{22,128}$/, 'at least 128 bits, URL-safe');
        const cookie = response.headers.get('set-cookie');
        assert.match(cookie, new RegExp(`^__Host-edgeauth-sso-${escape(q.get('state').slice(0, 16))}=`));
        assert.match(cookie, /Max-Age=600; Path=\/; Secure; HttpOnly; SameSite=Lax/);
        assert.doesNotMatch(cookie, new RegExp(escape(GH_SECRET)));
      }
    });

    test("the edge speaks GitHub's protocol: the token request and the API calls as documented", async () => {
      const from = gh.requests.length;
      const teamsBefore = gh.counts.teams;
      const { claims, cookie } = await assertSignedIn(await login('gh', 'octocat'), 'gh');
      assert.equal(claims.sub, 'gh:583231');
      assert.equal(claims.idp, 'gh');
      assert.equal(claims.email, 'octocat@github.example');
      assert.deepEqual(claims.roles, ['user', 'dev']);
      const seen = await originSees(cookie);
      assert.equal(seen.headers['x-auth-user'], 'gh:583231');
      assert.equal(seen.headers['x-auth-roles'], 'user,dev');

      const made = gh.requests.slice(from).filter((r) => r.method !== 'GET' || r.path !== '/login/oauth/authorize');
      const token = made.filter((r) => r.path === '/login/oauth/access_token');
      assert.equal(token.length, 1, 'one token request');
      assert.equal(token[0].method, 'POST');
      assert.match(token[0].headers.accept ?? '', /application\/json/);
      assert.match(token[0].headers['content-type'] ?? '', /^application\/x-www-form-urlencoded/);
      for (const field of ['client_id', 'client_secret', 'code', 'redirect_uri', 'code_verifier']) {
        assert.ok(token[0].form.includes(field), `the token request sends ${field} (sent ${token[0].form})`);
      }
      const apiCalls = made.filter((r) => r.path.startsWith('/api/'));
      const paths = new Set(apiCalls.map((r) => r.path));
      for (const path of ['/api/user', '/api/user/emails', '/api/user/teams']) assert.ok(paths.has(path), `the edge read ${path}`);
      for (const call of apiCalls) {
        assert.equal(call.method, 'GET', call.path);
        assert.match(call.headers.authorization ?? '', /^Bearer gho_[A-Za-z0-9]{36}$/, call.path);
        assert.equal(call.headers.accept, 'application/vnd.github+json', call.path);
        assert.match(call.headers['user-agent'] ?? '', /^edgeauth\b/, `${call.path}: user-agent ${call.headers['user-agent']}`);
      }
      assert.ok(gh.counts.teams > teamsBefore, 'the teams were read (the mapping uses groups)');
      assert.deepEqual(
        made.filter((r) => !r.path.startsWith('/api/') && r.path !== '/login/oauth/access_token'),
        [],
        'nothing else was requested',
      );
    });

    test('a user whose only e-mail address is unverified signs in without an email claim', async () => {
      const { claims } = await assertSignedIn(await login('gh', 'newbie'), 'gh');
      assert.equal(claims.sub, 'gh:1000001');
      assert.equal(claims.email, undefined, `no email claim (got ${claims.email})`);
      assert.deepEqual(claims.roles, ['user'], 'acme/interns gives no role');
    });

    test('an entry whose mapping uses no groups (gh-open) admits a user of no allowed org and never reads /user/teams', async () => {
      const from = gh.requests.length;
      const teamsBefore = gh.counts.teams;
      const { claims, cookie } = await assertSignedIn(await login('gh-open', 'outsider'), 'gh-open');
      assert.equal(claims.sub, 'gh-open:2000002');
      assert.equal(claims.idp, 'gh-open');
      assert.equal(claims.email, 'outsider@elsewhere.example');
      assert.deepEqual(claims.roles, ['guest']);
      assert.equal((await originSees(cookie)).headers['x-auth-user'], 'gh-open:2000002');
      assert.equal(gh.counts.teams, teamsBefore, '/user/teams was not read');
      assert.deepEqual(gh.requests.slice(from).filter((r) => r.path === '/api/user/teams'), []);
    });
  });

  describe('refusals', () => {
    test('a user in no team of org acme is refused with the generic page (group_not_allowed)', async () => {
      const logged = await assertRefused(await login('gh', 'outsider'));
      assert.equal(logged.reason, 'group_not_allowed');
    });

    test('access_denied at GitHub is refused (provider_error:access_denied)', async () => {
      const exchangesBefore = gh.counts.token;
      const logged = await assertRefused(await login('gh', null, { deny: true }));
      assert.equal(logged.reason, 'provider_error:access_denied');
      assert.equal(gh.counts.token, exchangesBefore, 'nothing was exchanged');
    });

    test("the token endpoint's 200 with an error (bad_verification_code) is refused", async () => {
      const { callback, cookie } = await untilCallback('gh', 'octocat');
      const errorsBefore = gh.counts.tokenErrors.bad_verification_code ?? 0;
      const apiBefore = gh.counts.user;
      gh.rejectCodes(true);
      let result;
      try {
        result = await callBack(callback, cookie);
      } finally {
        gh.rejectCodes(false);
      }
      const logged = await assertRefused(result);
      assert.equal(gh.counts.tokenErrors.bad_verification_code, errorsBefore + 1, 'the stand-in answered bad_verification_code');
      assert.match(logged.reason, /^github:/);
      assert.equal(logged.reason, 'github:token_error:bad_verification_code');
      assert.equal(gh.counts.user, apiBefore, 'no API call without a token');
    });

    test('the user API answering 401 Bad credentials is refused', async () => {
      const { callback, cookie } = await untilCallback('gh', 'octocat');
      const unauthorizedBefore = gh.counts.unauthorized;
      gh.revokeTokens(true);
      let result;
      try {
        result = await callBack(callback, cookie);
      } finally {
        gh.revokeTokens(false);
      }
      // The brief says "refused" without a status or reason: either generic page is a refusal,
      // and the report names what the edge chose.
      const status = result.response.status === 502 ? 502 : 401;
      const logged = await assertRefused(result, { status });
      assert.ok(gh.counts.unauthorized > unauthorizedBefore, 'the stand-in answered 401');
      assert.match(logged.reason, /^github:/, JSON.stringify(logged));
      console.log(`# user API 401: the edge answered ${logged.status}, event ${logged.event}, reason ${logged.reason}`);
    });

    test("a state that is not the transaction's is refused (transaction:state_mismatch)", async () => {
      const { callback, cookie, state } = await untilCallback('gh', 'octocat');
      // Same cookie name (its first 16 characters), another state.
      const forged = `${state.slice(0, 16)}${'A'.repeat(state.length - 16)}`;
      assert.notEqual(forged, state);
      callback.searchParams.set('state', forged);
      const tokenBefore = gh.counts.token;
      const logged = await assertRefused(await callBack(callback, cookie));
      assert.equal(logged.reason, 'transaction:state_mismatch');
      assert.equal(gh.counts.token, tokenBefore, 'the code was not exchanged');
    });

    test('a replayed callback finds no transaction (transaction:missing)', async () => {
      const { callback, cookie } = await untilCallback('gh', 'octocat');
      const first = await callBack(callback, cookie);
      await assertSignedIn(first, 'gh');
      assert.ok(
        first.cookies.some((c) => c.startsWith(`${cookie.split('=')[0]}=`) && /Max-Age=0/.test(c)),
        'the first use clears the transaction cookie',
      );
      // A browser has dropped the cleared cookie: the replay comes without it.
      const logged = await assertRefused(await callBack(callback, null));
      assert.equal(logged.reason, 'transaction:missing');
    });

    test("a replay that still sends the old transaction cookie is stopped by GitHub's one-use code", async () => {
      const { callback, cookie } = await untilCallback('gh', 'octocat');
      await assertSignedIn(await callBack(callback, cookie), 'gh');
      const logged = await assertRefused(await callBack(callback, cookie));
      assert.equal(logged.reason, 'github:token_error:bad_verification_code');
    });
  });

  describe('PKCE', () => {
    test('every code the edge exchanged was verified against its S256 challenge', async () => {
      await assertSignedIn(await login('gh-open', 'octocat'), 'gh-open');
      let redeemed = 0;
      for (const client of ['gh-client', 'gh-open-client']) {
        const own = gh.counts.clients[client];
        assert.ok(own, `${client} exchanged codes`);
        assert.equal(own.pkceVerified, own.redeemed, `${client}: each redeemed code passed PKCE`);
        assert.equal(own.pkceRejected, 0, `${client}: no verifier failed`);
        assert.equal(own.pkceMissing, 0, `${client}: no code was issued without a challenge`);
        assert.equal(own.tokenErrors.incorrect_client_credentials ?? 0, 0, `${client}: the client secret was right`);
        assert.equal(own.tokenErrors.redirect_uri_mismatch ?? 0, 0, `${client}: the redirect_uri was the authorization's`);
        redeemed += own.redeemed;
      }
      assert.ok(redeemed >= 8, `the edge redeemed ${redeemed} codes`);
    });
  });
});
