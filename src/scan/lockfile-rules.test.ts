import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { Finding } from '../model/finding.js';
import { type DependencyGraph, parsePackageLock, rootManifestFromJson } from '../model/lockfile.js';
import { REPO_ROOT } from '../testkit.js';
import { checkLockfile, DEFAULT_LOCKFILE_POLICY, diffLockfiles, type LockfilePolicy, parseIntegrity } from './lockfile-rules.js';
import { parseLockfile } from './lockfiles.js';

type Entry = Record<string, unknown>;
const TESTDATA = path.join(REPO_ROOT, 'src/scan/testdata');
const sri = (text: string, alg = 'sha512') => `${alg}-${createHash(alg).update(text).digest('base64')}`;
const tarball = (name: string, version: string, host = 'registry.npmjs.org') => `https://${host}/${name}/-/${name.split('/').at(-1)}-${version}.tgz`;
const entry = (name: string, version: string, extra: Entry = {}): Entry => ({
  version,
  resolved: tarball(name, version),
  integrity: sri(`${name}@${version}`),
  ...extra,
});

function npmLock(extra: Record<string, Entry> = {}, base: Record<string, Entry> = {}): string {
  const packages: Record<string, Entry> = {
    '': { name: 'app', version: '1.0.0', dependencies: { left: '^1.0.0', right: '^2.0.0' } },
    'node_modules/left': entry('left', '1.0.0', { dependencies: { right: '^2.0.0' } }),
    'node_modules/right': entry('right', '2.0.0'),
    ...base,
    ...extra,
  };
  return JSON.stringify({ name: 'app', version: '1.0.0', lockfileVersion: 3, requires: true, packages }, null, 2);
}

const npm = (text: string) => parsePackageLock(text);
const fixture = (family: string, file: string, transform: (t: string) => string = (t) => t): DependencyGraph => {
  const text = transform(readFileSync(path.join(TESTDATA, family, file), 'utf8'));
  return parseLockfile(file, text, rootManifestFromJson(readFileSync(path.join(TESTDATA, family, 'package.json'))));
};
const pnpm9 = (t?: (s: string) => string) => fixture('pnpm-v9', 'pnpm-lock.yaml', t);
const yarnClassic = (t?: (s: string) => string) => fixture('yarn-classic', 'yarn.lock', t);
const berry = (t?: (s: string) => string) => fixture('yarn-berry', 'yarn.lock', t);

function rules(findings: readonly Finding[]): string[] {
  return findings.map((f) => `${f.ruleId} ${f.package?.name ?? ''}`.trim()).sort();
}

function only(graph: DependencyGraph, policy: LockfilePolicy = DEFAULT_LOCKFILE_POLICY): string[] {
  return rules(checkLockfile(graph, policy).filter((f) => f.severity !== 'info'));
}

describe('checkLockfile on clean lockfiles', () => {
  it('gives no finding for a clean npm lockfile', () => assert.deepEqual(checkLockfile(npm(npmLock())), []));
  it('gives no finding for the clean pnpm 9 fixture', () => assert.deepEqual(checkLockfile(pnpm9()), []));
  it('gives no finding for the clean yarn classic fixture', () => assert.deepEqual(checkLockfile(yarnClassic()), []));
  it('gives no finding for the clean yarn berry fixture', () => assert.deepEqual(checkLockfile(berry()), []));
  it('gives only the install-script inventory for the clean pnpm 6 fixture', () => {
    assert.deepEqual(
      checkLockfile(fixture('pnpm-v6', 'pnpm-lock.yaml')).map((f) => [f.ruleId, f.severity, f.package?.name]),
      [['lockfile-install-script', 'info', 'fsevents']],
    );
  });
});

describe('checkLockfile: one tampered lockfile per rule', () => {
  describe('lockfile-missing-integrity', () => {
    it('npm: a registry package without integrity', () => {
      assert.deepEqual(only(npm(npmLock({ 'node_modules/right': { version: '2.0.0', resolved: tarball('right', '2.0.0') } }))), [
        'lockfile-missing-integrity right',
      ]);
    });
    it('pnpm: a tarball resolution without integrity', () => {
      const g = pnpm9((t) =>
        t.replace(/resolution: \{integrity: [^}]+\}(?=\n\n {2}picocolors)/, 'resolution: {tarball: https://registry.npmjs.org/ms/-/ms-2.1.2.tgz}'),
      );
      assert.deepEqual(only(g), ['lockfile-missing-integrity ms']);
    });
    it('yarn classic: no integrity line and no hash in the URL', () => {
      const g = yarnClassic((t) => t.replace(/(ms\/-\/ms-2\.1\.2\.tgz)#[0-9a-f]+"\n {2}integrity [^\n]+/, '$1"'));
      assert.deepEqual(only(g), ['lockfile-missing-integrity ms']);
    });
    it('yarn berry: no checksum', () => {
      const g = berry((t) => t.replace(/(resolution: "ms@npm:2\.1\.2"\n) {2}checksum: [^\n]+\n/, '$1'));
      assert.deepEqual(only(g), ['lockfile-missing-integrity ms']);
    });
  });

  describe('lockfile-invalid-integrity', () => {
    it('npm: not an SRI value', () => {
      assert.deepEqual(only(npm(npmLock({ 'node_modules/right': entry('right', '2.0.0', { integrity: 'sha512-!!!' }) }))), [
        'lockfile-invalid-integrity right',
      ]);
    });
    it('npm: a sha512 of the wrong length', () => {
      assert.deepEqual(only(npm(npmLock({ 'node_modules/right': entry('right', '2.0.0', { integrity: `sha512-${Buffer.alloc(32).toString('base64')}` }) }))), [
        'lockfile-invalid-integrity right',
      ]);
    });
  });

  describe('lockfile-weak-integrity (an integrity downgrade)', () => {
    it('npm: sha1 only', () => {
      const f = checkLockfile(npm(npmLock({ 'node_modules/right': entry('right', '2.0.0', { integrity: sri('right', 'sha1') }) })));
      assert.deepEqual(rules(f), ['lockfile-weak-integrity right']);
      assert.deepEqual(f[0]?.evidence.algorithms, ['sha1']);
    });
    it('pnpm: sha1 only', () => {
      assert.deepEqual(only(pnpm9((t) => t.replace(/(ms@2\.1\.2:\n {4}resolution: \{integrity: )[^}]+/, `$1${sri('ms', 'sha1')}`))), [
        'lockfile-weak-integrity ms',
      ]);
    });
    it('yarn classic: only the sha1 in the URL', () => {
      const g = yarnClassic((t) => t.replace(/(ms\/-\/ms-2\.1\.2\.tgz#[0-9a-f]+")\n {2}integrity [^\n]+/, '$1'));
      assert.deepEqual(only(g), ['lockfile-weak-integrity ms']);
    });
    it('accepts sha512 next to sha1', () => {
      assert.deepEqual(only(npm(npmLock({ 'node_modules/right': entry('right', '2.0.0', { integrity: `${sri('r')} ${sri('r', 'sha1')}` }) }))), []);
    });
  });

  describe('lockfile-insecure-protocol', () => {
    it('npm: http', () => {
      assert.deepEqual(
        only(npm(npmLock({ 'node_modules/right': entry('right', '2.0.0', { resolved: tarball('right', '2.0.0').replace('https:', 'http:') }) }))),
        ['lockfile-insecure-protocol right'],
      );
    });
    it('yarn classic: http', () => {
      assert.deepEqual(only(yarnClassic((t) => t.replace('"https://registry.yarnpkg.com/ms/', '"http://registry.yarnpkg.com/ms/'))), [
        'lockfile-insecure-protocol ms',
      ]);
    });
    it('npm: git:// (flagged as git too)', () => {
      assert.deepEqual(only(npm(npmLock({ 'node_modules/right': { version: '2.0.0', resolved: 'git://github.com/o/right.git#abc' } }))), [
        'lockfile-git-source right',
        'lockfile-insecure-protocol right',
      ]);
    });
  });

  describe('lockfile-disallowed-host', () => {
    const evil = npmLock({ 'node_modules/right': entry('right', '2.0.0', { resolved: tarball('right', '2.0.0', 'registry.evil.example') }) });
    it('npm: a registry URL on another host', () => assert.deepEqual(only(npm(evil)), ['lockfile-disallowed-host right']));
    it('yarn classic: another host', () => {
      assert.deepEqual(only(yarnClassic((t) => t.replace('https://registry.yarnpkg.com/ms/', 'https://registry.evil.example/ms/'))), [
        'lockfile-disallowed-host ms',
      ]);
    });
    it('pnpm: a tarball resolution on another host', () => {
      const g = pnpm9((t) =>
        t.replace(/(ms@2\.1\.2:\n {4}resolution: \{)(integrity: [^}]+)\}/, `$1$2, tarball: ${tarball('ms', '2.1.2', 'registry.evil.example')}}`),
      );
      assert.deepEqual(only(g), ['lockfile-disallowed-host ms']);
    });
    it('accepts a host the policy allows', () => {
      assert.deepEqual(only(npm(evil), { ...DEFAULT_LOCKFILE_POLICY, allowedHosts: ['registry.evil.example', 'registry.npmjs.org'] }), []);
    });
  });

  describe('lockfile-name-mismatch and lockfile-version-mismatch', () => {
    it('npm: the URL names another package (lockfile injection)', () => {
      const f = checkLockfile(npm(npmLock({ 'node_modules/right': entry('right', '2.0.0', { resolved: tarball('evil-right', '2.0.0') }) })));
      assert.deepEqual(rules(f), ['lockfile-name-mismatch right']);
      assert.equal(f[0]?.evidence.urlName, 'evil-right');
    });
    it('yarn classic: the URL names another package', () => {
      assert.deepEqual(only(yarnClassic((t) => t.replace('registry.yarnpkg.com/ms/-/ms-2.1.2.tgz', 'registry.yarnpkg.com/mz/-/mz-2.1.2.tgz'))), [
        'lockfile-name-mismatch ms',
      ]);
    });
    it('npm: the URL names another version', () => {
      assert.deepEqual(only(npm(npmLock({ 'node_modules/right': entry('right', '2.0.0', { resolved: tarball('right', '2.0.1') }) }))), [
        'lockfile-version-mismatch right',
      ]);
    });
    it('accepts an npm alias, whose entry names the real package', () => {
      assert.deepEqual(only(npm(npmLock({ 'node_modules/alias': entry('real', '1.0.0', { name: 'real' }) }))), []);
    });
  });

  describe('sources outside the registry', () => {
    it('npm: git, remote tarball, local file, unknown', () => {
      const g = npm(
        npmLock({
          'node_modules/g': { version: '1.0.0', resolved: 'git+ssh://git@github.com/o/g.git#0123456789abcdef0123456789abcdef01234567' },
          'node_modules/t': { version: '1.0.0', resolved: 'https://example.com/t.tgz', integrity: sri('t') },
          'node_modules/f': { version: '1.0.0', resolved: 'file:../f' },
          'node_modules/u': { version: '1.0.0', resolved: 'ftp://example.com/u.tgz', integrity: sri('u') },
        }),
      );
      assert.deepEqual(only(g), ['lockfile-file-source f', 'lockfile-git-source g', 'lockfile-tarball-source t', 'lockfile-unknown-source u']);
    });
    it('pnpm: git and directory resolutions', () => {
      const g = pnpm9((t) =>
        t
          .replace(/(ms@2\.1\.2:\n {4}resolution: )\{[^}]+\}/, '$1{type: git, repo: https://github.com/o/ms.git, commit: abc}')
          .replace(/(picocolors@1\.0\.1:\n {4}resolution: )\{[^}]+\}/, '$1{directory: ../picocolors, type: directory}'),
      );
      assert.deepEqual(only(g), ['lockfile-file-source picocolors', 'lockfile-git-source ms']);
    });
    it('yarn berry: git, tarball and exec resolutions', () => {
      const g = berry((t) =>
        t
          .replace('resolution: "ms@npm:2.1.2"', 'resolution: "ms@https://github.com/o/ms.git#commit=0123456789abcdef0123456789abcdef01234567"')
          .replace('resolution: "picocolors@npm:1.0.1"', 'resolution: "picocolors@https://example.com/picocolors-1.0.1.tgz"')
          .replace('resolution: "string-width@npm:4.2.3"', 'resolution: "string-width@exec:./build.js"'),
      );
      assert.deepEqual(only(g), ['lockfile-git-source ms', 'lockfile-tarball-source picocolors', 'lockfile-unknown-source string-width']);
    });
  });

  describe('lockfile-install-script', () => {
    it('npm: lists a package with an install script as information', () => {
      const f = checkLockfile(npm(npmLock({ 'node_modules/right': entry('right', '2.0.0', { hasInstallScript: true }) })));
      assert.deepEqual(
        f.map((x) => [x.ruleId, x.severity]),
        [['lockfile-install-script', 'info']],
      );
    });
  });

  describe('dependency-confusion', () => {
    const lock = npmLock({ 'node_modules/@acme/tools': entry('@acme/tools', '99.0.0'), 'node_modules/internal-lib': entry('internal-lib', '1.0.0') });
    it('npm: a private scope resolved from the public registry is critical', () => {
      const f = checkLockfile(npm(lock), { ...DEFAULT_LOCKFILE_POLICY, privateScopes: ['@acme'] });
      assert.deepEqual(
        f.map((x) => [x.ruleId, x.severity, x.package?.name]),
        [['dependency-confusion', 'critical', '@acme/tools']],
      );
    });
    it('npm: a private name, and a scope whose .npmrc registry is another host', () => {
      const policy = { ...DEFAULT_LOCKFILE_POLICY, privateNames: ['internal-lib'], scopeRegistries: { '@acme': 'npm.acme.example' } };
      assert.deepEqual(only(npm(lock), policy), ['dependency-confusion @acme/tools', 'dependency-confusion internal-lib']);
    });
    it('accepts a private scope resolved from its own registry', () => {
      const own = npmLock({ 'node_modules/@acme/tools': entry('@acme/tools', '1.0.0', { resolved: tarball('@acme/tools', '1.0.0', 'npm.acme.example') }) });
      const policy = { ...DEFAULT_LOCKFILE_POLICY, allowedHosts: ['registry.npmjs.org', 'npm.acme.example'], scopeRegistries: { '@acme': 'npm.acme.example' } };
      assert.deepEqual(only(npm(own), policy), []);
    });
    it('yarn classic: a private scope from registry.yarnpkg.com', () => {
      assert.deepEqual(only(yarnClassic(), { ...DEFAULT_LOCKFILE_POLICY, privateScopes: ['@babel'] }), [
        'dependency-confusion @babel/code-frame',
        'dependency-confusion @babel/highlight',
      ]);
    });
  });
});

describe('diffLockfiles', () => {
  const base = npm(npmLock());

  it('gives no finding and nothing added when nothing changed', () => {
    const d = diffLockfiles(base, npm(npmLock()));
    assert.deepEqual([d.findings, [...d.added]], [[], []]);
  });

  it('reports the same name@version with another integrity as tampering (critical)', () => {
    const head = npm(npmLock({ 'node_modules/right': entry('right', '2.0.0', { integrity: sri('forged') }) }));
    const f = diffLockfiles(base, head).findings;
    assert.deepEqual(
      f.map((x) => [x.ruleId, x.severity, x.package?.name]),
      [['lockfile-integrity-changed', 'critical', 'right']],
    );
    assert.deepEqual([f[0]?.evidence.base, f[0]?.evidence.head], [sri('right@2.0.0'), sri('forged')]);
  });

  it('reports an integrity that disappeared as tampering', () => {
    const head = npm(npmLock({ 'node_modules/right': { version: '2.0.0', resolved: tarball('right', '2.0.0') } }));
    assert.deepEqual(rules(diffLockfiles(base, head).findings), ['lockfile-integrity-changed right']);
  });

  it('compares across formats: a pnpm base and an npm head', () => {
    const pnpmBase = pnpm9();
    const head = npm(
      npmLock(
        {},
        {
          'node_modules/ms': entry('ms', '2.1.2', { integrity: sri('not ms') }),
          'node_modules/picocolors': entry('picocolors', '1.0.1', { integrity: sri('picocolors@1.0.1') }),
        },
      ),
    );
    assert.deepEqual(rules(diffLockfiles(pnpmBase, head).findings), ['lockfile-integrity-changed ms']);
  });

  it('reports another resolved URL for the same version, but not yarn’s mirror of the npm registry', () => {
    const moved = npm(npmLock({ 'node_modules/right': entry('right', '2.0.0', { resolved: tarball('right', '2.0.0', 'mirror.example') }) }));
    assert.deepEqual(rules(diffLockfiles(base, moved).findings), ['lockfile-resolved-changed right']);
    const mirrored = npm(npmLock({ 'node_modules/right': entry('right', '2.0.0', { resolved: tarball('right', '2.0.0', 'registry.yarnpkg.com') }) }));
    assert.deepEqual(diffLockfiles(base, mirrored).findings, []);
  });

  it('reports a package that newly runs an install script, not a version bump of one that always did', () => {
    const withScript = npm(npmLock({ 'node_modules/right': entry('right', '2.0.0', { hasInstallScript: true }) }));
    assert.deepEqual(rules(diffLockfiles(base, withScript).findings), ['lockfile-new-install-script right']);
    const bumped = npm(npmLock({ 'node_modules/right': entry('right', '2.1.0', { hasInstallScript: true }) }));
    assert.deepEqual(diffLockfiles(withScript, bumped).findings, []);
    const added = npm(npmLock({ 'node_modules/esbuild': entry('esbuild', '0.20.0', { hasInstallScript: true }) }));
    assert.deepEqual(rules(diffLockfiles(base, added).findings), ['lockfile-new-install-script esbuild']);
  });

  it('reports a new git or tarball source, and a registry package that moved to one', () => {
    const head = npm(npmLock({ 'node_modules/right': { version: '2.0.0', resolved: 'https://example.com/right.tgz', integrity: sri('right@2.0.0') } }));
    assert.deepEqual(rules(diffLockfiles(base, head).findings), ['lockfile-new-non-registry-source right', 'lockfile-resolved-changed right']);
    assert.deepEqual(diffLockfiles(head, head).findings, []);
  });

  it('lists the versions that are new', () => {
    const head = npm(npmLock({ 'node_modules/right': entry('right', '2.1.0'), 'node_modules/extra': entry('extra', '1.0.0') }));
    assert.deepEqual([...diffLockfiles(base, head).added].sort(), ['extra@1.0.0', 'right@2.1.0']);
  });

  it('compares berry checksums only under the same cache key', () => {
    const b = berry();
    const changed = berry((t) => t.replace(/(resolution: "ms@npm:2\.1\.2"\n {2}checksum: 10c0\/)[0-9a-f]{8}/, '$1deadbeef'));
    assert.deepEqual(rules(diffLockfiles(b, changed).findings), ['lockfile-integrity-changed ms']);
    const rekeyed = berry((t) => t.replace(/(resolution: "ms@npm:2\.1\.2"\n {2}checksum: )10c0\/[0-9a-f]{8}/, '$19/deadbeef'));
    assert.deepEqual(diffLockfiles(b, rekeyed).findings, []);
  });
});

describe('parseIntegrity', () => {
  it('reads every well-formed hash and drops the rest', () => {
    const value = `${sri('a')} sha1-bad md5-${Buffer.alloc(16).toString('base64')} ${sri('a', 'sha1')}?opt`;
    assert.deepEqual(
      parseIntegrity(value).map((h) => h.algorithm),
      ['sha512', 'sha1'],
    );
  });
});

describe('diffLockfiles against a base that does not record install scripts', () => {
  it('does not call a script new when the base (lockfile v1) could not say', () => {
    const v1 = parsePackageLock(
      JSON.stringify({ lockfileVersion: 1, dependencies: { right: { version: '2.0.0', resolved: tarball('right', '2.0.0'), integrity: sri('right@2.0.0') } } }),
    );
    const head = parsePackageLock(npmLock({ 'node_modules/right': entry('right', '2.0.0', { hasInstallScript: true }) }));
    assert.deepEqual(diffLockfiles(v1, head).findings, []);
  });
});
