// A DELIBERATELY MISBEHAVING stand-in for an OpenID Provider, used ONLY for the negative cases of
// tests/integration/sso_conformance.test.mjs (the OpenID Foundation's RP conformance list for the
// Basic RP and Config RP profiles, code flow). It is not an implementation of OpenID Connect and
// must never be used to show that a login works: the positive flow, key rotation included, runs
// against the real, certified oidc-provider (oidc_provider.mjs, used by sso.test.mjs). A control
// case in the conformance file only shows that this stand-in's correct defaults are accepted,
// so that each refusal there is caused by the one thing its scenario changed.
//
// What it does, on a loopback port the OS picks (listen on 0, read back):
//   GET  /.well-known/openid-configuration  discovery: `issuer` is its own base URL (or the
//        `discoveryIssuer` given, for the issuer-mismatch case), endpoints under it;
//   GET  /jwks        the keys the test chose to publish (publish()): any of the generated
//        RS256, ES256 and EdDSA keys, keys made later (generateKey()), keys without a kid, none;
//   GET  /authorize   checks the request (client, redirect_uri, response_type=code, PKCE S256),
//        remembers nonce and code_challenge under a fresh code, and 302-redirects at once to the
//        redirect_uri with that code and the state (no login page: nobody is asked anything);
//   POST /token       checks the client authentication (client_secret_basic: HTTP Basic over the
//        form-encoded id and secret; or client_secret_post) and the PKCE verifier (S256 of
//        code_verifier must equal the remembered challenge, else 400 invalid_grant), then answers
//        `{ token_type: 'Bearer', access_token: 'x', id_token }`, where the ID token is whatever
//        the login's scenario (script()) builds over correct defaults.
// Every request is counted (counts, requests), so a test can show what the edge fetched.
import crypto from 'node:crypto';
import http from 'node:http';

import { exportJWK, generateKeyPair } from 'jose';

const HOST = '127.0.0.1';
/** The algorithms a key can be generated for; each key is pinned to its alg. */
export const ALGS = ['RS256', 'ES256', 'EdDSA'];

const b64url = (bytes) => Buffer.from(bytes).toString('base64url');

/** application/x-www-form-urlencoded decoding of one component (RFC 6749 §2.3.1). */
const formDecode = (text) => decodeURIComponent(text.replace(/\+/g, ' '));

/**
 * A signing key made with jose: `{ alg, kid, privateKey (KeyObject), publicJwk }`. `kid` defaults
 * to a random one; the public JWK carries `alg`, `use: 'sig'` and the kid.
 */
export async function generateKey(alg, { kid = `${alg.toLowerCase()}-${crypto.randomBytes(6).toString('hex')}` } = {}) {
  if (!ALGS.includes(alg)) throw new Error(`no key type for ${alg}; known: ${ALGS}`);
  const options = alg === 'RS256' ? { extractable: true, modulusLength: 2048 } : { extractable: true };
  const pair = await generateKeyPair(alg, options);
  const toKeyObject = (key) => (key instanceof crypto.KeyObject ? key : crypto.KeyObject.from(key));
  const publicJwk = { ...(await exportJWK(pair.publicKey)), alg, use: 'sig', kid };
  return { alg, kid, privateKey: toKeyObject(pair.privateKey), publicJwk };
}

/**
 * The JWK a key is published as; `{ kid: false }` publishes it without its kid, `{ kid: 'x' }`
 * under another one.
 */
export function jwkOf(key, { kid } = {}) {
  const { kid: own, ...rest } = key.publicJwk;
  if (kid === false) return rest;
  return { ...rest, kid: kid ?? own };
}

/**
 * A compact JWS of `header` over `claims` (both serialized as given: an undefined member is left
 * out), signed with `signWith`: a key from generateKey() (signs with that key's own algorithm,
 * whatever the header says), `'none'` (empty signature), or `{ hmac: secret }` (HMAC-SHA256).
 */
export function signJws(header, claims, signWith) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const data = Buffer.from(input);
  let signature;
  if (signWith === 'none') signature = Buffer.alloc(0);
  else if (signWith && typeof signWith.hmac === 'string') {
    signature = crypto.createHmac('sha256', signWith.hmac).update(data).digest();
  } else if (signWith?.alg === 'RS256') signature = crypto.sign('sha256', data, signWith.privateKey);
  else if (signWith?.alg === 'ES256') {
    // JWS wants r || s (IEEE P1363), not DER.
    signature = crypto.sign('sha256', data, { key: signWith.privateKey, dsaEncoding: 'ieee-p1363' });
  } else if (signWith?.alg === 'EdDSA') signature = crypto.sign(null, data, signWith.privateKey);
  else throw new Error(`cannot sign with ${JSON.stringify(signWith)}`);
  return `${input}.${b64url(signature)}`;
}

async function readBody(req, max = 65_536) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > max) throw new Error('body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function sendJson(res, status, body, extraHeaders = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
    ...extraHeaders,
  });
  res.end(text);
}

/**
 * Starts the stand-in. `clients`: `[{ client_id, client_secret, redirect_uris }]` (more with
 * registerClient()). `publish`: which of the generated keys the JWKS shows at first (default all
 * three, RS256, ES256 and EdDSA, each with its kid). `discoveryIssuer`: the `issuer` its discovery
 * document states, or a function of its base URL giving it (default: its own base URL, as it
 * must be). `sub`: the default subject.
 *
 * Resolves to `{ name, url, issuer, keys, generateKey, publish, published, registerClient,
 * script, counts, requests, close }`.
 */
export async function startMisbehavingProvider({
  name = 'misbehaving',
  clients = [],
  publish: initiallyPublished = ALGS,
  discoveryIssuer,
  sub = 'user-1',
} = {}) {
  const keys = Object.fromEntries(
    await Promise.all(ALGS.map(async (alg) => [alg, await generateKey(alg, { kid: `${name}-${alg.toLowerCase()}-1` })])),
  );
  let published = initiallyPublished.map((alg) => jwkOf(keys[alg]));
  const registered = new Map();
  /** Scenarios by state, set by the test before the browser reaches /authorize. */
  const scenarios = new Map();
  /** Codes issued by /authorize and not yet redeemed. */
  const codes = new Map();
  const counts = {
    discovery: 0,
    jwks: 0,
    authorize: 0,
    token: 0,
    /** Token requests whose client authentication checked out, by method. */
    clientAuth: { client_secret_basic: 0, client_secret_post: 0 },
    clientAuthRejected: 0,
    /** Token requests whose code_verifier matched the remembered S256 challenge. */
    pkceVerified: 0,
    pkceRejected: 0,
    other: 0,
  };
  /** Every request, in order: `{ method, path }`. */
  const requests = [];

  let url;
  /** Handlers that replace a route's own while a fault test runs (fault()). */
  const faults = new Map();
  const handlers = {
    'GET /.well-known/openid-configuration': (req, res) => {
      counts.discovery += 1;
      sendJson(res, 200, {
        issuer: typeof discoveryIssuer === 'function' ? discoveryIssuer(url) : (discoveryIssuer ?? url),
        authorization_endpoint: `${url}/authorize`,
        token_endpoint: `${url}/token`,
        jwks_uri: `${url}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ALGS,
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        grant_types_supported: ['authorization_code'],
        scopes_supported: ['openid', 'email', 'profile'],
      });
    },
    'GET /jwks': (req, res) => {
      counts.jwks += 1;
      sendJson(res, 200, { keys: published });
    },
    'GET /authorize': (req, res, query) => {
      counts.authorize += 1;
      const client = registered.get(query.get('client_id'));
      const redirectUri = query.get('redirect_uri');
      // Never redirect to a URI that is not registered (RFC 6749 §4.1.2.1): answer here.
      if (!client || !client.redirect_uris.includes(redirectUri)) {
        return sendJson(res, 400, { error: 'invalid_request', error_description: 'unknown client or redirect_uri' });
      }
      const problem =
        (query.get('response_type') !== 'code' && 'response_type must be code') ||
        (!query.get('scope')?.split(' ').includes('openid') && 'scope must include openid') ||
        (query.get('code_challenge_method') !== 'S256' && 'code_challenge_method must be S256') ||
        (!/^[A-Za-z0-9_-]{43}$/.test(query.get('code_challenge') ?? '') && 'code_challenge must be a S256 challenge') ||
        (!query.get('state') && 'state is required') ||
        (!query.get('nonce') && 'nonce is required');
      if (problem) return sendJson(res, 400, { error: 'invalid_request', error_description: problem });
      const code = b64url(crypto.randomBytes(24));
      const state = query.get('state');
      codes.set(code, {
        client_id: client.client_id,
        redirect_uri: redirectUri,
        nonce: query.get('nonce'),
        code_challenge: query.get('code_challenge'),
        scenario: scenarios.get(state),
      });
      scenarios.delete(state);
      const location = new URL(redirectUri);
      location.searchParams.set('code', code);
      location.searchParams.set('state', state);
      res.writeHead(302, { location: location.href, 'cache-control': 'no-store', 'content-length': 0 });
      res.end();
    },
    'POST /token': async (req, res) => {
      counts.token += 1;
      const form = new URLSearchParams(await readBody(req));
      // Client authentication (RFC 6749 §2.3.1): Basic over the form-encoded id and secret, or
      // both in the body; never both ways at once.
      let clientId;
      let secret;
      let method;
      const authorization = req.headers.authorization;
      if (authorization !== undefined) {
        const match = /^Basic ([A-Za-z0-9+/]+=*)$/.exec(authorization);
        const decoded = match ? Buffer.from(match[1], 'base64').toString('utf8') : '';
        const colon = decoded.indexOf(':');
        if (colon > 0 && !form.has('client_secret')) {
          try {
            clientId = formDecode(decoded.slice(0, colon));
            secret = formDecode(decoded.slice(colon + 1));
            method = 'client_secret_basic';
          } catch {
            // Malformed percent-encoding: not authenticated.
          }
        }
      } else if (form.has('client_secret')) {
        clientId = form.get('client_id');
        secret = form.get('client_secret');
        method = 'client_secret_post';
      }
      const client = registered.get(clientId);
      if (!client || secret !== client.client_secret) {
        counts.clientAuthRejected += 1;
        return sendJson(res, 401, { error: 'invalid_client' }, { 'www-authenticate': 'Basic realm="token"' });
      }
      counts.clientAuth[method] += 1;
      if (form.get('grant_type') !== 'authorization_code') {
        return sendJson(res, 400, { error: 'unsupported_grant_type' });
      }
      const grant = codes.get(form.get('code'));
      codes.delete(form.get('code')); // one use only
      if (!grant || grant.client_id !== clientId || grant.redirect_uri !== form.get('redirect_uri')) {
        return sendJson(res, 400, { error: 'invalid_grant', error_description: 'code, client or redirect_uri' });
      }
      const verifier = form.get('code_verifier') ?? '';
      const challenge = b64url(crypto.createHash('sha256').update(verifier).digest());
      if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || challenge !== grant.code_challenge) {
        counts.pkceRejected += 1;
        return sendJson(res, 400, { error: 'invalid_grant', error_description: 'PKCE verification failed' });
      }
      counts.pkceVerified += 1;
      const scenario = typeof grant.scenario === 'function' ? { idToken: grant.scenario } : (grant.scenario ?? {});
      const now = Math.floor(Date.now() / 1000);
      const defaults = {
        header: { alg: keys.RS256.alg, kid: keys.RS256.kid },
        claims: { iss: url, sub, aud: clientId, iat: now, exp: now + 300, nonce: grant.nonce },
        signWith: keys.RS256,
        keys,
        now,
        client,
      };
      const built = scenario.idToken ? scenario.idToken(defaults) : defaults;
      const idToken = signJws(built.header, built.claims, built.signWith);
      const answer = { token_type: 'Bearer', access_token: 'x', expires_in: 300, id_token: idToken };
      // The token endpoint's own answer, when the scenario scripts it: `{ status, body, chunked }`.
      const scripted = scenario.tokenResponse ? scenario.tokenResponse({ answer, idToken, defaults }) : { status: 200, body: answer };
      const text = typeof scripted.body === 'string' ? scripted.body : JSON.stringify(scripted.body);
      if (scripted.chunked) {
        // No content-length: only the body's real size can tell.
        res.writeHead(scripted.status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        const half = Math.floor(text.length / 2);
        res.write(text.slice(0, half));
        res.end(text.slice(half));
        return;
      }
      sendJson(res, scripted.status, text);
    },
  };

  const server = http.createServer((req, res) => {
    const parsed = new URL(req.url, 'http://placeholder');
    requests.push({ method: req.method, path: parsed.pathname });
    const route = `${req.method} ${parsed.pathname}`;
    const handler = faults.get(route) ?? handlers[route];
    if (!handler) {
      counts.other += 1;
      return sendJson(res, 404, { error: 'not_found' });
    }
    Promise.resolve(handler(req, res, parsed.searchParams)).catch((error) => {
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: error.message });
      else res.destroy();
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, resolve);
  });
  url = `http://${HOST}:${server.address().port}`;

  function registerClient(client) {
    if (!client.client_id || typeof client.client_secret !== 'string' || !Array.isArray(client.redirect_uris)) {
      throw new Error('a client needs client_id, client_secret and redirect_uris');
    }
    registered.set(client.client_id, { ...client });
  }
  for (const client of clients) registerClient(client);

  return {
    name,
    url,
    /** What the edge must be configured with: its own base URL (whatever discovery says). */
    issuer: url,
    /** The generated keys by alg: `{ alg, kid, privateKey, publicJwk }`. */
    keys,
    generateKey,
    /**
     * Sets the JWKS: keys (from `keys` or generateKey(), published with their kid) or plain JWK
     * objects (e.g. jwkOf(key, { kid: false })), in order. `[]` publishes none.
     */
    publish(list) {
      published = list.map((item) => (item.publicJwk ? jwkOf(item) : item));
    },
    /** The JWKS as served now. */
    get published() {
      return published;
    },
    registerClient,
    /**
     * Replaces the handler of `route` ('GET /jwks', say) with `handler(req, res, query, serve)`,
     * where `serve()` answers as the route normally would; `null` restores it. For faults: a
     * stall mid-body, garbage, a huge document.
     */
    fault(route, handler) {
      if (!handlers[route]) throw new Error(`no route ${route}`);
      if (handler) faults.set(route, (req, res, query) => handler(req, res, query, () => handlers[route](req, res, query)));
      else faults.delete(route);
    },
    /**
     * Scripts the login whose authorization request carries `state`. `scenario` is either a
     * function `(defaults) => ({ header, claims, signWith })` building its ID token over the
     * correct defaults (`{ header, claims, signWith, keys, now, client }`), or
     * `{ idToken?: that function, tokenResponse?: ({ answer, idToken, defaults }) => ({ status,
     * body, chunked? }) }` to script the token endpoint's answer as well. The client
     * authentication and PKCE are checked before either runs.
     */
    script(state, scenario) {
      scenarios.set(state, scenario);
    },
    counts,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
