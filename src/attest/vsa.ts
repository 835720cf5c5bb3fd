import { IN_TOTO_STATEMENT_V1, type Statement, type Subject } from '../model/attestation.js';
import { Fields, joinPath } from '../model/fields.js';
import { SLSA_VSA_V1 } from '../model/policy.js';
import { enumField, timeField, URI_PATTERN } from '../model/trust.js';
import { digestSetField, PREDICATE_LIMITS, stringMapField } from './resource.js';

export type VsaResult = 'PASSED' | 'FAILED';

/** SLSA Verification Summary Attestation v1 predicate: "digest X verified under policy P for resource R". */
export interface VerificationSummary {
  readonly verifier: { readonly id: string; readonly version?: Readonly<Record<string, string>> };
  /** RFC 3339. */
  readonly timeVerified: string;
  readonly resourceUri: string;
  readonly policy: { readonly uri: string; readonly digest?: Readonly<Record<string, string>> };
  readonly inputAttestations?: readonly { readonly uri: string; readonly digest: Readonly<Record<string, string>> }[];
  readonly verificationResult: VsaResult;
  /** e.g. `SLSA_BUILD_LEVEL_3`; at most one per track. */
  readonly verifiedLevels: readonly string[];
  readonly dependencyLevels?: Readonly<Record<string, number>>;
  readonly slsaVersion?: string;
}

export interface VsaInput {
  readonly subject: readonly Subject[];
  readonly verifierId: string;
  readonly verifierVersion?: Readonly<Record<string, string>>;
  readonly timeVerified: Date;
  readonly resourceUri: string;
  readonly policy: { readonly uri: string; readonly digest?: Readonly<Record<string, string>> };
  readonly inputAttestations?: readonly { readonly uri: string; readonly digest: Readonly<Record<string, string>> }[];
  readonly result: VsaResult;
  readonly verifiedLevels: readonly string[];
  readonly dependencyLevels?: Readonly<Record<string, number>>;
  readonly slsaVersion?: string;
}

/** An in-toto Statement v1 carrying a VSA v1, e.g. from the independent rebuilder. */
export function vsaStatement(input: VsaInput): Statement<VerificationSummary> {
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: input.subject,
    predicateType: SLSA_VSA_V1,
    predicate: {
      verifier: { id: input.verifierId, ...(input.verifierVersion ? { version: input.verifierVersion } : {}) },
      timeVerified: input.timeVerified.toISOString(),
      resourceUri: input.resourceUri,
      policy: input.policy,
      ...(input.inputAttestations ? { inputAttestations: input.inputAttestations } : {}),
      verificationResult: input.result,
      verifiedLevels: input.verifiedLevels,
      ...(input.dependencyLevels ? { dependencyLevels: input.dependencyLevels } : {}),
      slsaVersion: input.slsaVersion ?? '1.1',
    },
  };
}

const LEVEL = /^[A-Z0-9_]{1,64}$/;

/**
 * Parses a VSA v1 predicate, reporting every bad field with its path. Required: verifier.id,
 * timeVerified (RFC 3339), resourceUri, policy.uri, verificationResult (PASSED|FAILED),
 * verifiedLevels. Unknown fields are ignored.
 */
export function vsaFromJSON(raw: unknown): VerificationSummary {
  const f = new Fields();
  const root = f.object(raw, 'predicate');
  if (!root) return f.finish<VerificationSummary>(undefined, 'ATTEST_PREDICATE_MALFORMED', 'verification summary');
  const v = f.object(root.verifier, 'predicate.verifier');
  const verifierId = v ? f.string(v.id, 'predicate.verifier.id', { maxLength: PREDICATE_LIMITS.maxUri, pattern: URI_PATTERN }) : undefined;
  const verifierVersion = v?.version === undefined ? undefined : stringMapField(f, v.version, 'predicate.verifier.version');
  const timeVerified = timeField(f, root.timeVerified, 'predicate.timeVerified');
  const resourceUri = f.string(root.resourceUri, 'predicate.resourceUri', { maxLength: PREDICATE_LIMITS.maxUri, pattern: URI_PATTERN });
  const p = f.object(root.policy, 'predicate.policy');
  const policyUri = p ? f.string(p.uri, 'predicate.policy.uri', { maxLength: PREDICATE_LIMITS.maxUri, pattern: URI_PATTERN }) : undefined;
  const policyDigest = p?.digest === undefined ? undefined : digestSetField(f, p.digest, 'predicate.policy.digest');
  let inputAttestations: { uri: string; digest: Record<string, string> }[] | undefined;
  if (root.inputAttestations !== undefined) {
    const list = f.array(root.inputAttestations, 'predicate.inputAttestations', PREDICATE_LIMITS.maxDescriptors);
    inputAttestations = [];
    list?.forEach((item, i) => {
      const path = joinPath('predicate.inputAttestations', i);
      const a = f.object(item, path);
      if (!a) return;
      const uri = f.string(a.uri, joinPath(path, 'uri'), { maxLength: PREDICATE_LIMITS.maxUri, pattern: URI_PATTERN });
      const digest = digestSetField(f, a.digest, joinPath(path, 'digest'));
      if (uri !== undefined && digest !== undefined) inputAttestations?.push({ uri, digest });
    });
  }
  const verificationResult = enumField(f, root.verificationResult, 'predicate.verificationResult', ['PASSED', 'FAILED'] as const);
  const levels = f.array(root.verifiedLevels, 'predicate.verifiedLevels', 64);
  const verifiedLevels: string[] = [];
  levels?.forEach((item, i) => {
    const level = f.string(item, joinPath('predicate.verifiedLevels', i), { maxLength: 64, pattern: LEVEL });
    if (level !== undefined) verifiedLevels.push(level);
  });
  let dependencyLevels: Record<string, number> | undefined;
  if (root.dependencyLevels !== undefined) {
    const d = f.object(root.dependencyLevels, 'predicate.dependencyLevels');
    if (d) {
      dependencyLevels = {};
      const keys = Object.keys(d);
      if (keys.length > 64) f.report('predicate.dependencyLevels', 'TOO_MANY', 'more than 64 levels');
      for (const k of keys.slice(0, 64)) {
        const path = joinPath('predicate.dependencyLevels', k);
        if (!LEVEL.test(k)) f.report(path, 'INVALID_FORMAT', `level names match ${LEVEL.source}`);
        const n = f.integer(d[k], path, 0, Number.MAX_SAFE_INTEGER);
        if (n !== undefined) dependencyLevels[k] = n;
      }
    }
  }
  const slsaVersion = f.optionalString(root.slsaVersion, 'predicate.slsaVersion', { maxLength: 16, pattern: /^\d+\.\d+$/ });
  const summary =
    verifierId !== undefined && timeVerified !== undefined && resourceUri !== undefined && policyUri !== undefined && verificationResult !== undefined && levels
      ? {
          verifier: { id: verifierId, ...(verifierVersion !== undefined ? { version: verifierVersion } : {}) },
          timeVerified: root.timeVerified as string,
          resourceUri,
          policy: { uri: policyUri, ...(policyDigest !== undefined ? { digest: policyDigest } : {}) },
          ...(inputAttestations !== undefined ? { inputAttestations } : {}),
          verificationResult,
          verifiedLevels,
          ...(dependencyLevels !== undefined ? { dependencyLevels } : {}),
          ...(slsaVersion !== undefined ? { slsaVersion } : {}),
        }
      : undefined;
  return f.finish(summary, 'ATTEST_PREDICATE_MALFORMED', 'verification summary');
}
