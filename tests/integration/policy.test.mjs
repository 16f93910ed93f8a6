// The rule language under real `wrangler dev`: conditions beyond roles, deny rules, a login too
// old for a path, CORS preflights, and scripts that must get 401 rather than a login page. One
// table of cases runs twice: through the edge (real requests, the origin seeing what passed) and
// through `edgeauth check-policy` with the same rules, which must decide each case alike.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { createRemoteJWKSet, jwtVerify } from 'jose';

import { ROOT, navigate, startOrigin, startWorker, stopAll } from './harness.mjs';
import { loadExpectFail } from './expect_fail_vectors.mjs';

const vectors = loadExpectFail();
const { doc } = vectors;
const control = doc.cases.find((c) => c.name === 'valid_control');
const BIN = process.env.EDGEAUTH_BIN ?? path.join(ROOT, 'target', 'debug', 'edgeauth');
const now = () => Math.floor(Date.now() / 1000);

const RULES = [
  { path: '/public/*', access: 'public' },
  { path: '/eng/*', claims: [{ claim: 'groups', any_of: ['eng'] }] },
  { path: '/corp/*', email_domains: ['example.com'], login: ['sso', 'passkey'] },
  { path: '/corp/*', effect: 'deny', users: ['mallory'] },
  { path: '/corp/open', access: 'public' },
  { path: '/pay/*', roles: ['staff'], max_auth_age_secs: 600 },
  { path: '/api/*', roles: ['staff'], preflight: 'pass' },
  { path: '/internal/*', effect: 'deny' },
  { path: '/deploy/*', login: ['service_token', 'issuer'], roles: ['deployer'] },
  { path: '/bound/*', roles: ['staff'], assertion: 'request' },
];

/** Who asks: each a session of ours with these claims, logged in `age` seconds ago. */
const WHO = {
  ada: { sub: 'corp:ada', roles: ['staff'], email: 'ada@example.com', amr: ['fed'], idp: 'corp', groups: ['eng'], age: 60 },
  oldAda: { sub: 'corp:ada', roles: ['staff'], email: 'ada@example.com', amr: ['fed'], idp: 'corp', groups: ['eng'], age: 4000 },
  bob: { sub: 'bob', roles: ['staff'], email: 'bob@partner.example', amr: ['pwd'], age: 60 },
  mallory: { sub: 'mallory', roles: ['staff'], email: 'mallory@example.com', amr: ['hwk'], age: 60 },
  ci: { sub: 'service:ci', roles: ['deployer'], machine: 'service_token', age: 0 },
};

/**
 * [method, path, who (a WHO key or null), the edge's status for an API client (Accept: JSON)].
 * 200 means the origin answered; check-policy must say allow exactly for those.
 */
const CASES = [
  ['GET', '/public/x', null, 200],
  ['GET', '/eng/x', 'ada', 200],
  ['GET', '/eng/x', 'bob', 403],
  ['GET', '/eng/x', null, 401],
  ['GET', '/corp/x', 'ada', 200],
  ['GET', '/corp/x', 'bob', 403],
  ['GET', '/corp/x', 'mallory', 403],
  ['GET', '/corp/open', 'mallory', 200],
  ['GET', '/CORP/x', 'mallory', 403],
  ['GET', '/pay/x', 'ada', 200],
  ['GET', '/pay/x', 'oldAda', 401],
  ['GET', '/pay/x', 'bob', 200],
  ['POST', '/api/x', null, 401],
  ['POST', '/api/x', 'bob', 200],
  ['GET', '/internal/x', 'ada', 403],
  ['GET', '/internal/x', null, 403],
  ['POST', '/deploy/x', 'ci', 200],
  ['POST', '/deploy/x', 'ada', 403],
];

function session(who) {
  const { sub, roles, email, amr, idp, groups, machine, age } = WHO[who];
  const claims = {
    iss: doc.issuer, aud: doc.audience, sub, sid: `sid-${who}-policy-test-0001`, roles,
    ...(email && { email }), ...(amr && { amr }), ...(idp && { idp }), ...(groups && { groups }), ...(machine && { machine }),
  };
  // Times go in as the vectors' placeholders, filled in at build time. `login_time` is what a
  // login writes: the login itself, or for single sign-on the provider's auth_time.
  const payload = JSON.stringify(claims).replace(/\}$/, `,"iat":{now-10},"exp":{now+3600},"auth_time":{now-${age}},"login_time":{now-${age}}}`);
  return vectors.build({ ...control, payload }, now());
}

/**
 * The sessions' `groups` come from a provider whose mapping keeps them: without one, a rule on
 * `groups` is a configuration error (no session could carry the claim). The provider is never
 * contacted here: the sessions are minted by the test, as that provider's logins would be.
 */
const PROVIDERS = [{
  id: 'corp', label: 'Corp', issuer: 'https://corp.example.test', client_id: 'edge',
  client_secret_secret: 'CORP_SECRET', mapping: { keep_claims: ['groups'] },
}];

let origin;
let edge;
let configFile;

before(async () => {
  origin = await startOrigin();
  // check-policy reads the same vars from a wrangler config.
  configFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'edgeauth-policy-')), 'wrangler.toml');
  const literal = (value) => `'''${JSON.stringify(value)}'''`;
  fs.writeFileSync(configFile, [
    '[vars]',
    `ISSUER = "${doc.issuer}"`,
    `SESSION_AUDIENCE = "${doc.audience}"`,
    `IDENTITY_PROVIDERS = ${literal(PROVIDERS)}`,
    `ACCESS_RULES = ${literal(RULES)}`,
    '',
  ].join('\n'));
  edge = await startWorker({
    name: 'policy',
    vars: {
      SIGNING_KEY: vectors.privateJwk(),
      ISSUER: doc.issuer,
      SESSION_AUDIENCE: doc.audience,
      ORIGIN_URL: origin.url,
      ACCESS_RULES: JSON.stringify(RULES),
      IDENTITY_PROVIDERS: JSON.stringify(PROVIDERS),
      CORP_SECRET: 'never used',
    },
  });
});

after(async () => {
  await stopAll();
  await origin?.close();
});

/** A request as a script sends it (Node's fetch: `Sec-Fetch-Mode: cors`), or, with `page`, as a browser navigates. */
async function call(method, route, headers = {}, { page = false } = {}) {
  const before = origin.received.length;
  const response = page
    ? await navigate(`${edge.url}${route}`, { method, headers })
    : await fetch(`${edge.url}${route}`, {
      method,
      redirect: 'manual',
      signal: AbortSignal.timeout(15_000),
      headers: { accept: 'application/json', ...headers },
    });
  await response.arrayBuffer();
  return { status: response.status, location: response.headers.get('location'), reached: origin.received.length > before };
}

const as = (who) => (who ? { authorization: `Bearer ${session(who)}` } : {});

/** `edgeauth check-policy` for one case: its exit code and output. */
function checkPolicy(method, route, who, extra = []) {
  const args = ['check-policy', '--config', configFile, '--method', method, route, ...extra];
  if (who) {
    const { sub, roles, email, amr, idp, groups, machine, age } = WHO[who];
    const login = machine ?? { pwd: 'password', fed: 'sso', hwk: 'passkey' }[amr[0]];
    args.push('--user', sub, '--roles', roles.join(','), '--login', login, '--login-age', String(age));
    if (email) args.push('--email', email);
    if (idp) args.push('--idp', idp);
    if (groups) args.push('--claim', `groups=${JSON.stringify(groups)}`);
  }
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

describe('the rules at the edge and in check-policy', () => {
  for (const [method, route, who, status] of CASES) {
    test(`${method} ${route} as ${who ?? 'nobody'}: ${status}, and check-policy agrees`, async () => {
      const result = await call(method, route, as(who));
      assert.equal(result.status, status);
      assert.equal(result.reached, status === 200, 'only what passed reached the origin');
      const checked = await checkPolicy(method, route, who);
      assert.equal(checked.code, status === 200 ? 0 : 1, checked.stdout);
      if (status === 403) assert.match(checked.stdout, /decision: deny \(403\)/);
    });
  }

  test('check-policy names the deciding rule and why', async () => {
    const denied = await checkPolicy('GET', '/corp/x', 'mallory');
    assert.match(denied.stdout, /^rule: ACCESS_RULES\[3\] .*"effect":"deny"/m);
    assert.match(denied.stdout, /^decision: deny \(403\): denied_by_rule$/m);
    const old = await checkPolicy('GET', '/pay/x', 'oldAda');
    assert.match(old.stdout, /^rule: ACCESS_RULES\[5\]/m);
    assert.match(old.stdout, /max_auth_age_secs; log in again$/m);
    const none = await checkPolicy('GET', '/elsewhere', null);
    assert.match(none.stdout, /^rule: none matches/m);
  });
});

describe('browsers and scripts', () => {
  test('a login too old for the path sends a browser to log in again, asking providers for a fresh login', async () => {
    const result = await call('GET', '/pay/x', as('oldAda'), { page: true });
    assert.equal(result.status, 302);
    assert.equal(result.location, '/auth/login?next=%2Fpay%2Fx&reauth=1');
    assert.equal(result.reached, false);
  });

  test('a script is answered 401, never a login page; a navigation is sent to log in', async () => {
    assert.equal((await call('GET', '/eng/x', {}, { page: true })).status, 302);
    // An older browser or a plain HTTP client says no Sec-Fetch-Mode: Accept decides.
    assert.equal((await call('GET', '/eng/x', { 'sec-fetch-mode': undefined, 'sec-fetch-dest': undefined }, { page: true })).status, 302);
    for (const headers of [{ 'sec-fetch-mode': 'cors' }, { 'sec-fetch-mode': 'same-origin' }, { 'x-requested-with': 'XMLHttpRequest' }]) {
      const result = await call('GET', '/eng/x', headers, { page: true });
      assert.equal(result.status, 401, JSON.stringify(headers));
    }
    // Node's fetch is a script too, whatever it accepts.
    assert.equal((await call('GET', '/eng/x', { accept: 'text/html' })).status, 401);
  });

  test('a CORS preflight passes unauthenticated where its rule says, and only a real preflight', async () => {
    const preflight = { origin: 'https://app.example', 'access-control-request-method': 'PUT' };
    const passed = await call('OPTIONS', '/api/x', preflight);
    assert.equal(passed.status, 200);
    assert.equal(passed.reached, true);
    assert.equal(origin.received.at(-1).headers['x-auth-user'], undefined, 'no identity with a preflight');
    assert.equal((await call('OPTIONS', '/api/x', { origin: 'https://app.example' })).status, 401, 'not a preflight');
    assert.equal((await call('OPTIONS', '/eng/x', preflight)).status, 401, 'its rule does not let preflights through');
    // A session and a body make no difference to what passes: no credentials, no identity.
    const withSession = await call('OPTIONS', '/api/x', { ...preflight, authorization: `Bearer ${session('oldAda')}`, cookie: 'a=1' });
    assert.equal(withSession.status, 200);
    const seen = origin.received.at(-1).headers;
    assert.equal(seen.authorization, undefined);
    assert.equal(seen.cookie, undefined);
    assert.equal(seen['x-auth-user'], undefined);
    const withBody = await fetch(`${edge.url}/api/x`, { method: 'OPTIONS', headers: preflight, body: 'x=1', signal: AbortSignal.timeout(15_000) });
    await withBody.arrayBuffer();
    assert.equal(withBody.status, 401, 'an OPTIONS with a body is no preflight');
    assert.equal((await checkPolicy('PUT', '/api/x', null, ['--preflight'])).code, 0);
    assert.equal((await checkPolicy('PUT', '/eng/x', null, ['--preflight'])).code, 1);
  });
});

/**
 * An origin that trusts only request-bound assertions: each must verify with the edge's JWKS,
 * name this request's method and URL (`htm`, `htu`, the URL rebuilt from what the edge says the
 * client asked for), be unexpired, and carry a `jti` not seen before. Answers 200 or 401.
 * `edgeUrl()` gives the edge's URL, known only once it runs (after this origin, whose URL it
 * needs).
 */
async function startVerifyingOrigin(edgeUrl) {
  let jwks;
  const seen = new Set();
  const answers = [];
  const server = http.createServer(async (req, res) => {
    let verdict = 'ok';
    try {
      jwks ??= createRemoteJWKSet(new URL(`${edgeUrl()}/.well-known/jwks.json`));
      const { payload } = await jwtVerify(req.headers['x-auth-assertion'] ?? '', jwks, {
        algorithms: ['EdDSA'], issuer: doc.issuer, audience: 'origin',
      });
      const url = `${req.headers['x-forwarded-proto']}://${req.headers['x-forwarded-host']}${new URL(req.url, 'http://x').pathname}`;
      if (payload.htm !== req.method) verdict = 'wrong_method';
      else if (payload.htu !== url) verdict = 'wrong_url';
      else if (seen.has(payload.jti)) verdict = 'replayed';
      else seen.add(payload.jti);
    } catch (error) {
      verdict = `invalid:${error.code ?? error.message}`;
    }
    answers.push({ verdict, headers: req.headers, method: req.method, url: req.url });
    res.writeHead(verdict === 'ok' ? 200 : 401, { 'content-type': 'text/plain' });
    res.end(verdict);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    answers,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

describe('a request-bound assertion', () => {
  let verifying;
  let bound;
  before(async () => {
    // The edge's URL is known only once it runs; the origin needs it for the JWKS, lazily.
    let edgeUrl = '';
    verifying = await startVerifyingOrigin(() => edgeUrl);
    bound = await startWorker({
      name: 'policy-bound',
      vars: {
        SIGNING_KEY: vectors.privateJwk(),
        ISSUER: doc.issuer,
        SESSION_AUDIENCE: doc.audience,
        ORIGIN_URL: verifying.url,
        ACCESS_RULES: JSON.stringify(RULES),
        IDENTITY_PROVIDERS: JSON.stringify(PROVIDERS),
        CORP_SECRET: 'never used',
      },
    });
    edgeUrl = bound.url;
  });
  after(() => verifying?.close());

  test('the origin accepts it for the request it was made for, and refuses it replayed to another', async () => {
    const token = session('bob');
    const first = await fetch(`${bound.url}/bound/report?x=1`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(15_000) });
    assert.equal(first.status, 200, await first.text());
    const captured = verifying.answers.at(-1).headers;
    const claims = JSON.parse(Buffer.from(captured['x-auth-assertion'].split('.')[1], 'base64url'));
    assert.equal(claims.htm, 'POST');
    assert.equal(claims.htu, `${new URL(bound.url).protocol.slice(0, -1)}://${new URL(bound.url).host}/bound/report`);
    assert.ok(claims.exp - claims.iat <= 60, 'valid for a minute at most');
    // Each request gets its own: a second one through the edge is accepted too.
    const second = await fetch(`${bound.url}/bound/report`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(15_000) });
    assert.equal(second.status, 200);
    // Replayed straight to the origin: to another path, with another method, or again as it was.
    const replay = (method, route) => fetch(`${verifying.url}${route}`, { method, headers: captured, signal: AbortSignal.timeout(15_000) }).then((r) => r.text());
    assert.equal(await replay('POST', '/bound/other'), 'wrong_url');
    assert.equal(await replay('DELETE', '/bound/report'), 'wrong_method');
    assert.equal(await replay('POST', '/bound/report'), 'replayed');
  });

  test('a path whose rule does not ask for it keeps the session-long assertion', async () => {
    const result = await fetch(`${bound.url}/eng/x`, { headers: { authorization: `Bearer ${session('ada')}` }, signal: AbortSignal.timeout(15_000) });
    assert.equal(result.status, 401, 'this origin trusts bound assertions only');
    const claims = JSON.parse(Buffer.from(verifying.answers.at(-1).headers['x-auth-assertion'].split('.')[1], 'base64url'));
    assert.equal(claims.htm, undefined);
    assert.equal(claims.jti, undefined);
  });
});
