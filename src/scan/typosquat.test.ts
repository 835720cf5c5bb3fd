import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { DependencyGraph, DependencyNode } from '../model/lockfile.js';
import { rootManifestFromJson } from '../model/lockfile.js';
import { REPO_ROOT } from '../testkit.js';
import { parseLockfile } from './lockfiles.js';
import { POPULAR_NAMES, POPULAR_SCOPES } from './popular-names.js';
import { checkTyposquats, editDistance, homoglyphFold, popularNames } from './typosquat.js';

function node(name: string): DependencyNode {
  return {
    path: `node_modules/${name}`,
    name,
    version: '1.0.0',
    resolved: null,
    integrity: null,
    dev: false,
    optional: false,
    hasInstallScript: false,
    bin: {},
    os: [],
    cpu: [],
    dependsOn: [],
    peer: false,
    line: 7,
    installScript: false,
    source: 'registry',
    checksum: null,
    license: null,
  };
}

function graph(direct: string[], transitive: string[] = []): DependencyGraph {
  const nodes = [...direct, ...transitive].map(node);
  return {
    lockfileVersion: 3,
    format: 'npm',
    file: 'package-lock.json',
    formatVersion: '3',
    root: { name: 'app', version: '1.0.0', dependsOn: direct.map((n) => `node_modules/${n}`), line: 1 },
    packages: nodes,
  };
}

describe('the shipped popular-names list', () => {
  it('holds a few hundred distinct, valid npm names and scopes', () => {
    assert.ok(POPULAR_NAMES.length >= 300, `${POPULAR_NAMES.length}`);
    assert.equal(new Set(POPULAR_NAMES).size, POPULAR_NAMES.length, 'no duplicates');
    for (const n of POPULAR_NAMES) assert.match(n, /^[a-z0-9][a-z0-9._-]*$/, n);
    for (const s of POPULAR_SCOPES) assert.match(s, /^@[a-z0-9][a-z0-9._-]*$/, s);
  });

  it('is pinned by a digest', () => {
    assert.match(popularNames().digest, /^sha256:[0-9a-f]{64}$/);
  });
});

describe('PopularNames.match', () => {
  const list = popularNames();
  const cases: [string, string, string][] = [
    ['lodahs', 'lodash', 'transposition'],
    ['axois', 'axios', 'transposition'],
    ['expresss', 'express', 'edit-distance'],
    ['reqest', 'request', 'edit-distance'],
    ['crossenv', 'cross-env', 'separator'],
    ['cross_env', 'cross-env', 'separator'],
    ['l0dash', 'lodash', 'homoglyph'],
    ['rnoment', 'moment', 'homoglyph'],
    ['@bable/core', '@babel/core', 'scope-confusion'],
    ['@type/node', '@types/node', 'scope-confusion'],
    ['types-react', '@types/react', 'scope-confusion'],
  ];
  for (const [name, similarTo, technique] of cases) {
    it(`sees ${name} as ${similarTo} (${technique})`, () => assert.deepEqual(list.match(name), { similarTo, technique }));
  }

  for (const name of ['lodash', 'express', 'xmlbuilder2', 'qsx', 'left-pad-io-lib', '@babel/core', '@mycompany/lodash', 'react-dom']) {
    it(`leaves ${name} alone`, () => assert.equal(list.match(name), null));
  }

  it('never reports a popular name, whatever it resembles', () => {
    for (const n of POPULAR_NAMES) assert.equal(list.match(n), null, n);
  });
});

describe('checkTyposquats', () => {
  it('is high for a direct dependency and medium for a transitive one, at the package line', () => {
    const f = checkTyposquats(graph(['lodahs'], ['crossenv']));
    assert.deepEqual(
      f.map((x) => [x.package?.name, x.severity, x.location.line, x.evidence.similarTo]),
      [
        ['lodahs', 'high', 7, 'lodash'],
        ['crossenv', 'medium', 7, 'cross-env'],
      ],
    );
  });

  it('gives no finding for the clean fixtures of every family', () => {
    for (const [family, file] of [
      ['pnpm-v9', 'pnpm-lock.yaml'],
      ['yarn-classic', 'yarn.lock'],
      ['yarn-berry', 'yarn.lock'],
    ]) {
      const dir = path.join(REPO_ROOT, 'src/scan/testdata', family as string);
      const g = parseLockfile(file as string, readFileSync(path.join(dir, file as string)), rootManifestFromJson(readFileSync(path.join(dir, 'package.json'))));
      assert.deepEqual(checkTyposquats(g), [], family);
    }
  });
});

describe('editDistance and homoglyphFold', () => {
  it('counts insertions, deletions, substitutions and adjacent swaps as one edit', () => {
    assert.deepEqual(
      [editDistance('abc', 'abcd'), editDistance('abc', 'ab'), editDistance('abc', 'axc'), editDistance('abc', 'bac'), editDistance('abc', 'abc')],
      [1, 1, 1, 1, 0],
    );
  });

  it('stops early above its cap', () => {
    assert.equal(editDistance('aaaaaa', 'bbbbbb', 1), 2);
    assert.equal(editDistance('a', 'abcdef', 2), 3);
  });

  it('folds look-alike characters', () => {
    assert.equal(homoglyphFold('rn0du1e'), 'module');
    assert.equal(homoglyphFold('vvebpack'), 'webpack');
  });
});
