// A policy change going through test → shadow → enforce, then a rollback, with the real CLI.
// Run from the repository root after `npx tsc -p .`:  node examples/policy-rollout/demo.mjs [STATE_DIR]
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const work = mkdtempSync(path.join(os.tmpdir(), 'cairn-policy-demo-'));
const state = path.resolve(process.argv[2] ?? path.join(work, 'state'));

/** v1 is the shipped default set; v2 and v3 are it with the files of this folder laid over. */
function compose(version) {
  const dir = path.join(work, `v${version}`);
  cpSync(path.join(root, 'policies/default'), dir, { recursive: true });
  if (version > 1) cpSync(path.join(here, `v${version}`), dir, { recursive: true });
  return dir;
}

function cairn(args, expect = 0) {
  console.log(`\n$ cairn ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [path.join(root, 'bin/cairn.js'), ...args, '--state', state], {
    encoding: 'utf8',
    env: { ...process.env, CAIRN_ACTOR: 'alice@example.com' },
  });
  const text = `${r.stdout}${r.stderr}`.trimEnd();
  console.log(text.replace(new RegExp(work.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'g'), '$WORK'));
  if (r.status !== expect) {
    console.error(`\nexpected exit ${expect}, got ${r.status}`);
    process.exit(1);
  }
  return text;
}

const release = JSON.parse(readFileSync(path.join(root, 'policies/default/tests/fixtures/release.json'), 'utf8'));
function input(name, severity) {
  const value = structuredClone(release);
  if (severity) {
    value.findings.push({
      ruleId: 'osv-vulnerability',
      severity,
      message: `GHSA-demo-${name}: ${severity} vulnerability`,
      package: { name, version: '1.0.0' },
      location: { file: 'package-lock.json', line: 10 },
      evidence: { advisory: `GHSA-demo-${name}` },
      fingerprint: `demo-${name}`,
    });
  }
  const file = path.join(work, `${name}.json`);
  writeFileSync(file, JSON.stringify(value));
  return file;
}

console.log(`# state ${state}`);
console.log('\n# 1. test, sign and activate the default policy set (v1)');
const v1 = compose(1);
cairn(['policy', 'test', v1, '--attest', path.join(work, 't1.json')]);
cairn(['policy', 'bundle', v1, '--out', path.join(work, 'b1.json')]);
cairn(['policy', 'activate', path.join(work, 'b1.json'), '--attestation', path.join(work, 't1.json'), '--reason', 'initial policy set']);

console.log('\n# 2. v2 runs vulnerabilities@2 (high blocks too) in shadow beside vulnerabilities@1');
const v2 = compose(2);
cairn(['policy', 'test', v2, '--attest', path.join(work, 't2.json')]);
cairn(['policy', 'bundle', v2, '--out', path.join(work, 'b2.json')]);
cairn(['policy', 'activate', path.join(work, 'b2.json'), '--attestation', path.join(work, 't2.json'), '--reason', 'shadow vulnerabilities@2']);

console.log('\n# 3. real decisions: the candidate is evaluated on each, never enforced');
for (const [name, severity] of [
  ['clean', null],
  ['ms', 'high'],
  ['debug', 'medium'],
  ['qs', 'high'],
]) {
  cairn(['policy', 'eval', '--input', input(name, severity), '--environment', 'production']);
}
cairn(['policy', 'shadow-report']);

console.log('\n# 4. enforce vulnerabilities@2 (v3): a plain activation is refused, a promotion is checked against the shadow decisions');
const v3 = compose(3);
cairn(['policy', 'test', v3, '--attest', path.join(work, 't3.json')]);
cairn(['policy', 'bundle', v3, '--out', path.join(work, 'b3.json')]);
cairn(['policy', 'activate', path.join(work, 'b3.json'), '--attestation', path.join(work, 't3.json')], 1);
cairn(['policy', 'promote', path.join(work, 'b3.json'), '--attestation', path.join(work, 't3.json'), '--reason', 'high-severity vulnerabilities block']);
const denied = cairn(['policy', 'eval', '--input', input('ms', 'high'), '--environment', 'production'], 1);
const id = /dec_[0-9a-f]{24}/.exec(denied)?.[0];
cairn(['policy', 'replay', id]);

console.log('\n# 5. roll back to v2 with a signed, audited record; going back any other way is refused');
cairn(['policy', 'rollback', '--reason', 'SEC-99: a hotfix is blocked by a high finding with no fix yet']);
cairn(['policy', 'activate', path.join(work, 'b1.json'), '--attestation', path.join(work, 't1.json')], 1);
cairn(['policy', 'status']);
console.log(`\n# done; files in ${work}`);
