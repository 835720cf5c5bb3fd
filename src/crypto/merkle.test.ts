import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../testkit.js';
import { MerkleError } from './errors.js';
import {
  appendToFrontier,
  consistencyProof,
  consistencyProofAsync,
  consistencyProofRanges,
  EMPTY_FRONTIER,
  emptyRoot,
  type Frontier,
  type HashSource,
  inclusionProof,
  inclusionProofAsync,
  inclusionProofRanges,
  leafHash,
  LruSubtreeCache,
  MerkleTree,
  nodeHash,
  rootFromFrontier,
  rootFromInclusionProof,
  rootFromLeafHashes,
  subtreeRoot,
  verifyConsistency,
  verifyInclusion,
} from './merkle.js';

/** transparency-dev/merkle's probes (Apache-2.0), read in place and never copied into the repo. */
const VECTORS = path.resolve(REPO_ROOT, '../shared/data/merkle/testdata');
const NO_VECTORS = existsSync(VECTORS) ? false : `transparency-dev/merkle test vectors not found at ${VECTORS}; skipped`;

const sha256 = (...parts: Uint8Array[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
const hex = (h: Uint8Array) => Buffer.from(h).toString('hex');
const unhex = (s: string) => Buffer.from(s, 'hex');

/** MTH written straight from RFC 6962 §2.1, recursion and all: the reference for small trees. */
function referenceRoot(leafHashes: readonly Buffer[]): Buffer {
  if (leafHashes.length === 0) return sha256(new Uint8Array(0));
  if (leafHashes.length === 1) return leafHashes[0] as Buffer;
  let k = 1;
  while (k * 2 < leafHashes.length) k *= 2;
  return sha256(Buffer.from([1]), referenceRoot(leafHashes.slice(0, k)), referenceRoot(leafHashes.slice(k)));
}

/** The 8 leaf inputs of transparency-dev/merkle's reference tree, then more of our own. */
const REFERENCE_INPUTS = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(unhex);
const INPUTS = [...REFERENCE_INPUTS, ...Array.from({ length: 128 - 8 }, (_, i) => Buffer.from(`entry ${i + 8}`))];
const LEAVES = INPUTS.map((input) => sha256(Buffer.from([0]), input));
const TREE = new MerkleTree(LEAVES);
const MAX = 64;

function flipBit(bytes: Uint8Array, bit: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[bit >> 3] = (copy[bit >> 3] as number) ^ (1 << (bit & 7));
  return copy;
}

/** For each hash of the proof, copies with one bit flipped in its first, last and two middle bytes. */
function* sampledBitFlips(proof: readonly Buffer[]): Generator<Buffer[]> {
  for (let i = 0; i < proof.length; i++) {
    for (const bit of [0, 10 * 8 + 3, 21 * 8 + 6, 31 * 8 + 7]) {
      const mutated = [...proof];
      mutated[i] = flipBit(proof[i] as Buffer, bit);
      yield mutated;
    }
  }
}

function* everyBitMutation(proof: readonly Buffer[]): Generator<Buffer[]> {
  for (let i = 0; i < proof.length; i++) {
    for (let bit = 0; bit < 256; bit++) {
      const mutated = [...proof];
      mutated[i] = flipBit(proof[i] as Buffer, bit);
      yield mutated;
    }
  }
}

/** Which side each sibling sits on: two (index, size) pairs with one shape hash identically. */
const inclusionShape = (index: number, size: number) =>
  inclusionProofRanges(index, size)
    .map(([, end]) => (end <= index ? 'L' : 'R'))
    .join('');
const consistencyShape = (m: number, n: number) =>
  consistencyProofRanges(m, n)
    .map(([, end]) => (end <= m ? 'L' : 'R'))
    .join('') + (Number.isInteger(Math.log2(m)) ? '+root1' : '');

function expectMerkleError(fn: () => unknown, code: string): void {
  assert.throws(fn, (error: unknown) => error instanceof MerkleError && error.code === code);
}

describe('leafHash, nodeHash and emptyRoot', () => {
  it('match the RFC 6962 hasher vectors of transparency-dev/merkle', () => {
    assert.equal(hex(emptyRoot()), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.equal(hex(leafHash(new Uint8Array(0))), '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d');
    assert.equal(hex(leafHash(Buffer.from('L123456'))), '395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56');
    assert.equal(hex(nodeHash(Buffer.from('N123'), Buffer.from('N456'))), 'aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb');
  });

  it('hands out a fresh empty root each time', () => {
    const root = emptyRoot();
    root.fill(0);
    assert.equal(hex(emptyRoot()), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});

describe('tree roots', () => {
  it('reproduce the roots of the transparency-dev reference tree for sizes 0..8', () => {
    const expected = [
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
      'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
      '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
      '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
      'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
      '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
    ];
    for (let size = 0; size <= 8; size++) {
      assert.equal(hex(rootFromLeafHashes(REFERENCE_INPUTS.slice(0, size).map(leafHash))), expected[size], `size ${size}`);
    }
  });

  it('agree for sizes 0..64 whether computed recursively, iteratively, from a frontier or from the stored tree', () => {
    let frontier: Frontier = EMPTY_FRONTIER;
    for (let size = 0; size <= MAX; size++) {
      const leaves = LEAVES.slice(0, size);
      const want = hex(referenceRoot(leaves));
      assert.equal(hex(rootFromLeafHashes(leaves)), want, `iterative, size ${size}`);
      assert.equal(hex(rootFromFrontier(frontier, size)), want, `frontier, size ${size}`);
      assert.equal(hex(TREE.root(size)), want, `MerkleTree, size ${size}`);
      assert.deepEqual(TREE.frontier(size), frontier, `frontier of the stored tree, size ${size}`);
      frontier = appendToFrontier(frontier, LEAVES[size] as Buffer);
    }
  });

  it('refuses leaf hashes that are not 32 bytes', () => {
    expectMerkleError(() => rootFromLeafHashes([LEAVES[0] as Buffer, Buffer.alloc(31)]), 'MERKLE_BAD_HASH');
    expectMerkleError(() => new MerkleTree([Buffer.alloc(33)]), 'MERKLE_BAD_HASH');
  });
});

describe('frontier', () => {
  it('keeps one hash per set bit of the size and leaves the input frontier unchanged', () => {
    let frontier: Frontier = EMPTY_FRONTIER;
    for (let i = 0; i < 11; i++) frontier = appendToFrontier(frontier, LEAVES[i] as Buffer);
    const next = appendToFrontier(frontier, LEAVES[11] as Buffer);
    assert.equal(frontier.size, 11);
    assert.equal(frontier.hashes.length, 3);
    assert.equal(next.size, 12);
    assert.equal(next.hashes.length, 2);
    assert.equal(hex(rootFromFrontier(next)), hex(referenceRoot(LEAVES.slice(0, 12))));
  });

  it('refuses a frontier whose hash count does not fit its size, or a size stored apart that disagrees', () => {
    const frontier = TREE.frontier(11);
    expectMerkleError(() => rootFromFrontier({ size: 12, hashes: frontier.hashes }), 'MERKLE_FRONTIER_INVALID');
    expectMerkleError(() => appendToFrontier({ size: 11, hashes: frontier.hashes.slice(1) }, LEAVES[0] as Buffer), 'MERKLE_FRONTIER_INVALID');
    expectMerkleError(() => rootFromFrontier(frontier, 10), 'MERKLE_FRONTIER_INVALID');
    expectMerkleError(() => appendToFrontier(frontier, Buffer.alloc(16)), 'MERKLE_BAD_HASH');
  });
});

describe('inclusion proofs', () => {
  it('verify for every (index, size) up to 64, and the path leads to the root', () => {
    for (let size = 1; size <= MAX; size++) {
      const root = TREE.root(size);
      for (let index = 0; index < size; index++) {
        const proof = TREE.inclusionProof(index, size);
        assert.ok(verifyInclusion(index, size, LEAVES[index] as Buffer, proof, root), `(${index}, ${size})`);
        assert.ok(verifyInclusion(BigInt(index), BigInt(size), LEAVES[index] as Buffer, proof, root), `bigint (${index}, ${size})`);
        assert.deepEqual(
          inclusionProof(index, size, (i) => LEAVES[i] as Buffer),
          proof,
          `from leaf hashes (${index}, ${size})`,
        );
      }
    }
  });

  it('fail when any proof hash has a bit flipped (first, last and middle bytes)', () => {
    for (let size = 2; size <= MAX; size++) {
      const root = TREE.root(size);
      for (let index = 0; index < size; index++) {
        for (const mutated of sampledBitFlips(TREE.inclusionProof(index, size))) {
          assert.equal(verifyInclusion(index, size, LEAVES[index] as Buffer, mutated, root), false, `(${index}, ${size})`);
        }
      }
    }
  });

  it('fail when any of the 256 bits of any proof hash is flipped (sizes up to 9)', () => {
    for (let size = 2; size <= 9; size++) {
      for (let index = 0; index < size; index++) {
        for (const mutated of everyBitMutation(TREE.inclusionProof(index, size))) {
          assert.equal(verifyInclusion(index, size, LEAVES[index] as Buffer, mutated, TREE.root(size)), false);
        }
      }
    }
  });

  it('fail at any other index', () => {
    for (let size = 1; size <= MAX; size++) {
      const root = TREE.root(size);
      for (let index = 0; index < size; index++) {
        const proof = TREE.inclusionProof(index, size);
        for (let other = 0; other <= size + 1; other++) {
          if (other !== index) assert.equal(verifyInclusion(other, size, LEAVES[index] as Buffer, proof, root), false, `(${index}→${other}, ${size})`);
        }
      }
    }
  });

  it('fail at any other size, unless that size puts the same siblings on the same sides (the size is bound only by the root)', () => {
    // Index 0 has the same path in trees of 3 and 4 leaves: [leaf 1, MTH of the rest].
    assert.equal(inclusionShape(0, 3), inclusionShape(0, 4));
    for (let size = 1; size <= MAX; size++) {
      const root = TREE.root(size);
      for (let index = 0; index < size; index++) {
        const proof = TREE.inclusionProof(index, size);
        for (let other = 1; other <= 2 * MAX; other++) {
          if (other === size) continue;
          const sameShape = index < other && inclusionShape(index, other) === inclusionShape(index, size);
          assert.equal(verifyInclusion(index, other, LEAVES[index] as Buffer, proof, root), sameShape, `(${index}, ${size}→${other})`);
        }
      }
    }
  });

  it('fail for the wrong leaf, the wrong root, a truncated or extended proof', () => {
    const proof = TREE.inclusionProof(5, 13);
    const root = TREE.root(13);
    const leaf = LEAVES[5] as Buffer;
    assert.ok(verifyInclusion(5, 13, leaf, proof, root));
    assert.equal(verifyInclusion(5, 13, LEAVES[6] as Buffer, proof, root), false);
    assert.equal(verifyInclusion(5, 13, leaf, proof, TREE.root(12)), false);
    assert.equal(verifyInclusion(5, 13, leaf, proof.slice(0, -1), root), false);
    assert.equal(verifyInclusion(5, 13, leaf, [...proof, root], root), false);
    assert.equal(verifyInclusion(5, 13, leaf, [root, ...proof], root), false);
  });

  it('fail for index ≥ size, negative or fractional numbers, sizes beyond 2^64 − 1, and hashes not 32 bytes', () => {
    const proof = TREE.inclusionProof(5, 13);
    const root = TREE.root(13);
    const leaf = LEAVES[5] as Buffer;
    assert.equal(verifyInclusion(13, 13, leaf, proof, root), false);
    assert.equal(verifyInclusion(0, 0, leaf, [], emptyRoot()), false);
    assert.equal(verifyInclusion(-1, 13, leaf, proof, root), false);
    assert.equal(verifyInclusion(5.5, 13, leaf, proof, root), false);
    assert.equal(verifyInclusion(5n, 1n << 64n, leaf, proof, root), false);
    assert.equal(verifyInclusion(5, 13, leaf.subarray(0, 31), proof, root), false);
    assert.equal(verifyInclusion(5, 13, leaf, proof, Buffer.concat([root, Buffer.alloc(1)])), false);
    assert.equal(verifyInclusion(5, 13, leaf, [...proof.slice(0, -1), Buffer.alloc(0)], root), false);
    assert.equal(rootFromInclusionProof(5, 13, leaf, proof)?.equals(root), true);
    assert.equal(rootFromInclusionProof(5, 13, leaf, proof.slice(1)), null);
  });

  it('reach the top of a 2^64 − 1 leaf tree and refuse a longer path', () => {
    const size = (1n << 64n) - 1n;
    const index = size - 1n;
    // The last leaf's path: 63 left siblings (one per set bit below the top of size − 1).
    const path = Array.from({ length: 63 }, (_, i) => sha256(Buffer.from([i])));
    const root = rootFromInclusionProof(index, size, LEAVES[0] as Buffer, path);
    assert.ok(root !== null);
    assert.ok(verifyInclusion(index, size, LEAVES[0] as Buffer, path, root));
    assert.equal(verifyInclusion(index, size, LEAVES[0] as Buffer, [...path, root], root), false);
  });

  it('refuse to build a proof for an index outside the tree', () => {
    expectMerkleError(() => TREE.inclusionProof(4, 4), 'MERKLE_OUT_OF_RANGE');
    expectMerkleError(() => TREE.inclusionProof(0, TREE.size + 1), 'MERKLE_OUT_OF_RANGE');
    expectMerkleError(() => inclusionProofRanges(-1, 4), 'MERKLE_OUT_OF_RANGE');
  });
});

describe('consistency proofs', () => {
  it('verify for every 0 < m ≤ n ≤ 64', () => {
    for (let n = 1; n <= MAX; n++) {
      for (let m = 1; m <= n; m++) {
        const proof = TREE.consistencyProof(m, n);
        assert.ok(verifyConsistency(m, n, proof, TREE.root(m), TREE.root(n)), `(${m}, ${n})`);
        assert.deepEqual(
          consistencyProof(m, n, (i) => LEAVES[i] as Buffer),
          proof,
        );
      }
    }
  });

  it('fail when any proof hash has a bit flipped (first, last and middle bytes)', () => {
    for (let n = 2; n <= MAX; n++) {
      for (let m = 1; m < n; m++) {
        for (const mutated of sampledBitFlips(TREE.consistencyProof(m, n))) {
          assert.equal(verifyConsistency(m, n, mutated, TREE.root(m), TREE.root(n)), false, `(${m}, ${n})`);
        }
      }
    }
  });

  it('fail when any of the 256 bits of any proof hash is flipped (sizes up to 9)', () => {
    for (let n = 2; n <= 9; n++) {
      for (let m = 1; m < n; m++) {
        for (const mutated of everyBitMutation(TREE.consistencyProof(m, n))) {
          assert.equal(verifyConsistency(m, n, mutated, TREE.root(m), TREE.root(n)), false);
        }
      }
    }
  });

  it('fail at other sizes, unless those sizes have the same proof shape (sizes are bound only by the roots)', () => {
    // A size-1 tree inside a size-2 tree hashes like a size-2 tree inside a size-3 tree.
    assert.equal(consistencyShape(1, 2), consistencyShape(2, 3));
    const shapes = new Map<string, string>();
    for (let n2 = 2; n2 <= 48; n2++) for (let m2 = 1; m2 < n2; m2++) shapes.set(`${m2}/${n2}`, consistencyShape(m2, n2));
    for (let n = 2; n <= 24; n++) {
      for (let m = 1; m < n; m++) {
        const proof = TREE.consistencyProof(m, n);
        const root1 = TREE.root(m);
        const root2 = TREE.root(n);
        for (let n2 = 2; n2 <= 48; n2++) {
          for (let m2 = 1; m2 < n2; m2++) {
            if (m2 === m && n2 === n) continue;
            const sameShape = shapes.get(`${m2}/${n2}`) === shapes.get(`${m}/${n}`);
            assert.equal(verifyConsistency(m2, n2, proof, root1, root2), sameShape, `(${m}, ${n}) → (${m2}, ${n2})`);
          }
        }
      }
    }
  });

  it('follow the edge-case rules: from 0 never, equal sizes need an empty proof and equal roots, m > n never', () => {
    const r = (size: number) => TREE.root(size);
    assert.equal(verifyConsistency(0, 0, [], emptyRoot(), emptyRoot()), false);
    assert.equal(verifyConsistency(0, 5, [], emptyRoot(), r(5)), false);
    assert.equal(verifyConsistency(5, 5, [], r(5), r(5)), true);
    assert.equal(verifyConsistency(5, 5, [r(5)], r(5), r(5)), false);
    assert.equal(verifyConsistency(5, 5, [], r(5), r(4)), false);
    assert.equal(verifyConsistency(6, 5, TREE.consistencyProof(5, 6), r(6), r(5)), false);
    assert.equal(verifyConsistency(5, 6, [], r(5), r(6)), false);
    assert.equal(verifyConsistency(5, 6, TREE.consistencyProof(5, 6), r(5).subarray(1), r(6)), false);
    assert.equal(verifyConsistency(5, 6, [...TREE.consistencyProof(5, 6), r(6)], r(5), r(6)), false);
    assert.equal(verifyConsistency(-1, 6, [], r(5), r(6)), false);
    expectMerkleError(() => TREE.consistencyProof(0, 5), 'MERKLE_OUT_OF_RANGE');
    expectMerkleError(() => TREE.consistencyProof(6, 5), 'MERKLE_OUT_OF_RANGE');
    assert.deepEqual(TREE.consistencyProof(5, 5), []);
  });
});

describe('proofs over a log stored elsewhere', () => {
  const SIZE = 1000;
  const leaves = Array.from({ length: SIZE }, (_, i) => leafHash(Buffer.from(`stored ${i}`)));
  const tree = new MerkleTree(leaves);

  it('match the in-memory tree whether the source stores perfect subtrees or only leaves', async () => {
    let leafReads = 0;
    const leafOnly: HashSource = {
      leafHash: async (i) => {
        leafReads++;
        return leaves[i] as Buffer;
      },
    };
    const tiled: HashSource = {
      leafHash: async (i) => leaves[i] as Buffer,
      perfectSubtreeHash: async (level, index) => tree.perfectSubtreeHash(level, index),
    };
    const cache = new LruSubtreeCache({ minLevel: 2 });
    for (const [index, size] of [
      [0, 1000],
      [999, 1000],
      [511, 513],
      [700, 777],
    ] as const) {
      const want = tree.inclusionProof(index, size);
      assert.deepEqual(await inclusionProofAsync(index, size, tiled), want);
      assert.deepEqual(await inclusionProofAsync(index, size, leafOnly, cache), want);
    }
    for (const [m, n] of [
      [1, 1000],
      [512, 1000],
      [600, 999],
      [999, 1000],
    ] as const) {
      assert.deepEqual(await consistencyProofAsync(m, n, tiled), tree.consistencyProof(m, n));
      assert.deepEqual(await consistencyProofAsync(m, n, leafOnly, cache), tree.consistencyProof(m, n));
    }
    // With the cache warm, a second proof reads only a few leaves.
    leafReads = 0;
    await inclusionProofAsync(3, 1000, leafOnly, cache);
    assert.ok(leafReads < 64, `read ${leafReads} leaves`);
  });

  it('compute the root of any range, aligned or not, as RFC 6962 defines it over that slice', () => {
    for (const [start, end] of [
      [0, 0],
      [0, 1000],
      [3, 10],
      [5, 6],
      [100, 357],
      [256, 512],
    ] as const) {
      assert.equal(hex(subtreeRoot(start, end, tree)), hex(referenceRoot(leaves.slice(start, end))), `[${start}, ${end})`);
    }
  });

  it('refuse a source that returns a hash of the wrong length', () => {
    expectMerkleError(() => inclusionProof(0, 4, () => Buffer.alloc(20)), 'MERKLE_BAD_HASH');
  });
});

interface InclusionVector {
  leafIdx: number;
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

interface ConsistencyVector {
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

function jsonFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? jsonFiles(path.join(dir, e.name)) : e.name.endsWith('.json') ? [path.join(dir, e.name)] : []))
    .sort();
}

const b64 = (text: string) => Buffer.from(text, 'base64');

describe('transparency-dev/merkle vectors', () => {
  it('inclusion: every happy path verifies and every mutated probe fails', { skip: NO_VECTORS }, (t) => {
    const files = jsonFiles(path.join(VECTORS, 'inclusion'));
    assert.ok(files.length > 0, 'no inclusion vectors');
    let passed = 0;
    for (const file of files) {
      const v = JSON.parse(readFileSync(file, 'utf8')) as InclusionVector;
      const ok = verifyInclusion(v.leafIdx, v.treeSize, b64(v.leafHash), (v.proof ?? []).map(b64), b64(v.root));
      assert.equal(ok, !v.wantErr, `${path.relative(VECTORS, file)}: ${v.desc}`);
      passed++;
    }
    t.diagnostic(`${passed} inclusion vector files passed`);
  });

  it('consistency: every happy path verifies and every mutated probe fails', { skip: NO_VECTORS }, (t) => {
    const files = jsonFiles(path.join(VECTORS, 'consistency'));
    assert.ok(files.length > 0, 'no consistency vectors');
    let passed = 0;
    for (const file of files) {
      const v = JSON.parse(readFileSync(file, 'utf8')) as ConsistencyVector;
      const ok = verifyConsistency(v.size1, v.size2, (v.proof ?? []).map(b64), b64(v.root1), b64(v.root2));
      assert.equal(ok, !v.wantErr, `${path.relative(VECTORS, file)}: ${v.desc}`);
      passed++;
    }
    t.diagnostic(`${passed} consistency vector files passed`);
  });
});
