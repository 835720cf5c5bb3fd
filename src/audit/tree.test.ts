import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { canonicalize } from '../crypto/jcs.js';
import { emptyRoot, inclusionProof, inclusionProofRanges, leafHash, MerkleTree, subtreeRoot } from '../crypto/merkle.js';
import type { AuditEvent } from '../model/audit.js';
import type { Digest } from '../model/digest.js';
import type { AuditTreeHead } from '../store/port.js';
import { decodeLeaf, encodeLeaf, extendTree, perfectPieces, rowsFor, sourceFromRows, subtreeHome } from './tree.js';

const digest = fc.stringMatching(/^[0-9a-f]{64}$/).map((hex) => `sha256:${hex}` as Digest);
const text = fc.string({ unit: 'binary', minLength: 1, maxLength: 40 });
const event: fc.Arbitrary<AuditEvent> = fc.record({
  seq: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  time: fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2999-12-31T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString()),
  actor: fc.record({ identity: text, purpose: text }),
  action: text,
  subjects: fc.array(digest, { maxLength: 4 }),
  payloadDigest: digest,
});

describe('audit leaves', () => {
  it('are the RFC 8785 (JCS) encoding of the event, byte for byte', () => {
    fc.assert(
      fc.property(event, (e) => {
        assert.equal(encodeLeaf(e).toString('utf8'), canonicalize(e));
      }),
      { numRuns: 500 },
    );
  });

  it('decode back to the event they encode', () => {
    fc.assert(
      fc.property(event, (e) => {
        assert.deepEqual(decodeLeaf(encodeLeaf(e)), { event: JSON.parse(JSON.stringify(e)), problems: [] });
      }),
      { numRuns: 200 },
    );
  });

  it('are refused when not canonical, not UTF-8, not an event, or holding a lone surrogate', () => {
    const e: AuditEvent = {
      seq: 3,
      time: '2025-01-01T00:00:00.000Z',
      actor: { identity: 'ci', purpose: 'p' },
      action: 'a',
      subjects: [],
      payloadDigest: `sha256:${'a'.repeat(64)}`,
    };
    const { seq, ...rest } = e;
    const reordered = Buffer.from(JSON.stringify({ seq, ...rest }));
    const spaced = Buffer.from(canonicalize(e).replace(',', ', '));
    const lone = Buffer.from(canonicalize(e).replace('"a"', '"\\ud800"'));
    for (const bad of [reordered, spaced, Buffer.from([0xff, 0xfe]), Buffer.from('{"seq":1}'), lone]) {
      assert.equal(decodeLeaf(bad).event, null, bad.toString('utf8'));
    }
  });
});

describe('extendTree', () => {
  it('numbers leaves from the head and stores each interior node once, with the leaf that closed it', () => {
    const tree = new MerkleTree();
    let head: AuditTreeHead = { size: 0, rootHash: emptyRoot(), frontier: [] };
    for (const batch of [1, 2, 5, 8, 1, 13]) {
      const events = Array.from({ length: batch }, (_, i) => ({
        time: '2025-01-01T00:00:00.000Z',
        actor: { identity: 'ci', purpose: `batch ${batch}` },
        action: `a${i}`,
        subjects: [],
        payloadDigest: `sha256:${'b'.repeat(64)}` as Digest,
      }));
      const append = extendTree(head, events);
      for (const leaf of append.leaves) {
        assert.equal(leaf.index, tree.size);
        assert.equal(decodeLeaf(leaf.leaf).event?.seq, leaf.index);
        tree.append(leaf.leafHash);
        const closed = [];
        for (let level = 1; (leaf.index + 1) % 2 ** level === 0; level++) closed.push(tree.perfectSubtreeHash(level, (leaf.index + 1) / 2 ** level - 1));
        assert.deepEqual(leaf.subtrees, Buffer.concat(closed as Buffer[]));
      }
      head = append.head;
      assert.deepEqual(head.rootHash, tree.root());
      assert.deepEqual(head.frontier, tree.frontier().hashes);
    }
  });
});

describe('proof rows', () => {
  it('name exactly the rows that hold every piece of a proof, and those rows rebuild it', () => {
    const tree = MerkleTree.fromEntries(Array.from({ length: 70 }, (_, i) => Buffer.from(`entry ${i}`)));
    const rows = Array.from({ length: 70 }, (_, index) => {
      const closed = [];
      for (let level = 1; (index + 1) % 2 ** level === 0; level++) closed.push(tree.perfectSubtreeHash(level, (index + 1) / 2 ** level - 1) as Buffer);
      return { index, leafHash: tree.leafHash(index), subtrees: Buffer.concat(closed) };
    });
    for (const [index, size] of [
      [0, 1],
      [5, 6],
      [64, 70],
      [33, 70],
      [69, 70],
    ] as const) {
      const proof = tree.inclusionProof(index, size);
      const needed = rowsFor(inclusionProofRanges(index, size));
      assert.ok(needed.length <= 2 * proof.length, `${needed.length} rows for ${proof.length} hashes`);
      const source = sourceFromRows(
        rows.filter((r) => needed.includes(r.index)),
        (what) => new Error(what),
      );
      assert.deepEqual(inclusionProof(index, size, source), proof);
    }
  });

  it('place the perfect subtree (level, k) with leaf (k + 1)·2^level − 1', () => {
    assert.deepEqual(subtreeHome(0, 5), { leaf: 5, offset: -32 });
    assert.deepEqual(subtreeHome(3, 1), { leaf: 15, offset: 64 });
    assert.deepEqual(perfectPieces(0, 7), [
      { level: 2, index: 0 },
      { level: 1, index: 2 },
      { level: 0, index: 6 },
    ]);
    assert.deepEqual(
      subtreeRoot(0, 7, (i) => leafHash(Buffer.from(String(i)))),
      MerkleTree.fromEntries(Array.from({ length: 7 }, (_, i) => Buffer.from(String(i)))).root(),
    );
  });
});
