import type { Finding, ScanReport, Severity } from '../model/finding.js';

const LEVEL: Record<Severity, 'error' | 'warning' | 'note'> = { critical: 'error', high: 'error', medium: 'warning', low: 'note', info: 'note' };
/** GitHub's convention: a numeric `security-severity` property on the rule. */
const SECURITY_SEVERITY: Record<Severity, string> = { critical: '9.5', high: '8.0', medium: '5.5', low: '3.0', info: '0.0' };

export interface RuleDescription {
  readonly id: string;
  readonly name: string;
  readonly shortDescription: string;
  readonly helpUri?: string;
}

/**
 * A SARIF 2.1.0 log of one run. Rules come from `rules` (every finding's rule must be
 * there); results keep the findings' order, which scanners keep stable.
 */
export function toSarif(report: ScanReport, rules: readonly RuleDescription[]): Record<string, unknown> {
  const index = new Map(rules.map((r, i) => [r.id, i]));
  const worst = new Map<string, Severity>();
  for (const f of report.findings) {
    const prev = worst.get(f.ruleId);
    if (!prev || SEVERITIES_ORDER.indexOf(f.severity) < SEVERITIES_ORDER.indexOf(prev)) worst.set(f.ruleId, f.severity);
  }
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'cairn',
            version: report.tool.version,
            informationUri: 'https://cairn.dev',
            rules: rules.map((r) => ({
              id: r.id,
              name: r.name,
              shortDescription: { text: r.shortDescription },
              ...(r.helpUri ? { helpUri: r.helpUri } : {}),
              properties: { 'security-severity': SECURITY_SEVERITY[worst.get(r.id) ?? 'info'] },
            })),
          },
        },
        results: report.findings.map((f) => toResult(f, index)),
      },
    ],
  };
}

const SEVERITIES_ORDER: readonly Severity[] = ['critical', 'high', 'medium', 'low', 'info'];

function toResult(f: Finding, index: ReadonlyMap<string, number>): Record<string, unknown> {
  const ruleIndex = index.get(f.ruleId);
  if (ruleIndex === undefined) throw new TypeError(`SARIF: finding for undeclared rule ${f.ruleId}`);
  const region: Record<string, number> = { startLine: f.location.line };
  if (f.location.column !== undefined) region.startColumn = f.location.column;
  if (f.location.endLine !== undefined) region.endLine = f.location.endLine;
  if (f.location.endColumn !== undefined) region.endColumn = f.location.endColumn;
  return {
    ruleId: f.ruleId,
    ruleIndex,
    level: LEVEL[f.severity],
    message: { text: f.message },
    locations: [{ physicalLocation: { artifactLocation: { uri: f.location.file, uriBaseId: '%SRCROOT%' }, region } }],
    partialFingerprints: { 'cairn/v1': f.fingerprint },
    properties: { severity: f.severity, ...(f.package ? { package: f.package } : {}) },
  };
}
