// Negative cases of single sign-on under `wrangler dev`, after the OpenID Foundation's RP
// conformance test list for the Basic RP and Config RP profiles (code flow): each test is named
// after its conformance test where there is one (rp-…), and otherwise after the rule it checks
// (OpenID Connect Core 1.0 §3.1.3.7, Discovery 1.0 §4.3, RFC 6749, RFC 7636).
//
// The provider here is misbehaving_provider.mjs, a deliberately misbehaving stand-in that builds
// each login's ID token (or token endpoint answer) from a per-test scenario over correct
// defaults, so each case changes exactly one thing. It is used only for these refusals; the
// positive flow, with every signing algorithm and a key rotation, runs against the real
// oidc-provider in sso.test.mjs. The control case below only shows that this stand-in's defaults
// are right, so a refusal is caused by what its scenario changed.
//
// No browser: each login is driven with fetch and `redirect: 'manual'` — /auth/sso/<id> → the
// authorization URL at the provider → its redirect to the edge's callback, sent with the
// transaction cookie. Each callback carries its own `cf-ray`, which the edge logs as the
// request_id, so every test waits (waitForLog, bounded polling) for its own log line, never for
// an earlier test's line with the same reason.
//
// The edge caches a provider's JWKS per isolate (an hour) and refetches it for an unknown kid at
// most once a minute. Cases that depend on what the JWKS holds at the edge therefore each have
// their own provider entry and stand-in instance (own cache): 'bad' (RS256, ES256 and EdDSA
// keys), 'single' (one key), 'rotate' (key rotation); 'other' states another issuer in its
// discovery document.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { startOrigin, startWorker, stopAll, underLoad, waitForLog } from './harness.mjs';
import { loadExpectFail } from './expect_fail_vectors.mjs';
import { generateKey, jwkOf, startMisbehavingProvider } from './misbehaving_provider.mjs';

const vectors = loadExpectFail();
/** Needs form-encoding in client_secret_basic (RFC 6749 §2.3.1): space, ':', '+', '%', '/'. */
const CLIENT_SECRET = 'bad client:secret+/%=&';
const CLIENT_ID = 'edge-bad';
const SUB = 'user-1';

let origin;
let edge;
/** The stand-ins by provider id. */
const op = {};

before(async () => {
  [origin, op.bad, op.single, op.rotate, op.other, op.flaky, op.flakykeys, op.many, op.toomany] = await Promise.all([
    startOrigin(),
    startMisbehavingProvider({ name: 'bad', sub: SUB }),
    startMisbehavingProvider({ name: 'single', sub: SUB, publish: ['RS256'] }),
    startMisbehavingProvider({ name: 'rotate', sub: SUB, publish: ['RS256'] }),
    // The same server spelled with another host name: Discovery §4.3 wants the exact string.
    startMisbehavingProvider({ name: 'other', sub: SUB, discoveryIssuer: (url) => url.replace('//127.0.0.1:', '//localhost:') }),
    // Faults of a provider that works otherwise: its discovery document, then its JWKS.
    startMisbehavingProvider({ name: 'flaky', sub: SUB, publish: ['RS256'] }),
    startMisbehavingProvider({ name: 'flakykeys', sub: SUB, publish: ['RS256'] }),
    // A JWKS of 1,000 keys (the most accepted), the signing key last; one of 1,001.
    startMisbehavingProvider({ name: 'many', sub: SUB, publish: ['RS256'] }),
    startMisbehavingProvider({ name: 'toomany', sub: SUB, publish: ['RS256'] }),
  ]);
  const entry = (id) => ({
    id,
    label: `Misbehaving ${id}`,
    issuer: op[id].issuer,
    client_id: CLIENT_ID,
    client_secret_secret: 'BAD_SECRET',
  });
  edge = await startWorker({
    name: 'sso-conformance',
    vars: {
      SIGNING_KEY: vectors.privateJwk(),
      ISSUER: vectors.doc.issuer,
      ORIGIN_URL: origin.url,
      ACCESS_RULES: '[]',
      IDENTITY_PROVIDERS: JSON.stringify(Object.keys(op).map(entry)),
      BAD_SECRET: CLIENT_SECRET,
    },
  });
  for (const [id, provider] of Object.entries(op)) {
    provider.registerClient({
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: [`${edge.url}/auth/callback/${id}`],
    });
  }
});

after(async () => {
  await stopAll();
  await Promise.all([origin?.close(), ...Object.values(op).map((provider) => provider?.close())]);
});

let requests = 0;
/** What the harness self-check itself exchanged at 'bad' (not through the edge). */
const selfCheck = { basic: 0, verified: 0, rejected: 0 };
const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * One login through provider `id`, its ID token (or token answer) built by `scenario` (see
 * misbehaving_provider.mjs script()). Resolves at the edge's answer to the callback:
 * `{ response, body, requestId, cookies, callback }`.
 */
async function login(id, scenario, { next = '/app' } = {}) {
  const provider = op[id];
  const start = await fetch(`${edge.url}/auth/sso/${id}?next=${encodeURIComponent(next)}`, { redirect: 'manual' });
  await start.arrayBuffer();
  assert.equal(start.status, 303, `/auth/sso/${id} starts the login`);
  const authorize = new URL(start.headers.get('location'));
  assert.equal(`${authorize.origin}${authorize.pathname}`, `${provider.url}/authorize`);
  const state = authorize.searchParams.get('state');
  const cookieName = `__Host-edgeauth-sso-${state.slice(0, 16)}`;
  const transaction = start.headers.getSetCookie().find((c) => c.startsWith(`${cookieName}=`));
  assert.ok(transaction, `the start sets ${cookieName}`);
  provider.script(state, scenario);

  const atProvider = await fetch(authorize, { redirect: 'manual' });
  const providerBody = await atProvider.text();
  assert.equal(atProvider.status, 302, `the provider redirects back (it answered ${providerBody})`);
  const callback = new URL(atProvider.headers.get('location'));
  assert.equal(`${callback.origin}${callback.pathname}`, `${edge.url}/auth/callback/${id}`);
  assert.equal(callback.searchParams.get('state'), state);

  requests += 1;
  const requestId = `conformance-${process.pid}-${requests}`;
  const response = await fetch(callback, {
    redirect: 'manual',
    headers: { cookie: transaction.split(';')[0], 'cf-ray': requestId },
  });
  const body = await response.text();
  return { response, body, requestId, cookies: response.headers.getSetCookie(), callback };
}

/** Waits for the edge's log line of `requestId` with `event` and exactly `reason`. */
function logLine(requestId, event, reason) {
  return waitForLog(
    edge,
    new RegExp(`"event":"${event}","request_id":"${escape(requestId)}","status":\\d+,"reason":"${escape(reason)}"`),
  );
}

const sessionCookie = (cookies) => cookies.find((c) => c.startsWith('__Host-edgeauth='));

/** Asserts the login was refused with `status`, the login page, no session, and `reason` logged. */
async function assertRefused(result, reason, status = 401) {
  const { response, body, requestId, cookies } = result;
  assert.equal(response.status, status, `status (log reason expected: ${reason})`);
  assert.match(response.headers.get('content-type'), /^text\/html/);
  assert.match(body, status === 401 ? /Signing in did not complete/ : /could not be reached/);
  assert.equal(sessionCookie(cookies), undefined, 'no session cookie');
  assert.ok(
    cookies.some((c) => c.startsWith('__Host-edgeauth-sso-') && /Max-Age=0/.test(c)),
    'the transaction cookie is cleared',
  );
  await logLine(requestId, status >= 500 ? 'error' : 'login_failed', reason);
}

/** Asserts the login succeeded: 303 to `next`, a session that works, and the log line. */
async function assertSignedIn(result, id, next = '/app') {
  const { response, body, requestId, cookies } = result;
  assert.equal(response.status, 303, `the login succeeds (answered ${response.status}: ${body.slice(0, 200)})`);
  assert.equal(response.headers.get('location'), next);
  const session = sessionCookie(cookies);
  assert.ok(session, 'a session cookie is set');
  assert.match(session, /HttpOnly/);
  await logLine(requestId, 'login', `success:${id}`);
  const claims = await fetch(`${edge.url}/auth/session`, { headers: { cookie: session.split(';')[0] } });
  assert.equal(claims.status, 200, 'the session works on /auth/session');
  const seen = await claims.json();
  assert.equal(seen.sub, `${id}:${SUB}`);
  assert.equal(seen.idp, id);
  return seen;
}

/** A scenario changing only claims: `change(claims)` returns the claims to sign. */
const claims = (change) => (d) => ({ ...d, claims: change({ ...d.claims }) });
const without = (name) => claims((c) => ({ ...c, [name]: undefined }));

describe('the harness itself', () => {
  test('control (rp-response_type-code, rp-token_endpoint-client_secret_basic): correct defaults sign in', async () => {
    const before = { ...op.bad.counts, clientAuth: { ...op.bad.counts.clientAuth } };
    await assertSignedIn(await login('bad', undefined), 'bad');
    assert.equal(op.bad.counts.clientAuth.client_secret_basic, before.clientAuth.client_secret_basic + 1, 'authenticated with Basic');
    assert.equal(op.bad.counts.clientAuthRejected, before.clientAuthRejected);
  });

  test('the stand-in refuses a wrong PKCE verifier and a wrong client secret (so its counts mean something)', async () => {
    const state = 'harness-self-check-state-0000000000000000000';
    const challenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'; // RFC 7636 appendix B
    const authorize = new URL(`${op.bad.url}/authorize`);
    for (const [name, value] of Object.entries({
      response_type: 'code', client_id: CLIENT_ID, redirect_uri: `${edge.url}/auth/callback/bad`, scope: 'openid',
      state, nonce: 'n', code_challenge: challenge, code_challenge_method: 'S256',
    })) authorize.searchParams.set(name, value);
    const code = async () => {
      const response = await fetch(authorize, { redirect: 'manual' });
      assert.equal(response.status, 302);
      return new URL(response.headers.get('location')).searchParams.get('code');
    };
    const basicAuth = (secret) => `Basic ${Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(secret)}`).toString('base64')}`;
    const exchange = async (verifier, secret = CLIENT_SECRET) => {
      const response = await fetch(`${op.bad.url}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth(secret) },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: await code(), redirect_uri: `${edge.url}/auth/callback/bad`, code_verifier: verifier }),
      });
      return { status: response.status, body: await response.json() };
    };
    const counts = op.bad.counts;
    const [basic, verified, rejected] = [counts.clientAuth.client_secret_basic, counts.pkceVerified, counts.pkceRejected];
    assert.deepEqual(await exchange('x'.repeat(43)), { status: 400, body: { error: 'invalid_grant', error_description: 'PKCE verification failed' } });
    assert.equal(op.bad.counts.pkceRejected, rejected + 1);
    assert.equal((await exchange('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk', 'wrong')).status, 401);
    const right = await exchange('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk');
    assert.equal(right.status, 200);
    assert.equal(right.body.token_type, 'Bearer');
    selfCheck.basic = counts.clientAuth.client_secret_basic - basic;
    selfCheck.verified = counts.pkceVerified - verified;
    selfCheck.rejected = counts.pkceRejected - rejected;
    assert.deepEqual(selfCheck, { basic: 2, verified: 1, rejected: 1 });
  });
});

describe('ID token claims (Core §3.1.3.7)', () => {
  test('rp-id_token-issuer-mismatch: iss is not the issuer', async () => {
    await assertRefused(await login('bad', claims((c) => ({ ...c, iss: 'https://example.com/' }))), 'id_token:wrong_issuer');
  });

  test('rp-id_token-sub: no sub', async () => {
    await assertRefused(await login('bad', without('sub')), 'id_token:no_sub');
  });

  test('rp-id_token-iat: no iat', async () => {
    await assertRefused(await login('bad', without('iat')), 'id_token:no_iat');
  });

  test('rp-id_token-aud: aud is another client', async () => {
    await assertRefused(await login('bad', claims((c) => ({ ...c, aud: 'someone-else' }))), 'id_token:wrong_audience');
  });

  test('aud holds ours and another, without azp', async () => {
    await assertRefused(await login('bad', claims((c) => ({ ...c, aud: [CLIENT_ID, 'someone-else'] }))), 'id_token:no_azp');
  });

  test('aud holds ours and another, with azp another client', async () => {
    const change = claims((c) => ({ ...c, aud: [CLIENT_ID, 'someone-else'], azp: 'someone-else' }));
    await assertRefused(await login('bad', change), 'id_token:wrong_azp');
  });

  test('aud holds ours and another, with azp ours: signs in', async () => {
    await assertSignedIn(await login('bad', claims((c) => ({ ...c, aud: [CLIENT_ID, 'someone-else'], azp: CLIENT_ID }))), 'bad');
  });

  test('rp-nonce-invalid: nonce is not the one sent', async () => {
    await assertRefused(await login('bad', claims((c) => ({ ...c, nonce: `${c.nonce}x` }))), 'id_token:nonce_mismatch');
  });

  test('no nonce, though one was sent', async () => {
    await assertRefused(await login('bad', without('nonce')), 'id_token:no_nonce');
  });

  test('exp in the past', async () => {
    await assertRefused(await login('bad', claims((c) => ({ ...c, exp: c.iat - 3600 }))), 'id_token:expired');
  });

  test('no exp', async () => {
    await assertRefused(await login('bad', without('exp')), 'id_token:no_exp');
  });

  test('iat in the future', async () => {
    await assertRefused(await login('bad', claims((c) => ({ ...c, iat: c.iat + 3600 }))), 'id_token:iat_in_future');
  });
});

describe('ID token signature and header', () => {
  for (const alg of ['RS256', 'ES256']) {
    test(`rp-id_token-bad-sig-${alg.toLowerCase()}: signed by another ${alg} key under the published kid`, async () => {
      const impostor = await op.bad.generateKey(alg, { kid: op.bad.keys[alg].kid });
      const jwksBefore = op.bad.counts.jwks;
      const result = await login('bad', (d) => ({
        ...d,
        header: { alg, kid: d.keys[alg].kid },
        signWith: impostor,
      }));
      await assertRefused(result, 'id_token:bad_signature');
      assert.equal(op.bad.counts.jwks, jwksBefore, 'a known kid fetches nothing');
    });
  }

  test('rp-id_token-sig-none: alg none, no signature', async () => {
    await assertRefused(await login('bad', (d) => ({ ...d, header: { ...d.header, alg: 'none' }, signWith: 'none' })), 'id_token:algorithm');
  });

  test('HS256 with the client secret as key (the edge never accepts HMAC)', async () => {
    const result = await login('bad', (d) => ({
      ...d,
      header: { alg: 'HS256', kid: d.header.kid },
      signWith: { hmac: CLIENT_SECRET },
    }));
    await assertRefused(result, 'id_token:algorithm');
  });

  test('a jku header pointing at a key set of the attacker', async () => {
    const result = await login('bad', (d) => ({ ...d, header: { ...d.header, jku: `${op.bad.url}/attacker-jwks` } }));
    await assertRefused(result, 'id_token:forbidden_header');
    assert.equal(op.bad.requests.filter((r) => r.path === '/attacker-jwks').length, 0, 'the jku is never fetched');
  });

  test('rp-id_token-kid-absent-multiple-jwks: no kid, several keys: refused', async () => {
    assert.ok(op.bad.published.length > 1);
    await assertRefused(await login('bad', (d) => ({ ...d, header: { alg: d.header.alg } })), 'id_token:Ambiguous');
  });

  test('rp-id_token-kid-absent-single-jwks: no kid, one key: signs in', async () => {
    assert.equal(op.single.published.length, 1);
    await assertSignedIn(await login('single', (d) => ({ ...d, header: { alg: d.header.alg } })), 'single');
  });

  test('an unknown kid refetches the JWKS once, then is refused; another within the minute fetches nothing', async () => {
    // The edge holds 'bad''s JWKS (a first login fetched it); nothing has refetched it yet.
    await assertSignedIn(await login('bad', undefined), 'bad');
    const stranger = await op.bad.generateKey('RS256');
    const scenario = (d) => ({ ...d, header: { alg: 'RS256', kid: stranger.kid }, signWith: stranger });
    const started = Date.now();
    const jwksBefore = op.bad.counts.jwks;
    await assertRefused(await login('bad', scenario), 'id_token:UnknownKid');
    assert.equal(op.bad.counts.jwks, jwksBefore + 1, 'the JWKS was fetched again once');
    await assertRefused(await login('bad', scenario), 'id_token:UnknownKid');
    // The edge's interval is 60 s. On a machine so slow that the two logins were 50 s or more
    // apart, a second fetch would be correct: only then is the count not checked (the test
    // never fails for the machine's speed, and on any usual run it checks the bound).
    if (Date.now() - started < 50_000) {
      assert.equal(op.bad.counts.jwks, jwksBefore + 1, 'no second fetch within the minute');
    }
  });

  test('rp-key-rotation-op-sign-key: a key the provider rotated in is fetched, and the retired one refused', async () => {
    const retired = op.rotate.keys.RS256;
    await assertSignedIn(await login('rotate', undefined), 'rotate');
    const fetched = op.rotate.counts.jwks;
    const fresh = await op.rotate.generateKey('RS256', { kid: 'rotate-rs256-2' });
    op.rotate.publish([fresh]);
    const withFresh = (d) => ({ ...d, header: { alg: 'RS256', kid: fresh.kid }, signWith: fresh });
    await assertSignedIn(await login('rotate', withFresh), 'rotate');
    assert.equal(op.rotate.counts.jwks, fetched + 1, 'the new kid made the edge fetch the JWKS');
    await assertSignedIn(await login('rotate', withFresh), 'rotate');
    assert.equal(op.rotate.counts.jwks, fetched + 1, 'and then it is cached');
    const withRetired = (d) => ({ ...d, header: { alg: 'RS256', kid: retired.kid }, signWith: retired });
    await assertRefused(await login('rotate', withRetired), 'id_token:UnknownKid');
  });
});

describe('the token endpoint', () => {
  test('answers 400 invalid_grant', async () => {
    const scenario = { tokenResponse: () => ({ status: 400, body: { error: 'invalid_grant', error_description: 'code expired' } }) };
    await assertRefused(await login('bad', scenario), 'token_endpoint:400:invalid_grant');
  });

  test('answers 200 without an id_token', async () => {
    const scenario = { tokenResponse: ({ answer }) => ({ status: 200, body: { ...answer, id_token: undefined } }) };
    await assertRefused(await login('bad', scenario), 'token_endpoint:no id_token');
  });

  test('answers a token_type other than Bearer', async () => {
    const scenario = { tokenResponse: ({ answer }) => ({ status: 200, body: { ...answer, token_type: 'DPoP' } }) };
    await assertRefused(await login('bad', scenario), 'token_endpoint:token_type');
  });

  for (const chunked of [false, true]) {
    test(`answers more than 64 KiB (${chunked ? 'chunked, no content-length' : 'content-length declared'})`, async () => {
      const scenario = {
        tokenResponse: ({ answer }) => ({ status: 200, body: { ...answer, padding: 'x'.repeat(64 * 1024) }, chunked }),
      };
      await assertRefused(await login('bad', scenario), 'provider_answer:too large', 502);
    });
  }

  test('PKCE: every code the edge exchanged was verified against its S256 challenge', async () => {
    const { pkceVerified, pkceRejected, token } = op.bad.counts;
    await assertSignedIn(await login('bad', undefined), 'bad');
    assert.equal(op.bad.counts.token, token + 1);
    assert.equal(op.bad.counts.pkceVerified, pkceVerified + 1, 'the code_verifier matched the challenge');
    assert.equal(op.bad.counts.pkceRejected, pkceRejected);
    // Across the whole file so far: every code the edge exchanged, at every stand-in, came with
    // a verifier that matched its challenge, and with client_secret_basic.
    let exchanges = 0;
    for (const provider of Object.values(op)) {
      const own = provider === op.bad ? selfCheck : { basic: 0, verified: 0, rejected: 0 };
      const byEdge = provider.counts.clientAuth.client_secret_basic - own.basic;
      exchanges += byEdge;
      assert.equal(provider.counts.pkceVerified - own.verified, byEdge, `${provider.name}: each exchange passed PKCE`);
      assert.equal(provider.counts.pkceRejected - own.rejected, 0, `${provider.name}: no exchange failed PKCE`);
      assert.equal(provider.counts.clientAuth.client_secret_post, 0);
      assert.equal(provider.counts.clientAuthRejected - (provider === op.bad ? 1 : 0), 0);
    }
    assert.ok(exchanges >= 20, `the edge exchanged ${exchanges} codes`);
  });
});

describe('discovery (Config RP)', () => {
  test('rp-discovery-issuer-not-matching-config: the login does not start', async () => {
    const authorizeBefore = op.other.counts.authorize;
    requests += 1;
    const requestId = `conformance-${process.pid}-${requests}`;
    const response = await fetch(`${edge.url}/auth/sso/other?next=/app`, { redirect: 'manual', headers: { 'cf-ray': requestId } });
    const body = await response.text();
    assert.equal(response.status, 502);
    assert.match(body, /could not be reached/);
    assert.equal(response.headers.get('set-cookie'), null, 'no transaction started');
    assert.ok(op.other.counts.discovery >= 1, 'the discovery document was read');
    assert.equal(op.other.counts.authorize, authorizeBefore);
    await logLine(requestId, 'error', 'discovery:issuer does not match');
  });
});

describe('a provider that fails (each under load: sessions keep deciding right meanwhile)', () => {
  /** Starts a login at `id` as a browser would; the edge's answer (502 when discovery fails). */
  async function start(id) {
    requests += 1;
    const requestId = `conformance-${process.pid}-${requests}`;
    const response = await fetch(`${edge.url}/auth/sso/${id}?next=/app`, { redirect: 'manual', headers: { 'cf-ray': requestId } });
    return { response, body: await response.text(), requestId };
  }

  /** Traffic beside the fault: a signed-in session passes, a tampered one is refused. */
  let load;
  before(async () => {
    const signedIn = await login('bad', undefined);
    const cookie = sessionCookie(signedIn.cookies).split(';')[0];
    const tampered = cookie.slice(0, -4) + (cookie.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const expect = (headers, status) => async () => {
      const response = await fetch(`${edge.url}/app/under-load`, { headers, signal: AbortSignal.timeout(15_000) });
      await response.arrayBuffer();
      assert.equal(response.status, status, `a request beside the fault (${JSON.stringify(headers).slice(0, 40)})`);
    };
    load = [expect({ cookie }, 200), expect({ cookie: tampered, accept: 'application/json' }, 401), expect({ accept: 'application/json' }, 401)];
  });

  /** Half a body, then nothing: the connection stays open and the answer never completes. */
  const stallMidBody = (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"issuer": "');
    req.socket.setTimeout(0);
  };

  test('discovery stalls mid-body, answers garbage, answers 10 MB: 502 each time with one reason; then it recovers', async () => {
    const cases = [
      [stallMidBody, /"reason":"provider_unreachable:no complete answer within 5000 ms"/],
      [(req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('<html>maintenance</html>'); }, /"reason":"discovery:[^"]+"/],
      [(req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        let left = 160; // 10 MB, chunked: only the edge's own count can stop it
        const more = () => { while (left > 0) { left -= 1; if (!res.write(chunk)) return res.once('drain', more); } res.end(); };
        res.on('error', () => {});
        more();
      }, /"reason":"provider_answer:too large"/],
    ];
    const { sent } = await underLoad(load, async () => {
      for (const [fault, reason] of cases) {
        op.flaky.fault('GET /.well-known/openid-configuration', fault);
        const { response, body, requestId } = await start('flaky');
        assert.equal(response.status, 502);
        assert.match(body, /could not be reached/);
        assert.equal(response.headers.get('set-cookie'), null, 'no transaction started');
        const line = await waitForLog(edge, new RegExp(`"request_id":"${escape(requestId)}"[^\n]*`));
        assert.match(line, reason);
      }
    });
    assert.ok(sent > 0);
    op.flaky.fault('GET /.well-known/openid-configuration', null);
    await assertSignedIn(await login('flaky', undefined), 'flaky');
  });

  test('the JWKS stalls mid-body: the callback is refused with one reason; after the retry pause it recovers', async () => {
    op.flakykeys.fault('GET /jwks', stallMidBody);
    await underLoad(load, async () => {
      await assertRefused(await login('flakykeys', undefined), 'provider_unreachable:no complete answer within 5000 ms', 502);
    });
    op.flakykeys.fault('GET /jwks', null);
    // A failed JWKS fetch is not retried for FETCH_RETRY_SECS (10 s): waited out, then it is.
    await new Promise((resolve) => setTimeout(resolve, 10_500));
    await assertSignedIn(await login('flakykeys', undefined), 'flakykeys');
  });

  test('a JWKS of 1,000 keys signs in; one of 1,001 is refused', async () => {
    const others = await Promise.all(Array.from({ length: 999 }, () => generateKey('ES256')));
    op.many.publish([...others, op.many.keys.RS256]);
    op.toomany.publish([...others, await generateKey('ES256'), op.toomany.keys.RS256]);
    assert.equal(op.many.published.length, 1000);
    await underLoad(load, async () => {
      await assertSignedIn(await login('many', undefined), 'many');
      await assertRefused(await login('toomany', undefined), 'jwks:too many keys');
    });
  });
});
