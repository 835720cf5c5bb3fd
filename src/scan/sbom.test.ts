import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { type CairnError, isCairnError } from '../model/errors.js';
import { type LockedPackage, type LockGraph, parsePackageLock } from '../model/lockfile.js';
import { cycloneDxFromLock, npmPurl, type SbomContext } from './sbom.js';

type Entry = Record<string, unknown>;

/** An SRI string for the given text, and the hex a CycloneDX hash must carry for it. */
function integrityOf(text: string): { sri: string; hex: string } {
  const hash = createHash('sha512').update(text).digest();
  return { sri: `sha512-${hash.toString('base64')}`, hex: hash.toString('hex') };
}

const tarball = (name: string, version: string) => `https://registry.npmjs.org/${name}/-/${name.split('/').at(-1)}-${version}.tgz`;

function registryEntry(name: string, version: string, extra: Entry = {}): Entry {
  return { version, resolved: tarball(name, version), integrity: integrityOf(`${name}@${version}`).sri, ...extra };
}

/**
 * app@1.0.0 depends on a, b@2 and @scope/pkg, and (dev) on d. a needs b@1, installed nested
 * under a and shadowing the top-level b@2 for a only; that nested b depends on c, found two
 * levels up. @scope/pkg uses the top-level b@2.
 */
function samplePackages(): Record<string, Entry> {
  return {
    '': {
      name: 'app',
      version: '1.0.0',
      dependencies: { a: '^1.0.0', b: '^2.0.0', '@scope/pkg': '^1.0.0' },
      devDependencies: { d: '^4.0.0' },
    },
    'node_modules/@scope/pkg': registryEntry('@scope/pkg', '1.0.0', { dependencies: { b: '^2.0.0' } }),
    'node_modules/a': registryEntry('a', '1.0.0', { dependencies: { b: '^1.0.0' }, optionalDependencies: { fsevents: '^2.0.0' } }),
    'node_modules/a/node_modules/b': registryEntry('b', '1.0.0', { dependencies: { c: '^3.0.0' } }),
    'node_modules/b': registryEntry('b', '2.0.0'),
    'node_modules/c': registryEntry('c', '3.0.0'),
    'node_modules/d': registryEntry('d', '4.0.0', { dev: true }),
  };
}

function lockfile(packages: Record<string, Entry> = samplePackages(), top: Entry = {}): string {
  return JSON.stringify({ name: 'app', version: '1.0.0', lockfileVersion: 3, requires: true, packages, ...top });
}

/** The same entries with every key order reversed, top level and nested. */
function reversedDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversedDeep);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .reverse()
      .map(([k, v]) => [k, reversedDeep(v)]),
  );
}

const CONTEXT: SbomContext = { toolVersion: '0.1.0', sourceDateEpoch: 1_700_000_000 };

function pkg(graph: LockGraph, path: string): LockedPackage {
  const found = graph.packages.find((p) => p.path === path);
  assert.ok(found, `no package at ${path}`);
  return found;
}

interface Component {
  readonly type: string;
  readonly 'bom-ref': string;
  readonly group?: string;
  readonly name: string;
  readonly version: string;
  readonly purl: string;
  readonly hashes?: readonly { alg: string; content: string }[];
  readonly properties?: readonly { name: string; value: string }[];
  readonly externalReferences?: readonly { type: string; url: string }[];
}

interface Bom {
  readonly bomFormat: string;
  readonly specVersion: string;
  readonly serialNumber: string;
  readonly version: number;
  readonly metadata: {
    readonly timestamp: string;
    readonly tools: { readonly components: readonly { type: string; name: string; version: string }[] };
    readonly component: Component;
  };
  readonly components: readonly Component[];
  readonly dependencies: readonly { ref: string; dependsOn: readonly string[] }[];
}

function bomOf(text: string, context: SbomContext = CONTEXT): Bom {
  return cycloneDxFromLock(parsePackageLock(text), context) as unknown as Bom;
}

function component(bom: Bom, purl: string): Component {
  const found = bom.components.find((c) => c.purl === purl);
  assert.ok(found, `no component ${purl}`);
  return found;
}

function dependsOn(bom: Bom, ref: string): readonly string[] {
  const found = bom.dependencies.find((d) => d.ref === ref);
  assert.ok(found, `no dependency entry for ${ref}`);
  return found.dependsOn;
}

/** The lockfile errors are public by code and category (docs/errors.md), whichever class carries them. */
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

const DEV_PROPERTY = { name: 'cdx:npm:package:development', value: 'true' };
const UUID_URN = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('parsePackageLock', () => {
  const graph = parsePackageLock(lockfile());

  it('reads the root package name, version and lockfile version', () => {
    assert.equal(graph.lockfileVersion, 3);
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

  it('resolves the root and other packages to the top-level copy', () => {
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

  it('names a nested or scoped package from its install path', () => {
    assert.equal(pkg(graph, 'node_modules/a/node_modules/b').name, 'b');
    assert.equal(pkg(graph, 'node_modules/@scope/pkg').name, '@scope/pkg');
  });

  it('names an aliased package by its real name', () => {
    const aliased = parsePackageLock(
      lockfile({
        '': { name: 'app', version: '1.0.0', dependencies: { old: 'npm:real@^1' } },
        'node_modules/old': registryEntry('real', '1.2.3', { name: 'real' }),
      }),
    );
    assert.equal(pkg(aliased, 'node_modules/old').name, 'real');
  });

  it('keeps resolved, integrity and the dev flag', () => {
    const d = pkg(graph, 'node_modules/d');
    assert.equal(d.dev, true);
    assert.equal(d.resolved, 'https://registry.npmjs.org/d/-/d-4.0.0.tgz');
    assert.equal(d.integrity, integrityOf('d@4.0.0').sri);
    assert.equal(pkg(graph, 'node_modules/a').dev, false);
  });

  it('gives the same graph for the same lockfile with its keys in another order', () => {
    assert.deepEqual(parsePackageLock(JSON.stringify(reversedDeep(JSON.parse(lockfile())))), graph);
  });

  it('makes the root depend on its direct dev dependencies', {}, () => {
    assert.ok(graph.root.dependsOn.includes('node_modules/d'), `root depends on ${graph.root.dependsOn.join(', ')}`);
  });

  describe('rejects', () => {
    it('lockfileVersion 1 as SCAN_LOCKFILE_UNSUPPORTED', () => {
      expectLockfileError(
        () => parsePackageLock(JSON.stringify({ name: 'app', version: '1.0.0', lockfileVersion: 1, dependencies: {} })),
        'SCAN_LOCKFILE_UNSUPPORTED',
      );
    });

    it('text that is not JSON as SCAN_LOCKFILE_MALFORMED with a problem', () => {
      const error = expectLockfileError(() => parsePackageLock('{"lockfileVersion": 3,'), 'SCAN_LOCKFILE_MALFORMED');
      assert.ok(error.problems.length > 0);
    });

    it('a lockfile that is not an object as SCAN_LOCKFILE_MALFORMED', () => {
      expectLockfileError(() => parsePackageLock('[]'), 'SCAN_LOCKFILE_MALFORMED');
    });

    it('a lockfile without packages as SCAN_LOCKFILE_MALFORMED naming `packages`', () => {
      const error = expectLockfileError(() => parsePackageLock(JSON.stringify({ name: 'app', lockfileVersion: 3 })), 'SCAN_LOCKFILE_MALFORMED');
      assert.deepEqual(
        error.problems.map((p) => p.path),
        ['packages'],
      );
    });

    it('a lockfile without lockfileVersion as SCAN_LOCKFILE_MALFORMED naming `lockfileVersion`', () => {
      const error = expectLockfileError(() => parsePackageLock(JSON.stringify({ name: 'app', packages: {} })), 'SCAN_LOCKFILE_MALFORMED');
      assert.ok(error.problems.some((p) => p.path === 'lockfileVersion'));
    });

    it('a package without a version as SCAN_LOCKFILE_MALFORMED naming its version field', () => {
      const packages = { ...samplePackages(), 'node_modules/x': { resolved: tarball('x', '1.0.0') } };
      const error = expectLockfileError(() => parsePackageLock(lockfile(packages)), 'SCAN_LOCKFILE_MALFORMED');
      assert.deepEqual(
        error.problems.map((p) => p.path),
        ['packages.node_modules/x.version'],
      );
    });

    it('every bad package at once, not only the first', () => {
      const packages = { ...samplePackages(), 'node_modules/x': {}, 'node_modules/a/node_modules/y': { version: 7 } };
      const error = expectLockfileError(() => parsePackageLock(lockfile(packages)), 'SCAN_LOCKFILE_MALFORMED');
      assert.deepEqual(error.problems.map((p) => p.path).sort(), ['packages.node_modules/a/node_modules/y.version', 'packages.node_modules/x.version']);
    });
  });
});

describe('npmPurl', () => {
  it('writes an unscoped package as pkg:npm/name@version', () => {
    assert.equal(npmPurl('left-pad', '1.3.0'), 'pkg:npm/left-pad@1.3.0');
  });

  it('percent-encodes the @ of a scope', () => {
    assert.equal(npmPurl('@scope/pkg', '1.0.0'), 'pkg:npm/%40scope/pkg@1.0.0');
  });

  it('keeps a pre-release version readable', () => {
    assert.equal(npmPurl('a', '1.0.0-beta.1'), 'pkg:npm/a@1.0.0-beta.1');
  });
});

describe('cycloneDxFromLock', () => {
  const bom = bomOf(lockfile());

  it('is a CycloneDX 1.6 document, version 1', () => {
    assert.equal(bom.bomFormat, 'CycloneDX');
    assert.equal(bom.specVersion, '1.6');
    assert.equal(bom.version, 1);
  });

  it('has a well-formed urn:uuid serial number', () => {
    assert.match(bom.serialNumber, UUID_URN);
  });

  it('takes its timestamp from SOURCE_DATE_EPOCH, in whole seconds', () => {
    assert.equal(bom.metadata.timestamp, '2023-11-14T22:13:20Z');
    assert.equal(bomOf(lockfile(), { ...CONTEXT, sourceDateEpoch: 0 }).metadata.timestamp, '1970-01-01T00:00:00Z');
  });

  it('describes the root package as the application and cairn as the tool', () => {
    assert.equal(bom.metadata.component.type, 'application');
    assert.equal(bom.metadata.component.name, 'app');
    assert.equal(bom.metadata.component.version, '1.0.0');
    assert.equal(bom.metadata.component.purl, 'pkg:npm/app@1.0.0');
    assert.equal(bom.metadata.component['bom-ref'], 'pkg:npm/app@1.0.0');
    assert.deepEqual(bom.metadata.tools.components, [{ type: 'application', name: 'cairn', version: '0.1.0' }]);
  });

  it('lists one library component per package name and version, both versions of b included', () => {
    assert.deepEqual(bom.components.map((c) => c.purl).sort(), [
      'pkg:npm/%40scope/pkg@1.0.0',
      'pkg:npm/a@1.0.0',
      'pkg:npm/b@1.0.0',
      'pkg:npm/b@2.0.0',
      'pkg:npm/c@3.0.0',
      'pkg:npm/d@4.0.0',
    ]);
    for (const c of bom.components) {
      assert.equal(c.type, 'library');
      assert.equal(c['bom-ref'], c.purl);
    }
  });

  it('splits a scoped name into group and name', () => {
    const scoped = component(bom, 'pkg:npm/%40scope/pkg@1.0.0');
    assert.equal(scoped.group, '@scope');
    assert.equal(scoped.name, 'pkg');
    assert.equal(scoped.version, '1.0.0');
    assert.equal('group' in component(bom, 'pkg:npm/a@1.0.0'), false);
  });

  it('converts the SHA-512 integrity to a hex hash', () => {
    assert.deepEqual(component(bom, 'pkg:npm/a@1.0.0').hashes, [{ alg: 'SHA-512', content: integrityOf('a@1.0.0').hex }]);
  });

  it('carries every recognised hash of a multi-hash integrity string', () => {
    const sha1 = createHash('sha1').update('x').digest();
    const packages = { ...samplePackages(), 'node_modules/c': { version: '3.0.0', integrity: `${integrityOf('c').sri} sha1-${sha1.toString('base64')}` } };
    assert.deepEqual(component(bomOf(lockfile(packages)), 'pkg:npm/c@3.0.0').hashes, [
      { alg: 'SHA-512', content: integrityOf('c').hex },
      { alg: 'SHA-1', content: sha1.toString('hex') },
    ]);
  });

  it('has no hashes member for a package without integrity', () => {
    const packages = { ...samplePackages(), 'node_modules/c': { version: '3.0.0' } };
    assert.equal('hashes' in component(bomOf(lockfile(packages)), 'pkg:npm/c@3.0.0'), false);
  });

  it('links the resolved tarball as the distribution reference', () => {
    assert.deepEqual(component(bom, 'pkg:npm/b@2.0.0').externalReferences, [{ type: 'distribution', url: tarball('b', '2.0.0') }]);
  });

  it('marks dev packages with the cdx:npm:package:development property and no others', () => {
    assert.deepEqual(component(bom, 'pkg:npm/d@4.0.0').properties, [DEV_PROPERTY]);
    for (const c of bom.components.filter((c) => c.purl !== 'pkg:npm/d@4.0.0')) assert.equal(c.properties, undefined, c.purl);
  });

  // A production copy and a dev copy of e@5.0.0, in both orders of their install paths.
  for (const [what, devPath, prodPath] of [
    ['the dev copy sorts first', 'node_modules/a/node_modules/e', 'node_modules/e'],
    ['the production copy sorts first', 'node_modules/e', 'node_modules/a/node_modules/e'],
  ] as const) {
    it(`does not mark a package as development when one of its copies is a production dependency (${what})`, () => {
      const packages = {
        ...samplePackages(),
        [devPath]: registryEntry('e', '5.0.0', { dev: true }),
        [prodPath]: registryEntry('e', '5.0.0'),
      };
      assert.equal(component(bomOf(lockfile(packages)), 'pkg:npm/e@5.0.0').properties, undefined);
    });
  }

  it('records the nested resolution in the dependency graph', () => {
    assert.deepEqual(dependsOn(bom, 'pkg:npm/a@1.0.0'), ['pkg:npm/b@1.0.0']);
    assert.deepEqual(dependsOn(bom, 'pkg:npm/b@1.0.0'), ['pkg:npm/c@3.0.0']);
    assert.deepEqual(dependsOn(bom, 'pkg:npm/%40scope/pkg@1.0.0'), ['pkg:npm/b@2.0.0']);
    assert.deepEqual(dependsOn(bom, 'pkg:npm/b@2.0.0'), []);
  });

  it('makes the root depend on the top-level copies only', () => {
    const root = dependsOn(bom, 'pkg:npm/app@1.0.0');
    assert.ok(root.includes('pkg:npm/b@2.0.0'));
    assert.ok(!root.includes('pkg:npm/b@1.0.0'));
    assert.ok(root.includes('pkg:npm/a@1.0.0'));
    assert.ok(root.includes('pkg:npm/%40scope/pkg@1.0.0'));
  });

  it('only refers to components it lists', () => {
    const refs = new Set([bom.metadata.component['bom-ref'], ...bom.components.map((c) => c['bom-ref'])]);
    assert.equal(refs.size, bom.components.length + 1, 'bom-refs are unique');
    for (const d of bom.dependencies) {
      assert.ok(refs.has(d.ref), d.ref);
      for (const target of d.dependsOn) assert.ok(refs.has(target), `${d.ref} → ${String(target)}`);
    }
  });

  it('gives the same bytes for the same lockfile', () => {
    assert.equal(JSON.stringify(bomOf(lockfile())), JSON.stringify(bom));
  });

  it('gives the same bytes when the lockfile lists its packages and dependencies in another order', () => {
    const reordered = JSON.stringify(reversedDeep(JSON.parse(lockfile())));
    assert.notEqual(reordered, lockfile());
    assert.equal(JSON.stringify(bomOf(reordered)), JSON.stringify(bom));
  });

  it('changes the serial number when the graph changes', () => {
    const packages = { ...samplePackages(), 'node_modules/c': registryEntry('c', '3.0.1') };
    const changed = bomOf(lockfile(packages));
    assert.match(changed.serialNumber, UUID_URN);
    assert.notEqual(changed.serialNumber, bom.serialNumber);
  });

  it('leaves a linked workspace package out without breaking the graph', {}, () => {
    const packages = {
      ...samplePackages(),
      '': { name: 'app', version: '1.0.0', dependencies: { a: '^1.0.0', ws: '*' }, workspaces: ['packages/*'] },
      'node_modules/ws': { resolved: 'packages/ws', link: true },
      'packages/ws': { name: 'ws', version: '0.1.0' },
    };
    const withLink = bomOf(lockfile(packages));
    assert.ok(dependsOn(withLink, 'pkg:npm/app@1.0.0').every((ref) => typeof ref === 'string'));
  });
});
