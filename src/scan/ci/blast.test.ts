import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { auditCiFiles, type CiFile } from './audit.js';
import { toDot, toSvg } from './graph.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const CHECKOUT = 'actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683';
const SETUP_NODE = 'actions/setup-node@39370e3970a6d050c480ffad4ff0ed4d3fdee5af';

/** A repository with a pull_request_target hole and a production deploy that restores the npm cache. */
const HOLE: CiFile[] = [
  {
    path: '.github/workflows/preview.yml',
    text: `name: preview
on:
  pull_request_target:
permissions:
  contents: read
jobs:
  preview:
    runs-on: ubuntu-latest
    steps:
      - uses: ${CHECKOUT}
        with:
          ref: \${{ github.event.pull_request.head.sha }}
          persist-credentials: false
      - run: npm ci && npm run build
`,
  },
  {
    path: '.github/workflows/deploy.yml',
    text: `name: deploy
on:
  push:
    branches: [main]
permissions:
  contents: read
jobs:
  deploy:
    runs-on: ubuntu-latest
    environment: production
    steps:
      - uses: ${CHECKOUT}
        with:
          persist-credentials: false
      - uses: ${SETUP_NODE}
        with:
          cache: npm
      - run: npm ci && ./scripts/deploy.sh
        env:
          DEPLOY_KEY: \${{ secrets.DEPLOY_KEY }}
`,
  },
];

function pathLabels(files: readonly CiFile[]): string[] {
  const { blastRadius } = auditCiFiles(files, { now: NOW });
  return blastRadius.shortestPath?.nodes.map((n) => n.label) ?? [];
}

describe('blastRadius', () => {
  it('names the path from a pull_request_target hole, through the cache, to the deploy secret', () => {
    assert.deepEqual(pathLabels(HOLE), [
      'outsider (opens an issue, pull request or comment)',
      'on: pull_request_target',
      '.github/workflows/preview.yml: preview',
      'Actions cache (default-branch scope)',
      '.github/workflows/deploy.yml: deploy',
      'DEPLOY_KEY (environment production)',
    ]);
  });

  it('says why each step of the path holds', () => {
    const { blastRadius } = auditCiFiles(HOLE, { now: NOW });
    assert.deepEqual(
      blastRadius.shortestPath?.edges.map((e) => e.reason),
      [
        'opens a pull request or triggers the event',
        'actions/checkout with ref: ${{ github.event.pull_request.head.sha }}, then runs it',
        'can write any cache entry of the default branch',
        'restores a cache',
        'reads secrets.DEPLOY_KEY',
      ],
    );
  });

  it('takes the direct path when the vulnerable job holds the deploy secret itself', () => {
    const direct = [
      {
        path: '.github/workflows/comment.yml',
        text: `on: issue_comment
permissions: {}
jobs:
  reply:
    runs-on: ubuntu-latest
    environment: production
    steps:
      - run: echo "\${{ github.event.comment.body }}"
        env:
          TOKEN: \${{ secrets.PROD_TOKEN }}
`,
      },
    ];
    assert.deepEqual(pathLabels(direct), [
      'outsider (opens an issue, pull request or comment)',
      'on: issue_comment',
      '.github/workflows/comment.yml: reply',
      'PROD_TOKEN (environment production)',
    ]);
  });

  it('finds no path once the hole is fixed (no pull-request checkout)', () => {
    const fixed = HOLE.map((f) =>
      f.path.endsWith('preview.yml') ? { ...f, text: f.text.replace('          ref: ${{ github.event.pull_request.head.sha }}\n', '') } : f,
    );
    assert.equal(pathLabels(fixed).length, 0);
  });

  it('gives fork pull requests no secrets and no cache writes', () => {
    const files = [
      {
        path: '.github/workflows/ci.yml',
        text: `on: pull_request
permissions:
  contents: read
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: ${CHECKOUT}
        with:
          persist-credentials: false
      - run: npm test
        env:
          DEPLOY_KEY: \${{ secrets.DEPLOY_KEY }}
`,
      },
      HOLE[1] as CiFile,
    ];
    const { blastRadius } = auditCiFiles(files, { now: NOW });
    const fork = blastRadius.jobs.find((j) => j.job === '.github/workflows/ci.yml#test@fork');
    assert.equal(fork?.exposure, 'fork-code');
    assert.deepEqual(fork?.secrets, []);
    assert.deepEqual(fork?.reachesProduction, []);
    assert.equal(blastRadius.shortestPath, null);
  });

  it('follows fork artifacts into a workflow_run job that runs them', () => {
    const files = [
      {
        path: '.github/workflows/ci.yml',
        text: `name: ci
on: pull_request
permissions:
  contents: read
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: ${CHECKOUT}
        with:
          persist-credentials: false
      - run: make
      - uses: actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02
        with:
          name: site
          path: public/
`,
      },
      {
        path: '.github/workflows/publish.yml',
        text: `on:
  workflow_run:
    workflows: [ci]
    types: [completed]
permissions:
  actions: read
jobs:
  publish:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093
        with:
          name: site
          run-id: \${{ github.event.workflow_run.id }}
          github-token: \${{ github.token }}
      - run: ./site/publish.sh
        env:
          NETLIFY_DEPLOY_TOKEN: \${{ secrets.NETLIFY_DEPLOY_TOKEN }}
`,
      },
    ];
    const labels = pathLabels(files);
    assert.equal(labels.at(-1), 'NETLIFY_DEPLOY_TOKEN (repository)');
    assert.ok(labels.includes('.github/workflows/publish.yml: publish'));
  });

  it('links jobs that share a self-hosted runner', () => {
    const files = [
      {
        path: '.github/workflows/pr.yml',
        text: `on: pull_request
permissions: {}
jobs:
  test:
    runs-on: [self-hosted, linux]
    steps:
      - uses: ${CHECKOUT}
      - run: make test
`,
      },
      {
        path: '.github/workflows/release.yml',
        text: `on:
  push:
    tags: ['v*']
permissions: {}
jobs:
  release:
    runs-on: [self-hosted, linux]
    steps:
      - run: ./release.sh
        env:
          RELEASE_TOKEN: \${{ secrets.RELEASE_TOKEN }}
`,
      },
    ];
    assert.deepEqual(pathLabels(files).slice(2), [
      '.github/workflows/pr.yml: test (fork pull request)',
      'self-hosted runner [linux, self-hosted]',
      '.github/workflows/release.yml: release',
      'RELEASE_TOKEN (repository)',
    ]);
  });

  it('runs a local reusable workflow on its caller’s triggers', () => {
    const files = [
      {
        path: '.github/workflows/caller.yml',
        text: `on: pull_request_target
permissions: {}
jobs:
  call:
    uses: ./.github/workflows/build.yml
    secrets: inherit
`,
      },
      {
        path: '.github/workflows/build.yml',
        text: `on: workflow_call
permissions: {}
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo "\${{ github.event.pull_request.title }}"
        env:
          TOKEN: \${{ secrets.DEPLOY_TOKEN }}
`,
      },
    ];
    const { report, blastRadius } = auditCiFiles(files, { now: NOW });
    const injection = report.findings.find((f) => f.ruleId === 'gha-script-injection');
    assert.equal(injection?.severity, 'critical', 'pull_request_target makes the callee privileged');
    assert.equal(blastRadius.shortestPath?.nodes.at(-1)?.label, 'DEPLOY_TOKEN (repository)');
  });

  it('follows a GitLab merge-request pipeline to the credentials its job reads', () => {
    const files = [
      {
        path: '.gitlab-ci.yml',
        text: `deploy-review:
  image: alpine@sha256:beefdbd8a1da6d2915566fde36db9db0b524eb737fc57cd1367effd16dc0d06d
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
  environment: production
  script:
    - ./deploy "$PROD_DEPLOY_TOKEN"
`,
      },
    ];
    assert.deepEqual(pathLabels(files), [
      'outsider (opens an issue, pull request or comment)',
      'merge request pipeline',
      '.gitlab-ci.yml: deploy-review',
      'PROD_DEPLOY_TOKEN (CI/CD variable)',
    ]);
  });

  it('is the same, byte for byte, on every run', () => {
    const a = auditCiFiles(HOLE, { now: NOW });
    const b = auditCiFiles([...HOLE].reverse(), { now: NOW });
    assert.equal(JSON.stringify(a.blastRadius), JSON.stringify(b.blastRadius));
    assert.equal(toDot(a.blastRadius), toDot(b.blastRadius));
    assert.equal(toSvg(a.blastRadius), toSvg(b.blastRadius));
  });
});

describe('toDot and toSvg', () => {
  it('draw every node and edge, the path in red, with data escaped', () => {
    const radius = auditCiFiles(HOLE, { now: NOW }).blastRadius;
    const dot = toDot(radius);
    assert.ok(dot.startsWith('digraph cairn_ci_blast_radius {'));
    assert.equal((dot.match(/ -> /g) ?? []).length, radius.edges.length);
    assert.equal((dot.match(/penwidth=2\.5/g) ?? []).length, radius.shortestPath?.edges.length);
    const svg = toSvg(radius);
    assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
    assert.equal((svg.match(/<rect /g) ?? []).length, radius.nodes.length);
    assert.equal((svg.match(/marker-end=/g) ?? []).length, radius.edges.length);
    assert.equal((svg.match(/stroke="#cc0000" stroke-width="2.5"/g) ?? []).length, radius.shortestPath?.edges.length);
  });

  it('escapes hostile job names in both formats', () => {
    const evil = [
      {
        path: '.github/workflows/x.yml',
        text: `on: push\npermissions: {}\njobs:\n  "a\\"b<script>&":\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n`,
      },
    ];
    const radius = auditCiFiles(evil, { now: NOW }).blastRadius;
    assert.ok(!toSvg(radius).includes('<script>'));
    assert.ok(toSvg(radius).includes('&lt;script&gt;'));
    assert.ok(toDot(radius).includes('a\\"b<script>&'));
  });
});
