import type { Finding, Severity } from '../model/finding.js';
import { severityRank } from '../model/finding.js';
import type { DependencyGraph, DependencyNode } from '../model/lockfile.js';
import { finding, packageOf } from './findings.js';
import { type AffectedVerdict, evaluateAffected, fixedAbove, isMalicious, type OsvAffected, type OsvRecord, recordSeverity } from './osv.js';
import { parseSemver } from './semver.js';

/** Advisories by npm package name, withdrawn ones kept apart (they never match). */
export interface AdvisoryIndex {
  readonly byName: ReadonlyMap<string, readonly { readonly record: OsvRecord; readonly entries: readonly OsvAffected[] }[]>;
  readonly withdrawn: number;
  readonly records: number;
}

/** Indexes the `npm` entries of OSV records by package name (exact, as the lockfile spells it). */
export function indexAdvisories(records: readonly OsvRecord[]): AdvisoryIndex {
  const byName = new Map<string, { record: OsvRecord; entries: OsvAffected[] }[]>();
  let withdrawn = 0;
  for (const record of records) {
    if (record.withdrawn !== null) {
      withdrawn++;
      continue;
    }
    const names = new Map<string, OsvAffected[]>();
    for (const a of record.affected) {
      if (a.ecosystem !== 'npm') continue;
      const list = names.get(a.name) ?? [];
      list.push(a);
      names.set(a.name, list);
    }
    for (const [name, entries] of names) {
      const list = byName.get(name) ?? [];
      list.push({ record, entries });
      byName.set(name, list);
    }
  }
  return { byName, withdrawn, records: records.length };
}

interface Hit {
  readonly record: OsvRecord;
  readonly entries: readonly OsvAffected[];
  readonly verdict: Extract<AffectedVerdict, { affected: true }>;
}

/** Groups hits whose ids or aliases overlap (GHSA-x aliasing MAL-y, CVE aliases) into one finding each. */
function clusters(hits: readonly Hit[]): Hit[][] {
  const parent = hits.map((_, i) => i);
  const find = (i: number): number => {
    let root = i;
    while (parent[root] !== root) root = parent[root] as number;
    return root;
  };
  const owner = new Map<string, number>();
  hits.forEach((h, i) => {
    for (const id of [h.record.id, ...h.record.aliases]) {
      const j = owner.get(id);
      if (j === undefined) owner.set(id, i);
      else parent[find(i)] = find(j);
    }
  });
  const groups = new Map<number, Hit[]>();
  hits.forEach((h, i) => {
    const root = find(i);
    groups.set(root, [...(groups.get(root) ?? []), h]);
  });
  return [...groups.values()];
}

function primaryOf(group: readonly Hit[]): Hit {
  const rank = (h: Hit) => (h.record.id.startsWith('MAL-') ? 0 : h.record.id.startsWith('GHSA-') ? 1 : 2);
  return [...group].sort((a, b) => rank(a) - rank(b) || (a.record.id < b.record.id ? -1 : a.record.id > b.record.id ? 1 : 0))[0] as Hit;
}

function eventsText(entries: readonly OsvAffected[]): string[] {
  return entries.flatMap((e) => [
    ...e.ranges.map((r) => `${r.type}: ${r.events.map((ev) => `${ev.kind} ${ev.version}`).join(', ')}`),
    ...(e.versions.length > 0
      ? [`versions: ${e.versions.length <= 10 ? e.versions.join(', ') : `${e.versions.slice(0, 10).join(', ')}, … (${e.versions.length})`}`]
      : []),
  ]);
}

/**
 * Every installed package version the advisories affect, one finding per package version
 * and alias group (`osv-malicious` for malware, else `osv-vulnerability`); packages whose
 * version or whose advisory ranges cannot be evaluated give `osv-unevaluable`.
 */
export function matchAdvisories(graph: DependencyGraph, index: AdvisoryIndex): Finding[] {
  const out: Finding[] = [];
  for (const node of graph.packages) {
    const candidates = index.byName.get(node.name);
    if (!candidates) continue;
    const hits: Hit[] = [];
    const unevaluable: { id: string; reason: string }[] = [];
    const parsed = parseSemver(node.version);
    for (const { record, entries } of candidates) {
      let hit: Hit | null = null;
      for (const entry of entries) {
        const verdict = evaluateAffected(node.version, entry, parsed);
        if (verdict.affected) {
          hit = { record, entries, verdict };
          break;
        }
        if (verdict.unevaluable) unevaluable.push({ id: record.id, reason: verdict.unevaluable });
      }
      if (hit) hits.push(hit);
    }
    for (const group of clusters(hits)) out.push(advisoryFinding(graph, node, group));
    const open = unevaluable.filter((u) => !hits.some((h) => h.record.id === u.id));
    if (open.length > 0) {
      out.push(
        finding({
          ruleId: 'osv-unevaluable',
          severity: 'medium',
          message: `${node.name}@${node.version} cannot be checked against ${open.length} advisor${open.length === 1 ? 'y' : 'ies'}: ${open[0]?.reason}`,
          package: packageOf(node),
          location: { file: graph.file, line: node.line },
          evidence: { advisories: open },
          key: open.map((u) => u.id).sort(),
        }),
      );
    }
  }
  return out;
}

function advisoryFinding(graph: DependencyGraph, node: DependencyNode, group: readonly Hit[]): Finding {
  const primary = primaryOf(group);
  const severities = group.map((h) => ({ hit: h, sev: recordSeverity(h.record, h.entries) }));
  const worst = severities.reduce((a, b) => (severityRank(b.sev.severity) > severityRank(a.sev.severity) ? b : a));
  const severity: Severity = worst.sev.severity;
  const malicious = group.some((h) => isMalicious(h.record));
  const ids = [...new Set(group.map((h) => h.record.id))].sort();
  const aliases = [...new Set(group.flatMap((h) => h.record.aliases))].filter((a) => !ids.includes(a)).sort();
  const fixed = fixedAbove(
    node.version,
    group.flatMap((h) => h.entries),
  );
  const summary = primary.record.summary;
  return finding({
    ruleId: malicious ? 'osv-malicious' : 'osv-vulnerability',
    severity,
    message: `${node.name}@${node.version}: ${primary.record.id}${summary ? ` ${summary}` : ''}${malicious ? ' (malicious code)' : ''}${fixed ? `; fixed in ${fixed}` : ''}`,
    package: packageOf(node),
    location: { file: graph.file, line: node.line },
    evidence: {
      id: primary.record.id,
      ids,
      aliases,
      summary,
      url: primary.record.url,
      modified: primary.record.modified,
      severitySource: worst.sev.source,
      cvss: worst.sev.cvss.map((v) =>
        'baseScore' in v ? { version: v.version, vector: v.vector, baseScore: v.baseScore } : { version: v.version, vector: v.vector },
      ),
      databaseSeverity: worst.hit.record.databaseSeverity,
      matchedBy: primary.verdict.via,
      ranges: eventsText(primary.entries),
      fixedIn: fixed,
    },
    key: ids,
  });
}
