import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from './testkit.js';

const CODE =
  /'((?:CLI|CONFIG|SOURCE|BUILD|ATTEST|SCAN|GATE|POLICY|DEPLOY|RUNTIME|AUDIT|STORE|KEY|JSON|ARCHIVE|NOTE|CHECKPOINT|PROOF|MERKLE|EXPLAIN|ZIP|LOCKFILE|REBUILD)_[A-Z0-9_]+)'/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(full);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [full] : [];
  });
}

describe('docs/errors.md', () => {
  it('documents every error code the source raises, and no code the source lacks', () => {
    const used = new Set<string>();
    for (const file of sourceFiles(path.join(REPO_ROOT, 'src'))) for (const m of readFileSync(file, 'utf8').matchAll(CODE)) used.add(m[1] as string);
    const doc = readFileSync(path.join(REPO_ROOT, 'docs/errors.md'), 'utf8');
    const documented = new Set([...doc.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1] as string));
    documented.delete('INTERNAL');
    assert.deepEqual([...used].filter((c) => !documented.has(c)).sort(), [], 'used but not documented');
    assert.deepEqual([...documented].filter((c) => !used.has(c)).sort(), [], 'documented but never raised');
  });
});
