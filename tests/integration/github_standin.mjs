// A local STAND-IN for GitHub's OAuth web application flow and the three REST API endpoints the
// edge reads, for tests/integration/sso_github.test.mjs. GitHub's OAuth and REST API are a
// vendor's proprietary service (no ID tokens, no discovery, no open-source server to run), so no
// real implementation can run on loopback; the project brief allows a stand-in for such an API.
// It imitates only what GitHub documents, on a loopback port the OS picks (listen on 0, read
// back):
//
//   GET  /login/oauth/authorize      "Authorizing OAuth apps", web application flow, step 1
//        (https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps):
//        client_id, redirect_uri, scope (space-separated), state, and PKCE code_challenge with
//        code_challenge_method=S256, the only method GitHub accepts (GitHub changelog
//        2025-07-14, "PKCE support for OAuth and GitHub App authentication"). An unknown client
//        is a 404 page; a redirect_uri whose host and port differ from the registered callback
//        URL, or whose path is not under it, is refused here and never redirected to (GitHub
//        documents the same matching rule). Then: with deny(true), 302 to the redirect_uri with
//        error=access_denied, error_description, error_uri and state ("Troubleshooting
//        authorization request errors", access denied); with setUser(login), 302 at once with
//        code and state for that user (no page); otherwise a plain HTML page (no JavaScript)
//        with one form per user ("Authorize as <login>") and a "Cancel" form, POSTed back here.
//   POST /login/oauth/access_token   step 2: client_id, client_secret, code, redirect_uri,
//        code_verifier (form-encoded, or JSON). As GitHub does, it answers 200 whatever happens,
//        and in the format the Accept header asks for: JSON for application/json, otherwise
//        form-encoded (access_token=…&scope=…&token_type=bearer). Success:
//        {"access_token": "gho_…", "token_type": "bearer", "scope": "read:user,user:email"}
//        (the granted scopes, comma-separated). Errors, from "Troubleshooting OAuth app access
//        token request errors": incorrect_client_credentials (client_id or client_secret
//        wrong), bad_verification_code (code wrong, expired, used or another client's),
//        redirect_uri_mismatch. A code_verifier whose S256 is not the code's challenge is
//        answered bad_verification_code too (GitHub does not document that answer; the brief
//        asked for it). Codes are single-use and expire after 10 minutes, as GitHub's do.
//   GET  /api/user                   "Get the authenticated user" (REST users API): the user
//        object (id, login, name, email = the public e-mail or null, …).
//   GET  /api/user/emails            "List email addresses for the authenticated user": needs
//        the user:email (or user) scope; [{email, primary, verified, visibility}, …].
//   GET  /api/user/teams             "List teams for the authenticated user": needs read:org,
//        user or repo; team objects with slug, name and organization.login. Both lists are
//        paginated as GitHub's are (per_page default 30, at most 100; page; a Link header).
//   Every API request needs a User-Agent (GitHub's "User-Agent required": 403 without one) and
//   `Authorization: Bearer <token>` (or `token <token>`): none is 401 "Requires
//   authentication", an unknown token 401 "Bad credentials", both as GitHub's JSON error
//   {message, documentation_url}. A token lacking a list's scope gets 404 {"message": "Not
//   Found"} (GitHub hides what a token may not see; the stand-in's simplification of it).
//   Answers carry X-OAuth-Scopes and X-Accepted-OAuth-Scopes as GitHub's do.
//
// It is a stand-in, not GitHub: it shows that the edge speaks GitHub's documented protocol and
// handles its documented answers, not that GitHub.com behaves like this. One known difference:
// GitHub documents unverified_user_email for a user whose primary address is unverified on some
// token requests; the stand-in issues the token, so the edge's own rule (use only a primary,
// verified address) is what a test of such a user checks.
//
// Test controls: setUser(login | null), deny(bool), rejectCodes(bool) (the token endpoint answers
// every right code bad_verification_code, as for an expired one), revokeTokens(bool) (tokens are
// issued but unknown to the API at once, so it answers 401 Bad credentials). Every request is
// counted (counts, counts.clients[client_id]) and kept with its headers (requests).
import crypto from 'node:crypto';
import http from 'node:http';

const HOST = '127.0.0.1';
const CODE_TTL_MS = 10 * 60 * 1000;
const DOCS = 'https://docs.github.com';
const TOKEN_ERRORS = {
  incorrect_client_credentials: {
    error_description: 'The client_id and/or client_secret passed are incorrect.',
    error_uri: `${DOCS}/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#incorrect-client-credentials`,
  },
  redirect_uri_mismatch: {
    error_description: 'The redirect_uri MUST match the registered callback URL for this application.',
    error_uri: `${DOCS}/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#redirect-uri-mismatch2`,
  },
  bad_verification_code: {
    error_description: 'The code passed is incorrect or expired.',
    error_uri: `${DOCS}/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code`,
  },
};
/** The scopes that let a token read each list (GitHub's REST reference for each endpoint). */
const LIST_SCOPES = {
  '/user/emails': ['user:email', 'user'],
  '/user/teams': ['read:org', 'user', 'repo'],
};

const b64url = (bytes) => Buffer.from(bytes).toString('base64url');
const escapeHtml = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** A token shaped like GitHub's OAuth user tokens: gho_ and 36 alphanumerics. */
const newToken = () => `gho_${[...crypto.randomBytes(36)].map((b) => ALNUM[b % ALNUM.length]).join('')}`;

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

function send(res, status, contentType, text, extraHeaders = {}) {
  res.writeHead(status, {
    'content-type': contentType,
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
    ...extraHeaders,
  });
  res.end(text);
}

const sendJson = (res, status, body, extraHeaders) =>
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body), extraHeaders);

function redirect(res, location) {
  res.writeHead(302, { location, 'cache-control': 'no-store', 'content-length': 0 });
  res.end();
}

/**
 * GitHub's callback URL rule: the redirect_uri's scheme, host and port equal the registered
 * callback URL's, and its path is that path or under it.
 */
function redirectUriAllowed(registered, given) {
  let a;
  let b;
  try {
    a = new URL(registered);
    b = new URL(given);
  } catch {
    return false;
  }
  if (a.protocol !== b.protocol || a.host !== b.host) return false;
  const base = a.pathname.endsWith('/') ? a.pathname : `${a.pathname}/`;
  return b.pathname === a.pathname || b.pathname.startsWith(base);
}

/**
 * Starts the stand-in. `users`: `[{ id, login, name, email? (the public e-mail on /user, null if
 * absent), emails: [{ email, primary, verified }], teams: [{ org, slug, name? }] }]`. `clients`:
 * `[{ client_id, client_secret, redirect_uri }]` (the registered callback URL; more with
 * registerClient()).
 *
 * Resolves to `{ url, api, users, registerClient, setUser, deny, rejectCodes, revokeTokens,
 * counts, requests, close }`: `url` is the web base (the edge's `web_url`), `api` the REST base
 * (the edge's `api_url`, `<url>/api`).
 */
export async function startGitHub({ users = [], clients = [] } = {}) {
  const byLogin = new Map(users.map((user) => [user.login, user]));
  const registered = new Map();
  /** Authorization requests waiting at the HTML page, by their request id. */
  const pending = new Map();
  /** Codes issued and not yet redeemed: code → { client_id, redirect_uri, challenge, method, user, scopes, expires }. */
  const codes = new Map();
  /** Access tokens the API knows: token → { user, scopes, client_id }. */
  const tokens = new Map();
  let nextUser = null;
  let denying = false;
  let rejecting = false;
  let revoking = false;

  const perClient = () => ({
    authorize: 0,
    token: 0,
    /** Exchanges that got past the client and code checks (the code was right). */
    redeemed: 0,
    pkceVerified: 0,
    pkceRejected: 0,
    /** Codes issued without a code_challenge and redeemed (GitHub allows it; the edge must not). */
    pkceMissing: 0,
    tokenErrors: {},
  });
  const counts = {
    authorize: 0,
    approved: 0,
    denied: 0,
    token: 0,
    tokensIssued: 0,
    tokenErrors: {},
    pkceVerified: 0,
    pkceRejected: 0,
    pkceMissing: 0,
    user: 0,
    emails: 0,
    teams: 0,
    noUserAgent: 0,
    unauthorized: 0,
    notFound: 0,
    /** The same counts per client_id. */
    clients: {},
  };
  const clientCounts = (id) => (counts.clients[id] ??= perClient());
  /** Every request, in order: `{ method, path, query, headers, form? }` (form: the token request's field names). */
  const requests = [];

  let url;
  let api;

  function userObject(user) {
    return {
      login: user.login,
      id: user.id,
      node_id: Buffer.from(`04:User${user.id}`).toString('base64'),
      avatar_url: `https://avatars.githubusercontent.com/u/${user.id}?v=4`,
      gravatar_id: '',
      url: `${api}/users/${user.login}`,
      html_url: `${url}/${user.login}`,
      type: 'User',
      site_admin: false,
      name: user.name ?? null,
      company: null,
      blog: '',
      location: null,
      email: user.email ?? null,
      hireable: null,
      bio: null,
      twitter_username: null,
      public_repos: 0,
      public_gists: 0,
      followers: 0,
      following: 0,
      created_at: '2011-01-25T18:44:36Z',
      updated_at: '2026-01-01T00:00:00Z',
    };
  }

  const emailObjects = (user) =>
    (user.emails ?? []).map(({ email, primary = false, verified = false }) => ({
      email,
      primary,
      verified,
      visibility: primary ? (user.email === email ? 'public' : 'private') : null,
    }));

  function teamObjects(user) {
    return (user.teams ?? []).map(({ org, slug, name }, index) => {
      const orgId = 1_000 + [...org].reduce((sum, c) => sum + c.charCodeAt(0), 0);
      return {
        id: orgId * 100 + index,
        node_id: Buffer.from(`04:Team${orgId * 100 + index}`).toString('base64'),
        url: `${api}/teams/${orgId * 100 + index}`,
        html_url: `${url}/orgs/${org}/teams/${slug}`,
        name: name ?? slug,
        slug,
        description: null,
        privacy: 'closed',
        notification_setting: 'notifications_enabled',
        permission: 'pull',
        members_url: `${api}/teams/${orgId * 100 + index}/members{/member}`,
        repositories_url: `${api}/teams/${orgId * 100 + index}/repos`,
        parent: null,
        members_count: 1,
        repos_count: 0,
        created_at: '2017-07-14T16:53:42Z',
        updated_at: '2026-01-01T00:00:00Z',
        organization: {
          login: org,
          id: orgId,
          node_id: Buffer.from(`04:Organization${orgId}`).toString('base64'),
          url: `${api}/orgs/${org}`,
          description: null,
          name: org,
          type: 'Organization',
        },
      };
    });
  }

  /** Issues a code for `user` and sends the browser back to the client (web flow step 2). */
  function approve(res, grant, user) {
    counts.approved += 1;
    const code = crypto.randomBytes(10).toString('hex'); // GitHub's codes are 20 hex digits
    codes.set(code, { ...grant, user, expires: Date.now() + CODE_TTL_MS });
    const location = new URL(grant.redirect_uri);
    location.searchParams.set('code', code);
    if (grant.state !== null) location.searchParams.set('state', grant.state);
    redirect(res, location.href);
  }

  function refuse(res, grant) {
    counts.denied += 1;
    const location = new URL(grant.redirect_uri);
    location.searchParams.set('error', 'access_denied');
    location.searchParams.set('error_description', 'The user has denied your application access.');
    location.searchParams.set(
      'error_uri',
      `${DOCS}/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#access-denied`,
    );
    if (grant.state !== null) location.searchParams.set('state', grant.state);
    redirect(res, location.href);
  }

  function authorizePage(res, requestId, grant) {
    const forms = users
      .map(
        (user) => `
    <form method="post" action="/login/oauth/authorize">
      <input type="hidden" name="request" value="${escapeHtml(requestId)}">
      <input type="hidden" name="login" value="${escapeHtml(user.login)}">
      <button type="submit" id="authorize-${escapeHtml(user.login)}">Authorize as ${escapeHtml(user.login)}</button>
    </form>`,
      )
      .join('');
    const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Authorize application (GitHub stand-in)</title></head>
<body>
  <h1>Authorize ${escapeHtml(grant.client_id)}</h1>
  <p>Requested scopes: ${escapeHtml(grant.scopes.join(', ') || '(none)')}</p>${forms}
    <form method="post" action="/login/oauth/authorize">
      <input type="hidden" name="request" value="${escapeHtml(requestId)}">
      <input type="hidden" name="deny" value="1">
      <button type="submit" id="cancel">Cancel</button>
    </form>
</body></html>`;
    send(res, 200, 'text/html; charset=utf-8', html);
  }

  /** What a token may see of an API path: the scopes header pair, or null when it may not. */
  function apiAuth(req, res) {
    if (!req.headers['user-agent']) {
      counts.noUserAgent += 1;
      send(
        res,
        403,
        'text/plain; charset=utf-8',
        'Request forbidden by administrative rules. Please make sure your request has a User-Agent header ' +
          `(${DOCS}/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.\n`,
      );
      return null;
    }
    const authorization = req.headers.authorization ?? '';
    const match = /^(?:Bearer|token) +([^\s]+)$/i.exec(authorization);
    if (!match) {
      counts.unauthorized += 1;
      sendJson(res, 401, { message: 'Requires authentication', documentation_url: `${DOCS}/rest`, status: '401' });
      return null;
    }
    const grant = tokens.get(match[1]);
    if (!grant) {
      counts.unauthorized += 1;
      sendJson(res, 401, { message: 'Bad credentials', documentation_url: `${DOCS}/rest`, status: '401' });
      return null;
    }
    return grant;
  }

  /** One page of `items` as GitHub paginates lists, with its Link header. */
  function paginate(query, path, items) {
    const perPage = Math.min(Math.max(Number.parseInt(query.get('per_page') ?? '30', 10) || 30, 1), 100);
    const page = Math.max(Number.parseInt(query.get('page') ?? '1', 10) || 1, 1);
    const last = Math.max(Math.ceil(items.length / perPage), 1);
    const link = (n, rel) => `<${api}${path}?per_page=${perPage}&page=${n}>; rel="${rel}"`;
    const links = [];
    if (page < last) links.push(link(page + 1, 'next'), link(last, 'last'));
    if (page > 1) links.push(link(1, 'first'), link(page - 1, 'prev'));
    return { body: items.slice((page - 1) * perPage, page * perPage), headers: links.length ? { link: links.join(', ') } : {} };
  }

  const handlers = {
    'GET /login/oauth/authorize': (req, res, query) => {
      counts.authorize += 1;
      const client = registered.get(query.get('client_id'));
      if (!client) return send(res, 404, 'text/html; charset=utf-8', '<!doctype html><title>404</title><p>Not Found</p>');
      clientCounts(client.client_id).authorize += 1;
      const redirectUri = query.get('redirect_uri') ?? client.redirect_uri;
      if (!redirectUriAllowed(client.redirect_uri, redirectUri)) {
        // Never redirect to a URI that is not the registered callback's.
        return send(res, 400, 'text/plain; charset=utf-8', 'redirect_uri_mismatch: The redirect_uri MUST match the registered callback URL for this application.\n');
      }
      const challenge = query.get('code_challenge');
      const method = query.get('code_challenge_method');
      if (challenge !== null && method !== 'S256') {
        return send(res, 400, 'text/plain; charset=utf-8', 'invalid_request: only the S256 code_challenge_method is supported\n');
      }
      const grant = {
        client_id: client.client_id,
        redirect_uri: redirectUri,
        state: query.get('state'),
        challenge,
        scopes: (query.get('scope') ?? '').split(/[ ,]+/).filter(Boolean),
      };
      if (denying) return refuse(res, grant);
      if (nextUser !== null) return approve(res, grant, byLogin.get(nextUser));
      const requestId = b64url(crypto.randomBytes(16));
      pending.set(requestId, grant);
      return authorizePage(res, requestId, grant);
    },
    'POST /login/oauth/authorize': async (req, res) => {
      const form = new URLSearchParams(await readBody(req));
      const grant = pending.get(form.get('request') ?? '');
      if (!grant) return send(res, 400, 'text/plain; charset=utf-8', 'this authorization request is unknown or was answered already\n');
      pending.delete(form.get('request'));
      if (form.get('deny') === '1' || denying) return refuse(res, grant);
      const user = byLogin.get(form.get('login') ?? '');
      if (!user) return send(res, 400, 'text/plain; charset=utf-8', 'no such user\n');
      return approve(res, grant, user);
    },
    'POST /login/oauth/access_token': async (req, res, query, record) => {
      counts.token += 1;
      const text = await readBody(req);
      const contentType = req.headers['content-type'] ?? '';
      let fields;
      if (/^application\/json/i.test(contentType)) {
        try {
          fields = new Map(Object.entries(JSON.parse(text)).map(([k, v]) => [k, String(v)]));
        } catch {
          fields = new Map();
        }
      } else {
        fields = new Map(new URLSearchParams(text));
      }
      for (const [name, value] of query) if (!fields.has(name)) fields.set(name, value);
      record.form = [...fields.keys()];
      const wantsJson = /application\/json/i.test(req.headers.accept ?? '');
      const answer = (body) => {
        if (wantsJson) return sendJson(res, 200, body);
        return send(res, 200, 'application/x-www-form-urlencoded; charset=utf-8', new URLSearchParams(body).toString());
      };
      const fail = (error, own) => {
        counts.tokenErrors[error] = (counts.tokenErrors[error] ?? 0) + 1;
        if (own) own.tokenErrors[error] = (own.tokenErrors[error] ?? 0) + 1;
        return answer({ error, ...TOKEN_ERRORS[error] });
      };
      const client = registered.get(fields.get('client_id'));
      const own = client ? clientCounts(client.client_id) : null;
      if (own) own.token += 1;
      if (!client || fields.get('client_secret') !== client.client_secret) return fail('incorrect_client_credentials', own);
      const code = fields.get('code') ?? '';
      const grant = codes.get(code);
      codes.delete(code); // one use only, whatever the outcome
      if (!grant || grant.client_id !== client.client_id || grant.expires < Date.now() || rejecting) {
        return fail('bad_verification_code', own);
      }
      if (fields.has('redirect_uri') && fields.get('redirect_uri') !== grant.redirect_uri) return fail('redirect_uri_mismatch', own);
      own.redeemed += 1;
      if (grant.challenge === null) {
        counts.pkceMissing += 1;
        own.pkceMissing += 1;
      } else {
        const verifier = fields.get('code_verifier') ?? '';
        const computed = b64url(crypto.createHash('sha256').update(verifier).digest());
        // RFC 7636 §4.1: 43 to 128 unreserved characters.
        if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || computed !== grant.challenge) {
          counts.pkceRejected += 1;
          own.pkceRejected += 1;
          return fail('bad_verification_code', own);
        }
        counts.pkceVerified += 1;
        own.pkceVerified += 1;
      }
      const token = newToken();
      if (!revoking) tokens.set(token, { user: grant.user, scopes: grant.scopes, client_id: client.client_id });
      counts.tokensIssued += 1;
      return answer({ access_token: token, token_type: 'bearer', scope: grant.scopes.join(',') });
    },
    'GET /api/user': (req, res) => {
      counts.user += 1;
      const grant = apiAuth(req, res);
      if (!grant) return;
      sendJson(res, 200, userObject(grant.user), { 'x-oauth-scopes': grant.scopes.join(', '), 'x-accepted-oauth-scopes': '' });
    },
    'GET /api/user/emails': (req, res, query) => listOf(req, res, query, '/user/emails', 'emails', emailObjects),
    'GET /api/user/teams': (req, res, query) => listOf(req, res, query, '/user/teams', 'teams', teamObjects),
  };

  function listOf(req, res, query, path, counter, build) {
    counts[counter] += 1;
    const grant = apiAuth(req, res);
    if (!grant) return;
    const accepted = LIST_SCOPES[path];
    const scopeHeaders = { 'x-oauth-scopes': grant.scopes.join(', '), 'x-accepted-oauth-scopes': accepted.join(', ') };
    if (!grant.scopes.some((scope) => accepted.includes(scope))) {
      counts.notFound += 1;
      return sendJson(res, 404, { message: 'Not Found', documentation_url: `${DOCS}/rest`, status: '404' }, scopeHeaders);
    }
    const { body, headers } = paginate(query, path, build(grant.user));
    sendJson(res, 200, body, { ...scopeHeaders, ...headers });
  }

  const server = http.createServer((req, res) => {
    const parsed = new URL(req.url, 'http://placeholder');
    const record = { method: req.method, path: parsed.pathname, query: parsed.search.slice(1), headers: { ...req.headers } };
    requests.push(record);
    const handler = handlers[`${req.method} ${parsed.pathname}`];
    if (!handler) {
      counts.notFound += 1;
      return sendJson(res, 404, { message: 'Not Found', documentation_url: `${DOCS}/rest` });
    }
    Promise.resolve(handler(req, res, parsed.searchParams, record)).catch((error) => {
      if (!res.headersSent) sendJson(res, 500, { message: `stand-in error: ${error.message}` });
      else res.destroy();
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, resolve);
  });
  url = `http://${HOST}:${server.address().port}`;
  api = `${url}/api`;

  function registerClient(client) {
    if (!client.client_id || typeof client.client_secret !== 'string' || typeof client.redirect_uri !== 'string') {
      throw new Error('a client needs client_id, client_secret and redirect_uri (its callback URL)');
    }
    registered.set(client.client_id, { ...client });
    clientCounts(client.client_id);
  }
  for (const client of clients) registerClient(client);

  return {
    url,
    api,
    users,
    registerClient,
    /** The user every later authorization approves at once (no page); null shows the page again. */
    setUser(login) {
      if (login !== null && !byLogin.has(login)) throw new Error(`no user ${login} at the stand-in`);
      nextUser = login;
    },
    /** true: every authorization ends with error=access_denied, as when the user cancels. */
    deny(on) {
      denying = Boolean(on);
    },
    /** true: the token endpoint answers bad_verification_code for every code (as if expired). */
    rejectCodes(on) {
      rejecting = Boolean(on);
    },
    /** true: tokens issued from now on are unknown to the API (401 Bad credentials). */
    revokeTokens(on) {
      revoking = Boolean(on);
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
