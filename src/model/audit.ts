import type { Digest } from './digest.js';

/** Who did something and why; every critical action carries both. */
export interface Actor {
  readonly identity: string;
  readonly purpose: string;
}

export interface AuditEventInput {
  readonly actor: Actor;
  readonly action: string;
  readonly subjects: readonly Digest[];
  /** Digest of the canonical payload (the full record lives in the blob store or a table). */
  readonly payloadDigest: Digest;
}

export interface AuditEvent extends AuditEventInput {
  readonly seq: number;
  readonly time: string;
  /** Hash of the previous event, or 64 zeros for the first. */
  readonly prevHash: string;
  /** sha256 (hex) of the JCS encoding of every other field. */
  readonly hash: string;
}
