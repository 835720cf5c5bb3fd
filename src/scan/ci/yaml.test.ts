import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CairnError } from '../../model/errors.js';
import { auditCiFiles } from './audit.js';
import { CiAuditError } from './errors.js';
import { get, parseCiYaml, text } from './yaml.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    assert.ok(error instanceof CairnError, `expected a CairnError, got ${String(error)}`);
    return error.code;
  }
}

function billionLaughs(levels: number): string {
  const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < levels; i++) {
    const prev = String.fromCharCode(96 + i);
    const cur = String.fromCharCode(97 + i);
    lines.push(`${cur}: &${cur} [${Array(9).fill(`*${prev}`).join(',')}]`);
  }
  return `${lines.join('\n')}\n`;
}

describe('parseCiYaml', () => {
  it('gives 1-based line and column positions for keys and values', () => {
    const y = parseCiYaml('on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n', 'w.yml');
    const runsOn = get(get(get(y.root, 'jobs'), 'build'), 'runs-on');
    assert.equal(text(runsOn), 'ubuntu-latest');
    assert.deepEqual([runsOn?.span.line, runsOn?.span.column], [4, 14]);
  });

  it('expands aliases and applies << merges, explicit keys winning', () => {
    const y = parseCiYaml('base: &b { image: a, stage: test }\njob:\n  <<: *b\n  stage: build\n', '.gitlab-ci.yml');
    assert.equal(text(get(get(y.root, 'job'), 'image')), 'a');
    assert.equal(text(get(get(y.root, 'job'), 'stage')), 'build');
  });

  it('rejects a billion-laughs alias bomb with SCAN_CI_YAML_ALIASES', () => {
    assert.equal(
      code(() => parseCiYaml(billionLaughs(9), 'bomb.yml')),
      'SCAN_CI_YAML_ALIASES',
    );
  });

  it('rejects deeply nested flow collections before the parser recurses (SCAN_CI_YAML_TOO_DEEP)', () => {
    const deep = `a: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`;
    assert.equal(
      code(() => parseCiYaml(deep, 'deep.yml')),
      'SCAN_CI_YAML_TOO_DEEP',
    );
  });

  it('rejects deeply nested block mappings with SCAN_CI_YAML_TOO_DEEP', () => {
    let s = '';
    for (let i = 0; i < 200; i++) s += `${' '.repeat(i)}k${i}:\n`;
    assert.equal(
      code(() => parseCiYaml(s, 'deep.yml')),
      'SCAN_CI_YAML_TOO_DEEP',
    );
  });

  it('rejects a file over the size cap with SCAN_CI_FILE_TOO_LARGE, before parsing', () => {
    assert.equal(
      code(() => parseCiYaml(`a: "${'x'.repeat(1024 * 1024)}"\n`, 'big.yml')),
      'SCAN_CI_FILE_TOO_LARGE',
    );
  });

  it('rejects too many nodes with SCAN_CI_YAML_TOO_LARGE', () => {
    assert.equal(
      code(() => parseCiYaml(`a: [${Array(300).fill('1').join(',')}]\n`, 'many.yml', { maxBytes: 1 << 20, maxDepth: 64, maxNodes: 100 })),
      'SCAN_CI_YAML_TOO_LARGE',
    );
  });

  it('rejects syntax errors, duplicate keys, unknown aliases and extra documents with SCAN_CI_YAML_SYNTAX', () => {
    for (const bad of ['a: [1, 2\n', 'a: 1\na: 2\n', 'a: *nowhere\n', 'a: 1\n---\nb: 2\n', 'a: "unterminated\n']) {
      assert.equal(
        code(() => parseCiYaml(bad, 'x.yml')),
        'SCAN_CI_YAML_SYNTAX',
        bad,
      );
    }
  });

  it('accepts a GitLab component spec header followed by the pipeline', () => {
    const y = parseCiYaml('spec:\n  inputs:\n    stage: {}\n---\njob:\n  script: [make]\n', 'c.yml');
    assert.equal(text(get(get(y.root, 'job'), 'script')), undefined);
    assert.equal(get(y.root, 'spec'), undefined);
  });

  it('reports a workflow that is not a mapping with SCAN_CI_WORKFLOW_INVALID', () => {
    assert.equal(
      code(() => auditCiFiles([{ path: '.github/workflows/x.yml', text: '- a\n- b\n' }], { now: new Date(0) })),
      'SCAN_CI_WORKFLOW_INVALID',
    );
  });

  it('fails the whole audit, listing every bad file, when one file cannot be parsed', () => {
    try {
      auditCiFiles(
        [
          { path: '.github/workflows/a.yml', text: 'on: [\n' },
          { path: '.github/workflows/b.yml', text: billionLaughs(9) },
          { path: '.github/workflows/c.yml', text: 'on: push\njobs: {}\n' },
        ],
        { now: new Date(0) },
      );
      assert.fail('expected a rejection');
    } catch (error) {
      assert.ok(error instanceof CiAuditError);
      assert.equal(error.code, 'SCAN_CI_YAML_SYNTAX');
      assert.deepEqual(
        error.problems.map((p) => p.code),
        ['SCAN_CI_YAML_SYNTAX', 'SCAN_CI_YAML_ALIASES'],
      );
    }
  });
});

const yamlish = fc.stringMatching(/^[ \-:\n[\]{}&*!|>'"#a-z0-9$.,]{0,400}$/);
const workflowish = fc
  .record({
    on: fc.constantFrom('push', 'pull_request_target', '[push, pull_request]', '{workflow_run: {workflows: [ci]}}', '&x push'),
    runsOn: fc.constantFrom('ubuntu-latest', '[self-hosted]', '*x', '{group: g}', '${{ matrix.os }}'),
    uses: fc.constantFrom('actions/checkout@v4', './local', 'docker://x', 'a/b@0123456789abcdef0123456789abcdef01234567', '', '@'),
    run: fc.string({ maxLength: 60 }),
    extra: fc.constantFrom('', 'permissions: write-all', 'permissions: {contents: write}', 'env: {A: "${{ github.event.issue.title }}"}', '<<: *x'),
  })
  .map(
    (r) =>
      `on: ${r.on}\n${r.extra}\njobs:\n  j:\n    runs-on: ${r.runsOn}\n    steps:\n      - uses: ${r.uses}\n        with: {ref: "\${{ github.head_ref }}"}\n      - run: ${JSON.stringify(r.run)}\n`,
  );

describe('the YAML and workflow parser under fuzzing', () => {
  it('either audits or fails with a SCAN_CI_ code, for arbitrary YAML-like text', () => {
    fc.assert(
      fc.property(yamlish, (s) => {
        const c = code(() => auditCiFiles([{ path: '.github/workflows/f.yml', text: s }], { now: new Date(0) }));
        assert.ok(c === undefined || c.startsWith('SCAN_CI_'), `unexpected code ${c}`);
      }),
      { numRuns: 400 },
    );
  });

  it('either audits or fails with a SCAN_CI_ code, for workflow-shaped documents, GitHub and GitLab alike', () => {
    fc.assert(
      fc.property(workflowish, fc.boolean(), (s, gitlab) => {
        const c = code(() => auditCiFiles([{ path: gitlab ? '.gitlab-ci.yml' : '.github/workflows/f.yml', text: s }], { now: new Date(0) }));
        assert.ok(c === undefined || c.startsWith('SCAN_CI_'), `unexpected code ${c}`);
      }),
      { numRuns: 300 },
    );
  });

  it('bounds alias expansion for any fan-out and depth', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 12 }), fc.integer({ min: 1, max: 30 }), (levels, fan) => {
        const lines = ['l0: &l0 [x]'];
        for (let i = 1; i < levels; i++)
          lines.push(
            `l${i}: &l${i} [${Array(fan)
              .fill(`*l${i - 1}`)
              .join(', ')}]`,
          );
        const c = code(() => parseCiYaml(`${lines.join('\n')}\n`, 'f.yml'));
        assert.ok(c === undefined || c === 'SCAN_CI_YAML_ALIASES', `unexpected ${c}`);
        if (fan ** (levels - 1) > 200_000) assert.equal(c, 'SCAN_CI_YAML_ALIASES');
      }),
      { numRuns: 100 },
    );
  });
});
