import { sha256Digest } from '../crypto/digest.js';
import type { Digest } from '../model/digest.js';
import type { Finding } from '../model/finding.js';
import type { DependencyGraph } from '../model/lockfile.js';
import { finding, packageOf } from './findings.js';
import { POPULAR_NAMES, POPULAR_SCOPES } from './popular-names.js';

export type TyposquatTechnique = 'edit-distance' | 'transposition' | 'separator' | 'homoglyph' | 'scope-confusion';

export interface TyposquatMatch {
  readonly similarTo: string;
  readonly technique: TyposquatTechnique;
}

/** Names shorter than this are only compared by separators and homoglyphs: at one edit, short names collide by chance. */
const MIN_EDIT_LENGTH = 5;

/**
 * Optimal-string-alignment distance, capped: returns `cap + 1` as soon as the distance
 * must exceed `cap`. Counts a swap of adjacent characters as one edit.
 */
export function editDistance(a: string, b: string, cap = 2): number {
  if (Math.abs(a.length - b.length) > cap) return cap + 1;
  let prev2: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1;
      let v = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a.charCodeAt(i - 1) === b.charCodeAt(j - 2) && a.charCodeAt(i - 2) === b.charCodeAt(j - 1))
        v = Math.min(v, (prev2[j - 2] as number) + 1);
      cur.push(v);
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > cap) return cap + 1;
    prev2 = prev;
    prev = cur;
  }
  return Math.min(prev[b.length] as number, cap + 1);
}

function withoutSeparators(name: string): string {
  let out = '';
  for (const c of name) if (c !== '-' && c !== '_' && c !== '.') out += c;
  return out;
}

/** Folds characters that read alike in a package name: digits for letters, `i` for `l`, `rn` for `m`, `vv` for `w`. */
export function homoglyphFold(name: string): string {
  const map: Record<string, string> = { '0': 'o', '1': 'l', i: 'l', '3': 'e', '4': 'a', '5': 's', '7': 't', '8': 'b', '9': 'g' };
  let out = '';
  for (const c of name.split('rn').join('m').split('vv').join('w')) out += map[c] ?? c;
  return out;
}

function deletions(s: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < s.length; i++) out.push(s.slice(0, i) + s.slice(i + 1));
  return out;
}

/** A prepared popular-name list: exact set plus indexes for one-edit, separator and homoglyph look-ups. */
export class PopularNames {
  readonly names: ReadonlySet<string>;
  readonly scopes: ReadonlySet<string>;
  readonly digest: Digest;
  private readonly byDeletion = new Map<string, string[]>();
  private readonly bySeparatorless = new Map<string, string[]>();
  private readonly byHomoglyph = new Map<string, string[]>();

  constructor(names: readonly string[] = POPULAR_NAMES, scopes: readonly string[] = POPULAR_SCOPES) {
    this.names = new Set(names);
    this.scopes = new Set(scopes);
    this.digest = sha256Digest(`${[...names].sort().join('\n')}\n--\n${[...scopes].sort().join('\n')}\n`);
    const add = (map: Map<string, string[]>, key: string, name: string) => {
      const list = map.get(key);
      if (!list) map.set(key, [name]);
      else if (!list.includes(name)) list.push(name);
    };
    for (const name of [...this.names].sort()) {
      if (name.length >= MIN_EDIT_LENGTH) for (const key of [name, ...deletions(name)]) add(this.byDeletion, key, name);
      add(this.bySeparatorless, withoutSeparators(name), name);
      add(this.byHomoglyph, homoglyphFold(name), name);
    }
  }

  private scopeMatch(scope: string): string | null {
    if (this.scopes.has(scope)) return null;
    const bare = scope.slice(1);
    for (const s of this.scopes) {
      const other = s.slice(1);
      if (withoutSeparators(other) === withoutSeparators(bare) || homoglyphFold(other) === homoglyphFold(bare)) return s;
      if (bare.length >= 4 && editDistance(bare, other, 1) <= 1) return s;
    }
    return null;
  }

  /** The popular name `name` imitates, and how; null when it is popular itself or resembles none. */
  match(name: string): TyposquatMatch | null {
    if (this.names.has(name)) return null;
    if (name.startsWith('@')) {
      const slash = name.indexOf('/');
      const scope = slash > 0 ? name.slice(0, slash) : name;
      const similar = this.scopeMatch(scope);
      return similar ? { similarTo: `${similar}${name.slice(slash)}`, technique: 'scope-confusion' } : null;
    }
    const pick = (list: readonly string[] | undefined) => (list ?? []).filter((n) => n !== name).sort()[0];
    const separator = pick(this.bySeparatorless.get(withoutSeparators(name)));
    if (separator) return { similarTo: separator, technique: 'separator' };
    const glyph = pick(this.byHomoglyph.get(homoglyphFold(name)));
    if (glyph) return { similarTo: glyph, technique: 'homoglyph' };
    // An unscoped copy of a popular scope's package name (`types-node` for `@types/node`).
    for (const scope of this.scopes) {
      const prefix = `${scope.slice(1)}-`;
      if (name.startsWith(prefix) && this.names.has(name.slice(prefix.length)))
        return { similarTo: `${scope}/${name.slice(prefix.length)}`, technique: 'scope-confusion' };
    }
    if (name.length < MIN_EDIT_LENGTH) return null;
    // A digit appended to a popular name is the usual form of a major-version fork (`xmlbuilder2`), not a typo.
    let stem = name.length;
    while (stem > 0 && name.charCodeAt(stem - 1) >= 0x30 && name.charCodeAt(stem - 1) <= 0x39) stem--;
    if (stem < name.length && this.names.has(name.slice(0, stem))) return null;
    const candidates = new Set<string>();
    for (const key of [name, ...deletions(name)]) for (const c of this.byDeletion.get(key) ?? []) candidates.add(c);
    for (const c of [...candidates].sort()) {
      const d = editDistance(name, c, 1);
      if (d === 1) {
        const swapped = name.length === c.length && [...name].sort().join('') === [...c].sort().join('');
        return { similarTo: c, technique: swapped ? 'transposition' : 'edit-distance' };
      }
    }
    return null;
  }
}

let defaultList: PopularNames | null = null;

/** The shipped list, prepared once per process. */
export function popularNames(): PopularNames {
  defaultList ??= new PopularNames();
  return defaultList;
}

/**
 * Typosquat candidates: packages whose name is one edit, a separator change, a homoglyph or
 * a scope typo away from a popular name. High when the project depends on it directly,
 * medium when it comes in transitively.
 */
export function checkTyposquats(graph: DependencyGraph, list: PopularNames = popularNames()): Finding[] {
  const direct = new Set(graph.root.dependsOn);
  const out: Finding[] = [];
  const memo = new Map<string, TyposquatMatch | null>();
  for (const node of graph.packages) {
    if (node.source === 'link' || node.source === 'workspace') continue;
    let m = memo.get(node.name);
    if (m === undefined) {
      m = list.match(node.name);
      memo.set(node.name, m);
    }
    if (!m) continue;
    const isDirect = direct.has(node.path);
    out.push(
      finding({
        ruleId: 'typosquat-candidate',
        severity: isDirect ? 'high' : 'medium',
        message: `${node.name} looks like the popular package ${m.similarTo} (${m.technique})${isDirect ? ', and the project depends on it directly' : ''}`,
        package: packageOf(node),
        location: { file: graph.file, line: node.line },
        evidence: { similarTo: m.similarTo, technique: m.technique, direct: isDirect },
        key: m.similarTo,
      }),
    );
  }
  return out;
}
