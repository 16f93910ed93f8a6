// Interop with JWT libraries nobody here wrote: tokens minted by our CLI verify with `jose` (npm)
// and PyJWT (PyPI) through our JWKS; a token minted by `jose` with our key verifies with ours;
// and every attack in tests/vectors/expect_fail.json, built in JavaScript, is refused by our CLI
// with exactly the reason the file names (so the JS and Rust builders agree).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SignJWT, createLocalJWKSet, importJWK, jwtVerify } from 'jose';
import { ROOT } from './harness.mjs';
import { loadExpectFail } from './expect_fail_vectors.mjs';

const BIN = process.env.EDGEAUTH_BIN ?? path.join(ROOT, 'target', 'debug', 'edgeauth');
const PYTHON = process.env.EDGEAUTH_PYTHON ?? 'python3';
const ISS = 'https://edgeauth.interop.test';
const AUD = 'interop';

if (!fs.existsSync(BIN)) {
  const built = spawnSync('cargo', ['build', '--quiet', '--locked', '--bin', 'edgeauth'], { cwd: ROOT, stdio: 'inherit' });
  assert.equal(built.status, 0, 'cargo build --bin edgeauth');
}

function edgeauth(args, input = '') {
  const run = spawnSync(BIN, args, { input, encoding: 'utf8' });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgeauth-interop-'));
const keyFile = path.join(dir, 'key.json');
const jwksFile = path.join(dir, 'jwks.json');
fs.writeFileSync(keyFile, edgeauth(['keygen']).stdout);
fs.writeFileSync(jwksFile, edgeauth(['jwks', keyFile]).stdout);
const jwks = JSON.parse(fs.readFileSync(jwksFile, 'utf8'));
const privateJwk = JSON.parse(fs.readFileSync(keyFile, 'utf8'));

function cliToken(extra = []) {
  const minted = edgeauth(['mint', '--key', keyFile, '--iss', ISS, '--aud', AUD, '--sub', 'alice', '--roles', 'user,ops', ...extra]);
  assert.equal(minted.code, 0, minted.stderr);
  return minted.stdout.trim();
}

function tamper(token) {
  const [h, p, s] = token.split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url'));
  claims.sub = 'admin';
  return `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
}

test('jose verifies a CLI-minted token through our JWKS, and refuses it tampered', async () => {
  const token = cliToken(['--name', 'Alice']);
  const keySet = createLocalJWKSet(jwks);
  const { payload, protectedHeader } = await jwtVerify(token, keySet, { algorithms: ['EdDSA'], issuer: ISS, audience: AUD });
  assert.equal(payload.sub, 'alice');
  assert.deepEqual(payload.roles, ['user', 'ops']);
  assert.equal(protectedHeader.kid, privateJwk.kid);
  await assert.rejects(jwtVerify(tamper(token), keySet, { algorithms: ['EdDSA'], issuer: ISS, audience: AUD }));
});

test('a token minted by jose with our key (EdDSA, our kid) verifies with ours', async () => {
  const key = await importJWK({ ...privateJwk }, 'EdDSA');
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ sid: 'am9zZS1taW50ZWQtc2Vzc2lvbg', auth_time: now, roles: ['reader'], team: 'blue' })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid: privateJwk.kid })
    .setIssuer(ISS).setAudience(AUD).setSubject('bob').setIssuedAt(now).setExpirationTime(now + 600)
    .sign(key);
  const verified = edgeauth(['verify', '--keys', jwksFile, '--iss', ISS, '--aud', AUD, token]);
  assert.equal(verified.code, 0, verified.stderr);
  const claims = JSON.parse(verified.stdout);
  assert.equal(claims.sub, 'bob');
  assert.deepEqual(claims.roles, ['reader']);
  assert.equal(claims.team, 'blue');
  const refused = edgeauth(['verify', '--keys', jwksFile, '--iss', ISS, '--aud', AUD, tamper(token)]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /bad signature/);
});

test('PyJWT verifies a CLI-minted token through our JWKS, and refuses it tampered', () => {
  const script = path.join(ROOT, 'tests', 'interop', 'pyjwt_verify.py');
  const token = cliToken();
  const ok = spawnSync(PYTHON, [script, jwksFile, ISS, AUD], { input: token, encoding: 'utf8' });
  assert.equal(ok.status, 0, `${ok.stdout}${ok.stderr}`);
  assert.equal(JSON.parse(ok.stdout).sub, 'alice');
  const bad = spawnSync(PYTHON, [script, jwksFile, ISS, AUD], { input: tamper(token), encoding: 'utf8' });
  assert.equal(bad.status, 1, `${bad.stdout}${bad.stderr}`);
  assert.match(bad.stdout, /refused: InvalidSignatureError/);
});

test('every expect-fail case built in JavaScript gets its named outcome from our CLI', () => {
  const vectors = loadExpectFail();
  const dirKeys = path.join(dir, 'vector-key.json');
  fs.writeFileSync(dirKeys, vectors.privateJwk());
  const { doc } = vectors;
  let refused = 0;
  for (const testCase of vectors.cases) {
    const token = vectors.build(testCase, doc.now);
    const run = edgeauth(
      ['verify', '--keys', dirKeys, '--iss', doc.issuer, '--aud', doc.audience, '--now', String(doc.now), '-'],
      token,
    );
    if (testCase.expect === 'ok') {
      assert.equal(run.code, 0, `${testCase.name}: ${run.stderr}`);
      continue;
    }
    const reason = testCase.detail ? `${testCase.expect}:${testCase.detail}` : testCase.expect;
    // The CLI strips exactly one trailing newline (a pipe's); the edge strips nothing.
    if (testCase.name === 'whitespace_trailing') continue;
    assert.equal(run.code, 1, `${testCase.name} was accepted`);
    assert.ok(run.stderr.includes(`(${reason})`), `${testCase.name}: expected ${reason}, got ${run.stderr}`);
    refused += 1;
  }
  assert.ok(refused >= 60, `${refused} refused`);
});
