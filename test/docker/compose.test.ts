/**
 * docker/ cannot run here (no Docker in the tests or CI), so its files are checked against each
 * other and against the example they run: compose.yml's environment is read by the example's own
 * `optionsFromEnv()`, the example app is built from it, and the realm (docker/keycloak/realm.json)
 * must register exactly the URLs that app's provider uses, the client id and secret it is given,
 * and the roles its pages require. docker/README.md must name the commands, URLs and users.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { parse } from 'yaml';

import { ADMIN_ROLE, CLIENT_ROLE, createKeycloakApp, optionsFromEnv, type KeycloakAppOptions } from '../../examples/keycloak/app.js';
import { redisUrl } from '../support/redis.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const docker = `${root}docker/`;
const read = (path: string) => readFileSync(path, 'utf8');

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string | string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: string[] | Record<string, unknown>;
}
interface Realm {
  realm: string;
  roles: { realm: Array<{ name: string }>; client: Record<string, Array<{ name: string }>> };
  clients: Array<{
    clientId: string;
    enabled: boolean;
    publicClient: boolean;
    secret: string;
    standardFlowEnabled: boolean;
    redirectUris: string[];
    frontchannelLogout: boolean;
    attributes: Record<string, string>;
  }>;
  users: Array<{
    username: string;
    enabled: boolean;
    email?: string;
    firstName?: string;
    lastName?: string;
    credentials: Array<{ type: string; value: string; temporary?: boolean }>;
    realmRoles?: string[];
    clientRoles?: Record<string, string[]>;
  }>;
}

const compose = parse(read(`${docker}compose.yml`)) as { services: Record<string, Service> };
const realm = JSON.parse(read(`${docker}keycloak/realm.json`)) as Realm;
const services = compose.services;

/** The service built from docker/Dockerfile (the example app) and its name in the Compose network. */
const [appName, app] = Object.entries(services).find(([, s]) => s.build?.dockerfile === 'docker/Dockerfile') ?? assert.fail('no service is built from docker/Dockerfile');
const env = app.environment ?? {};

/** `"host:container"` port mappings of a service, as numbers. */
const published = (service: Service) =>
  (service.ports ?? []).map((p) => {
    const [host, container] = String(p).split(':').map(Number);
    return { host, container };
  });
const portOf = (url: string) => Number(new URL(url).port || (new URL(url).protocol === 'https:' ? 443 : 80));
const dependsOn = (service: Service) => (Array.isArray(service.depends_on) ? service.depends_on : Object.keys(service.depends_on ?? {}));

describe('docker/: compose.yml, realm.json and examples/keycloak agree', () => {
  let options: KeycloakAppOptions;
  let example: ReturnType<typeof createKeycloakApp>;

  before(() => {
    // The example reads the very variables compose.yml sets (it throws on a missing one).
    options = optionsFromEnv(env);
    // Built as in the container (discovery is lazy: no Keycloak needed), sessions on the test Redis.
    example = createKeycloakApp({ ...options, redisUrl: redisUrl() });
  });
  after(() => example?.close());

  test('the app service builds docker/Dockerfile, which runs examples/keycloak on node 20', () => {
    assert.equal(app.build!.context, '..');
    const dockerfile = read(`${docker}Dockerfile`);
    assert.match(dockerfile, /^FROM node:20\b/m);
    assert.match(dockerfile, /^RUN npm ci\b/m);
    const cmd = /^CMD (.*)$/m.exec(dockerfile)?.[1];
    assert.ok(cmd?.includes('examples/keycloak/main.ts'), `CMD ${cmd}`);
    assert.ok(existsSync(`${root}examples/keycloak/main.ts`));
    for (const [, source] of dockerfile.matchAll(/^COPY (\S+(?: \S+)*) \S+$/gm)) {
      for (const path of source!.split(' ')) assert.ok(existsSync(`${root}${path}`), `COPY ${path}`);
    }
  });

  test('the app listens on all interfaces at PORT, published at BASE_URL\'s port', () => {
    assert.equal(env.HOST, '0.0.0.0');
    assert.deepEqual(published(app), [{ host: portOf(options.baseUrl), container: Number(env.PORT) }]);
    assert.equal(new URL(options.baseUrl).hostname, 'localhost');
  });

  test('REDIS_URL and KEYCLOAK_INTERNAL_URL name the redis and keycloak services', () => {
    const redis = new URL(options.redisUrl!);
    assert.match(services[redis.hostname]?.image ?? '', /^redis:/);
    assert.equal(Number(redis.port || 6379), 6379, 'Redis\'s own port in the network');
    const internal = new URL(options.internalUrl!);
    const keycloak = services[internal.hostname];
    assert.ok(keycloak, `a service named ${internal.hostname}`);
    assert.ok(published(keycloak).some((p) => p.container === Number(internal.port)), 'Keycloak listens on that port');
    assert.deepEqual(dependsOn(app).sort(), [internal.hostname, redis.hostname].sort());
  });

  test('Keycloak: a pinned image in dev mode, importing realm.json, named after KEYCLOAK_URL', () => {
    const keycloak = services[new URL(options.internalUrl!).hostname]!;
    assert.match(keycloak.image!, /^quay\.io\/keycloak\/keycloak:\d+\.\d+/);
    const command = Array.isArray(keycloak.command) ? keycloak.command : keycloak.command!.split(/\s+/);
    assert.deepEqual(command, ['start-dev', '--import-realm']);
    const mount = keycloak.volumes?.find((v) => v.startsWith('./keycloak/realm.json:'));
    assert.match(mount ?? '', /^\.\/keycloak\/realm\.json:\/opt\/keycloak\/data\/import\/[^/:]+\.json(:ro)?$/);
    const kcEnv = keycloak.environment ?? {};
    // Browsers and tokens use KEYCLOAK_URL; the app's back channel goes to the internal URL.
    assert.equal(kcEnv.KC_HOSTNAME, options.keycloakUrl);
    assert.equal(String(kcEnv.KC_HOSTNAME_BACKCHANNEL_DYNAMIC), 'true');
    assert.ok(kcEnv.KC_BOOTSTRAP_ADMIN_USERNAME && kcEnv.KC_BOOTSTRAP_ADMIN_PASSWORD);
    assert.ok(published(keycloak).some((p) => p.host === portOf(options.keycloakUrl) && p.container === 8080));
  });

  test('the example\'s provider: the realm\'s issuer, discovery at the internal URL', () => {
    assert.equal(realm.realm, options.realm);
    const o = example.keycloak.options;
    assert.equal(o.issuer, `${options.keycloakUrl}/realms/${realm.realm}`);
    assert.equal(o.configuration, `${options.internalUrl}/realms/${realm.realm}/.well-known/openid-configuration`);
    assert.equal(o.clientId, options.clientId);
  });

  test('realm.json registers the example\'s client: secret, redirect, post-logout and back-channel logout URIs', () => {
    const o = example.keycloak.options;
    const clients = realm.clients.filter((c) => c.clientId === options.clientId);
    assert.equal(clients.length, 1, `one client ${options.clientId}`);
    const client = clients[0]!;
    assert.equal(client.enabled, true);
    assert.equal(client.publicClient, false);
    assert.equal(client.secret, options.clientSecret);
    assert.equal(client.standardFlowEnabled, true);
    assert.deepEqual(client.redirectUris, [`${options.baseUrl}${o.routeAuth}`]);
    assert.equal(client.attributes['post.logout.redirect.uris'], `${options.baseUrl}${o.routeLoggedOut}`);
    // Keycloak posts from inside the Compose network: the app's service name and container port.
    assert.equal(client.attributes['backchannel.logout.url'], `http://${appName}:${env.PORT}${o.routeBackchannelLogout}`);
    assert.equal(client.attributes['backchannel.logout.session.required'], 'true');
    assert.equal(client.frontchannelLogout, false);
  });

  test('realm.json has the roles the pages require, a user with both and a user with neither', () => {
    assert.ok(realm.roles.realm.some((r) => r.name === ADMIN_ROLE), `realm role ${ADMIN_ROLE}`);
    assert.ok(realm.roles.client[options.clientId]?.some((r) => r.name === CLIENT_ROLE), `client role ${CLIENT_ROLE}`);
    const roles = (u: Realm['users'][number]) => ({
      admin: u.realmRoles?.includes(ADMIN_ROLE) ?? false,
      client: u.clientRoles?.[options.clientId]?.includes(CLIENT_ROLE) ?? false,
    });
    assert.ok(realm.users.some((u) => roles(u).admin && roles(u).client), 'a user with both roles');
    assert.ok(realm.users.some((u) => !roles(u).admin && !roles(u).client), 'a user with neither');
    for (const user of realm.users) {
      assert.equal(user.enabled, true, user.username);
      const password = user.credentials.find((c) => c.type === 'password');
      assert.ok(password?.value && password.temporary !== true, `${user.username}: a password that need not be changed`);
      // Keycloak's user profile asks for these at the first login when they are missing.
      assert.ok(user.email && user.firstName && user.lastName, `${user.username}: email, first and last name`);
    }
  });

  test('docker/README.md names the command, the URLs, the realm, the client and every user', () => {
    const readme = read(`${docker}README.md`);
    const needed = [
      'docker compose -f docker/compose.yml up --build',
      'docker compose -f docker/compose.yml down',
      options.baseUrl,
      `${options.keycloakUrl}/admin`,
      `${options.keycloakUrl}/realms/${realm.realm}`,
      `\`${options.clientId}\``,
      `secret \`${options.clientSecret}\``,
      ...realm.users.map((u) => `\`${u.username}\` / \`${u.credentials.find((c) => c.type === 'password')!.value}\``),
      `\`${ADMIN_ROLE}\``,
      `\`${CLIENT_ROLE}\``,
    ];
    for (const text of needed) assert.ok(readme.includes(text), `README lacks ${text}`);
  });
});
