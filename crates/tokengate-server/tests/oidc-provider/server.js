// A real OpenID Connect provider (the certified `oidc-provider` package) on loopback, for
// tokengate's OIDC tests. Issuer http://127.0.0.1:PORT; PORT comes from the first argument or
// OIDC_PORT (0 or absent = any free port). Prints "listening PORT" once it answers.
//
// Clients (redirect URI from OIDC_REDIRECT_URI, secrets from the environment):
//   OIDC_CLIENT_ID / OIDC_CLIENT_SECRET              (default tokengate / tokengate-test-secret)
//   OIDC_OTHER_CLIENT_ID / OIDC_OTHER_CLIENT_SECRET  (default other-app / other-app-secret)
// Accounts: alice / alice-password (groups devs, tokengate-admins), bob / bob-password (devs).
// The login page is /interaction/UID: a form posting `login` and `password` to
// /interaction/UID/login. Consent is granted without a page (first-party clients).
// OIDC_CLAIMS_IN_USERINFO=1 keeps profile, e-mail and groups out of the ID token (userinfo
// only), as some providers do. Signing keys are made anew at every start.

import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';

const env = process.env;
const requestedPort = Number(process.argv[2] ?? env.OIDC_PORT ?? 0);
const redirectUri = env.OIDC_REDIRECT_URI ?? 'http://127.0.0.1:8700/tokengate/oidc/callback';

const accounts = {
  alice: {
    password: 'alice-password',
    claims: {
      preferred_username: 'alice',
      name: 'Alice Example',
      email: 'alice@example.com',
      email_verified: true,
      groups: ['devs', 'tokengate-admins'],
    },
  },
  bob: {
    password: 'bob-password',
    claims: {
      preferred_username: 'bob',
      name: 'Bob Example',
      email: 'bob@example.com',
      email_verified: true,
      groups: ['devs'],
    },
  },
};

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' };
}

function client(id, secret) {
  return {
    client_id: id,
    client_secret: secret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  };
}

function configuration() {
  return {
    clients: [
      client(env.OIDC_CLIENT_ID ?? 'tokengate', env.OIDC_CLIENT_SECRET ?? 'tokengate-test-secret'),
      client(env.OIDC_OTHER_CLIENT_ID ?? 'other-app', env.OIDC_OTHER_CLIENT_SECRET ?? 'other-app-secret'),
    ],
    jwks: { keys: [signingKey()] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    pkce: { required: () => true },
    scopes: ['openid', 'profile', 'email', 'groups'],
    claims: {
      openid: ['sub'],
      profile: ['preferred_username', 'name'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    conformIdTokenClaims: env.OIDC_CLAIMS_IN_USERINFO === '1',
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, id) {
      const account = accounts[id];
      if (!account) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, ...account.claims }) };
    },
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid profile email groups');
      await grant.save();
      return grant;
    },
  };
}

function loginPage(uid, problem) {
  const note = problem ? `<p id="problem">${problem}</p>` : '';
  return `<!doctype html><title>Sign in</title>${note}
<form method="post" action="/interaction/${uid}/login">
<input name="login"><input name="password" type="password"><button>Sign in</button></form>`;
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

async function interaction(provider, req, res, path) {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(loginPage(details.uid));
    return;
  }
  if (req.method !== 'POST' || !path.endsWith('/login')) {
    res.writeHead(405).end();
    return;
  }
  const form = await readForm(req);
  const account = accounts[form.get('login')];
  if (!account || account.password !== form.get('password')) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(loginPage(details.uid, 'Wrong user name or password.'));
    return;
  }
  await provider.interactionFinished(
    req, res, { login: { accountId: form.get('login') } }, { mergeWithLastSubmission: false },
  );
}

const server = http.createServer();
server.listen(requestedPort, '127.0.0.1', () => {
  const { port } = server.address();
  const provider = new Provider(`http://127.0.0.1:${port}`, configuration());
  const callback = provider.callback();
  server.on('request', (req, res) => {
    const path = new URL(req.url, 'http://127.0.0.1').pathname;
    if (!path.startsWith('/interaction/')) {
      callback(req, res);
      return;
    }
    interaction(provider, req, res, path).catch((error) => {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(`interaction failed: ${error.message}`);
    });
  });
  console.log(`listening ${port}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
