/**
 * The development provider as the package ships it: `koa-session-openid/dev-provider` and the
 * `koa-session-openid` bin, built by tsconfig.build.json, installed (as symlinks) in a directory
 * outside this checkout, once with oidc-provider and once without it (an optional peer dependency).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MISSING = 'the development provider needs oidc-provider: npm install -D oidc-provider';

interface Manifest {
  exports: Record<string, { types: string; default: string }>;
  bin: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
}
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest;

describe('the development provider as built and installed', () => {
  let dir: string;
  /** An app directory where the package and oidc-provider are installed. */
  let withOp: string;
  /** The same without oidc-provider. */
  let withoutOp: string;

  /** `<app>/node_modules/koa-session-openid` (a copy of the build plus package.json) and `deps` linked from this checkout. */
  function install(app: string, deps: string[], build?: string): string {
    const pkg = join(app, 'pkg');
    mkdirSync(join(app, 'node_modules'), { recursive: true });
    if (build) cpSync(build, pkg, { recursive: true });
    else execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist')], { cwd: ROOT });
    writeFileSync(join(pkg, 'package.json'), JSON.stringify(manifest));
    symlinkSync(pkg, join(app, 'node_modules', 'koa-session-openid'), 'dir');
    for (const dep of deps) symlinkSync(join(ROOT, 'node_modules', dep), join(app, 'node_modules', dep), 'dir');
    return pkg;
  }

  const bin = (app: string) => join(app, 'pkg', manifest.bin['koa-session-openid']!);

  /** Runs an ES module snippet in `app`; returns its exit code and output. */
  const script = (app: string, code: string) =>
    spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: app, encoding: 'utf8', timeout: 30_000 });

  before(() => {
    // Outside this checkout: nothing resolves from its node_modules by walking up.
    dir = mkdtempSync(join(tmpdir(), 'koa-session-openid-dev-provider-'));
    withOp = join(dir, 'with');
    withoutOp = join(dir, 'without');
    const pkg = install(withOp, ['jose', 'oidc-provider']);
    install(withoutOp, ['jose'], pkg);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('package.json: the ./dev-provider export and the bin point into the build; oidc-provider is an optional peer', () => {
    const sub = manifest.exports['./dev-provider']!;
    assert.deepEqual(sub, { types: './dist/dev-provider/index.d.ts', default: './dist/dev-provider/index.js' });
    for (const file of [sub.types, sub.default]) assert.ok(existsSync(join(withOp, 'pkg', file)), `${file} is built`);
    assert.deepEqual(manifest.bin, { 'koa-session-openid': './dist/dev-provider/cli.js' });
    assert.equal(readFileSync(bin(withOp), 'utf8').split('\n')[0], '#!/usr/bin/env node');
    assert.ok(manifest.peerDependencies['oidc-provider']);
    assert.equal(manifest.peerDependenciesMeta['oidc-provider']?.optional, true);
    assert.ok(manifest.devDependencies['oidc-provider'], 'installed for the tests');
    assert.equal(manifest.dependencies['oidc-provider'], undefined, 'never installed for the library');
  });

  it('the built bin prints its help (oidc-provider or not)', () => {
    for (const app of [withOp, withoutOp]) {
      const run = spawnSync(process.execPath, [bin(app), 'dev-provider', '--help'], { cwd: app, encoding: 'utf8', timeout: 30_000 });
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, /^Usage: koa-session-openid dev-provider --client/);
    }
  });

  it('the built bin starts the provider, prints its discovery URL and stops on SIGINT', async () => {
    const child = spawn(process.execPath, [bin(withOp), 'dev-provider', '--port', '0', '--client', 'app:secret:http://127.0.0.1:3000/cb'], { cwd: withOp, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
    try {
      let discovery: string | undefined;
      while (!(discovery = /^ {2}discovery +(\S+)$/m.exec(stdout)?.[1])) {
        assert.equal(child.exitCode, null, `exited early:\n${stdout}\n${stderr}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      const meta = (await (await fetch(discovery)).json()) as { issuer: string };
      assert.equal(`${meta.issuer}/.well-known/openid-configuration`, discovery);
      child.kill('SIGINT');
      assert.equal(await exited, 0);
      assert.equal(stderr, '');
    } finally {
      clearTimeout(kill);
      child.kill('SIGKILL');
    }
  });

  it('imports as koa-session-openid/dev-provider, starts and stops', () => {
    const run = script(
      withOp,
      `import { startDevProvider } from 'koa-session-openid/dev-provider';
       const op = await startDevProvider({ clients: [{ client_id: 'app', client_secret: 'secret', redirect_uris: ['http://127.0.0.1:3000/cb'] }] });
       const meta = await (await fetch(op.discovery)).json();
       await op.close();
       console.log(meta.issuer === op.issuer ? 'ok' : 'wrong issuer ' + meta.issuer);`,
    );
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, 'ok\n');
  });

  it('without oidc-provider: the bin exits 1 and the import fails, both saying what to install', () => {
    const run = spawnSync(process.execPath, [bin(withoutOp), 'dev-provider', '--port', '0', '--client', 'app:secret:http://127.0.0.1:3000/cb'], { cwd: withoutOp, encoding: 'utf8', timeout: 30_000 });
    assert.equal(run.status, 1);
    assert.equal(run.stderr, `koa-session-openid: ${MISSING}\n`);
    assert.equal(run.stdout, '');

    const imported = script(withoutOp, `await import('koa-session-openid/dev-provider').then(() => console.log('loaded'), (err) => console.log(err.message));`);
    assert.equal(imported.status, 0, imported.stderr);
    assert.equal(imported.stdout, `${MISSING}\n`);
  });
});
