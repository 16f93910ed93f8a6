// The local OpenID Provider of `make dev` (dev only): the single sign-on tests' real
// oidc-provider (tests/integration/oidc_provider.mjs) on a loopback port the OS picks, with one
// user, `demo` / `demo-password`, and one client, the edge of `make dev`.
//
//   LOCAL_DEMO_CLIENT_SECRET=… node scripts/dev_provider.mjs EDGE_PORT CLIENT_ID
//
// registers CLIENT_ID with that secret and the redirect URI
// http://127.0.0.1:EDGE_PORT/auth/callback/local, prints one line on stdout,
// `ISSUER=http://127.0.0.1:<port>`, once it serves, and runs until it gets SIGINT or SIGTERM,
// or the process that started it is gone. Everything else it says goes to stderr.
import { startProvider } from '../tests/integration/oidc_provider.mjs';

/** The provider id in the edge's IDENTITY_PROVIDERS entry (scripts/dev.sh): its callback path. */
const PROVIDER_ID = 'local';
const DEMO_USER = {
  id: 'demo',
  password: 'demo-password',
  claims: { email: 'demo@example.com', email_verified: true, name: 'Demo User', groups: ['demo'] },
};

function usage(message) {
  console.error(`dev_provider: ${message}`);
  console.error('usage: LOCAL_DEMO_CLIENT_SECRET=<secret> node scripts/dev_provider.mjs EDGE_PORT CLIENT_ID');
  process.exit(2);
}

const [edgePort, clientId] = process.argv.slice(2);
if (!/^[0-9]{1,5}$/.test(edgePort ?? '') || Number(edgePort) < 1 || Number(edgePort) > 65535) {
  usage(`EDGE_PORT must be a port number, got ${JSON.stringify(edgePort)}`);
}
if (!clientId) usage('CLIENT_ID is missing');
const clientSecret = process.env.LOCAL_DEMO_CLIENT_SECRET;
if (!clientSecret) usage('LOCAL_DEMO_CLIENT_SECRET is not set');

const parent = process.ppid;
const provider = await startProvider({
  name: PROVIDER_ID,
  algs: ['RS256', 'ES256'],
  users: [DEMO_USER],
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [`http://127.0.0.1:${edgePort}/auth/callback/${PROVIDER_ID}`],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
});

let stopping = false;
async function stop(code) {
  if (stopping) return;
  stopping = true;
  await provider.close();
  process.exit(code);
}
process.once('SIGINT', () => stop(130));
process.once('SIGTERM', () => stop(143));
// Whoever reads the issuer line may close the pipe afterwards; nothing else is written there.
process.stdout.on('error', () => {});
// A `make dev` killed with SIGKILL cannot stop us: when the parent is gone we are re-parented,
// and leave too. A liveness check, not a synchronization; unref'd, it keeps nothing alive.
setInterval(() => {
  if (process.ppid !== parent) stop(0);
}, 1000).unref();

process.stdout.write(`ISSUER=${provider.issuer}\n`);
