import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { type CairnError, isCairnError } from './errors.js';
import {
  type DependencyGraph,
  type DependencyNode,
  forEachJsonKeyLine,
  LOCKFILE_LIMITS,
  parsePackageLock,
  registryTarballOf,
  rootManifestFromJson,
  sourceOfResolved,
} from './lockfile.js';

type Entry = Record<string, unknown>;

const sri = (text: string) => `sha512-${createHash('sha512').update(text).digest('base64')}`;
const tarball = (name: string, version: string) => `https://registry.npmjs.org/${name}/-/${name.split('/').at(-1)}-${version}.tgz`;

function registryEntry(name: string, version: string, extra: Entry = {}): Entry {
  return { version, resolved: tarball(name, version), integrity: sri(`${name}@${version}`), ...extra };
}

/**
 * app@1.0.0 depends on a, b@2 and @scope/pkg, and (dev) on d. a needs b@1, installed nested
 * under a and shadowing the top-level b@2 for a only; that nested b depends on c, found two
 * levels up. @scope/pkg uses the top-level b@2.
 */
function samplePackages(): Record<string, Entry> {
  return {
    '': { name: 'app', version: '1.0.0', dependencies: { a: '^1.0.0', b: '^2.0.0', '@scope/pkg': '^1.0.0' }, devDependencies: { d: '^4.0.0' } },
    'node_modules/@scope/pkg': registryEntry('@scope/pkg', '1.0.0', { dependencies: { b: '^2.0.0' } }),
    'node_modules/a': registryEntry('a', '1.0.0', { dependencies: { b: '^1.0.0' }, optionalDependencies: { fsevents: '^2.0.0' } }),
    'node_modules/a/node_modules/b': registryEntry('b', '1.0.0', { dependencies: { c: '^3.0.0' } }),
    'node_modules/b': registryEntry('b', '2.0.0'),
    'node_modules/c': registryEntry('c', '3.0.0'),
    'node_modules/d': registryEntry('d', '4.0.0', { dev: true }),
  };
}

function lockfile(packages: Record<string, Entry> = samplePackages(), top: Entry = {}, indent = 2): string {
  return JSON.stringify({ name: 'app', version: '1.0.0', lockfileVersion: 3, requires: true, packages, ...top }, null, indent);
}

function reversedDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversedDeep);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .reverse()
      .map(([k, v]) => [k, reversedDeep(v)]),
  );
}

function pkg(graph: DependencyGraph, path: string): DependencyNode {
  const found = graph.packages.find((p) => p.path === path);
  assert.ok(found, `no package at ${path}`);
  return found;
}

function expectLockfileError(fn: () => unknown, code: string): CairnError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(isCairnError(caught), `expected a cairn error ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.category, 'input');
  return caught;
}

/** The 1-based line of the first line of `text` that contains `needle`. */
function lineOf(text: string, needle: string): number {
  const index = text.split('\n').findIndex((l) => l.includes(needle));
  assert.ok(index >= 0, `no line with ${needle}`);
  return index + 1;
}

describe('parsePackageLock (lockfile v2/v3)', () => {
  const text = lockfile();
  const graph = parsePackageLock(text);

  it('reads the root package name, version, format and lockfile version', () => {
    assert.equal(graph.lockfileVersion, 3);
    assert.equal(graph.format, 'npm');
    assert.equal(graph.file, 'package-lock.json');
    assert.equal(graph.root.name, 'app');
    assert.equal(graph.root.version, '1.0.0');
  });

  it('lists every installed package by install path', () => {
    assert.deepEqual(graph.packages.map((p) => p.path).sort(), [
      'node_modules/@scope/pkg',
      'node_modules/a',
      'node_modules/a/node_modules/b',
      'node_modules/b',
      'node_modules/c',
      'node_modules/d',
    ]);
  });

  it('resolves a dependency to the copy nested under the dependent when there is one', () => {
    assert.deepEqual(pkg(graph, 'node_modules/a').dependsOn, ['node_modules/a/node_modules/b']);
  });

  it('resolves the root and other packages to the top-level copy, dev dependencies included for the root', () => {
    assert.deepEqual([...graph.root.dependsOn].sort(), ['node_modules/@scope/pkg', 'node_modules/a', 'node_modules/b', 'node_modules/d']);
    assert.deepEqual(pkg(graph, 'node_modules/@scope/pkg').dependsOn, ['node_modules/b']);
  });

  it('walks up node_modules folders from a nested package', () => {
    assert.deepEqual(pkg(graph, 'node_modules/a/node_modules/b').dependsOn, ['node_modules/c']);
  });

  it('resolves from the nearest enclosing node_modules folder, not the top level', () => {
    const deep = parsePackageLock(
      lockfile({
        '': { name: 'app', version: '1.0.0', dependencies: { p: '^1.0.0', r: '^2.0.0' } },
        'node_modules/p': registryEntry('p', '1.0.0', { dependencies: { q: '^1.0.0' } }),
        'node_modules/p/node_modules/q': registryEntry('q', '1.0.0', { dependencies: { r: '^1.0.0' } }),
        'node_modules/p/node_modules/r': registryEntry('r', '1.0.0'),
        'node_modules/r': registryEntry('r', '2.0.0'),
      }),
    );
    assert.deepEqual(pkg(deep, 'node_modules/p/node_modules/q').dependsOn, ['node_modules/p/node_modules/r']);
  });

  it('leaves out a dependency that is not installed, such as a skipped optional one', () => {
    assert.ok(!pkg(graph, 'node_modules/a').dependsOn.some((d) => d.includes('fsevents')));
  });

  it('names a nested, scoped or aliased package by its real name', () => {
    assert.equal(pkg(graph, 'node_modules/a/node_modules/b').name, 'b');
    assert.equal(pkg(graph, 'node_modules/@scope/pkg').name, '@scope/pkg');
    const aliased = parsePackageLock(
      lockfile({
        '': { name: 'app', version: '1.0.0', dependencies: { old: 'npm:real@^1' } },
        'node_modules/old': registryEntry('real', '1.2.3', { name: 'real' }),
      }),
    );
    assert.equal(pkg(aliased, 'node_modules/old').name, 'real');
  });

  it('keeps resolved, integrity, dev, optional, peer and licence', () => {
    const packages = { ...samplePackages(), 'node_modules/e': registryEntry('e', '1.0.0', { optional: true, peer: true, license: 'MIT' }) };
    const g = parsePackageLock(lockfile(packages));
    const d = pkg(g, 'node_modules/d');
    assert.equal(d.dev, true);
    assert.equal(d.resolved, 'https://registry.npmjs.org/d/-/d-4.0.0.tgz');
    assert.equal(d.integrity, sri('d@4.0.0'));
    assert.equal(pkg(g, 'node_modules/a').dev, false);
    const e = pkg(g, 'node_modules/e');
    assert.deepEqual([e.optional, e.peer, e.license], [true, true, 'MIT']);
    assert.deepEqual([d.optional, d.peer, d.license], [false, false, null]);
  });

  it('records the install-script flag as known (true or false) in v2/v3', () => {
    const packages = { ...samplePackages(), 'node_modules/e': registryEntry('e', '1.0.0', { hasInstallScript: true }) };
    const g = parsePackageLock(lockfile(packages));
    assert.equal(pkg(g, 'node_modules/e').installScript, true);
    assert.equal(pkg(g, 'node_modules/e').hasInstallScript, true);
    assert.equal(pkg(g, 'node_modules/a').installScript, false);
  });

  it("gives each package the line of its entry's key in the lockfile", () => {
    for (const p of graph.packages) assert.equal(p.line, lineOf(text, `"${p.path}": {`), p.path);
    assert.equal(graph.root.line, lineOf(text, '"": {'));
  });

  it('finds lines in a lockfile written on one line as line 1, and in one with escaped keys', () => {
    const compact = parsePackageLock(lockfile(samplePackages(), {}, 0));
    assert.ok(compact.packages.every((p) => p.line === 1));
    const escaped = JSON.stringify({ lockfileVersion: 3, packages: { '': {}, 'node_modules/q\u00e9': registryEntry('q\u00e9', '1.0.0') } }, null, 2).replace(
      'qé',
      'q\\u00e9',
    );
    assert.equal(pkg(parsePackageLock(escaped), 'node_modules/qé').line, 5);
  });

  it('gives the same graph for the same lockfile with its keys in another order', () => {
    const a = parsePackageLock(JSON.stringify(reversedDeep(JSON.parse(lockfile())), null, 2));
    const strip = (g: DependencyGraph) => ({ ...g, root: { ...g.root, line: 0 }, packages: g.packages.map((p) => ({ ...p, line: 0 })) });
    assert.deepEqual(strip(a), strip(graph));
  });

  it('classifies sources: registry, git, remote tarball, local file and link', () => {
    const packages = {
      ...samplePackages(),
      'node_modules/g': { version: '1.0.0', resolved: 'git+ssh://git@github.com/o/g.git#0123456789abcdef0123456789abcdef01234567' },
      'node_modules/t': { version: '1.0.0', resolved: 'https://example.com/downloads/t.tgz', integrity: sri('t') },
      'node_modules/f': { version: '1.0.0', resolved: 'file:../f' },
      'node_modules/n': { version: '1.0.0', integrity: sri('n') },
    };
    const g = parsePackageLock(lockfile(packages));
    assert.deepEqual(
      ['node_modules/a', 'node_modules/g', 'node_modules/t', 'node_modules/f', 'node_modules/n'].map((p) => pkg(g, p).source),
      ['registry', 'git', 'tarball', 'file', 'registry'],
    );
  });

  it('leaves a linked workspace package out without breaking the graph', () => {
    const packages = {
      ...samplePackages(),
      '': { name: 'app', version: '1.0.0', dependencies: { a: '^1.0.0', ws: '*' }, workspaces: ['packages/*'] },
      'node_modules/ws': { resolved: 'packages/ws', link: true },
      'packages/ws': { name: 'ws', version: '0.1.0' },
    };
    const g = parsePackageLock(lockfile(packages));
    assert.ok(!g.packages.some((p) => p.path === 'node_modules/ws' || p.path === 'packages/ws'));
    assert.deepEqual(g.root.dependsOn, ['node_modules/a']);
  });

  it('names the file it was given (npm-shrinkwrap.json)', () => {
    assert.equal(parsePackageLock(lockfile(), { file: 'npm-shrinkwrap.json' }).file, 'npm-shrinkwrap.json');
  });
});

describe('parsePackageLock (lockfile v1)', () => {
  const v1 = JSON.stringify(
    {
      name: 'old',
      version: '2.0.0',
      lockfileVersion: 1,
      requires: true,
      dependencies: {
        a: {
          version: '1.0.0',
          resolved: tarball('a', '1.0.0'),
          integrity: sri('a@1.0.0'),
          requires: { b: '^1.0.0' },
          dependencies: { b: { version: '1.5.0', resolved: tarball('b', '1.5.0'), integrity: sri('b@1.5.0') } },
        },
        b: { version: '2.0.0', resolved: tarball('b', '2.0.0'), integrity: sri('b@2.0.0'), dev: true },
        old: { version: 'npm:real@3.1.0', resolved: tarball('real', '3.1.0'), integrity: sri('real@3.1.0') },
        gitdep: { version: 'git+https://github.com/o/gitdep.git#0123456789abcdef0123456789abcdef01234567', from: 'git+https://github.com/o/gitdep.git' },
      },
    },
    null,
    2,
  );
  const graph = parsePackageLock(v1);

  it('reads the nested dependencies tree into install paths', () => {
    assert.equal(graph.lockfileVersion, 1);
    assert.deepEqual(
      graph.packages.map((p) => p.path),
      ['node_modules/a', 'node_modules/a/node_modules/b', 'node_modules/b', 'node_modules/gitdep', 'node_modules/old'],
    );
  });

  it('resolves `requires` the way Node does, nested copies first', () => {
    assert.deepEqual(pkg(graph, 'node_modules/a').dependsOn, ['node_modules/a/node_modules/b']);
  });

  it('reads an alias from its `npm:` version and a git dependency from its version spec', () => {
    const alias = pkg(graph, 'node_modules/old');
    assert.deepEqual([alias.name, alias.version], ['real', '3.1.0']);
    const git = pkg(graph, 'node_modules/gitdep');
    assert.equal(git.source, 'git');
    assert.equal(git.resolved, 'git+https://github.com/o/gitdep.git#0123456789abcdef0123456789abcdef01234567');
  });

  it('does not know install scripts (v1 does not record them)', () => {
    assert.ok(graph.packages.every((p) => p.installScript === null));
  });

  it('takes the root dependencies from package.json when given, else the packages nothing requires', () => {
    assert.deepEqual(graph.root.dependsOn, ['node_modules/a', 'node_modules/b', 'node_modules/gitdep', 'node_modules/old']);
    const manifest = rootManifestFromJson(JSON.stringify({ name: 'old', dependencies: { a: '^1' }, devDependencies: { b: '^2' } }));
    assert.deepEqual(parsePackageLock(v1, { manifest }).root.dependsOn, ['node_modules/a', 'node_modules/b']);
  });

  it('gives nested entries their own lines', () => {
    assert.equal(pkg(graph, 'node_modules/a/node_modules/b').line, lineOf(v1, '"b": {'));
    assert.equal(pkg(graph, 'node_modules/b').line, v1.split('\n').findIndex((l, i) => i > lineOf(v1, '"b": {') && l.includes('"b": {')) + 1);
  });
});

describe('parsePackageLock rejects', () => {
  it('a lockfileVersion newer than 3 as SCAN_LOCKFILE_UNSUPPORTED', () => {
    expectLockfileError(() => parsePackageLock(JSON.stringify({ lockfileVersion: 4, packages: {} })), 'SCAN_LOCKFILE_UNSUPPORTED');
  });

  it('text that is not JSON as SCAN_LOCKFILE_MALFORMED with a problem', () => {
    assert.ok(expectLockfileError(() => parsePackageLock('{"lockfileVersion": 3,'), 'SCAN_LOCKFILE_MALFORMED').problems.length > 0);
  });

  it('a lockfile that is not an object as SCAN_LOCKFILE_MALFORMED', () => {
    expectLockfileError(() => parsePackageLock('[]'), 'SCAN_LOCKFILE_MALFORMED');
  });

  it('a lockfile without packages, naming `packages`', () => {
    const error = expectLockfileError(() => parsePackageLock(JSON.stringify({ name: 'app', lockfileVersion: 3 })), 'SCAN_LOCKFILE_MALFORMED');
    assert.deepEqual(
      error.problems.map((p) => p.path),
      ['packages'],
    );
  });

  it('a lockfile without lockfileVersion, naming it', () => {
    const error = expectLockfileError(() => parsePackageLock(JSON.stringify({ name: 'app', packages: {} })), 'SCAN_LOCKFILE_MALFORMED');
    assert.ok(error.problems.some((p) => p.path === 'lockfileVersion'));
  });

  it('every package without a valid version at once, naming each field', () => {
    const packages = { ...samplePackages(), 'node_modules/x': {}, 'node_modules/a/node_modules/y': { version: 7 } };
    const error = expectLockfileError(() => parsePackageLock(lockfile(packages)), 'SCAN_LOCKFILE_MALFORMED');
    assert.deepEqual(error.problems.map((p) => p.path).sort(), ['packages.node_modules/a/node_modules/y.version', 'packages.node_modules/x.version']);
  });

  it('a lockfile nested deeper than the cap as SCAN_LOCKFILE_MALFORMED (JSON_TOO_DEEP), before parsing it', () => {
    const deep = `{"lockfileVersion":3,"packages":{"":${'['.repeat(LOCKFILE_LIMITS.maxDepth + 1)}${']'.repeat(LOCKFILE_LIMITS.maxDepth + 1)}}}`;
    const error = expectLockfileError(() => parsePackageLock(deep), 'SCAN_LOCKFILE_MALFORMED');
    assert.equal(error.problems[0]?.code, 'JSON_TOO_DEEP');
  });

  it('a lockfile over the byte cap as SCAN_LOCKFILE_TOO_LARGE', () => {
    const big = new Uint8Array(LOCKFILE_LIMITS.maxBytes + 1);
    expectLockfileError(() => parsePackageLock(big), 'SCAN_LOCKFILE_TOO_LARGE');
  });

  it('a lockfile with more packages than the cap as SCAN_LOCKFILE_TOO_LARGE', () => {
    const packages: Record<string, Entry> = { '': {} };
    for (let i = 0; i <= LOCKFILE_LIMITS.maxPackages; i++) packages[`node_modules/p${i}`] = { version: '1.0.0' };
    expectLockfileError(() => parsePackageLock(JSON.stringify({ lockfileVersion: 3, packages })), 'SCAN_LOCKFILE_TOO_LARGE');
  });
});

describe('forEachJsonKeyLine', () => {
  it('reports each key with the keys of the objects around it, skipping string contents', () => {
    const seen: string[] = [];
    forEachJsonKeyLine('{\n "a": {"b": "x,{\\"c\\": 1}"},\n "d": [ {"e": 1} ]\n}', (path, key, line) => seen.push(`${[...path, key].join('.')}@${line}`));
    assert.deepEqual(seen, ['a@2', 'a.b@2', 'd@3', 'd.[].e@3']);
  });
});

describe('sourceOfResolved and registryTarballOf', () => {
  it('recognises registry tarball URLs, scoped ones too, under any path prefix', () => {
    assert.deepEqual(registryTarballOf(new URL('https://registry.npmjs.org/@s/p/-/p-1.0.0.tgz')), { name: '@s/p', file: 'p-1.0.0.tgz' });
    assert.deepEqual(registryTarballOf(new URL('https://r.example/api/npm/npm/@s%2fp/-/p-1.0.0.tgz')), { name: '@s/p', file: 'p-1.0.0.tgz' });
    assert.deepEqual(registryTarballOf(new URL('https://registry.yarnpkg.com/lodash/-/lodash-4.17.21.tgz#abc')), {
      name: 'lodash',
      file: 'lodash-4.17.21.tgz',
    });
    assert.equal(registryTarballOf(new URL('https://example.com/lodash-4.17.21.tgz')), null);
  });

  it('classifies git hosts and codeload archives as git', () => {
    assert.equal(sourceOfResolved('github:o/r#abc', false), 'git');
    assert.equal(sourceOfResolved('https://codeload.github.com/o/r/tar.gz/abc', true), 'git');
    assert.equal(sourceOfResolved(null, false), 'unknown');
  });
});
