import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../../testkit.js';
import { auditCiFiles } from './audit.js';
import { CI_RULES } from './findings.js';

const DATA = path.join(REPO_ROOT, 'src/scan/ci/testdata');
const NOW = new Date('2026-06-01T00:00:00Z');

/** `# expect: <rule> <line>:<column> <severity>` lines at the end of a fixture (appended, so lines above keep their numbers). */
function expectations(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('# expect: '))
    .map((l) => l.slice('# expect: '.length).trim())
    .sort();
}

function audit(file: string, as: string): string[] {
  const text = readFileSync(file, 'utf8');
  const { report } = auditCiFiles([{ path: as, text }], { now: NOW });
  return report.findings.map((f) => `${f.ruleId} ${f.location.line}:${f.location.column} ${f.severity}`).sort();
}

interface Fixture {
  readonly file: string;
  readonly as: string;
}

function fixtures(): Fixture[] {
  const out: Fixture[] = [];
  for (const f of readdirSync(path.join(DATA, 'github')).sort()) out.push({ file: path.join(DATA, 'github', f), as: `.github/workflows/${f}` });
  for (const f of readdirSync(path.join(DATA, 'gitlab')).sort()) out.push({ file: path.join(DATA, 'gitlab', f), as: '.gitlab-ci.yml' });
  for (const f of readdirSync(path.join(DATA, 'actions')).sort())
    out.push({ file: path.join(DATA, 'actions', f, 'action.yml'), as: `.github/actions/${f}/action.yml` });
  return out;
}

describe('CI audit fixtures (vulnerable and fixed)', () => {
  for (const fx of fixtures()) {
    const name = path.relative(DATA, fx.file);
    const expected = expectations(readFileSync(fx.file, 'utf8'));
    it(`${name}: ${expected.length === 0 ? 'reports nothing' : `reports exactly ${expected.length} finding(s) at their positions`}`, () => {
      assert.deepEqual(audit(fx.file, fx.as), expected);
    });
  }

  it('has a vulnerable fixture with a finding and a fixed fixture without one for every rule', () => {
    const all = fixtures();
    const fired = new Set<string>();
    for (const fx of all) for (const e of expectations(readFileSync(fx.file, 'utf8'))) fired.add(e.split(' ')[0] as string);
    assert.deepEqual(
      CI_RULES.map((r) => r.id).filter((id) => !fired.has(id)),
      [],
      'rules without a vulnerable fixture',
    );
    const good = all.filter((fx) => fx.file.includes('.good.') || fx.file.includes('/safe/'));
    assert.ok(good.length >= 20, `expected fixed fixtures, found ${good.length}`);
  });
});

describe('the clean real-world-like set', () => {
  const clean = [
    ...readdirSync(path.join(DATA, 'clean/github')).map((f) => ({
      path: `.github/workflows/${f}`,
      text: readFileSync(path.join(DATA, 'clean/github', f), 'utf8'),
    })),
    { path: '.gitlab-ci.yml', text: readFileSync(path.join(DATA, 'clean/gitlab/pipeline.yml'), 'utf8') },
    { path: 'templates/component.yml', text: readFileSync(path.join(DATA, 'clean/gitlab/component.yml'), 'utf8') },
  ];

  it('gives no finding, audited together', () => {
    const { report } = auditCiFiles(clean, { now: NOW });
    assert.deepEqual(
      report.findings.map((f) => `${f.location.file}:${f.location.line} ${f.ruleId}`),
      [],
    );
  });

  it('has no path from an outsider to production', () => {
    const { blastRadius } = auditCiFiles(clean, { now: NOW });
    assert.equal(blastRadius.shortestPath, null);
    assert.ok(
      blastRadius.jobs.some((j) => j.exposure === 'fork-code'),
      'pull_request jobs run fork code, without secrets',
    );
  });
});

describe("the demo's example repository", () => {
  it('has a CI workflow that the audit checks and passes', () => {
    const file = path.join(REPO_ROOT, 'examples/hello-service/.github/workflows/ci.yml');
    const { report, blastRadius } = auditCiFiles([{ path: '.github/workflows/ci.yml', text: readFileSync(file, 'utf8') }], { now: NOW });
    assert.deepEqual(report.findings, []);
    assert.equal(blastRadius.shortestPath, null);
    const deploy = blastRadius.jobs.find((j) => j.job === '.github/workflows/ci.yml#deploy');
    assert.ok(deploy, 'the deploy job is in the blast radius');
    assert.equal(deploy.token, 'id-token: write');
    assert.deepEqual(deploy.environments, ['production']);
    assert.equal(
      blastRadius.jobs.some((j) => j.job.endsWith('#deploy@fork')),
      false,
      'the deploy job does not run for pull requests',
    );
  });
});
