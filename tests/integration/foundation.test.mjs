// The foundation's worker under real `wrangler dev`: /healthz, forwarding to a real origin, the
// built-in demo origin, and an unreachable origin.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { crateVersion, freePort, startOrigin, startWorker, stopAll } from './harness.mjs';

const FORWARDED_HEADER = 'x-edgeauth-forwarded';
/** A bound on each request, so a hang fails the test instead of stalling the run. */
const request = (url, init = {}) => fetch(url, { signal: AbortSignal.timeout(15_000), ...init });

let origin;
let live; // ORIGIN_URL = the test origin
let demo; // ORIGIN_URL unset: the built-in demo origin
let down; // ORIGIN_URL = a loopback port nothing listens on

before(async () => {
  origin = await startOrigin();
  const deadPort = await freePort();
  // Three instances in parallel: startup dominates the suite's time.
  [live, demo, down] = await Promise.all([
    startWorker({ name: 'live', vars: { ORIGIN_URL: origin.url } }),
    startWorker({ name: 'demo' }),
    startWorker({ name: 'down', vars: { ORIGIN_URL: `http://127.0.0.1:${deadPort}` } }),
  ]);
});

after(async () => {
  await stopAll();
  await origin?.close();
});

describe('the edge itself', () => {
  test('GET /healthz answers 200 JSON with the crate version, without reaching the origin', async () => {
    const before = origin.received.length;
    const response = await request(`${live.url}/healthz`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type'), /^application\/json/);
    assert.deepEqual(await response.json(), { status: 'ok', version: crateVersion() });
    assert.equal(origin.received.length, before, 'the origin saw /healthz');
  });
});

describe('forwarding to the configured origin', () => {
  test('a GET arrives with method, path, query and headers intact, plus the forwarded header', async () => {
    const path = '/api/items/42';
    const query = 'sort=desc&tag=a%20b&tag=c&empty=';
    const response = await request(`${live.url}${path}?${query}`, {
      headers: { 'x-client-note': 'hello edge', accept: 'application/json', [FORWARDED_HEADER]: 'spoofed' },
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-test-origin'), '1', 'the origin response headers came back');
    const seen = await response.json();
    assert.equal(seen.method, 'GET');
    assert.equal(seen.path, path);
    assert.equal(seen.query, query);
    assert.equal(seen.headers['x-client-note'], 'hello edge');
    assert.equal(seen.headers.accept, 'application/json');
    assert.equal(seen.headers[FORWARDED_HEADER], '1', 'the edge sets its header, whatever the client sent');
    assert.equal(seen.headers.host, new URL(origin.url).host);
    assert.equal(seen.body_base64, '');
  });

  test('a POST body arrives byte for byte with its content type', async () => {
    const body = JSON.stringify({ user: 'ada', note: 'ünïcödé ✓', n: [1, 2, 3] });
    const response = await request(`${live.url}/submit?draft=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body,
    });
    assert.equal(response.status, 200);
    const seen = await response.json();
    assert.equal(seen.method, 'POST');
    assert.equal(seen.path, '/submit');
    assert.equal(seen.query, 'draft=1');
    assert.equal(seen.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(seen.headers[FORWARDED_HEADER], '1');
    assert.equal(Buffer.from(seen.body_base64, 'base64').toString('utf8'), body);
  });

  test('a binary PUT body arrives unchanged', async () => {
    const body = Buffer.alloc(70_000);
    for (let i = 0; i < body.length; i += 1) body[i] = (i * 31 + 7) % 256;
    const response = await request(`${live.url}/blobs/1`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body,
    });
    assert.equal(response.status, 200);
    const seen = await response.json();
    assert.equal(seen.method, 'PUT');
    assert.ok(Buffer.from(seen.body_base64, 'base64').equals(body), 'the body changed on the way');
  });

  test("the origin's status and headers come back as they were; redirects are not followed", async () => {
    const response = await request(`${live.url}/respond?status=302&location=/elsewhere`, {
      redirect: 'manual',
    });
    assert.equal(response.status, 302);
    assert.equal(response.headers.get('location'), '/elsewhere');
    assert.equal(response.headers.get('x-test-origin'), '1');
    await response.arrayBuffer();

    const notFound = await request(`${live.url}/respond?status=404`);
    assert.equal(notFound.status, 404);
    await notFound.arrayBuffer();
  });
});

describe('the built-in demo origin (ORIGIN_URL empty)', () => {
  test('answers with JSON describing the request it received, forwarded header included', async () => {
    const response = await request(`${demo.url}/hello/world?name=edge&x=1`, {
      headers: { 'x-client-note': 'demo' },
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-edgeauth-demo-origin'), '1');
    const seen = await response.json();
    assert.equal(seen.origin, 'edgeauth built-in demo origin');
    assert.equal(seen.method, 'GET');
    assert.equal(seen.path, '/hello/world');
    assert.equal(seen.query, 'name=edge&x=1');
    assert.equal(seen.headers['x-client-note'], 'demo');
    assert.equal(seen.headers[FORWARDED_HEADER], '1');
  });

  test('sees the method and body size of a POST', async () => {
    const response = await request(`${demo.url}/form`, { method: 'POST', body: 'a=1&b=2' });
    assert.equal(response.status, 200);
    const seen = await response.json();
    assert.equal(seen.method, 'POST');
    assert.equal(seen.query, null);
    assert.equal(seen.body_bytes, 7);
  });

  test('/healthz still answers from the edge', async () => {
    const response = await request(`${demo.url}/healthz`);
    assert.equal(response.status, 200);
    assert.equal((await response.json()).version, crateVersion());
  });
});

describe('an unreachable origin', () => {
  test('gives 502 with a generic JSON body that names no address', async () => {
    const response = await request(`${down.url}/anything?x=1`);
    assert.equal(response.status, 502);
    assert.match(response.headers.get('content-type'), /^application\/json/);
    const text = await response.text();
    assert.deepEqual(JSON.parse(text), {
      error: 'bad_gateway',
      message: 'The origin could not be reached.',
    });
    assert.doesNotMatch(text, /127\.0\.0\.1|localhost|:\d{2,5}/);
  });
});
