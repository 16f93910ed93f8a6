// Integration harness: a real origin server on loopback and real `wrangler dev` (workerd)
// instances running the built worker. Every process it starts is in its own process group and
// is stopped by group, whatever the outcome: after the tests, on failure, on SIGINT/SIGTERM and
// at exit.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WRANGLER = path.join(ROOT, 'node_modules', '.bin', 'wrangler');
const LOG_DIR = path.join(ROOT, 'target', 'logs');
const HOST = '127.0.0.1';
/** How long a `wrangler dev` may take to answer its first /healthz (a bound, not a sleep). */
const READY_BOUND_MS = 90_000;
const POLL_EVERY_MS = 100;

const running = new Set();

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

process.on('exit', () => {
  for (const worker of running) killGroup(worker.pid, 'SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    for (const worker of running) killGroup(worker.pid, 'SIGKILL');
    process.exit(128 + os.constants.signals[signal]);
  });
}

/** A loopback port that was free a moment ago (nothing listens on it when this returns). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** The crate version from Cargo.toml's [package] table: what /healthz must report. */
export function crateVersion() {
  const toml = fs.readFileSync(path.join(ROOT, 'Cargo.toml'), 'utf8');
  const pkg = toml.split(/^\[/m).find((table) => table.startsWith('package]'));
  const match = pkg && pkg.match(/^version\s*=\s*"([^"]+)"/m);
  if (!match) throw new Error('no [package] version in Cargo.toml');
  return match[1];
}

/**
 * Starts the test origin: a node HTTP server on a free loopback port that answers every request
 * with JSON describing what it received (method, url, path, query, headers, body as base64).
 * `/respond?status=N&location=L&header=name:value` answers with that status (and Location and
 * each `header`) instead;
 * `/slow?ms=N` answers after N milliseconds.
 * `/huge-headers?kb=N` answers with one header of N KiB.
 * Every received request is also kept in `received`, in order. `port` (default: a free one)
 * lets a test stop the origin and start it again at the same address.
 */
export async function startOrigin({ port: listenPort = 0 } = {}) {
  const received = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url, `http://${req.headers.host ?? HOST}`);
      const seen = {
        method: req.method,
        url: req.url,
        path: url.pathname,
        query: url.search.slice(1),
        headers: req.headers,
        body_base64: Buffer.concat(chunks).toString('base64'),
      };
      received.push(seen);
      const headers = { 'content-type': 'application/json', 'x-test-origin': '1' };
      let status = 200;
      if (url.pathname === '/slow') {
        // Answers after ?ms= milliseconds: for the edge's origin timeout.
        const timer = setTimeout(() => {
          res.writeHead(200, headers);
          res.end(JSON.stringify(seen));
        }, Number(url.searchParams.get('ms') ?? 0));
        res.on('close', () => clearTimeout(timer));
        return;
      }
      if (url.pathname === '/huge-headers') {
        // One header of ?kb= KiB.
        headers['x-huge'] = 'h'.repeat(1024 * Number(url.searchParams.get('kb') ?? 1));
      }
      if (url.pathname === '/respond') {
        status = Number(url.searchParams.get('status') ?? 200);
        const location = url.searchParams.get('location');
        if (location) headers.location = location;
        for (const header of url.searchParams.getAll('header')) {
          const colon = header.indexOf(':');
          headers[header.slice(0, colon)] = header.slice(colon + 1);
        }
      }
      res.writeHead(status, headers);
      res.end(JSON.stringify(seen));
    });
  });
  // Node closes an idle keep-alive connection after 5 s; workerd may send the next request on
  // it as it closes (a 502 "Network connection lost" that no edge decision made). Kept far
  // longer than any test's pause between requests; close() ends them all.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, HOST, resolve);
  });
  const { port } = server.address();
  return {
    url: `http://${HOST}:${port}`,
    received,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The Worker's binding names, read from src/bindings.rs (the one list the Rust code uses). */
function bindingNames() {
  const source = fs.readFileSync(path.join(ROOT, 'src', 'bindings.rs'), 'utf8');
  return new Set([...source.matchAll(/^pub const [A-Z_]+: &str = "([A-Za-z_]+)";$/gm)].map((m) => m[1]));
}

/**
 * wrangler.toml without its `[build]` table, with its paths made relative to where it is written
 * (target/wrangler-test/): the tests run the bundle `make test` built, and a wrangler with no
 * build command has no source watcher to restart workerd mid-run (a restart raced its own port).
 * `without` names bindings (src/bindings.rs) whose block is left out, for fault tests.
 * Written atomically, so test files starting in parallel never read half a file.
 */
function unwatchedConfig(without = []) {
  const dir = path.join(ROOT, 'target', 'wrangler-test');
  const file = path.join(dir, without.length ? `wrangler-without-${without.join('-')}.toml` : 'wrangler.toml');
  const source = fs.readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8');
  const kept = [];
  let inBuild = false;
  for (const line of source.split('\n')) {
    if (/^\s*\[/.test(line)) inBuild = /^\s*\[build\]\s*$/.test(line);
    if (!inBuild) kept.push(line);
  }
  let text = kept
    .join('\n')
    .replace(/^main = "build\/index\.js"$/m, 'main = "../../build/index.js"')
    .replace(/^directory = "\.\/www"$/m, 'directory = "../../www"');
  if (/^\s*\[build\]/m.test(text) || !text.includes('"../../build/index.js"') || !text.includes('"../../www"')) {
    throw new Error('wrangler.toml changed shape: update unwatchedConfig() in tests/integration/harness.mjs');
  }
  const known = bindingNames();
  for (const binding of without) {
    if (!known.has(binding)) throw new Error(`${binding} is not a binding in src/bindings.rs`);
    const blocks = text.split('\n\n');
    const declares = (block) => new RegExp(`^(binding|name) = "${binding}"$`, 'm').test(block);
    if (blocks.filter(declares).length !== 1) throw new Error(`wrangler.toml does not declare ${binding} once`);
    text = blocks.filter((block) => !declares(block)).join('\n\n');
  }
  fs.mkdirSync(dir, { recursive: true });
  const partial = `${file}.${process.pid}`;
  fs.writeFileSync(partial, `# Generated by tests/integration/harness.mjs from wrangler.toml; do not edit.\n${text}`);
  fs.renameSync(partial, file);
  return file;
}

/**
 * A request as a browser's top-level navigation sends it: `Sec-Fetch-Mode: navigate` and
 * `Sec-Fetch-Dest: document` unless `headers` say otherwise (undefined leaves one out), and
 * `Accept: text/html`. Node's
 * `fetch` cannot send it (it always says `Sec-Fetch-Mode: cors`, as a script's request would),
 * so this goes through node:http, and resolves to a fetch `Response` (no redirect followed).
 */
export function navigate(url, { method = 'GET', headers = {} } = {}) {
  // A header set to undefined is left out (a client that does not send it).
  const sent = Object.fromEntries(
    Object.entries({ accept: 'text/html,application/xhtml+xml', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', ...headers })
      .filter(([, value]) => value !== undefined),
  );
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: sent, timeout: 15_000 }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => {
        const responseHeaders = new Headers();
        for (let i = 0; i < res.rawHeaders.length; i += 2) responseHeaders.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
        const body = method === 'HEAD' || [204, 304].includes(res.statusCode) ? null : Buffer.concat(chunks);
        resolve(new Response(body, { status: res.statusCode, headers: responseHeaders }));
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`navigate ${url}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** The requests `origin` (from startOrigin) received while `fn` ran. */
export async function receivedDuring(origin, fn) {
  const start = origin.received.length;
  await fn();
  return origin.received.slice(start);
}

async function isReady(url, readyStatus) {
  try {
    const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
    const body = await response.text();
    if (readyStatus === 200) return response.status === 200;
    // An error status is the edge's only with its own generic body (which names the request):
    // wrangler's proxy answers errors of its own while the worker is still loading.
    return response.status === readyStatus && /"request_id":"/.test(body);
  } catch {
    return false;
  }
}

/** The address `wrangler dev` logged as ready in `file`, or null while it has not. */
function readyUrl(file) {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const match = /Ready on (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
  return match ? match[1] : null;
}

function logTail(file, lines = 30) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Starts `wrangler dev` on a loopback port workerd picks itself (port 0, read back from its log)
 * with the already built worker, `vars` given as
 * `--var NAME:VALUE` (overriding wrangler.toml), and its own local state directory. Resolves
 * once /healthz answers 200; rejects with the log's tail if wrangler exits or the bound passes.
 * Its output goes to target/logs/wrangler-<name>.log. A worker expected to be misconfigured
 * passes `readyStatus: 500`: it is ready when /healthz answers that. `args` are extra arguments
 * for `wrangler dev`, e.g. `['-c', 'tests/integration/some.toml']` for another configuration;
 * `without` lists bindings the worker runs without (e.g. `['USERS']`), for fault tests.
 * `persistTo` names a state directory to use and keep (for restarts); by default each worker
 * has its own, removed when it stops.
 */
export async function startWorker({
  name,
  vars = {},
  readyStatus = 200,
  without = [],
  args: extraArgs = [],
  persistTo: keptState,
}) {
  // A caller's directory is the caller's: a restart (`kill()`, then a start with the same
  // `persistTo`) finds KV and Durable Object storage as the killed worker left them.
  const persistTo = keptState ?? fs.mkdtempSync(path.join(os.tmpdir(), `edgeauth-${name}-`));
  fs.mkdirSync(LOG_DIR, { recursive: true });
  const logFile = path.join(LOG_DIR, `wrangler-${name}.log`);
  const log = fs.openSync(logFile, 'w');
  const args = [
    'dev',
    '--ip', HOST,
    // Port 0: workerd binds a free port itself and wrangler logs it ("Ready on …"), so no port
    // is picked here first and raced for by a parallel start.
    '--port', '0',
    '--inspector-port', '0',
    '--persist-to', persistTo,
    '--show-interactive-dev-session=false',
    ...Object.entries(vars).flatMap(([key, value]) => ['--var', `${key}:${value}`]),
    ...(extraArgs.includes('-c') ? [] : ['-c', unwatchedConfig(without)]),
    ...extraArgs,
  ];
  const child = spawn(WRANGLER, args, {
    cwd: ROOT,
    detached: true, // its own process group, so stopping it also stops workerd
    stdio: ['ignore', log, log],
    env: {
      ...process.env,
      CI: 'true',
      WRANGLER_SEND_METRICS: 'false',
      CLOUDFLARE_CF_FETCH_ENABLED: 'false',
      WRANGLER_HIDE_BANNER: 'true',
    },
  });
  fs.closeSync(log);
  let exited = null;
  const exitedPromise = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
  });

  const worker = {
    name,
    pid: child.pid,
    url: null,
    logFile,
    persistTo,
    async stop() {
      if (!running.has(worker)) return;
      killGroup(child.pid, 'SIGTERM');
      let timer;
      const gone = await Promise.race([
        exitedPromise.then(() => true),
        new Promise((resolve) => {
          timer = setTimeout(resolve, 5_000, false);
        }),
      ]);
      clearTimeout(timer);
      // Whatever is left of the group (workerd), and the leader if it ignored SIGTERM.
      killGroup(child.pid, 'SIGKILL');
      if (!gone) await exitedPromise;
      running.delete(worker);
      if (!keptState) fs.rmSync(persistTo, { recursive: true, force: true });
    },
    /** SIGKILL to wrangler and workerd at once, as a crash: nothing is flushed or shut down. */
    async kill() {
      if (!running.has(worker)) return;
      killGroup(child.pid, 'SIGKILL');
      await exitedPromise;
      running.delete(worker);
    },
  };
  running.add(worker);

  const deadline = Date.now() + READY_BOUND_MS;
  while (!worker.url || !(await isReady(worker.url, readyStatus))) {
    worker.url ??= readyUrl(logFile);
    if (exited) {
      await worker.stop();
      throw new Error(
        `wrangler dev (${name}) exited (${JSON.stringify(exited)}) before it was ready; ` +
          `log ${logFile}:\n${logTail(logFile)}`,
      );
    }
    if (Date.now() > deadline) {
      await worker.stop();
      throw new Error(
        `wrangler dev (${name}) was not ready within ${READY_BOUND_MS / 1000}s; ` +
          `log ${logFile}:\n${logTail(logFile)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_EVERY_MS));
  }
  return worker;
}

/**
 * Writes `value` under `key` into `worker`'s local Workers KV binding (default `USERS`) with the
 * real `wrangler kv key put --local`; a running `wrangler dev` sees it at once.
 */
export function kvPut(worker, key, value, binding = 'USERS') {
  // One write at a time per worker: concurrent local writes can fail with a 500 from the store.
  const previous = kvQueues.get(worker.persistTo) ?? Promise.resolve();
  const next = previous.then(() => kvPutNow(worker, key, value, binding));
  kvQueues.set(worker.persistTo, next.catch(() => {}));
  return next;
}

const kvQueues = new Map();

/** Deletes `key` from `worker`'s local KV binding (default `USERS`), queued like kvPut. */
export function kvDelete(worker, key, binding = 'USERS') {
  const previous = kvQueues.get(worker.persistTo) ?? Promise.resolve();
  const next = previous.then(() => kvPutNow(worker, key, null, binding));
  kvQueues.set(worker.persistTo, next.catch(() => {}));
  return next;
}

/**
 * Runs `attempt` (a `wrangler kv … --local` call) again, up to 8 times, while it fails with a
 * 5xx of the local store. The CLI opens the same on-disk store that the running `wrangler dev`
 * writes to (its revocation writer, say), and one of two writers at once can be refused
 * ("KV DELETE failed: 500"). The calls are idempotent, and a caller counts its change as made
 * only when one returned, so a repeat changes no outcome.
 */
export async function withStoreRetries(attempt) {
  for (let tries = 1; ; tries += 1) {
    try {
      return await attempt();
    } catch (error) {
      if (tries >= 8 || !/failed: 5\d\d|SQLITE_BUSY|database is locked/.test(error.message)) throw error;
    }
  }
}

/** `wrangler kv key put` of `value`, or `wrangler kv key delete` when `value` is null. */
function kvPutNow(worker, key, value, binding) {
  return withStoreRetries(() => kvPutOnce(worker, key, value, binding));
}

function kvPutOnce(worker, key, value, binding) {
  // Asynchronous on purpose: blocking the event loop here would leave idle keep-alive sockets
  // that the server closed meanwhile looking alive to the next fetch.
  return new Promise((resolve, reject) => {
    const operation = value === null ? ['delete', key] : ['put', key, value];
    const child = spawn(
      WRANGLER,
      ['kv', 'key', operation[0], '--local', '--persist-to', worker.persistTo, '--binding', binding, ...operation.slice(1)],
      { cwd: ROOT, env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false' }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`wrangler kv key ${operation[0]} ${key}: ${stderr}`))));
  });
}

/**
 * Reads `key` from `worker`'s local KV namespace `binding` (null when missing). Queued behind
 * the same state directory's other `wrangler kv` calls: two at once on one directory can fail.
 */
export function kvGet(worker, key, binding = 'USERS') {
  const previous = kvQueues.get(worker.persistTo) ?? Promise.resolve();
  const next = previous.then(() => withStoreRetries(() => kvGetNow(worker, key, binding)));
  kvQueues.set(worker.persistTo, next.catch(() => {}));
  return next;
}

function kvGetNow(worker, key, binding) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      WRANGLER,
      ['kv', 'key', 'list', '--local', '--persist-to', worker.persistTo, '--binding', binding, '--prefix', key],
      { cwd: ROOT, env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false', WRANGLER_HIDE_BANNER: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    child.on('error', reject);
    // 'close', not 'exit': a process may exit before all of its output has been read.
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`wrangler kv key list ${key} failed: ${stderr}`));
      if (!JSON.parse(stdout).some((entry) => entry.name === key)) return resolve(null);
      const get = spawn(
        WRANGLER,
        ['kv', 'key', 'get', '--local', '--persist-to', worker.persistTo, '--binding', binding, key, '--text'],
        { cwd: ROOT, env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false', WRANGLER_HIDE_BANNER: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let value = '';
      let getErr = '';
      get.stdout.on('data', (chunk) => { value += chunk; });
      get.stderr.on('data', (chunk) => { getErr += chunk; });
      get.on('error', reject);
      get.on('close', (status) => (status === 0 ? resolve(value.trim()) : reject(new Error(`wrangler kv key get ${key} failed: ${getErr}`))));
    });
  });
}

/**
 * Waits until `worker`'s log matches `pattern` (wrangler writes request logs asynchronously,
 * after the response) and returns the log; rejects with its tail after `timeoutMs`.
 */
export async function waitForLog(worker, pattern, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const log = fs.readFileSync(worker.logFile, 'utf8');
    if (pattern.test(log)) return log;
    if (Date.now() > deadline) throw new Error(`log of ${worker.name} never matched ${pattern}:\n${logTail(worker.logFile)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Stops every worker this process started; safe to call more than once. */
export async function stopAll() {
  await Promise.all([...running].map((worker) => worker.stop()));
}

/**
 * Runs `fault()` while `lanes` loops keep sending traffic: each loop runs the checks in
 * `checks` (functions that send one request and assert its answer) in turn until `fault()` has
 * settled, then each check once more: the edge decided right throughout, and after. Resolves to `{ result, sent }`; the first failed check rejects it.
 */
export async function underLoad(checks, fault, { lanes = 8 } = {}) {
  let done = false;
  let sent = 0;
  const lane = async (offset) => {
    for (let i = offset; !done; i += 1) {
      await checks[i % checks.length]();
      sent += 1;
    }
    for (const check of checks) {
      await check();
      sent += 1;
    }
  };
  // A lane's failure is kept at once (and stops the others), never left unhandled until the
  // fault is over.
  let failure;
  const running = Array.from({ length: lanes }, (_, k) =>
    lane(k).catch((error) => {
      failure ??= error;
      done = true;
    }),
  );
  let result;
  try {
    result = await fault();
  } finally {
    done = true;
    await Promise.all(running);
  }
  if (failure) throw failure;
  return { result, sent };
}
