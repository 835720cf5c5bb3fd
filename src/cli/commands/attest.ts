import { createPublicKey } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bundleBytes, bundleFromEnvelope } from '../../attest/bundle.js';
import { provenanceFromJSON } from '../../attest/provenance.js';
import { envelopeBytes, signStatement } from '../../attest/sign.js';
import { testResultFromJSON } from '../../attest/test-result.js';
import { vsaFromJSON } from '../../attest/vsa.js';
import { type EcdsaSignatureFormat, keyIdOf, privateKeyFromPem } from '../../crypto/keys.js';
import { IN_TOTO_STATEMENT_V1, SLSA_PROVENANCE_V1, type Statement, type Subject } from '../../model/attestation.js';
import { digestHex } from '../../model/digest.js';
import { CairnError, InputError, UsageError } from '../../model/errors.js';
import { parseJson } from '../../model/json.js';
import { IN_TOTO_TEST_RESULT_V01, SLSA_VSA_V1 } from '../../model/policy.js';
import { URI_PATTERN } from '../../model/trust.js';
import { flag, stringOption, type Command, type CommandContext } from '../command.js';
import { readCapped, sha256OfFile } from './verify.js';

/** Short names for the predicate types cairn knows. */
export const PREDICATE_TYPE_ALIASES: Readonly<Record<string, string>> = {
  provenance: SLSA_PROVENANCE_V1,
  slsaprovenance1: SLSA_PROVENANCE_V1,
  vsa: SLSA_VSA_V1,
  'test-result': IN_TOTO_TEST_RESULT_V01,
};

/** The predicate parsers for the types cairn knows: a predicate of such a type is checked before it is signed. */
const PREDICATE_PARSERS: Readonly<Record<string, (raw: unknown) => unknown>> = {
  [SLSA_PROVENANCE_V1]: provenanceFromJSON,
  [SLSA_VSA_V1]: vsaFromJSON,
  [IN_TOTO_TEST_RESULT_V01]: testResultFromJSON,
};

const MAX_PREDICATE_BYTES = 16 * 1024 * 1024;
const MAX_SUBJECTS = 1024;

export interface AttestOptions {
  /** Files the statement is about; each becomes a subject named by its file name. */
  readonly subjects: readonly string[];
  /** A JSON file holding the predicate. */
  readonly predicate: string;
  /** The predicate type URI. */
  readonly predicateType: string;
  /** Private keys (PKCS#8 PEM), one signature each. */
  readonly keys: readonly string[];
  readonly out: string;
  readonly bundle?: boolean;
  readonly ecdsaSignatureFormat?: EcdsaSignatureFormat;
  readonly force?: boolean;
}

export interface AttestResult {
  readonly out: string;
  readonly format: 'dsse' | 'sigstore-bundle';
  readonly predicateType: string;
  readonly subjects: readonly { readonly name: string; readonly digest: string }[];
  readonly keyids: readonly string[];
}

/**
 * Signs an in-toto Statement v1 about the subject files with the given predicate into a DSSE
 * envelope (or, with `bundle`, a keyed Sigstore bundle v0.3) and writes it to `out`. A
 * predicate of a type cairn knows (SLSA provenance v1, VSA v1, test-result v0.1) must be
 * valid (ATTEST_PREDICATE_MALFORMED).
 */
export async function attest(options: AttestOptions): Promise<AttestResult> {
  if (options.bundle && options.keys.length !== 1)
    throw new UsageError('CLI_BAD_OPTION', 'a Sigstore bundle carries exactly one signature: give one --key with --bundle');
  if (options.bundle && options.ecdsaSignatureFormat === 'p1363')
    throw new UsageError('CLI_BAD_OPTION', 'Sigstore bundles carry DER-encoded ECDSA signatures, not P1363');
  const keys = await Promise.all(
    options.keys.map(async (k) =>
      privateKeyFromPem(
        (await readCapped(k, 'key', 64 * 1024, () => new UsageError('CLI_FILE_UNREADABLE', `--key ${k}: too large for a key`))).toString('utf8'),
        k,
      ),
    ),
  );
  const predicateText = await readCapped(
    options.predicate,
    'predicate',
    MAX_PREDICATE_BYTES,
    (size) => new InputError('ATTEST_PREDICATE_MALFORMED', `${options.predicate} is ${size} bytes, over the limit of ${MAX_PREDICATE_BYTES}`),
  );
  let predicate: unknown;
  try {
    predicate = parseJson(predicateText, options.predicate, { maxBytes: MAX_PREDICATE_BYTES, maxDepth: 32 });
    if (typeof predicate !== 'object' || predicate === null || Array.isArray(predicate)) {
      throw new InputError('ATTEST_PREDICATE_MALFORMED', `${options.predicate}: a predicate is a JSON object`);
    }
    PREDICATE_PARSERS[options.predicateType]?.(predicate);
  } catch (error) {
    if (error instanceof CairnError) {
      throw new InputError('ATTEST_PREDICATE_MALFORMED', `${options.predicate}: ${error.message}`, { cause: error, problems: error.problems });
    }
    throw error;
  }
  const subject: Subject[] = [];
  for (const file of options.subjects) subject.push({ name: path.basename(file), digest: { sha256: digestHex(await sha256OfFile(file, 'subject')) } });
  const statement: Statement = { _type: IN_TOTO_STATEMENT_V1, subject, predicateType: options.predicateType, predicate };
  const envelope = signStatement(statement, keys, options.ecdsaSignatureFormat ? { ecdsaSignatureFormat: options.ecdsaSignatureFormat } : {});
  const bytes = options.bundle ? bundleBytes(bundleFromEnvelope(envelope, createPublicKey(keys[0] as NonNullable<(typeof keys)[0]>))) : envelopeBytes(envelope);
  try {
    await writeFile(options.out, bytes, { flag: options.force ? 'w' : 'wx', mode: 0o644 });
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UsageError('CLI_FILE_EXISTS', `${options.out} already exists (use --force to overwrite)`, { cause });
    throw new UsageError('CLI_FILE_UNREADABLE', `-o ${options.out}: ${code ?? 'cannot be written'}`, { cause });
  }
  return {
    out: options.out,
    format: options.bundle ? 'sigstore-bundle' : 'dsse',
    predicateType: options.predicateType,
    subjects: subject.map((s) => ({ name: s.name ?? '', digest: `sha256:${s.digest.sha256}` })),
    keyids: keys.map((k) => keyIdOf(k)),
  };
}

function listOption(context: CommandContext, name: string): string[] {
  const value = context.values[name];
  return Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
}

async function run(context: CommandContext): Promise<number> {
  const resolve = (p: string) => path.resolve(context.io.cwd, p);
  const subjects = listOption(context, 'subject');
  const keys = listOption(context, 'key');
  const predicate = stringOption(context, 'predicate');
  const type = stringOption(context, 'type');
  const out = stringOption(context, 'out');
  const missing = [subjects.length === 0 && '--subject', !predicate && '--predicate', !type && '--type', keys.length === 0 && '--key', !out && '-o'].filter(
    Boolean,
  );
  if (missing.length > 0 || !predicate || !type || !out) throw new UsageError('CLI_MISSING_OPTION', `cairn attest needs ${missing.join(', ')}`);
  if (subjects.length > MAX_SUBJECTS) throw new UsageError('CLI_BAD_OPTION', `at most ${MAX_SUBJECTS} --subject files`);
  const predicateType = PREDICATE_TYPE_ALIASES[type] ?? type;
  if (!URI_PATTERN.test(predicateType) || predicateType.length > 1024) {
    throw new UsageError('CLI_BAD_OPTION', `--type ${type}: expected a predicate type URI or one of ${Object.keys(PREDICATE_TYPE_ALIASES).join(', ')}`);
  }
  const format = stringOption(context, 'ecdsa-format');
  if (format !== undefined && format !== 'der' && format !== 'p1363') throw new UsageError('CLI_BAD_OPTION', `--ecdsa-format ${format}: expected der or p1363`);
  const result = await attest({
    subjects: subjects.map(resolve),
    predicate: resolve(predicate),
    predicateType,
    keys: keys.map(resolve),
    out: resolve(out),
    bundle: flag(context, 'bundle'),
    force: flag(context, 'force'),
    ...(format ? { ecdsaSignatureFormat: format } : {}),
  });
  context.out.event('attested', { ...result });
  const what = result.format === 'dsse' ? 'DSSE envelope' : 'Sigstore bundle v0.3';
  context.out.line(`wrote ${result.out} (${what}, ${result.keyids.length} signature${result.keyids.length === 1 ? '' : 's'})`);
  context.out.line(`  predicateType ${result.predicateType}`);
  for (const s of result.subjects) context.out.line(`  subject       ${s.name} ${s.digest}`);
  for (const k of result.keyids) context.out.line(`  keyid         ${k}`);
  return 0;
}

export const attestCommand: Command = {
  name: 'attest',
  summary: 'sign an in-toto statement about files into a DSSE envelope or Sigstore bundle',
  usage:
    'cairn attest --subject FILE [--subject FILE…] --predicate FILE --type URI --key KEY.pem [--key KEY.pem…] [--ecdsa-format der|p1363] [--bundle] -o OUT [--force] [--json]',
  description: `Builds an in-toto Statement v1 whose subjects are the files (name and sha256), with the JSON predicate of the given type (a URI, or ${Object.keys(PREDICATE_TYPE_ALIASES).join(', ')}), and signs it with each key (Ed25519 or ECDSA P-256; DER unless --ecdsa-format p1363). Predicates of types cairn knows are validated first. --bundle writes a keyed Sigstore bundle v0.3 (one key).`,
  options: {
    subject: { type: 'string', value: 'FILE', multiple: true, description: 'a file the statement is about; repeatable' },
    predicate: { type: 'string', value: 'FILE', description: 'the predicate, a JSON object' },
    type: { type: 'string', value: 'URI', description: 'the predicate type (URI or provenance, vsa, test-result)' },
    key: { type: 'string', value: 'KEY.pem', multiple: true, description: 'signing key (PKCS#8 PEM); repeatable for several signatures' },
    'ecdsa-format': { type: 'string', value: 'FORMAT', description: 'ECDSA signature encoding: der (default) or p1363' },
    bundle: { type: 'boolean', description: 'write a keyed Sigstore bundle v0.3 instead of a bare DSSE envelope' },
    out: { type: 'string', short: 'o', value: 'OUT', description: 'where to write the attestation' },
    force: { type: 'boolean', description: 'overwrite OUT if it exists' },
  },
  positionals: { min: 0, max: 0 },
  run,
};
