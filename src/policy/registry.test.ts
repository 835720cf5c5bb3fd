import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { signEnvelope } from '../crypto/dsse.js';
import { generateKeyPair, privateKeyFromPem } from '../crypto/keys.js';
import { useScratch } from '../testkit.js';
import { signBundle, bundleDigest } from './bundle.js';
import { PolicyError } from './errors.js';
import { evaluateGate } from './gate.js';
import { bundle, bundleDocument, PROD, release, simplePolicy } from './kit.test.js';
import { MemoryPolicyRegistry, type PolicyRegistry } from './registry.js';
import { FilePolicyRegistry } from './registry-file.js';

const scratch = useScratch();
const KEY = privateKeyFromPem(generateKeyPair().privateKeyPem);
const record = (n: number) => signEnvelope('application/vnd.cairn.policy-record+json', Buffer.from(`{"seq":${n}}`), [KEY]);

async function rejects(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (e: unknown) => e instanceof PolicyError && e.code === code);
}

/** One contract, run against every adapter. */
const ADAPTERS: [string, () => PolicyRegistry][] = [
  ['MemoryPolicyRegistry', () => new MemoryPolicyRegistry()],
  ['FilePolicyRegistry', () => new FilePolicyRegistry(scratch())],
];

for (const [name, make] of ADAPTERS) {
  describe(`${name} (PolicyRegistry contract)`, () => {
    it('stores signed bundles under the digest of their payload, once', async () => {
      const r = make();
      const doc = bundleDocument(simplePolicy('a', 'true'));
      const envelope = signBundle(doc, [KEY]);
      assert.equal(await r.putBundle(envelope), bundleDigest(doc));
      assert.equal(await r.putBundle(envelope), bundleDigest(doc));
      assert.deepEqual(await r.getBundle(bundleDigest(doc)), envelope);
      assert.equal(await r.getBundle(`sha256:${'0'.repeat(64)}`), null);
    });

    it('starts with no active pointer and an empty history', async () => {
      const r = make();
      assert.equal(await r.active(), null);
      assert.deepEqual(await r.history(), []);
    });

    it('appends records in order and moves the head with a compare-and-set', async () => {
      const r = make();
      const h1 = await r.setActive(record(1), 0);
      assert.equal(h1.seq, 1);
      const h2 = await r.setActive(record(2), 1);
      assert.equal(h2.seq, 2);
      assert.deepEqual(await r.active(), h2);
      assert.deepEqual(
        await r.history(),
        [record(1), record(2)].map((e) => ({ ...e, signatures: e.signatures })),
      );
    });

    it('refuses an append when the head moved (two activations cannot both win)', async () => {
      const r = make();
      await r.setActive(record(1), 0);
      await rejects(r.setActive(record(2), 0), 'POLICY_REGISTRY_CONFLICT');
      assert.equal((await r.history()).length, 1);
    });

    it('lets only one of two concurrent appends win', async () => {
      const r = make();
      const results = await Promise.allSettled([r.setActive(record(1), 0), r.setActive(record(1), 0)]);
      assert.equal(results.filter((x) => x.status === 'fulfilled').length, 1);
      assert.equal((await r.history()).length, 1);
    });

    it('stores decisions with their input, idempotently, and refuses other content under the same id', async () => {
      const r = make();
      const b = bundle(simplePolicy('a', 'true'));
      const input = release();
      const d = evaluateGate(input, b, PROD);
      await r.putDecision(d, input);
      await r.putDecision(d, input);
      assert.deepEqual(await r.getDecision(d.id), JSON.parse(JSON.stringify({ decision: d, input })));
      await rejects(r.putDecision({ ...d, allow: !d.allow }, input), 'POLICY_REGISTRY_CONFLICT');
      assert.equal(await r.getDecision('dec_000000000000000000000000'), null);
    });

    it('refuses an input that would not read back as itself, so every stored decision can be replayed', async () => {
      const r = make();
      const b = bundle(simplePolicy('a', 'true'));
      const input = { ...release(), extra: true } as unknown as ReturnType<typeof release>;
      await rejects(r.putDecision(evaluateGate(input, b, PROD), input), 'POLICY_INPUT_INVALID');
    });

    it('lists decisions by bundle, in id order', async () => {
      const r = make();
      const a = bundle(simplePolicy('a', 'true'));
      const b = bundle(simplePolicy('b', 'true'));
      const input = release();
      const decisions = [evaluateGate(input, a, PROD), evaluateGate(input, a, { ...PROD, environment: 'staging' }), evaluateGate(input, b, PROD)];
      for (const d of decisions) await r.putDecision(d, input);
      assert.deepEqual(
        (await r.listDecisions(a.ref.digest)).map((d) => d.id),
        decisions
          .slice(0, 2)
          .map((d) => d.id)
          .sort(),
      );
      assert.equal((await r.listDecisions()).length, 3);
    });
  });
}

describe('FilePolicyRegistry on disk', () => {
  it('keeps everything under <state>/policy and survives a reopen', async () => {
    const dir = scratch();
    const first = new FilePolicyRegistry(dir);
    await first.setActive(record(1), 0);
    const second = new FilePolicyRegistry(dir);
    assert.equal((await second.active())?.seq, 1);
    assert.equal((await second.history()).length, 1);
  });

  it('refuses a corrupt active pointer rather than guessing', async () => {
    const dir = scratch();
    const r = new FilePolicyRegistry(dir);
    await r.setActive(record(1), 0);
    writeFileSync(path.join(dir, 'policy', 'active.json'), '{"seq": "one"}');
    await rejects(r.active(), 'POLICY_HISTORY_INVALID');
  });
});
