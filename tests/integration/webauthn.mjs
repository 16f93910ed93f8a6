// Passkey (WebAuthn) test helpers, two kinds of authenticator:
// - Chromium's virtual authenticator (DevTools protocol through Playwright), so the real browser
//   runs the ceremonies end to end;
// - a software authenticator in node (node:crypto for every key and signature), which builds the
//   JSON `PublicKeyCredential.toJSON()` gives, for the negative cases no browser can be made to
//   produce: a wrong rpIdHash, a cleared flag, an old counter, a flipped byte after signing.
// Everything binary in the JSON is base64url without padding, as browsers send it.
import crypto from 'node:crypto';
import { encode } from 'cbor2';

/** Authenticator data flags (WebAuthn §6.1). */
export const UP = 0x01; // user present
export const UV = 0x04; // user verified
export const BE = 0x08; // backup eligible
export const BS = 0x10; // backed up
export const AT = 0x40; // attested credential data included
export const ED = 0x80; // extension data included

/** COSE algorithm identifiers of the algorithms the software authenticator signs with. */
export const COSE_ALG = { ES256: -7, EdDSA: -8, RS256: -257 };

// ---------------------------------------------------------------------------------------------
// Chromium's virtual authenticator

/**
 * Adds a virtual platform authenticator (CTAP2, internal transport, resident keys) to `page`'s
 * browser context through the DevTools protocol. Presence is simulated, so ceremonies need no
 * click; `userVerified` is what it answers when asked for user verification.
 * Resolves to `{cdp, authenticatorId}`, the handle the other functions here take.
 */
export async function addVirtualAuthenticator(page, { userVerified = true, hasUserVerification = true } = {}) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification,
      isUserVerified: userVerified,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

/**
 * The credentials the virtual authenticator holds: each has credentialId (base64), privateKey
 * (base64 PKCS#8), rpId, userHandle (base64), signCount and isResidentCredential.
 */
export async function credentialsOf({ cdp, authenticatorId }) {
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  return credentials;
}

/** Makes the virtual authenticator pass (true) or fail (false) user verification from now on. */
export async function setUserVerified({ cdp, authenticatorId }, isUserVerified) {
  await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified });
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** base64url without padding, as WebAuthn's JSON forms carry binary. */
export function b64url(buf) {
  return Buffer.from(buf).toString('base64url');
}

/** Decodes base64url (padding tolerated); throws on anything else, so a bad encoding is loud. */
export function fromB64url(str) {
  if (typeof str !== 'string' || !/^[A-Za-z0-9_-]*={0,2}$/.test(str)) {
    throw new Error(`not base64url: ${JSON.stringify(str)}`);
  }
  return Buffer.from(str, 'base64url');
}

/** A plain Uint8Array view: cbor2 encodes a Buffer through its toJSON(), not as a byte string. */
function plainBytes(value) {
  if (value instanceof Uint8Array) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [plainBytes(k), plainBytes(v)]));
  if (Array.isArray(value)) return value.map(plainBytes);
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainBytes(v)]));
  }
  return value;
}

/**
 * CBOR in deterministic form (RFC 8949 §4.2: shortest lengths, keys sorted by their encoding;
 * for the small integer and short text keys WebAuthn uses this is also CTAP2's canonical order).
 * Buffers become byte strings. Returns a Buffer.
 */
export function cbor(value) {
  return Buffer.from(encode(plainBytes(value), { cde: true }));
}

const sha256 = (data) => crypto.createHash('sha256').update(data).digest();

// ---------------------------------------------------------------------------------------------
// Software authenticator

function coseAlgOf(alg) {
  const coseAlg = COSE_ALG[alg];
  if (coseAlg === undefined) throw new Error(`unsupported alg ${alg}: one of ${Object.keys(COSE_ALG).join(', ')}`);
  return coseAlg;
}

/** The WebAuthn alg of a node KeyObject (private or public), from its key type. */
function algOfKey(key) {
  const type = key.asymmetricKeyType;
  if (type === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  if (type === 'ed25519') return 'EdDSA';
  if (type === 'rsa') return 'RS256';
  throw new Error(`no WebAuthn alg for a ${type} key ${JSON.stringify(key.asymmetricKeyDetails ?? {})}`);
}

/**
 * A fresh credential: `{alg, coseAlg, privateKey, publicKey, credentialId}` with node KeyObjects
 * and a 32-byte random credential ID. 'ES256' is P-256, 'EdDSA' Ed25519, 'RS256' RSA-2048 with
 * e = 65537.
 */
export function softCredential({ alg = 'ES256' } = {}) {
  const coseAlg = coseAlgOf(alg);
  const { privateKey, publicKey } =
    alg === 'ES256'
      ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : alg === 'EdDSA'
        ? crypto.generateKeyPairSync('ed25519')
        : crypto.generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 });
  return { alg, coseAlg, privateKey, publicKey, credentialId: crypto.randomBytes(32) };
}

/**
 * The same shape as softCredential() built from one of credentialsOf()'s credentials, so node
 * can sign as the browser's passkey (e.g. a replayed or re-counted assertion). Also carries the
 * browser's rpId, userHandle (Buffer or null) and signCount.
 */
export function credentialFromChromium(cred) {
  const privateKey = crypto.createPrivateKey({ key: Buffer.from(cred.privateKey, 'base64'), format: 'der', type: 'pkcs8' });
  const alg = algOfKey(privateKey);
  return {
    alg,
    coseAlg: coseAlgOf(alg),
    privateKey,
    publicKey: crypto.createPublicKey(privateKey),
    credentialId: Buffer.from(cred.credentialId, 'base64'),
    rpId: cred.rpId,
    userHandle: cred.userHandle ? Buffer.from(cred.userHandle, 'base64') : null,
    signCount: cred.signCount,
  };
}

/**
 * The COSE_Key (RFC 9053) of `publicKey` as a deterministic CBOR map with integer labels:
 * EC2 {1:2, 3:-7, -1:1, -2:x, -3:y}, OKP {1:1, 3:-8, -1:6, -2:x}, RSA {1:3, 3:-257, -1:n, -2:e}.
 * `coseAlg` is written as label 3 whatever the key is, so a test can claim the wrong algorithm.
 */
export function coseKey(publicKey, coseAlg = COSE_ALG[algOfKey(publicKey)]) {
  const jwk = publicKey.export({ format: 'jwk' });
  const b = (field) => fromB64url(jwk[field]);
  let entries;
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') entries = [[1, 2], [3, coseAlg], [-1, 1], [-2, b('x')], [-3, b('y')]];
  else if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') entries = [[1, 1], [3, coseAlg], [-1, 6], [-2, b('x')]];
  else if (jwk.kty === 'RSA') entries = [[1, 3], [3, coseAlg], [-1, b('n')], [-2, b('e')]];
  else throw new Error(`no COSE_Key form for a ${jwk.kty} ${jwk.crv ?? ''} key`);
  return cbor(new Map(entries));
}

/**
 * Authenticator data (WebAuthn §6.1): SHA-256(rpId) ‖ flags ‖ signCount (u32 BE)
 * ‖ [aaguid (16) ‖ credentialId length (u16 BE) ‖ credentialId ‖ COSE_Key] ‖ [extensions].
 * The flags are written as given, whatever follows them, so a test can lie about AT or ED.
 * `coseKey` is the encoded COSE_Key; `extensions` a Buffer (written as is) or a value to encode.
 * `rpIdHash` (32 bytes) replaces SHA-256(rpId).
 */
export function authenticatorData({ rpId, rpIdHash, flags, signCount = 0, attestedCredential, extensions }) {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(signCount, 1);
  const parts = [rpIdHash ?? sha256(rpId), head];
  if (attestedCredential) {
    const { aaguid = Buffer.alloc(16), credentialId, coseKey: key } = attestedCredential;
    const length = Buffer.alloc(2);
    length.writeUInt16BE(credentialId.length);
    parts.push(aaguid, length, credentialId, key);
  }
  if (extensions !== undefined) parts.push(Buffer.isBuffer(extensions) ? extensions : cbor(extensions));
  return Buffer.concat(parts);
}

/**
 * collectedClientData as a browser serializes it (WebAuthn §5.8.1.1): type, challenge, origin,
 * crossOrigin in that order, then `topOrigin` when given, then `extra`'s members (e.g. the
 * "other_keys_can_be_added_here" Chromium sometimes adds). `challenge` is the base64url string
 * the relying party sent; `crossOrigin: null` leaves the member out, as old browsers did.
 */
export function clientDataJSON({ type, challenge, origin, crossOrigin = false, topOrigin, extra = {} }) {
  const data = { type, challenge, origin };
  if (crossOrigin !== null) data.crossOrigin = crossOrigin;
  if (topOrigin !== undefined) data.topOrigin = topOrigin;
  return Buffer.from(JSON.stringify({ ...data, ...extra }));
}

/**
 * The credential's signature over `data`: ES256 as ASN.1 DER (what WebAuthn carries, not the
 * raw r ‖ s of JOSE), EdDSA plain Ed25519, RS256 RSASSA-PKCS1-v1_5 with SHA-256.
 */
export function sign(cred, data) {
  if (cred.alg === 'ES256') return crypto.sign('sha256', data, { key: cred.privateKey, dsaEncoding: 'der' });
  if (cred.alg === 'EdDSA') return crypto.sign(null, data, cred.privateKey);
  if (cred.alg === 'RS256') return crypto.sign('sha256', data, { key: cred.privateKey, padding: crypto.constants.RSA_PKCS1_PADDING });
  throw new Error(`unsupported alg ${cred.alg}`);
}

/**
 * An `attStmt` for registrationResponse() giving "packed" self attestation (WebAuthn §8.2):
 * {alg, sig} with sig by the credential's own key over authData ‖ SHA-256(clientDataJSON).
 */
export function packedSelfAttestation(cred) {
  return (authData, clientDataHash) => ({ alg: cred.coseAlg, sig: sign(cred, Buffer.concat([authData, clientDataHash])) });
}

/**
 * What `PublicKeyCredential.toJSON()` gives after `navigator.credentials.create()` with `cred`.
 *
 * Defaults: a platform authenticator, "none" attestation, zero AAGUID, counter 0, no backup
 * flags (Chromium's virtual authenticator differs only in its AAGUID, 0102…0708, and counter 1).
 * Overrides for negative cases: `clientDataJSON` / `authenticatorData` Buffers replace the built
 * ones; `attestedCredential` replaces the attested credential data (null leaves it out),
 * `coseKey` just its key, `aaguid` just its AAGUID; `attStmt` may be a function
 * `(authData, clientDataHash) => attStmt` (see packedSelfAttestation()).
 * `tamper(parts)` runs last, on `{id, rawId, clientDataJSON, authenticatorData, fmt, attStmt}`:
 * it may flip bytes in place or reassign members, and may set `parts.attestationObject` to the
 * exact bytes to send instead of the encoding of fmt, attStmt and authenticatorData.
 */
export function registrationResponse(cred, {
  rpId,
  origin,
  challenge,
  flags = UP | UV | AT,
  signCount = 0,
  fmt = 'none',
  attStmt = {},
  transports = ['internal'],
  aaguid,
  coseKey: key = coseKey(cred.publicKey, cred.coseAlg),
  attestedCredential = { aaguid, credentialId: cred.credentialId, coseKey: key },
  extensions,
  clientDataJSON: clientData = clientDataJSON({ type: 'webauthn.create', challenge, origin }),
  authenticatorData: authData = authenticatorData({ rpId, flags, signCount, attestedCredential, extensions }),
  clientExtensionResults = {},
  authenticatorAttachment = 'platform',
  tamper,
} = {}) {
  const statement = typeof attStmt === 'function' ? attStmt(authData, sha256(clientData)) : attStmt;
  const parts = {
    id: b64url(cred.credentialId),
    rawId: Buffer.from(cred.credentialId),
    clientDataJSON: Buffer.from(clientData),
    authenticatorData: Buffer.from(authData),
    fmt,
    attStmt: statement,
  };
  tamper?.(parts);
  const attestationObject =
    parts.attestationObject ?? cbor(new Map([['fmt', parts.fmt], ['attStmt', parts.attStmt], ['authData', parts.authenticatorData]]));
  return {
    id: parts.id,
    rawId: b64url(parts.rawId),
    type: 'public-key',
    response: {
      clientDataJSON: b64url(parts.clientDataJSON),
      attestationObject: b64url(attestationObject),
      transports,
      // toJSON()'s conveniences, which a relying party must not trust over attestationObject.
      authenticatorData: b64url(parts.authenticatorData),
      publicKey: b64url(cred.publicKey.export({ format: 'der', type: 'spki' })),
      publicKeyAlgorithm: cred.coseAlg,
    },
    clientExtensionResults,
    authenticatorAttachment,
  };
}

/**
 * What `PublicKeyCredential.toJSON()` gives after `navigator.credentials.get()` with `cred`:
 * the signature is over authenticatorData ‖ SHA-256(clientDataJSON), in the form sign() gives.
 *
 * `signCount` defaults to `cred.signCount + 1` for a credential from Chromium, else 0.
 * `userHandle` null leaves it out, as toJSON() does. Overrides: `clientDataJSON` /
 * `authenticatorData` Buffers replace the built ones before signing (a validly signed lie);
 * `tamper(parts)` runs after signing, on `{id, rawId, clientDataJSON, authenticatorData,
 * signature, userHandle}`, to flip bytes in place or reassign members (a broken signature).
 */
export function assertionResponse(cred, {
  rpId,
  origin,
  challenge,
  flags = UP | UV,
  signCount = cred.signCount === undefined ? 0 : cred.signCount + 1,
  userHandle = cred.userHandle ?? null,
  type = 'webauthn.get',
  extensions,
  clientDataJSON: clientData = clientDataJSON({ type, challenge, origin }),
  authenticatorData: authData = authenticatorData({ rpId, flags, signCount, extensions }),
  clientExtensionResults = {},
  authenticatorAttachment = 'platform',
  tamper,
} = {}) {
  const parts = {
    id: b64url(cred.credentialId),
    rawId: Buffer.from(cred.credentialId),
    clientDataJSON: Buffer.from(clientData),
    authenticatorData: Buffer.from(authData),
    signature: sign(cred, Buffer.concat([authData, sha256(clientData)])),
    userHandle: userHandle === null ? null : Buffer.from(userHandle),
  };
  tamper?.(parts);
  const response = {
    clientDataJSON: b64url(parts.clientDataJSON),
    authenticatorData: b64url(parts.authenticatorData),
    signature: b64url(parts.signature),
  };
  if (parts.userHandle !== null && parts.userHandle !== undefined) response.userHandle = b64url(parts.userHandle);
  return {
    id: parts.id,
    rawId: b64url(parts.rawId),
    type: 'public-key',
    response,
    clientExtensionResults,
    authenticatorAttachment,
  };
}
