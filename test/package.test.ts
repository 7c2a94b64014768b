/**
 * What `npm publish` would ship: the build loads as ESM with its types, carries no source maps
 * that point at sources it does not ship, and the package has the LICENSE its "license" promises.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { license: string; files: string[]; exports: Record<string, unknown> };

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]));
}

test('the LICENSE file that "license" promises exists and is shipped', () => {
  assert.equal(pkg.license, 'MIT');
  assert.match(readFileSync(join(ROOT, 'LICENSE'), 'utf8'), /^MIT License/);
  const packed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' })) as Array<{ files: Array<{ path: string }> }>;
  const paths = packed[0]!.files.map((f) => f.path);
  for (const file of ['LICENSE', 'README.md', 'package.json']) assert.ok(paths.includes(file), `${file} is packed`);
  assert.ok(!paths.some((p) => p.startsWith('src/') || p.startsWith('test/')), 'no sources or tests are packed');
});

test('the build has no source maps (src/ is not shipped), has .d.ts files, and loads as ESM', async () => {
  const out = join(ROOT, '.test-tmp', `dist-${process.pid}`);
  mkdirSync(out, { recursive: true });
  try {
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', out], { cwd: ROOT });
    const files = walk(out);
    assert.deepEqual(files.filter((f) => f.endsWith('.map')), []);
    assert.ok(!files.some((f) => f.endsWith('.js') && readFileSync(f, 'utf8').includes('sourceMappingURL')), 'no .js names a source map');
    assert.ok(existsSync(join(out, 'index.d.ts')));
    const mod = (await import(pathToFileURL(join(out, 'index.js')).href)) as Record<string, unknown>;
    for (const name of ['OpenID', 'OpenIDError', 'redisSession', 'RedisStore', 'MemoryStore']) assert.equal(typeof mod[name], 'function', name);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('every runtime dependency is one that src/ imports (koa-session is an optional peer: the app brings it)', () => {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; peerDependencies: Record<string, string> };
  const sources = walk(join(ROOT, 'src')).filter((f) => f.endsWith('.ts')).map((f) => readFileSync(f, 'utf8')).join('\n');
  const imported = new Set([...sources.matchAll(/from '((?:@[^/']+\/)?[^./'][^/']*)/g)].map((m) => m[1]!).filter((name) => !name.startsWith('node:')));
  for (const name of Object.keys(manifest.dependencies)) assert.ok(imported.has(name), `${name} is a dependency that src/ does not import`);
  for (const name of imported) assert.ok(name in manifest.dependencies || name in manifest.peerDependencies, `${name} is imported by src/ but not a dependency`);
});
