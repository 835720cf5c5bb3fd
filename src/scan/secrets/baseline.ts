import { isDigest, type Digest } from '../../model/digest.js';
import { InputError } from '../../model/errors.js';
import { Fields, joinPath } from '../../model/fields.js';
import type { Finding } from '../../model/finding.js';
import { parseJson } from '../../model/json.js';
import { SecretScanError } from './errors.js';

/** One accepted finding: matched by fingerprint, kept with who-knows-why and until when. */
export interface BaselineEntry {
  readonly fingerprint: Digest;
  readonly ruleId: string;
  readonly file: string;
  readonly reason: string;
  /** Last day (UTC, `YYYY-MM-DD`) the acceptance holds. */
  readonly expires: string;
  readonly secretHash?: Digest;
}

/** A baseline file (in the spirit of detect-secrets' `.secrets.baseline`): hashes and reasons, never secrets. */
export interface Baseline {
  readonly version: 1;
  readonly entries: readonly BaselineEntry[];
}

export const BASELINE_FILE = '.cairn-secrets-baseline.json';
const MAX_ENTRIES = 10_000;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

function validDate(s: string): boolean {
  if (!DATE.test(s)) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}

/** Parses a baseline document; every bad field is reported at once. */
export function baselineFromJSON(raw: unknown): Baseline {
  const f = new Fields();
  const root = f.object(raw, '', ['version', 'entries']);
  if (root && root.version !== 1) f.report('version', 'UNSUPPORTED', 'version must be 1');
  const list = root ? f.array(root.entries, 'entries', MAX_ENTRIES) : undefined;
  const entries: BaselineEntry[] = [];
  for (const [i, item] of (list ?? []).entries()) {
    const p = joinPath('entries', i);
    const o = f.object(item, p, ['fingerprint', 'ruleId', 'file', 'reason', 'expires', 'secretHash']);
    if (!o) continue;
    const fingerprint = f.string(o.fingerprint, joinPath(p, 'fingerprint'));
    if (fingerprint !== undefined && !isDigest(fingerprint)) f.report(joinPath(p, 'fingerprint'), 'INVALID_FORMAT', 'must be sha256:<64 hex>');
    const ruleId = f.string(o.ruleId, joinPath(p, 'ruleId'), { maxLength: 128 });
    const file = f.string(o.file, joinPath(p, 'file'), { maxLength: 4096 });
    const reason = f.string(o.reason, joinPath(p, 'reason'), { maxLength: 1000 });
    const expires = f.string(o.expires, joinPath(p, 'expires'), { maxLength: 10 });
    if (expires !== undefined && !validDate(expires)) f.report(joinPath(p, 'expires'), 'INVALID_FORMAT', 'must be a date YYYY-MM-DD');
    const secretHash = f.optionalString(o.secretHash, joinPath(p, 'secretHash'));
    if (secretHash !== undefined && !isDigest(secretHash)) f.report(joinPath(p, 'secretHash'), 'INVALID_FORMAT', 'must be sha256:<64 hex>');
    if (fingerprint && ruleId && file && reason && expires && isDigest(fingerprint)) {
      entries.push({ fingerprint, ruleId, file, reason, expires, ...(secretHash !== undefined && isDigest(secretHash) ? { secretHash } : {}) });
    }
  }
  try {
    return f.finish({ version: 1 as const, entries }, 'SCAN_SECRET_BASELINE_INVALID', 'the baseline');
  } catch (error) {
    if (error instanceof InputError) throw new SecretScanError('SCAN_SECRET_BASELINE_INVALID', error.message, { cause: error, problems: error.problems });
    throw error;
  }
}

/** Parses baseline text (JSON, size- and depth-capped). */
export function parseBaseline(text: string): Baseline {
  let raw: unknown;
  try {
    raw = parseJson(text, 'baseline', { maxBytes: 8 * 1024 * 1024, maxDepth: 8 });
  } catch (error) {
    if (error instanceof InputError) throw new SecretScanError('SCAN_SECRET_BASELINE_INVALID', error.message, { cause: error, problems: error.problems });
    throw error;
  }
  return baselineFromJSON(raw);
}

export interface BaselineOutcome {
  readonly findings: readonly Finding[];
  readonly suppressed: readonly { readonly finding: Finding; readonly reason: string; readonly expires: string }[];
}

/**
 * Splits findings into open and accepted. An entry holds through the whole of its `expires`
 * day (UTC); after that its finding is open again and says so in its evidence.
 */
export function applyBaseline(findings: readonly Finding[], baseline: Baseline | undefined, now: Date): BaselineOutcome {
  if (!baseline) return { findings, suppressed: [] };
  const today = now.toISOString().slice(0, 10);
  const byFingerprint = new Map(baseline.entries.map((e) => [e.fingerprint, e]));
  const open: Finding[] = [];
  const suppressed: { finding: Finding; reason: string; expires: string }[] = [];
  for (const f of findings) {
    const e = byFingerprint.get(f.fingerprint as Digest);
    if (e && e.expires >= today) suppressed.push({ finding: f, reason: e.reason, expires: e.expires });
    else if (e) open.push({ ...f, evidence: { ...f.evidence, baselineExpired: e.expires } });
    else open.push(f);
  }
  return { findings: open, suppressed };
}

/** A baseline accepting `findings` (merged into `previous`, whose other entries are kept). */
export function baselineFor(findings: readonly Finding[], reason: string, expires: string, previous?: Baseline): Baseline {
  if (!validDate(expires)) throw new SecretScanError('SCAN_SECRET_BASELINE_INVALID', `expires ${expires} is not a date YYYY-MM-DD`);
  if (reason.trim() === '') throw new SecretScanError('SCAN_SECRET_BASELINE_INVALID', 'a baseline entry needs a reason');
  const entries = new Map((previous?.entries ?? []).map((e) => [e.fingerprint, e]));
  for (const f of findings) {
    const secretHash = f.evidence.secretHash;
    entries.set(f.fingerprint as Digest, {
      fingerprint: f.fingerprint as Digest,
      ruleId: f.ruleId,
      file: f.location.file,
      reason,
      expires,
      ...(isDigest(secretHash) ? { secretHash } : {}),
    });
  }
  return { version: 1, entries: [...entries.values()].sort((a, b) => (a.file + a.fingerprint < b.file + b.fingerprint ? -1 : 1)) };
}
