/**
 * The import rule of README's "Architecture": imports run one way, from the Koa glue down to the
 * shared vocabulary. A file may import from its own folder or from a folder of a lower layer;
 * folders of one layer do not import each other. `src/index.ts` (the public surface) may import
 * anything.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** Layer of each part: a higher layer may import a lower one, never the other way. */
const LAYERS: Record<string, number> = {
  '.': 0, // shared vocabulary: options, errors, state, JWS algorithms, debug, answers
  session: 1,
  presets: 1,
  jwt: 1,
  provider: 2,
  login: 3,
  api: 3,
  koa: 4,
  'dev-provider': 5, // the development provider (oidc-provider): nothing in the library imports it
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

const part = (file: string) => {
  const rel = relative(SRC, dirname(file));
  return rel === '' ? '.' : rel.split('/')[0]!;
};

function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) => resolve(dirname(file), m[1]!));
}

test('every folder of src/ has a layer', () => {
  for (const file of files(SRC)) assert.ok(part(file) in LAYERS, `${relative(SRC, file)}: folder "${part(file)}" has no layer`);
});

test('imports run one way: Koa glue → flows (login, api) → provider → jwt, session → shared vocabulary', () => {
  const wrong: string[] = [];
  for (const file of files(SRC)) {
    if (relative(SRC, file) === 'index.ts') continue;
    const from = part(file);
    for (const target of relativeImports(file)) {
      const to = part(target);
      if (to === from) continue;
      if (!(LAYERS[to]! < LAYERS[from]!)) wrong.push(`${relative(SRC, file)} imports ${relative(SRC, target)}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('the rule is checked on real imports (the scan finds them)', () => {
  const imports = relativeImports(join(SRC, 'koa/openid.ts')).map((t) => part(t));
  assert.ok(imports.includes('login') && imports.includes('provider'), 'koa/openid.ts imports login/ and provider/');
});

test('the library never loads the development provider: no file outside src/dev-provider/ (index.ts included) imports it or oidc-provider', () => {
  const wrong: string[] = [];
  for (const file of files(SRC)) {
    if (part(file) === 'dev-provider') continue;
    if (relativeImports(file).some((target) => part(target) === 'dev-provider')) wrong.push(`${relative(SRC, file)} imports src/dev-provider`);
    if (/(?:from|import)\s*\(?\s*'oidc-provider'/.test(readFileSync(file, 'utf8'))) wrong.push(`${relative(SRC, file)} imports oidc-provider`);
  }
  assert.deepEqual(wrong, []);
});
