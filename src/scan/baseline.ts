import { isSeq, LineCounter, parseDocument } from 'yaml';
import { InputError } from '../model/errors.js';
import { Fields, joinPath } from '../model/fields.js';
import type { Finding, ScanReport } from '../model/finding.js';
import { finding } from './findings.js';

/** One accepted finding: what it matches, why it is accepted, and until when. */
export interface BaselineEntry {
  readonly rule: string | null;
  readonly package: string | null;
  readonly version: string | null;
  /** An advisory id or alias (`GHSA-…`, `CVE-…`) the finding names. */
  readonly id: string | null;
  readonly fingerprint: string | null;
  readonly reason: string;
  /** `YYYY-MM-DD`; the entry holds through the end of that day (UTC). */
  readonly expires: string;
  readonly line: number;
}

export interface Baseline {
  readonly file: string;
  readonly entries: readonly BaselineEntry[];
}

export const BASELINE_LIMITS = { maxBytes: 1024 * 1024, maxEntries: 10_000 } as const;
const ENTRY_KEYS = ['rule', 'package', 'version', 'id', 'fingerprint', 'reason', 'expires'];

function isDate(text: string): boolean {
  if (text.length !== 10 || text[4] !== '-' || text[7] !== '-') return false;
  const d = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === text;
}

/**
 * Parses a baseline file (YAML or JSON):
 * `{ version: 1, suppressions: [{ rule, package?, version?, id?, fingerprint?, reason, expires }] }`.
 * Every entry needs a non-empty reason and an expiry date, and names a rule or a fingerprint.
 */
export function parseBaseline(text: string | Uint8Array, file: string): Baseline {
  const size = typeof text === 'string' ? Buffer.byteLength(text, 'utf8') : text.byteLength;
  if (size > BASELINE_LIMITS.maxBytes) {
    throw new InputError('SCAN_BASELINE_INVALID', `${file}: ${size} bytes is over the limit of ${BASELINE_LIMITS.maxBytes}`, {
      problems: [{ code: 'TOO_LARGE', path: '', message: `larger than ${BASELINE_LIMITS.maxBytes} bytes` }],
    });
  }
  const source = typeof text === 'string' ? text : new TextDecoder().decode(text);
  const lineCounter = new LineCounter();
  const doc = parseDocument(source, { schema: 'failsafe', lineCounter, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new InputError('SCAN_BASELINE_INVALID', `${file}: not valid YAML: ${doc.errors[0]?.message.split('\n')[0]}`, {
      problems: doc.errors.slice(0, 20).map((e) => ({ code: 'YAML_SYNTAX', path: '', message: e.message.split('\n')[0] ?? '' })),
    });
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 0 });
  } catch (cause) {
    throw new InputError('SCAN_BASELINE_INVALID', `${file}: aliases are not accepted`, {
      cause,
      problems: [{ code: 'YAML_ALIASES', path: '', message: 'aliases are not accepted' }],
    });
  }
  const f = new Fields();
  const top = f.object(raw, '', ['version', 'suppressions']);
  if (top && top.version !== '1') f.report('version', top.version === undefined ? 'MISSING' : 'UNSUPPORTED', 'expected version: 1');
  const list = top ? (f.array(top.suppressions ?? [], 'suppressions', BASELINE_LIMITS.maxEntries) ?? []) : [];
  const seq = doc.get('suppressions', true);
  const entries: BaselineEntry[] = [];
  list.forEach((item, i) => {
    const path = joinPath('suppressions', i);
    const e = f.object(item, path, ENTRY_KEYS);
    if (!e) return;
    const opt = (key: string) => f.optionalString(e[key], joinPath(path, key), { maxLength: 1024 }) ?? null;
    const rule = opt('rule');
    const fingerprint = opt('fingerprint');
    const reason = f.string(e.reason, joinPath(path, 'reason'), { maxLength: 2000 });
    const expires = f.string(e.expires, joinPath(path, 'expires'), { maxLength: 10 });
    if (expires !== undefined && !isDate(expires)) f.report(joinPath(path, 'expires'), 'INVALID_FORMAT', 'expected a date YYYY-MM-DD');
    if (rule === null && fingerprint === null) f.report(path, 'MISSING', 'an entry names a rule or a fingerprint');
    if (reason !== undefined && reason.trim() === '') f.report(joinPath(path, 'reason'), 'EMPTY', 'a suppression needs a reason');
    const node = isSeq(seq) ? seq.items[i] : undefined;
    const offset = node && typeof node === 'object' && 'range' in node && Array.isArray(node.range) ? (node.range[0] as number) : 0;
    if (reason === undefined || expires === undefined) return;
    entries.push({
      rule,
      package: opt('package'),
      version: opt('version'),
      id: opt('id'),
      fingerprint,
      reason,
      expires,
      line: lineCounter.linePos(offset).line || 1,
    });
  });
  if (f.problems.length > 0) {
    const first = f.problems[0];
    throw new InputError(
      'SCAN_BASELINE_INVALID',
      `${file}: ${first?.path || '(root)'}: ${first?.message}${f.problems.length > 1 ? ` (and ${f.problems.length - 1} more)` : ''}`,
      {
        problems: f.problems,
      },
    );
  }
  return { file, entries };
}

function matches(entry: BaselineEntry, f: Finding): boolean {
  if (entry.fingerprint !== null && entry.fingerprint !== f.fingerprint) return false;
  if (entry.rule !== null && entry.rule !== f.ruleId) return false;
  if (entry.package !== null && entry.package !== f.package?.name) return false;
  if (entry.version !== null && entry.version !== f.package?.version) return false;
  if (entry.id !== null) {
    const ev = f.evidence as { id?: unknown; ids?: unknown; aliases?: unknown };
    const names = [ev.id, ...(Array.isArray(ev.ids) ? ev.ids : []), ...(Array.isArray(ev.aliases) ? ev.aliases : [])];
    if (!names.includes(entry.id)) return false;
  }
  return true;
}

/** Whether an entry still holds at `now`: through the end of its expiry day, UTC. */
export function isActive(entry: BaselineEntry, now: Date): boolean {
  return now.getTime() < Date.parse(`${entry.expires}T00:00:00Z`) + 86_400_000;
}

/**
 * Splits findings into remaining and suppressed, pure. An expired entry suppresses nothing
 * and is itself reported (`baseline-expired`); an active entry that matches nothing is
 * reported as `baseline-unused` so the file does not rot.
 */
export function applyBaseline(
  findings: readonly Finding[],
  baseline: Baseline,
  now: Date,
): { findings: Finding[]; suppressed: ScanReport['suppressed'][number][]; problems: Finding[] } {
  const remaining: Finding[] = [];
  const suppressed: ScanReport['suppressed'][number][] = [];
  const used = new Set<BaselineEntry>();
  const expiredHits = new Map<BaselineEntry, number>();
  for (const f of findings) {
    const hits = baseline.entries.filter((e) => matches(e, f));
    const active = hits.find((e) => isActive(e, now));
    for (const e of hits) if (!isActive(e, now)) expiredHits.set(e, (expiredHits.get(e) ?? 0) + 1);
    if (active) {
      used.add(active);
      suppressed.push({ finding: f, reason: active.reason, expires: active.expires });
    } else remaining.push(f);
  }
  const problems: Finding[] = [];
  for (const e of baseline.entries) {
    const what = e.fingerprint ?? [e.rule, e.package, e.version, e.id].filter((x) => x !== null).join(' ');
    if (!isActive(e, now)) {
      problems.push(
        finding({
          ruleId: 'baseline-expired',
          severity: 'low',
          message: `baseline entry ${what} expired on ${e.expires}${expiredHits.has(e) ? `; ${expiredHits.get(e)} finding(s) it covered are reported again` : ''}`,
          location: { file: baseline.file, line: e.line },
          evidence: { expires: e.expires, reason: e.reason, matched: expiredHits.get(e) ?? 0 },
          key: { what, expires: e.expires },
        }),
      );
    } else if (!used.has(e)) {
      problems.push(
        finding({
          ruleId: 'baseline-unused',
          severity: 'info',
          message: `baseline entry ${what} matches no finding; remove it`,
          location: { file: baseline.file, line: e.line },
          evidence: { expires: e.expires, reason: e.reason },
          key: { what, expires: e.expires },
        }),
      );
    }
  }
  return { findings: remaining, suppressed, problems };
}
