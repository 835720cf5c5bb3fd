import { InputError, type Problem } from '../model/errors.js';
import { Fields, joinPath } from '../model/fields.js';
import type { Severity } from '../model/finding.js';
import { type CvssVector, parseCvss } from './cvss.js';
import { compareSemver, parseAdvisoryVersion, parseSemver, type SemVer } from './semver.js';

export type OsvEventKind = 'introduced' | 'fixed' | 'last_affected' | 'limit';
const EVENT_KINDS: readonly OsvEventKind[] = ['introduced', 'fixed', 'last_affected', 'limit'];

export interface OsvEvent {
  readonly kind: OsvEventKind;
  readonly version: string;
  /** `'zero'` for `introduced: "0"`, `'any'` for `limit: "*"`, null when the version does not parse. */
  readonly parsed: SemVer | 'zero' | 'any' | null;
}

export interface OsvRange {
  /** `SEMVER`, `ECOSYSTEM` (both evaluated as SemVer for npm) or `GIT` (never matches a lockfile version). */
  readonly type: string;
  readonly events: readonly OsvEvent[];
}

export interface OsvAffected {
  readonly ecosystem: string;
  readonly name: string;
  readonly ranges: readonly OsvRange[];
  readonly versions: readonly string[];
  readonly severity: readonly { readonly type: string; readonly score: string }[];
}

/** The parts of an OSV 1.x record cairn evaluates (schema https://ossf.github.io/osv-schema/). */
export interface OsvRecord {
  readonly id: string;
  readonly schemaVersion: string;
  readonly modified: string;
  readonly published: string | null;
  readonly withdrawn: string | null;
  readonly aliases: readonly string[];
  readonly summary: string;
  readonly severity: readonly { readonly type: string; readonly score: string }[];
  readonly affected: readonly OsvAffected[];
  /** `database_specific.severity` (GHSA: LOW, MODERATE, HIGH, CRITICAL). */
  readonly databaseSeverity: string | null;
  readonly cweIds: readonly string[];
  /** The first ADVISORY or WEB reference, for people. */
  readonly url: string | null;
}

export const OSV_LIMITS = { maxBytes: 4 * 1024 * 1024, maxDepth: 32, maxAffected: 10_000, maxRanges: 1_000, maxEvents: 1_000, maxVersions: 200_000 } as const;

function eventOf(f: Fields, raw: unknown, path: string): OsvEvent | undefined {
  const o = f.object(raw, path);
  if (!o) return undefined;
  const keys = Object.keys(o).filter((k) => (EVENT_KINDS as readonly string[]).includes(k));
  if (keys.length !== 1) {
    f.report(path, 'INVALID_FORMAT', `an event has exactly one of ${EVENT_KINDS.join(', ')} (found ${keys.length})`);
    return undefined;
  }
  const kind = keys[0] as OsvEventKind;
  const version = f.string(o[kind], joinPath(path, kind), { maxLength: 256 });
  if (version === undefined) return undefined;
  const parsed = kind === 'introduced' && version === '0' ? 'zero' : kind === 'limit' && version === '*' ? 'any' : parseAdvisoryVersion(version);
  return { kind, version, parsed };
}

function severityList(f: Fields, raw: unknown, path: string): { type: string; score: string }[] {
  if (raw === undefined) return [];
  return (f.array(raw, path, 64) ?? []).flatMap((s, i) => {
    const o = f.object(s, joinPath(path, i));
    if (!o) return [];
    const type = f.string(o.type, joinPath(joinPath(path, i), 'type'), { maxLength: 64 });
    const score = f.string(o.score, joinPath(joinPath(path, i), 'score'), { maxLength: 512, empty: true });
    return type === undefined || score === undefined ? [] : [{ type, score }];
  });
}

function rangeOf(f: Fields, raw: unknown, path: string): OsvRange | undefined {
  const o = f.object(raw, path);
  if (!o) return undefined;
  const type = f.string(o.type, joinPath(path, 'type'), { maxLength: 32 });
  const events = (f.array(o.events, joinPath(path, 'events'), OSV_LIMITS.maxEvents) ?? []).flatMap(
    (e, i) => eventOf(f, e, joinPath(joinPath(path, 'events'), i)) ?? [],
  );
  if (type === undefined) return undefined;
  if (type !== 'GIT') {
    if (!events.some((e) => e.kind === 'introduced')) f.report(joinPath(path, 'events'), 'MISSING', 'a range needs at least one introduced event');
    if (events.some((e) => e.kind === 'fixed') && events.some((e) => e.kind === 'last_affected'))
      f.report(joinPath(path, 'events'), 'INVALID_FORMAT', 'a range has fixed or last_affected events, not both');
  }
  return { type, events };
}

function affectedOf(f: Fields, raw: unknown, path: string): OsvAffected | undefined {
  const o = f.object(raw, path);
  if (!o) return undefined;
  const pkg = f.object(o.package, joinPath(path, 'package'));
  const ecosystem = pkg ? f.string(pkg.ecosystem, joinPath(path, 'package.ecosystem'), { maxLength: 128 }) : undefined;
  const name = pkg ? f.string(pkg.name, joinPath(path, 'package.name'), { maxLength: 1024 }) : undefined;
  const ranges =
    o.ranges === undefined
      ? []
      : (f.array(o.ranges, joinPath(path, 'ranges'), OSV_LIMITS.maxRanges) ?? []).flatMap((r, i) => rangeOf(f, r, joinPath(joinPath(path, 'ranges'), i)) ?? []);
  const versions =
    o.versions === undefined
      ? []
      : (f.array(o.versions, joinPath(path, 'versions'), OSV_LIMITS.maxVersions) ?? []).flatMap(
          (v, i) => f.string(v, joinPath(joinPath(path, 'versions'), i), { maxLength: 256 }) ?? [],
        );
  const severity = severityList(f, o.severity, joinPath(path, 'severity'));
  if (ecosystem === undefined || name === undefined) return undefined;
  return { ecosystem, name, ranges, versions, severity };
}

/**
 * Reads one OSV record (raw JSON) into the typed record; every bad field is reported at
 * once as SCAN_OSV_MALFORMED, paths prefixed with `source`.
 */
export function osvFromJSON(raw: unknown, source: string): OsvRecord {
  const f = new Fields();
  const o = f.object(raw, '');
  let record: OsvRecord | undefined;
  if (o) {
    const id = f.string(o.id, 'id', { maxLength: 256 });
    const modified = f.string(o.modified, 'modified', { maxLength: 64 });
    const schemaVersion = f.optionalString(o.schema_version, 'schema_version', { maxLength: 32 }) ?? '1.0.0';
    const aliases =
      o.aliases === undefined
        ? []
        : (f.array(o.aliases, 'aliases', 1000) ?? []).flatMap((a, i) => f.string(a, joinPath('aliases', i), { maxLength: 256 }) ?? []);
    const affected =
      o.affected === undefined
        ? []
        : (f.array(o.affected, 'affected', OSV_LIMITS.maxAffected) ?? []).flatMap((a, i) => affectedOf(f, a, joinPath('affected', i)) ?? []);
    const dbs = typeof o.database_specific === 'object' && o.database_specific !== null ? (o.database_specific as Record<string, unknown>) : {};
    const refs = Array.isArray(o.references) ? (o.references as unknown[]) : [];
    const ref = refs.find(
      (r): r is { type: string; url: string } =>
        typeof r === 'object' &&
        r !== null &&
        ((r as { type?: unknown }).type === 'ADVISORY' || (r as { type?: unknown }).type === 'WEB') &&
        typeof (r as { url?: unknown }).url === 'string',
    );
    const summary = typeof o.summary === 'string' ? o.summary : '';
    if (id !== undefined && modified !== undefined) {
      record = {
        id,
        schemaVersion,
        modified,
        published: typeof o.published === 'string' ? o.published : null,
        withdrawn: typeof o.withdrawn === 'string' ? o.withdrawn : null,
        aliases,
        summary: summary.length > 512 ? `${summary.slice(0, 509)}...` : summary,
        severity: severityList(f, o.severity, 'severity'),
        affected,
        databaseSeverity: typeof dbs.severity === 'string' ? dbs.severity : null,
        cweIds: Array.isArray(dbs.cwe_ids) ? (dbs.cwe_ids as unknown[]).filter((c): c is string => typeof c === 'string') : [],
        url: ref && ref.url.length <= 2048 ? ref.url : null,
      };
    }
  }
  if (f.problems.length > 0 || record === undefined) {
    const problems: Problem[] = f.problems.slice(0, 50).map((p) => ({ ...p, path: p.path ? `${source}#${p.path}` : source }));
    const first = f.problems[0];
    throw new InputError('SCAN_OSV_MALFORMED', `${source}: not a valid OSV record${first ? ` (${first.path || '(root)'}: ${first.message})` : ''}`, {
      problems,
    });
  }
  return record;
}

/** How a version was found affected, or why it could not be evaluated. */
export type AffectedVerdict =
  | { readonly affected: true; readonly via: 'versions' }
  | { readonly affected: true; readonly via: 'range'; readonly range: number }
  | { readonly affected: false; readonly unevaluable: string | null };

// At an equal version, `introduced` is applied before the closing events, so a range whose
// `fixed` equals its `introduced` is empty rather than open.
const KIND_ORDER: Record<OsvEventKind, number> = { introduced: 0, last_affected: 1, fixed: 2, limit: 3 };

function compareEvents(a: OsvEvent, b: OsvEvent): number {
  const pa = a.parsed;
  const pb = b.parsed;
  if (pa === 'zero' || pb === 'zero') {
    if (pa === pb) return KIND_ORDER[a.kind] - KIND_ORDER[b.kind];
    return pa === 'zero' ? -1 : 1;
  }
  const c = compareSemver(pa as SemVer, pb as SemVer);
  return c !== 0 ? c : KIND_ORDER[a.kind] - KIND_ORDER[b.kind];
}

/**
 * Whether `version` falls in one SEMVER/ECOSYSTEM range, by the OSV schema's algorithm:
 * below some `limit` (if any), then walking the events in version order (whatever order the
 * record lists them in): `introduced` ≤ v opens, `fixed` ≤ v closes, `last_affected` < v closes.
 */
export function inRange(version: SemVer, range: OsvRange): boolean | 'unevaluable' {
  if (range.type === 'GIT') return false;
  if (range.events.some((e) => e.parsed === null)) return 'unevaluable';
  const limits = range.events.filter((e) => e.kind === 'limit');
  if (limits.length > 0 && !limits.some((l) => l.parsed === 'any' || compareSemver(version, l.parsed as SemVer) < 0)) return false;
  const events = range.events.filter((e) => e.kind !== 'limit').sort(compareEvents);
  let affected = false;
  for (const e of events) {
    // Every version is above `introduced: "0"`.
    const at = e.parsed === 'zero' ? 1 : compareSemver(version, e.parsed as SemVer);
    if (e.kind === 'introduced') {
      if (at >= 0) affected = true;
    } else if (e.kind === 'fixed') {
      if (at >= 0) affected = false;
    } else if (at > 0) affected = false;
  }
  return affected;
}

/**
 * Evaluates one `affected[]` entry for a lockfile version: its `versions` list (exact, build
 * metadata ignored) or any of its ranges. A version that is not SemVer can only match the
 * list; otherwise it is reported unevaluable, never coerced.
 */
export function evaluateAffected(version: string, affected: OsvAffected, parsedVersion?: SemVer | null): AffectedVerdict {
  const parsed = parsedVersion === undefined ? parseSemver(version) : parsedVersion;
  for (const listed of affected.versions) {
    if (listed === version) return { affected: true, via: 'versions' };
    if (parsed) {
      const other = parseSemver(listed);
      if (other && compareSemver(parsed, other) === 0) return { affected: true, via: 'versions' };
    }
  }
  const ranges = affected.ranges.filter((r) => r.type !== 'GIT');
  if (ranges.length === 0) return { affected: false, unevaluable: null };
  if (!parsed) return { affected: false, unevaluable: `version ${JSON.stringify(version)} is not SemVer` };
  let unevaluable: string | null = null;
  for (let i = 0; i < affected.ranges.length; i++) {
    const range = affected.ranges[i] as OsvRange;
    const verdict = inRange(parsed, range);
    if (verdict === true) return { affected: true, via: 'range', range: i };
    if (verdict === 'unevaluable') {
      const bad = range.events.find((e) => e.parsed === null);
      unevaluable = `range ${i} has a version that is not SemVer: ${JSON.stringify(bad?.version ?? '')}`;
    }
  }
  return { affected: false, unevaluable };
}

/** The lowest `fixed` version above `version` across ranges, for a remediation hint. */
export function fixedAbove(version: string, entries: readonly OsvAffected[]): string | null {
  const v = parseSemver(version);
  if (!v) return null;
  let best: SemVer | null = null;
  let text: string | null = null;
  for (const a of entries)
    for (const r of a.ranges)
      for (const e of r.events) {
        if (e.kind !== 'fixed' || e.parsed === null || typeof e.parsed === 'string') continue;
        if (compareSemver(e.parsed, v) > 0 && (best === null || compareSemver(e.parsed, best) < 0)) {
          best = e.parsed;
          text = e.version;
        }
      }
  return text;
}

/** Whether a record reports malware: a MAL- id (OpenSSF malicious-packages) or CWE-506 (embedded malicious code). */
export function isMalicious(record: OsvRecord): boolean {
  return record.id.startsWith('MAL-') || record.aliases.some((a) => a.startsWith('MAL-')) || record.cweIds.includes('CWE-506');
}

export interface RecordSeverity {
  readonly severity: Severity;
  /** Where the severity came from, in order of preference. */
  readonly source: 'malicious' | 'cvss-v3' | 'database-specific' | 'cvss-v4-unscored' | 'default';
  readonly cvss: readonly CvssVector[];
}

const DATABASE_SEVERITY: Readonly<Record<string, Severity>> = { CRITICAL: 'critical', HIGH: 'high', MODERATE: 'medium', MEDIUM: 'medium', LOW: 'low' };

/**
 * A record's severity: malware is critical; else the CVSS v3.x base score computed from the
 * vector (record level, then the matching affected entries); else `database_specific.severity`;
 * else `high` (a v4.0-only vector is validated and kept as evidence but not scored).
 */
export function recordSeverity(record: OsvRecord, entries: readonly OsvAffected[] = []): RecordSeverity {
  const cached = severityCache.get(record)?.get(entries);
  if (cached) return cached;
  const computed = computeSeverity(record, entries);
  const byEntries = severityCache.get(record) ?? new WeakMap<readonly OsvAffected[], RecordSeverity>();
  byEntries.set(entries, computed);
  severityCache.set(record, byEntries);
  return computed;
}

// Records are immutable values: their severity is computed once per (record, entries) pair.
const severityCache = new WeakMap<OsvRecord, WeakMap<readonly OsvAffected[], RecordSeverity>>();

function computeSeverity(record: OsvRecord, entries: readonly OsvAffected[]): RecordSeverity {
  const vectors = [...record.severity, ...entries.flatMap((e) => e.severity)]
    .filter((s) => s.type === 'CVSS_V3' || s.type === 'CVSS_V4')
    .flatMap((s) => parseCvss(s.score) ?? []);
  if (isMalicious(record)) return { severity: 'critical', source: 'malicious', cvss: vectors };
  const v3 = vectors.find((v): v is Extract<CvssVector, { baseScore: number }> => v.version !== '4.0');
  if (v3) return { severity: v3.severity, source: 'cvss-v3', cvss: vectors };
  const db = record.databaseSeverity ? DATABASE_SEVERITY[record.databaseSeverity.toUpperCase()] : undefined;
  if (db) return { severity: db, source: 'database-specific', cvss: vectors };
  return { severity: 'high', source: vectors.length > 0 ? 'cvss-v4-unscored' : 'default', cvss: vectors };
}
