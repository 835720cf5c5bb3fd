import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { parsePackageLock } from '../model/lockfile.js';
import { checkSpdx23, spdxJson } from './spdx.js';

type Entry = Record<string, unknown>;
const sri = (t: string) => createHash('sha512').update(t).digest();
const entry = (name: string, version: string, extra: Entry = {}): Entry => ({
  version,
  resolved: `https://registry.npmjs.org/${name}/-/${name.split('/').at(-1)}-${version}.tgz`,
  integrity: `sha512-${sri(`${name}@${version}`).toString('base64')}`,
  ...extra,
});

const lock = JSON.stringify({
  lockfileVersion: 3,
  packages: {
    '': { name: '@acme/app', version: '2.0.0', dependencies: { a: '1', '@s/b': '1' }, devDependencies: { d: '1' } },
    'node_modules/a': entry('a', '1.0.0', { dependencies: { '@s/b': '1' }, license: 'MIT' }),
    'node_modules/@s/b': entry('@s/b', '1.0.0', { license: 'not a licence (c) me' }),
    'node_modules/d': entry('d', '1.0.0-rc.1+build', { dev: true }),
    'node_modules/g': { version: '3.0.0', resolved: 'git+https://github.com/o/g.git#0123456789abcdef0123456789abcdef01234567' },
  },
});
const text = spdxJson(parsePackageLock(lock), { toolVersion: '0.1.0', sourceDateEpoch: 1_700_000_000 });
const doc = JSON.parse(text) as {
  documentNamespace: string;
  creationInfo: { created: string; creators: string[] };
  packages: Record<string, unknown>[];
  relationships: { spdxElementId: string; relationshipType: string; relatedSpdxElement: string }[];
};
const pkg = (name: string) => doc.packages.find((p) => p.name === name) as Record<string, unknown>;

describe('spdxJson', () => {
  it('writes an SPDX 2.3 document that passes the checks', () => {
    assert.deepEqual(checkSpdx23(doc), []);
    assert.equal((doc as unknown as { spdxVersion: string }).spdxVersion, 'SPDX-2.3');
  });

  it('takes created from SOURCE_DATE_EPOCH and names cairn as the tool', () => {
    assert.deepEqual(doc.creationInfo, { created: '2023-11-14T22:13:20Z', creators: ['Tool: cairn-0.1.0'] });
  });

  it('derives the namespace from the content, so the same lockfile gives the same bytes', () => {
    assert.match(doc.documentNamespace, /^https:\/\/cairn\.dev\/spdxdocs\/-acme-app-2\.0\.0-[0-9a-f-]{36}$/);
    assert.equal(spdxJson(parsePackageLock(lock), { toolVersion: '0.1.0', sourceDateEpoch: 1_700_000_000 }), text);
    assert.notEqual(spdxJson(parsePackageLock(lock), { toolVersion: '0.1.1', sourceDateEpoch: 1_700_000_000 }), text);
  });

  it('describes each package with its purl, checksum, download location and declared licence', () => {
    assert.deepEqual(pkg('a').externalRefs, [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: 'pkg:npm/a@1.0.0' }]);
    assert.deepEqual(pkg('a').checksums, [{ algorithm: 'SHA512', checksumValue: sri('a@1.0.0').toString('hex') }]);
    assert.equal(pkg('a').downloadLocation, 'https://registry.npmjs.org/a/-/a-1.0.0.tgz');
    assert.equal(pkg('a').licenseDeclared, 'MIT');
    assert.equal(pkg('@s/b').licenseDeclared, 'NOASSERTION');
    assert.equal(pkg('g').downloadLocation, 'git+https://github.com/o/g.git@0123456789abcdef0123456789abcdef01234567');
    assert.equal(pkg('d').SPDXID, 'SPDXRef-npm-d-1.0.0-rc.1-build');
  });

  it('relates the document, the root, its dependencies and dev dependencies', () => {
    const rel = doc.relationships.map((r) => `${r.spdxElementId} ${r.relationshipType} ${r.relatedSpdxElement}`);
    assert.ok(rel.includes('SPDXRef-DOCUMENT DESCRIBES SPDXRef-Root'));
    assert.ok(rel.includes('SPDXRef-Root DEPENDS_ON SPDXRef-npm-a-1.0.0'));
    assert.ok(rel.includes('SPDXRef-npm-a-1.0.0 DEPENDS_ON SPDXRef-npm--s-b-1.0.0'));
    assert.ok(rel.includes('SPDXRef-npm-d-1.0.0-rc.1-build DEV_DEPENDENCY_OF SPDXRef-Root'));
  });
});

describe('checkSpdx23', () => {
  const broken = (mutate: (d: Record<string, unknown>) => void) => {
    const d = JSON.parse(text) as Record<string, unknown>;
    mutate(d);
    return checkSpdx23(d).map((p) => p.path);
  };

  it('names each broken field', () => {
    assert.deepEqual(
      broken((d) => {
        d.spdxVersion = 'SPDX-2.2';
        (d.creationInfo as Record<string, unknown>).created = '2023-11-14';
      }),
      ['spdxVersion', 'creationInfo.created'],
    );
    assert.deepEqual(
      broken((d) => {
        const p = (d.packages as Record<string, unknown>[])[1] as Record<string, unknown>;
        p.SPDXID = 'SPDXRef-a b';
        p.checksums = [{ algorithm: 'SHA512', checksumValue: 'ABC' }];
        p.licenseDeclared = 'MIT OR';
      }),
      [
        'packages[1].SPDXID',
        'packages[1].licenseDeclared',
        'packages[1].checksums[0].checksumValue',
        'relationships[1].relatedSpdxElement',
        'relationships[3].relatedSpdxElement',
      ],
    );
    assert.deepEqual(
      broken((d) => {
        (d.relationships as unknown[]).splice(0, 1);
      }),
      ['relationships'],
    );
  });
});
