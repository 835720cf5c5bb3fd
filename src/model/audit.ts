import { isDigest, type Digest } from './digest.js';
import type { Problem } from './errors.js';
import { Fields } from './fields.js';

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

/**
 * One entry of the audit log. Its leaf is the RFC 8785 (JCS) encoding of exactly these
 * fields, and the Merkle leaf hash is `SHA-256(0x00 || leaf)`.
 */
export interface AuditEvent extends AuditEventInput {
  /** The entry's index in the log, 0-based: the `index` of its tlog-proof receipt. */
  readonly seq: number;
  /** When the action was recorded (ISO 8601, UTC). */
  readonly time: string;
}

const EVENT_KEYS = ['seq', 'time', 'actor', 'action', 'subjects', 'payloadDigest'] as const;
const ACTOR_KEYS = ['identity', 'purpose'] as const;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A text field of an event: non-empty, capped, well-formed Unicode (JCS cannot encode a lone surrogate). */
function text(f: Fields, value: unknown, path: string): string | undefined {
  const s = f.string(value, path, { maxLength: AUDIT_LIMITS.text });
  if (s !== undefined && LONE_SURROGATE.test(s)) {
    f.report(path, 'INVALID_FORMAT', 'holds a lone surrogate (not well-formed Unicode)');
    return undefined;
  }
  return s;
}

/** Caps on what an audit event may hold; a leaf stays a few hundred bytes. */
export const AUDIT_LIMITS = { text: 1024, subjects: 64 } as const;

/** Reads an audit event (the decoded JSON of a leaf): the event, or every bad field. */
export function readAuditEvent(
  value: unknown,
): { readonly event: AuditEvent; readonly problems: readonly [] } | { readonly event: null; readonly problems: readonly Problem[] } {
  // Verification reads every leaf: a well-formed event takes the short path, only a bad one pays for the problem list.
  const event = wellFormedEvent(value);
  if (event !== null) return { event, problems: [] };
  const f = new Fields();
  const o = f.object(value, '', EVENT_KEYS);
  if (!o) return { event: null, problems: f.problems };
  const seq = f.integer(o.seq, 'seq', 0);
  const time = f.string(o.time, 'time', { pattern: ISO_TIME, maxLength: 40 });
  const a = f.object(o.actor, 'actor', ACTOR_KEYS);
  const identity = a ? text(f, a.identity, 'actor.identity') : undefined;
  const purpose = a ? text(f, a.purpose, 'actor.purpose') : undefined;
  const action = text(f, o.action, 'action');
  const rawSubjects = f.array(o.subjects, 'subjects', AUDIT_LIMITS.subjects);
  const subjects: Digest[] = [];
  for (const [i, s] of (rawSubjects ?? []).entries()) {
    if (isDigest(s)) subjects.push(s);
    else f.report(`subjects[${i}]`, 'INVALID_FORMAT', 'expected sha256:<64 lowercase hex>');
  }
  const payloadDigest = o.payloadDigest;
  if (!isDigest(payloadDigest)) f.report('payloadDigest', payloadDigest === undefined ? 'MISSING' : 'INVALID_FORMAT', 'expected sha256:<64 lowercase hex>');
  if (
    f.problems.length > 0 ||
    seq === undefined ||
    time === undefined ||
    identity === undefined ||
    purpose === undefined ||
    action === undefined ||
    !isDigest(payloadDigest)
  ) {
    return { event: null, problems: f.problems };
  }
  return { event: { seq, time, actor: { identity, purpose }, action, subjects, payloadDigest }, problems: [] };
}

function isText(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= AUDIT_LIMITS.text && !LONE_SURROGATE.test(value);
}

function exactKeys(record: object, count: number): boolean {
  let n = 0;
  for (const _ in record) n++;
  return n === count;
}

/** The event when `value` is one exactly (same rules as the Fields path below), else null. */
function wellFormedEvent(value: unknown): AuditEvent | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !exactKeys(value, EVENT_KEYS.length)) return null;
  const { seq, time, actor, action, subjects, payloadDigest } = value as Record<string, unknown>;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) return null;
  if (typeof time !== 'string' || time.length > 40 || !ISO_TIME.test(time)) return null;
  if (typeof actor !== 'object' || actor === null || Array.isArray(actor) || !exactKeys(actor, ACTOR_KEYS.length)) return null;
  const { identity, purpose } = actor as Record<string, unknown>;
  if (!isText(identity) || !isText(purpose) || !isText(action) || !isDigest(payloadDigest)) return null;
  if (!Array.isArray(subjects) || subjects.length > AUDIT_LIMITS.subjects || !subjects.every(isDigest)) return null;
  return { seq, time, actor: { identity, purpose }, action, subjects, payloadDigest };
}

/** Every problem with an event about to be appended (empty when it may be logged). */
export function auditInputProblems(input: AuditEventInput): Problem[] {
  const f = new Fields();
  text(f, input.actor?.identity, 'actor.identity');
  text(f, input.actor?.purpose, 'actor.purpose');
  text(f, input.action, 'action');
  const subjects = f.array(input.subjects, 'subjects', AUDIT_LIMITS.subjects) ?? [];
  for (const [i, s] of subjects.entries()) if (!isDigest(s)) f.report(`subjects[${i}]`, 'INVALID_FORMAT', 'expected sha256:<64 lowercase hex>');
  if (!isDigest(input.payloadDigest)) f.report('payloadDigest', 'INVALID_FORMAT', 'expected sha256:<64 lowercase hex>');
  return f.problems;
}
