import { SLSA_PROVENANCE_V1 } from './attestation.js';
import { Fields, joinPath } from './fields.js';
import { URI_PATTERN } from './trust.js';

export const SLSA_VSA_V1 = 'https://slsa.dev/verification_summary/v1';
export const IN_TOTO_TEST_RESULT_V01 = 'https://in-toto.io/attestation/test-result/v0.1';

/** A digest a subject must carry: `sha256:<hex>`, `sha512:<hex>`, `gitCommit:<hex>`… */
export interface ExpectedDigest {
  readonly algorithm: string;
  /** Lowercase hex. */
  readonly value: string;
}

/**
 * What an attestation must show to be accepted, beyond being authentic. Every field has a
 * default (see `DEFAULT_POLICY`); trust in signers comes from the trust store, never from here.
 */
export interface VerificationPolicy {
  readonly version: 1;
  /** Predicate types accepted. */
  readonly predicateTypes: readonly string[];
  readonly subject: {
    /** A digest the matching subject must carry, besides the artifact's own (if one is given). */
    readonly digest: ExpectedDigest | null;
    /** The name the matching subject must have. */
    readonly name: string | null;
  };
  /** Distinct trusted keys that must have signed (k of k-of-n). */
  readonly threshold: number;
  /** Oldest acceptable evidence, in seconds before `now`; null for no limit. */
  readonly maxAgeSeconds: number | null;
  readonly provenance: {
    /** Builder ids accepted; null accepts any builder the signing key is bound to. */
    readonly builders: readonly string[] | null;
    /** buildTypes accepted; null accepts any. */
    readonly buildTypes: readonly string[] | null;
    /** Keys `externalParameters` may have; null uses the known keys of cairn's own buildType. */
    readonly externalParameters: readonly string[] | null;
    readonly source: {
      /** Expected source repository URI (compared without a `git+` prefix or `@ref` suffix). */
      readonly repository: string | null;
      /** Expected commit (hex, compared case-insensitively). */
      readonly commit: string | null;
    };
  };
  readonly vsa: {
    /** Verifier ids accepted; null accepts any verifier the signing key is bound to. */
    readonly verifiers: readonly string[] | null;
    /** The resourceUri a VSA must name. */
    readonly resourceUri: string | null;
    /** Levels that must all be in verifiedLevels. */
    readonly levels: readonly string[];
  };
  readonly testResult: {
    /** Accept `WARNED` as well as `PASSED`. */
    readonly allowWarned: boolean;
  };
}

export const POLICY_LIMITS = {
  /** Largest policy file read, in bytes. */
  maxBytes: 256 * 1024,
  maxListItems: 256,
  maxThreshold: 64,
} as const;

/** What `cairn verify` applies without `--policy`: the three predicate types cairn knows, one signer. */
export const DEFAULT_POLICY: VerificationPolicy = {
  version: 1,
  predicateTypes: [SLSA_PROVENANCE_V1, SLSA_VSA_V1, IN_TOTO_TEST_RESULT_V01],
  subject: { digest: null, name: null },
  threshold: 1,
  maxAgeSeconds: null,
  provenance: { builders: null, buildTypes: null, externalParameters: null, source: { repository: null, commit: null } },
  vsa: { verifiers: null, resourceUri: null, levels: [] },
  testResult: { allowWarned: false },
};

const DIGEST_PATTERN = /^([A-Za-z0-9_-]{1,32}):([0-9a-fA-F]{8,256})$/;
const DURATION_PATTERN = /^(\d{1,9})(s|m|h|d)$/;
const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };
const MAX_AGE_LIMIT = 100 * 365 * 86_400;

function uriList(f: Fields, value: unknown, path: string): string[] | undefined {
  const list = f.array(value, path, POLICY_LIMITS.maxListItems);
  if (!list) return undefined;
  const out: string[] = [];
  list.forEach((item, i) => {
    const uri = f.string(item, joinPath(path, i), { maxLength: 1024, pattern: URI_PATTERN });
    if (uri !== undefined) out.push(uri);
  });
  return out;
}

function stringList(f: Fields, value: unknown, path: string, pattern: RegExp): string[] | undefined {
  const list = f.array(value, path, POLICY_LIMITS.maxListItems);
  if (!list) return undefined;
  const out: string[] = [];
  list.forEach((item, i) => {
    const s = f.string(item, joinPath(path, i), { maxLength: 256, pattern });
    if (s !== undefined) out.push(s);
  });
  return out;
}

function optional<T>(value: unknown, read: (v: unknown) => T | undefined): T | null | undefined {
  return value === undefined || value === null ? null : read(value);
}

/** `30d`, `12h`, `90m`, `3600s`, or a number of seconds. */
function maxAge(f: Fields, value: unknown, path: string): number | undefined {
  if (typeof value === 'number') return f.integer(value, path, 1, MAX_AGE_LIMIT);
  const text = f.string(value, path, { maxLength: 16 });
  if (text === undefined) return undefined;
  const m = DURATION_PATTERN.exec(text);
  const seconds = m ? Number(m[1]) * (UNIT_SECONDS[m[2] as string] ?? 0) : Number.NaN;
  if (!(seconds >= 1 && seconds <= MAX_AGE_LIMIT)) {
    f.report(path, 'INVALID_FORMAT', 'expected a duration such as 30d, 12h, 90m or 3600s (at most 100 years)');
    return undefined;
  }
  return seconds;
}

/**
 * Parses a decoded verification policy (JSON, or YAML decoded by the caller; format in
 * docs/trust.md), reporting every bad field with its path. Omitted fields take the values
 * of `DEFAULT_POLICY`.
 */
export function policyFromJSON(raw: unknown): VerificationPolicy {
  const f = new Fields();
  const root = f.object(raw, '', ['version', 'predicateTypes', 'subject', 'threshold', 'maxAge', 'provenance', 'vsa', 'testResult']);
  if (!root) return f.finish<VerificationPolicy>(undefined, 'ATTEST_POLICY_INVALID', 'verification policy');
  const d = DEFAULT_POLICY;
  const version = f.integer(root.version, 'version', 1, 1);

  let predicateTypes: readonly string[] | undefined = d.predicateTypes;
  if (root.predicateTypes !== undefined) {
    predicateTypes = uriList(f, root.predicateTypes, 'predicateTypes');
    if (Array.isArray(root.predicateTypes) && root.predicateTypes.length === 0)
      f.report('predicateTypes', 'EMPTY', 'list at least one predicate type (or leave the field out for the default)');
  }

  let subject: VerificationPolicy['subject'] | undefined = d.subject;
  if (root.subject !== undefined) {
    const s = f.object(root.subject, 'subject', ['digest', 'name']);
    const digestText = s ? optional(s.digest, (v) => f.string(v, 'subject.digest', { maxLength: 300, pattern: DIGEST_PATTERN })) : undefined;
    const match = typeof digestText === 'string' ? DIGEST_PATTERN.exec(digestText) : null;
    const digest = match ? { algorithm: match[1] as string, value: (match[2] as string).toLowerCase() } : digestText === null ? null : undefined;
    const name = s ? optional(s.name, (v) => f.string(v, 'subject.name', { maxLength: 1024 })) : undefined;
    subject = digest !== undefined && name !== undefined ? { digest, name } : undefined;
  }

  const threshold = root.threshold === undefined ? d.threshold : f.integer(root.threshold, 'threshold', 1, POLICY_LIMITS.maxThreshold);
  const maxAgeSeconds = root.maxAge === undefined || root.maxAge === null ? null : maxAge(f, root.maxAge, 'maxAge');

  let provenance: VerificationPolicy['provenance'] | undefined = d.provenance;
  if (root.provenance !== undefined) {
    const p = f.object(root.provenance, 'provenance', ['builders', 'buildTypes', 'externalParameters', 'source']);
    if (p) {
      const builders = optional(p.builders, (v) => uriList(f, v, 'provenance.builders'));
      const buildTypes = optional(p.buildTypes, (v) => uriList(f, v, 'provenance.buildTypes'));
      const externalParameters = optional(p.externalParameters, (v) => stringList(f, v, 'provenance.externalParameters', /^[^\s]+$/));
      let source: VerificationPolicy['provenance']['source'] | undefined = d.provenance.source;
      if (p.source !== undefined) {
        const s = f.object(p.source, 'provenance.source', ['repository', 'commit']);
        const repository = s
          ? optional(s.repository, (v) => f.string(v, 'provenance.source.repository', { maxLength: 1024, pattern: URI_PATTERN }))
          : undefined;
        const commit = s ? optional(s.commit, (v) => f.string(v, 'provenance.source.commit', { maxLength: 128, pattern: /^[0-9a-fA-F]{7,128}$/ })) : undefined;
        source = repository !== undefined && commit !== undefined ? { repository, commit: commit?.toLowerCase() ?? null } : undefined;
      }
      provenance =
        builders !== undefined && buildTypes !== undefined && externalParameters !== undefined && source !== undefined
          ? { builders, buildTypes, externalParameters, source }
          : undefined;
    } else provenance = undefined;
  }

  let vsa: VerificationPolicy['vsa'] | undefined = d.vsa;
  if (root.vsa !== undefined) {
    const v = f.object(root.vsa, 'vsa', ['verifiers', 'resourceUri', 'levels']);
    if (v) {
      const verifiers = optional(v.verifiers, (x) => uriList(f, x, 'vsa.verifiers'));
      const resourceUri = optional(v.resourceUri, (x) => f.string(x, 'vsa.resourceUri', { maxLength: 2048, pattern: URI_PATTERN }));
      const levels = v.levels === undefined ? [] : stringList(f, v.levels, 'vsa.levels', /^[A-Za-z0-9_]+$/);
      vsa = verifiers !== undefined && resourceUri !== undefined && levels !== undefined ? { verifiers, resourceUri, levels } : undefined;
    } else vsa = undefined;
  }

  let testResult: VerificationPolicy['testResult'] | undefined = d.testResult;
  if (root.testResult !== undefined) {
    const t = f.object(root.testResult, 'testResult', ['allowWarned']);
    const allowWarned = t ? (t.allowWarned === undefined ? false : f.boolean(t.allowWarned, 'testResult.allowWarned')) : undefined;
    testResult = allowWarned === undefined ? undefined : { allowWarned };
  }

  const policy =
    version === 1 &&
    predicateTypes !== undefined &&
    subject !== undefined &&
    threshold !== undefined &&
    maxAgeSeconds !== undefined &&
    provenance !== undefined &&
    vsa !== undefined &&
    testResult !== undefined
      ? { version: 1 as const, predicateTypes, subject, threshold, maxAgeSeconds, provenance, vsa, testResult }
      : undefined;
  return f.finish(policy, 'ATTEST_POLICY_INVALID', 'verification policy');
}
