import { canonicalize } from '../crypto/jcs.js';
import { sha256Hex } from '../crypto/digest.js';
import type { AuditEvent, AuditEventInput } from '../model/audit.js';
import type { Problem } from '../model/errors.js';
import type { AuditHead, Store } from '../store/port.js';

export const GENESIS_HASH = '0'.repeat(64);

/** The hash of an event: sha256 of the JCS encoding of every field but `hash`. */
export function eventHash(event: Omit<AuditEvent, 'hash'>): string {
  const { seq, time, actor, action, subjects, payloadDigest, prevHash } = event;
  return sha256Hex(canonicalize({ seq, time, actor, action, subjects, payloadDigest, prevHash }));
}

/** Chains a new event onto the head (pure). */
export function chainEvent(head: AuditHead | null, input: AuditEventInput, time: Date): AuditEvent {
  const unsigned = {
    seq: head ? head.seq + 1 : 1,
    time: time.toISOString(),
    actor: input.actor,
    action: input.action,
    subjects: [...input.subjects],
    payloadDigest: input.payloadDigest,
    prevHash: head ? head.hash : GENESIS_HASH,
  };
  return { ...unsigned, hash: eventHash(unsigned) };
}

/** Appends one event to the store's log, sequenced by the store. */
export function appendEvent(store: Store, input: AuditEventInput, now: () => Date = () => new Date()): Promise<AuditEvent> {
  return store.appendAudit((head) => chainEvent(head, input, now()));
}

export interface ChainVerification {
  readonly ok: boolean;
  readonly events: number;
  readonly head: AuditHead | null;
  readonly problems: readonly Problem[];
}

/**
 * Recomputes the whole chain: every event's hash, every link to its predecessor and an
 * unbroken sequence from 1. Reads in pages so a long log needs bounded memory.
 */
export async function verifyChain(store: Store, pageSize = 1000): Promise<ChainVerification> {
  const problems: Problem[] = [];
  let prev: AuditHead | null = null;
  let count = 0;
  for (let from = 1; ; ) {
    const page = await store.listAudit(from, pageSize);
    for (const event of page) {
      const where = `audit[${event.seq}]`;
      const expectedSeq: number = prev ? prev.seq + 1 : 1;
      if (event.seq !== expectedSeq) problems.push({ code: 'AUDIT_SEQUENCE_GAP', path: where, message: `expected seq ${expectedSeq}, found ${event.seq}` });
      if (event.prevHash !== (prev ? prev.hash : GENESIS_HASH))
        problems.push({ code: 'AUDIT_CHAIN_BROKEN', path: where, message: 'prevHash does not equal the previous event hash' });
      const recomputed = eventHash(event);
      if (recomputed !== event.hash)
        problems.push({
          code: 'AUDIT_HASH_MISMATCH',
          path: where,
          message: `stored hash ${event.hash.slice(0, 16)}… but the event hashes to ${recomputed.slice(0, 16)}…`,
        });
      prev = { seq: event.seq, hash: event.hash };
      count++;
    }
    if (page.length < pageSize) break;
    from = (prev?.seq ?? 0) + 1;
  }
  const stored = await store.auditHead();
  if (stored && prev && (stored.seq !== prev.seq || stored.hash !== prev.hash)) {
    problems.push({ code: 'AUDIT_HEAD_MISMATCH', path: 'head', message: `the store's head (${stored.seq}) is not the last event read (${prev.seq})` });
  }
  return { ok: problems.length === 0, events: count, head: prev, problems };
}
