import type { Digest } from './digest.js';

/** Kinds of evidence cairn stores as content-addressed blobs. */
export type EvidenceKind = 'artifact' | 'provenance' | 'vsa' | 'sbom' | 'scan-report' | 'decision' | 'build-log' | 'release';

/** An index row pointing at a blob: what it is and what it is about. */
export interface EvidenceRecord {
  readonly digest: Digest;
  readonly kind: EvidenceKind;
  /** The artifact (or other subject) this evidence is about. */
  readonly subject: Digest;
  readonly mediaType: string;
  readonly runId: string | null;
  readonly createdAt: string;
}
