import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { type CairnError, isCairnError } from '../model/errors.js';
import { type DependencyGraph, type DependencyNode, rootManifestFromJson } from '../model/lockfile.js';
import { REPO_ROOT } from '../testkit.js';
import { parsePnpmLock, splitPnpmKey } from './lockfile-pnpm.js';
import { parseYarnLock, splitDescriptor } from './lockfile-yarn.js';
import { parseLockfile, parseNpmrc } from './lockfiles.js';
import { cycloneDxJson, validateCycloneDx } from './sbom.js';

const TESTDATA = path.join(REPO_ROOT, 'src/scan/testdata');
const read = (family: string, file: string) => readFileSync(path.join(TESTDATA, family, file), 'utf8');
const manifestOf = (family: string) => rootManifestFromJson(read(family, 'package.json'));

function fixture(family: 'pnpm-v9' | 'pnpm-v6' | 'yarn-classic' | 'yarn-berry', withManifest = true): { text: string; graph: DependencyGraph } {
  const file = family.startsWith('pnpm') ? 'pnpm-lock.yaml' : 'yarn.lock';
  const text = read(family, file);
  return { text, graph: parseLockfile(file, text, withManifest ? manifestOf(family) : undefined) };
}

function byName(graph: DependencyGraph, name: string): DependencyNode {
  const found = graph.packages.find((p) => p.name === name);
  assert.ok(found, `no ${name} in ${graph.file}`);
  return found;
}

function lineOf(text: string, needle: string): number {
  const i = text.split('\n').findIndex((l) => l.startsWith(needle));
  assert.ok(i >= 0, needle);
  return i + 1;
}

function expectError(fn: () => unknown, code: string): CairnError {
  try {
    fn();
  } catch (error) {
    assert.ok(isCairnError(error), String(error));
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}`);
}

/** What every family of the fixture agrees on: the same project locked by four package managers. */
const COMMON = [
  '@babel/code-frame@7.24.7',
  '@babel/highlight@7.24.7',
  'debug@4.3.4',
  'fsevents@2.3.3',
  'ms@2.1.2',
  'picocolors@1.0.1',
  'string-width@4.2.3',
  'typescript@5.4.5',
];

describe('the same project in every lockfile family', () => {
  for (const family of ['pnpm-v9', 'pnpm-v6', 'yarn-classic', 'yarn-berry'] as const) {
    describe(family, () => {
      const { text, graph } = fixture(family);

      it('holds the same package versions', () => {
        const versions = new Set(graph.packages.map((p) => `${p.name}@${p.version}`));
        for (const v of COMMON) assert.ok(versions.has(v), `${v} missing`);
      });

      it('reads aliases by their real name', () => {
        assert.equal(byName(graph, 'string-width').version, '4.2.3');
        assert.ok(!graph.packages.some((p) => p.name === 'string-width-cjs'));
      });

      it('links the root to its direct dependencies and packages to theirs', () => {
        const names = (ids: readonly string[]) => ids.map((id) => graph.packages.find((p) => p.path === id)?.name).sort();
        assert.deepEqual(names(graph.root.dependsOn), ['@babel/code-frame', 'debug', 'fsevents', 'string-width', 'typescript']);
        assert.deepEqual(names(byName(graph, '@babel/code-frame').dependsOn), ['@babel/highlight', 'picocolors']);
        assert.ok(names(byName(graph, 'debug').dependsOn).includes('ms'));
      });

      it('marks what only dev dependencies reach as dev', () => {
        assert.equal(byName(graph, 'typescript').dev, true);
        assert.equal(byName(graph, 'ms').dev, false);
        assert.equal(byName(graph, 'picocolors').dev, false);
      });

      it('classifies every package as a registry package', () => {
        for (const p of graph.packages) assert.equal(p.source, 'registry', p.path);
      });

      it('gives each package the line of its entry', () => {
        const prefix = family === 'pnpm-v6' ? '  /' : family === 'pnpm-v9' ? '  ' : family === 'yarn-berry' ? '"' : '';
        const key = family.startsWith('pnpm') ? (family === 'pnpm-v9' ? "'@babel/code-frame@7.24.7'" : '@babel/code-frame@7.24.7') : '"@babel/code-frame@';
        assert.equal(byName(graph, '@babel/code-frame').line, lineOf(text, `${prefix}${family === 'yarn-berry' ? '@babel/code-frame@' : key}`));
      });

      it('gives a valid CycloneDX SBOM', async () => {
        assert.deepEqual(await validateCycloneDx(cycloneDxJson(graph, { toolVersion: 't', sourceDateEpoch: 0 })), []);
      });
    });
  }
});

describe('parsePnpmLock', () => {
  it('keeps the peer suffix in a v9 snapshot id and resolves dependencies through it', () => {
    const { graph } = fixture('pnpm-v9');
    const debug = byName(graph, 'debug');
    assert.equal(debug.path, 'debug@4.3.4(supports-color@5.5.0)');
    assert.deepEqual(debug.dependsOn, ['ms@2.1.2', 'supports-color@5.5.0']);
  });

  it('records sha512 integrity from resolution, with no URL for registry packages', () => {
    const { graph } = fixture('pnpm-v9');
    const ms = byName(graph, 'ms');
    assert.match(ms.integrity ?? '', /^sha512-/);
    assert.equal(ms.resolved, null);
  });

  it('knows install scripts in v6 (requiresBuild) and not in v9', () => {
    assert.equal(byName(fixture('pnpm-v6').graph, 'fsevents').installScript, true);
    assert.equal(byName(fixture('pnpm-v6').graph, 'ms').installScript, false);
    assert.equal(byName(fixture('pnpm-v9').graph, 'fsevents').installScript, null);
  });

  it('marks optional packages and reads os limits', () => {
    const fsevents = byName(fixture('pnpm-v9').graph, 'fsevents');
    assert.equal(fsevents.optional, true);
    assert.deepEqual(fsevents.os, ['darwin']);
  });

  it('classifies tarball, git and directory resolutions', () => {
    const extra = `
  evil@1.0.0:
    resolution: {tarball: https://evil.example/evil-1.0.0.tgz, integrity: sha512-AAAA}

  gitdep@https://codeload.github.com/o/gitdep/tar.gz/0123456789abcdef0123456789abcdef01234567:
    resolution: {tarball: https://codeload.github.com/o/gitdep/tar.gz/0123456789abcdef0123456789abcdef01234567}
    version: 1.2.0

  repo@git+https://github.com/o/repo.git#abc:
    resolution: {type: git, repo: https://github.com/o/repo.git, commit: abc}
    version: 2.0.0

  local@file:../local:
    resolution: {directory: ../local, type: directory}
    version: 0.1.0
`;
    const text = read('pnpm-v9', 'pnpm-lock.yaml').replace('\nsnapshots:\n', `${extra}\nsnapshots:\n`);
    const graph = parsePnpmLock(text);
    // packages without snapshots are not installed in v9: only the snapshot keys are nodes.
    assert.ok(!graph.packages.some((p) => p.name === 'evil'));
    const withSnapshots = parsePnpmLock(
      `${text}\n  evil@1.0.0: {}\n\n  gitdep@https://codeload.github.com/o/gitdep/tar.gz/0123456789abcdef0123456789abcdef01234567: {}\n\n  repo@git+https://github.com/o/repo.git#abc: {}\n\n  local@file:../local: {}\n`,
    );
    assert.deepEqual(
      ['evil', 'gitdep', 'repo', 'local'].map((n) => [byName(withSnapshots, n).source, byName(withSnapshots, n).version]),
      [
        ['tarball', '1.0.0'],
        ['git', '1.2.0'],
        ['git', '2.0.0'],
        ['file', '0.1.0'],
      ],
    );
    assert.equal(byName(withSnapshots, 'repo').resolved, 'git+https://github.com/o/repo.git#abc');
  });

  it('keeps versions such as 1.10 as text (failsafe schema), never as numbers', () => {
    const text =
      "lockfileVersion: '9.0'\nimporters:\n  .:\n    dependencies:\n      a:\n        specifier: ^1.10.0\n        version: 1.10.0\npackages:\n  a@1.10.0:\n    resolution: {integrity: sha512-AAAA}\nsnapshots:\n  a@1.10.0: {}\n";
    assert.equal(parsePnpmLock(text).packages[0]?.version, '1.10.0');
  });

  it('splits keys with scopes, peers and the v6 slash', () => {
    assert.deepEqual(splitPnpmKey('/@s/p@1.0.0(react@18.0.0)'), { name: '@s/p', version: '1.0.0', bare: '/@s/p@1.0.0' });
    assert.equal(splitPnpmKey('noversion'), null);
  });

  it('rejects lockfile 5.x as SCAN_LOCKFILE_UNSUPPORTED', () => {
    expectError(() => parsePnpmLock("lockfileVersion: '5.4'\npackages: {}\n"), 'SCAN_LOCKFILE_UNSUPPORTED');
  });

  it('rejects YAML that does not parse, duplicate keys and aliases as SCAN_LOCKFILE_MALFORMED', () => {
    expectError(() => parsePnpmLock("lockfileVersion: '9.0'\npackages: [\n"), 'SCAN_LOCKFILE_MALFORMED');
    expectError(() => parsePnpmLock("lockfileVersion: '9.0'\nlockfileVersion: '9.0'\n"), 'SCAN_LOCKFILE_MALFORMED');
    const bomb = "lockfileVersion: '9.0'\na: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n";
    assert.equal(expectError(() => parsePnpmLock(bomb), 'SCAN_LOCKFILE_MALFORMED').problems[0]?.code, 'YAML_ALIASES');
  });

  it('rejects a package without a resolution, naming it', () => {
    const error = expectError(
      () => parsePnpmLock("lockfileVersion: '9.0'\npackages:\n  a@1.0.0:\n    engines: {node: '>=8'}\nsnapshots:\n  a@1.0.0: {}\n"),
      'SCAN_LOCKFILE_MALFORMED',
    );
    assert.deepEqual(
      error.problems.map((p) => p.path),
      ['packages.a@1.0.0.resolution'],
    );
  });
});

describe('parseYarnLock', () => {
  it('derives a sha1 integrity from the URL fragment when a classic entry has no integrity line', () => {
    const text = read('yarn-classic', 'yarn.lock').replace(/\n {2}integrity sha512-[^\n]+(?=\n\npicocolors)/, '');
    assert.notEqual(text, read('yarn-classic', 'yarn.lock'));
    const ms = byName(parseYarnLock(text), 'ms');
    assert.match(ms.integrity ?? '', /^sha1-/);
    assert.equal(byName(parseYarnLock(text), 'debug').integrity?.startsWith('sha512-'), true);
  });

  it('finds the root dependencies from the graph alone when no package.json is given', () => {
    const { graph } = fixture('yarn-classic', false);
    const names = graph.root.dependsOn.map((id) => graph.packages.find((p) => p.path === id)?.name).sort();
    assert.deepEqual(names, ['@babel/code-frame', 'debug', 'fsevents', 'string-width', 'typescript']);
    assert.ok(
      graph.packages.every((p) => !p.dev),
      'without package.json nothing is known to be dev',
    );
  });

  it('keeps berry checksums apart from integrity (they hash the cache zip, not the tarball)', () => {
    const ms = byName(fixture('yarn-berry').graph, 'ms');
    assert.equal(ms.integrity, null);
    assert.match(ms.checksum ?? '', /^10c0\/[0-9a-f]{128}$/);
  });

  it('reads berry bin maps and classifies patch: resolutions by the package they patch', () => {
    const { text } = fixture('yarn-berry');
    assert.deepEqual(byName(fixture('yarn-berry').graph, 'typescript').bin, { tsc: 'bin/tsc', tsserver: 'bin/tsserver' });
    const patched = text.replace(
      'resolution: "typescript@npm:5.4.5"',
      'resolution: "typescript@patch:typescript@npm%3A5.4.5#optional!builtin<compat/typescript>::version=5.4.5&hash=5adc0c"',
    );
    assert.equal(byName(parseYarnLock(patched), 'typescript').source, 'registry');
  });

  it('classifies berry git, tarball, file and link resolutions', () => {
    const add = (name: string, resolution: string) =>
      `\n"${name}@x":\n  version: 1.0.0\n  resolution: "${resolution}"\n  languageName: node\n  linkType: hard\n`;
    const text =
      read('yarn-berry', 'yarn.lock') +
      add('g', 'g@https://github.com/o/g.git#commit=0123456789abcdef0123456789abcdef01234567') +
      add('t', 't@https://example.com/t-1.0.0.tgz') +
      add('f', 'f@file:../f') +
      add('l', 'l@link:../l');
    const graph = parseYarnLock(text);
    assert.deepEqual(
      ['g', 't', 'f', 'l'].map((n) => byName(graph, n).source),
      ['git', 'tarball', 'file', 'link'],
    );
  });

  it('splits descriptors with scopes and aliases', () => {
    assert.deepEqual(splitDescriptor('@s/p@npm:^1.0.0'), { name: '@s/p', range: 'npm:^1.0.0' });
    assert.deepEqual(splitDescriptor('a@npm:b@^1'), { name: 'a', range: 'npm:b@^1' });
  });

  it('rejects a classic file whose lines are not yarn.lock syntax, naming the line', () => {
    const error = expectError(() => parseYarnLock('# yarn lockfile v1\n\nlodash@^4:\n  version "4.17.21"\n      resolved "x"\n'), 'SCAN_LOCKFILE_MALFORMED');
    assert.equal(error.problems[0]?.path, 'line 5');
    expectError(() => parseYarnLock('lodash@^4\n  version "4"\n'), 'SCAN_LOCKFILE_MALFORMED');
    expectError(() => parseYarnLock('"lodash@^4:\n'), 'SCAN_LOCKFILE_MALFORMED');
  });

  it('rejects a classic entry without a version and a berry entry without a resolution', () => {
    expectError(() => parseYarnLock('lodash@^4:\n  resolved "https://registry.yarnpkg.com/lodash/-/lodash-4.17.21.tgz"\n'), 'SCAN_LOCKFILE_MALFORMED');
    const error = expectError(() => parseYarnLock('__metadata:\n  version: 8\n\n"a@npm:^1":\n  version: 1.0.0\n'), 'SCAN_LOCKFILE_MALFORMED');
    assert.deepEqual(
      error.problems.map((p) => p.path),
      ['a@npm:^1.resolution'],
    );
  });

  it('rejects an unknown berry lockfile version as SCAN_LOCKFILE_UNSUPPORTED', () => {
    expectError(() => parseYarnLock('__metadata:\n  version: 3\n'), 'SCAN_LOCKFILE_UNSUPPORTED');
  });

  it('caps line length', () => {
    expectError(() => parseYarnLock(`a@^1:\n  version "${'1'.repeat(70_000)}"\n`), 'SCAN_LOCKFILE_MALFORMED');
  });
});

describe('parseNpmrc', () => {
  it('reads the default registry host and scope registries, skipping comments and variables', () => {
    const facts = parseNpmrc(
      `# comment\nregistry=https://npm.acme.example/\n@acme:registry=https://npm.acme.example:8443/npm/\n; other\n@x:registry=\${REG}\n//npm.acme.example/:_authToken=\${TOKEN}\n`,
    );
    assert.deepEqual(facts, { registryHost: 'npm.acme.example', scopeRegistries: { '@acme': 'npm.acme.example:8443' } });
  });
});
