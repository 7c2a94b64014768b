#!/usr/bin/env node
/**
 * `koa-session-openid dev-provider ...` (the package's `bin`): starts the development provider
 * from a terminal, prints its discovery URL and clients, and runs until Ctrl+C. `--help` lists the
 * options (./cli-args.ts). Exit codes: 0 done, 1 could not start, 2 wrong command line.
 * From a checkout (tsx): `npm run dev-provider -- --client ...`.
 */
import { PROGRAM, USAGE, UsageError, parseCommandLine, type Command } from './cli-args.js';
import type { DevProvider, DevProviderOptions } from './types.js';

/** What is running: the URLs an app needs, each client as registered. */
function summary(dev: DevProvider, options: DevProviderOptions): string {
  const lines = [
    'Development OpenID provider (oidc-provider, in memory; never use in production)',
    '',
    `  issuer         ${dev.issuer}`,
    `  discovery      ${dev.discovery}`,
    '  login          any user name, any password',
  ];
  if (options.audience !== undefined) {
    const scopes = options.apiScopes?.length ? `, scopes: ${options.apiScopes.join(' ')}` : '';
    lines.push(`  access tokens  JWTs for the audience ${options.audience}${scopes}`);
  }
  for (const client of options.clients) {
    lines.push('', `  client ${client.client_id}`);
    lines.push(`    secret                    ${client.client_secret ?? '(none: a public client, PKCE)'}`);
    for (const uri of client.redirect_uris ?? []) lines.push(`    redirect URI              ${uri}`);
    for (const uri of client.post_logout_redirect_uris ?? []) lines.push(`    post-logout redirect URI  ${uri}`);
    if (client.backchannel_logout_uri) lines.push(`    back-channel logout URI   ${client.backchannel_logout_uri}`);
    lines.push(`    refresh tokens            ${options.refreshTokens ? 'with every login' : 'no (start with --refresh-tokens for them)'}`);
  }
  lines.push('', 'Stop with Ctrl+C.', '');
  return lines.join('\n');
}

function stopOnSignals(dev: DevProvider): void {
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(130); // a second Ctrl+C: now
    stopping = true;
    dev.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`${PROGRAM}: stopping failed: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

async function main(argv: string[]): Promise<void> {
  let command: Command;
  try {
    command = parseCommandLine(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`${PROGRAM}: ${err.message}\nRun "${PROGRAM} dev-provider --help" for the options.`);
    process.exitCode = 2;
    return;
  }
  if (command.help) {
    process.stdout.write(USAGE);
    return;
  }

  let dev: DevProvider;
  try {
    // Loaded only now: --help and usage errors work without oidc-provider installed.
    const { startDevProvider } = await import('./index.js');
    dev = await startDevProvider(command.options);
  } catch (err) {
    console.error(`${PROGRAM}: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
    return;
  }
  stopOnSignals(dev);
  process.stdout.write(summary(dev, command.options));
}

await main(process.argv.slice(2));
