// The comparison worker for `make bench` (scripts/bench.sh): plain JavaScript, no edgeauth code.
//
//   POST /__bench/webcrypto?n=N  body: token  — N × (split, base64url-decode, crypto.subtle.verify
//                                               Ed25519, JSON.parse claims, check exp): "by hand"
//   POST /__bench/jose?n=N       body: token  — N × jose.jwtVerify with the key imported once
//   POST /__bench/sign?n=N       body: token  — N × an assertion by hand: the claims restated
//                                               (JSON.stringify, base64url) and signed with
//                                               crypto.subtle.sign Ed25519, key imported once
//   POST /__bench/whole?n=N      body: token  — N × a first sight by hand: verify, then sign
//   POST /__bench/instantiate?n=N             — N × WebAssembly.instantiate of edgeauth's wasm module
//                                               (workerd compiles it at load and forbids compiling
//                                               wasm at run time; run.mjs times the compile in V8)
//   anything else                             — forwarded unchanged to ORIGIN_URL (pass-through);
//                                               with LOG_EACH set, one audit-sized JSON line is
//                                               logged per request first, as edgeauth does
//
// Vars: PUBLIC_JWK (the edge's public key), PRIVATE_JWK (its private key, for signing), ISSUER,
// AUDIENCE, ORIGIN_URL, LOG_EACH (optional).
import { importJWK, jwtVerify } from 'jose';
import edgeauthModule from './edgeauth.wasm';

let keys; // imported once per isolate, like edgeauth's keys

async function importKeys(env) {
  if (!keys) {
    const jwk = JSON.parse(env.PUBLIC_JWK);
    keys = {
      webcrypto: await crypto.subtle.importKey('jwk', jwk, { name: 'Ed25519' }, false, ['verify']),
      jose: await importJWK(jwk, 'EdDSA'),
      signing: env.PRIVATE_JWK
        ? await crypto.subtle.importKey('jwk', JSON.parse(env.PRIVATE_JWK), { name: 'Ed25519' }, false, ['sign'])
        : null,
    };
  }
  return keys;
}

function b64url(text) {
  const bin = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function verifyByHand(token, key, now) {
  const [h, p, s] = token.split('.');
  const header = JSON.parse(decoder.decode(b64url(h)));
  if (header.alg !== 'EdDSA') return false;
  const ok = await crypto.subtle.verify('Ed25519', key, b64url(s), encoder.encode(`${h}.${p}`));
  if (!ok) return false;
  const claims = JSON.parse(decoder.decode(b64url(p)));
  return claims.exp > now;
}

function b64urlEncode(bytes) {
  let bin = '';
  for (const byte of new Uint8Array(bytes)) bin += String.fromCharCode(byte);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** An assertion by hand: the token's claims for another audience, signed. */
async function signByHand(token, key) {
  const [h, p] = token.split('.');
  const claims = JSON.parse(decoder.decode(b64url(p)));
  claims.aud = 'origin';
  const input = `${h}.${b64urlEncode(encoder.encode(JSON.stringify(claims)))}`;
  const signature = await crypto.subtle.sign('Ed25519', key, encoder.encode(input));
  return `${input}.${b64urlEncode(signature)}`.length > 0;
}

async function timed(n, op) {
  let ok = 0;
  const start = Date.now();
  for (let i = 0; i < n; i++) if (await op()) ok++;
  const ms = Date.now() - start;
  return Response.json({ n, ms, us_per_op: (ms * 1000) / n, ok });
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const n = Math.max(1, Math.min(1e7, Number(url.searchParams.get('n')) || 1000));
    if (request.method === 'POST' && url.pathname.startsWith('/__bench/')) {
      const token = (await request.text()).trim();
      const k = await importKeys(env);
      const now = Math.floor(Date.now() / 1000);
      switch (url.pathname) {
        case '/__bench/webcrypto':
          return timed(n, () => verifyByHand(token, k.webcrypto, now));
        case '/__bench/sign':
          return timed(n, () => signByHand(token, k.signing));
        case '/__bench/whole':
          return timed(n, async () => (await verifyByHand(token, k.webcrypto, now)) && signByHand(token, k.signing));
        case '/__bench/jose':
          return timed(n, async () => {
            const { payload } = await jwtVerify(token, k.jose, {
              issuer: env.ISSUER,
              audience: env.AUDIENCE,
              algorithms: ['EdDSA', 'Ed25519'],
            });
            return Boolean(payload.sub);
          });
        case '/__bench/instantiate':
          return timed(n, async () => {
            const module = edgeauthModule;
            const imports = {};
            for (const { module: m, name, kind } of WebAssembly.Module.imports(module)) {
              imports[m] ??= {};
              imports[m][name] =
                kind === 'function'
                  ? () => {}
                  : kind === 'memory'
                    ? new WebAssembly.Memory({ initial: 17 })
                    : kind === 'tag'
                      ? WebAssembly.JSTag // wasm-bindgen's __wbindgen_jstag
                      : kind === 'table'
                        ? new WebAssembly.Table({ initial: 128, element: 'anyfunc' })
                        : new WebAssembly.Global({ value: 'i32', mutable: true }, 0);
            }
            await WebAssembly.instantiate(module, imports);
            return true;
          });
        default:
          return new Response('unknown bench route', { status: 404 });
      }
    }
    if (env.LOG_EACH) {
      console.log(
        JSON.stringify({
          event: 'allow',
          request_id: crypto.randomUUID().slice(0, 16),
          status: 200,
          method: request.method,
          ip: request.headers.get('cf-connecting-ip'),
          path: url.pathname,
          sub: 'user-8c1f2a',
          sid: 'q1w2e3r4t5y6u7i8o9p0aa',
          kid: 'n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg',
        }),
      );
    }
    const target = env.ORIGIN_URL + url.pathname + url.search;
    return fetch(new Request(target, request), { redirect: 'manual' });
  },
};
