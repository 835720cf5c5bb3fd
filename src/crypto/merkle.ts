/**
 * RFC 6962 / RFC 9162 §2.1 Merkle tree hashing over SHA-256: leaf and node hashes, tree
 * roots, inclusion and consistency proofs (generation and verification), an in-memory
 * tree, proofs over a log stored elsewhere, and the compact-range frontier an appender keeps.
 *
 * Sizes and indexes for building are JavaScript safe integers (< 2^53); verification also
 * accepts bigints up to 2^64 − 1, the range of tlog sizes.
 */
import { hash } from 'node:crypto';
import { MerkleError } from './errors.js';

/** Bytes in every hash: SHA-256. */
export const HASH_SIZE = 32;

/** The longest proof a 64-bit tree can need, plus one: longer proofs are rejected unread. */
export const MAX_PROOF_HASHES = 65;

const EMPTY_ROOT = hash('sha256', new Uint8Array(0), 'buffer');
const MAX_TREE_SIZE = (1n << 64n) - 1n;

/** `SHA-256(0x00 || leaf)`: the hash of one log entry. */
export function leafHash(leaf: Uint8Array): Buffer {
  const input = Buffer.allocUnsafe(1 + leaf.length);
  input[0] = 0x00;
  input.set(leaf, 1);
  return hash('sha256', input, 'buffer');
}

/** `SHA-256(0x01 || left || right)`: the hash of an interior node. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  const input = Buffer.allocUnsafe(1 + left.length + right.length);
  input[0] = 0x01;
  input.set(left, 1);
  input.set(right, 1 + left.length);
  return hash('sha256', input, 'buffer');
}

/** `SHA-256("")`: the root of the empty tree. */
export function emptyRoot(): Buffer {
  return Buffer.from(EMPTY_ROOT);
}

/** Interior-node hashing that reuses one input buffer; for the hot loops below. */
class NodeHasher {
  readonly #input = Buffer.alloc(1 + 2 * HASH_SIZE, 0x01);

  hash(left: Uint8Array, right: Uint8Array): Buffer {
    this.#input.set(left, 1);
    this.#input.set(right, 1 + HASH_SIZE);
    return hash('sha256', this.#input, 'buffer');
  }
}

function checkHash(h: Uint8Array, what: string): void {
  if (h.length !== HASH_SIZE) throw new MerkleError('MERKLE_BAD_HASH', `${what}: a hash is ${h.length} bytes, expected ${HASH_SIZE}`);
}

function checkSize(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new MerkleError('MERKLE_OUT_OF_RANGE', `${what} must be a non-negative safe integer, got ${n}`);
}

/** The largest power of two strictly below n (n ≥ 2): RFC 6962's split point k. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  if (n < 1) return false;
  while (n % 2 === 0) n /= 2;
  return n === 1;
}

function log2Exact(n: number): number {
  let level = 0;
  while (n > 1) {
    n /= 2;
    level++;
  }
  return level;
}

// ---------------------------------------------------------------------------------------
// Roots

/**
 * MTH of a list of leaf hashes, in one pass with an O(log n) stack (2n − 1 hashes, no
 * recursion): the stack holds the roots of the perfect subtrees completed so far.
 */
export function rootFromLeafHashes(hashes: readonly Uint8Array[]): Buffer {
  if (hashes.length === 0) return emptyRoot();
  const hasher = new NodeHasher();
  const stack: Uint8Array[] = [];
  for (let i = 0; i < hashes.length; i++) {
    let node = hashes[i] as Uint8Array;
    checkHash(node, `leaf hash ${i}`);
    // Leaf i closes one perfect subtree per trailing one bit of i.
    for (let closed = i; closed % 2 === 1; closed = (closed - 1) / 2) node = hasher.hash(stack.pop() as Uint8Array, node);
    stack.push(node);
  }
  let root = stack.pop() as Uint8Array;
  while (stack.length > 0) root = hasher.hash(stack.pop() as Uint8Array, root);
  return Buffer.from(root);
}

// ---------------------------------------------------------------------------------------
// Frontier (compact range [0, size))

/**
 * The compact range of a tree: the roots of the perfect subtrees that make up leaves
 * [0, size), largest (leftmost) first, one per set bit of `size`. An appender that keeps
 * only this can maintain the root in O(log n) per append without reading old leaves.
 */
export interface Frontier {
  readonly size: number;
  readonly hashes: readonly Buffer[];
}

export const EMPTY_FRONTIER: Frontier = Object.freeze({ size: 0, hashes: Object.freeze([]) as readonly Buffer[] });

function popcount(n: number): number {
  let count = 0;
  while (n > 0) {
    count += n % 2;
    n = Math.floor(n / 2);
  }
  return count;
}

function checkFrontier(frontier: Frontier): void {
  checkSize(frontier.size, 'frontier size');
  if (frontier.hashes.length !== popcount(frontier.size)) {
    throw new MerkleError(
      'MERKLE_FRONTIER_INVALID',
      `a frontier of size ${frontier.size} holds ${popcount(frontier.size)} hashes, this one holds ${frontier.hashes.length}`,
    );
  }
  for (const h of frontier.hashes) checkHash(h, 'frontier');
}

/** The frontier after appending one leaf hash; the input is not changed. */
export function appendToFrontier(frontier: Frontier, leaf: Uint8Array): Frontier {
  checkFrontier(frontier);
  checkHash(leaf, 'leaf hash');
  if (frontier.size >= Number.MAX_SAFE_INTEGER) throw new MerkleError('MERKLE_OUT_OF_RANGE', 'the frontier is full');
  const hashes = [...frontier.hashes];
  let node: Buffer = Buffer.from(leaf);
  for (let closed = frontier.size; closed % 2 === 1; closed = (closed - 1) / 2) node = nodeHash(hashes.pop() as Buffer, node);
  hashes.push(node);
  return { size: frontier.size + 1, hashes };
}

/**
 * The root of the tree the frontier describes. `size`, if given, must equal the
 * frontier's own (a guard for callers that store the two apart).
 */
export function rootFromFrontier(frontier: Frontier, size: number = frontier.size): Buffer {
  checkFrontier(frontier);
  if (size !== frontier.size) throw new MerkleError('MERKLE_FRONTIER_INVALID', `frontier is for size ${frontier.size}, not ${size}`);
  const { hashes } = frontier;
  if (hashes.length === 0) return emptyRoot();
  let root = hashes[hashes.length - 1] as Buffer;
  for (let i = hashes.length - 2; i >= 0; i--) root = nodeHash(hashes[i] as Buffer, root);
  return Buffer.from(root);
}

// ---------------------------------------------------------------------------------------
// Proof shapes

/** A half-open leaf range [start, end) whose MTH is one proof element. */
export type LeafRange = readonly [start: number, end: number];

/**
 * The leaf ranges whose roots form `PATH(index, D[size])` (RFC 6962 §2.1.1), leaf's
 * sibling first. Pure arithmetic: the caller fetches the hashes however it stores them.
 */
export function inclusionProofRanges(index: number, size: number): LeafRange[] {
  checkSize(index, 'index');
  checkSize(size, 'tree size');
  if (index >= size) throw new MerkleError('MERKLE_OUT_OF_RANGE', `index ${index} is not below tree size ${size}`);
  const topDown: LeafRange[] = [];
  let start = 0;
  let end = size;
  while (end - start > 1) {
    const mid = start + splitPoint(end - start);
    if (index < mid) {
      topDown.push([mid, end]);
      end = mid;
    } else {
      topDown.push([start, mid]);
      start = mid;
    }
  }
  return topDown.reverse();
}

/**
 * The leaf ranges whose roots form `PROOF(m, D[n])` (RFC 6962 §2.1.2, SUBPROOF), deepest
 * first. Requires 0 < m ≤ n; m = n gives the empty proof. A proof from the empty tree is
 * refused, as the verifier refuses it (there is nothing to prove).
 */
export function consistencyProofRanges(m: number, n: number): LeafRange[] {
  checkSize(m, 'old size');
  checkSize(n, 'new size');
  if (m === 0) throw new MerkleError('MERKLE_OUT_OF_RANGE', 'a consistency proof from the empty tree is meaningless');
  if (m > n) throw new MerkleError('MERKLE_OUT_OF_RANGE', `old size ${m} exceeds new size ${n}`);
  const topDown: LeafRange[] = [];
  let start = 0;
  let end = n;
  // `complete` is SUBPROOF's b: true while the old tree's root is still a node of the walk.
  let complete = true;
  while (m !== n) {
    if (m === end) {
      if (!complete) topDown.push([start, end]);
      break;
    }
    const mid = start + splitPoint(end - start);
    if (m <= mid) {
      topDown.push([mid, end]);
      end = mid;
    } else {
      topDown.push([start, mid]);
      start = mid;
      complete = false;
    }
  }
  return topDown.reverse();
}

// ---------------------------------------------------------------------------------------
// Hash sources

/**
 * Synchronous access to a log's hashes. `perfectSubtreeHash(level, index)` may return the
 * stored root of the perfect subtree over leaves [index·2^level, (index+1)·2^level) (a
 * tile entry, a stored node), or undefined to have it computed from below.
 */
export interface SyncHashSource {
  leafHash(index: number): Uint8Array;
  perfectSubtreeHash?(level: number, index: number): Uint8Array | undefined;
}

/** Like {@link SyncHashSource}, for a log stored elsewhere (a database, tiles over HTTP). */
export interface HashSource {
  leafHash(index: number): Uint8Array | Promise<Uint8Array>;
  perfectSubtreeHash?(level: number, index: number): Uint8Array | undefined | Promise<Uint8Array | undefined>;
}

/**
 * A place to keep perfect-subtree roots computed from below. They never change in an
 * append-only log, so entries need no invalidation.
 */
export interface SubtreeCache {
  get(level: number, index: number): Buffer | undefined;
  set(level: number, index: number, hash: Buffer): void;
}

/**
 * A bounded {@link SubtreeCache} that keeps the most recently used entries, and only
 * subtrees of at least `minLevel` levels (2^minLevel leaves; smaller ones are cheap to redo).
 */
export class LruSubtreeCache implements SubtreeCache {
  readonly #entries = new Map<string, Buffer>();
  readonly #max: number;
  readonly #minLevel: number;

  constructor(options: { maxEntries?: number; minLevel?: number } = {}) {
    this.#max = options.maxEntries ?? 65_536;
    this.#minLevel = options.minLevel ?? 4;
  }

  get(level: number, index: number): Buffer | undefined {
    const key = `${level}/${index}`;
    const found = this.#entries.get(key);
    if (found === undefined) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, found);
    // Copies in and out: a caller that edits a proof hash must not edit the cache.
    return Buffer.from(found);
  }

  set(level: number, index: number, value: Buffer): void {
    if (level < this.#minLevel || this.#max <= 0) return;
    const key = `${level}/${index}`;
    this.#entries.delete(key);
    this.#entries.set(key, Buffer.from(value));
    if (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
  }

  get size(): number {
    return this.#entries.size;
  }
}

type LeafHashFn = (index: number) => Uint8Array;

function asSource(source: SyncHashSource | LeafHashFn): SyncHashSource {
  return typeof source === 'function' ? { leafHash: source } : source;
}

function checkRange(start: number, end: number): void {
  checkSize(start, 'range start');
  checkSize(end, 'range end');
  if (start > end) throw new MerkleError('MERKLE_OUT_OF_RANGE', `range [${start}, ${end}) is reversed`);
}

/** MTH(D[start:end]) over a synchronous source; perfect aligned pieces come from the source or cache when stored there. */
export function subtreeRoot(start: number, end: number, source: SyncHashSource | LeafHashFn, cache?: SubtreeCache): Buffer {
  checkRange(start, end);
  if (start === end) return emptyRoot();
  const src = asSource(source);
  const hasher = new NodeHasher();
  const perfect = (level: number, index: number): Buffer => {
    const cached = cache?.get(level, index);
    if (cached !== undefined) return cached;
    const stored = level === 0 ? src.leafHash(index) : src.perfectSubtreeHash?.(level, index);
    let result: Buffer;
    if (stored !== undefined) {
      checkHash(stored, `subtree ${level}/${index}`);
      result = Buffer.from(stored);
    } else {
      result = hasher.hash(perfect(level - 1, 2 * index), perfect(level - 1, 2 * index + 1));
    }
    cache?.set(level, index, result);
    return result;
  };
  const range = (from: number, to: number): Buffer => {
    const n = to - from;
    if (isPowerOfTwo(n) && from % n === 0) return perfect(log2Exact(n), from / n);
    const mid = from + splitPoint(n);
    return nodeHash(range(from, mid), range(mid, to));
  };
  return range(start, end);
}

/** MTH(D[start:end]) over an asynchronous source. */
export async function subtreeRootAsync(start: number, end: number, source: HashSource, cache?: SubtreeCache): Promise<Buffer> {
  checkRange(start, end);
  if (start === end) return emptyRoot();
  const perfect = async (level: number, index: number): Promise<Buffer> => {
    const cached = cache?.get(level, index);
    if (cached !== undefined) return cached;
    const stored = level === 0 ? await source.leafHash(index) : await source.perfectSubtreeHash?.(level, index);
    let result: Buffer;
    if (stored !== undefined) {
      checkHash(stored, `subtree ${level}/${index}`);
      result = Buffer.from(stored);
    } else {
      result = nodeHash(await perfect(level - 1, 2 * index), await perfect(level - 1, 2 * index + 1));
    }
    cache?.set(level, index, result);
    return result;
  };
  const range = async (from: number, to: number): Promise<Buffer> => {
    const n = to - from;
    if (isPowerOfTwo(n) && from % n === 0) return perfect(log2Exact(n), from / n);
    const mid = from + splitPoint(n);
    return nodeHash(await range(from, mid), await range(mid, to));
  };
  return range(start, end);
}

/** `PATH(index, D[size])` over a synchronous source (or a leaf-hash function). */
export function inclusionProof(index: number, size: number, source: SyncHashSource | LeafHashFn, cache?: SubtreeCache): Buffer[] {
  return inclusionProofRanges(index, size).map(([start, end]) => subtreeRoot(start, end, source, cache));
}

/** `PROOF(m, D[n])` over a synchronous source (or a leaf-hash function). */
export function consistencyProof(m: number, n: number, source: SyncHashSource | LeafHashFn, cache?: SubtreeCache): Buffer[] {
  return consistencyProofRanges(m, n).map(([start, end]) => subtreeRoot(start, end, source, cache));
}

/** `PATH(index, D[size])` over an asynchronous source; O(log n) subtree reads when the source stores perfect subtrees. */
export async function inclusionProofAsync(index: number, size: number, source: HashSource, cache?: SubtreeCache): Promise<Buffer[]> {
  const proof: Buffer[] = [];
  for (const [start, end] of inclusionProofRanges(index, size)) proof.push(await subtreeRootAsync(start, end, source, cache));
  return proof;
}

/** `PROOF(m, D[n])` over an asynchronous source. */
export async function consistencyProofAsync(m: number, n: number, source: HashSource, cache?: SubtreeCache): Promise<Buffer[]> {
  const proof: Buffer[] = [];
  for (const [start, end] of consistencyProofRanges(m, n)) proof.push(await subtreeRootAsync(start, end, source, cache));
  return proof;
}

// ---------------------------------------------------------------------------------------
// In-memory tree

/** One level of stored nodes, packed 32 bytes apiece in a growable buffer. */
class Level {
  buffer = Buffer.alloc(0);
  count = 0;

  push(node: Uint8Array): void {
    if ((this.count + 1) * HASH_SIZE > this.buffer.length) {
      const grown = Buffer.alloc(Math.max(1024, this.buffer.length * 2));
      this.buffer.copy(grown, 0, 0, this.count * HASH_SIZE);
      this.buffer = grown;
    }
    this.buffer.set(node, this.count * HASH_SIZE);
    this.count++;
  }

  /** A view; callers that hand it out copy it. */
  at(index: number): Buffer {
    return this.buffer.subarray(index * HASH_SIZE, (index + 1) * HASH_SIZE);
  }
}

/**
 * An append-only tree held in memory: every leaf hash and every complete interior node,
 * packed (about 2 × 32 bytes per leaf). Appending costs one hash amortized; roots at any
 * past size and proofs cost O(log n) lookups.
 */
export class MerkleTree implements SyncHashSource {
  readonly #levels: Level[] = [new Level()];
  readonly #hasher = new NodeHasher();

  constructor(leafHashes: Iterable<Uint8Array> = []) {
    for (const h of leafHashes) this.append(h);
  }

  /** A tree over raw entries (each is hashed with {@link leafHash}). */
  static fromEntries(entries: Iterable<Uint8Array>): MerkleTree {
    const tree = new MerkleTree();
    for (const entry of entries) tree.append(leafHash(entry));
    return tree;
  }

  get size(): number {
    return (this.#levels[0] as Level).count;
  }

  /** Appends a leaf hash; returns its index. */
  append(leaf: Uint8Array): number {
    checkHash(leaf, 'leaf hash');
    const index = this.size;
    (this.#levels[0] as Level).push(leaf);
    let level = 0;
    // Each trailing one bit of the index closes a perfect subtree one level up.
    for (let i = index; i % 2 === 1; i = (i - 1) / 2) {
      const below = this.#levels[level] as Level;
      const parent = this.#hasher.hash(below.at(i - 1), below.at(i));
      level++;
      if (this.#levels.length === level) this.#levels.push(new Level());
      (this.#levels[level] as Level).push(parent);
    }
    return index;
  }

  leafHash(index: number): Buffer {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.size) {
      throw new MerkleError('MERKLE_OUT_OF_RANGE', `leaf ${index} is not in a tree of size ${this.size}`);
    }
    return Buffer.from((this.#levels[0] as Level).at(index));
  }

  /** The stored root of a complete perfect subtree, or undefined when it is not complete yet. */
  perfectSubtreeHash(level: number, index: number): Buffer | undefined {
    const stored = this.#levels[level];
    if (stored === undefined || !Number.isSafeInteger(index) || index < 0 || index >= stored.count) return undefined;
    return Buffer.from(stored.at(index));
  }

  /** The compact range of the tree at `size` (default: now). */
  frontier(size: number = this.size): Frontier {
    this.#checkSize(size);
    const hashes: Buffer[] = [];
    let start = 0;
    for (let level = this.#levels.length - 1; level >= 0; level--) {
      const width = 2 ** level;
      if (start + width <= size) {
        hashes.push(Buffer.from((this.#levels[level] as Level).at(start / width)));
        start += width;
      }
    }
    return { size, hashes };
  }

  /** MTH of the first `size` leaves (default: all). */
  root(size: number = this.size): Buffer {
    return rootFromFrontier(this.frontier(size));
  }

  inclusionProof(index: number, size: number = this.size): Buffer[] {
    this.#checkSize(size);
    return inclusionProof(index, size, this);
  }

  consistencyProof(m: number, n: number = this.size): Buffer[] {
    this.#checkSize(n);
    return consistencyProof(m, n, this);
  }

  #checkSize(size: number): void {
    checkSize(size, 'tree size');
    if (size > this.size) throw new MerkleError('MERKLE_OUT_OF_RANGE', `tree size ${size} exceeds the ${this.size} leaves held`);
  }
}

// ---------------------------------------------------------------------------------------
// Verification (RFC 9162 §2.1.3.2, §2.1.4.2)

function toTreeInteger(value: bigint | number): bigint | null {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) return null;
    return BigInt(value);
  }
  return value >= 0n && value <= MAX_TREE_SIZE ? value : null;
}

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

function popcountBig(n: bigint): number {
  let count = 0;
  for (const c of n.toString(2)) if (c === '1') count++;
  return count;
}

function trailingZeros(n: bigint): number {
  let count = 0;
  while (n > 0n && (n & 1n) === 0n) {
    n >>= 1n;
    count++;
  }
  return count;
}

/** Hash count of an inclusion path for `index` in a tree of `size`: inner levels plus right-border levels. */
function inclusionLength(index: bigint, size: bigint): number {
  const inner = bitLength(index ^ (size - 1n));
  return inner + popcountBig(index >> BigInt(inner));
}

function allHashes(hashes: readonly Uint8Array[]): boolean {
  return hashes.every((h) => h instanceof Uint8Array && h.length === HASH_SIZE);
}

/**
 * The root an inclusion proof leads to, or null when the proof has the wrong shape for
 * (index, size) or a hash of the wrong length.
 */
export function rootFromInclusionProof(index: bigint | number, size: bigint | number, leaf: Uint8Array, proof: readonly Uint8Array[]): Buffer | null {
  const fnStart = toTreeInteger(index);
  const snStart = toTreeInteger(size);
  if (fnStart === null || snStart === null || fnStart >= snStart) return null;
  if (proof.length > MAX_PROOF_HASHES || !allHashes([leaf, ...proof])) return null;
  if (proof.length !== inclusionLength(fnStart, snStart)) return null;
  const hasher = new NodeHasher();
  let fn = fnStart;
  let sn = snStart - 1n;
  let r: Buffer = Buffer.from(leaf);
  for (const p of proof) {
    if (sn === 0n) return null;
    if ((fn & 1n) === 1n || fn === sn) {
      r = hasher.hash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = hasher.hash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n ? r : null;
}

/**
 * Verifies that `leaf` (a leaf hash) is at `index` in the tree of `size` whose root is
 * `root`. False for index ≥ size, a proof of the wrong length, or any hash not 32 bytes.
 */
export function verifyInclusion(index: bigint | number, size: bigint | number, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!(root instanceof Uint8Array) || root.length !== HASH_SIZE) return false;
  const computed = rootFromInclusionProof(index, size, leaf, proof);
  return computed?.equals(root) === true;
}

/**
 * Verifies that the tree of `size1` with `root1` is a prefix of the tree of `size2` with
 * `root2`. As in transparency-dev/merkle: size1 = 0 is always false (a proof from the empty
 * tree is meaningless); size1 = size2 needs an empty proof and byte-identical roots;
 * size1 > size2 is false; otherwise every hash must be 32 bytes.
 */
export function verifyConsistency(size1: bigint | number, size2: bigint | number, proof: readonly Uint8Array[], root1: Uint8Array, root2: Uint8Array): boolean {
  const m = toTreeInteger(size1);
  const n = toTreeInteger(size2);
  if (m === null || n === null || m === 0n || m > n) return false;
  // Equal sizes: nothing to hash, the claim holds iff the roots are the same bytes (the
  // transparency-dev vectors accept this even for roots that are not 32 bytes).
  if (m === n) return proof.length === 0 && Buffer.from(root1).equals(root2);
  if (proof.length === 0 || proof.length > MAX_PROOF_HASHES || !allHashes([root1, root2, ...proof])) return false;

  // Expected length: the inclusion path of leaf m−1 in the new tree, minus the levels the
  // old root covers, plus a seed unless the old tree is perfect (then root1 is the seed).
  const shift = trailingZeros(m);
  const perfectOld = m === 1n << BigInt(shift);
  const expected = inclusionLength(m - 1n, n) - shift + (perfectOld ? 0 : 1);
  if (proof.length !== expected) return false;

  const path = perfectOld ? [root1, ...proof] : [...proof];
  const hasher = new NodeHasher();
  let fn = m - 1n;
  let sn = n - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr: Buffer = Buffer.from(path[0] as Uint8Array);
  let sr: Buffer = Buffer.from(fr);
  for (const c of path.slice(1)) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      fr = hasher.hash(c, fr);
      sr = hasher.hash(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = hasher.hash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && fr.equals(root1) && sr.equals(root2);
}
