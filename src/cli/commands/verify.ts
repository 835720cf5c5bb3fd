import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { verifyAttestation, type VerifiedAttestation } from '../../attest/verify.js';
import { sha256Digest } from '../../crypto/digest.js';
import { publicKeyFromPem } from '../../crypto/keys.js';
import { UsageError } from '../../model/errors.js';
import { stringOption, type Command, type CommandContext } from '../command.js';

export interface VerifyOptions {
  readonly artifact: string;
  readonly attestation: string;
  readonly keys: readonly string[];
}

async function readInput(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (cause) {
    throw new UsageError('CLI_FILE_UNREADABLE', `--${what} ${file}: ${(cause as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause });
  }
}

/** Verifies an artifact against a DSSE attestation and public keys (PEM files). */
export async function verify(options: VerifyOptions): Promise<VerifiedAttestation> {
  const artifact = await readInput(options.artifact, 'artifact');
  const envelope = await readInput(options.attestation, 'attestation');
  const keys = await Promise.all(options.keys.map(async (k) => publicKeyFromPem((await readInput(k, 'key')).toString('utf8'), k)));
  return verifyAttestation(envelope, sha256Digest(artifact), keys);
}

function predicateFacts(result: VerifiedAttestation): Record<string, unknown> {
  const predicate = result.statement.predicate as {
    runDetails?: { builder?: { id?: unknown } };
    buildDefinition?: { buildType?: unknown; externalParameters?: { source?: { uri?: unknown; commit?: unknown } } };
  };
  return {
    builderId: predicate.runDetails?.builder?.id ?? null,
    buildType: predicate.buildDefinition?.buildType ?? null,
    sourceUri: predicate.buildDefinition?.externalParameters?.source?.uri ?? null,
    sourceCommit: predicate.buildDefinition?.externalParameters?.source?.commit ?? null,
  };
}

async function run(context: CommandContext): Promise<number> {
  const artifact = stringOption(context, 'artifact');
  const attestation = stringOption(context, 'attestation');
  const key = context.values.key;
  const keys = Array.isArray(key) ? key : typeof key === 'string' ? [key] : [];
  const missing = [!artifact && '--artifact', !attestation && '--attestation', keys.length === 0 && '--key'].filter(Boolean);
  if (missing.length > 0 || !artifact || !attestation) throw new UsageError('CLI_MISSING_OPTION', `cairn verify needs ${missing.join(', ')}`);
  const result = await verify({
    artifact: path.resolve(context.io.cwd, artifact),
    attestation: path.resolve(context.io.cwd, attestation),
    keys: keys.map((k) => path.resolve(context.io.cwd, k)),
  });
  const facts = {
    artifact: result.artifactDigest,
    subject: result.subjectName,
    predicateType: result.statement.predicateType,
    keyids: result.keyids,
    ...predicateFacts(result),
  };
  context.out.event('verified', facts);
  context.out.line(`verified ${artifact}`);
  for (const [name, value] of Object.entries(facts)) context.out.line(`  ${name.padEnd(14)} ${Array.isArray(value) ? value.join(', ') : String(value)}`);
  return 0;
}

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'verify an artifact against a signed in-toto attestation',
  usage: 'cairn verify --artifact FILE --attestation FILE --key PUB.pem [--key PUB.pem…] [--json]',
  description:
    'Checks the DSSE signature with the given SPKI PEM public key(s) and that a subject digest equals the sha256 of the artifact. Exits 1 naming the failed check (ATTEST_* code).',
  options: {
    artifact: { type: 'string', value: 'FILE', description: 'the artifact to check' },
    attestation: { type: 'string', value: 'FILE', description: 'DSSE envelope holding an in-toto statement' },
    key: { type: 'string', value: 'PUB.pem', multiple: true, description: 'trusted public key (SPKI PEM); repeatable' },
  },
  positionals: { min: 0, max: 0 },
  run,
};
