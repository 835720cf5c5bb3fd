import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { bundleFromJSON, envelopeFromBundle, isBundle } from '../../attest/bundle.js';
import { AttestError } from '../../attest/errors.js';
import { policyFromText } from '../../attest/policy.js';
import { type TrustRoot, trustFromKeys, trustStoreFromText } from '../../attest/trust.js';
import { type AttestationVerification, assertVerified, DEFAULT_ATTEST_LIMITS, type VerifyInput, verifyWithPolicy } from '../../attest/verify.js';
import { publicKeyFromPem } from '../../crypto/keys.js';
import type { DsseEnvelope } from '../../model/attestation.js';
import type { Digest } from '../../model/digest.js';
import { CairnError, InputError, UsageError } from '../../model/errors.js';
import { parseJson } from '../../model/json.js';
import { DEFAULT_POLICY, POLICY_LIMITS, type VerificationPolicy } from '../../model/policy.js';
import { parseRfc3339, TRUST_STORE_LIMITS } from '../../model/trust.js';
import { flag, stringOption, type Command, type CommandContext } from '../command.js';

/** Reads a file named by a flag, refusing one over `max` bytes before reading it. */
export async function readCapped(file: string, option: string, max: number, tooLarge: (size: number) => CairnError): Promise<Buffer> {
  try {
    const info = await stat(file);
    if (info.size > max) throw tooLarge(info.size);
    return await readFile(file);
  } catch (cause) {
    if (cause instanceof CairnError) throw cause;
    throw new UsageError('CLI_FILE_UNREADABLE', `--${option} ${file}: ${(cause as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause });
  }
}

/** The sha256 of a file, streamed (artifacts may be large). */
export async function sha256OfFile(file: string, option: string): Promise<Digest> {
  try {
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
    return `sha256:${hash.digest('hex')}`;
  } catch (cause) {
    throw new UsageError('CLI_FILE_UNREADABLE', `--${option} ${file}: ${(cause as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause });
  }
}

function tooLarge(code: 'ATTEST_TRUST_STORE_INVALID' | 'ATTEST_POLICY_INVALID', what: string, max: number) {
  return (size: number) =>
    new InputError(code, `${what} is ${size} bytes, over the limit of ${max}`, {
      problems: [{ code: 'TOO_LARGE', path: '', message: `larger than ${max} bytes` }],
    });
}

export interface VerifyOptions {
  /** The artifact file; optional when the policy pins `subject.digest`. */
  readonly artifact?: string;
  readonly attestation: string;
  /** Public key files (SPKI PEM), trusted for any identity; or… */
  readonly keys?: readonly string[];
  /** …a trust-store file (docs/trust.md). */
  readonly trust?: string;
  /** A policy file, YAML or JSON (docs/trust.md); default `DEFAULT_POLICY`. */
  readonly policy?: string;
  readonly now: Date;
  readonly maxEnvelopeBytes?: number;
  readonly allowP1363?: boolean;
}

export interface VerifyResult {
  /** `dsse` for a bare envelope, `sigstore-bundle` for a bundle. */
  readonly format: 'dsse' | 'sigstore-bundle';
  readonly verification: AttestationVerification;
}

async function loadTrust(options: VerifyOptions): Promise<TrustRoot> {
  if (options.trust !== undefined) {
    const max = TRUST_STORE_LIMITS.maxBytes;
    const text = await readCapped(options.trust, 'trust', max, tooLarge('ATTEST_TRUST_STORE_INVALID', options.trust, max));
    try {
      return trustStoreFromText(text, options.trust);
    } catch (error) {
      if (error instanceof InputError) throw new InputError(error.code, `${options.trust}: ${error.message}`, { cause: error, problems: error.problems });
      throw error;
    }
  }
  const keys = await Promise.all(
    (options.keys ?? []).map(async (k) =>
      publicKeyFromPem(
        (await readCapped(k, 'key', 64 * 1024, () => new UsageError('CLI_FILE_UNREADABLE', `--key ${k}: too large for a key`))).toString('utf8'),
        k,
      ),
    ),
  );
  return trustFromKeys(keys);
}

/**
 * Verifies an attestation file (a DSSE envelope or a keyed Sigstore bundle, told apart by
 * shape) against an artifact, trusted keys or a trust store, and a policy. Returns the
 * report, whether or not it passed; throws only for bad input.
 */
export async function verify(options: VerifyOptions): Promise<VerifyResult> {
  const maxEnvelopeBytes = options.maxEnvelopeBytes ?? DEFAULT_ATTEST_LIMITS.maxEnvelopeBytes;
  let policy: VerificationPolicy = DEFAULT_POLICY;
  if (options.policy !== undefined) {
    const file = options.policy;
    policy = policyFromText(await readCapped(file, 'policy', POLICY_LIMITS.maxBytes, tooLarge('ATTEST_POLICY_INVALID', file, POLICY_LIMITS.maxBytes)), file);
  }
  const trust = await loadTrust(options);
  const artifactDigest = options.artifact === undefined ? undefined : await sha256OfFile(options.artifact, 'artifact');
  if (artifactDigest === undefined && policy.subject.digest === null) {
    throw new UsageError('CLI_MISSING_OPTION', 'cairn verify needs --artifact unless the policy pins subject.digest');
  }
  const text = await readCapped(
    options.attestation,
    'attestation',
    maxEnvelopeBytes,
    (size) =>
      new AttestError('ATTEST_ENVELOPE_MALFORMED', `${options.attestation} is ${size} bytes, over the limit of ${maxEnvelopeBytes} (--max-envelope-bytes)`, {
        problems: [{ code: 'JSON_TOO_LARGE', path: '', message: `larger than ${maxEnvelopeBytes} bytes` }],
      }),
  );
  let attestation: VerifyInput['attestation'] = text;
  let keyHint: string | null | undefined;
  let format: VerifyResult['format'] = 'dsse';
  let raw: unknown;
  try {
    raw = parseJson(text, 'attestation', { maxBytes: maxEnvelopeBytes, maxDepth: DEFAULT_ATTEST_LIMITS.maxDepth });
  } catch {
    // Not JSON: verifyWithPolicy names the problem as ATTEST_ENVELOPE_MALFORMED.
  }
  if (raw !== undefined && isBundle(raw)) {
    const bundle = bundleFromJSON(raw);
    if (!bundle.verificationMaterial.publicKey) {
      throw new AttestError(
        'ATTEST_BUNDLE_UNSUPPORTED',
        'the bundle names its key by certificate; cairn verifies keyed bundles (publicKey.hint) against its own keys',
      );
    }
    const inner = envelopeFromBundle(bundle);
    attestation = inner.envelope as DsseEnvelope;
    keyHint = inner.hint;
    format = 'sigstore-bundle';
  }
  const verification = verifyWithPolicy(
    { attestation, ...(artifactDigest ? { artifactDigest } : {}), ...(keyHint !== undefined ? { keyHint } : {}) },
    { trust, policy, now: options.now, limits: { maxEnvelopeBytes }, allowP1363: options.allowP1363 === true },
  );
  return { format, verification };
}

function listOption(context: CommandContext, name: string): string[] {
  const value = context.values[name];
  return Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
}

async function run(context: CommandContext): Promise<number> {
  const resolve = (p: string) => path.resolve(context.io.cwd, p);
  const artifact = stringOption(context, 'artifact');
  const attestation = stringOption(context, 'attestation');
  const keys = listOption(context, 'key');
  const trust = stringOption(context, 'trust');
  const policy = stringOption(context, 'policy');
  const nowText = stringOption(context, 'now');
  const maxText = stringOption(context, 'max-envelope-bytes');
  const missing = [!attestation && '--attestation', keys.length === 0 && !trust && '--key or --trust'].filter(Boolean);
  if (missing.length > 0 || !attestation) throw new UsageError('CLI_MISSING_OPTION', `cairn verify needs ${missing.join(', ')}`);
  if (keys.length > 0 && trust) throw new UsageError('CLI_BAD_OPTION', 'give --key or --trust, not both');
  if (!artifact && !policy) throw new UsageError('CLI_MISSING_OPTION', 'cairn verify needs --artifact');
  const now = nowText === undefined ? new Date() : parseRfc3339(nowText);
  if (now === null) throw new UsageError('CLI_BAD_OPTION', `--now ${nowText}: expected an RFC 3339 date-time such as 2025-01-31T12:00:00Z`);
  let maxEnvelopeBytes: number | undefined;
  if (maxText !== undefined) {
    maxEnvelopeBytes = /^\d{1,10}$/.test(maxText) ? Number(maxText) : Number.NaN;
    if (!(maxEnvelopeBytes >= 1024 && maxEnvelopeBytes <= 1024 * 1024 * 1024)) {
      throw new UsageError('CLI_BAD_OPTION', `--max-envelope-bytes ${maxText}: expected a number of bytes from 1024 to 1073741824`);
    }
  }

  const { format, verification } = await verify({
    ...(artifact ? { artifact: resolve(artifact) } : {}),
    attestation: resolve(attestation),
    ...(trust ? { trust: resolve(trust) } : { keys: keys.map(resolve) }),
    ...(policy ? { policy: resolve(policy) } : {}),
    now,
    ...(maxEnvelopeBytes !== undefined ? { maxEnvelopeBytes } : {}),
    allowP1363: flag(context, 'allow-p1363'),
  });
  // Names every failed check (code of the first; each one, with its code, in `problems`).
  assertVerified(verification);

  const f = verification.facts;
  const facts = {
    artifact: f.artifactDigest,
    subject: f.subjectName,
    predicateType: f.predicateType,
    format,
    keyids: f.keyids,
    threshold: f.threshold,
    evidenceTime: f.evidenceTime,
    evidenceTimeSource: f.evidenceTimeSource,
    builderId: f.builderId,
    buildType: f.buildType,
    sourceUri: f.source?.repository ?? null,
    sourceCommit: f.source?.commit ?? null,
    verifierId: f.verifierId,
    resourceUri: f.resourceUri,
    result: f.result,
  };
  context.out.event('verified', { ...facts, checks: verification.checks });
  context.out.line(`verified ${artifact ?? attestation}`);
  for (const [name, value] of Object.entries(facts)) {
    if (value === null) continue;
    context.out.line(`  ${name.padEnd(18)} ${Array.isArray(value) ? value.join(', ') : String(value)}`);
  }
  context.out.line('checks:');
  for (const check of verification.checks) {
    if (check.outcome !== 'skip' || flag(context, 'verbose'))
      context.out.line(`  ${check.outcome === 'pass' ? 'ok  ' : 'skip'} ${check.name.padEnd(18)} ${check.detail}`);
  }
  return 0;
}

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'verify an artifact against a signed in-toto attestation, a trust store and a policy',
  usage:
    'cairn verify --artifact FILE --attestation FILE (--key PUB.pem [--key PUB.pem…] | --trust TRUST.json) [--policy POLICY.yaml] [--now RFC3339] [--max-envelope-bytes N] [--allow-p1363] [--verbose] [--json]',
  description:
    'Runs every check and names every failure with its ATTEST_* code (exit 1): envelope, payload type, signatures over the DSSE PAE, statement and predicate, key windows and revocation at the evidence time, the key bound to the claimed builder in the trust store, the k-of-n threshold of distinct keys, subject digest, and the policy (predicate types, builders, buildTypes, externalParameters, source, age, VSA and test results). The attestation may be a DSSE envelope or a keyed Sigstore bundle. Formats: docs/trust.md.',
  options: {
    artifact: { type: 'string', value: 'FILE', description: 'the artifact to check (optional if the policy pins subject.digest)' },
    attestation: { type: 'string', value: 'FILE', description: 'DSSE envelope or Sigstore bundle holding an in-toto statement' },
    key: { type: 'string', value: 'PUB.pem', multiple: true, description: 'trusted public key (SPKI PEM), for any builder; repeatable' },
    trust: { type: 'string', value: 'TRUST.json', description: 'trust store: keys, identities, validity windows, revocation' },
    policy: { type: 'string', value: 'POLICY', description: 'verification policy, YAML or JSON (default: one signer, known predicate types)' },
    now: { type: 'string', value: 'RFC3339', description: 'verify as of this time (default: the clock)' },
    'max-envelope-bytes': { type: 'string', value: 'N', description: `largest attestation read (default ${DEFAULT_ATTEST_LIMITS.maxEnvelopeBytes})` },
    'allow-p1363': { type: 'boolean', description: 'also accept ECDSA signatures in IEEE P1363 (r‖s) form' },
    verbose: { type: 'boolean', description: 'list skipped checks too' },
  },
  positionals: { min: 0, max: 0 },
  run,
};
