// The measuring half of `make bench` (scripts/bench.sh prepares the builds, key, token and
// native figures, then runs this). Starts one loopback origin with a fixed answer and three
// `wrangler dev` workers (edgeauth built with the `bench` feature, the same with
// AUDIT_SAMPLE_ALLOWED=0, and the plain JS comparison worker), measures, prints one Markdown table
// and writes it to bench/results/latest.md. Every worker is stopped by process group (the
// integration harness), whatever happens. Every loop is bounded in count and time.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

import { ROOT, startWorker, stopAll } from '../tests/integration/harness.mjs';

const BENCH = path.join(ROOT, 'target', 'bench');
const env = process.env;
const ROUNDS = Number(env.BENCH_ROUNDS || 5);
const WRK_SECONDS = Number(env.BENCH_WRK_SECONDS || 8);
const WRK_CONNECTIONS = Number(env.BENCH_CONNECTIONS || 8);
const N_VERIFY = Number(env.BENCH_N_VERIFY || 2000);
const N_HIT = Number(env.BENCH_N_HIT || 200000);
const N_SSO = Number(env.BENCH_N_SSO || 500);
const N_PASSWORD = Number(env.BENCH_N_PASSWORD || 10);
/** The Workers Free plan's CPU time per request, in µs: which login methods fit in it. */
const FREE_PLAN_CPU_US = 10_000;

const token = fs.readFileSync(path.join(BENCH, 'token.txt'), 'utf8').trim();
const privateJwk = fs.readFileSync(path.join(BENCH, 'key.jwk'), 'utf8').trim();
const { d: _secret, ...publicJwk } = JSON.parse(privateJwk);
const native = JSON.parse(fs.readFileSync(path.join(BENCH, 'native.json'), 'utf8'));
const bundle = JSON.parse(fs.readFileSync(path.join(BENCH, 'bundle.json'), 'utf8'));
const ISSUER = 'edgeauth-bench';
const AUDIENCE = 'edgeauth';

// A token with one signature character changed: well-formed, refused at the signature.
const sig = token.lastIndexOf('.') + 10;
const badToken = token.slice(0, sig) + (token[sig] === 'A' ? 'B' : 'A') + token.slice(sig + 1);

/**
 * The body of the bench route's `sso` mode: an ID token as a provider signs it with `alg`, its
 * public key and what it must say (issuer, client, nonce).
 */
async function idTokenCase(alg) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { modulusLength: 2048 });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg, use: 'sig' };
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: 'https://idp.bench.example', aud: 'edge', sub: 'user-1', iat: now, exp: now + 3600,
    nonce: 'bench-nonce', email: 'user@example.com', email_verified: true, name: 'Bench User',
  };
  const id_token = await new SignJWT(claims).setProtectedHeader({ alg, kid: 'bench' }).sign(privateKey);
  return JSON.stringify({ id_token, jwk, issuer: claims.iss, client_id: 'edge', nonce: claims.nonce });
}

/**
 * The body of the bench route's `issuer` mode: an access token as a trusted issuer signs it
 * with `alg` (RFC 9068 shape), its public key, the issuer and the audience.
 */
async function accessTokenCase(alg) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { modulusLength: 2048 });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg, use: 'sig' };
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: 'https://issuer.bench.example', aud: 'https://api.bench.example', sub: 'ci-job', client_id: 'ci-job',
    scope: 'deploy read', jti: crypto.randomUUID(), iat: now, exp: now + 3600,
  };
  const token = await new SignJWT(claims).setProtectedHeader({ alg, kid: 'bench', typ: 'at+jwt' }).sign(privateKey);
  return JSON.stringify({ token, jwk, issuer: claims.iss, audience: claims.aud });
}

/**
 * The body of the bench route's `rules` mode: `count` rules of every kind (prefix and exact,
 * with methods, roles, claims, e-mail domains, login methods, deny rules), the request's path
 * matched by one near the end, so the scan sees them all.
 */
/**
 * The body of the host-lookup bench (rows 1t, 1u): a deployment of `count` apps, each on an exact
 * host and a wildcard, and a host only the last app's wildcard serves (every exact host and every
 * earlier wildcard is tried first).
 */
function hostsCase(count) {
  const apps = Array.from({ length: count }, (_, i) => ({
    id: `app-${i}`,
    hosts: [`app-${i}.example.com`, `*.app-${i}.example.com`],
    origin: `https://origin-${i}.internal`,
  }));
  const vars = { SIGNING_KEY: privateJwk, AUTH_HOST: 'auth.example.com', APPS: JSON.stringify(apps) };
  return JSON.stringify({ vars, host: `tenant.app-${count - 1}.example.com:8443` });
}

function rulesCase(count) {
  const rules = [];
  for (let i = 0; rules.length < count - 1; i++) {
    const kinds = [
      { path: `/app${i}/*`, roles: ['staff', `r${i}`] },
      { path: `/app${i}/*`, effect: 'deny', users: [`blocked${i}`] },
      { path: `/team${i}/*`, claims: [{ claim: 'groups', any_of: [`g${i}`, 'eng'] }], login: ['sso', 'passkey'] },
      { path: `/doc${i}`, methods: ['GET'], email_domains: ['example.com'], max_auth_age_secs: 3600 },
    ];
    rules.push(...kinds.slice(0, count - 1 - rules.length));
  }
  rules.push({ path: '/target/*', claims: [{ claim: 'groups', any_of: ['eng'] }], roles: ['staff'] });
  return JSON.stringify({ rules, path: '/target/reports/2026', claims: { groups: ['eng'], amr: ['fed'] } });
}

/** The body of the bench route's `service` mode: a service token and its KV record. */
function serviceTokenCase() {
  const client_id = crypto.randomBytes(16).toString('hex');
  const secret = `eas_${crypto.randomBytes(32).toString('base64url')}`;
  const now = Math.floor(Date.now() / 1000);
  const record = JSON.stringify({
    created: now, expires: now + 86_400, name: 'ci', roles: ['deployer'],
    secret_sha256: crypto.createHash('sha256').update(secret).digest('base64url'),
  });
  return JSON.stringify({ client_id, secret, record });
}

/**
 * The body of the bench route's `passkey` mode: an assertion as an authenticator signs it with
 * `alg` (ES256: a DER signature, as authenticators send it), the credential's public JWK and what
 * the ceremony expects.
 */
function passkeyCase(alg) {
  const rpId = 'bench.example';
  const origin = 'https://bench.example';
  const challenge = crypto.randomBytes(32).toString('base64url');
  const { publicKey, privateKey } = alg === 'EdDSA'
    ? crypto.generateKeyPairSync('ed25519')
    : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
  const jwk = kty === 'EC' ? { kty, crv, x, y } : { kty, crv, x };
  const clientData = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge, origin, crossOrigin: false }));
  const rpIdHash = crypto.createHash('sha256').update(rpId).digest();
  const count = Buffer.alloc(4);
  count.writeUInt32BE(1);
  const authData = Buffer.concat([rpIdHash, Buffer.from([0x05]), count]);
  const signed = Buffer.concat([authData, crypto.createHash('sha256').update(clientData).digest()]);
  const signature = alg === 'EdDSA' ? crypto.sign(null, signed, privateKey) : crypto.sign('sha256', signed, privateKey);
  return JSON.stringify({
    rp_id: rpId, origin, challenge, jwk, alg: alg === 'EdDSA' ? -8 : -7,
    client_data_json: clientData.toString('base64url'),
    authenticator_data: authData.toString('base64url'),
    signature: signature.toString('base64url'),
  });
}

/**
 * An SVG bar chart of ratio rows against their targets, each written so that lower is better
 * (a req/s row as pass-through ÷ edgeauth): a bar per row, its target as a tick, green when met.
 */
function ratioChart(when, rows) {
  const width = 760;
  const rowHeight = 30;
  const left = 300;
  const scaleMax = Math.max(2, ...rows.map((r) => Math.max(r.ratio, r.target))) * 1.05;
  const x = (v) => left + (v / scaleMax) * (width - left - 60);
  const height = 50 + rows.length * rowHeight + 30;
  const esc = (t) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">edgeauth: ratios against their targets (lower is better) — ${esc(when)}</text>`,
  ];
  rows.forEach((r, i) => {
    const y = 40 + i * rowHeight;
    const met = r.ratio <= r.target;
    parts.push(
      `<text x="10" y="${y + 18}">${esc(`${r.row} ${r.what}`)}</text>`,
      `<rect x="${left}" y="${y + 5}" width="${Math.max(1, x(r.ratio) - left)}" height="18" fill="${met ? '#2e7d32' : '#c62828'}"/>`,
      `<line x1="${x(r.target)}" y1="${y + 1}" x2="${x(r.target)}" y2="${y + 27}" stroke="#000" stroke-width="2"/>`,
      `<text x="${x(r.ratio) + 6}" y="${y + 19}">${r.ratio.toFixed(2)}× (target ${r.target.toFixed(2)}×)</text>`,
    );
  });
  const axisY = 40 + rows.length * rowHeight + 8;
  parts.push(`<line x1="${left}" y1="${axisY}" x2="${x(scaleMax)}" y2="${axisY}" stroke="#666"/>`);
  for (let v = 0; v <= scaleMax; v += 0.5) {
    parts.push(`<text x="${x(v) - 8}" y="${axisY + 16}" fill="#666">${v.toFixed(1)}</text>`);
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

async function perOp(base, route, n, input = token) {
  const res = await fetch(`${base}${route}${route.includes('?') ? '&' : '?'}n=${n}`, {
    method: 'POST',
    body: input,
    signal: AbortSignal.timeout(120_000),
  });
  const body = await res.json();
  if (res.status !== 200 || body.ok !== body.n) {
    throw new Error(`${route}: ${res.status} ${JSON.stringify(body)}`);
  }
  return body.us_per_op;
}

// The origin of every row: answers each request with the same 1 KB JSON page, as an application
// would, and keeps nothing. (The integration tests' origin echoes every request back and keeps
// them all: it would charge the headers edgeauth adds twice and grow this process's heap.)
async function startBenchOrigin() {
  const page = JSON.stringify({ ok: true, page: 'x'.repeat(1000) });
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(page);
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

// Asynchronous on purpose: the origin runs in this process, so its event loop must stay free.
const execFileAsync = promisify(execFile);

async function wrk(url, headers, seconds = WRK_SECONDS) {
  const args = ['-t', '2', '-c', String(WRK_CONNECTIONS), '-d', `${seconds}s`, '--latency'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  const { stdout: out } = await execFileAsync('wrk', [...args, url], {
    timeout: (seconds + 30) * 1000,
  });
  const ms = (label) => {
    const m = out.match(new RegExp(`^\\s*${label}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm'));
    if (!m) throw new Error(`no ${label}% in wrk output:\n${out}`);
    return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2]];
  };
  const rps = Number((out.match(/Requests\/sec:\s+([\d.]+)/) || [])[1]);
  const non2xx = Number((out.match(/Non-2xx or 3xx responses:\s+(\d+)/) || [0, 0])[1]);
  const total = Number((out.match(/(\d+) requests in/) || [0, 0])[1]);
  return { rps, p50: ms('50'), p99: ms('99'), non2xx, total };
}

async function main() {
  const origin = await startBenchOrigin();
  const edgeVars = { SIGNING_KEY: privateJwk, ISSUER, ORIGIN_URL: origin.url, ACCESS_RULES: '[]' };
  const [edge, quiet, js, jsLog, big] = await Promise.all([
    startWorker({
      name: 'bench-edgeauth',
      vars: edgeVars,
      args: ['-c', path.join(BENCH, 'edgeauth', 'wrangler.toml')],
    }),
    // The same, with AUDIT_SAMPLE_ALLOWED=0: how much of 3b is wrangler dev printing one log
    // line per request (a deployed Worker's logs do not pass through a local terminal).
    startWorker({
      name: 'bench-edgeauth-quiet',
      vars: { ...edgeVars, AUDIT_SAMPLE_ALLOWED: '0' },
      args: ['-c', path.join(BENCH, 'edgeauth', 'wrangler.toml')],
    }),
    startWorker({
      name: 'bench-js',
      vars: { PUBLIC_JWK: JSON.stringify(publicJwk), PRIVATE_JWK: privateJwk, ISSUER, AUDIENCE, ORIGIN_URL: origin.url },
      args: ['-c', path.join(BENCH, 'js', 'wrangler.toml')],
    }),
    // The pass-through again, logging one audit-sized line per request as edgeauth does: what
    // that line alone costs any worker under wrangler dev.
    startWorker({
      name: 'bench-js-log',
      vars: { PUBLIC_JWK: JSON.stringify(publicJwk), ISSUER, AUDIENCE, ORIGIN_URL: origin.url, LOG_EACH: '1' },
      args: ['-c', path.join(BENCH, 'js', 'wrangler.toml')],
    }),
    // A verified-session cache asked to hold 100,000 sessions (row 5b).
    startWorker({
      name: 'bench-edgeauth-big-cache',
      vars: { ...edgeVars, AUDIT_SAMPLE_ALLOWED: '0', SESSION_CACHE_SIZE: '100000' },
      args: ['-c', path.join(BENCH, 'edgeauth', 'wrangler.toml')],
    }),
  ]);

  const ssoBodies = { RS256: await idTokenCase('RS256'), ES256: await idTokenCase('ES256') };
  const passkeyBodies = { ES256: passkeyCase('ES256'), EdDSA: passkeyCase('EdDSA') };
  const rulesBodies = { 10: rulesCase(10), 100: rulesCase(100), 1000: rulesCase(1000) };
  const hostBodies = { 10: hostsCase(10), 100: hostsCase(100) };
  const machineBodies = { RS256: await accessTokenCase('RS256'), ES256: await accessTokenCase('ES256'), service: serviceTokenCase() };
  // 1. Verify cost per token inside workerd: warm up, then ROUNDS interleaved rounds; medians.
  const ways = {
    first: () => perOp(edge.url, '/__bench/verify?mode=first', N_VERIFY),
    mint: () => perOp(edge.url, '/__bench/verify?mode=mint', N_VERIFY),
    whole: () => perOp(edge.url, '/__bench/verify?mode=whole', N_VERIFY),
    bound: () => perOp(edge.url, '/__bench/verify?mode=bound', N_VERIFY),
    signByHand: () => perOp(js.url, '/__bench/sign', N_VERIFY),
    wholeByHand: () => perOp(js.url, '/__bench/whole', N_VERIFY),
    decide: () => perOp(edge.url, '/__bench/verify?mode=decide', N_VERIFY),
    parse: () => perOp(edge.url, '/__bench/verify?mode=parse', N_VERIFY),
    subtle: () => perOp(edge.url, '/__bench/verify?mode=subtle', N_VERIFY),
    hit: () => perOp(edge.url, '/__bench/verify?mode=hit', N_HIT),
    ssoRs256: () => perOp(edge.url, '/__bench/verify?mode=sso', N_SSO, ssoBodies.RS256),
    ssoEs256: () => perOp(edge.url, '/__bench/verify?mode=sso', N_SSO, ssoBodies.ES256),
    passkeyEs256: () => perOp(edge.url, '/__bench/verify?mode=passkey', N_SSO, passkeyBodies.ES256),
    passkeyEdDsa: () => perOp(edge.url, '/__bench/verify?mode=passkey', N_SSO, passkeyBodies.EdDSA),
    password: () => perOp(edge.url, '/__bench/verify?mode=password', N_PASSWORD),
    issuerRs256: () => perOp(edge.url, '/__bench/verify?mode=issuer', N_SSO, machineBodies.RS256),
    issuerEs256: () => perOp(edge.url, '/__bench/verify?mode=issuer', N_SSO, machineBodies.ES256),
    serviceToken: () => perOp(edge.url, '/__bench/verify?mode=service', N_SSO, machineBodies.service),
    rules10: () => perOp(edge.url, '/__bench/verify?mode=rules', N_VERIFY, rulesBodies[10]),
    rules100: () => perOp(edge.url, '/__bench/verify?mode=rules', N_VERIFY, rulesBodies[100]),
    rules1000: () => perOp(edge.url, '/__bench/verify?mode=rules', N_SSO, rulesBodies[1000]),
    hosts10: () => perOp(edge.url, '/__bench/verify?mode=hosts', N_VERIFY, hostBodies[10]),
    hosts100: () => perOp(edge.url, '/__bench/verify?mode=hosts', N_VERIFY, hostBodies[100]),
    webcrypto: () => perOp(js.url, '/__bench/webcrypto', N_VERIFY),
    jose: () => perOp(js.url, '/__bench/jose', N_VERIFY),
  };
  for (const way of Object.values(ways)) await way();
  const samples = Object.fromEntries(Object.keys(ways).map((k) => [k, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, way] of Object.entries(ways)) samples[name].push(await way());
  }
  // Best of the rounds, as for the native figures: on this shared machine other work only ever
  // adds time (the rounds of one way are bimodal, e.g. 65 and 120 µs), so the minimum is the
  // steadiest estimate of a way's own cost. The medians go to latest.json as well.
  const us = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, Math.min(...v)]));
  const usMedian = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));

  // 4. Cold start of edgeauth's production wasm: instantiate inside workerd (which compiles
  // modules at load and forbids compiling at run time), compile in node 22's V8 (see below).
  const instantiateMs = [];
  for (let r = 0; r < ROUNDS; r++) {
    instantiateMs.push((await perOp(js.url, '/__bench/instantiate', 20)) / 1000);
  }
  // Compile time: measured by scripts/bench.sh with node 22's V8 (bench/compile.mjs).
  const compiled = JSON.parse(fs.readFileSync(path.join(BENCH, 'compile.json'), 'utf8'));
  const compileMs = [compiled.compile_ms];
  const coldMs = {
    compile: compileMs.length ? median(compileMs) : NaN,
    instantiate: median(instantiateMs),
  };

  // 3. End to end: same origin, same concurrency, bounded duration; ROUNDS interleaved rounds
  // (the machine is shared: interleaving spreads its noise over every row), medians per figure.
  const cookie = (t) => ({ cookie: `__Host-edgeauth=${t}` });
  // The pass-through gets the very same request (session cookie included) and forwards it all.
  await wrk(`${js.url}/app`, cookie(token), 2); // warm-up
  await wrk(`${jsLog.url}/app`, cookie(token), 2);
  await wrk(`${edge.url}/app`, cookie(token), 2);
  await wrk(`${quiet.url}/app`, cookie(token), 2);
  const runs = {
    pass: () => wrk(`${js.url}/app`, cookie(token)),
    passLog: () => wrk(`${jsLog.url}/app`, cookie(token)),
    valid: () => wrk(`${edge.url}/app`, cookie(token)),
    quiet: () => wrk(`${quiet.url}/app`, cookie(token)),
    bad: () => wrk(`${edge.url}/app`, { ...cookie(badToken), accept: 'application/json' }),
  };
  const e2eSamples = Object.fromEntries(Object.keys(runs).map((k) => [k, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, run] of Object.entries(runs)) e2eSamples[name].push(await run());
  }
  for (const [name, samples] of Object.entries(e2eSamples)) {
    for (const s of samples) {
      if (name === 'bad' ? s.non2xx !== s.total : s.non2xx) {
        throw new Error(`unexpected answers (${name}): ${JSON.stringify(s)}`);
      }
    }
  }
  const e2e = Object.fromEntries(
    Object.entries(e2eSamples).map(([name, samples]) => [
      name,
      {
        rps: median(samples.map((s) => s.rps)),
        p50: median(samples.map((s) => s.p50)),
        p99: median(samples.map((s) => s.p99)),
      },
    ]),
  );

  // 5. Isolate memory with the verified-session cache full (SESSION_CACHE_SIZE, default 10000
  // entries of sessions like the bench token), filled through the request path.
  const memRes = await fetch(`${edge.url}/__bench/verify?mode=memory`, {
    method: 'POST',
    body: token,
    signal: AbortSignal.timeout(300_000),
  });
  const memory = await memRes.json();
  if (memRes.status !== 200) throw new Error(`memory: ${memRes.status} ${JSON.stringify(memory)}`);

  // 5b. The cache asked for 100,000 sessions: what it holds (the ~32 MiB bound), the memory,
  // and a hit's cost once it is full.
  const bigRes = await fetch(`${big.url}/__bench/verify?mode=memory`, { method: 'POST', body: token, signal: AbortSignal.timeout(600_000) });
  const bigMemory = await bigRes.json();
  if (bigRes.status !== 200) throw new Error(`memory (100k): ${bigRes.status} ${JSON.stringify(bigMemory)}`);
  const bigHits = [];
  for (let r = 0; r < ROUNDS; r++) bigHits.push(await perOp(big.url, '/__bench/verify?mode=hit_isolate', N_HIT));

  // 6. The revocation document at 10,000 and 100,000 entries: an isolate's refresh (parse),
  // the parsed copy's memory, and the per-request check, which must stay flat.
  const revocation = {};
  for (const entries of [10_000, 100_000]) {
    const sessions = {};
    for (let i = 0; i < entries; i++) sessions[crypto.randomBytes(16).toString('base64url')] = 4_000_000_000;
    const document = JSON.stringify({ format: 1, revision: 1, sessions, users: {} });
    const res = await fetch(`${edge.url}/__bench/verify?mode=revocation&n=${N_HIT}`, {
      method: 'POST', body: JSON.stringify({ token, document }), signal: AbortSignal.timeout(300_000),
    });
    const answer = await res.json();
    if (res.status !== 200 || answer.ok !== answer.n) throw new Error(`revocation ${entries}: ${res.status} ${JSON.stringify(answer)}`);
    revocation[entries] = { ...answer, bytes: document.length };
  }

  await stopAll();
  origin.close();

  const f1 = (x) => x.toFixed(1);
  const f2 = (x) => x.toFixed(2);
  const ratio = (a, b) => `${(a / b).toFixed(2)}×`;
  const mark = (ok) => (ok ? 'met' : '**not met**');
  const cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.+)/) || [])[1];
  const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const rows = [
    `## edgeauth benchmark — ${when}`,
    '',
    `Machine: ${cpu || 'unknown CPU'}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}; node ${process.version}; wrangler dev (local workerd). ` +
      `Token: ${token.length} bytes, EdDSA. Rows 1: best of ${ROUNDS} rounds; rows 3: medians of ${ROUNDS} interleaved rounds; loopback only; noisy shared machine: compare ratios.`,
    '',
    '| # | what | figure | ratio / target |',
    '| --- | --- | --- | --- |',
    `| 1a | verify in workerd: edgeauth first sight (request path: core strict checks + WebCrypto \`Ed25519\` + claims, no cache) | ${f1(us.first)} µs/token | ${ratio(us.first, us.jose)} jose (target ≤ 1.00×: ${mark(us.first <= us.jose)}); ${ratio(us.first, us.webcrypto)} WebCrypto (target ≤ 1.15×: ${mark(us.first <= 1.15 * us.webcrypto)}) |`,
    `| 1b | verify in workerd: edgeauth cache hit | ${f2(us.hit)} µs/token | ${ratio(us.hit, us.jose)} jose (target ≤ 0.05× and ≤ 5 µs: ${mark(us.hit <= 5 && us.hit <= 0.05 * us.jose)}) |`,
    `| 1c | verify in workerd: WebCrypto \`Ed25519\` by hand (JS worker) | ${f1(us.webcrypto)} µs/token | |`,
    `| 1d | verify in workerd: \`jose\` \`jwtVerify\`, key imported once (JS worker) | ${f1(us.jose)} µs/token | |`,
    `| 1a′ | 1a split: the core's share (parse, strict checks, claims; no signature check) + the WebCrypto call alone, through wasm-bindgen | ${f1(us.parse)} µs + ${f1(us.subtle)} µs | WebCrypto call ${ratio(us.subtle, us.webcrypto)} of 1c's whole by-hand verify |`,
    `| 1e | first sight, whole, in workerd: verify + mint the \`X-Auth-Assertion\` (WebCrypto both) | ${f1(us.whole)} µs/token | ${ratio(us.whole, us.wholeByHand)} a JS worker verifying and signing by hand, ${f1(us.wholeByHand)} µs (target ≤ 1.10×: ${mark(us.whole <= 1.1 * us.wholeByHand)}) |`,
    `| 1f | mint in workerd: the \`X-Auth-Assertion\` (WebCrypto \`Ed25519\` sign, key imported once per isolate) | ${f1(us.mint)} µs/token | ${ratio(us.mint, us.signByHand)} WebCrypto sign by hand, ${f1(us.signByHand)} µs (target ≤ 1.10×: ${mark(us.mint <= 1.1 * us.signByHand)}); once per session per isolate, and per login or renewal |`,
    `| 1g | a cache-hit request's own work in workerd, without I/O (session cache, rules, headers for the origin) | ${f1(us.decide)} µs/request | ${((100 * us.decide) / (e2e.valid.p50 * 1000)).toFixed(2)}% of 3b's p50 latency |`,
    `| 1h | a single sign-on callback's own work in workerd, RS256 ID token (parse, JWK import + WebCrypto verify, claims, mapping, session mint; no provider I/O) | ${f1(us.ssoRs256)} µs/login | ${ratio(us.ssoRs256, FREE_PLAN_CPU_US)} of the Free plan's 10 ms CPU: ${mark(us.ssoRs256 <= FREE_PLAN_CPU_US)} |`,
    `| 1i | the same with an ES256 ID token | ${f1(us.ssoEs256)} µs/login | ${ratio(us.ssoEs256, FREE_PLAN_CPU_US)} of 10 ms: ${mark(us.ssoEs256 <= FREE_PLAN_CPU_US)} |`,
    `| 1j | a password login's own work in workerd: PBKDF2-SHA256, 100,000 iterations (WebCrypto) | ${f1(us.password)} µs/login | ${ratio(us.password, FREE_PLAN_CPU_US)} of 10 ms: ${mark(us.password <= FREE_PLAN_CPU_US)}; ${ratio(us.password, us.ssoRs256)} an RS256 SSO callback |`,
    `| 1k | a passkey sign-in's own work in workerd, ES256 (client and authenticator data, DER to r‖s, JWK import + WebCrypto verify, counter, session mint; no KV I/O) | ${f1(us.passkeyEs256)} µs/login | ${ratio(us.passkeyEs256, FREE_PLAN_CPU_US)} of 10 ms: ${mark(us.passkeyEs256 <= FREE_PLAN_CPU_US)} |`,
    `| 1l | the same with an Ed25519 passkey | ${f1(us.passkeyEdDsa)} µs/login | ${ratio(us.passkeyEdDsa, FREE_PLAN_CPU_US)} of 10 ms: ${mark(us.passkeyEdDsa <= FREE_PLAN_CPU_US)} |`,
    `| 1m | an external issuer's RS256 access token at first sight in workerd (parse, JWK import + WebCrypto verify, claims, mapping, assertion mint; no JWKS fetch); later requests are cache hits (1b) | ${f1(us.issuerRs256)} µs/token | ${ratio(us.issuerRs256, FREE_PLAN_CPU_US)} of 10 ms: ${mark(us.issuerRs256 <= FREE_PLAN_CPU_US)} |`,
    `| 1n | the same with an ES256 access token | ${f1(us.issuerEs256)} µs/token | ${ratio(us.issuerEs256, FREE_PLAN_CPU_US)} of 10 ms: ${mark(us.issuerEs256 <= FREE_PLAN_CPU_US)} |`,
    `| 1o | a service token's use in workerd (format, record, SHA-256 compared in constant time, assertion mint; no KV read), on every request | ${f1(us.serviceToken)} µs/request | ${ratio(us.serviceToken, FREE_PLAN_CPU_US)} of 10 ms: ${mark(us.serviceToken <= FREE_PLAN_CPU_US)} |`,
    `| 1p | the rules' decision per request in workerd (every reading of the path, conditions evaluated), 10 rules of every kind | ${f1(us.rules10)} µs/request | |`,
    `| 1q | the same with 100 rules | ${f1(us.rules100)} µs/request | ${ratio(us.rules100, us.rules10)} 1p |`,
    `| 1r | the same with 1,000 rules | ${f1(us.rules1000)} µs/request | ${ratio(us.rules1000, us.rules10)} 1p; ${ratio(us.rules1000, FREE_PLAN_CPU_US)} of 10 ms |`,
    `| 1s | a request-bound assertion per request in workerd (its claims with htm, htu, jti and a 60 s exp, and a WebCrypto sign; no cache can serve it) | ${f1(us.bound)} µs/request | ${ratio(us.bound, us.mint)} 1f's mint; paid on every request of a bound path, where a session-long assertion is paid once per session per isolate |`,
    `| 1t | finding the app by the request's host in workerd (parse the Host, exact hosts, then wildcards), 10 apps, the host matched by the last app's wildcard | ${f1(us.hosts10)} µs/request | |`,
    `| 1u | the same with 100 apps | ${f1(us.hosts100)} µs/request | ${ratio(us.hosts100, us.hosts10)} 1t; ${ratio(us.hosts100, FREE_PLAN_CPU_US)} of 10 ms |`,
    `| 2a | native mint (host, release) | ${Math.round(native.mint_per_s).toLocaleString('en')} /s | ${f1(1e6 / native.mint_per_s)} µs each |`,
    `| 2b | native verify (host, release) | ${Math.round(native.verify_per_s).toLocaleString('en')} /s | ${f1(1e6 / native.verify_per_s)} µs each; workerd first sight is ${ratio(us.first, 1e6 / native.verify_per_s)} native |`,
    `| 3a | end to end, pass-through JS worker → origin, the same request as 3b (${WRK_CONNECTIONS} connections, ${WRK_SECONDS} s, medians of ${ROUNDS} interleaved rounds) | ${Math.round(e2e.pass.rps)} req/s, p50 ${f2(e2e.pass.p50)} ms, p99 ${f2(e2e.pass.p99)} ms | baseline |`,
    `| 3a′ | end to end, as 3a, the pass-through also logging one audit-sized JSON line per request | ${Math.round(e2e.passLog.rps)} req/s, p50 ${f2(e2e.passLog.p50)} ms, p99 ${f2(e2e.passLog.p99)} ms | ${ratio(e2e.passLog.rps, e2e.pass.rps)} req/s of 3a: what one log line per request costs any worker under \`wrangler dev\` |`,
    `| 3b | end to end, edgeauth, valid session cookie → origin (defaults: one audit line per request) | ${Math.round(e2e.valid.rps)} req/s, p50 ${f2(e2e.valid.p50)} ms, p99 ${f2(e2e.valid.p99)} ms | ${ratio(e2e.valid.rps, e2e.pass.rps)} req/s of 3a (target ≥ 0.95×: ${mark(e2e.valid.rps >= 0.95 * e2e.pass.rps)}), ${ratio(e2e.valid.rps, e2e.passLog.rps)} of 3a′; ${ratio(e2e.valid.p99, e2e.pass.p99)} p99 (target ≤ 1.10×: ${mark(e2e.valid.p99 <= 1.1 * e2e.pass.p99)}) |`,
    `| 3b′ | end to end, as 3b with \`AUDIT_SAMPLE_ALLOWED=0\` (no per-request log line through wrangler dev) | ${Math.round(e2e.quiet.rps)} req/s, p50 ${f2(e2e.quiet.p50)} ms, p99 ${f2(e2e.quiet.p99)} ms | ${ratio(e2e.quiet.rps, e2e.pass.rps)} req/s; ${ratio(e2e.quiet.p99, e2e.pass.p99)} p99 (for diagnosis; the target is on 3b) |`,
    `| 3d | end to end, pair with the same logging: edgeauth (3b) vs the pass-through logging one line per request (3a′) | ${ratio(e2e.valid.rps, e2e.passLog.rps)} req/s (target ≥ 0.95×: ${mark(e2e.valid.rps >= 0.95 * e2e.passLog.rps)}); ${ratio(e2e.valid.p99, e2e.passLog.p99)} p99 (target ≤ 1.10×: ${mark(e2e.valid.p99 <= 1.1 * e2e.passLog.p99)}) | like for like |`,
    `| 3e | end to end, pair without logging: edgeauth with \`AUDIT_SAMPLE_ALLOWED=0\` (3b′) vs the plain pass-through (3a) | ${ratio(e2e.quiet.rps, e2e.pass.rps)} req/s (target ≥ 0.95×: ${mark(e2e.quiet.rps >= 0.95 * e2e.pass.rps)}); ${ratio(e2e.quiet.p99, e2e.pass.p99)} p99 (target ≤ 1.10×: ${mark(e2e.quiet.p99 <= 1.1 * e2e.pass.p99)}) | like for like |`,
    `| 3c | end to end, edgeauth refusing a bad token (401, origin not called) | ${Math.round(e2e.bad.rps)} req/s, p50 ${f2(e2e.bad.p50)} ms, p99 ${f2(e2e.bad.p99)} ms | ${ratio(e2e.bad.rps, e2e.pass.rps)} req/s of 3a |`,
    `| 4a | bundle: \`build/index_bg.wasm\` (production build) | ${bundle.raw.toLocaleString('en')} B raw, ${bundle.gzip.toLocaleString('en')} B gzip -9 | target ≤ 200,000 B gzip: ${mark(bundle.gzip <= 200_000)} |`,
    `| 4b | cold start of that wasm: \`WebAssembly.compile\` (V8 of node ${compiled.node}) + \`instantiate\` (in workerd) | ${Number.isNaN(coldMs.compile) ? `instantiate ${f2(coldMs.instantiate)} ms` : `${f2(coldMs.compile + coldMs.instantiate)} ms`} | compile ${Number.isNaN(coldMs.compile) ? 'not measurable here (workerd compiles at load and forbids run-time compiles; node 20\'s V8 lacks the wasm exception-handling opcode `try_table` this wasm uses)' : `${f2(coldMs.compile)} ms`} + instantiate ${f2(coldMs.instantiate)} ms |`,
    `| 5 | isolate memory, verified-session cache full (${memory.entries.toLocaleString('en')} entries, ~${Math.round(memory.cache_bytes / 1024).toLocaleString('en')} KiB estimated) | wasm memory ${(memory.memory_after / 2 ** 20).toFixed(1)} MiB (before filling: ${(memory.memory_before / 2 ** 20).toFixed(1)} MiB) | bounded by SESSION_CACHE_SIZE and ~32 MiB of entries |`,
    `| 5b | the verified-session cache asked for 100,000 sessions (\`SESSION_CACHE_SIZE=100000\`) | holds ${bigMemory.entries.toLocaleString('en')} (~${Math.round(bigMemory.cache_bytes / 1024).toLocaleString('en')} KiB estimated), wasm memory ${(bigMemory.memory_after / 2 ** 20).toFixed(1)} MiB; a hit when full ${f2(Math.min(...bigHits))} µs (through the Worker's verifier; 1b is the bare cache) | entries beyond the ~32 MiB byte bound are evicted, so memory stays bounded |`,
    `| 6a | revocation document, 10,000 entries (${Math.round(revocation[10000].bytes / 1024).toLocaleString('en')} KiB): an isolate's refresh (parse) / the parsed copy / the per-request check | ${revocation[10000].parse_ms} ms / ${Math.round(revocation[10000].memory_delta / 1024).toLocaleString('en')} KiB of wasm memory grown / ${f2(revocation[10000].check_us)} µs | once per REVOCATION_REFRESH_SECS per isolate / held / every request with a session |`,
    `| 6b | the same, 100,000 entries (${Math.round(revocation[100000].bytes / 1024).toLocaleString('en')} KiB) | ${revocation[100000].parse_ms} ms / ${Math.round(revocation[100000].memory_delta / 1024).toLocaleString('en')} KiB / ${f2(revocation[100000].check_us)} µs | check ${ratio(revocation[100000].check_us, revocation[10000].check_us)} 6a's (target flat, ≤ 1.5×: ${mark(revocation[100000].check_us <= 1.5 * Math.max(revocation[10000].check_us, 0.05))}); parse ${ratio(revocation[100000].parse_ms, Math.max(revocation[10000].parse_ms, 1))} |`,
    '',
    'Reproduce: `make bench` (knobs: `BENCH_ROUNDS`, `BENCH_WRK_SECONDS`, `BENCH_CONNECTIONS`, `BENCH_N_VERIFY`, `BENCH_N_HIT`, `BENCH_N_SSO`, `BENCH_N_PASSWORD`).',
  ];
  const table = rows.join('\n') + '\n';
  fs.mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, 'bench', 'results', 'latest.md'), table);
  const cold = coldMs.compile + coldMs.instantiate;
  fs.writeFileSync(path.join(ROOT, 'bench', 'results', 'ratios.svg'), ratioChart(when, [
    { row: '1a', what: 'first sight vs jose', ratio: us.first / us.jose, target: 1.0 },
    { row: '1a', what: 'first sight vs WebCrypto by hand', ratio: us.first / us.webcrypto, target: 1.15 },
    { row: '1b', what: 'cache hit vs jose', ratio: us.hit / us.jose, target: 0.05 },
    { row: '1e', what: 'first sight whole vs by hand', ratio: us.whole / us.wholeByHand, target: 1.1 },
    { row: '1f', what: 'mint vs WebCrypto sign by hand', ratio: us.mint / us.signByHand, target: 1.1 },
    { row: '3b', what: 'pass-through / edgeauth req/s', ratio: e2e.pass.rps / e2e.valid.rps, target: 1 / 0.95 },
    { row: '3b', what: 'p99 vs pass-through', ratio: e2e.valid.p99 / e2e.pass.p99, target: 1.1 },
    { row: '3d', what: 'logging pair: pass-through / edgeauth req/s', ratio: e2e.passLog.rps / e2e.valid.rps, target: 1 / 0.95 },
    { row: '3d', what: 'logging pair: p99', ratio: e2e.valid.p99 / e2e.passLog.p99, target: 1.1 },
    { row: '3e', what: 'quiet pair: pass-through / edgeauth req/s', ratio: e2e.pass.rps / e2e.quiet.rps, target: 1 / 0.95 },
    { row: '3e', what: 'quiet pair: p99', ratio: e2e.quiet.p99 / e2e.pass.p99, target: 1.1 },
    { row: '1s', what: 'request-bound assertion vs mint', ratio: us.bound / us.mint, target: 1.1 },
    { row: '4a', what: 'bundle gzip / 200 KB', ratio: bundle.gzip / 200_000, target: 1.0 },
    ...(Number.isNaN(cold) ? [] : [{ row: '4b', what: 'cold start / 5 ms', ratio: cold / 5, target: 1.0 }]),
  ]));
  fs.writeFileSync(
    path.join(ROOT, 'bench', 'results', 'latest.json'),
    JSON.stringify({ when, us, usMedian, samples, e2eSamples, coldMs, e2e, native, bundle, memory, bigMemory, bigHits, revocation }, null, 2),
  );
  process.stdout.write(table);
}

main().catch(async (e) => {
  console.error(`bench: FAILED: ${e.stack || e}`);
  await stopAll();
  process.exit(1);
});
