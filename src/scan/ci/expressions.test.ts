import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contextRefs, expressionsIn, secretRefs, taintOf } from './expressions.js';

describe('expressionsIn', () => {
  it('finds each ${{ }} with its offsets, ignoring }} inside string literals', () => {
    const s = "a ${{ github.head_ref }} b ${{ format('}}{0}', inputs.x) }}";
    const found = expressionsIn(s);
    assert.deepEqual(
      found.map((e) => e.inner),
      ['github.head_ref', "format('}}{0}', inputs.x)"],
    );
    assert.equal(s.slice(found[0]?.start, found[0]?.end), '${{ github.head_ref }}');
  });

  it('takes an unclosed expression to the end', () => {
    assert.deepEqual(
      expressionsIn('x ${{ github.event.issue.title').map((e) => e.inner),
      ['github.event.issue.title'],
    );
  });
});

describe('contextRefs', () => {
  const table: [string, string[]][] = [
    ['github.event.issue.title', ['github.event.issue.title']],
    ["github['head_ref']", ['github.head_ref']],
    ['github.event.commits[0].message', ['github.event.commits.*.message']],
    ['github.event.pages.*.page_name', ['github.event.pages.*.page_name']],
    ["contains(github.event.pull_request.labels.*.name, 'ok') && inputs.tag", ['github.event.pull_request.labels.*.name', 'inputs.tag']],
    ["format('{0} github.event.issue.body', steps.x.outputs.y)", ['steps.x.outputs.y']],
    ['toJSON(secrets)', ['secrets']],
    ['true || null', []],
    ['GitHub.Event.Issue.Title', ['github.event.issue.title']],
  ];
  for (const [expr, refs] of table) it(`reads ${refs.join(', ') || 'nothing'} from ${expr}`, () => assert.deepEqual(contextRefs(expr), refs));
});

describe('taintOf', () => {
  const table: [string, string | undefined][] = [
    ['github.event.issue.title', 'attacker'],
    ['github.event.pull_request.body', 'attacker'],
    ['github.event.pull_request.head.ref', 'attacker'],
    ['github.event.pull_request.head.label', 'attacker'],
    ['github.event.comment.body', 'attacker'],
    ['github.event.commits.*.author.email', 'attacker'],
    ['github.event.head_commit.message', 'attacker'],
    ['github.event.workflow_run.head_branch', 'attacker'],
    ['github.event.pages.*.page_name', 'attacker'],
    ['github.head_ref', 'attacker'],
    ['github.event', 'attacker'],
    ['github.event.issue', 'attacker'],
    ['github.event.inputs.tag', 'caller'],
    ['inputs.version', 'caller'],
    ['steps.meta.outputs.tags', 'indirect'],
    ['needs.build.outputs.digest', 'indirect'],
    ['github.event.pull_request.head.sha', undefined],
    ['github.event.pull_request.number', undefined],
    ['github.sha', undefined],
    ['github.ref', undefined],
    ['matrix.node', undefined],
    ['secrets.TOKEN', undefined],
  ];
  for (const [ref, taint] of table) it(`${ref} is ${taint ?? 'trusted'}`, () => assert.equal(taintOf(ref), taint));
});

describe('secretRefs', () => {
  it('names the secrets an expression reads, upper-cased', () => {
    assert.deepEqual(secretRefs('secrets.deploy_key || secrets.Other'), ['DEPLOY_KEY', 'OTHER']);
  });
});
