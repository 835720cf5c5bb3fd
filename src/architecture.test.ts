import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * The allowed import graph of DESIGN §4: model ← crypto ← stages and cross-cutting ←
 * pipeline ← server, cli. Stages never import each other; they may use the store's ports,
 * never its adapters; model and crypto use only `node:` built-ins.
 */
const STAGES = ['source', 'build', 'attest', 'scan', 'policy', 'deploy', 'runtime', 'audit', 'auth', 'telemetry'];
const AREAS = ['model', 'crypto', ...STAGES, 'store', 'pipeline', 'server', 'cli'];

export interface Violation {
  readonly file: string;
  readonly specifier: string;
  readonly reason: string;
}

/** `src/a/b.ts` → `a` (or `store/port` for the port module); the library entry is `index`. */
function moduleArea(srcRelative: string): string {
  const parts = srcRelative.split('/');
  if (parts.length === 1) return 'index';
  if (parts[0] === 'store' && parts[1]?.startsWith('port.')) return 'store/port';
  return parts[0] ?? '';
}

function allowedTargets(from: string): readonly string[] {
  if (from === 'model') return ['model'];
  if (from === 'crypto') return ['model', 'crypto'];
  if (from === 'store/port') return ['model', 'crypto', 'store/port'];
  if (from === 'store') return ['model', 'crypto', 'store', 'store/port'];
  if (STAGES.includes(from)) return ['model', 'crypto', 'store/port', from];
  if (from === 'pipeline') return ['model', 'crypto', 'store', 'store/port', 'pipeline', ...STAGES];
  if (from === 'index') return ['model', 'crypto', 'store', 'store/port', 'pipeline', ...STAGES];
  if (from === 'server') return ['model', 'crypto', 'store', 'store/port', 'pipeline', 'server', ...STAGES];
  if (from === 'cli') return ['model', 'crypto', 'store', 'store/port', 'pipeline', 'server', 'cli', ...STAGES];
  return [];
}

const IMPORT_RE =
  /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;(])import\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s*['"]([^'"]+)['"]/gm;

/** Every import in `sources` (path relative to src/ → text) that breaks the allowed graph. */
export function checkImportGraph(sources: ReadonlyMap<string, string>): Violation[] {
  const violations: Violation[] = [];
  for (const [file, text] of sources) {
    const from = moduleArea(file);
    if (!AREAS.includes(from) && from !== 'index' && from !== 'store/port') {
      violations.push({ file, specifier: '', reason: `src/${from} is not a folder of the layout` });
      continue;
    }
    for (const match of text.matchAll(IMPORT_RE)) {
      const specifier = match[1] ?? match[2] ?? match[3] ?? '';
      if (specifier.startsWith('.')) {
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
        if (target.startsWith('..')) {
          violations.push({ file, specifier, reason: 'imports from outside src/' });
          continue;
        }
        const to = moduleArea(target);
        if (!allowedTargets(from).includes(to)) violations.push({ file, specifier, reason: `${from} may not import ${to}` });
      } else if ((from === 'model' || from === 'crypto' || from === 'store/port') && !specifier.startsWith('node:')) {
        violations.push({ file, specifier, reason: `${from} may use only node: built-ins` });
      }
    }
  }
  return violations;
}

function readSources(root: string): Map<string, string> {
  const sources = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      // Tests and their support module (testkit.ts) may reach anywhere; the graph is for the product.
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && entry.name !== 'testkit.ts') {
        sources.set(path.relative(root, full).split(path.sep).join('/'), readFileSync(full, 'utf8'));
      }
    }
  };
  walk(root);
  return sources;
}

// Compiled to dist/src/architecture.test.js; the sources sit at ../../src.
const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

describe('the import graph', () => {
  it('holds for every module of cairn', () => {
    const sources = readSources(SRC);
    assert.ok(sources.size > 20, `expected the source tree at ${SRC}`);
    assert.deepEqual(checkImportGraph(sources), []);
  });

  it('has every folder of the layout', () => {
    const folders = readdirSync(SRC, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    assert.deepEqual(folders, [...AREAS].sort());
  });

  it('rejects a stage importing another stage', () => {
    const v = checkImportGraph(new Map([['build/run.ts', "import { LocalTarget } from '../deploy/local.js';\n"]]));
    assert.deepEqual(v, [{ file: 'build/run.ts', specifier: '../deploy/local.js', reason: 'build may not import deploy' }]);
  });

  it('rejects a stage importing a store adapter but allows the port', () => {
    const v = checkImportGraph(
      new Map([['audit/chain.ts', "import type { Store } from '../store/port.js';\nimport { openSqliteStore } from '../store/sqlite.js';\n"]]),
    );
    assert.deepEqual(
      v.map((x) => x.reason),
      ['audit may not import store'],
    );
  });

  it('rejects model or crypto reaching upwards or to a package', () => {
    const v = checkImportGraph(
      new Map([
        ['model/config.ts', "import { parse } from 'yaml';\n"],
        ['crypto/keys.ts', "import { snapshotCommit } from '../source/snapshot.js';\n"],
        ['store/port.ts', "export { openSqliteStore } from './sqlite.js';\n"],
      ]),
    );
    assert.deepEqual(v.map((x) => x.reason).sort(), ['crypto may not import source', 'model may use only node: built-ins', 'store/port may not import store']);
  });

  it('sees dynamic imports and re-exports, and rejects cli from pipeline', () => {
    const v = checkImportGraph(
      new Map([
        ['pipeline/run.ts', "const m = await import('../cli/main.js');\n"],
        ['runtime/observe.ts', "export * from '../policy/builtin.js';\n"],
      ]),
    );
    assert.deepEqual(v.map((x) => x.reason).sort(), ['pipeline may not import cli', 'runtime may not import policy']);
  });
});
