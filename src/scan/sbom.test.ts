import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type LockGraph, parsePackageLock } from '../model/lockfile.js';
import { cycloneDxFromLock, cycloneDxJson, npmPurl, type SbomContext, validateCycloneDx } from './sbom.js';

type Entry = Record<string, unknown>;

function integrityOf(text: string): { sri: string; hex: string } {
  const hash = createHash('sha512').update(text).digest();
  return { sri: `sha512-${hash.toString('base64')}`, hex: hash.toString('hex') };
}

const tarball = (name: string, version: string) => `https://registry.npmjs.org/${name}/-/${name.split('/').at(-1)}-${version}.tgz`;

function registryEntry(name: string, version: string, extra: Entry = {}): Entry {
  return { version, resolved: tarball(name, version), integrity: integrityOf(`${name}@${version}`).sri, ...extra };
}

function samplePackages(): Record<string, Entry> {
  return {
    '': { name: 'app', version: '1.0.0', dependencies: { a: '^1.0.0', b: '^2.0.0', '@scope/pkg': '^1.0.0' }, devDependencies: { d: '^4.0.0' } },
    'node_modules/@scope/pkg': registryEntry('@scope/pkg', '1.0.0', { dependencies: { b: '^2.0.0' }, license: 'MIT' }),
    'node_modules/a': registryEntry('a', '1.0.0', { dependencies: { b: '^1.0.0' }, license: '(MIT OR Apache-2.0)' }),
    'node_modules/a/node_modules/b': registryEntry('b', '1.0.0', { dependencies: { c: '^3.0.0' }, license: 'SEE LICENSE IN LICENSE.md' }),
    'node_modules/b': registryEntry('b', '2.0.0'),
    'node_modules/c': registryEntry('c', '3.0.0'),
    'node_modules/d': registryEntry('d', '4.0.0', { dev: true }),
  };
}

function lockfile(packages: Record<string, Entry> = samplePackages()): string {
  return JSON.stringify({ name: 'app', version: '1.0.0', lockfileVersion: 3, requires: true, packages });
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

const CONTEXT: SbomContext = { toolVersion: '0.1.0', sourceDateEpoch: 1_700_000_000 };

interface Component {
  readonly type: string;
  readonly 'bom-ref': string;
  readonly group?: string;
  readonly name: string;
  readonly version: string;
  readonly purl: string;
  readonly hashes?: readonly { alg: string; content: string }[];
  readonly licenses?: readonly Record<string, unknown>[];
  readonly properties?: readonly { name: string; value: string }[];
  readonly externalReferences?: readonly { type: string; url: string }[];
}

interface Bom {
  readonly $schema: string;
  readonly bomFormat: string;
  readonly specVersion: string;
  readonly serialNumber: string;
  readonly version: number;
  readonly metadata: {
    readonly timestamp?: string;
    readonly tools: { readonly components: readonly { type: string; name: string; version: string }[] };
    readonly component: Component;
  };
  readonly components: readonly Component[];
  readonly dependencies: readonly { ref: string; dependsOn?: readonly string[] }[];
}

function bomOf(text: string, context: SbomContext = CONTEXT): Bom {
  return JSON.parse(cycloneDxJson(parsePackageLock(text), context)) as Bom;
}

function component(bom: Bom, purl: string): Component {
  const found = bom.components.find((c) => c.purl === purl);
  assert.ok(found, `no component ${purl}`);
  return found;
}

function dependsOn(bom: Bom, ref: string): readonly string[] {
  const found = bom.dependencies.find((d) => d.ref === ref);
  assert.ok(found, `no dependency entry for ${ref}`);
  return found.dependsOn ?? [];
}

const DEV_PROPERTY = { name: 'cdx:npm:package:development', value: 'true' };
const UUID_URN = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('npmPurl', () => {
  it('writes an unscoped package as pkg:npm/name@version', () => {
    assert.equal(npmPurl('left-pad', '1.3.0'), 'pkg:npm/left-pad@1.3.0');
  });

  it('percent-encodes the @ of a scope', () => {
    assert.equal(npmPurl('@scope/pkg', '1.0.0'), 'pkg:npm/%40scope/pkg@1.0.0');
  });

  it('keeps a pre-release version readable and lowercases the name as the purl spec says for npm', () => {
    assert.equal(npmPurl('a', '1.0.0-beta.1'), 'pkg:npm/a@1.0.0-beta.1');
    assert.equal(npmPurl('JSONStream', '1.3.5'), 'pkg:npm/jsonstream@1.3.5');
  });
});

describe('cycloneDxJson', () => {
  const text = cycloneDxJson(parsePackageLock(lockfile()), CONTEXT);
  const bom = JSON.parse(text) as Bom;

  it('is a CycloneDX 1.6 document, version 1, that the library’s strict validator accepts', async () => {
    assert.equal(bom.bomFormat, 'CycloneDX');
    assert.equal(bom.specVersion, '1.6');
    assert.equal(bom.$schema, 'http://cyclonedx.org/schema/bom-1.6.schema.json');
    assert.equal(bom.version, 1);
    assert.deepEqual(await validateCycloneDx(text), []);
    assert.deepEqual(await validateCycloneDx(text, { mode: 'full' }), []);
  });

  it('has a version-5-form urn:uuid serial number', () => {
    assert.match(bom.serialNumber, UUID_URN);
  });

  it('takes its timestamp from SOURCE_DATE_EPOCH, and has none without it', () => {
    assert.equal(bom.metadata.timestamp, '2023-11-14T22:13:20.000Z');
    assert.equal(bomOf(lockfile(), { ...CONTEXT, sourceDateEpoch: 0 }).metadata.timestamp, '1970-01-01T00:00:00.000Z');
    assert.equal('timestamp' in bomOf(lockfile(), { ...CONTEXT, sourceDateEpoch: null }).metadata, false);
  });

  it('describes the root package as the application and cairn as the tool', () => {
    assert.deepEqual(
      { ...bom.metadata.component },
      { type: 'application', name: 'app', version: '1.0.0', 'bom-ref': 'pkg:npm/app@1.0.0', purl: 'pkg:npm/app@1.0.0' },
    );
    assert.deepEqual(bom.metadata.tools.components, [{ type: 'application', name: 'cairn', version: '0.1.0' }]);
  });

  it('lists one library component per package name and version, in purl order', () => {
    assert.deepEqual(
      bom.components.map((c) => c.purl),
      ['pkg:npm/%40scope/pkg@1.0.0', 'pkg:npm/a@1.0.0', 'pkg:npm/b@1.0.0', 'pkg:npm/b@2.0.0', 'pkg:npm/c@3.0.0', 'pkg:npm/d@4.0.0'],
    );
    for (const c of bom.components) {
      assert.equal(c.type, 'library');
      assert.equal(c['bom-ref'], c.purl);
    }
  });

  it('splits a scoped name into group and name', () => {
    const scoped = component(bom, 'pkg:npm/%40scope/pkg@1.0.0');
    assert.deepEqual([scoped.group, scoped.name, scoped.version], ['@scope', 'pkg', '1.0.0']);
    assert.equal('group' in component(bom, 'pkg:npm/a@1.0.0'), false);
  });

  it('converts the SHA-512 integrity to a hex hash, and carries every hash of a multi-hash integrity', () => {
    assert.deepEqual(component(bom, 'pkg:npm/a@1.0.0').hashes, [{ alg: 'SHA-512', content: integrityOf('a@1.0.0').hex }]);
    const sha1 = createHash('sha1').update('x').digest();
    const packages = { ...samplePackages(), 'node_modules/c': { version: '3.0.0', integrity: `${integrityOf('c').sri} sha1-${sha1.toString('base64')}` } };
    assert.deepEqual(component(bomOf(lockfile(packages)), 'pkg:npm/c@3.0.0').hashes, [
      { alg: 'SHA-512', content: integrityOf('c').hex },
      { alg: 'SHA-1', content: sha1.toString('hex') },
    ]);
  });

  it('has no hashes for a package without integrity', () => {
    const packages = { ...samplePackages(), 'node_modules/c': { version: '3.0.0' } };
    assert.equal('hashes' in component(bomOf(lockfile(packages)), 'pkg:npm/c@3.0.0'), false);
  });

  it('links the resolved tarball as distribution, a git source as vcs', () => {
    assert.deepEqual(component(bom, 'pkg:npm/b@2.0.0').externalReferences, [{ url: tarball('b', '2.0.0'), type: 'distribution' }]);
    const git = 'git+ssh://git@github.com/o/c.git#0123456789abcdef0123456789abcdef01234567';
    const packages = { ...samplePackages(), 'node_modules/c': { version: '3.0.0', resolved: git } };
    assert.deepEqual(component(bomOf(lockfile(packages)), 'pkg:npm/c@3.0.0').externalReferences, [{ url: git, type: 'vcs' }]);
  });

  it('writes a licence as an SPDX id, an expression or a name', () => {
    assert.deepEqual(component(bom, 'pkg:npm/%40scope/pkg@1.0.0').licenses, [{ license: { id: 'MIT' } }]);
    assert.deepEqual(component(bom, 'pkg:npm/a@1.0.0').licenses, [{ expression: '(MIT OR Apache-2.0)' }]);
    assert.deepEqual(component(bom, 'pkg:npm/b@1.0.0').licenses, [{ license: { name: 'SEE LICENSE IN LICENSE.md' } }]);
  });

  it('marks dev-only packages with cdx:npm:package:development and no others', () => {
    assert.deepEqual(component(bom, 'pkg:npm/d@4.0.0').properties, [DEV_PROPERTY]);
    for (const c of bom.components.filter((c) => c.purl !== 'pkg:npm/d@4.0.0')) assert.equal(c.properties, undefined, c.purl);
  });

  for (const [what, devPath, prodPath] of [
    ['the dev copy sorts first', 'node_modules/a/node_modules/e', 'node_modules/e'],
    ['the production copy sorts first', 'node_modules/e', 'node_modules/a/node_modules/e'],
  ] as const) {
    it(`does not mark a package as development when one of its copies is a production dependency (${what})`, () => {
      const packages = { ...samplePackages(), [devPath]: registryEntry('e', '5.0.0', { dev: true }), [prodPath]: registryEntry('e', '5.0.0') };
      assert.equal(component(bomOf(lockfile(packages)), 'pkg:npm/e@5.0.0').properties, undefined);
    });
  }

  it('records the nested resolution in the dependency graph, and only refers to components it lists', () => {
    assert.deepEqual(dependsOn(bom, 'pkg:npm/a@1.0.0'), ['pkg:npm/b@1.0.0']);
    assert.deepEqual(dependsOn(bom, 'pkg:npm/b@1.0.0'), ['pkg:npm/c@3.0.0']);
    assert.deepEqual(dependsOn(bom, 'pkg:npm/%40scope/pkg@1.0.0'), ['pkg:npm/b@2.0.0']);
    assert.deepEqual(dependsOn(bom, 'pkg:npm/b@2.0.0'), []);
    assert.deepEqual(dependsOn(bom, 'pkg:npm/app@1.0.0'), ['pkg:npm/%40scope/pkg@1.0.0', 'pkg:npm/a@1.0.0', 'pkg:npm/b@2.0.0', 'pkg:npm/d@4.0.0']);
    const refs = new Set([bom.metadata.component['bom-ref'], ...bom.components.map((c) => c['bom-ref'])]);
    for (const d of bom.dependencies) for (const target of [d.ref, ...(d.dependsOn ?? [])]) assert.ok(refs.has(target), target);
  });

  it('gives the same bytes for the same lockfile, whatever order it lists its packages in', () => {
    assert.equal(cycloneDxJson(parsePackageLock(lockfile()), CONTEXT), text);
    const reordered = JSON.stringify(reversedDeep(JSON.parse(lockfile())));
    assert.notEqual(reordered, lockfile());
    assert.equal(cycloneDxJson(parsePackageLock(reordered), CONTEXT), text);
  });

  it('gives the same bytes under another locale (it never sorts with localeCompare)', () => {
    // '1.0.0-RC.1' sorts before '1.0.0-beta.1' by code point but after it in locale collation.
    const packages = {
      ...samplePackages(),
      'node_modules/e': registryEntry('e', '1.0.0-RC.1'),
      'node_modules/a/node_modules/e': registryEntry('e', '1.0.0-beta.1'),
    };
    const graph = parsePackageLock(lockfile(packages));
    const here = cycloneDxJson(graph, CONTEXT);
    const module = path.join(path.dirname(fileURLToPath(import.meta.url)), 'sbom.js');
    const script = `import { cycloneDxJson } from ${JSON.stringify(module)}; process.stdout.write(cycloneDxJson(${JSON.stringify(graph)}, ${JSON.stringify(CONTEXT)}));`;
    for (const locale of ['sv_SE.UTF-8', 'tr_TR.UTF-8', 'C']) {
      const there = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
        env: { PATH: process.env.PATH, LANG: locale, LC_ALL: locale },
        encoding: 'utf8',
      });
      assert.equal(there, here, locale);
    }
    const order = (JSON.parse(here) as Bom).components.filter((c) => c.name === 'e').map((c) => c.version);
    assert.deepEqual(order, ['1.0.0-RC.1', '1.0.0-beta.1']);
  });

  it('changes the serial number when the graph changes', () => {
    const changed = bomOf(lockfile({ ...samplePackages(), 'node_modules/c': registryEntry('c', '3.0.1') }));
    assert.match(changed.serialNumber, UUID_URN);
    assert.notEqual(changed.serialNumber, bom.serialNumber);
  });

  it('keeps the entry point the pipeline calls (cycloneDxFromLock gives the same document as a value)', () => {
    assert.deepEqual(cycloneDxFromLock(parsePackageLock(lockfile()), CONTEXT), JSON.parse(text));
  });

  it('writes a valid SBOM for an empty project', async () => {
    const empty: LockGraph = { lockfileVersion: 3, root: { name: 'empty', version: '0.0.0', dependsOn: [] }, packages: [] };
    assert.deepEqual(await validateCycloneDx(cycloneDxJson(empty, CONTEXT)), []);
  });
});

describe('validateCycloneDx', () => {
  const packages: Record<string, Entry> = { '': { name: 'app', version: '1.0.0' } };
  for (let i = 0; i < 150; i++) packages[`node_modules/p${i}`] = registryEntry(`p${i}`, '1.0.0');
  const text = cycloneDxJson(parsePackageLock(lockfile(packages)), CONTEXT);

  it('finds a bad hash in a later chunk at the same path as whole-document validation', async () => {
    const doc = JSON.parse(text) as { components: { hashes: { content: string }[] }[] };
    (doc.components[130]?.hashes[0] as { content: string }).content = 'not-hex';
    const broken = JSON.stringify(doc);
    const chunked = await validateCycloneDx(broken);
    const full = await validateCycloneDx(broken, { mode: 'full' });
    assert.ok(
      chunked.some((p) => p.path.startsWith('/components/130/hashes/0/content')),
      JSON.stringify(chunked),
    );
    assert.ok(
      full.some((p) => p.path.startsWith('/components/130/hashes/0/content')),
      JSON.stringify(full),
    );
  });

  it('rejects duplicate components in chunked mode as the schema’s uniqueItems does in full mode', async () => {
    const doc = JSON.parse(text) as { components: unknown[] };
    doc.components.push(doc.components[3]);
    const broken = JSON.stringify(doc);
    assert.ok((await validateCycloneDx(broken)).some((p) => p.message.includes('duplicate')));
    assert.ok((await validateCycloneDx(broken, { mode: 'full' })).length > 0);
  });

  it('rejects a document that is not JSON', async () => {
    assert.equal((await validateCycloneDx('{'))[0]?.code, 'JSON_MALFORMED');
  });
});
