import type { KeyObject } from 'node:crypto';
import { decodeBase64, verifySignatures } from '../crypto/dsse.js';
import {
  CAIRN_BUILD_TYPE,
  type DsseEnvelope,
  envelopeFromJSON,
  IN_TOTO_PAYLOAD_TYPE,
  SLSA_PROVENANCE_V1,
  type SlsaProvenance,
  type Statement,
  statementFromJSON,
} from '../model/attestation.js';
import { type Digest, digestHex } from '../model/digest.js';
import { CairnError, InputError, type Problem } from '../model/errors.js';
import { parseJson } from '../model/json.js';
import { DEFAULT_POLICY, IN_TOTO_TEST_RESULT_V01, SLSA_VSA_V1, type VerificationPolicy } from '../model/policy.js';
import { type IdentityRole, type KeyIdentity, parseRfc3339 } from '../model/trust.js';
import { AttestError, type AttestErrorCode, CHECK_CODES, type FailureKind } from './errors.js';
import { CAIRN_EXTERNAL_PARAMETERS, normaliseRepository, provenanceFromJSON, provenanceSource, type ProvenanceSource } from './provenance.js';
import { type TestResult, testResultFromJSON } from './test-result.js';
import { keyHasIdentity, keyStatusAt, type TrustedKey, type TrustRoot, trustFromKeys } from './trust.js';
import { type VerificationSummary, vsaFromJSON } from './vsa.js';

/** Size caps applied to untrusted attestations. */
export interface AttestLimits {
  /** Largest envelope (and decoded payload) accepted, in bytes. Default 16 MiB. */
  readonly maxEnvelopeBytes: number;
  /** Deepest nesting of arrays and objects in the envelope and in the statement. Default 32. */
  readonly maxDepth: number;
}

export const DEFAULT_ATTEST_LIMITS: AttestLimits = { maxEnvelopeBytes: 16 * 1024 * 1024, maxDepth: 32 };

/** How far in the future a claimed evidence time may lie (clock skew between machines). */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

/** The checks, in the order they are reported. */
export const CHECKS = [
  'envelope',
  'payloadType',
  'signatures',
  'keyHint',
  'statement',
  'predicateType',
  'predicate',
  'evidenceTime',
  'signers',
  'threshold',
  'subject',
  'builder',
  'buildType',
  'externalParameters',
  'source',
  'verifier',
  'vsaResult',
  'testResult',
  'age',
] as const;
export type CheckName = (typeof CHECKS)[number];

export interface Check {
  readonly name: CheckName;
  readonly outcome: 'pass' | 'fail' | 'skip';
  /** What was found (pass), why it was skipped (skip), or the failures' messages (fail). */
  readonly detail: string;
}

export interface Failure {
  readonly code: AttestErrorCode;
  readonly kind: FailureKind;
  readonly check: CheckName;
  /** Where in the attestation (e.g. `predicate.runDetails.builder.id`), or the check's name. */
  readonly path: string;
  readonly message: string;
}

/** What a signing key did for this attestation. */
export interface SignerFact {
  readonly keyid: string;
  readonly identities: readonly KeyIdentity[] | null;
  /** Whether the key counts toward the threshold. */
  readonly counted: boolean;
  /** Why it does not count. */
  readonly reason: string | null;
}

/** The facts established (when `ok`) or claimed (otherwise) by an attestation. */
export interface AttestationFacts {
  readonly artifactDigest: Digest | null;
  readonly subjectName: string | null;
  readonly predicateType: string | null;
  /** Distinct keys that count: verified, valid at the evidence time, bound to the claimed identity. */
  readonly keyids: readonly string[];
  readonly signers: readonly SignerFact[];
  readonly threshold: number;
  /** The time key windows and age were judged at (RFC 3339). */
  readonly evidenceTime: string | null;
  /** `trusted`: given by the caller (e.g. a log's integrated time); `claimed`: from the predicate; `now`: none was claimed. */
  readonly evidenceTimeSource: 'trusted' | 'claimed' | 'now' | null;
  readonly builderId: string | null;
  readonly buildType: string | null;
  readonly source: { readonly repository: string; readonly commit: string | null } | null;
  readonly verifierId: string | null;
  readonly resourceUri: string | null;
  readonly result: string | null;
}

type MutableFacts = { -readonly [K in keyof AttestationFacts]: AttestationFacts[K] };

export interface AttestationVerification {
  /** True when no check failed. */
  readonly ok: boolean;
  /** Every check in `CHECKS` order, passed, failed or skipped. */
  readonly checks: readonly Check[];
  /** Every failure, in check order; empty when `ok`. */
  readonly failures: readonly Failure[];
  /** The statement, when it parsed (authentic only when `ok`). */
  readonly statement: Statement | null;
  readonly facts: AttestationFacts;
}

export interface VerifyInput {
  /** The DSSE envelope: its JSON text, or an envelope already read (e.g. out of a Sigstore bundle). */
  readonly attestation: Uint8Array | string | DsseEnvelope;
  /** The artifact in hand; a subject must carry its sha256 (and the policy's pinned digest, if any). */
  readonly artifactDigest?: Digest;
  /**
   * The key id the envelope's container names (a Sigstore bundle's `publicKey.hint`). When
   * given, it must be non-empty, equal every signature's non-empty keyid, and be the id of a
   * key that verified (ATTEST_BUNDLE_HINT_MISMATCH otherwise).
   */
  readonly keyHint?: string | null;
}

export interface VerifyOptions {
  readonly trust: TrustRoot;
  /** Default `DEFAULT_POLICY`. */
  readonly policy?: VerificationPolicy;
  /** The verification time: key windows are bounded by it, and age is measured to it. */
  readonly now: Date;
  /**
   * A trusted time for the evidence (a transparency log's integrated time, an RFC 3161
   * timestamp); when absent, the time the predicate claims is used, bounded by `now`.
   */
  readonly evidenceTime?: Date;
  readonly limits?: Partial<AttestLimits>;
  /** Accept ECDSA signatures in IEEE P1363 form as well as DER. Default false. */
  readonly allowP1363?: boolean;
}

const IN_TOTO_PREDICATE_PAYLOAD = /^application\/vnd\.in-toto\.[a-z0-9][a-z0-9.-]{0,63}\+json$/;

function limitsOf(given: Partial<AttestLimits> | undefined): AttestLimits {
  const limits = { ...DEFAULT_ATTEST_LIMITS, ...given };
  const problems: Problem[] = [];
  if (!Number.isSafeInteger(limits.maxEnvelopeBytes) || limits.maxEnvelopeBytes < 1024 || limits.maxEnvelopeBytes > 1024 * 1024 * 1024) {
    problems.push({ code: 'OUT_OF_RANGE', path: 'maxEnvelopeBytes', message: 'must be an integer from 1024 to 1073741824' });
  }
  if (!Number.isSafeInteger(limits.maxDepth) || limits.maxDepth < 4 || limits.maxDepth > 256) {
    problems.push({ code: 'OUT_OF_RANGE', path: 'maxDepth', message: 'must be an integer from 4 to 256' });
  }
  if (problems.length > 0)
    throw new InputError('ATTEST_OPTIONS_INVALID', `invalid limits: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`, { problems });
  return limits;
}

const CHECK_INDEX: Readonly<Record<CheckName, number>> = Object.fromEntries(CHECKS.map((name, i) => [name, i])) as Record<CheckName, number>;

/** Collects check outcomes and failures; the report comes out in `CHECKS` order. */
class Recorder {
  private readonly outcomes: (Check | undefined)[] = new Array(CHECKS.length);
  private readonly failed: Failure[] = [];

  pass(name: CheckName, detail: string): void {
    const i = CHECK_INDEX[name];
    if (this.outcomes[i]?.outcome !== 'fail') this.outcomes[i] = { name, outcome: 'pass', detail };
  }

  skip(name: CheckName, detail: string): void {
    const i = CHECK_INDEX[name];
    if (this.outcomes[i] === undefined) this.outcomes[i] = { name, outcome: 'skip', detail };
  }

  fail(name: CheckName, code: AttestErrorCode, message: string, path: string = name): void {
    const i = CHECK_INDEX[name];
    this.failed.push({ code, kind: CHECK_CODES[code], check: name, path, message });
    const previous = this.outcomes[i];
    this.outcomes[i] = { name, outcome: 'fail', detail: previous?.outcome === 'fail' ? `${previous.detail}; ${message}` : message };
  }

  report(): { checks: Check[]; failures: Failure[] } {
    const checks = CHECKS.map((name, i) => this.outcomes[i] ?? { name, outcome: 'skip' as const, detail: 'not applicable' });
    // Stable sort: failures of one check keep the order they were found in.
    const failures = this.failed.length < 2 ? this.failed : [...this.failed].sort((a, b) => CHECK_INDEX[a.check] - CHECK_INDEX[b.check]);
    return { checks, failures };
  }
}

const keyObjects = new WeakMap<TrustRoot, readonly KeyObject[]>();

/** The KeyObjects of a trust root, computed once per root. */
function keyObjectsOf(trust: TrustRoot): readonly KeyObject[] {
  let keys = keyObjects.get(trust);
  if (!keys) {
    keys = trust.keys.map((k) => k.key);
    keyObjects.set(trust, keys);
  }
  return keys;
}

function problemsOf(error: unknown): readonly Problem[] {
  if (error instanceof CairnError) return error.problems;
  throw error;
}

function describeProblems(problems: readonly Problem[], fallback: string): string {
  if (problems.length === 0) return fallback;
  const shown = problems.slice(0, 5).map((p) => `${p.path || '(root)'}: ${p.message}`);
  return `${shown.join('; ')}${problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''}`;
}

/**
 * `parseJson` with a fast path: when the text holds no more `[` and `{` than the depth cap
 * (counted with indexOf, inside strings too, so an upper bound on nesting), the
 * character-by-character depth scan is skipped. Anything else, including a parse error,
 * goes through `parseJson` itself, so the errors are exactly its own.
 */
function readJson(input: Uint8Array | string, what: string, limits: AttestLimits): unknown {
  const bytes = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.byteLength;
  const text = typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8');
  if (bytes <= limits.maxEnvelopeBytes && openers(text, limits.maxDepth) <= limits.maxDepth) {
    try {
      return JSON.parse(text);
    } catch {
      // fall through for parseJson's own error
    }
  }
  return parseJson(text, what, { maxBytes: limits.maxEnvelopeBytes, maxDepth: limits.maxDepth });
}

/** How many `[` and `{` the text holds, counting no further than `stop + 1`. */
function openers(text: string, stop: number): number {
  let count = 0;
  for (const c of ['{', '[']) {
    for (let i = text.indexOf(c); i !== -1 && count <= stop; i = text.indexOf(c, i + 1)) count++;
  }
  return count;
}

function readEnvelope(attestation: VerifyInput['attestation'], limits: AttestLimits): DsseEnvelope {
  const raw = typeof attestation === 'string' || attestation instanceof Uint8Array ? readJson(attestation, 'attestation', limits) : attestation;
  // The base64 payload may take up almost all of an envelope the byte cap admits.
  return envelopeFromJSON(raw, { maxPayloadChars: limits.maxEnvelopeBytes });
}

type ParsedPredicate =
  | { readonly type: 'provenance'; readonly value: SlsaProvenance }
  | { readonly type: 'vsa'; readonly value: VerificationSummary }
  | { readonly type: 'test-result'; readonly value: TestResult }
  | { readonly type: 'other' };

function listed(values: readonly string[], max = 5): string {
  const shown = values.slice(0, max).map((v) => JSON.stringify(v));
  return `${shown.join(', ')}${values.length > max ? ` and ${values.length - max} more` : ''}`;
}

/**
 * Verifies a DSSE-enveloped in-toto statement against a trust root and a policy, running
 * every check and naming every failure with a stable code. Never throws for bad evidence
 * (only for invalid options: ATTEST_OPTIONS_INVALID); the caller decides with `ok`, or calls
 * `assertVerified`.
 *
 * Checks: the envelope parses within the limits; its payloadType is in-toto; signatures verify
 * over the PAE with trusted keys; the statement and (for the types cairn knows) the predicate
 * parse; the predicate type is allowed; each verifying key is valid at the evidence time and
 * bound, in the trust store, to the identity the predicate claims (builder.id for provenance,
 * verifier.id for a VSA); at least `threshold` distinct such keys signed; a subject carries
 * the artifact's (and the policy's) digest; and the policy's builder, buildType,
 * externalParameters, source, VSA, test-result and age rules hold. The payload is parsed
 * even when no signature verifies, so that every failure is named; nothing is authentic then.
 */
export function verifyWithPolicy(input: VerifyInput, options: VerifyOptions): AttestationVerification {
  const limits = limitsOf(options.limits);
  const policy = options.policy ?? DEFAULT_POLICY;
  const now = options.now;
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new InputError('ATTEST_OPTIONS_INVALID', '`now` must be a valid Date');
  if (options.evidenceTime !== undefined && Number.isNaN(options.evidenceTime.getTime())) {
    throw new InputError('ATTEST_OPTIONS_INVALID', '`evidenceTime` must be a valid Date');
  }
  const r = new Recorder();
  const facts: MutableFacts = {
    artifactDigest: input.artifactDigest ?? null,
    subjectName: null,
    predicateType: null,
    keyids: [],
    signers: [],
    threshold: policy.threshold,
    evidenceTime: null,
    evidenceTimeSource: null,
    builderId: null,
    buildType: null,
    source: null,
    verifierId: null,
    resourceUri: null,
    result: null,
  };
  const finish = (statement: Statement | null): AttestationVerification => {
    const { checks, failures } = r.report();
    return { ok: failures.length === 0, checks, failures, statement, facts };
  };

  // 1. The envelope.
  let envelope: DsseEnvelope;
  try {
    envelope = readEnvelope(input.attestation, limits);
  } catch (error) {
    r.fail('envelope', 'ATTEST_ENVELOPE_MALFORMED', `not a DSSE envelope: ${describeProblems(problemsOf(error), String(error))}`, '');
    for (const name of CHECKS) r.skip(name, 'the envelope could not be read');
    return finish(null);
  }
  const payload = decodeBase64(envelope.payload);
  if (payload === null || payload.length > limits.maxEnvelopeBytes) {
    r.fail('envelope', 'ATTEST_ENVELOPE_MALFORMED', payload === null ? 'the payload is not canonical base64' : 'the payload is over the size limit', 'payload');
    for (const name of CHECKS) r.skip(name, 'the payload could not be read');
    return finish(null);
  }
  r.pass('envelope', `${envelope.signatures.length} signature${envelope.signatures.length === 1 ? '' : 's'}, ${payload.length}-byte payload`);

  // 2. The payload type: in-toto's generic or predicate-specific media type.
  if (envelope.payloadType === IN_TOTO_PAYLOAD_TYPE || IN_TOTO_PREDICATE_PAYLOAD.test(envelope.payloadType)) r.pass('payloadType', envelope.payloadType);
  else
    r.fail('payloadType', 'ATTEST_PAYLOAD_TYPE', `payloadType is ${JSON.stringify(envelope.payloadType)}, expected "${IN_TOTO_PAYLOAD_TYPE}"`, 'payloadType');

  // 3. The statement and its predicate (parsed even when unsigned, so every failure is named).
  let statement: Statement | null = null;
  try {
    statement = statementFromJSON(readJson(payload, 'statement', limits));
    r.pass('statement', `${statement.subject.length} subject${statement.subject.length === 1 ? '' : 's'}`);
  } catch (error) {
    r.fail('statement', 'ATTEST_STATEMENT_MALFORMED', `the payload is not an in-toto Statement v1: ${describeProblems(problemsOf(error), String(error))}`, '');
  }
  let predicate: ParsedPredicate | null = null;
  if (statement) {
    facts.predicateType = statement.predicateType;
    if (policy.predicateTypes.includes(statement.predicateType)) r.pass('predicateType', statement.predicateType);
    else {
      r.fail(
        'predicateType',
        'ATTEST_PREDICATE_TYPE_NOT_ALLOWED',
        `predicateType ${JSON.stringify(statement.predicateType)} is not allowed (allowed: ${listed(policy.predicateTypes)})`,
        'predicateType',
      );
    }
    try {
      if (statement.predicateType === SLSA_PROVENANCE_V1) predicate = { type: 'provenance', value: provenanceFromJSON(statement.predicate) };
      else if (statement.predicateType === SLSA_VSA_V1) predicate = { type: 'vsa', value: vsaFromJSON(statement.predicate) };
      else if (statement.predicateType === IN_TOTO_TEST_RESULT_V01) predicate = { type: 'test-result', value: testResultFromJSON(statement.predicate) };
      else predicate = { type: 'other' };
      if (predicate.type === 'other') r.skip('predicate', `no schema for ${statement.predicateType}; the predicate is not inspected`);
      else r.pass('predicate', `a valid ${predicate.type} predicate`);
    } catch (error) {
      r.fail('predicate', 'ATTEST_PREDICATE_MALFORMED', `the predicate is invalid: ${describeProblems(problemsOf(error), String(error))}`, 'predicate');
    }
  } else {
    r.skip('predicateType', 'no statement');
    r.skip('predicate', 'no statement');
  }

  // 4. The evidence time: trusted if given, else claimed by the predicate, never later than now.
  let claimed: Date | null = null;
  if (predicate?.type === 'provenance') {
    const m = predicate.value.runDetails.metadata;
    const text = m?.finishedOn ?? m?.startedOn;
    claimed = text === undefined ? null : parseRfc3339(text);
  } else if (predicate?.type === 'vsa') claimed = parseRfc3339(predicate.value.timeVerified);
  let evidenceTime: Date;
  if (options.evidenceTime) {
    evidenceTime = options.evidenceTime;
    facts.evidenceTimeSource = 'trusted';
  } else if (claimed) {
    evidenceTime = claimed;
    facts.evidenceTimeSource = 'claimed';
  } else {
    evidenceTime = now;
    facts.evidenceTimeSource = 'now';
  }
  if (evidenceTime.getTime() > now.getTime() + MAX_CLOCK_SKEW_MS) {
    r.fail(
      'evidenceTime',
      'ATTEST_EVIDENCE_TIME_INVALID',
      `the evidence time ${evidenceTime.toISOString()} is after now (${now.toISOString()})`,
      'evidenceTime',
    );
  }
  // Key windows are judged at the evidence time, bounded by now.
  const windowTime = evidenceTime.getTime() > now.getTime() ? now : evidenceTime;
  facts.evidenceTime = windowTime.toISOString();
  r.pass('evidenceTime', `${facts.evidenceTime} (${facts.evidenceTimeSource})`);

  // 5. Signatures, key windows and identities, threshold.
  const trusted = options.trust.keys;
  const verification = verifySignatures(envelope.payloadType, payload, envelope.signatures, keyObjectsOf(options.trust), {
    allowP1363: options.allowP1363 === true,
  });
  if (verification.verifiedKeyids.length === 0) {
    const reasons = verification.rejected.map((x) => `signature ${x.index}: ${x.reason}`).join('; ');
    r.fail(
      'signatures',
      'ATTEST_SIGNATURE_INVALID',
      `no signature verifies with a ${options.trust.source === 'trust-store' ? 'key in the trust store' : 'given key'}${reasons ? ` (${reasons})` : ''}`,
      'signatures',
    );
  } else {
    r.pass('signatures', `${verification.verifiedKeyids.length} trusted key${verification.verifiedKeyids.length === 1 ? '' : 's'} signed`);
  }
  if (input.keyHint === undefined) r.skip('keyHint', 'no container names a key');
  else checkKeyHint(r, input.keyHint, envelope, verification.verifiedKeyids);
  const claim = identityClaim(predicate);
  const signers: SignerFact[] = [];
  const keyFailures: { code: AttestErrorCode; message: string }[] = [];
  for (const keyid of verification.verifiedKeyids) {
    const key = trusted.find((k) => k.keyid === keyid) as TrustedKey;
    const status = keyStatusAt(key, windowTime);
    if (!status.valid) {
      signers.push({ keyid, identities: key.identities, counted: false, reason: status.message });
      keyFailures.push({ code: status.code, message: status.message });
    } else if (!keyHasIdentity(key, claim.roles, claim.id)) {
      const message = `key ${keyid} is not bound to ${claim.describe} in the trust store`;
      signers.push({ keyid, identities: key.identities, counted: false, reason: message });
      keyFailures.push({ code: claim.code, message });
    } else {
      signers.push({ keyid, identities: key.identities, counted: true, reason: null });
    }
  }
  facts.signers = signers;
  facts.keyids = signers.filter((s) => s.counted).map((s) => s.keyid);
  const counted = facts.keyids.length;
  if (counted < policy.threshold) {
    for (const f of keyFailures) r.fail('signers', f.code, f.message, 'signatures');
    if (keyFailures.length === 0) r.skip('signers', 'no signature verified');
    if (policy.threshold > 1) {
      r.fail(
        'threshold',
        'ATTEST_THRESHOLD_NOT_MET',
        `${counted} distinct trusted key${counted === 1 ? '' : 's'} signed, the policy requires ${policy.threshold}`,
        'signatures',
      );
    } else r.skip('threshold', 'the signers check decides with a threshold of 1');
  } else {
    const ignored = counted === signers.length ? '' : `; ignored: ${signers.flatMap((s) => (s.counted ? [] : [s.reason])).join('; ')}`;
    r.pass('signers', `${counted} counted${ignored}`);
    r.pass('threshold', `${counted} of ${policy.threshold} required`);
  }

  // 6. Subject: the artifact's digest and the policy's pinned digest, on the same subject.
  if (statement) checkSubject(r, statement, input.artifactDigest, policy, facts);
  else r.skip('subject', 'no statement');

  // 7. What the predicate says, against the policy.
  if (predicate?.type === 'provenance') checkProvenance(r, predicate.value, policy, facts);
  if (predicate?.type === 'vsa') checkVsa(r, predicate.value, policy, facts);
  if (predicate?.type === 'test-result') checkTestResult(r, predicate.value, policy, facts);

  // 8. Age.
  if (policy.maxAgeSeconds === null) r.skip('age', 'the policy sets no maxAge');
  else if (predicate === null && !options.evidenceTime) r.skip('age', 'the predicate could not be read');
  else if (facts.evidenceTimeSource === 'now') r.fail('age', 'ATTEST_TOO_OLD', 'the policy sets a maxAge, but the evidence carries no time', 'age');
  else {
    const ageSeconds = Math.floor((now.getTime() - windowTime.getTime()) / 1000);
    if (ageSeconds > policy.maxAgeSeconds) {
      r.fail(
        'age',
        'ATTEST_TOO_OLD',
        `the evidence is ${ageSeconds} s old (from ${windowTime.toISOString()}), the policy allows ${policy.maxAgeSeconds} s`,
        'age',
      );
    } else r.pass('age', `${ageSeconds} s old, at most ${policy.maxAgeSeconds} s allowed`);
  }
  return finish(statement);
}

function checkKeyHint(r: Recorder, hint: string | null, envelope: DsseEnvelope, verified: readonly string[]): void {
  if (hint === null || hint === '') {
    r.fail(
      'keyHint',
      'ATTEST_BUNDLE_HINT_MISMATCH',
      'the public-key hint is empty; it must be the key id of the signing key',
      'verificationMaterial.publicKey.hint',
    );
    return;
  }
  const other = envelope.signatures.find((s) => s.keyid !== '' && s.keyid !== hint);
  if (other)
    r.fail(
      'keyHint',
      'ATTEST_BUNDLE_HINT_MISMATCH',
      `the public-key hint ${hint} differs from the DSSE signature's keyid ${other.keyid}`,
      'dsseEnvelope.signatures',
    );
  else if (!verified.includes(hint)) {
    r.fail('keyHint', 'ATTEST_BUNDLE_HINT_MISMATCH', `the public-key hint ${hint} is not the id of a key that verified`, 'verificationMaterial.publicKey.hint');
  } else r.pass('keyHint', hint);
}

interface IdentityClaim {
  readonly roles: readonly IdentityRole[];
  readonly id: string | null;
  readonly describe: string;
  readonly code: AttestErrorCode;
}

/**
 * Whom the signing key must be bound to: the builder for provenance, the verifier for a VSA,
 * and for other predicates any builder or rebuilder (log and witness keys sign checkpoints,
 * never attestations).
 */
function identityClaim(predicate: ParsedPredicate | null): IdentityClaim {
  if (predicate?.type === 'provenance') {
    const id = predicate.value.runDetails.builder.id;
    return { roles: ['builder'], id, describe: `builder ${id}`, code: 'ATTEST_BUILDER_UNTRUSTED' };
  }
  if (predicate?.type === 'vsa') {
    const id = predicate.value.verifier.id;
    return { roles: ['rebuilder'], id, describe: `verifier (rebuilder) ${id}`, code: 'ATTEST_VERIFIER_UNTRUSTED' };
  }
  return { roles: ['builder', 'rebuilder'], id: null, describe: 'a builder or rebuilder identity', code: 'ATTEST_SIGNER_UNTRUSTED' };
}

function checkSubject(r: Recorder, statement: Statement, artifactDigest: Digest | undefined, policy: VerificationPolicy, facts: MutableFacts): void {
  const expected: { algorithm: string; value: string }[] = [];
  if (artifactDigest) expected.push({ algorithm: 'sha256', value: digestHex(artifactDigest) });
  if (policy.subject.digest) expected.push(policy.subject.digest);
  if (expected.length === 0) {
    r.fail(
      'subject',
      'ATTEST_SUBJECT_DIGEST_MISMATCH',
      'nothing to match the subjects with: give the artifact, or pin subject.digest in the policy',
      'subject',
    );
    return;
  }
  const subject = statement.subject.find((s) => expected.every((e) => s.digest[e.algorithm] === e.value));
  if (!subject) {
    const want = expected.map((e) => `${e.algorithm}:${e.value}`).join(' and ');
    const have = statement.subject.slice(0, 5).map(
      (s) =>
        `${s.name ?? '(unnamed)'} ${Object.entries(s.digest)
          .map(([a, v]) => `${a}:${v}`)
          .join(',')}`,
    );
    r.fail(
      'subject',
      'ATTEST_SUBJECT_DIGEST_MISMATCH',
      `no subject has ${want} (subjects: ${have.join('; ')}${statement.subject.length > 5 ? '; …' : ''})`,
      'subject',
    );
    return;
  }
  facts.subjectName = subject.name ?? null;
  if (policy.subject.name !== null && subject.name !== policy.subject.name) {
    r.fail(
      'subject',
      'ATTEST_SUBJECT_NAME_MISMATCH',
      `the subject is named ${JSON.stringify(subject.name ?? null)}, the policy expects ${JSON.stringify(policy.subject.name)}`,
      'subject',
    );
    return;
  }
  r.pass('subject', `${subject.name ?? '(unnamed)'} ${expected.map((e) => `${e.algorithm}:${e.value}`).join(' ')}`);
}

function checkProvenance(r: Recorder, provenance: SlsaProvenance, policy: VerificationPolicy, facts: MutableFacts): void {
  const rules = policy.provenance;
  const builderId = provenance.runDetails.builder.id;
  const buildType = provenance.buildDefinition.buildType;
  facts.builderId = builderId;
  facts.buildType = buildType;

  if (rules.builders === null) r.pass('builder', `${builderId} (the policy lists no builders)`);
  else if (rules.builders.includes(builderId)) r.pass('builder', builderId);
  else {
    r.fail(
      'builder',
      'ATTEST_BUILDER_NOT_ALLOWED',
      `builder ${JSON.stringify(builderId)} is not allowed (allowed: ${listed(rules.builders)})`,
      'predicate.runDetails.builder.id',
    );
  }

  if (rules.buildTypes === null) r.skip('buildType', 'the policy lists no buildTypes');
  else if (rules.buildTypes.includes(buildType)) r.pass('buildType', buildType);
  else {
    r.fail(
      'buildType',
      'ATTEST_BUILD_TYPE_NOT_ALLOWED',
      `buildType ${JSON.stringify(buildType)} is not allowed (allowed: ${listed(rules.buildTypes)})`,
      'predicate.buildDefinition.buildType',
    );
  }

  const allowed = rules.externalParameters ?? (buildType === CAIRN_BUILD_TYPE ? CAIRN_EXTERNAL_PARAMETERS : null);
  const keys = Object.keys(provenance.buildDefinition.externalParameters);
  if (allowed === null) r.skip('externalParameters', `the policy lists no externalParameters for buildType ${buildType}`);
  else {
    const unknown = keys.filter((k) => !allowed.includes(k));
    if (unknown.length === 0) r.pass('externalParameters', keys.length === 0 ? 'none' : keys.join(', '));
    else {
      r.fail(
        'externalParameters',
        'ATTEST_EXTERNAL_PARAMETER_UNKNOWN',
        `externalParameters has key${unknown.length === 1 ? '' : 's'} ${rules.externalParameters ? 'the policy does not list' : `cairn's buildType does not define`}: ${listed(unknown, 10)} (allowed: ${listed(allowed, 10)})`,
        `predicate.buildDefinition.externalParameters.${unknown[0]}`,
      );
    }
  }

  const source: ProvenanceSource | null = provenanceSource(provenance);
  facts.source = source ? { repository: source.repository, commit: source.commit } : null;
  const want = rules.source;
  if (want.repository === null && want.commit === null) r.skip('source', 'the policy expects no source');
  else if (!source) r.fail('source', 'ATTEST_SOURCE_MISMATCH', 'the provenance names no source repository', 'predicate.buildDefinition');
  else {
    let ok = true;
    if (want.repository !== null && normaliseRepository(want.repository) !== source.repository) {
      ok = false;
      r.fail(
        'source',
        'ATTEST_SOURCE_MISMATCH',
        `source repository is ${JSON.stringify(source.repository)}, the policy expects ${JSON.stringify(normaliseRepository(want.repository))}`,
        `predicate.buildDefinition.${source.from}`,
      );
    }
    if (want.commit !== null && source.commit !== want.commit) {
      ok = false;
      r.fail(
        'source',
        'ATTEST_SOURCE_MISMATCH',
        `source commit is ${JSON.stringify(source.commit)}, the policy expects ${JSON.stringify(want.commit)}`,
        `predicate.buildDefinition.${source.from}`,
      );
    }
    if (ok) r.pass('source', `${source.repository}${source.commit ? ` @ ${source.commit}` : ''}`);
  }
}

function checkVsa(r: Recorder, vsa: VerificationSummary, policy: VerificationPolicy, facts: MutableFacts): void {
  const rules = policy.vsa;
  facts.verifierId = vsa.verifier.id;
  facts.resourceUri = vsa.resourceUri;
  facts.result = vsa.verificationResult;
  if (rules.verifiers === null) r.pass('verifier', `${vsa.verifier.id} (the policy lists no verifiers)`);
  else if (rules.verifiers.includes(vsa.verifier.id)) r.pass('verifier', vsa.verifier.id);
  else {
    r.fail(
      'verifier',
      'ATTEST_VERIFIER_NOT_ALLOWED',
      `verifier ${JSON.stringify(vsa.verifier.id)} is not allowed (allowed: ${listed(rules.verifiers)})`,
      'predicate.verifier.id',
    );
  }
  let ok = true;
  if (vsa.verificationResult !== 'PASSED') {
    ok = false;
    r.fail('vsaResult', 'ATTEST_VSA_FAILED', 'the verification summary says FAILED', 'predicate.verificationResult');
  }
  if (rules.resourceUri !== null && vsa.resourceUri !== rules.resourceUri) {
    ok = false;
    r.fail(
      'vsaResult',
      'ATTEST_VSA_RESOURCE_MISMATCH',
      `resourceUri is ${JSON.stringify(vsa.resourceUri)}, the policy expects ${JSON.stringify(rules.resourceUri)}`,
      'predicate.resourceUri',
    );
  }
  const missing = rules.levels.filter((level) => !vsa.verifiedLevels.includes(level));
  if (missing.length > 0) {
    ok = false;
    r.fail('vsaResult', 'ATTEST_VSA_LEVEL_MISSING', `verifiedLevels lacks ${listed(missing)}`, 'predicate.verifiedLevels');
  }
  if (ok) r.pass('vsaResult', `PASSED for ${vsa.resourceUri} at ${vsa.verifiedLevels.join(', ') || 'no level'}`);
}

function checkTestResult(r: Recorder, result: TestResult, policy: VerificationPolicy, facts: MutableFacts): void {
  facts.result = result.result;
  const accepted = result.result === 'PASSED' || (result.result === 'WARNED' && policy.testResult.allowWarned);
  if (accepted && result.failedTests.length === 0) {
    r.pass('testResult', `${result.result}: ${result.passedTests.length} passed, ${result.warnedTests.length} warned`);
  } else {
    const failed = result.failedTests.length > 0 ? `; failed: ${listed(result.failedTests)}` : '';
    r.fail(
      'testResult',
      'ATTEST_TEST_RESULT_FAILED',
      `the test result is ${result.result}${result.result === 'WARNED' ? ' (the policy does not allow WARNED)' : ''}${failed}`,
      'predicate.result',
    );
  }
}

/** Throws an AttestError naming every failure (code of the first; `problems` lists them all), or returns the result. */
export function assertVerified(result: AttestationVerification): AttestationVerification {
  if (result.ok) return result;
  const [first] = result.failures;
  const problems: Problem[] = result.failures.map((f) => ({ code: f.code, path: f.path || f.check, message: f.message }));
  const codes = [...new Set(result.failures.map((f) => f.code))];
  const summary =
    result.failures.length === 1
      ? (first?.message ?? 'verification failed')
      : `${result.failures.length} checks failed (${codes.join(', ')}): ${first?.message}`;
  throw new AttestError(first?.code ?? 'ATTEST_SIGNATURE_INVALID', summary, { problems });
}

export interface VerifiedAttestation {
  readonly statement: Statement;
  /** Distinct key ids whose signatures verified and count. */
  readonly keyids: readonly string[];
  /** The subject that matched the artifact. */
  readonly subjectName: string | null;
  readonly artifactDigest: Digest;
  /** The full report. */
  readonly verification: AttestationVerification;
}

/**
 * The simple path: verifies a DSSE-enveloped in-toto statement against public keys given
 * directly and an artifact digest, under `DEFAULT_POLICY` (one signer; provenance, VSA or
 * test-result). Throws AttestError naming every failed check (code of the first).
 * `now` defaults to the wall clock.
 */
export function verifyAttestation(
  envelopeText: Uint8Array | string,
  artifactDigest: Digest,
  publicKeys: readonly KeyObject[],
  options: { readonly now?: Date; readonly limits?: Partial<AttestLimits>; readonly allowP1363?: boolean } = {},
): VerifiedAttestation {
  const result = assertVerified(
    verifyWithPolicy(
      { attestation: envelopeText, artifactDigest },
      {
        trust: trustFromKeys(publicKeys),
        now: options.now ?? new Date(),
        ...(options.limits ? { limits: options.limits } : {}),
        ...(options.allowP1363 ? { allowP1363: true } : {}),
      },
    ),
  );
  return { statement: result.statement as Statement, keyids: result.facts.keyids, subjectName: result.facts.subjectName, artifactDigest, verification: result };
}
