import { canonicalize } from '../crypto/jcs.js';
import { sha256Digest } from '../crypto/digest.js';
import { decodeBase64 } from '../crypto/dsse.js';
import type { DsseEnvelope } from '../model/attestation.js';
import type { Digest } from '../model/digest.js';
import { PolicyError } from './errors.js';
import { GATE_INPUT_SCHEMA, type GateInput, gateInputFromJSON } from './evidence.js';
import type { PolicyDecision } from './gate.js';

/** The head of the rollout history: which signed record (and so which bundle) is active. */
export interface RegistryHead {
  readonly seq: number;
  /** sha256 of the record's payload bytes. */
  readonly recordDigest: Digest;
}

export interface StoredDecision {
  readonly decision: PolicyDecision;
  readonly input: GateInput;
}

/**
 * Where policy bundles, the signed rollout history and decisions live. A small port: an
 * in-memory adapter for tests and a file adapter under the state directory; a store adapter
 * can replace both. Records are appended only through `setActive`, a compare-and-set on the
 * head, so two activations cannot both win.
 */
export interface PolicyRegistry {
  readonly capabilities: { readonly durable: boolean };
  /** Stores a signed bundle envelope under the digest of its payload (the bundle digest). */
  putBundle(envelope: DsseEnvelope): Promise<Digest>;
  getBundle(digest: Digest): Promise<DsseEnvelope | null>;
  /** The active pointer, or null before the first activation. */
  active(): Promise<RegistryHead | null>;
  /** Appends a signed record as seq `expectedSeq + 1` and points at it; POLICY_REGISTRY_CONFLICT if the head moved. */
  setActive(record: DsseEnvelope, expectedSeq: number): Promise<RegistryHead>;
  /** Every signed record, oldest first. */
  history(): Promise<readonly DsseEnvelope[]>;
  /** Stores a decision with the input it was computed from; storing the same decision twice is a no-op. */
  putDecision(decision: PolicyDecision, input: GateInput): Promise<void>;
  getDecision(id: string): Promise<StoredDecision | null>;
  /** Decisions, optionally only those made under one bundle, in id order. */
  listDecisions(bundle?: Digest): Promise<readonly PolicyDecision[]>;
}

/** The digest a registry files an envelope's payload under, or null when the payload is not canonical base64. */
export function payloadDigest(envelope: DsseEnvelope): Digest | null {
  const payload = decodeBase64(envelope.payload);
  return payload === null ? null : sha256Digest(payload);
}

export function requirePayloadDigest(envelope: DsseEnvelope, what: string): Digest {
  const digest = payloadDigest(envelope);
  if (digest === null) throw new PolicyError('POLICY_BUNDLE_SIGNATURE', `${what}: the envelope payload is not canonical base64`);
  return digest;
}

/**
 * Refuses an input that would not read back as itself: replay re-parses the stored input
 * strictly, so anything outside the gate-input schema must be caught when it is stored.
 */
export function checkStorable(input: GateInput): void {
  const text = canonicalize(input);
  let reread: string;
  try {
    reread = canonicalize(gateInputFromJSON(JSON.parse(text)));
  } catch (cause) {
    throw new PolicyError('POLICY_INPUT_INVALID', `the gate input does not follow ${GATE_INPUT_SCHEMA}, so its decision could not be replayed`, { cause });
  }
  if (reread !== text) throw new PolicyError('POLICY_INPUT_INVALID', `the gate input does not read back as itself under ${GATE_INPUT_SCHEMA}`);
}

export function sameDecision(a: StoredDecision, b: StoredDecision): boolean {
  return canonicalize(a) === canonicalize(b);
}

/** A registry in memory, for tests and one-shot evaluations. */
export class MemoryPolicyRegistry implements PolicyRegistry {
  readonly capabilities = { durable: false };
  private readonly bundles = new Map<Digest, DsseEnvelope>();
  private readonly records: DsseEnvelope[] = [];
  private head: RegistryHead | null = null;
  private readonly decisions = new Map<string, StoredDecision>();

  async putBundle(envelope: DsseEnvelope): Promise<Digest> {
    const digest = requirePayloadDigest(envelope, 'policy bundle');
    if (!this.bundles.has(digest)) this.bundles.set(digest, structuredClone(envelope));
    return digest;
  }

  async getBundle(digest: Digest): Promise<DsseEnvelope | null> {
    const e = this.bundles.get(digest);
    return e ? structuredClone(e) : null;
  }

  async active(): Promise<RegistryHead | null> {
    return this.head;
  }

  async setActive(record: DsseEnvelope, expectedSeq: number): Promise<RegistryHead> {
    const current = this.head?.seq ?? 0;
    if (current !== expectedSeq) throw new PolicyError('POLICY_REGISTRY_CONFLICT', `the rollout history moved: head is #${current}, expected #${expectedSeq}`);
    const recordDigest = requirePayloadDigest(record, 'rollout record');
    this.records.push(structuredClone(record));
    this.head = { seq: current + 1, recordDigest };
    return this.head;
  }

  async history(): Promise<readonly DsseEnvelope[]> {
    return structuredClone(this.records);
  }

  async putDecision(decision: PolicyDecision, input: GateInput): Promise<void> {
    checkStorable(input);
    const stored = this.decisions.get(decision.id);
    const incoming = structuredClone({ decision, input });
    if (stored && !sameDecision(stored, incoming))
      throw new PolicyError('POLICY_REGISTRY_CONFLICT', `decision ${decision.id} is already stored with other content`);
    if (!stored) this.decisions.set(decision.id, incoming);
  }

  async getDecision(id: string): Promise<StoredDecision | null> {
    const d = this.decisions.get(id);
    return d ? structuredClone(d) : null;
  }

  async listDecisions(bundle?: Digest): Promise<readonly PolicyDecision[]> {
    return [...this.decisions.keys()]
      .sort()
      .map((id) => (this.decisions.get(id) as StoredDecision).decision)
      .filter((d) => bundle === undefined || d.bundle.digest === bundle)
      .map((d) => structuredClone(d));
  }
}
