// A real OpenID Provider for the single sign-on tests: panva's oidc-provider (npm), certified
// by the OpenID Foundation, on a loopback port the OS picks. No imitation of a provider is
// written here: discovery, JWKS, the authorization and token endpoints, PKCE, ID tokens,
// RP-initiated and back-channel logout are all oidc-provider's own. What is ours is only what
// the library leaves to its host: accounts, the login page, the key material and the storage.
//
// The login page is ours, not oidc-provider's devInteractions: those accept any login name
// without a password, show a consent page the tests would have to click through, and load a
// web font from the Internet. Ours is a plain HTML form (no JavaScript) that checks a username
// and password against `users`, driven through the documented interactionDetails /
// interactionFinished API; consent is granted without asking, since every client here is one
// a test registered.
import crypto from 'node:crypto';
import http from 'node:http';
import { promisify } from 'node:util';

import { base64url, importJWK, SignJWT } from 'jose';

const HOST = '127.0.0.1';

/**
 * oidc-provider checks the Node.js release when it is first imported and warns on anything older
 * than 22 LTS; this project runs on Node.js 20 (the machine's), where it works. Only that
 * expected line is dropped; every other warning and every error still prints.
 */
const EXPECTED_WARNINGS = [/^oidc-provider WARNING: Unsupported runtime\./];

async function withoutExpectedWarnings(fn) {
  const warn = console.warn;
  console.warn = (...args) => {
    // oidc-provider colours its lines when stderr is a terminal.
    const text = typeof args[0] === 'string' ? args[0].replace(/\x1b\[[0-9;]*m/g, '') : '';
    if (!EXPECTED_WARNINGS.some((pattern) => pattern.test(text))) warn(...args);
  };
  try {
    return await fn();
  } finally {
    console.warn = warn;
  }
}

const { default: Provider, errors } = await withoutExpectedWarnings(() => import('oidc-provider'));

/** Selectors for our login page (GET/POST /interaction/<uid>); its labels are Username and Password. */
export const LOGIN_FORM = {
  username: 'input[name=login]',
  password: 'input[name=password]',
  submit: '#sign-in',
  /** Ends the login with error=access_denied at the client's redirect_uri. */
  cancel: '#cancel',
  /** Shown (role=alert, HTTP 401) after an unknown username or a wrong password. */
  error: '#login-error',
};

/** Selectors for the RP-initiated logout confirmation page (GET /session/end). */
export const LOGOUT_FORM = {
  confirm: '#logout-yes',
  /** Ends only this client's session at the provider, not the whole provider session. */
  cancel: '#logout-no',
  /** On the page shown after a logout without a post_logout_redirect_uri. */
  done: '#logged-out',
};

/** The element holding error and error_description on the provider's own error page. */
export const ERROR_PAGE = { details: '#oidc-error' };

const KEY_TYPES = {
  RS256: ['rsa', { modulusLength: 2048 }],
  PS256: ['rsa', { modulusLength: 2048 }],
  ES256: ['ec', { namedCurve: 'P-256' }],
  EdDSA: ['ed25519', {}],
};
const generateKeyPair = promisify(crypto.generateKeyPair);

/**
 * One private JWK per alg, each pinned to its alg (so an RSA key for RS256 never signs PS256)
 * and with a kid no earlier key had: a rotation must be visible as an unknown kid.
 */
function generateKeys(algs, label) {
  return Promise.all(
    algs.map(async (alg) => {
      const { privateKey } = await generateKeyPair(...KEY_TYPES[alg]);
      const kid = `${label}-${alg.toLowerCase()}-${crypto.randomBytes(6).toString('hex')}`;
      return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid };
    }),
  );
}

/**
 * oidc-provider's storage, in memory and per provider, without eviction (its own quick-start
 * adapter is an LRU). It outlives the Provider object, which rotateKeys() replaces: clients,
 * sessions and grants survive a key rotation, as at a real provider.
 */
function memoryAdapter() {
  const store = new Map();
  const grants = new Map();
  const read = (key) => {
    const entry = store.get(key);
    if (entry && entry.expiresAt <= Date.now()) store.delete(key);
    return entry && entry.expiresAt > Date.now() ? entry.value : undefined;
  };
  const write = (key, value, expiresIn) =>
    store.set(key, { value, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
  return class MemoryAdapter {
    constructor(model) {
      this.model = model;
    }
    key(id) {
      return `${this.model}:${id}`;
    }
    async upsert(id, payload, expiresIn) {
      write(this.key(id), payload, expiresIn);
      if (this.model === 'Session') write(`sessionUid:${payload.uid}`, id, expiresIn);
      if (payload.userCode) write(`userCode:${payload.userCode}`, id, expiresIn);
      if (payload.grantId) {
        if (!grants.has(payload.grantId)) grants.set(payload.grantId, new Set());
        grants.get(payload.grantId).add(this.key(id));
      }
    }
    async find(id) {
      return read(this.key(id));
    }
    async findByUid(uid) {
      const id = read(`sessionUid:${uid}`);
      return id === undefined ? undefined : this.find(id);
    }
    async findByUserCode(userCode) {
      const id = read(`userCode:${userCode}`);
      return id === undefined ? undefined : this.find(id);
    }
    async consume(id) {
      const payload = read(this.key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id) {
      store.delete(this.key(id));
    }
    async revokeByGrantId(grantId) {
      for (const key of grants.get(grantId) ?? []) store.delete(key);
      grants.delete(grantId);
    }
  };
}

const PROFILE_CLAIMS = [
  'name', 'family_name', 'given_name', 'middle_name', 'nickname', 'preferred_username', 'profile',
  'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at',
];

const escapeHtml = (value) =>
  String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

/** A whole page with no script, style or resource from elsewhere: the network is closed here. */
const page = (title, body) =>
  `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>` +
  `<body><main><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`;

function loginPage(uid, clientId, error) {
  return page(
    'Sign in to the test provider',
    `<p>for <code>${escapeHtml(clientId)}</code></p>` +
      (error ? `<p id="login-error" role="alert">${escapeHtml(error)}</p>` : '') +
      `<form method="post" action="/interaction/${escapeHtml(uid)}">` +
      '<label for="login">Username</label> <input id="login" name="login" autocomplete="off" autofocus><br>' +
      '<label for="password">Password</label> <input id="password" name="password" type="password"><br>' +
      // First in the form, so Enter in a field signs in rather than cancels.
      '<button id="sign-in" type="submit">Sign in</button> ' +
      '<button id="cancel" type="submit" name="cancel" value="1">Cancel</button>' +
      '</form>',
  );
}

function send(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 65_536) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

/**
 * Starts a real oidc-provider at http://127.0.0.1:<port>, the port picked by the OS (listen on
 * 0, then read back); the issuer is that URL, without a trailing slash, and is known only once
 * it listens, which is why the Provider is built after listen. Plain http: our edge allows an
 * http issuer on loopback for local development, and oidc-provider accepts one.
 *
 * `algs`: one signing key each, among RS256, PS256, ES256 and EdDSA (Ed25519); a client's
 * `id_token_signed_response_alg` picks which one signs its ID tokens (default: the first alg).
 * `users`: `[{ id, password?, claims }]`; the login name is `id`, which is also the `sub`
 * (public subject type); without a password any password is accepted. `claims` are released by
 * scope: `email` (email, email_verified), `profile` (name and the other standard profile
 * claims), `groups` (groups); ID tokens carry them too, not only userinfo.
 * `clients`: registered at start, as by registerClient. `ttl`: oidc-provider's `ttl` setting,
 * over short defaults.
 * `resourceServers`: APIs this provider issues access tokens for with the client credentials
 * grant (RFC 6749 §4.4) and resource indicators (RFC 8707), as
 * `{ '<audience URI>': { scope: 'a b', alg: 'RS256' } }`; the tokens are oidc-provider's own
 * JWT access tokens (RFC 9068: typ at+jwt, iss, aud, sub = the client id, client_id, scope,
 * jti, iat, exp), signed with the provider's key for `alg`. See clientCredentialsToken.
 *
 * Resolves to `{ name, issuer, url, kids, registerClient, rotateKeys, mintIdToken, signJwt,
 * logoutToken, backchannelLogout, backchannelEvents, provider, close }` (see each below).
 */
export async function startProvider({ name = 'op', algs = ['RS256'], users = [], clients = [], ttl = {}, resourceServers = {} } = {}) {
  if (!algs.length || new Set(algs).size !== algs.length || !algs.every((alg) => alg in KEY_TYPES)) {
    throw new Error(`algs must be distinct, among ${Object.keys(KEY_TYPES).join(', ')}: got ${algs}`);
  }
  const accounts = new Map(users.map((user) => [user.id, user]));
  const Adapter = memoryAdapter();
  // Random per provider, kept across rotateKeys() so that sessions survive it.
  const cookieKeys = [crypto.randomBytes(32).toString('base64url')];
  const backchannelEvents = [];

  let current = null; // { provider, callback }
  const server = http.createServer((req, res) => {
    if (!current) return send(res, 503, page('Starting', ''));
    if (req.url.startsWith('/interaction/')) {
      interaction(current.provider, req, res).catch((error) => {
        if (!res.headersSent) send(res, 400, page('Login failed', `<p id="oidc-error">${escapeHtml(error.message)}</p>`));
        else res.destroy();
      });
      return;
    }
    current.callback(req, res);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, resolve);
  });
  const { port } = server.address();
  const issuer = `http://${HOST}:${port}`;

  function build(keys) {
    const provider = new Provider(issuer, {
      adapter: Adapter,
      jwks: { keys },
      findAccount(ctx, id) {
        const user = accounts.get(id);
        return user && { accountId: id, claims: () => ({ ...user.claims, sub: id }) };
      },
      claims: {
        openid: ['sub'],
        email: ['email', 'email_verified'],
        profile: PROFILE_CLAIMS,
        groups: ['groups'],
      },
      scopes: ['openid', 'email', 'profile', 'groups'],
      // Scope claims in the ID token too: by default, with a code, they are only at userinfo.
      conformIdTokenClaims: false,
      responseTypes: ['code'],
      // PKCE on every code request; oidc-provider knows S256 only and wants the method said.
      pkce: { required: () => true },
      clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
      clientDefaults: {
        grant_types: ['authorization_code'],
        response_types: ['code'],
        id_token_signed_response_alg: algs[0],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      // Cookies are per host, not per port: names with the port keep two providers (and the
      // edge, also on 127.0.0.1) from overwriting each other's cookies in one browser.
      cookies: {
        keys: cookieKeys,
        names: { session: `_op${port}_session`, interaction: `_op${port}_interaction`, resume: `_op${port}_resume` },
      },
      ttl: { AccessToken: 600, ClientCredentials: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600, ...ttl },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: Object.keys(resourceServers).length > 0 },
        resourceIndicators: {
          enabled: true,
          // No resource asked for: no access token for an API (only userinfo's opaque one).
          defaultResource: (ctx, client, oneOf) => oneOf,
          useGrantedResource: () => false,
          getResourceServerInfo(ctx, indicator) {
            const server = resourceServers[indicator];
            if (!server) throw new errors.InvalidTarget();
            return {
              scope: server.scope,
              audience: indicator,
              accessTokenTTL: server.ttl ?? 600,
              accessTokenFormat: 'jwt',
              jwt: { sign: { alg: server.alg ?? algs[0] } },
            };
          },
        },
        dPoP: { enabled: false },
        backchannelLogout: { enabled: true },
        rpInitiatedLogout: {
          enabled: true,
          logoutSource(ctx, form) {
            ctx.type = 'html';
            ctx.body = page(
              'Sign out of the test provider?',
              `${form}<button id="logout-yes" type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button> ` +
                '<button id="logout-no" type="submit" form="op.logoutForm">Stay signed in</button>',
            );
          },
          postLogoutSuccessSource(ctx) {
            ctx.type = 'html';
            ctx.body = page('Signed out', '<p id="logged-out">You are signed out of the test provider.</p>');
          },
        },
      },
      // The provider's own fetches (back-channel logout) refuse loopback addresses by default,
      // against SSRF; here the edge under test is on loopback, and nothing else is reachable.
      fetch(url, { dispatcher, ...options }) {
        const { hostname } = new URL(url);
        if (!['127.0.0.1', 'localhost', '[::1]'].includes(hostname)) {
          throw new Error(`the test provider only calls loopback addresses, not ${url}`);
        }
        return globalThis.fetch(url, options);
      },
      // Every caller is the edge, server to server; no browser script calls the provider.
      clientBasedCORS: () => false,
      async renderError(ctx, out) {
        ctx.type = 'html';
        const details = Object.entries(out).map(([key, value]) => `${escapeHtml(key)}: ${escapeHtml(value)}`);
        ctx.body = page('Provider error', `<pre id="oidc-error">${details.join('\n')}</pre>`);
      },
    });
    for (const outcome of ['success', 'error']) {
      provider.on(`backchannel.${outcome}`, (ctx, ...rest) => {
        const [error, client, accountId, sid] = outcome === 'error' ? rest : [undefined, ...rest];
        backchannelEvents.push({ ok: outcome === 'success', client_id: client.clientId, sub: accountId, sid, error });
      });
    }
    return { provider, callback: provider.callback(), keys };
  }

  async function interaction(provider, req, res) {
    const details = await provider.interactionDetails(req, res);
    const { uid, prompt, params } = details;
    if (new URL(req.url, issuer).pathname !== `/interaction/${uid}`) throw new Error('interaction mismatch');
    if (prompt.name === 'consent') {
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
      const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
      if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
      if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      const result = { consent: { grantId: await grant.save() } };
      return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
    }
    if (prompt.name !== 'login') throw new Error(`unexpected prompt ${prompt.name}`);
    if (req.method !== 'POST') return send(res, 200, loginPage(uid, params.client_id));
    const form = await readForm(req);
    if (form.has('cancel')) {
      const result = { error: 'access_denied', error_description: 'the user cancelled the login' };
      return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
    }
    const user = accounts.get(form.get('login') ?? '');
    if (!user || (user.password !== undefined && form.get('password') !== user.password)) {
      return send(res, 401, loginPage(uid, params.client_id, 'Unknown username or wrong password.'));
    }
    return provider.interactionFinished(req, res, { login: { accountId: user.id } }, { mergeWithLastSubmission: false });
  }

  let generation = 0;
  current = build(await generateKeys(algs, `${name}-${generation}`));

  /**
   * Registers (or replaces) a client; resolves to its metadata. Works after start because
   * clients live in the adapter, which oidc-provider reads on every lookup: the edge's
   * redirect_uri is known only once wrangler, which needs the issuer first, is up. Takes any
   * client metadata oidc-provider knows (e.g. post_logout_redirect_uris) and rejects what it
   * would refuse, here rather than at the first login.
   */
  async function registerClient(client) {
    const metadata = { ...client };
    await current.provider.Client.validate(metadata).catch((error) => {
      // The message alone is only "invalid_client_metadata"; the why is in the description.
      throw new Error(`client ${metadata.client_id}: ${error.error_description ?? error.message}`, { cause: error });
    });
    await new Adapter('Client').upsert(metadata.client_id, metadata);
    return metadata;
  }
  for (const client of clients) await registerClient(client);

  /** The current private JWK for `alg` (throws when this provider has none). */
  function keyFor(alg) {
    const jwk = current.keys.find((key) => key.alg === alg);
    if (!jwk) throw new Error(`provider ${name} has no ${alg} key (algs: ${algs})`);
    return jwk;
  }

  /**
   * Signs `payload` as a JWS with the provider's current key for `alg`, header `{ alg, kid }`
   * merged with `header`; a value of undefined removes that header member or claim (e.g.
   * `{ kid: undefined }`). `alg: 'none'` gives an unsigned token. For tokens the real provider
   * would never issue; overriding `alg` in `header` is not supported.
   */
  async function signJwt(alg, payload, header = {}) {
    const defined = (object) => Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined));
    if (alg === 'none') {
      const encode = (object) => base64url.encode(JSON.stringify(defined(object)));
      return `${encode({ alg: 'none', ...header })}.${encode(payload)}.`;
    }
    const jwk = keyFor(alg);
    const protectedHeader = defined({ kid: jwk.kid, ...header, alg });
    return new SignJWT(defined(payload)).setProtectedHeader(protectedHeader).sign(await importJWK(jwk, alg));
  }

  return {
    name,
    issuer,
    url: issuer,
    /** The current kid for each alg, e.g. `{ RS256: 'op-0-rs256-…' }`. */
    get kids() {
      return Object.fromEntries(current.keys.map((key) => [key.alg, key.kid]));
    },
    /** The running oidc-provider Provider (replaced by rotateKeys()). */
    get provider() {
      return current.provider;
    },
    registerClient,
    /**
     * Replaces every key by a fresh one with a new kid; the JWKS shows only the new keys, so an
     * ID token signed with an old key can no longer be verified, and a new one carries a kid the
     * edge has not cached. The Provider is rebuilt around the same storage and cookie keys.
     * Resolves to the new `kids`.
     */
    async rotateKeys() {
      generation += 1;
      current = build(await generateKeys(algs, `${name}-${generation}`));
      return Object.fromEntries(current.keys.map((key) => [key.alg, key.kid]));
    },
    /**
     * An ID token for `client_id` with iss, aud, iat and exp (10 minutes) filled in, then
     * `claims` over them (undefined removes one, e.g. `{ sub: undefined }`), signed as by
     * signJwt: for negative tests of the edge's ID token checks.
     */
    mintIdToken({ client_id, alg = algs[0], claims = {}, header = {} } = {}) {
      const now = Math.floor(Date.now() / 1000);
      return signJwt(alg, { iss: issuer, aud: client_id, iat: now, exp: now + 600, ...claims }, header);
    },
    signJwt,
    /**
     * An access token from the provider's own token endpoint: the client credentials grant for
     * `resource` with `scope`, the client authenticated with HTTP Basic. Rejects with the
     * provider's error unless it answers 200.
     */
    async clientCredentialsToken({ client_id, client_secret, resource, scope }) {
      const form = new URLSearchParams({ grant_type: 'client_credentials', resource });
      if (scope) form.set('scope', scope);
      const basic = Buffer.from(`${encodeURIComponent(client_id)}:${encodeURIComponent(client_secret)}`).toString('base64');
      const response = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: form,
      });
      const body = await response.json();
      if (response.status !== 200) throw new Error(`token endpoint ${response.status}: ${JSON.stringify(body)}`);
      return body.access_token;
    },
    /**
     * The logout token the provider sends at back-channel logout, made the way oidc-provider
     * makes it (typ logout+jwt, the events claim, sid when the client requires it): for posting
     * it by hand, or replaying it.
     */
    async logoutToken({ client_id, sub, sid }) {
      const client = await current.provider.Client.find(client_id);
      if (!client) throw new Error(`no client ${client_id}`);
      const token = new current.provider.IdToken({ sub }, { client, ctx: undefined });
      token.mask = { sub: null };
      token.set('events', { 'http://schemas.openid.net/event/backchannel-logout': {} });
      token.set('jti', crypto.randomUUID());
      if (client.backchannelLogoutSessionRequired) token.set('sid', sid);
      return token.issue({ use: 'logout' });
    },
    /**
     * Has the provider itself POST a logout token to the client's backchannel_logout_uri, as it
     * does at logout; rejects unless that answers 200 or 204.
     */
    async backchannelLogout({ client_id, sub, sid }) {
      const client = await current.provider.Client.find(client_id);
      if (!client?.backchannelLogoutUri) throw new Error(`client ${client_id} has no backchannel_logout_uri`);
      return client.backchannelLogout(sub, sid);
    },
    /**
     * Each back-channel logout the provider attempted at a real logout (GET/POST /session/end),
     * in order: `{ ok, client_id, sub, sid, error }`. oidc-provider does not fail the logout
     * when a client's endpoint does; this is where a test sees it.
     */
    backchannelEvents,
    /** Stops the server, dropping keep-alive connections so it closes at once. */
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
