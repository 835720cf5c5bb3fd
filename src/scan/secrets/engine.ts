import { RE2JS } from 're2js';
import { sha256Digest } from '../../crypto/digest.js';
import type { Digest } from '../../model/digest.js';
import type { Finding } from '../../model/finding.js';
import { SECRET_RULES, type SecretRule } from './rules.js';

interface Compiled {
  readonly rule: SecretRule;
  readonly pattern: RE2JS;
  readonly paths?: RE2JS;
}

/** A rule set compiled once (RE2: every match is linear in the text it runs on). */
export class SecretDetector {
  readonly rules: readonly SecretRule[];
  private readonly compiled: readonly Compiled[];
  /** Digest of the rule set, recorded among a report's inputs. */
  readonly digest: Digest;

  constructor(rules: readonly SecretRule[] = SECRET_RULES) {
    this.rules = rules;
    this.compiled = rules.map((rule) => ({
      rule,
      pattern: RE2JS.compile(rule.pattern),
      ...(rule.paths !== undefined ? { paths: RE2JS.compile(rule.paths) } : {}),
    }));
    this.digest = sha256Digest(JSON.stringify(rules));
  }

  /**
   * Secrets in one text. Each rule runs only on the lines around its keywords (the whole
   * text when a keyword is everywhere), so cost stays linear in the text times the rules hit.
   */
  scan(text: string, file: string, origin: { line?: number; commit?: string } = {}): Finding[] {
    const lower = text.toLowerCase();
    // toLowerCase can change lengths for a few scripts; offsets are then only valid on the whole text.
    const aligned = lower.length === text.length;
    const lines = new LineIndex(text);
    const found: Raw[] = [];
    const taken = new Set<string>();
    for (const c of this.compiled) {
      if (c.paths && !c.paths.test(file)) continue;
      const windows = aligned
        ? keywordWindows(lower, c.rule.keywords, c.rule.window ?? 0)
        : c.rule.keywords.some((k) => lower.includes(k))
          ? [[0, text.length] as const]
          : [];
      for (const [from, to] of windows) {
        const slice = from === 0 && to === text.length ? text : text.slice(from, to);
        const m = c.pattern.matcher(slice);
        while (m.find()) {
          const secret = m.group('secret');
          if (secret === null || secret === '') continue;
          const start = from + m.start('secret');
          if (!plausible(c.rule, secret)) continue;
          const key = `${c.rule.id}\u0000${start}`;
          if (taken.has(key)) continue;
          taken.add(key);
          found.push({ rule: c.rule, secret, start, end: start + secret.length });
        }
      }
    }
    found.sort((a, b) => a.start - b.start || a.end - b.end);
    const kept = dropContained(found);
    return kept.map((r) => this.finding(r, file, text, lines, origin, found));
  }

  private finding(raw: Raw, file: string, text: string, lines: LineIndex, origin: { line?: number; commit?: string }, spans: readonly Raw[]): Finding {
    const { rule, secret, start } = raw;
    const at = lines.at(start);
    const end = lines.at(start + secret.length);
    const secretHash = hashSecret(secret);
    const line = at.line + (origin.line ?? 1) - 1;
    const masked = maskSecret(secret, rule.keep ?? 0);
    return {
      ruleId: rule.id,
      severity: rule.severity,
      message: `${rule.title} (${masked}) in ${file}:${line}`,
      location: { file, line, column: at.column, endLine: end.line + (origin.line ?? 1) - 1, endColumn: end.column },
      evidence: {
        secretHash,
        excerpt: excerpt(text, lines, start, spans),
        length: secret.length,
        entropy: Math.round(shannonEntropy(secret) * 100) / 100,
        ...(origin.commit !== undefined ? { commit: origin.commit } : {}),
      },
      fingerprint: secretFingerprint(rule.id, file, secretHash),
    };
  }
}

/** `sha256:` of the secret, domain-separated; shown instead of the secret, and what baselines match on. */
export function hashSecret(secret: string): Digest {
  return sha256Digest(`cairn-secret/v1\u0000${secret}`);
}

/** Stable across runs and edits that move the secret within its file. */
export function secretFingerprint(ruleId: string, file: string, secretHash: Digest): Digest {
  return sha256Digest(['cairn-secret-finding/v1', ruleId, file, secretHash].join('\u0000'));
}

/** The public prefix (at most a quarter of the secret) and asterisks; never the secret's tail or length. */
export function maskSecret(secret: string, keep: number): string {
  const shown = Math.min(keep, Math.floor(secret.length / 4));
  return `${secret.slice(0, shown)}********`;
}

export function shannonEntropy(s: string): number {
  if (s.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  const n = [...s].length;
  for (const k of counts.values()) {
    const p = k / n;
    h -= p * Math.log2(p);
  }
  return h;
}

const PLACEHOLDER = [
  'example',
  'xxxxxx',
  'placeholder',
  'changeme',
  'change_me',
  'redacted',
  'dummy',
  'sample',
  'your_',
  'your-',
  'yourtoken',
  'notreal',
  'not_real',
  'fake',
];
const IDENTIFIER_PATH = RE2JS.compile('^[A-Za-z_$][A-Za-z0-9_$]*(?:\\.[A-Za-z_$][A-Za-z0-9_$]*)+$');
const HEX = RE2JS.compile('^[0-9a-fA-F]+$');
const HAS_DIGIT = RE2JS.compile('[0-9]');
const HAS_LETTER = RE2JS.compile('[A-Za-z]');
const PASSWORD_REFERENCE = RE2JS.compile(
  '^(?:\\$|%|\\{|<|\\[|\\*|#\\{)|\\$\\{|\\{\\{|^(?:pass(?:word)?|secret|user(?:name)?|pwd|root|admin|postgres|mysql|redis|guest|test|none|null|undefined|x+|\\*+)$',
);

function plausible(rule: SecretRule, secret: string): boolean {
  const lower = secret.toLowerCase();
  if (PLACEHOLDER.some((p) => lower.includes(p))) return false;
  if (new Set(secret).size <= 3) return false;
  if (rule.minEntropy !== undefined && shannonEntropy(secret) < (rule.check === 'generic' && HEX.test(secret) ? 3 : rule.minEntropy)) return false;
  switch (rule.check) {
    case undefined:
      return true;
    case 'password':
      return !PASSWORD_REFERENCE.test(secret);
    case 'generic':
      return (
        HAS_DIGIT.test(secret) && HAS_LETTER.test(secret) && !IDENTIFIER_PATH.test(secret) && !secret.startsWith('sha256:') && !lower.startsWith('sha512-')
      );
    case 'jwt':
      return jwtHeader(secret);
    case 'private-key': {
      let body = 0;
      for (let i = 0; i < secret.length; i++) {
        const ch = secret[i] as string;
        if (ch === '\\') i++;
        else if (ch.trim() !== '') body++;
      }
      return body >= 64;
    }
    default:
      return true;
  }
}

function jwtHeader(token: string): boolean {
  const header = token.slice(0, token.indexOf('.'));
  try {
    const json = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as unknown;
    return typeof json === 'object' && json !== null && typeof (json as { alg?: unknown }).alg === 'string';
  } catch {
    return false;
  }
}

interface Raw {
  readonly rule: SecretRule;
  readonly secret: string;
  readonly start: number;
  readonly end: number;
}

/** Drops a hit whose secret lies inside another hit's secret (a generic hit inside a typed one). */
function dropContained(found: readonly Raw[]): Raw[] {
  const rank = (r: Raw) => (r.rule.id === 'secret-generic-assignment' || r.rule.id === 'secret-url-credentials' ? 0 : 1);
  return found
    .filter(
      (a) =>
        !found.some(
          (b) =>
            b !== a &&
            b.start <= a.start &&
            b.end >= a.end &&
            (b.start < a.start || b.end > a.end || rank(b) > rank(a) || (rank(b) === rank(a) && b.rule.id < a.rule.id)),
        ),
    )
    .sort((a, b) => a.start - b.start || (a.rule.id < b.rule.id ? -1 : 1));
}

/** Windows `[from, to)` of whole lines holding a keyword (plus `extra` characters), merged. */
function keywordWindows(lower: string, keywords: readonly string[], extra: number): (readonly [number, number])[] {
  const hits: number[] = [];
  for (const k of keywords) {
    for (let i = lower.indexOf(k); i !== -1; i = lower.indexOf(k, i + k.length)) {
      hits.push(i);
      if (hits.length > 4096) return [[0, lower.length]];
    }
  }
  if (hits.length === 0) return [];
  hits.sort((a, b) => a - b);
  const windows: [number, number][] = [];
  for (const h of hits) {
    const from = lower.lastIndexOf('\n', h) + 1;
    let to = lower.indexOf('\n', h);
    to = to === -1 ? lower.length : to;
    to = Math.min(lower.length, to + extra);
    const last = windows[windows.length - 1];
    if (last && from <= last[1]) last[1] = Math.max(last[1], to);
    else windows.push([from, to]);
  }
  return windows;
}

/** Offsets to 1-based line and column (UTF-16 code units, SARIF's default). */
export class LineIndex {
  private starts: number[] | undefined;

  constructor(private readonly text: string) {}

  at(offset: number): { line: number; column: number } {
    if (!this.starts) {
      this.starts = [0];
      for (let i = this.text.indexOf('\n'); i !== -1; i = this.text.indexOf('\n', i + 1)) this.starts.push(i + 1);
    }
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.starts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - (this.starts[lo] as number) + 1 };
  }

  lineBounds(offset: number): [number, number] {
    const from = this.text.lastIndexOf('\n', offset - 1) + 1;
    const to = this.text.indexOf('\n', offset);
    return [from, to === -1 ? this.text.length : to];
  }
}

const EXCERPT = 120;

function excerpt(text: string, lines: LineIndex, start: number, spans: readonly Raw[]): string {
  const [from, to] = lines.lineBounds(start);
  const lo = Math.max(from, start - EXCERPT / 2);
  const hi = Math.min(to, start + EXCERPT);
  // Every secret overlapping the shown part is masked, including ones cut by its edges.
  let out = '';
  let at = lo;
  for (const r of spans) {
    if (r.end <= lo || r.start >= hi) continue;
    if (r.start > at) out += text.slice(at, r.start);
    if (r.start >= at) out += maskSecret(r.secret, r.rule.keep ?? 0);
    else if (r.end > at) out += '********';
    at = Math.max(at, Math.min(r.end, to));
  }
  if (at < hi) out += text.slice(at, hi);
  return `${lo > from ? '…' : ''}${out}${hi < to ? '…' : ''}`.trim();
}
