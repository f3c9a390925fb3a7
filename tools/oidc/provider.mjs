// The local stack's OpenID provider: oidc-provider 9.13.2 (OpenID Certified), configured from a
// JSON file the harness writes (harness/infra/oidc.py):
//   { issuer, host, port, audience, access_token_ttl_s, scopes: [..],
//     jwks: { keys: [private JWKs, the first signs] },
//     clients: [{ client_id, client_secret, scope }] }
// Service accounts get access tokens by the client-credentials grant; the tokens are JWTs
// (RFC 9068: typ at+jwt) for the one resource server, the ALT_LAS API (`audience`).
// Keys rotate by restarting with a new key set (the new key first, the old one still listed).
import { readFileSync } from 'node:fs';
import Provider, { errors } from 'oidc-provider';

const conf = JSON.parse(readFileSync(process.argv[2], 'utf8'));

const provider = new Provider(conf.issuer, {
  jwks: conf.jwks,
  scopes: conf.scopes,
  clients: conf.clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    scope: c.scope,
    token_endpoint_auth_method: 'client_secret_basic',
  })),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => conf.audience,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resource) => {
        if (resource !== conf.audience) throw new errors.InvalidTarget();
        return {
          scope: conf.scopes.join(' '),
          audience: conf.audience,
          accessTokenTTL: conf.access_token_ttl_s,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
});
provider.proxy = false;

const server = provider.listen(conf.port, conf.host, () => {
  console.log(JSON.stringify({ msg: 'oidc provider listening', issuer: conf.issuer, kids: conf.jwks.keys.map((k) => k.kid) }));
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
