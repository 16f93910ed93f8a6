// Soak test (issue 19): one real `wrangler dev`, a checking origin on loopback, a real OpenID
// Provider for single sign-on (alpha) and one for client-credentials access tokens (corp), both
// npm oidc-provider (oidc_provider.mjs), KV password users, software passkeys (webauthn.mjs),
// service tokens made by `edgeauth service-token create`, and revocations made mid-run through
// the edge itself (logout, POST /auth/revoke by sid and by user, back-channel logout with the
// provider's own logout token) plus a service token's record deleted from KV.
//
// SOAK_CONCURRENCY lanes (default 32) draw operations from MIX for SOAK_SECONDS (default 90;
// SOAK_MAX_REQUESTS bounds the count too, and SOAK_SEED replays the same draws). Every request
// through the edge is recorded with the moment it was sent and the moment its answer arrived;
// nothing is judged while the run goes on, and nothing is judged by how long anything took.
//
// Two checkers, both counted as wrong decisions:
// - the origin (startCheckingOrigin) sees only what the edge forwards. For every request it
//   verifies X-Auth-Assertion against /.well-known/jwks.json with node:crypto Ed25519 and that
//   the identity headers say what the assertion says; that no client-sent identity, routing or
//   method-override header, credential or session cookie reached it; that the path is canonical
//   and one the run uses, and that the identity meets the rule of that path. After the run it
//   also asks the model whether the identity had been revoked before the request was sent.
// - the client (judge*) knows, from the model, what every answer must be.
//
// The revocation model. An isolate uses a revocation it wrote itself at once
// (docs/revocation.md: "The isolate that handled it: at once"; `wrangler dev` runs one isolate),
// so a revocation made through the edge is "confirmed" when its answer arrives. A request sent
// after that must treat the session as revoked; a request whose life overlapped the revocation's
// (sent before the confirmation, answered after the revocation was sent) may go either way; a
// request answered before the revocation was sent must not be affected. A user revocation covers
// the sessions whose auth_time is before the `before` the edge answered (an issuer's access
// token: its iat). A deleted service token record: confirmed when `wrangler kv key delete`
// returned (the edge reads the record on every request). No outcome depends on a timing window
// beyond these causal ones; token expiry (none expires within a run unless SOAK_SECONDS nears
// an hour) is judged with the edge's leeway on both sides of `exp`.
//
// Sliding renewal: RENEW_AFTER is tiny, so a cookie session renews about every 8 s. A cookie
// session admitted more than RENEW_THRESHOLD_SECS + 1 s after its token's iat (by the clock the
// edge shares with us) must come back renewed (same sid, sub, roles and auth_time, later exp);
// a bearer token, a machine credential or a refused or anonymous request never.
//
// Login rate limits (LOGIN_IP_LIMIT per client address, LOGIN_USER_LIMIT 5 per minute per
// username) are kept out of the way by design, not by luck: every login, logout and passkey
// ceremony comes from a fresh CF-Connecting-IP, and a password user is used at most 4 times in
// any 130 s.
//
// wrangler dev's own proxy sits in front of the worker; when its fetch to the worker fails it
// answers a non-GET itself (503 "Your worker restarted mid-request") and retries a GET. Those are
// set apart from the edge's decisions (the edge's audit line per request id tells), reported, and
// bounded (at most max(10, 0.5%) of the requests).
//
// Memory: the worker exposes neither its verified-session cache's size nor its revocation copy's
// without a code change (src/adapter/bench.rs can only fill the cache, in a bench build). At the
// end the run prints the workerd process's resident memory (sampled through the run), the
// configured cache bound and the most it could hold of what was presented, and the revocation
// document the isolate copies (read back from KV: bytes and entries), and the audit log's events.
//
// Apps: two deployments run side by side, each its own `wrangler dev` and KV. The first has one
// app (`main`, no APPS) and every kind of login, machine credential and administrator
// revocation. The second (APPS, AUTH_HOST) has two apps, `wiki` and `tools` (a wildcard host,
// its own rules, request-bound assertions), each with its own checking origin, and one sign-on at
// its auth host: a password, SSO or passkey login there, then a handoff into one app or both
// (some handoffs presented at the wrong app, without their nonce, or twice), app logouts and
// logouts of the whole sign-on (psid). Every MIX row names the apps it runs on; every session
// knows its app, and a credential presented at any other app (another app's session, a token of
// the first deployment, a machine credential where none is configured) must be refused there.
// A revocation applies only in the deployment that made it.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ROOT, kvDelete, startWorker, stopAll, withStoreRetries } from './harness.mjs';
import { startProvider } from './oidc_provider.mjs';
import { loadExpectFail } from './expect_fail_vectors.mjs';
import { assertionResponse, fromB64url, registrationResponse, softCredential } from './webauthn.mjs';

// ---------------------------------------------------------------------------------------------
// Settings

const SOAK_SECONDS = Number(process.env.SOAK_SECONDS || 90);
const SOAK_CONCURRENCY = Number(process.env.SOAK_CONCURRENCY || 32);
const SOAK_MAX_REQUESTS = Number(process.env.SOAK_MAX_REQUESTS || 0) || Infinity;
const SEED = process.env.SOAK_SEED ? Number(process.env.SOAK_SEED) : crypto.randomInt(2 ** 31);
/** A bound on one request (a hung request fails the run; it is not a measurement). */
const REQUEST_TIMEOUT_MS = 60_000;
const BIN = process.env.EDGEAUTH_BIN ?? path.join(ROOT, 'target', 'debug', 'edgeauth');
const WRANGLER = path.join(ROOT, 'node_modules', '.bin', 'wrangler');

const LEEWAY_SECS = 30; // the default LEEWAY_SECS
const SESSION_TTL_SECS = 3600;
const RENEW_AFTER = 0.002;
const RENEW_THRESHOLD_SECS = RENEW_AFTER * SESSION_TTL_SECS;
const SESSION_CACHE_SIZE = 512; // small on purpose: the run evicts
const REVOCATION_REFRESH_SECS = 2; // re-reads race the writer's own updates
const PASSWORD = 'soak test password';
const FAR = 4_000_000_000;

const vectors = loadExpectFail();
const { doc } = vectors;
const ISSUER = doc.issuer;
const SESSION_AUDIENCE = doc.audience;
const ASSERTION_AUDIENCE = 'origin';
const SESSION_COOKIE = '__Host-edgeauth';
const PASSKEY_COOKIE = '__Host-edgeauth-passkey';

/** The APIs behind the edge as the corp issuer names them (resource indicators, aud). */
const API = 'https://api.soak.test';
const ELSEWHERE = 'https://elsewhere.soak.test';
const CORP_CLIENT = { client_id: 'ci-job', client_secret: 'ci job secret' };

const RULES = [
  { path: '/public/*', access: 'public' },
  { path: '/admin/*', roles: ['admin'] },
  { path: '/deploy/*', roles: ['deployer'] },
];

/** What a canonical path needs, for the paths this run sends (the origin refuses any other). */
const NEEDS = new Map([
  ['/app/data', 'session'],
  ['/', 'session'],
  ['/admin/panel', 'admin'],
  ['/public/page', 'public'],
  ['/public/admin', 'public'],
  ['/deploy/app', 'deployer'],
  ['/ADMIN/panel', 'admin'],
  ['/admin.json', 'admin'],
  ['/admin%20/panel', 'admin'],
  ['/Deploy/app', 'deployer'],
]);
const PLAIN_PATHS = ['/app/data', '/', '/admin/panel', '/public/page', '/deploy/app'];

/**
 * Path attacks: the raw request target and what the edge must make of it (a 400, or the
 * canonical path it decides on and forwards).
 */
const PATH_ATTACKS = [
  { target: '/public/..%2Fadmin/panel', refused: 400 },
  { target: '/app%2fdata', refused: 400 },
  { target: '/public/%5c../admin/panel', refused: 400 },
  { target: '/admin;x/panel', refused: 400 },
  { target: '/public/..;/admin/panel', refused: 400 },
  { target: '/public/%252e%252e/admin/panel', refused: 400 },
  { target: '/public/%c0%ae%c0%ae/admin/panel', refused: 400 },
  { target: '/public/%2e%2e%2fadmin/panel', refused: 400 },
  { target: '/public/..%20/admin/panel', refused: 400 },
  { target: '/public/%00/page', refused: 400 },
  { target: '/public/%EF%BC%8E%EF%BC%8E/admin/panel', refused: 400 },
  { target: '/ADMINI~1/panel', refused: 400 },
  { target: '/public/%2e%2e/admin/panel', canonical: '/admin/panel' },
  { target: '/public/../admin/panel', canonical: '/admin/panel' },
  { target: '/public/./page', canonical: '/public/page' },
  { target: '//admin//panel', canonical: '/admin/panel' },
  { target: '/public/%61dmin', canonical: '/public/admin' },
  { target: '/deploy/../admin/panel', canonical: '/admin/panel' },
  { target: '/ADMIN/panel', canonical: '/ADMIN/panel' },
  { target: '/admin.json', canonical: '/admin.json' },
  { target: '/admin%20/panel', canonical: '/admin%20/panel' },
  { target: '/Deploy/app', canonical: '/Deploy/app' },
];

// The second deployment: two apps behind one Worker, one sign-on at its auth host (APPS,
// AUTH_HOST, docs/apps.md). wiki has the main app's rules; tools (a wildcard host) its own, and
// request-bound assertions. Its auth host is `localhost`, so passkeys work there over http.
const APPS_AUTH_HOST = 'localhost';
const APPS_AUTH_AUDIENCE = 'soak-apps';
const HANDOFF_COOKIE = '__Host-edgeauth-handoff';
const TOOLS_RULES = [
  { path: '/public/*', access: 'public' },
  { path: '/ops/*', roles: ['admin'] },
  { path: '/reports/*', access: 'authenticated' },
];
const TOOLS_NEEDS = new Map([
  ['/reports/weekly', 'session'],
  ['/', 'session'],
  ['/ops/panel', 'admin'],
  ['/public/status', 'public'],
  ['/OPS/panel', 'admin'],
]);
const TOOLS_PLAIN_PATHS = ['/reports/weekly', '/', '/ops/panel', '/public/status'];
const TOOLS_PATH_ATTACKS = [
  ...PATH_ATTACKS.filter((attack) => attack.refused),
  { target: '/public/../ops/panel', canonical: '/ops/panel' },
  { target: '/public/%2e%2e/ops/panel', canonical: '/ops/panel' },
  { target: '//ops//panel', canonical: '/ops/panel' },
  { target: '/reports/./weekly', canonical: '/reports/weekly' },
  { target: '/OPS/panel', canonical: '/OPS/panel' },
];

/**
 * The apps under test, each a name in the `apps` of the MIX rows that run on it: `main`, the
 * one app of the first deployment (no APPS), and `wiki` and `tools` of the second. `signon` is
 * the second deployment's auth host (it forwards nothing; no row runs on it). `deployment` tells
 * whose revocations apply; `host()` is the Host line its requests carry.
 */
const APPS = {
  main: {
    name: 'main', deployment: 'main', edge: () => edge, host: () => edgeHost, needs: NEEDS, plainPaths: PLAIN_PATHS,
    pathAttacks: PATH_ATTACKS, sessionAudience: SESSION_AUDIENCE, passkeyHost: () => passkeyHost,
  },
  signon: {
    name: 'signon', deployment: 'apps', edge: () => appsEdge, host: () => `${APPS_AUTH_HOST}:${appsPort}`,
    sessionAudience: APPS_AUTH_AUDIENCE, passkeyHost: () => `${APPS_AUTH_HOST}:${appsPort}`,
  },
  wiki: {
    name: 'wiki', deployment: 'apps', edge: () => appsEdge, host: () => `wiki.soak.test:${appsPort}`, needs: NEEDS,
    plainPaths: PLAIN_PATHS, pathAttacks: PATH_ATTACKS, sessionAudience: 'soak-apps:wiki', assertionAudience: 'origin:wiki',
  },
  tools: {
    name: 'tools', deployment: 'apps', edge: () => appsEdge, host: () => `ci.tools.soak.test:${appsPort}`, needs: TOOLS_NEEDS,
    plainPaths: TOOLS_PLAIN_PATHS, pathAttacks: TOOLS_PATH_ATTACKS, sessionAudience: 'soak-apps:tools', assertionAudience: 'origin:tools',
  },
};
const otherApp = (app) => (app === 'wiki' ? 'tools' : 'wiki');

// ---------------------------------------------------------------------------------------------
// Randomness (seeded: SOAK_SEED replays the draws; the interleaving is the machine's)

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = mulberry32(SEED);
const pick = (list) => list[Math.floor(random() * list.length)];
const chance = (p) => random() < p;
const nowSecs = () => Math.floor(Date.now() / 1000);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const b64json = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
const sameSet = (a, b) => a.length === b.length && [...a].sort().join(',') === [...b].sort().join(',');

let ipCounter = 0;
/** A client address never used before (10/8): no login rate limit is ever shared. */
function freshIp() {
  ipCounter += 1;
  return `10.${(ipCounter >> 16) & 255}.${(ipCounter >> 8) & 255}.${ipCounter & 255}`;
}

// ---------------------------------------------------------------------------------------------
// Processes

let edge;
let edgeHost;
let passkeyHost;
let origin;
let appsEdge; // the second deployment
let appsPort;
let wikiOrigin;
let toolsOrigin;
let alpha;
let corp;
let edgeKeys; // kid -> KeyObject, from /.well-known/jwks.json

/** Runs the CLI without blocking the event loop. */
function edgeauth(args, input = '') {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    child.on('error', reject);
    // 'close', not 'exit': the process may exit before its output has all been read.
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    // A command that reads nothing may exit before its input is written: not an error.
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

/** `wrangler kv bulk put --local` of `entries` ({key: value}) into `binding`: one process for all. */
function kvBulkPut(worker, entries, binding) {
  return withStoreRetries(() => kvBulkPutOnce(worker, entries, binding));
}

function kvBulkPutOnce(worker, entries, binding) {
  const file = path.join(os.tmpdir(), `edgeauth-soak-${process.pid}-${binding}.json`);
  fs.writeFileSync(file, JSON.stringify(Object.entries(entries).map(([key, value]) => ({ key, value }))));
  return new Promise((resolve, reject) => {
    const child = spawn(
      WRANGLER,
      ['kv', 'bulk', 'put', file, '--local', '--persist-to', worker.persistTo, '--binding', binding],
      { cwd: ROOT, env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false' }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    child.on('error', reject);
    child.on('close', (code) => {
      fs.rmSync(file, { force: true });
      return code === 0 ? resolve() : reject(new Error(`wrangler kv bulk put (${binding}): ${stderr}`));
    });
  });
}

/**
 * `wrangler kv key get --local` of `key` in `binding` (it must exist). The harness's kvGet reads
 * stdout until the process exits, which can cut it short; this reads until the stream closes.
 */
function kvRead(worker, key, binding) {
  return withStoreRetries(() => kvReadOnce(worker, key, binding));
}

function kvReadOnce(worker, key, binding) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      WRANGLER,
      ['kv', 'key', 'get', '--local', '--persist-to', worker.persistTo, '--binding', binding, key, '--text'],
      { cwd: ROOT, env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false', WRANGLER_HIDE_BANNER: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(stdout.trim()) : reject(new Error(`wrangler kv key get ${key}: ${stderr}`))));
  });
}

/**
 * The resident memory, in KiB, of the two workerd processes `wrangler dev` runs: the worker's
 * own (the one with an inspector) and its dev proxy's (null when not found).
 */
function workerdRssKib(worker) {
  const ps = spawnSync('ps', ['-eo', 'pid=,pgid=,rss=,comm='], { encoding: 'utf8' });
  const found = { worker: null, proxy: null };
  for (const line of ps.stdout.split('\n')) {
    const [pid, pgid, rss, comm] = line.trim().split(/\s+/);
    if (Number(pgid) !== worker.pid || !comm?.startsWith('workerd')) continue;
    let args = '';
    try {
      args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    found[args.includes('--inspector-addr') ? 'worker' : 'proxy'] = Number(rss);
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// HTTP: every request through the edge is sent raw (its target as given, header lines as given,
// repeats included) on a fresh connection, and recorded.

const records = [];
/** Distinct valid-looking tokens presented: what the verified-session cache could have been asked to hold. */
const presentedTokens = new Set();
let edgeRequests = 0;
let providerRequests = 0;

/**
 * One request to `app`'s edge. `headers` is a list of [name, value] lines; `host` the Host line
 * (default the app's: 127.0.0.1:port for `main`, its host name for the second deployment's;
 * passkeys use localhost:port). The target gets
 * `n=<request number>` in its query (the origin matches its records back by it) unless
 * `tag: false`. Resolves to the record, which the caller gives a `judge`.
 */
function send(op, { method = 'GET', target, headers = [], body, app = 'main', host = APPS[app].host(), tag = true }) {
  edgeRequests += 1;
  const n = edgeRequests;
  const fullTarget = tag ? `${target}${target.includes('?') ? '&' : '?'}n=${n}` : target;
  const lines = [['host', host], ['cf-ray', `soak-${n}`], ...headers];
  if (body !== undefined) lines.push(['content-length', String(Buffer.byteLength(body))]);
  const record = { n, op, app, method, target: fullTarget, tSend: Date.now(), tRecv: null, status: null, error: null, headers: {}, setCookies: [], text: '' };
  records.push(record);
  const { port } = new URL(APPS[app].edge().url);
  return new Promise((resolve) => {
    const req = http.request({ hostname: '127.0.0.1', port, path: fullTarget, method, headers: lines.flat(), agent: false }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => {
        record.tRecv = Date.now();
        record.status = res.statusCode;
        record.headers = res.headers;
        record.setCookies = res.headers['set-cookie'] ?? [];
        // Whole for the edge's own routes (tokens, options), short otherwise: a long run keeps every record.
        const text = Buffer.concat(chunks).toString('utf8');
        record.text = target.startsWith('/auth/') ? text : text.slice(0, 300);
        resolve(record);
      });
      res.on('error', (error) => done(error));
    });
    const done = (error) => {
      if (record.tRecv !== null) return;
      record.tRecv = Date.now();
      record.error = error.message;
      resolve(record);
    };
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`timed out after ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', done);
    req.end(body);
  });
}

/** A provider request (not the edge's; not judged here): `{ status, headers, setCookies, text }`. */
function providerFetch(url, { method = 'GET', headers = {}, body } = {}) {
  providerRequests += 1;
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { hostname: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, method, agent: false,
        headers: { ...headers, ...(body === undefined ? {} : { 'content-length': Buffer.byteLength(body) }) } },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, setCookies: res.headers['set-cookie'] ?? [], text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`provider request timed out: ${url}`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** The value a response set for cookie `name` ('' when it cleared it, undefined when untouched). */
function cookieSet(record, name) {
  const header = record.setCookies.find((c) => c.startsWith(`${name}=`));
  return header === undefined ? undefined : header.slice(name.length + 1).split(';')[0];
}

function json(record) {
  try {
    return JSON.parse(record.text);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Tokens the edge signs, checked with its published keys (node:crypto Ed25519)

async function loadEdgeKeys() {
  const r = await providerFetch(`${edge.url}/.well-known/jwks.json`);
  assert.equal(r.status, 200, r.text);
  edgeKeys = new Map(JSON.parse(r.text).keys.map((jwk) => [jwk.kid, crypto.createPublicKey({ key: jwk, format: 'jwk' })]));
  assert.ok(edgeKeys.size > 0, 'the edge publishes a key');
}

/** The payload of `token` if the edge's key signed it for `audience`; throws otherwise. */
function verifyEdgeToken(token, audience) {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('not three segments');
  const header = b64json(parts[0]);
  if (header.alg !== 'EdDSA') throw new Error(`alg ${header.alg}`);
  const key = edgeKeys.get(header.kid);
  if (!key) throw new Error(`unknown kid ${header.kid}`);
  if (!crypto.verify(null, Buffer.from(`${parts[0]}.${parts[1]}`), key, Buffer.from(parts[2], 'base64url'))) {
    throw new Error('bad signature');
  }
  const payload = b64json(parts[1]);
  if (payload.iss !== ISSUER) throw new Error(`iss ${payload.iss}`);
  const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  if (!aud.includes(audience)) throw new Error(`aud ${payload.aud}`);
  return payload;
}

// ---------------------------------------------------------------------------------------------
// The model: who holds what, and what was revoked when

/**
 * Every revocation made: { type: sid|psid|sub|idp|service, key, deployment, before, pendingSince,
 * confirmedAt, how }. A revocation applies only in the deployment that made it (each has its own
 * revocation document).
 */
const revocations = [];

function revoke(type, key, how, deployment = 'main') {
  const entry = { type, key, deployment, before: null, pendingSince: Date.now(), confirmedAt: null, how };
  revocations.push(entry);
  return entry;
}

function revocationMatches(entry, id) {
  if ((entry.deployment ?? 'main') !== (id.deployment ?? 'main')) return false;
  switch (entry.type) {
    case 'psid': return id.psid === entry.key;
    case 'sid': return id.kind !== 'service' && id.sid === entry.key;
    case 'idp': return id.idp === 'alpha' && id.idpSid === entry.key;
    case 'sub': return id.sub === entry.key && (entry.before === null || id.authTime < entry.before);
    case 'service': return id.kind === 'service' && id.clientId === entry.key;
    default: throw new Error(entry.type);
  }
}

/**
 * 'must' when a revocation covering `id` was confirmed before `tSend`; 'either' when one was
 * under way before the answer arrived at `tRecv` (or never confirmed); else 'none'.
 */
function revocationState(id, tSend, tRecv) {
  let state = 'none';
  for (const entry of revocations) {
    if (!revocationMatches(entry, id)) continue;
    if (entry.confirmedAt !== null && entry.confirmedAt <= tSend) return 'must';
    if (entry.pendingSince < tRecv) state = 'either';
  }
  return state;
}

/**
 * Whether a logout answered at `tRecv` found `cred` still live, and so wrote `entry` to the
 * revocation document: no other revocation covering it was under way by then (a logout of a
 * session already revoked writes nothing, and rightly).
 */
function foundLive(entry, cred, tRecv) {
  return !revocations.some((other) => other !== entry && revocationMatches(other, cred) && other.pendingSince < tRecv);
}

/** 'valid', 'invalid' or 'either' for credential `cred` over a request's life. */
function credState(cred, tSend, tRecv) {
  if (!cred || cred.kind === 'none' || cred.kind === 'invalid') return 'invalid';
  let state = 'valid';
  if (cred.exp !== undefined) {
    if (tSend > (cred.exp + LEEWAY_SECS + 1) * 1000) return 'invalid';
    if (tRecv >= cred.exp * 1000) state = 'either';
  }
  const revoked = revocationState(cred, tSend, tRecv);
  if (revoked === 'must') return 'invalid';
  if (revoked === 'either') state = 'either';
  return state;
}

const meets = (need, roles) => need === 'public' || need === 'session' || roles.includes(need);

const pool = {
  sessions: [], // logged-in sessions: { via, app, deployment, sub, sid, psid, roles, authTime, idp, idpSid, versions: [{ token, iat, exp }], gone }
  signOns: [], // the second deployment's sign-ons: { central (its auth host's session), via }
  appsPasskeyUsers: [], // passkeys enrolled at the second deployment's auth host
  admin: null, // the administrator's session (never revoked)
  passwordUsers: [],
  ssoUsers: [],
  passkeyUsers: [],
  serviceTokens: {},
  external: null, // { token, claims, at }
};
const POOL_CAP = 400;

function addSession(session) {
  pool.sessions.push(session);
  if (pool.sessions.length > POOL_CAP) pool.sessions.splice(Math.floor(random() * (POOL_CAP / 2)), 1);
}

/** The sessions not yet logged out or revoked (of `app` only, when given). */
function liveSessions(app) {
  return pool.sessions.filter((s) => !s.gone && (app === undefined || s.app === app));
}

/** The credential a session's token `version` is. */
function sessionCred(session, version = session.versions.at(-1)) {
  return {
    kind: 'session', via: session.via, app: session.app, deployment: session.deployment, token: version.token, sub: session.sub,
    sid: session.sid, psid: session.psid, roles: session.roles, authTime: session.authTime, idp: session.idp, idpSid: session.idpSid,
    iat: version.iat, exp: version.exp,
  };
}

/** A session of `app` from a token the edge minted (checked: signature, that app's audience, the claims). */
function sessionFromToken(token, via, app = 'main') {
  const claims = verifyEdgeToken(token, APPS[app].sessionAudience);
  return {
    via, app, deployment: APPS[app].deployment, sub: claims.sub, sid: claims.sid, psid: claims.psid, roles: claims.roles ?? [],
    authTime: claims.auth_time, idp: claims.idp, idpSid: claims.idp_sid, versions: [{ token, iat: claims.iat, exp: claims.exp }],
    gone: false, claims,
  };
}

// ---------------------------------------------------------------------------------------------
// The checking origin

const IDENTITY_HEADERS = ['x-auth-user', 'x-auth-roles', 'x-auth-session', 'x-auth-expires', 'x-auth-assertion'];
/** Headers (as the edge's spelling rule reads names: lower case, `_` and `.` as `-`) that must never arrive. */
const NEVER_AT_ORIGIN = new Set([
  'authorization', 'edgeauth-client-id', 'edgeauth-client-secret', 'x-http-method-override', 'x-http-method',
  'x-method-override', 'x-original-url', 'x-rewrite-url', 'x-original-method', 'forwarded', 'x-real-ip',
  'x-remote-user', 'true-client-ip', 'x-client-ip',
]);

/** Whether an origin could read cookie `name` as the session cookie (case, %-escapes, PHP's `.`/space for `_`). */
function readsAsSessionCookie(name) {
  let decoded = name.trim();
  try {
    decoded = decodeURIComponent(decoded);
  } catch {
    // kept as it is
  }
  return decoded.replace(/[. ]/g, '_').toLowerCase() === SESSION_COOKIE.toLowerCase();
}

/** Whether `rawPath` (as received, before any parsing) is in the canonical form. */
function canonicalProblem(rawPath) {
  if (!rawPath.startsWith('/')) return 'does not start with /';
  if (rawPath.includes('//')) return 'empty segment';
  if (/[;\\\s]/.test(rawPath) || /[^\x21-\x7e]/.test(rawPath)) return 'parameter, backslash, space or non-ASCII';
  if (/%(2f|5c|25|3b|0[0-9a-f]|1[0-9a-f]|7f)/i.test(rawPath)) return 'escaped delimiter or control';
  if (/%[0-9A-F]?[a-f]/.test(rawPath)) return 'lower-case escape';
  if (/%(4[1-9A-F]|5[0-9A]|6[1-9A-F]|7[0-9A]|3[0-9]|2D|2E|5F|7E)/i.test(rawPath)) return 'escaped unreserved character';
  for (const segment of rawPath.split('/').slice(1)) if (segment === '.' || segment === '..') return 'dot segment';
  return null;
}

const originSeen = new Map(); // n -> what the origin made of it
const boundJtis = new Set(); // the jti of every request-bound assertion seen
const originProblems = []; // { n, problem }

/**
 * The origins: `main`'s, and one per app of the second deployment. Each knows its app's paths,
 * rules and assertion audience (an assertion minted for another app does not verify here).
 */
const ORIGIN_SITES = {
  main: { app: 'main', needs: NEEDS, audience: ASSERTION_AUDIENCE },
  wiki: { app: 'wiki', needs: NEEDS, audience: APPS.wiki.assertionAudience },
  tools: { app: 'tools', needs: TOOLS_NEEDS, audience: APPS.tools.assertionAudience, bound: true },
};

/** Checks one request forwarded to `site`'s origin; returns what it saw (identity from the assertion). */
function inspectAtOrigin(req, bodyText, site) {
  const problems = [];
  const [rawPath, query = ''] = req.url.split('?');
  const params = new URLSearchParams(query);
  const counts = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    const value = req.rawHeaders[i + 1];
    const spelled = name.replace(/[_.]/g, '-');
    counts[name] = (counts[name] ?? 0) + 1;
    if (/spoof/i.test(value)) problems.push(`a client-sent value reached the origin in ${name}: ${value}`);
    if (spelled.startsWith('x-auth-') && !IDENTITY_HEADERS.includes(name)) problems.push(`identity-like header ${name}`);
    if (NEVER_AT_ORIGIN.has(spelled)) problems.push(`${name} reached the origin`);
    if (spelled === 'cookie' && value.split(';').some((c) => readsAsSessionCookie(c.split('=')[0]))) problems.push(`a session cookie reached the origin: ${value}`);
  }
  for (const name of IDENTITY_HEADERS) if ((counts[name] ?? 0) > 1) problems.push(`${name} twice`);
  if (['TRACE', 'TRACK', 'CONNECT'].includes(req.method)) problems.push(`method ${req.method}`);
  for (const key of params.keys()) if (/^[._ []?method$/i.test(key)) problems.push(`method override ${key}`);
  const pathProblem = canonicalProblem(rawPath);
  if (pathProblem) problems.push(`path ${rawPath} not canonical: ${pathProblem}`);
  const need = site.needs.get(rawPath);
  if (!need) problems.push(`path ${rawPath} is none the run sends to ${site.app}`);

  let identity = 'anonymous';
  const present = IDENTITY_HEADERS.filter((name) => req.headers[name] !== undefined);
  if (present.length > 0) {
    if (present.length !== IDENTITY_HEADERS.length) problems.push(`only ${present.join(',')} of the identity headers`);
    try {
      const claims = verifyEdgeToken(req.headers['x-auth-assertion'] ?? '', site.audience);
      if (claims.exp * 1000 <= Date.now() - LEEWAY_SECS * 1000) problems.push('an expired assertion');
      if (req.headers['x-auth-user'] !== claims.sub) problems.push(`X-Auth-User ${req.headers['x-auth-user']} is not the assertion's ${claims.sub}`);
      if (req.headers['x-auth-roles'] !== (claims.roles ?? []).join(',')) problems.push(`X-Auth-Roles ${req.headers['x-auth-roles']} is not the assertion's`);
      if (req.headers['x-auth-session'] !== claims.sid) problems.push('X-Auth-Session is not the assertion\'s sid');
      if (site.bound) {
        // A request-bound assertion (docs/origin.md): this request's method and URL, a jti never
        // seen before, at most 60 s, never past the session's exp (X-Auth-Expires).
        if (claims.htm !== req.method) problems.push(`a bound assertion for method ${claims.htm}`);
        if (claims.htu !== `http://${APPS[site.app].host()}${rawPath}`) problems.push(`a bound assertion for ${claims.htu}`);
        if (typeof claims.jti !== 'string' || boundJtis.has(claims.jti)) problems.push('a bound assertion without a new jti');
        boundJtis.add(claims.jti);
        if (!(claims.exp - claims.iat <= 60) || !(claims.exp <= Number(req.headers['x-auth-expires']))) problems.push('a bound assertion lives too long');
      } else if (req.headers['x-auth-expires'] !== String(claims.exp)) {
        problems.push('X-Auth-Expires is not the assertion\'s exp');
      }
      identity = {
        kind: claims.machine === 'service_token' ? 'service' : claims.machine === 'issuer' ? 'external' : 'session',
        app: site.app, deployment: APPS[site.app].deployment, psid: claims.psid,
        sub: claims.sub, roles: claims.roles ?? [], sid: claims.sid, authTime: claims.auth_time, idp: claims.idp,
        idpSid: claims.idp_sid, clientId: claims.machine === 'service_token' ? claims.sid : undefined,
        assertionBytes: req.headers['x-auth-assertion'].length,
      };
    } catch (error) {
      problems.push(`X-Auth-Assertion does not verify: ${error.message}`);
      identity = { kind: 'unverified', sub: req.headers['x-auth-user'], roles: [], sid: req.headers['x-auth-session'] };
    }
  }
  if (need && identity === 'anonymous' && need !== 'public') problems.push(`anonymous at ${rawPath}, which needs ${need}`);
  if (need && identity !== 'anonymous' && !meets(need, identity.roles)) problems.push(`${identity.sub} (${identity.roles}) at ${rawPath}, which needs ${need}`);
  const n = params.get('n');
  const expectBody = params.get('body');
  if (expectBody !== null && bodyText !== `soak body ${n}`) problems.push(`the body changed on the way: ${JSON.stringify(bodyText.slice(0, 60))}`);
  return { n, app: site.app, method: req.method, path: rawPath, identity, problems, receivedAt: Date.now() };
}

function startCheckingOrigin(site = ORIGIN_SITES.main) {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const seen = inspectAtOrigin(req, Buffer.concat(chunks).toString('utf8'), site);
      if (seen.n === null) originProblems.push({ n: null, problem: `a request without n: ${req.method} ${req.url}` });
      else if (originSeen.has(seen.n)) originProblems.push({ n: seen.n, problem: 'forwarded twice' });
      else originSeen.set(seen.n, seen);
      for (const problem of seen.problems) originProblems.push({ n: seen.n, problem });
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end('{"origin":"soak"}');
    });
  });
  // Node closes an idle keep-alive connection after 5 s by default; workerd keeps its pooled
  // connections to the origin longer, and a request it sends on one the origin has just closed
  // fails ("Network connection lost", 502). A real origin's idle timeout outlasts its proxy's.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({
      url: `http://127.0.0.1:${server.address().port}`,
      close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
    }));
  });
}

/** After the run: no forwarded identity may be one the model had revoked before it was sent. */
function originRevocationProblems(byN) {
  const problems = [];
  for (const seen of originSeen.values()) {
    if (seen.identity === 'anonymous' || seen.identity.kind === 'unverified') continue;
    const record = byN.get(Number(seen.n));
    if (!record) {
      problems.push({ n: seen.n, problem: 'the origin saw a request the client never sent' });
      continue;
    }
    if (revocationState(seen.identity, record.tSend, record.tRecv ?? Infinity) === 'must') {
      problems.push({ n: seen.n, problem: `${seen.identity.sub} (sid ${seen.identity.sid}) admitted after its revocation was confirmed` });
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Judges: each record gets one; it returns null or what was wrong, after the run

/** What the forwarded requests were judged as (for the summary). */
const judged = { valid: 0, invalid: 0, either: 0, revoked: 0, revocationUnderWay: 0, renewed: 0 };

const outcomeText = (o) => `${o.status}${o.identity === 'anonymous' ? ' anonymous' : o.identity ? ` as ${o.identity.sub}` : ''}`;

/**
 * The judge of a request the edge decides and may forward: `cred` presented as `present`
 * (bearer, cookie, service or none) to canonical path `canonical` (needing `need`), a browser
 * navigation if `nav`. `fixed` is a status the request must get whatever the credential (a
 * refused spelling, an ambiguous credential); `then(record, seen, outcome)` runs after a match.
 */
function forwardJudge({ app = 'main', cred, present, canonical, need, nav = false, fixed, then }) {
  return (record, seen) => {
    if (seen && seen.app !== app) return `a request to ${app} reached the origin of ${seen.app}`;
    if (fixed !== undefined) {
      if (record.status !== fixed) return `expected ${fixed}, got ${record.status ?? record.error}`;
      if (seen) return `refused with ${fixed} but forwarded as ${seen.path}`;
      return null;
    }
    const state = credState(cred, record.tSend, record.tRecv);
    const revoked = cred && cred.kind !== 'none' && cred.kind !== 'invalid' ? revocationState(cred, record.tSend, record.tRecv) : 'none';
    judged[revoked === 'must' ? 'revoked' : revoked === 'either' ? 'revocationUnderWay' : state] += 1;
    const outcomes = [];
    if (state !== 'invalid') outcomes.push(meets(need, cred.roles) ? { status: 200, identity: cred } : { status: 403 });
    if (state !== 'valid') outcomes.push(need === 'public' ? { status: 200, identity: 'anonymous' } : { status: nav ? 302 : 401 });
    const actual = seen ? seen.identity : null;
    const match = outcomes.find((o) => o.status === record.status && identityMatches(o.identity, actual));
    if (!match) {
      const got = actual === null ? 'not forwarded' : actual === 'anonymous' ? 'forwarded anonymously' : `forwarded as ${actual.sub} (${actual.roles})`;
      return `expected ${outcomes.map(outcomeText).join(' or ')} (${cred?.kind}${cred?.name ? ` ${cred.name}` : ''} ${state}), got ${record.status ?? record.error}, ${got}`;
    }
    if (seen && seen.path !== canonical) return `forwarded as ${seen.path}, decided as ${canonical}`;
    if (match.status === 302 && !(record.headers.location ?? '').startsWith('/auth/login?next=')) return `302 to ${record.headers.location}`;
    const renewed = cookieSet(record, SESSION_COOKIE);
    const admittedSession = match.identity && match.identity !== 'anonymous' && ['session', 'crafted'].includes(cred.kind) && present === 'cookie';
    if (renewed) {
      judged.renewed += 1;
      if (!admittedSession) return `a session cookie was set on ${outcomeText(match)} (${present}, ${cred?.kind})`;
      const problem = renewalProblem(cred, renewed, APPS[app].sessionAudience);
      if (problem) return problem;
    } else if (admittedSession && mustRenew(cred, record)) {
      return `not renewed although ${(record.tSend / 1000 - cred.iat).toFixed(1)} s past its iat (threshold ${RENEW_THRESHOLD_SECS} s)`;
    }
    return then ? then(record, seen, match) : null;
  };
}

function identityMatches(expected, actual) {
  if (expected === undefined) return actual === null;
  if (expected === 'anonymous') return actual === 'anonymous';
  if (actual === null || actual === 'anonymous') return false;
  return actual.sub === expected.sub && sameSet(actual.roles, expected.roles) && (expected.sid === undefined || actual.sid === expected.sid);
}

/**
 * Whether the edge must renew `cred` (a cookie session it admitted): past RENEW_AFTER of its
 * lifetime by more than a second when sent, a renewal that would extend exp (the edge's
 * now + SESSION_TTL_SECS beyond it), and not yet expired when the answer came.
 */
function mustRenew(cred, record) {
  const sent = record.tSend / 1000;
  return sent - cred.iat > RENEW_AFTER * (cred.exp - cred.iat) + 1 && sent - 1 > cred.exp - SESSION_TTL_SECS && record.tRecv / 1000 + 1 < cred.exp;
}

/** What is wrong with `renewed`, the renewal of `cred`'s token for `audience` (null if nothing). */
function renewalProblem(cred, renewed, audience = SESSION_AUDIENCE) {
  let claims;
  try {
    claims = verifyEdgeToken(renewed, audience);
  } catch (error) {
    return `the renewed token does not verify: ${error.message}`;
  }
  if (claims.sid !== cred.sid || claims.sub !== cred.sub || claims.auth_time !== cred.authTime || claims.psid !== cred.psid || !sameSet(claims.roles ?? [], cred.roles)) {
    return `the renewal changed the session: ${JSON.stringify(claims)}`;
  }
  if (!(claims.exp > cred.exp) || claims.iat < cred.iat) return `the renewal did not extend it: exp ${cred.exp} → ${claims.exp}`;
  return null;
}

/** A judge of an /auth/* answer: `want` is a status or a list; `then` checks the rest. */
function statusJudge(want, then) {
  const wanted = Array.isArray(want) ? want : [want];
  return (record, seen) => {
    if (seen) return `an /auth request reached the origin: ${seen.path}`;
    if (!wanted.includes(record.status)) return `expected ${wanted.join(' or ')}, got ${record.status ?? record.error}: ${record.text.slice(0, 200)}`;
    return then ? then(record) : null;
  };
}

// ---------------------------------------------------------------------------------------------
// Presenting credentials

function presentHeaders(cred, present) {
  switch (present) {
    case 'bearer': return [['authorization', `Bearer ${cred.token}`]];
    case 'cookie': return [['cookie', `theme=dark; ${SESSION_COOKIE}=${cred.token}; lang=en`]];
    case 'service': return cred.secret === undefined
      ? [['edgeauth-client-id', cred.clientId]]
      : [['edgeauth-client-id', cred.clientId], ['edgeauth-client-secret', cred.secret]];
    case 'none': return [];
    default: throw new Error(present);
  }
}

const NAVIGATION = [['accept', 'text/html,application/xhtml+xml'], ['sec-fetch-mode', 'navigate'], ['sec-fetch-dest', 'document']];
const API_CLIENT = [['accept', 'application/json']];

/**
 * `cred` as `app` must take it: a session (or a token crafted here, which is `main`'s) only at
 * its own app, a machine credential only where it is configured (the first deployment); anything
 * else is a credential of no value there.
 */
function validAt(app, cred) {
  if (!cred || cred.kind === 'none' || cred.kind === 'invalid') return cred;
  const own = ['session', 'crafted'].includes(cred.kind) ? (cred.app ?? 'main') === app : APPS[app].deployment === 'main';
  return own ? cred : { ...cred, kind: 'invalid', name: `${cred.kind} of ${cred.app ?? 'main'} at ${app}` };
}

/**
 * Sends `cred` to `canonical` on `app` (or `target`, a raw spelling of it) and judges it:
 * the shared path of every forwarded request. Resolves to the record.
 */
async function forward(op, { app = 'main', cred: held, present, canonical, target = canonical, nav = false, method = 'GET', extra = [], fixed, then }) {
  const needs = APPS[app].needs;
  const cred = validAt(app, held);
  if (cred?.token && cred.kind !== 'invalid') presentedTokens.add(cred.token);
  const withBody = method === 'POST' && fixed === undefined;
  const tagged = withBody ? `${target}?body=1` : target;
  const record = await send(op, {
    app, method, target: tagged, body: withBody ? `soak body ${edgeRequests + 1}` : undefined,
    headers: [...(nav ? NAVIGATION : API_CLIENT), ...presentHeaders(cred, present), ...(withBody ? [['content-type', 'text/plain']] : []), ...extra],
  });
  record.judge = forwardJudge({ app, cred, present, canonical, need: canonical ? needs.get(canonical) : undefined, nav, fixed, then });
  // A renewal becomes the session's newest token (the judge checks it).
  const renewed = cookieSet(record, SESSION_COOKIE);
  if (renewed && cred?.kind === 'session' && present === 'cookie' && cred.session) {
    try {
      const claims = verifyEdgeToken(renewed, APPS[app].sessionAudience);
      if (claims.sid === cred.sid) cred.session.versions.push({ token: renewed, iat: claims.iat, exp: claims.exp });
    } catch {
      // judged as a wrong decision
    }
  }
  return record;
}

// ---------------------------------------------------------------------------------------------
// Logins

/** A password user with room under LOGIN_USER_LIMIT (at most 4 attempts in any 130 s), or null. */
function takePasswordUser(filter = () => true) {
  const now = Date.now();
  const candidates = pool.passwordUsers.filter((u) => filter(u) && u.attempts.filter((t) => t > now - 130_000).length < 4);
  if (candidates.length === 0) return null;
  const user = pick(candidates);
  user.attempts.push(now);
  return user;
}

/** A password login at `app` (`main`, or the second deployment's auth host, `signon`). */
async function passwordLogin(user, { form = false, password = PASSWORD, op = 'password-login', app = 'main', next = '/app/data', holding } = {}) {
  const fields = { username: user.name, password, next };
  const record = await send(op, {
    app, method: 'POST', target: '/auth/login',
    headers: [
      ['origin', `http://${APPS[app].host()}`], ['cf-connecting-ip', freshIp()],
      ...(holding ? [['cookie', `${SESSION_COOKIE}=${holding}`]] : []),
      ...(form ? [['content-type', 'application/x-www-form-urlencoded']] : [['content-type', 'application/json'], ['accept', 'application/json']]),
    ],
    body: form ? new URLSearchParams(fields).toString() : JSON.stringify(fields),
  });
  const wrong = password !== PASSWORD || user.disabled;
  let session = null;
  const token = form ? cookieSet(record, SESSION_COOKIE) : json(record)?.token;
  if (!wrong && token) {
    try {
      session = sessionFromToken(token, 'password', app);
    } catch {
      // judged below
    }
  }
  record.judge = statusJudge(wrong ? 401 : form ? 303 : 200, (r) => {
    if (wrong) return cookieSet(r, SESSION_COOKIE) ? 'a failed login set a session cookie' : null;
    if (!session) return `no verifiable session token: ${r.text.slice(0, 200)}`;
    if (session.sub !== user.name || !sameSet(session.roles, user.roles)) return `logged in as ${session.sub} (${session.roles})`;
    if (form && r.headers.location !== next) return `form login went to ${r.headers.location}`;
    if (!form && cookieSet(r, SESSION_COOKIE) !== token) return 'the JSON login\'s cookie is not its token';
    return null;
  });
  return session;
}

/** A minimal cookie jar for the provider (cookies ignore ports; paths matter to oidc-provider). */
function jarStore(jar, setCookies) {
  for (const header of setCookies) {
    const [pair, ...attrs] = header.split(';').map((s) => s.trim());
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    const attr = (key) => attrs.find((a) => a.toLowerCase().startsWith(`${key}=`))?.split('=').slice(1).join('=');
    const cookiePath = attr('path') ?? '/';
    const expires = attr('expires');
    const gone = value === '' || attr('max-age') === '0' || (expires && Date.parse(expires) <= Date.now());
    jar.delete(`${name}|${cookiePath}`);
    if (!gone) jar.set(`${name}|${cookiePath}`, { name, value, path: cookiePath });
  }
}
function jarHeader(jar, pathname) {
  return [...jar.values()].filter((c) => pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`) || c.path === '/')
    .map((c) => `${c.name}=${c.value}`).join('; ');
}

/**
 * Single sign-on without a browser: the edge's start, the provider's own authorization
 * endpoint, login form and consent (oidc_provider.mjs), back to the edge's callback.
 */
async function ssoLogin(user, { app = 'main', next = '/app/data' } = {}) {
  const ip = freshIp();
  const start = await send('sso-login', { app, target: `/auth/sso/alpha?next=${encodeURIComponent(next)}`, headers: [['cf-connecting-ip', ip]], tag: false });
  const transaction = start.setCookies.find((c) => c.startsWith('__Host-edgeauth-sso-'))?.split(';')[0];
  let problem = null;
  let session = null;
  let location = start.headers.location;
  const authorize = location;
  start.judge = statusJudge(303, () => (transaction && authorize?.startsWith(alpha.issuer) ? null : `no transaction or provider redirect: ${authorize}`));
  if (start.status !== 303 || !transaction || !location?.startsWith(alpha.issuer)) return null;
  const jar = new Map();
  let callback = null;
  try {
    for (let step = 0; step < 12 && !callback; step += 1) {
      const url = new URL(location, alpha.issuer);
      if (url.origin === `http://${APPS[app].host()}`) {
        callback = url;
        break;
      }
      let r = await providerFetch(url.href, { headers: { cookie: jarHeader(jar, url.pathname) } });
      jarStore(jar, r.setCookies);
      if (r.status === 200 && url.pathname.startsWith('/interaction/')) {
        r = await providerFetch(url.href, {
          method: 'POST',
          headers: { cookie: jarHeader(jar, url.pathname), 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ login: user.id, password: user.password }).toString(),
        });
        jarStore(jar, r.setCookies);
      }
      if (![302, 303].includes(r.status)) throw new Error(`the provider answered ${r.status} at ${url.pathname}: ${r.text.slice(0, 200)}`);
      location = r.headers.location;
    }
    if (!callback) throw new Error('the provider never sent the browser back');
  } catch (error) {
    problem = error.message;
  }
  if (!callback) {
    records.push({ n: null, op: 'sso-login', provider: true, method: 'GET', target: location, tSend: Date.now(), tRecv: Date.now(), status: null, error: null, setCookies: [],
      judge: () => `single sign-on did not reach the callback: ${problem}` });
    return null;
  }
  const done = await send('sso-login', { app, target: `${callback.pathname}${callback.search}`, headers: [['cookie', transaction], ['cf-connecting-ip', ip]], tag: false });
  const token = cookieSet(done, SESSION_COOKIE);
  try {
    session = token ? sessionFromToken(token, 'sso', app) : null;
  } catch {
    session = null;
  }
  done.judge = statusJudge(303, (r) => {
    if (!session) return 'no verifiable session cookie';
    if (r.headers.location !== next) return `went to ${r.headers.location}`;
    if (session.sub !== `alpha:${user.id}` || !sameSet(session.roles, user.roles)) return `signed in as ${session.sub} (${session.roles})`;
    // (the second deployment's provider client has no back-channel logout, so no sid)
    if (app === 'main' && typeof session.idpSid !== 'string') return 'no idp_sid kept';
    return null;
  });
  return session;
}

/** A call to `app`'s passkey routes as the site's own page makes it (localhost, same origin). */
function passkeyCall(op, route, { body, cookies = {}, ip = freshIp(), app = 'main' }) {
  const cookie = Object.entries(cookies).filter(([, v]) => v).map(([k, v]) => `${k}=${v}`).join('; ');
  const host = APPS[app].passkeyHost();
  return send(op, {
    app, method: 'POST', target: route, host, tag: false, body: JSON.stringify(body),
    headers: [
      ['origin', `http://${host}`], ['content-type', 'application/json'], ['accept', 'application/json'],
      ['cf-connecting-ip', ip], ...(cookie ? [['cookie', cookie]] : []),
    ],
  });
}

/** Enrolls `user` ({ name, roles, cred }) from a real `edgeauth enroll` link; resolves to its session. */
async function enrollPasskey(user, app = 'main') {
  const site = `http://${APPS[app].passkeyHost()}`;
  const run = await edgeauth(['enroll', '--key', '-', '--url', site, user.name, '--roles', user.roles.join(',')], vectors.privateJwk());
  assert.equal(run.code, 0, run.stderr);
  const token = /#token=([A-Za-z0-9_.-]+)$/.exec(run.stdout.trim())?.[1];
  assert.ok(token, run.stdout);
  const ip = freshIp();
  const options = await passkeyCall('passkey-enroll', '/auth/passkeys/register/options', { body: { enrollment: token }, ip, app });
  options.judge = statusJudge(200);
  assert.equal(options.status, 200, options.text);
  const publicKey = json(options).publicKey;
  const credential = registrationResponse(user.cred, { rpId: 'localhost', origin: site, challenge: publicKey.challenge });
  const done = await passkeyCall('passkey-enroll', '/auth/passkeys/register', {
    body: { credential, name: 'soak key', enrollment: token }, cookies: { [PASSKEY_COOKIE]: cookieSet(options, PASSKEY_COOKIE) }, ip, app,
  });
  done.judge = statusJudge(200);
  assert.equal(done.status, 200, done.text);
  user.cred.userHandle = fromB64url(publicKey.user.id);
  return sessionFromToken(cookieSet(done, SESSION_COOKIE), 'passkey', app);
}

/** A passkey sign-in (username-less); `tamper` breaks the signature, `replay` reuses a used challenge. */
async function passkeySignIn(user, { tamper = false, replay = false, app = 'main', next = '/app/data' } = {}) {
  const site = `http://${APPS[app].passkeyHost()}`;
  const ip = freshIp();
  const options = await passkeyCall('passkey-login', '/auth/passkeys/sign-in/options', { body: {}, ip, app });
  const challengeCookie = cookieSet(options, PASSKEY_COOKIE);
  options.judge = statusJudge(200, () => (challengeCookie ? null : 'no challenge cookie'));
  if (options.status !== 200 || !challengeCookie) return null;
  const challenge = json(options).publicKey.challenge;
  const credential = assertionResponse(user.cred, {
    rpId: 'localhost', origin: site, challenge, tamper: tamper ? (parts) => { parts.signature[8] ^= 1; } : undefined,
  });
  const done = await passkeyCall('passkey-login', '/auth/passkeys/sign-in', { body: { credential, next }, cookies: { [PASSKEY_COOKIE]: challengeCookie }, ip, app });
  const token = cookieSet(done, SESSION_COOKIE);
  let session = null;
  try {
    session = !tamper && token ? sessionFromToken(token, 'passkey', app) : null;
  } catch {
    session = null;
  }
  done.judge = tamper
    ? statusJudge(401, (r) => (cookieSet(r, SESSION_COOKIE) ? 'a refused sign-in set a session' : null))
    : statusJudge(200, () => {
      if (!session) return 'no verifiable session cookie';
      if (session.sub !== user.name || !sameSet(session.roles, user.roles)) return `signed in as ${session.sub} (${session.roles})`;
      if (!(session.claims.amr ?? []).includes('hwk')) return `amr ${session.claims.amr}`;
      return null;
    });
  if (replay && session) {
    const again = await passkeyCall('passkey-login', '/auth/passkeys/sign-in', { body: { credential, next }, cookies: { [PASSKEY_COOKIE]: challengeCookie }, ip: freshIp(), app });
    again.judge = statusJudge(401, (r) => (cookieSet(r, SESSION_COOKIE) ? 'a replayed challenge signed in' : null));
  }
  return session;
}

// ---------------------------------------------------------------------------------------------
// The second deployment's sign-on: a login at its auth host, then a handoff into each app

/** Every sign-on id a fresh login at the auth host was given: each must be new. */
const psidsSeen = new Set();
/** What the second deployment's sign-ons did (for the summary). */
const signOnCounts = { fresh: 0, reused: 0, loginAgain: 0, keptSignOn: 0, handoffs: 0 };

/** A finding of the model's own, not tied to one answer (judged as a wrong decision). */
function wrongNow(op, problem) {
  records.push({ n: null, op, method: '-', target: '-', tSend: Date.now(), tRecv: Date.now(), status: null, error: null, setCookies: [], judge: () => problem });
}

/** Whether `central`, a fresh login's session at the auth host, begins a sign-on of its own. */
function newSignOn(central) {
  const problem = typeof central.psid !== 'string' ? `the auth host's session names no sign-on (psid): ${JSON.stringify(central.claims)}`
    : psidsSeen.has(central.psid) ? `a fresh login was given another sign-on's psid ${central.psid}` : null;
  if (problem) {
    wrongNow('signon', problem);
    return false;
  }
  psidsSeen.add(central.psid);
  return true;
}

/** A new sign-on at the auth host by password, SSO or passkey: `{ central, via, user }`, or null. */
async function signOnAtAuthHost() {
  const how = pick(['password', 'password', 'sso', 'passkey']);
  let central = null;
  let user = null;
  if (how === 'password') {
    user = takePasswordUser((u) => !u.admin);
    if (user) central = await passwordLogin(user, { app: 'signon', form: true, next: '/', op: 'signon' });
  } else if (how === 'sso') {
    central = await ssoLogin(pick(pool.ssoUsers), { app: 'signon', next: '/' });
  } else {
    central = await passkeySignIn(pick(pool.appsPasskeyUsers), { app: 'signon', next: '/' });
  }
  if (!central || !newSignOn(central)) return null;
  addSession(central);
  signOnCounts.fresh += 1;
  const signOn = { central, via: how, user };
  pool.signOns.push(signOn);
  if (pool.signOns.length > 100) pool.signOns.shift();
  return signOn;
}

/**
 * A second password login in a browser signed on already (a rule asked for a fresh login, say):
 * presenting the live session of the same user there, it keeps the sign-on (same psid, a new
 * sid), and a later logout of the sign-on ends both logins' apps. Without a live one, a new psid.
 */
async function loginAgainAtAuthHost(signOn) {
  const user = signOn.user;
  if (!user || user.attempts.filter((t) => t > Date.now() - 130_000).length >= 4) return null;
  user.attempts.push(Date.now());
  const before = signOn.central;
  const held = sessionCred(before);
  const tSend = Date.now();
  const central = await passwordLogin(user, { app: 'signon', form: true, next: '/', op: 'signon', holding: held.token });
  if (!central) return null;
  const state = credState(held, tSend, Date.now());
  const kept = central.psid === before.psid;
  const problem = central.sid === before.sid ? 'a second login kept the first one\'s sid'
    : state === 'valid' && !kept ? `a second login with a live session there began a new sign-on (${before.psid} → ${central.psid})`
      : state === 'invalid' && kept ? 'a second login kept the sign-on of an ended session' : null;
  if (problem) {
    wrongNow('signon', problem);
    return null;
  }
  if (!kept && !newSignOn(central)) return null;
  addSession(central);
  signOnCounts.loginAgain += 1;
  if (kept) signOnCounts.keptSignOn += 1;
  signOn.central = central;
  return signOn;
}

/**
 * A browser holding `signOn` enters `app` at `next`, as docs/apps.md says: the app's
 * /auth/login (a nonce cookie, a redirect to the auth host's /auth/handoff), the auth host's
 * sealed handoff, the app's redemption (its own session, the sign-on's psid). `attack` presents
 * the handoff wrongly first: at the other app (refused, and still good), without the nonce
 * (refused, and used up), or again after it was redeemed (refused). Resolves to the app's session.
 */
async function handoff(signOn, app, next, { attack } = {}) {
  const appHost = APPS[app].host();
  const start = await send('signon', { app, target: `/auth/login?next=${encodeURIComponent(next)}`, headers: NAVIGATION, tag: false });
  const nonce = cookieSet(start, HANDOFF_COOKIE);
  let toAuth = null;
  try {
    toAuth = new URL(start.headers.location, `http://${appHost}`); // protocol-relative: the scheme is the request's
  } catch {
    // judged below
  }
  const goesToAuth = nonce && toAuth?.host === APPS.signon.host() && toAuth.pathname === '/auth/handoff'
    && toAuth.searchParams.get('app') === appHost && toAuth.searchParams.get('next') === next;
  start.judge = statusJudge(303, () => (goesToAuth ? null : `no nonce or not to the auth host's handoff: ${start.headers.location}`));
  if (!goesToAuth) return null;

  const central = signOn.central.versions.at(-1).token;
  const issued = await send('signon', {
    app: 'signon', target: `${toAuth.pathname}${toAuth.search}`, headers: [...NAVIGATION, ['cookie', `${SESSION_COOKIE}=${central}`]], tag: false,
  });
  // The auth host's session may have been logged out meanwhile (another lane's logout-all).
  const signedOff = credState(sessionCred(signOn.central), issued.tSend, issued.tRecv);
  let toApp = null;
  try {
    toApp = new URL(issued.headers.location, `http://${APPS.signon.host()}`);
  } catch {
    // judged below
  }
  const handsOff = toApp?.host === appHost && toApp.pathname === '/auth/handoff' && toApp.searchParams.has('token');
  const toLogin = (issued.headers.location ?? '').startsWith('/auth/login?next=%2Fauth%2Fhandoff%3F');
  issued.judge = statusJudge(303, () => {
    if (signedOff === 'invalid') return toLogin ? null : `a handoff for an ended sign-on: ${issued.headers.location}`;
    if (signedOff === 'either' && toLogin) return null;
    return handsOff ? null : `not a handoff to ${appHost}: ${issued.headers.location}`;
  });
  if (!handsOff) return null;
  const target = `${toApp.pathname}${toApp.search}`;
  const refused = (r) => (cookieSet(r, SESSION_COOKIE) ? 'a refused handoff set a session' : null);
  if (attack === 'other-app') {
    const wrong = await send('handoff-attack', { app: otherApp(app), target, headers: [['cookie', `${HANDOFF_COOKIE}=${nonce}`]], tag: false });
    wrong.judge = statusJudge(401, refused);
  } else if (attack === 'no-nonce') {
    const leaked = await send('handoff-attack', { app, target, headers: NAVIGATION, tag: false });
    leaked.judge = statusJudge(401, refused);
  }
  const redeemed = await send('signon', { app, target, headers: [...NAVIGATION, ['cookie', `${HANDOFF_COOKIE}=${nonce}`]], tag: false });
  const token = cookieSet(redeemed, SESSION_COOKIE);
  let session = null;
  try {
    session = token ? sessionFromToken(token, signOn.via, app) : null;
  } catch {
    session = null;
  }
  const centralState = credState(sessionCred(signOn.central), redeemed.tSend, redeemed.tRecv);
  if (attack === 'no-nonce' || centralState === 'invalid') {
    redeemed.judge = statusJudge(401, refused);
    return null;
  }
  // A handoff lives 60 s from its issue: one redeemed later than that may have expired.
  const late = redeemed.tRecv - issued.tSend > 55_000;
  redeemed.judge = statusJudge(centralState === 'either' || late ? [303, 401] : 303, (r) => {
    if (r.status === 401) return refused(r);
    if (!session) return 'no verifiable session of the app';
    if (r.headers.location !== next) return `went to ${r.headers.location}`;
    const c = signOn.central;
    if (session.sub !== c.sub || !sameSet(session.roles, c.roles) || session.psid !== c.psid || session.sid === c.sid) {
      return `the app's session is not the sign-on's: ${JSON.stringify(session.claims)}`;
    }
    return cookieSet(r, HANDOFF_COOKIE) === '' ? null : 'the nonce was not cleared';
  });
  if (attack === 'replay' && session) {
    const again = await send('handoff-attack', { app, target, headers: [['cookie', `${HANDOFF_COOKIE}=${nonce}`]], tag: false });
    again.judge = statusJudge(401, refused);
  }
  // Made while its sign-on was being logged out: it may or may not be ended; no row takes it as live.
  if (session && centralState === 'either') session.gone = true;
  if (session) signOnCounts.handoffs += 1;
  return session;
}

/** A logout at the second deployment: of one app's session, of its whole sign-on from an app, or at the auth host. */
async function appsLogout(op, session, { all = false } = {}) {
  const app = session.app;
  const cred = { ...sessionCred(session), session };
  const ended = all || app === 'signon';
  const entry = ended ? revoke('psid', session.psid, op, 'apps') : revoke('sid', session.sid, op, 'apps');
  for (const s of pool.sessions) if (ended ? s.deployment === 'apps' && s.psid === session.psid : s === session) s.gone = true;
  const record = await send(op, {
    app, method: 'POST', target: all ? '/auth/logout?all=1' : '/auth/logout', tag: false,
    headers: [['origin', `http://${APPS[app].host()}`], ['cf-connecting-ip', freshIp()], ['accept', 'application/json'], ['cookie', `${SESSION_COOKIE}=${cred.token}`]],
  });
  if (record.status === 204) entry.confirmedAt = record.tRecv;
  entry.wasLive = foundLive(entry, cred, record.tRecv);
  record.judge = statusJudge(204, (r) => (cookieSet(r, SESSION_COOKIE) === '' ? null : 'the cookie was not cleared'));
  return cred;
}

/**
 * `/auth/session` at the second deployment's auth host with `cred` as its cookie: only a live
 * session of the auth host itself answers 200 (its claims); an app's session, the first
 * deployment's or an ended one, 401.
 */
async function probeAuthHost(op, held) {
  const cred = validAt('signon', held);
  const record = await send(op, { app: 'signon', target: '/auth/session', headers: [['accept', 'application/json'], ['cookie', `${SESSION_COOKIE}=${cred.token}`]], tag: false });
  const state = credState(cred, record.tSend, record.tRecv);
  record.judge = statusJudge(state === 'valid' ? 200 : state === 'invalid' ? 401 : [200, 401], (r) => {
    if (r.status === 401) return null;
    const claims = json(r);
    return claims?.sub === cred.sub && claims.sid === cred.sid && claims.psid === cred.psid ? null : `the auth host answered for ${r.text.slice(0, 200)}`;
  });
}

// ---------------------------------------------------------------------------------------------
// Crafted credentials: tokens signed here with the worker's own (test) key, the attack vectors
// of tests/vectors/expect_fail.json, service tokens, the corp issuer's access tokens

const control = doc.cases.find((c) => c.name === 'valid_control');
const PRE_REVOKED_SID = 'soak-pre-revoked-session';

/** A session token signed here: with the worker's key ('key') a valid one, with 'other_key' forged. */
function crafted({ sub, roles, sid = crypto.randomBytes(16).toString('base64url'), authTime = nowSecs() - 60, sign = 'key' }) {
  const now = nowSecs();
  const payload = JSON.stringify({ iss: ISSUER, aud: SESSION_AUDIENCE, sub, sid, iat: now - 10, exp: now + 3600, auth_time: authTime, roles });
  const token = vectors.build({ ...control, payload, sign }, now);
  return { kind: sign === 'key' ? 'crafted' : 'invalid', token, sub, sid, roles, authTime, iat: now - 10, exp: now + 3600 };
}

/** One case of expect_fail.json built now: the valid ones as sessions, the rest as invalid. */
function vectorCred() {
  for (;;) {
    const testCase = pick(doc.cases);
    // HTTP strips the whitespace around a header value and forbids a newline in one, so the
    // whitespace cases arrive as the valid token (as in gateway.test.mjs, they are not sent).
    if (testCase.name.startsWith('whitespace_')) continue;
    const token = vectors.build(testCase, nowSecs());
    if (testCase.expect !== 'ok') return { kind: 'invalid', token, name: testCase.name };
    const claims = b64json(token.split('.')[1]);
    return { kind: 'crafted', token, sub: claims.sub, sid: claims.sid, roles: claims.roles, authTime: claims.auth_time, iat: claims.iat, exp: claims.exp, name: testCase.name };
  }
}

async function externalToken(resource = API) {
  providerRequests += 1;
  const token = await corp.clientCredentialsToken({ ...CORP_CLIENT, resource, scope: 'deploy read' });
  const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url'));
  return { kind: 'external', token, sub: `corp:${claims.sub}`, roles: ['machine', 'deployer', 'reader'], sid: `corp:${claims.jti}`, authTime: claims.iat, iat: claims.iat, exp: claims.exp };
}

/** A pooled corp access token, renewed when old or revoked (so fresh ones come into use). */
async function currentExternal() {
  const now = Date.now();
  const stale = !pool.external || now - pool.external.at > 240_000 || revocationState(pool.external.cred, now, now) !== 'none' || chance(0.05);
  if (stale) pool.external = { cred: await externalToken(), at: now };
  return pool.external.cred;
}

// ---------------------------------------------------------------------------------------------
// The mix. Each row: a name, a weight, the apps it runs on, and what one draw does.

const pathOf = (app) => pick(APPS[app].plainPaths);

/**
 * Any session the pool holds, for a request to `app`: mostly its live ones, some of another app,
 * some revoked or logged out; any of its tokens.
 */
function anySessionCred(app) {
  const draw = random();
  const wanted = draw < 0.7 ? liveSessions(app) : draw < 0.8 ? liveSessions() : pool.sessions;
  const from = wanted.length > 0 ? wanted : pool.sessions;
  if (from.length === 0) return null;
  const session = pick(from);
  const version = chance(0.7) ? session.versions.at(-1) : pick(session.versions);
  return { ...sessionCred(session, version), session };
}

const ADMIN_CALL = () => [['authorization', `Bearer ${pool.admin.versions.at(-1).token}`], ['content-type', 'application/json'], ['accept', 'application/json']];

async function adminRevoke(op, body, entry) {
  const record = await send(op, { method: 'POST', target: '/auth/revoke', headers: ADMIN_CALL(), body: JSON.stringify(body), tag: false });
  const answer = json(record);
  if (record.status === 200 && answer?.revoked) {
    entry.confirmedAt = record.tRecv;
    entry.before = answer.revoked.before ?? null;
    entry.revision = answer.revision;
  }
  record.judge = statusJudge(200, () => {
    if (body.sid && answer.revoked.sid !== body.sid) return `revoked ${JSON.stringify(answer.revoked)}`;
    if (body.sub && (answer.revoked.sub !== body.sub || typeof answer.revoked.before !== 'number')) return `revoked ${JSON.stringify(answer.revoked)}`;
    return null;
  });
  return record;
}

const MIX = [
  {
    name: 'use-session', weight: 34, apps: ['main', 'wiki', 'tools'],
    run: async (app) => {
      const cred = anySessionCred(app);
      if (!cred) return MIX_BY_NAME.crafted.run(app);
      const canonical = pathOf(app);
      const present = chance(0.5) ? 'cookie' : 'bearer';
      const nav = present === 'cookie' && chance(0.2);
      const method = !nav && chance(0.1) ? 'POST' : 'GET';
      await forward('use-session', { app, cred, present, canonical, nav, method });
    },
  },
  {
    name: 'renewal', weight: 5, apps: ['main', 'wiki', 'tools'],
    run: async (app) => {
      const old = liveSessions(app).filter((s) => nowSecs() - s.versions.at(-1).iat > RENEW_THRESHOLD_SECS + 2);
      if (old.length === 0) return MIX_BY_NAME['use-session'].run(app);
      const session = pick(old);
      await forward('renewal', { app, cred: { ...sessionCred(session), session }, present: 'cookie', canonical: pick(app === 'tools' ? ['/reports/weekly', '/public/status'] : ['/app/data', '/public/page']) });
    },
  },
  {
    name: 'password-login', weight: 3, apps: ['main'],
    run: async (app) => {
      const wrong = chance(0.1);
      const user = takePasswordUser((u) => !u.admin);
      if (!user) return MIX_BY_NAME['use-session'].run(app);
      const session = await passwordLogin(user, { form: chance(0.3), password: wrong ? 'not the password' : PASSWORD, op: wrong ? 'password-wrong' : 'password-login' });
      if (session) {
        addSession(session);
        await forward('use-session', { app, cred: { ...sessionCred(session), session }, present: 'bearer', canonical: '/app/data' });
      }
    },
  },
  {
    name: 'sso-login', weight: 2, apps: ['main'],
    run: async (app) => {
      const session = await ssoLogin(pick(pool.ssoUsers));
      if (session) {
        addSession(session);
        await forward('use-session', { app, cred: { ...sessionCred(session), session }, present: 'cookie', canonical: pick(['/app/data', '/admin/panel']) });
      }
    },
  },
  {
    name: 'passkey-login', weight: 2, apps: ['main'],
    run: async (app) => {
      const variant = random();
      const session = await passkeySignIn(pick(pool.passkeyUsers), { tamper: variant < 0.1, replay: variant > 0.9 });
      if (session) {
        addSession(session);
        await forward('use-session', { app, cred: { ...sessionCred(session), session }, present: 'cookie', canonical: pick(['/app/data', '/deploy/app']) });
      }
    },
  },
  {
    name: 'logout', weight: 1.5, apps: ['main'],
    run: async (app) => {
      const live = liveSessions(app);
      if (live.length === 0) return;
      const session = pick(live);
      session.gone = true;
      const cred = { ...sessionCred(session), session };
      const present = chance(0.5) ? 'cookie' : 'bearer';
      const entry = revoke('sid', session.sid, 'logout');
      const record = await send('logout', {
        method: 'POST', target: '/auth/logout', tag: false,
        headers: [['origin', edge.url], ['cf-connecting-ip', freshIp()], ['accept', 'application/json'], ...presentHeaders(cred, present)],
      });
      if (record.status === 204) entry.confirmedAt = record.tRecv;
      entry.wasLive = foundLive(entry, cred, record.tRecv);
      record.judge = statusJudge(204, (r) => (cookieSet(r, SESSION_COOKIE) === '' ? null : 'the cookie was not cleared'));
      // At once, the same token again: refused from now on.
      await forward('use-revoked', { app, cred, present, canonical: pick(['/app/data', '/public/page']) });
    },
  },
  {
    name: 'revoke-session', weight: 1, apps: ['main'],
    run: async (app) => {
      const live = liveSessions(app);
      if (live.length === 0) return;
      const session = pick(live);
      session.gone = true;
      const entry = revoke('sid', session.sid, 'admin');
      await adminRevoke('revoke-session', { sid: session.sid }, entry);
      await forward('use-revoked', { app, cred: { ...sessionCred(session), session }, present: pick(['cookie', 'bearer']), canonical: pick(['/app/data', '/admin/panel', '/public/page']) });
    },
  },
  {
    name: 'revoke-user', weight: 0.4, apps: ['main'],
    run: async (app) => {
      const targets = [...pool.passwordUsers.filter((u) => !u.admin).map((u) => u.name), ...pool.ssoUsers.map((u) => `alpha:${u.id}`), ...pool.passkeyUsers.map((u) => u.name)];
      const sub = pick(targets);
      const entry = revoke('sub', sub, 'admin');
      await adminRevoke('revoke-user', { sub }, entry);
      const theirs = pool.sessions.filter((s) => s.sub === sub && s.app === app);
      for (const s of theirs) if (entry.before !== null && s.authTime < entry.before) s.gone = true;
      if (theirs.length > 0) await forward('use-revoked', { app, cred: { ...sessionCred(theirs[0]), session: theirs[0] }, present: pick(['cookie', 'bearer']), canonical: '/app/data' });
    },
  },
  {
    name: 'backchannel-logout', weight: 0.6, apps: ['main'],
    run: async (app) => {
      const live = liveSessions(app).filter((s) => s.via === 'sso' && s.idpSid);
      if (live.length === 0) return MIX_BY_NAME['sso-login'].run(app);
      const session = pick(live);
      for (const s of pool.sessions) if (s.idpSid === session.idpSid && s.deployment === 'main') s.gone = true;
      const entry = revoke('idp', session.idpSid, 'backchannel');
      // The logout token the provider sends at back-channel logout, made by oidc-provider itself,
      // posted here (its own sender gives up after 2.5 s, which a loaded edge may take).
      providerRequests += 1;
      const logoutToken = await alpha.logoutToken({ client_id: 'edge-alpha', sub: session.sub.replace(/^alpha:/, ''), sid: session.idpSid });
      const record = await send('backchannel-logout', {
        method: 'POST', target: '/auth/backchannel-logout/alpha', tag: false,
        headers: [['content-type', 'application/x-www-form-urlencoded']], body: new URLSearchParams({ logout_token: logoutToken }).toString(),
      });
      if (record.status === 200 || record.status === 204) entry.confirmedAt = record.tRecv;
      record.judge = statusJudge([200, 204]);
      await forward('use-revoked', { app, cred: { ...sessionCred(session), session }, present: 'cookie', canonical: '/app/data' });
    },
  },
  {
    name: 'revoke-refused', weight: 0.6, apps: ['main'],
    run: async () => {
      const variant = pick(['not-admin', 'service', 'anonymous', 'bad-body']);
      const plain = crafted({ sub: 'crafted-plain', roles: ['user', 'deployer'] });
      const headers = variant === 'anonymous'
        ? [['content-type', 'application/json']]
        : variant === 'not-admin' ? [['authorization', `Bearer ${plain.token}`], ['content-type', 'application/json']] : ADMIN_CALL();
      const body = variant === 'service' ? { sub: 'service:svc-deploy' } : variant === 'bad-body' ? { sid: 'a', sub: 'b' } : { sub: pick(pool.passwordUsers).name };
      const want = variant === 'anonymous' ? 401 : variant === 'not-admin' ? 403 : 400;
      const record = await send('revoke-refused', { method: 'POST', target: '/auth/revoke', headers, body: JSON.stringify(body), tag: false });
      // A refused revocation changes nothing: not entered in the model (a wrong 200 is a wrong decision).
      record.judge = statusJudge(want);
    },
  },
  {
    name: 'crafted', weight: 10, apps: ['main', 'wiki', 'tools'],
    run: async (app) => {
      const variant = random();
      let cred;
      if (variant < 0.35) cred = crafted({ sub: `crafted-${Math.floor(random() * 50)}`, roles: pick([['user'], ['user', 'admin'], ['deployer']]) });
      else if (variant < 0.45) cred = crafted({ sub: 'alice', roles: ['user'], sign: 'other_key' });
      else if (variant < 0.5) cred = crafted({ sub: 'crafted-pre', roles: ['user', 'admin'], sid: PRE_REVOKED_SID });
      else if (variant < 0.55) cred = crafted({ sub: 'departed', roles: ['user', 'admin'], authTime: setupAt - 100 });
      else if (variant < 0.6) cred = { kind: 'invalid', token: 'not.a.token' };
      else cred = vectorCred();
      await forward('crafted', { app, cred, present: chance(0.5) ? 'cookie' : 'bearer', canonical: pathOf(app), nav: chance(0.1) });
    },
  },
  {
    name: 'anonymous', weight: 4, apps: ['main', 'wiki', 'tools'],
    run: async (app) => {
      const nav = chance(0.3);
      const canonical = pathOf(app);
      await forward('anonymous', { app, cred: { kind: 'none' }, present: 'none', canonical, nav, method: !nav && canonical.startsWith('/public/') && chance(0.3) ? 'POST' : 'GET' });
    },
  },
  {
    name: 'service-token', weight: 6, apps: ['main', 'main', 'wiki'],
    run: async (app) => {
      const tokens = pool.serviceTokens;
      const variant = random();
      let cred;
      if (variant < 0.4) cred = tokens.deploy;
      else if (variant < 0.55) cred = tokens.reader;
      else if (variant < 0.75) cred = tokens.doomed;
      else if (variant < 0.82) cred = { ...tokens.deploy, kind: 'invalid', secret: tokens.reader.secret };
      else if (variant < 0.88) cred = { ...tokens.deploy, kind: 'invalid', clientId: 'f'.repeat(32) };
      else if (variant < 0.94) cred = tokens.expired;
      else cred = { ...tokens.deploy, kind: 'invalid', secret: undefined };
      await forward('service-token', { app, cred, present: 'service', canonical: pick(['/deploy/app', '/app/data', '/admin/panel', '/public/page']) });
    },
  },
  {
    name: 'external-token', weight: 6, apps: ['main', 'main', 'wiki'],
    run: async (app) => {
      const variant = random();
      const valid = await currentExternal();
      let cred = valid;
      let present = 'bearer';
      if (variant < 0.08) present = 'cookie';
      else if (variant < 0.14) {
        const [h, p, s] = valid.token.split('.');
        const claims = JSON.parse(Buffer.from(p, 'base64url'));
        cred = { kind: 'invalid', token: `${h}.${Buffer.from(JSON.stringify({ ...claims, scope: 'deploy read admin' })).toString('base64url')}.${s}` };
      } else if (variant < 0.2) {
        const t = nowSecs();
        cred = { kind: 'invalid', token: await corp.signJwt('RS256', { iss: corp.issuer, aud: API, sub: 'ci-job', client_id: 'ci-job', scope: 'deploy', jti: crypto.randomUUID(), iat: t - 4000, exp: t - 3000 }, { typ: 'at+jwt' }) };
      } else if (variant < 0.24) {
        cred = { ...(await externalToken(ELSEWHERE)), kind: 'invalid' };
      }
      if (present === 'cookie') cred = { ...valid, kind: 'invalid' };
      await forward('external-token', { app, cred, present, canonical: pick(['/deploy/app', '/deploy/app', '/app/data', '/admin/panel', '/public/page']) });
    },
  },
  {
    name: 'path-attack', weight: 8, apps: ['main', 'wiki', 'tools'],
    run: async (app) => {
      const attack = pick(APPS[app].pathAttacks);
      const who = random();
      const cred = who < 0.3 ? { kind: 'none' } : who < 0.6 ? crafted({ sub: 'crafted-admin', roles: ['user', 'admin', 'deployer'] }) : anySessionCred(app) ?? { kind: 'none' };
      const present = cred.kind === 'none' ? 'none' : chance(0.5) ? 'cookie' : 'bearer';
      await forward('path-attack', { app, cred, present, canonical: attack.canonical, target: attack.target, fixed: attack.refused });
    },
  },
  {
    name: 'header-attack', weight: 8, apps: ['main', 'wiki', 'tools'],
    run: async (app) => {
      const live = anySessionCred(app);
      const cred = live && chance(0.6) ? live : crafted({ sub: `crafted-${Math.floor(random() * 50)}`, roles: pick([['user'], ['user', 'admin']]) });
      const other = crafted({ sub: 'crafted-other', roles: ['user', 'admin'] });
      const canonical = pathOf(app);
      const attack = pick(HEADER_ATTACKS);
      await attack(app, cred, other, canonical);
    },
  },
  {
    name: 'signon', weight: 5, apps: ['wiki', 'tools'],
    run: async (app) => {
      // A browser signed on already enters without a login; otherwise it logs in at the auth host.
      const reusable = pool.signOns.filter((o) => !o.central.gone);
      const again = reusable.filter((o) => o.user);
      let signOn;
      if (again.length > 0 && chance(0.1)) signOn = await loginAgainAtAuthHost(pick(again));
      else if (reusable.length > 0 && chance(0.4)) {
        signOnCounts.reused += 1;
        signOn = pick(reusable);
      } else signOn = await signOnAtAuthHost();
      if (!signOn) return;
      const attack = chance(0.2) ? pick(['other-app', 'no-nonce', 'replay']) : undefined;
      for (const into of chance(0.5) ? [app, otherApp(app)] : [app]) {
        const next = pick(APPS[into].plainPaths);
        const session = await handoff(signOn, into, next, { attack: into === app ? attack : undefined });
        if (!session) return;
        addSession(session);
        await forward('use-session', { app: into, cred: { ...sessionCred(session), session }, present: 'cookie', canonical: next, nav: true });
      }
    },
  },
  {
    name: 'app-logout', weight: 1, apps: ['wiki', 'tools'],
    run: async (app) => {
      const live = liveSessions(app);
      if (live.length === 0) return MIX_BY_NAME.signon.run(app);
      const session = pick(live);
      const cred = await appsLogout('app-logout', session);
      await forward('use-revoked', { app, cred, present: pick(['cookie', 'bearer']), canonical: pick(APPS[app].plainPaths) });
      // The other app of the same sign-on keeps its session.
      const sibling = liveSessions(otherApp(app)).find((s) => s.psid === session.psid);
      if (sibling) await forward('use-session', { app: sibling.app, cred: { ...sessionCred(sibling), session: sibling }, present: 'cookie', canonical: pick(APPS[sibling.app].plainPaths) });
    },
  },
  {
    name: 'logout-all', weight: 0.6, apps: ['wiki', 'tools'],
    run: async (app) => {
      // From an app (`?all=1`, with its session) or at the auth host (its session): the whole sign-on.
      const live = liveSessions(chance(0.4) ? 'signon' : app);
      if (live.length === 0) return MIX_BY_NAME.signon.run(app);
      const session = pick(live);
      // Sessions of the sign-on that were live until now: one per app and one at the auth host.
      const ofSignOn = ['wiki', 'tools', 'signon'].map((at) => liveSessions(at).find((s) => s.psid === session.psid && s !== session)).filter(Boolean);
      await appsLogout('logout-all', session, { all: session.app !== 'signon' });
      for (const s of ofSignOn) {
        const cred = { ...sessionCred(s), session: s };
        if (s.app === 'signon') await probeAuthHost('use-revoked', cred);
        else await forward('use-revoked', { app: s.app, cred, present: pick(['cookie', 'bearer']), canonical: pick(APPS[s.app].plainPaths) });
      }
    },
  },
  {
    name: 'auth-host-session', weight: 1, apps: ['wiki', 'tools'],
    run: async (app) => {
      // The auth host takes its own sessions only: not an app's, not the first deployment's.
      const central = liveSessions('signon');
      const cred = chance(0.3) && central.length > 0 ? { ...sessionCred(pick(central)) }
        : chance(0.3) ? crafted({ sub: 'crafted-central', roles: ['user', 'admin'] }) : anySessionCred(app);
      if (cred) await probeAuthHost('auth-host-session', cred);
    },
  },
];
const MIX_BY_NAME = Object.fromEntries(MIX.map((row) => [row.name, row]));

/**
 * Header attacks: spoofed identity and routing headers (dropped; the decision is the
 * credential's), method overrides, and ambiguous or duplicate credentials (400).
 */
const HEADER_ATTACKS = [
  (app, cred, other, canonical) => forward('spoof-identity', {
    app, cred, present: 'bearer', canonical,
    extra: [['x-auth-user', 'SPOOF-root'], ['X-Auth-Roles', 'SPOOF,admin'], ['x-auth-session', 'SPOOF'], ['x-auth-expires', 'SPOOF'],
      ['x-auth-assertion', 'SPOOF.SPOOF.SPOOF'], ['x_auth_user', 'SPOOF'], ['X.Auth.Roles', 'SPOOF'], ['x-auth-user', 'SPOOF-again']],
  }),
  (app, cred, other, canonical) => forward('spoof-identity', {
    app, cred: { kind: 'none' }, present: 'none', canonical,
    // A real token of ours as the assertion: it must not arrive either.
    extra: [['x-auth-user', 'SPOOF-root'], ['x-auth-roles', 'admin,SPOOF'], ['x-auth-assertion', other.token], ['x-auth-session', 'SPOOF']],
  }),
  (app, cred, other, canonical) => forward('spoof-routing', {
    app, cred, present: 'cookie', canonical,
    extra: [['x-original-url', '/admin/SPOOF'], ['x-rewrite-url', '/admin/SPOOF'], ['x-forwarded-for', 'SPOOF'], ['forwarded', 'for=SPOOF'],
      ['x-real-ip', 'SPOOF'], ['x-remote-user', 'SPOOF'], ['x-http-method-override', 'SPOOF'], ['X_Original_URL', '/SPOOF'], ['true-client-ip', 'SPOOF']],
  }),
  (app, cred, other, canonical) => forward('method-override', { app, cred, present: 'bearer', canonical, target: `${canonical}?_method=DELETE`, method: 'POST', fixed: 400 }),
  (app, cred, other, canonical) => forward('method-override', { app, cred, present: 'bearer', canonical, target: `${canonical}?.method=PUT`, method: 'POST', fixed: 400 }),
  (app, cred, other, canonical) => forward('method-trace', { app, cred, present: 'bearer', canonical, method: 'TRACE', fixed: 405 }),
  (app, cred, other, canonical) => forward('duplicate-credentials', {
    app, cred, present: 'none', canonical, fixed: 400, extra: [['cookie', `${SESSION_COOKIE}=${cred.token}; ${SESSION_COOKIE}=${other.token}`]],
  }),
  (app, cred, other, canonical) => forward('duplicate-credentials', {
    app, cred, present: 'none', canonical, fixed: 400, extra: [['cookie', `${SESSION_COOKIE}=${cred.token}`], ['cookie', `${SESSION_COOKIE}=${cred.token}`]],
  }),
  (app, cred, other, canonical) => forward('duplicate-credentials', {
    app, cred, present: 'cookie', canonical, fixed: 400, extra: [['authorization', `Bearer ${other.token}`]],
  }),
  // Where no service tokens are configured (the second deployment), the client id is no
  // credential: dropped, and the bearer decides.
  (app, cred, other, canonical) => forward('duplicate-credentials', {
    app, cred, present: 'bearer', canonical, fixed: APPS[app].deployment === 'main' ? 400 : undefined, extra: presentHeaders(pool.serviceTokens.deploy, 'service'),
  }),
  (app, cred, other, canonical) => forward('duplicate-credentials', {
    app, cred, present: 'bearer', canonical, fixed: 400, extra: [['authorization', `Bearer ${other.token}`]],
  }),
  // The same token as cookie and bearer is one credential.
  // (the edge takes it as the bearer: never renewed)
  (app, cred, other, canonical) => forward('same-credential-twice', { app, cred, present: 'bearer', canonical, extra: [['cookie', `${SESSION_COOKIE}=${cred.token}`]] }),
  // A cookie an origin would read as ours (other case, encoded), next to no credential of ours.
  (app, cred, other, canonical) => forward('lookalike-cookie', {
    app, cred: { kind: 'none' }, present: 'none', canonical,
    extra: [['cookie', 'theme=dark; __host-edgeauth=SPOOF; %5F%5FHost-edgeauth=SPOOF; ..Host-edgeauth=SPOOF; __HOST-EDGEAUTH=SPOOF']],
  }),
  // Another Authorization scheme: no credential of ours, and not forwarded.
  (app, cred, other, canonical) => forward('basic-authorization', { app, cred: { kind: 'none' }, present: 'none', canonical, extra: [['authorization', 'Basic U1BPT0Y6U1BPT0Y=']] }),
];

// ---------------------------------------------------------------------------------------------
// Set-up

const SSO_USERS = Array.from({ length: 10 }, (_, i) => ({
  id: `sso-${i}`, password: `sso-${i}-password`, roles: i < 2 ? ['user', 'admin'] : ['user'],
  claims: { email: `sso-${i}@example.com`, email_verified: true, name: `SSO ${i}`, ...(i < 2 ? { groups: ['ops'] } : {}) },
}));

let setupDone = false;
let setupAt = 0;
const memory = [];

/**
 * What both deployments share: the key, issuer, lifetimes, bounds, the alpha provider (under
 * `clientId`, one client per deployment) and passkeys at `localhost`.
 */
function deploymentVars(clientId) {
  return {
    SIGNING_KEY: vectors.privateJwk(),
    ISSUER,
    ORIGIN_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS / 2),
    RESERVED_HEADERS: 'X-Remote-User',
    SESSION_TTL_SECS: String(SESSION_TTL_SECS),
    RENEW_AFTER: String(RENEW_AFTER),
    SESSION_CACHE_SIZE: String(SESSION_CACHE_SIZE),
    REVOCATION_REFRESH_SECS: String(REVOCATION_REFRESH_SECS),
    IDENTITY_PROVIDERS: JSON.stringify([{
      id: 'alpha', label: 'Alpha', issuer: alpha.issuer, client_id: clientId, client_secret_secret: 'ALPHA_SECRET',
      scopes: ['openid', 'email', 'profile', 'groups'],
      mapping: { default_roles: ['user'], group_roles: { ops: ['admin'] }, allowed_email_domains: ['example.com'], keep_claims: ['groups'] },
    }]),
    ALPHA_SECRET: 'alpha client secret',
    PASSKEY_RP_ID: 'localhost',
    PASSKEY_ORIGINS: 'http://localhost:*',
  };
}

before(async () => {
  origin = await startCheckingOrigin();
  [alpha, corp] = await Promise.all([
    startProvider({ name: 'alpha', algs: ['RS256', 'ES256'], users: SSO_USERS }),
    startProvider({ name: 'corp', algs: ['RS256'], resourceServers: { [API]: { scope: 'deploy read', alg: 'RS256' }, [ELSEWHERE]: { scope: 'deploy read', alg: 'RS256' } } }),
  ]);
  await corp.registerClient({
    ...CORP_CLIENT, grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic',
  });
  edge = await startWorker({
    name: 'soak',
    vars: {
      SESSION_AUDIENCE,
      ORIGIN_URL: origin.url,
      ...deploymentVars('edge-alpha'),
      ACCESS_RULES: JSON.stringify(RULES),
      TRUSTED_ISSUERS: JSON.stringify([{
        id: 'corp', issuer: corp.issuer, audiences: [API], algorithms: ['RS256'], required_scopes: ['deploy'],
        mapping: { default_roles: ['machine'], scope_roles: { deploy: ['deployer'], read: ['reader'] } },
      }]),
      SERVICE_TOKENS: 'kv',
    },
  });
  const { port } = new URL(edge.url);
  edgeHost = `127.0.0.1:${port}`;
  passkeyHost = `localhost:${port}`;
  await alpha.registerClient({
    client_id: 'edge-alpha', client_secret: 'alpha client secret', redirect_uris: [`${edge.url}/auth/callback/alpha`],
    id_token_signed_response_alg: 'RS256', token_endpoint_auth_method: 'client_secret_basic',
    backchannel_logout_uri: `${edge.url}/auth/backchannel-logout/alpha`, backchannel_logout_session_required: true,
  });
  await loadEdgeKeys();

  // The second deployment: two apps and the auth host, the same key, issuer and provider.
  [wikiOrigin, toolsOrigin] = await Promise.all([startCheckingOrigin(ORIGIN_SITES.wiki), startCheckingOrigin(ORIGIN_SITES.tools)]);
  appsEdge = await startWorker({
    name: 'soak-apps',
    // No app is served on 127.0.0.1, where the harness asks /healthz: the edge answers 421 there.
    readyStatus: 421,
    vars: {
      ...deploymentVars('edge-apps-alpha'),
      SESSION_AUDIENCE: APPS_AUTH_AUDIENCE,
      ACCESS_RULES: '',
      AUTH_HOST: APPS_AUTH_HOST,
      APPS: JSON.stringify([
        { id: 'wiki', hosts: ['wiki.soak.test'], origin: wikiOrigin.url, rules: RULES, session_audience: APPS.wiki.sessionAudience, assertion_audience: APPS.wiki.assertionAudience },
        {
          id: 'tools', hosts: ['*.tools.soak.test'], origin: toolsOrigin.url, rules: TOOLS_RULES, session_audience: APPS.tools.sessionAudience,
          assertion_audience: APPS.tools.assertionAudience, assertion_binding: 'request',
        },
      ]),
    },
  });
  appsPort = Number(new URL(appsEdge.url).port);
  await alpha.registerClient({
    client_id: 'edge-apps-alpha', client_secret: 'alpha client secret', redirect_uris: [`http://${APPS.signon.host()}/auth/callback/alpha`],
    id_token_signed_response_alg: 'ES256', token_endpoint_auth_method: 'client_secret_basic',
  });

  // The revocation document first, before any session is checked (then confirmed by a probe).
  setupAt = nowSecs();
  await kvBulkPut(edge, {
    revocations: JSON.stringify({ format: 1, revision: 1, sessions: { [PRE_REVOKED_SID]: FAR }, users: { departed: { before: setupAt, drop_after: FAR } } }),
  }, 'REVOCATIONS');
  revocations.push({ type: 'sid', key: PRE_REVOKED_SID, before: null, pendingSince: -Infinity, confirmedAt: null, how: 'kv' });
  revocations.push({ type: 'sub', key: 'departed', before: setupAt, pendingSince: -Infinity, confirmedAt: null, how: 'kv' });

  // Users (one PBKDF2 record per role set: the record does not name its user), service tokens.
  const recordFor = new Map();
  const record = (roles) => {
    const key = roles.join(',');
    if (!recordFor.has(key)) {
      const run = spawnSync(BIN, ['add-user', 'x', '--roles', key, '--record-only'], { input: `${PASSWORD}\n`, encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
      recordFor.set(key, run.stdout.trim());
    }
    return recordFor.get(key);
  };
  pool.passwordUsers = Array.from({ length: 40 }, (_, i) => ({
    name: `pw-${String(i).padStart(2, '0')}`, roles: i % 5 === 0 ? ['user', 'admin'] : i % 7 === 1 ? ['user', 'deployer'] : ['user'], attempts: [],
  }));
  pool.passwordUsers.push({ name: 'soak-admin', roles: ['admin'], admin: true, attempts: [] });
  const users = Object.fromEntries(pool.passwordUsers.map((u) => [`user:${u.name}`, record(u.roles)]));
  const serviceToken = async (name, roles, extra = []) => {
    const run = await edgeauth(['service-token', 'create', name, '--roles', roles.join(','), '--local', ...extra]);
    assert.equal(run.code, 0, run.stderr);
    const field = (label) => new RegExp(`^${label}: (.*)$`, 'm').exec(run.stdout)[1];
    const clientId = field('client_id');
    users[`service-token:${clientId}`] = field('record');
    return { kind: 'service', clientId, secret: field('secret'), sub: `service:${name}`, sid: clientId, roles, name };
  };
  pool.serviceTokens = {
    deploy: await serviceToken('svc-deploy', ['deployer']),
    reader: await serviceToken('svc-reader', ['reader']),
    doomed: await serviceToken('svc-doomed', ['deployer']),
    expired: { ...(await serviceToken('svc-expired', ['deployer'], ['--now', String(nowSecs() - 7200), '--ttl', '3600'])), kind: 'invalid' },
  };
  await kvBulkPut(edge, users, 'USERS');
  await kvBulkPut(appsEdge, Object.fromEntries(Object.entries(users).filter(([key]) => key.startsWith('user:'))), 'USERS');

  // The pre-seeded revocations apply (bounded wait for the first read; then they are "must").
  const probe = crafted({ sub: 'crafted-pre', roles: ['user'], sid: PRE_REVOKED_SID });
  for (let attempt = 0; ; attempt += 1) {
    const r = await send('setup', { target: '/app/data', headers: [...API_CLIENT, ...presentHeaders(probe, 'bearer')] });
    r.judge = () => null;
    if (r.status === 401) break;
    assert.ok(attempt < 100, `the pre-seeded revocation never applied (${r.status})`);
    await sleep(200);
  }
  for (const entry of revocations) entry.confirmedAt = Date.now();

  // The administrator, and a first session for every kind of login.
  pool.admin = await passwordLogin(pool.passwordUsers.at(-1));
  assert.ok(pool.admin, 'the administrator logs in');
  pool.ssoUsers = SSO_USERS;
  pool.passkeyUsers = Array.from({ length: 6 }, (_, i) => ({
    name: `pk-${i}`, roles: i === 0 ? ['user', 'admin'] : i === 1 ? ['user', 'deployer'] : ['user'], cred: softCredential({ alg: i % 2 ? 'EdDSA' : 'ES256' }),
  }));
  for (const user of pool.passkeyUsers) addSession(await enrollPasskey(user));
  const sso = await ssoLogin(SSO_USERS[0]);
  assert.ok(sso, `single sign-on works: ${records.filter((r) => r.op === 'sso-login').map((r) => r.judge?.(r, null)).join('; ')}`);
  addSession(sso);
  const first = await passwordLogin(takePasswordUser((u) => !u.admin));
  assert.ok(first, 'a password login works');
  addSession(first);

  // The second deployment: passkeys enrolled at its auth host, and one sign-on into both apps.
  pool.appsPasskeyUsers = Array.from({ length: 3 }, (_, i) => ({
    name: `pk-apps-${i}`, roles: i === 0 ? ['user', 'admin'] : ['user'], cred: softCredential({ alg: i % 2 ? 'EdDSA' : 'ES256' }),
  }));
  for (const user of pool.appsPasskeyUsers) {
    const enrolled = await enrollPasskey(user, 'signon');
    if (newSignOn(enrolled)) addSession(enrolled);
  }
  const appsSso = await ssoLogin(SSO_USERS[1], { app: 'signon', next: '/' });
  assert.ok(appsSso && newSignOn(appsSso), 'single sign-on works at the auth host of the second deployment, and begins a sign-on');
  addSession(appsSso);
  const why = () => records.filter((r) => r.op === 'signon' && r.judge).map((r) => r.judge(r, null)).filter(Boolean).join('; ');
  const signOn = { central: appsSso, via: 'sso' };
  pool.signOns.push(signOn);
  for (const app of ['wiki', 'tools']) {
    const session = await handoff(signOn, app, '/');
    assert.ok(session, `a handoff into ${app} works: ${why()}`);
    addSession(session);
  }
  memory.push({ at: 'start', kib: workerdRssKib(edge) });
  setupDone = true;
});

after(async () => {
  await stopAll();
  await Promise.all([origin?.close(), wikiOrigin?.close(), toolsOrigin?.close(), alpha?.close(), corp?.close()]);
});

// ---------------------------------------------------------------------------------------------
// The run

/** Events at fixed points of the run, beside the lanes: a service token deleted, a machine revoked. */
async function director(startedAt, deadline) {
  const at = (fraction) => startedAt + fraction * (deadline - startedAt);
  const pending = [
    {
      when: at(0.3),
      name: 'service-token-deleted',
      run: async () => {
        const { clientId } = pool.serviceTokens.doomed;
        const run = await edgeauth(['service-token', 'revoke', clientId, '--local']);
        assert.equal(run.code, 0, run.stderr);
        const entry = revoke('service', clientId, 'kv delete');
        await kvDelete(edge, `service-token:${clientId}`);
        entry.confirmedAt = Date.now();
        await forward('use-revoked', { cred: pool.serviceTokens.doomed, present: 'service', canonical: '/deploy/app' });
      },
    },
    {
      when: at(0.45),
      name: 'machine-revoked',
      run: async () => {
        const revoked = await currentExternal();
        const entry = revoke('sub', 'corp:ci-job', 'admin');
        await adminRevoke('revoke-machine', { sub: 'corp:ci-job' }, entry);
        await forward('use-revoked', { cred: revoked, present: 'bearer', canonical: '/deploy/app' });
      },
    },
  ];
  const done = [];
  while (pending.length > 0 && Date.now() < deadline) {
    if (Date.now() >= pending[0].when) {
      const event = pending.shift();
      await event.run();
      done.push(event.name);
    }
    memory.push({ at: Date.now() - startedAt, kib: workerdRssKib(edge) });
    await sleep(1000);
  }
  while (Date.now() < deadline) {
    memory.push({ at: Date.now() - startedAt, kib: workerdRssKib(edge) });
    await sleep(5000);
  }
  return done;
}

/** The edge's audit lines by request id (`soak-<n>`, from our cf-ray): `[{ event, status, reason }]`. */
function auditByRequest(log) {
  const byId = new Map();
  for (const match of log.matchAll(/\{"event":"([a-z_]+)","request_id":"soak-(\d+)","status":(\d+)(?:,"reason":"([^"]*)")?/g)) {
    const n = Number(match[2]);
    if (!byId.has(n)) byId.set(n, []);
    byId.get(n).push({ event: match[1], status: Number(match[3]), reason: match[4] });
  }
  return byId;
}

/** wrangler dev's own proxy answer when its fetch to the worker failed (a POST is not retried). */
const DEV_PROXY_LOST = 'Your worker restarted mid-request.';

/**
 * Judges every record. Two things that are wrangler dev's and not the edge's are set apart,
 * reported and bounded, never counted as the edge's decisions: a request its dev proxy answered
 * itself (DEV_PROXY_LOST) and a GET it retried after such a failure (two audit lines for one
 * request id; the origin may then see it twice). The edge's own answer to either, where it
 * logged one, must still not be a 5xx.
 */
function summarize(byN, audit) {
  const wrong = [];
  const unexpected5xx = [];
  const devProxy = [];
  const mix = {};
  for (const record of records) {
    mix[record.op] = (mix[record.op] ?? 0) + 1;
    const edgeSaid = record.n !== null ? audit.get(record.n) ?? [] : [];
    if (edgeSaid.some((line) => line.status >= 500)) unexpected5xx.push(record);
    const lost = record.status === 503 && record.text.startsWith(DEV_PROXY_LOST);
    if (lost || edgeSaid.length > 1) {
      devProxy.push({ record, why: lost ? 'answered by the dev proxy' : 'retried by the dev proxy', edge: edgeSaid.map((l) => l.status) });
      continue;
    }
    if (record.error !== null || (record.status !== null && record.status >= 500)) unexpected5xx.push(record);
    const seen = record.n !== null ? originSeen.get(String(record.n)) ?? null : null;
    const problem = record.judge ? record.judge(record, seen) : 'never judged';
    if (problem) wrong.push({ record, problem });
  }
  const retried = new Set(devProxy.map((d) => String(d.record.n)));
  const originSide = [...originProblems, ...originRevocationProblems(byN)].filter((p) => !retried.has(String(p.n)));
  return { wrong, unexpected5xx: [...new Set(unexpected5xx)], originSide, mix, devProxy };
}

/** A request straight to the origin (not through the edge): for the origin checker's controls. */
function originDirect(target, headers = {}, to = origin) {
  const { port } = new URL(to.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname: '127.0.0.1', port, path: target, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end();
  });
}

/** An X-Auth-Assertion as the edge mints one (the worker's key is the test key), or forged. */
function assertionFor(claims, sign = 'key') {
  const now = nowSecs();
  const payload = JSON.stringify({ iss: ISSUER, aud: ASSERTION_AUDIENCE, iat: now, exp: now + 600, auth_time: now - 60, ...claims });
  return vectors.build({ ...control, payload, sign }, now);
}

/**
 * The controls: each checker is shown what it must catch (and what it must let pass), so that
 * zero wrong decisions in the run means something.
 */
async function runControls() {
  // The origin, fed directly.
  const identity = (claims, sign, overrides = {}) => {
    const assertion = assertionFor(claims, sign);
    return {
      'x-auth-user': claims.sub, 'x-auth-roles': claims.roles.join(','), 'x-auth-session': claims.sid,
      'x-auth-expires': String(b64json(assertion.split('.')[1]).exp), 'x-auth-assertion': assertion, ...overrides,
    };
  };
  const user = { sub: 'control-user', roles: ['user'], sid: 'control-sid' };
  const bound = (htm, at, jti) => ({
    ...user, aud: APPS.tools.assertionAudience, htm, htu: `http://${APPS.tools.host()}${at}`, jti, iat: nowSecs(), exp: nowSecs() + 60,
  });
  const cases = [
    ['ctl-ok', '/app/data', identity(user), null],
    ['ctl-anonymous-admin', '/admin/panel', {}, /anonymous at \/admin\/panel/],
    ['ctl-spoof', '/app/data', { 'x-auth-user': 'SPOOF' }, /client-sent value/],
    ['ctl-forged', '/app/data', identity(user, 'other_key'), /does not verify/],
    ['ctl-role', '/admin/panel', identity(user), /which needs admin/],
    ['ctl-mismatch', '/app/data', identity(user, 'key', { 'x-auth-user': 'someone-else' }), /is not the assertion's/],
    ['ctl-path', '/public/../admin/panel', {}, /not canonical/],
    ['ctl-unknown-path', '/elsewhere', {}, /none the run sends/],
    ['ctl-authorization', '/public/page', { authorization: 'Bearer x' }, /authorization reached/],
    ['ctl-cookie', '/public/page', { cookie: 'a=1; %5F%5Fhost-EDGEAUTH=x' }, /session cookie reached/],
    ['ctl-override', '/public/page?_method=DELETE', {}, /method override/],
    ['ctl-routing', '/public/page', { 'x-original-url': '/admin' }, /x-original-url reached/],
    // tools' origin: its own audience, and assertions bound to one request.
    ['ctl-bound-ok', '/reports/weekly', identity(bound('GET', '/reports/weekly', 'control-jti-1')), null, toolsOrigin],
    ['ctl-bound-replay', '/reports/weekly', identity(bound('GET', '/reports/weekly', 'control-jti-1')), /without a new jti/, toolsOrigin],
    ['ctl-bound-path', '/reports/weekly', identity(bound('GET', '/ops/panel', 'control-jti-2')), /bound assertion for http/, toolsOrigin],
    ['ctl-bound-method', '/reports/weekly', identity(bound('POST', '/reports/weekly', 'control-jti-3')), /bound assertion for method/, toolsOrigin],
    ['ctl-unbound', '/reports/weekly', identity({ ...user, aud: APPS.tools.assertionAudience }), /bound assertion/, toolsOrigin],
    ['ctl-other-app', '/reports/weekly', identity(user), /does not verify/, toolsOrigin],
    ['ctl-wiki-at-tools', '/reports/weekly', identity({ ...bound('GET', '/reports/weekly', 'control-jti-4'), aud: APPS.wiki.assertionAudience }), /does not verify/, toolsOrigin],
  ];
  for (const [n, target, headers, , to] of cases) await originDirect(`${target}${target.includes('?') ? '&' : '?'}n=${n}`, headers, to);
  for (const [n, , , want] of cases) {
    const found = originProblems.filter((p) => p.n === n).map((p) => p.problem);
    if (want === null) assert.deepEqual(found, [], `origin control ${n}`);
    else assert.ok(found.some((problem) => want.test(problem)), `origin control ${n}: ${JSON.stringify(found)}`);
  }
  for (const [n] of cases) originSeen.delete(n);
  originProblems.splice(0, originProblems.length, ...originProblems.filter((p) => !String(p.n).startsWith('ctl-')));

  // The client's judge, fed synthetic answers.
  const t0 = Date.now();
  const cred = crafted({ sub: 'control', roles: ['user'] });
  const seenAs = (c, at = '/app/data') => ({ app: 'main', path: at, identity: { sub: c.sub, roles: c.roles, sid: c.sid } });
  const answer = (status, extra = {}) => ({ n: 0, tSend: t0, tRecv: t0 + 10, status, headers: {}, setCookies: [], ...extra });
  const judge = (options) => forwardJudge({ present: 'bearer', canonical: '/app/data', need: 'session', ...options });
  const caught = (problem, what) => assert.ok(problem, `the judge must catch: ${what}`);
  const passed = (problem, what) => assert.equal(problem, null, `the judge must accept: ${what}`);
  passed(judge({ cred })(answer(200), seenAs(cred)), 'a valid session admitted');
  caught(judge({ cred })(answer(401), null), 'a valid session refused');
  caught(judge({ cred })(answer(200), seenAs({ ...cred, sub: 'other' })), 'admitted as someone else');
  caught(judge({ cred })(answer(200), seenAs({ ...cred, roles: ['user', 'admin'] })), 'admitted with other roles');
  caught(judge({ cred })(answer(200), { ...seenAs(cred), path: '/admin/panel' }), 'forwarded to another path');
  caught(judge({ cred })(answer(200), { ...seenAs(cred), app: 'wiki' }), "forwarded to another app's origin");
  const atWiki = (c) => forwardJudge({ app: 'wiki', cred: validAt('wiki', c), present: 'bearer', canonical: '/app/data', need: 'session' });
  caught(atWiki(cred)(answer(200), { ...seenAs(cred), app: 'wiki' }), "a session of main admitted at wiki");
  passed(atWiki(cred)(answer(401), null), "a session of main refused at wiki");
  passed(atWiki({ ...cred, app: 'wiki', deployment: 'apps' })(answer(200), { ...seenAs(cred), app: 'wiki' }), "a session of wiki admitted there");
  caught(judge({ cred, canonical: '/admin/panel', need: 'admin' })(answer(200), seenAs(cred, '/admin/panel')), 'admitted without the role');
  caught(judge({ cred: { kind: 'none' }, present: 'none' })(answer(200), seenAs(cred)), 'no credential admitted');
  caught(judge({ cred: { kind: 'none' }, present: 'none', canonical: '/public/page', need: 'public' })(answer(200), seenAs(cred, '/public/page')), 'an identity on an anonymous request');
  passed(judge({ cred: { kind: 'none' }, present: 'none', nav: true })(answer(302, { headers: { location: '/auth/login?next=%2Fapp%2Fdata' } }), null), 'a navigation sent to log in');
  caught(judge({ cred, fixed: 400 })(answer(400), seenAs(cred)), 'a 400 that was forwarded');
  caught(judge({ cred, fixed: 400 })(answer(200), seenAs(cred)), 'a refused spelling admitted');
  const entry = { type: 'sid', key: cred.sid, before: null, pendingSince: t0 - 2000, confirmedAt: t0 - 1000, how: 'control' };
  revocations.push(entry);
  caught(judge({ cred })(answer(200), seenAs(cred)), 'admitted after its revocation was confirmed');
  passed(judge({ cred })(answer(401), null), 'refused after its revocation');
  passed(judge({ cred, canonical: '/public/page', need: 'public' })(answer(200), { app: 'main', path: '/public/page', identity: 'anonymous' }), 'a revoked session anonymous on a public path');
  entry.confirmedAt = t0 + 5;
  passed(judge({ cred })(answer(200), seenAs(cred)), 'admitted while its revocation was under way');
  passed(judge({ cred })(answer(401), null), 'refused while its revocation was under way');
  entry.pendingSince = t0 + 20;
  entry.confirmedAt = t0 + 30;
  caught(judge({ cred })(answer(401), null), 'refused by a revocation made after the answer');
  revocations.splice(revocations.indexOf(entry), 1);
  const userEntry = { type: 'sub', key: cred.sub, before: cred.authTime, pendingSince: t0 - 2000, confirmedAt: t0 - 1000, how: 'control' };
  revocations.push(userEntry);
  passed(judge({ cred })(answer(200), seenAs(cred)), 'a session begun at the cut-off of its user\'s revocation');
  userEntry.before = cred.authTime + 1;
  caught(judge({ cred })(answer(200), seenAs(cred)), 'a session begun before its user\'s revocation');
  revocations.splice(revocations.indexOf(userEntry), 1);
  const old = { ...cred, iat: nowSecs() - 60, exp: nowSecs() - 60 + SESSION_TTL_SECS };
  caught(judge({ cred: old, present: 'cookie' })(answer(200), seenAs(old)), 'a cookie session past RENEW_AFTER not renewed');
  caught(judge({ cred: old, present: 'cookie' })(answer(200, { setCookies: [`${SESSION_COOKIE}=${crafted({ sub: 'control', roles: ['user'], sign: 'other_key' }).token}; Path=/`] }), seenAs(old)), 'a forged renewal');
  caught(judge({ cred: old, present: 'cookie' })(answer(200, { setCookies: [`${SESSION_COOKIE}=${crafted({ sub: 'control', roles: ['user', 'admin'], sid: cred.sid, authTime: cred.authTime }).token}; Path=/`] }), seenAs(old)), 'a renewal that adds a role');
  caught(judge({ cred, present: 'bearer' })(answer(200, { setCookies: [`${SESSION_COOKIE}=${cred.token}; Path=/`] }), seenAs(cred)), 'a bearer token renewed into a cookie');
  caught(judge({ cred: { kind: 'none' }, present: 'none' })(answer(401, { setCookies: [`${SESSION_COOKIE}=${cred.token}; Path=/`] }), null), 'a session cookie set on a refusal');
}

describe('soak', () => {
  test('the checkers catch what they must (controls)', async () => {
    assert.ok(setupDone);
    await runControls();
  });

  test(`a mixed load at concurrency ${SOAK_CONCURRENCY} for ${SOAK_SECONDS} s: zero wrong decisions, no unexpected 5xx, memory reported`, { timeout: (SOAK_SECONDS + 900) * 1000 }, async () => {
    assert.ok(setupDone);
    for (const key of Object.keys(judged)) judged[key] = 0; // the controls' synthetic answers do not count
    const startedAt = Date.now();
    const deadline = startedAt + SOAK_SECONDS * 1000;
    const firstRun = edgeRequests;
    const rows = MIX.filter((row) => row.apps.length > 0);
    const total = rows.reduce((sum, row) => sum + row.weight, 0);
    const draw = () => {
      let x = random() * total;
      for (const row of rows) {
        x -= row.weight;
        if (x < 0) return row;
      }
      return rows.at(-1);
    };
    const drawn = {};
    const failures = [];
    const lane = async () => {
      while (Date.now() < deadline && edgeRequests - firstRun < SOAK_MAX_REQUESTS) {
        const row = draw();
        drawn[row.name] = (drawn[row.name] ?? 0) + 1;
        try {
          await row.run(pick(row.apps));
        } catch (error) {
          failures.push(`${row.name}: ${error.stack}`);
          if (failures.length > 20) throw error;
        }
      }
    };
    const [events] = await Promise.all([director(startedAt, deadline), ...Array.from({ length: SOAK_CONCURRENCY }, lane)]);
    const seconds = (Date.now() - startedAt) / 1000;
    memory.push({ at: 'end', kib: workerdRssKib(edge) });

    // Let the last forwarded requests' origin records settle (they are written before the answer).
    const byN = new Map(records.filter((r) => r.n !== null).map((r) => [r.n, r]));
    // wrangler writes the worker's log lines after the answers: wait (bounded) for the last one's
    // (the two deployments' logs together: request numbers are unique across both).
    const bothLogs = () => `${fs.readFileSync(edge.logFile, 'utf8')}\n${fs.readFileSync(appsEdge.logFile, 'utf8')}`;
    const lastAnswered = records.filter((r) => r.n !== null && r.status !== null && r.status < 500).at(-1);
    for (let attempt = 0; attempt < 100 && !bothLogs().includes(`"request_id":"soak-${lastAnswered.n}"`); attempt += 1) await sleep(100);
    const log = bothLogs();
    const { wrong, unexpected5xx, originSide, mix, devProxy } = summarize(byN, auditByRequest(log));

    // The revocation document each deployment's isolate copies: read back from KV once its writer published.
    const byLogout = ['logout', 'app-logout', 'logout-all'];
    const readPublished = async (worker, deployment) => {
      const wanted = revocations.filter((e) => (e.deployment ?? 'main') === deployment && e.confirmedAt !== null
        && e.how !== 'kv' && e.how !== 'kv delete' && (!byLogout.includes(e.how) || e.wasLive));
      const maxRevision = Math.max(0, ...wanted.map((e) => e.revision ?? 0));
      let found = null;
      let absent = [];
      for (let attempt = 0; attempt < 50; attempt += 1) {
        const text = await kvRead(worker, 'revocations', 'REVOCATIONS');
        try {
          found = { bytes: Buffer.byteLength(text), doc: JSON.parse(text) };
        } catch {
          found = { bytes: Buffer.byteLength(text), doc: { sessions: {}, users: {}, revision: 0 } };
        }
        absent = wanted.filter((e) => (['sid', 'psid'].includes(e.type) ? !(e.key in found.doc.sessions)
          : e.type === 'idp' ? !(`idp:alpha/${e.key}` in found.doc.sessions)
            : !(found.doc.users[e.key]?.before >= e.before)));
        if (absent.length === 0 && found.doc.revision >= maxRevision) break;
        await sleep(200);
      }
      return { found, absent };
    };
    const { found: published, absent: missingMain } = await readPublished(edge, 'main');
    const { found: appsPublished, absent: missingApps } = await readPublished(appsEdge, 'apps');
    const missing = [...missingMain, ...missingApps];

    // What each isolate itself holds, from its health line (a /healthz asked now).
    const isolateOf = async (worker, app) => {
      const healthLines = () => fs.readFileSync(worker.logFile, 'utf8').split('\n').filter((l) => l.startsWith('{"event":"health"'));
      const healthBefore = healthLines().length;
      const asked = await send('health', { app, target: '/healthz', tag: false });
      asked.judge = () => null;
      for (let attempt = 0; attempt < 100 && healthLines().length <= healthBefore; attempt += 1) await sleep(100);
      return JSON.parse(healthLines().at(-1) ?? '{}').isolate ?? null;
    };
    const isolate = await isolateOf(edge, 'main');
    const appsIsolate = await isolateOf(appsEdge, 'signon');

    const events_ = {};
    for (const match of log.matchAll(/^\{"event":"([a-z_]+)"/gm)) events_[match[1]] = (events_[match[1]] ?? 0) + 1;
    const refreshFailures = (log.match(/revocation_refresh_failed/g) ?? []).length;
    const kibs = memory.map((m) => m.kib.worker).filter((k) => k !== null);
    const proxyKibs = memory.map((m) => m.kib.proxy).filter((k) => k !== null);
    const mib = (k) => Math.round(k / 1024);
    const half = memory.filter((m) => typeof m.at === 'number' && m.at >= (SOAK_SECONDS * 1000) / 2 && m.kib.worker !== null);
    const assertionBytes = Math.max(0, ...[...originSeen.values()].map((s) => s.identity.assertionBytes ?? 0));
    const presented = presentedTokens.size;
    const tokenBytes = Math.max(...pool.sessions.flatMap((s) => s.versions.map((v) => v.token.length)));
    const requests = edgeRequests - firstRun;
    const forwarded = originSeen.size;
    const forwardedTo = [...originSeen.values()].reduce((m, seen) => ({ ...m, [seen.app]: (m[seen.app] ?? 0) + 1 }), {});
    const sentTo = records.filter((r) => r.n > firstRun).reduce((m, r) => ({ ...m, [r.app]: (m[r.app] ?? 0) + 1 }), {});

    console.log(`soak: ${requests} requests through the edge (+${providerRequests} to the providers), concurrency ${SOAK_CONCURRENCY}, `
      + `${seconds.toFixed(1)} s (${Math.round(requests / seconds)} req/s), seed ${SEED}; `
      + `${wrong.length} wrong decisions at the client, ${originSide.length} at the origin, ${unexpected5xx.length} 5xx/errors, ${devProxy.length} lost in wrangler's dev proxy; ${forwarded} forwarded`);
    console.log(`soak: requests by app ${JSON.stringify(sentTo)} (signon: the second deployment's auth host); forwarded by origin ${JSON.stringify(forwardedTo)}; `
      + `sign-ons ${JSON.stringify(signOnCounts)} (fresh logins at the auth host, reused sign-ons, second logins in a signed-on browser and how many kept the sign-on, handoffs redeemed)`);
    console.log(`soak: mix (requests) ${JSON.stringify(mix)}`);
    console.log(`soak: forwarded-path requests judged ${JSON.stringify(judged)} (revoked: a revocation confirmed before it was sent; revocationUnderWay: either answer allowed; renewed: renewals checked)`);
    console.log(`soak: mix (draws) ${JSON.stringify(drawn)}; fixed-point events ${JSON.stringify(events)}`);
    console.log(`soak: revocations made ${revocations.length} (${Object.entries(revocations.reduce((m, e) => ({ ...m, [e.how]: (m[e.how] ?? 0) + 1 }), {})).map(([k, v]) => `${k} ${v}`).join(', ')}); `
      + `the published document (the isolate's copy): ${published.bytes} bytes, ${Object.keys(published.doc.sessions).length} sessions, `
      + `${Object.keys(published.doc.users).length} users, revision ${published.doc.revision}; the second deployment's: ${appsPublished.bytes} bytes, `
      + `${Object.keys(appsPublished.doc.sessions).length} sessions and sign-ons, revision ${appsPublished.doc.revision}; ${refreshFailures} refresh failures logged`);
    console.log(`soak: the worker's workerd resident memory ${kibs.length ? `start ${mib(kibs[0])} MiB, peak ${mib(Math.max(...kibs))} MiB, end ${mib(kibs.at(-1))} MiB`
      + `${half.length > 1 ? `, over the second half ${mib(half[0].kib.worker)} → ${mib(half.at(-1).kib.worker)} MiB` : ''} (${kibs.length} samples)` : 'not found'}`
      + `${proxyKibs.length ? ` (the dev proxy's: ${mib(proxyKibs[0])} → ${mib(proxyKibs.at(-1))} MiB)` : ''}; `
      + `verified-session cache: at most ${SESSION_CACHE_SIZE} entries by configuration (${presented} distinct valid-looking tokens presented; its size is not exposed), `
      + `≤ ${Math.round((SESSION_CACHE_SIZE * (3 * tokenBytes + assertionBytes + 256)) / 1024)} KiB by the cache's own cost estimate (3 × token ${tokenBytes} B + assertion ${assertionBytes} B + 256)`);
    console.log(`soak: audit log events ${JSON.stringify(events_)}`);
    console.log(`soak: the isolate holds ${JSON.stringify(isolate)}, the second deployment's ${JSON.stringify(appsIsolate)} (health lines: cache entries and estimated bytes, the revocation copy's sessions and users, wasm memory)`);
    const show = (list) => list.slice(0, 40).map(({ record, problem }) => `#${record.n} ${record.op} ${record.method} ${record.target}: ${problem}`);
    if (wrong.length) console.log(`soak: wrong decisions (first 40):\n  ${show(wrong).join('\n  ')}`);
    if (devProxy.length) console.log(`soak: wrangler dev's proxy lost or retried ${devProxy.length} requests (not the edge's decisions; the edge logged: ${devProxy.slice(0, 10).map((d) => `#${d.record.n} ${d.record.method} ${d.record.target.split('?')[0]} ${d.why} [${d.edge.join(',') || 'nothing'}]`).join('; ')})`);
    if (originSide.length) console.log(`soak: at the origin (first 15):\n  ${originSide.slice(0, 15).map((p) => `#${p.n}: ${p.problem}`).join('\n  ')}`);

    assert.deepEqual(failures, [], 'no operation threw');
    for (const held of [isolate, appsIsolate]) {
      assert.ok(held, 'the health line reports what the isolate holds');
      assert.ok(held.cache_entries <= SESSION_CACHE_SIZE, `the cache holds ${held.cache_entries} of at most ${SESSION_CACHE_SIZE}`);
      assert.ok(held.memory_bytes <= 128 * 1024 * 1024, `wasm memory ${held.memory_bytes} B, within an isolate's 128 MB`);
    }
    assert.ok(devProxy.length <= Math.max(10, requests / 200), `wrangler dev's proxy lost or retried ${devProxy.length} of ${requests} requests: the run says too little about the edge`);
    assert.deepEqual(show(wrong), [], `${wrong.length} wrong decisions`);
    assert.deepEqual(originSide.slice(0, 15), [], `${originSide.length} problems at the origin`);
    assert.deepEqual(unexpected5xx.slice(0, 15).map((r) => `#${r.n} ${r.op} ${r.method} ${r.target}: ${r.status ?? r.error}`), [], 'no 5xx, no failed request');
    assert.equal(events_.error ?? 0, 0, 'no error line in the audit log');
    assert.deepEqual(missing.map((e) => `${e.type} ${e.key}`), [], 'every confirmed revocation is in the published document');
    for (const op of ['password-login', 'sso-login', 'passkey-login', 'logout', 'revoke-session', 'use-revoked', 'crafted', 'service-token', 'external-token', 'path-attack', 'signon', 'app-logout', 'logout-all', 'handoff-attack', 'auth-host-session']) {
      assert.ok((mix[op] ?? 0) > 0, `the run did some ${op}`);
    }
    for (const app of ['main', 'wiki', 'tools']) assert.ok((forwardedTo[app] ?? 0) > 0, `requests reached the origin of ${app}`);
    assert.ok(records.some((r) => r.op === 'renewal' || r.setCookies?.some((c) => c.startsWith(`${SESSION_COOKIE}=ey`))), 'sessions were renewed');
  });
});

