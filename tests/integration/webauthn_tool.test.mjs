// Checks the passkey test helpers (webauthn.mjs) before any passkey test leans on them, by a path
// that shares nothing with them but node:crypto and the CBOR decoder: the attestation object is
// decoded and authenticator data split here by hand, the COSE_Key turned back into a JWK, and
// signatures checked with crypto.verify. Then the same against real Chromium: a passkey its
// virtual authenticator created, exported and rebuilt in node, must sign what the browser's own
// attestation says it holds, and the JSON must have the shape the browser's toJSON() gives.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { describe, test } from 'node:test';
import { decode } from 'cbor2';

import { CHROMIUM, launchBrowser } from './browser.mjs';
import {
  AT, BE, BS, ED, UP, UV,
  addVirtualAuthenticator, assertionResponse, authenticatorData, b64url, clientDataJSON, coseKey,
  credentialFromChromium, credentialsOf, fromB64url, packedSelfAttestation, registrationResponse,
  setUserVerified, softCredential,
} from './webauthn.mjs';

const RP_ID = 'example.com';
const ORIGIN = 'https://example.com';
const sha256 = (data) => crypto.createHash('sha256').update(data).digest();
const challenge = () => b64url(crypto.randomBytes(32));

/** Authenticator data split by hand (WebAuthn §6.1); the COSE_Key is whatever follows the ID. */
function parseAuthData(authData) {
  const data = Buffer.from(authData);
  const parsed = { rpIdHash: data.subarray(0, 32), flags: data[32], signCount: data.readUInt32BE(33) };
  if (parsed.flags & 0x40) {
    parsed.aaguid = data.subarray(37, 53);
    const length = data.readUInt16BE(53);
    parsed.credentialId = data.subarray(55, 55 + length);
    parsed.coseKeyBytes = data.subarray(55 + length);
    parsed.coseKey = decode(parsed.coseKeyBytes, { preferMap: true });
  } else {
    parsed.rest = data.subarray(37);
  }
  return parsed;
}

/** A COSE_Key (decoded, integer labels) as a public KeyObject, by way of its JWK (RFC 9053). */
function keyFromCose(cose) {
  const b = (label) => Buffer.from(cose.get(label)).toString('base64url');
  const kty = cose.get(1);
  let jwk;
  if (kty === 2) {
    assert.equal(cose.get(-1), 1, 'EC2 curve is P-256');
    jwk = { kty: 'EC', crv: 'P-256', x: b(-2), y: b(-3) };
  } else if (kty === 1) {
    assert.equal(cose.get(-1), 6, 'OKP curve is Ed25519');
    jwk = { kty: 'OKP', crv: 'Ed25519', x: b(-2) };
  } else if (kty === 3) {
    jwk = { kty: 'RSA', n: b(-1), e: b(-2) };
  } else {
    throw new Error(`unknown COSE kty ${kty}`);
  }
  return crypto.createPublicKey({ key: jwk, format: 'jwk' });
}

/** crypto.verify with the parameters WebAuthn fixes for each COSE algorithm. */
function verifyAssertion(coseAlg, publicKey, json) {
  const authData = fromB64url(json.response.authenticatorData);
  const signed = Buffer.concat([authData, sha256(fromB64url(json.response.clientDataJSON))]);
  const signature = fromB64url(json.response.signature);
  if (coseAlg === -7) return crypto.verify('sha256', signed, { key: publicKey, dsaEncoding: 'der' }, signature);
  if (coseAlg === -8) return crypto.verify(null, signed, publicKey, signature);
  if (coseAlg === -257) return crypto.verify('sha256', signed, { key: publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, signature);
  throw new Error(`unknown COSE alg ${coseAlg}`);
}

const spki = (key) => key.export({ format: 'der', type: 'spki' });
const B64URL = /^[A-Za-z0-9_-]+$/;

describe('software authenticator', () => {
  for (const [alg, coseAlg, kty, labels] of [
    ['ES256', -7, 2, [1, 3, -1, -2, -3]],
    ['EdDSA', -8, 1, [1, 3, -1, -2]],
    ['RS256', -257, 3, [1, 3, -1, -2]],
  ]) {
    test(`${alg}: registration decodes to what was claimed and an assertion verifies`, () => {
      const cred = softCredential({ alg });
      assert.equal(cred.coseAlg, coseAlg);
      assert.equal(cred.credentialId.length, 32);
      const created = challenge();
      const reg = registrationResponse(cred, { rpId: RP_ID, origin: ORIGIN, challenge: created });

      assert.equal(reg.type, 'public-key');
      assert.equal(reg.id, reg.rawId);
      assert.deepEqual(fromB64url(reg.rawId), cred.credentialId);
      assert.equal(reg.authenticatorAttachment, 'platform');
      assert.deepEqual(reg.clientExtensionResults, {});
      assert.deepEqual(reg.response.transports, ['internal']);
      for (const field of ['clientDataJSON', 'attestationObject', 'authenticatorData', 'publicKey']) {
        assert.match(reg.response[field], B64URL, `${field} is unpadded base64url`);
      }
      assert.equal(
        fromB64url(reg.response.clientDataJSON).toString(),
        `{"type":"webauthn.create","challenge":"${created}","origin":"${ORIGIN}","crossOrigin":false}`,
      );

      const attestation = decode(fromB64url(reg.response.attestationObject), { preferMap: true });
      assert.deepEqual([...attestation.keys()], ['fmt', 'attStmt', 'authData']);
      assert.equal(attestation.get('fmt'), 'none');
      assert.equal(attestation.get('attStmt').size, 0);
      const authData = parseAuthData(attestation.get('authData'));
      assert.deepEqual(Buffer.from(attestation.get('authData')), fromB64url(reg.response.authenticatorData));
      assert.deepEqual(authData.rpIdHash, sha256(RP_ID));
      assert.equal(authData.flags, UP | UV | AT);
      assert.equal(authData.signCount, 0);
      assert.deepEqual(authData.aaguid, Buffer.alloc(16));
      assert.deepEqual(authData.credentialId, cred.credentialId);
      assert.deepEqual([...authData.coseKey.keys()], labels, 'labels in canonical order');
      assert.equal(authData.coseKey.get(1), kty);
      assert.equal(authData.coseKey.get(3), coseAlg);
      if (alg === 'RS256') assert.deepEqual(Buffer.from(authData.coseKey.get(-2)), Buffer.from([1, 0, 1]));
      const publicKey = keyFromCose(authData.coseKey);
      assert.deepEqual(spki(publicKey), spki(cred.publicKey));
      assert.deepEqual(fromB64url(reg.response.publicKey), spki(cred.publicKey));
      assert.equal(reg.response.publicKeyAlgorithm, coseAlg);

      const userHandle = crypto.randomBytes(16);
      const asserted = challenge();
      const assertion = assertionResponse(cred, { rpId: RP_ID, origin: ORIGIN, challenge: asserted, signCount: 7, userHandle });
      assert.deepEqual(Object.keys(assertion.response).sort(), ['authenticatorData', 'clientDataJSON', 'signature', 'userHandle']);
      assert.deepEqual(fromB64url(assertion.response.userHandle), userHandle);
      assert.equal(
        fromB64url(assertion.response.clientDataJSON).toString(),
        `{"type":"webauthn.get","challenge":"${asserted}","origin":"${ORIGIN}","crossOrigin":false}`,
      );
      const signedData = parseAuthData(fromB64url(assertion.response.authenticatorData));
      assert.deepEqual(signedData.rpIdHash, sha256(RP_ID));
      assert.equal(signedData.flags, UP | UV);
      assert.equal(signedData.signCount, 7);
      assert.equal(signedData.rest.length, 0);
      assert.ok(verifyAssertion(coseAlg, publicKey, assertion), 'signature verifies');
      const signature = fromB64url(assertion.response.signature);
      if (alg === 'ES256') {
        assert.equal(signature[0], 0x30, 'ES256 signature is a DER SEQUENCE');
        assert.equal(signature[1], signature.length - 2, 'DER length covers the rest');
        const signed = Buffer.concat([
          fromB64url(assertion.response.authenticatorData),
          sha256(fromB64url(assertion.response.clientDataJSON)),
        ]);
        assert.ok(!crypto.verify('sha256', signed, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature), 'not raw r ‖ s');
      }
      if (alg === 'EdDSA') assert.equal(signature.length, 64);
      if (alg === 'RS256') assert.equal(signature.length, 256);
    });
  }

  test('tamper after signing breaks the signature; overrides before signing keep it valid', () => {
    const cred = softCredential();
    const publicKey = cred.publicKey;
    const base = { rpId: RP_ID, origin: ORIGIN, challenge: challenge(), userHandle: null };

    const plain = assertionResponse(cred, base);
    assert.equal(plain.response.userHandle, undefined, 'a null userHandle is left out, as toJSON() does');
    assert.ok(verifyAssertion(-7, publicKey, plain));

    const flipped = assertionResponse(cred, { ...base, tamper: (parts) => { parts.authenticatorData[32] ^= UV; } });
    assert.equal(parseAuthData(fromB64url(flipped.response.authenticatorData)).flags, UP);
    assert.ok(!verifyAssertion(-7, publicKey, flipped), 'a flag flipped after signing fails');

    const lie = authenticatorData({ rpId: 'evil.example', flags: UP, signCount: 1 });
    const signedLie = assertionResponse(cred, { ...base, authenticatorData: lie });
    assert.deepEqual(fromB64url(signedLie.response.authenticatorData), lie);
    assert.ok(verifyAssertion(-7, publicKey, signedLie), 'an override is signed as given');

    const wrongType = assertionResponse(cred, { ...base, type: 'webauthn.create' });
    assert.equal(JSON.parse(fromB64url(wrongType.response.clientDataJSON)).type, 'webauthn.create');
    assert.ok(verifyAssertion(-7, publicKey, wrongType));

    const other = softCredential();
    const swapped = registrationResponse(cred, { ...base, coseKey: coseKey(other.publicKey), tamper: (parts) => { parts.fmt = 'packed'; } });
    const attestation = decode(fromB64url(swapped.response.attestationObject), { preferMap: true });
    assert.equal(attestation.get('fmt'), 'packed');
    assert.deepEqual(spki(keyFromCose(parseAuthData(attestation.get('authData')).coseKey)), spki(other.publicKey));

    const raw = Buffer.from([0xa0]);
    const verbatim = registrationResponse(cred, { ...base, tamper: (parts) => { parts.attestationObject = raw; } });
    assert.deepEqual(fromB64url(verbatim.response.attestationObject), raw);
  });

  test('packed self attestation signs authData ‖ SHA-256(clientDataJSON)', () => {
    const cred = softCredential({ alg: 'EdDSA' });
    const reg = registrationResponse(cred, { rpId: RP_ID, origin: ORIGIN, challenge: challenge(), fmt: 'packed', attStmt: packedSelfAttestation(cred) });
    const attestation = decode(fromB64url(reg.response.attestationObject), { preferMap: true });
    const statement = attestation.get('attStmt');
    assert.equal(statement.get('alg'), -8);
    const signed = Buffer.concat([Buffer.from(attestation.get('authData')), sha256(fromB64url(reg.response.clientDataJSON))]);
    assert.ok(crypto.verify(null, signed, cred.publicKey, Buffer.from(statement.get('sig'))));
  });

  test('authenticatorData lays out flags, counter, attested credential and extensions', () => {
    assert.deepEqual([UP, UV, BE, BS, AT, ED], [0x01, 0x04, 0x08, 0x10, 0x40, 0x80]);
    const credentialId = Buffer.from('0123456789', 'hex').subarray(0, 5);
    const key = Buffer.from([0xa1, 0x01, 0x02]);
    const aaguid = Buffer.alloc(16, 0xaa);
    const data = authenticatorData({
      rpId: RP_ID, flags: UP | AT | ED, signCount: 0x01020304,
      attestedCredential: { aaguid, credentialId, coseKey: key }, extensions: new Map([['credProtect', 2]]),
    });
    assert.deepEqual(data.subarray(0, 32), sha256(RP_ID));
    assert.equal(data[32], 0xc1);
    assert.deepEqual(data.subarray(33, 37), Buffer.from([1, 2, 3, 4]));
    assert.deepEqual(data.subarray(37, 53), aaguid);
    assert.deepEqual(data.subarray(53, 55), Buffer.from([0, 5]));
    assert.deepEqual(data.subarray(55, 60), credentialId);
    assert.deepEqual(data.subarray(60, 63), key);
    assert.deepEqual(decode(data.subarray(63), { preferMap: true }), new Map([['credProtect', 2]]));
    assert.equal(authenticatorData({ rpId: RP_ID, flags: UP, signCount: 0xffffffff }).readUInt32BE(33), 0xffffffff);
  });

  test('clientDataJSON and base64url helpers', () => {
    assert.equal(
      clientDataJSON({ type: 'webauthn.get', challenge: 'abc', origin: ORIGIN, crossOrigin: true, topOrigin: 'https://top.example', extra: { x: 1 } }).toString(),
      `{"type":"webauthn.get","challenge":"abc","origin":"${ORIGIN}","crossOrigin":true,"topOrigin":"https://top.example","x":1}`,
    );
    assert.equal(clientDataJSON({ type: 'webauthn.get', challenge: 'abc', origin: ORIGIN, crossOrigin: null }).toString(),
      `{"type":"webauthn.get","challenge":"abc","origin":"${ORIGIN}"}`);
    const bytes = Buffer.from([0xfb, 0xff, 0xfe]);
    assert.equal(b64url(bytes), '-__-');
    assert.deepEqual(fromB64url('-__-'), bytes);
    assert.throws(() => fromB64url('+//+'), /not base64url/);
  });
});

/** A one-page site on loopback: `http://localhost:<port>/` is a secure context without TLS. */
async function servePage() {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><meta charset="utf-8"><title>passkeys</title><p>passkeys');
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    url: `http://localhost:${server.address().port}/`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

/** The key structure of a JSON value (objects' keys sorted, leaves as their type). */
function shape(value) {
  if (Array.isArray(value)) return value.map(shape);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((key) => [key, shape(value[key])]));
  }
  return typeof value;
}

describe('Chromium virtual authenticator', { skip: !fs.existsSync(CHROMIUM) && `${CHROMIUM} is missing` }, () => {
  test('a passkey exported from Chromium signs in node what its attestation holds', async (t) => {
    const site = await servePage();
    t.after(() => site.close());
    const browser = await launchBrowser();
    t.after(() => browser.close());
    const page = await browser.newPage();
    await page.goto(site.url);
    const origin = new URL(site.url).origin;
    const auth = await addVirtualAuthenticator(page);
    assert.equal(typeof auth.authenticatorId, 'string');

    const created = await page.evaluate(async () => {
      const credential = await navigator.credentials.create({
        publicKey: {
          rp: { id: 'localhost', name: 'x' },
          user: { id: new Uint8Array(16), name: 'alice', displayName: 'Alice' },
          challenge: new Uint8Array(32),
          pubKeyCredParams: [{ type: 'public-key', alg: -7 }],
          authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
          attestation: 'none',
        },
      });
      return credential.toJSON();
    });

    // The browser's attestation, read the independent way.
    const attestation = decode(fromB64url(created.response.attestationObject), { preferMap: true });
    assert.equal(attestation.get('fmt'), 'none');
    const authData = parseAuthData(attestation.get('authData'));
    assert.deepEqual(authData.rpIdHash, sha256('localhost'));
    assert.equal(authData.flags & (UP | UV | AT), UP | UV | AT);
    assert.equal(authData.coseKey.get(3), -7);
    const browserKey = keyFromCose(authData.coseKey);
    const browserClientData = fromB64url(created.response.clientDataJSON).toString();

    // Exported and rebuilt in node.
    const exported = await credentialsOf(auth);
    assert.equal(exported.length, 1);
    assert.equal(exported[0].rpId, 'localhost');
    assert.equal(exported[0].isResidentCredential, true);
    const cred = credentialFromChromium(exported[0]);
    assert.equal(cred.alg, 'ES256');
    assert.equal(cred.coseAlg, -7);
    assert.deepEqual(cred.credentialId, authData.credentialId);
    assert.deepEqual(cred.userHandle, Buffer.alloc(16));
    assert.deepEqual(spki(cred.publicKey), spki(browserKey));
    // Our COSE_Key encoding is byte for byte the browser's.
    assert.deepEqual(coseKey(cred.publicKey, cred.coseAlg), Buffer.from(authData.coseKeyBytes));

    // Our JSON has the browser's shape, and our clientDataJSON is the browser's (Chromium may
    // append a random member, so the browser's need only start with ours).
    const ours = registrationResponse(cred, { rpId: 'localhost', origin, challenge: b64url(Buffer.alloc(32)) });
    assert.deepEqual(shape(ours), shape(created));
    const ourClientData = fromB64url(ours.response.clientDataJSON).toString();
    assert.ok(browserClientData.startsWith(ourClientData.slice(0, -1)), `${browserClientData} starts like ${ourClientData}`);

    const assertion = assertionResponse(cred, { rpId: 'localhost', origin, challenge: challenge() });
    assert.equal(parseAuthData(fromB64url(assertion.response.authenticatorData)).signCount, exported[0].signCount + 1);
    assert.equal(fromB64url(assertion.response.signature)[0], 0x30);
    assert.ok(verifyAssertion(-7, browserKey, assertion), 'node-made assertion verifies with the browser-attested key');

    // The browser's own assertion, for shape and for setUserVerified().
    const get = (userVerification) =>
      page.evaluate(async (uv) => {
        const credential = await navigator.credentials.get({
          publicKey: { rpId: 'localhost', challenge: new Uint8Array(32).fill(1), userVerification: uv, timeout: 10_000 },
        });
        return credential.toJSON();
      }, userVerification);
    const browserAssertion = await get('required');
    assert.deepEqual(shape(assertion), shape(browserAssertion));
    assert.ok(verifyAssertion(-7, browserKey, browserAssertion));
    assert.ok(parseAuthData(fromB64url(browserAssertion.response.authenticatorData)).flags & UV);

    await setUserVerified(auth, false);
    await assert.rejects(get('required'), /NotAllowedError|not allowed/i);
    const unverified = await get('discouraged');
    assert.equal(parseAuthData(fromB64url(unverified.response.authenticatorData)).flags & UV, 0);
    assert.ok(verifyAssertion(-7, browserKey, unverified));
  });
});
