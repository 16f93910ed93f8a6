// Builds the tokens of tests/vectors/expect_fail.json in JavaScript, at a chosen `now`, exactly as
// tests/common/mod.rs does in Rust, so the same attacks run natively and against the edge.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './harness.mjs';

const b64url = (bytes) => Buffer.from(bytes).toString('base64url');
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
// L = 2^252 + 27742317777372353535851937790883648493, the Ed25519 group order.
const L = (1n << 252n) + 27742317777372353535851937790883648493n;

function privateKey(seedHex) {
  // PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410).
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(seedHex, 'hex')]);
  return crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}

function publicRaw(key) {
  const jwk = crypto.createPublicKey(key).export({ format: 'jwk' });
  return Buffer.from(jwk.x, 'base64url');
}

export function loadExpectFail() {
  const doc = JSON.parse(fs.readFileSync(path.join(ROOT, 'tests/vectors/expect_fail.json'), 'utf8'));
  const key = privateKey(doc.key_seed_hex);
  const other = privateKey(doc.other_key_seed_hex);
  const fill = (text, now) =>
    text.replace(/\{(now|now[+-]\d+|kid|other_kid|other_x|pad:\d+)\}/g, (_, name) => {
      if (name === 'now') return String(now);
      if (name === 'kid') return doc.kid;
      if (name === 'other_kid') return doc.other_kid;
      if (name === 'other_x') return doc.other_x;
      if (name.startsWith('pad:')) return 'x'.repeat(Number(name.slice(4)));
      const n = Number(name.slice(4));
      return String(name[3] === '+' ? now + n : now - n);
    });

  /** The token for `testCase` at Unix time `now`. */
  function build(testCase, now) {
    const header = fill(testCase.header, now);
    const payload = testCase.payload_hex
      ? Buffer.from(testCase.payload_hex, 'hex')
      : Buffer.from(fill(testCase.payload, now));
    const signingInput = `${b64url(Buffer.from(header))}.${b64url(payload)}`;
    let signature;
    switch (testCase.sign) {
      case 'key': signature = crypto.sign(null, Buffer.from(signingInput), key); break;
      case 'other_key': signature = crypto.sign(null, Buffer.from(signingInput), other); break;
      case 'none': signature = Buffer.alloc(0); break;
      case 'zeros': signature = Buffer.alloc(64); break;
      case 'hs256_public_key':
        signature = crypto.createHmac('sha256', publicRaw(key)).update(signingInput).digest();
        break;
      default: throw new Error(`unknown signing mode ${testCase.sign}`);
    }
    signature = Buffer.from(signature);
    const mutations = testCase.mutate ?? [];
    for (const m of mutations) {
      if (m === 'flip_signature_bit') signature[0] ^= 1;
      if (m === 's_plus_l') {
        let s = 0n;
        for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(signature[i]);
        s = (s + L) & ((1n << 256n) - 1n);
        for (let i = 32; i < 64; i++) { signature[i] = Number(s & 0xffn); s >>= 8n; }
      }
      if (m === 'truncate_signature') signature = signature.subarray(0, signature.length - 1);
      if (m === 'extend_signature') signature = Buffer.concat([signature, Buffer.alloc(1)]);
    }
    let [headerB64, payloadB64] = signingInput.split('.');
    let suffix = `.${b64url(signature)}`;
    let prefix = '';
    for (const m of mutations) {
      if (m.startsWith('swap_payload:')) payloadB64 = b64url(Buffer.from(fill(m.slice('swap_payload:'.length), now)));
      else if (m === 'pad_signature') suffix += '==';
      else if (m === 'pad_header') headerB64 += '=';
      else if (m === 'trailing_bits') {
        const last = suffix.at(-1);
        suffix = suffix.slice(0, -1) + ALPHABET[ALPHABET.indexOf(last) | 0x0f];
      } else if (m === 'star_in_payload') payloadB64 = `*${payloadB64.slice(1)}`;
      else if (m === 'drop_signature') suffix = '';
      else if (m === 'append_segment') suffix += '.AAAA';
      else if (m === 'empty_header') headerB64 = '';
      else if (m === 'empty_payload') payloadB64 = '';
      else if (m === 'leading_space') prefix += ' ';
    }
    let token = `${prefix}${headerB64}.${payloadB64}${suffix}`;
    if (mutations.includes('standard_alphabet')) token = token.replaceAll('-', '+').replaceAll('_', '/');
    if (mutations.includes('trailing_newline')) token += '\n';
    return token;
  }

  return { doc, cases: doc.cases, build, privateJwk: () => privateJwk(doc, key) };
}

/** The trusted test-only key as a private JWK (for the worker under test). */
function privateJwk(doc, key) {
  const jwk = key.export({ format: 'jwk' });
  return JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d, kid: doc.kid });
}
