import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { privateKeyFromPem } from '../../crypto/keys.js';
import { UsageError } from '../../model/errors.js';
import { stateKey } from '../../pipeline/keys.js';
import { openState } from '../../pipeline/state.js';
import { CAIRN_VERSION } from '../../pipeline/version.js';
import { flag, stringOption, type Command, type CommandContext } from '../command.js';

async function readInput(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (cause) {
    throw new UsageError('CLI_FILE_UNREADABLE', `--${what} ${file}: ${(cause as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause });
  }
}

async function run(context: CommandContext): Promise<number> {
  const { out, io } = context;
  const provenancePath = stringOption(context, 'provenance');
  const repo = stringOption(context, 'repo');
  if (!provenancePath || !repo)
    throw new UsageError('CLI_MISSING_OPTION', `cairn rebuild needs ${[!provenancePath && '--provenance', !repo && '--repo'].filter(Boolean).join(' and ')}`);
  const provenance = await readInput(path.resolve(io.cwd, provenancePath), 'provenance');
  const artifactPath = stringOption(context, 'artifact');
  const claimedArtifact = artifactPath ? await readInput(path.resolve(io.cwd, artifactPath), 'artifact') : null;
  const keyPath = stringOption(context, 'key');
  const state = await openState(context.stateDir);
  try {
    const key = keyPath
      ? { privateKey: privateKeyFromPem((await readInput(path.resolve(io.cwd, keyPath), 'key')).toString('utf8'), keyPath) }
      : await stateKey(state.dir, 'rebuilder');
    out.progress('… rebuilding from the provenance');
    const { rebuildFromProvenance } = await import('../../pipeline/rebuild.js');
    const outcome = await rebuildFromProvenance({
      provenance,
      repository: path.resolve(io.cwd, repo),
      claimedArtifact,
      rebuilderKey: key.privateKey,
      rebuilderId: stringOption(context, 'rebuilder-id') ?? 'https://cairn.dev/rebuilders/local',
      now: () => new Date(),
      cairnVersion: CAIRN_VERSION,
      ...(flag(context, 'verbose') ? { onLine: (line: string) => out.progress(`  rebuild | ${line}`) } : {}),
    });
    const vsaDigest = await state.blobs.put(outcome.vsa);
    await state.store.putEvidence({
      digest: vsaDigest,
      kind: 'vsa',
      subject: outcome.claim.subjectDigest,
      mediaType: 'application/vnd.dsse.envelope.v1+json',
      runId: null,
      createdAt: new Date().toISOString(),
    });
    const outPath = stringOption(context, 'out');
    if (outPath) await writeFile(path.resolve(io.cwd, outPath), outcome.vsa);
    out.event('rebuild', {
      result: outcome.result,
      claimed: outcome.claim.subjectDigest,
      rebuilt: outcome.rebuilt?.artifact.digest ?? null,
      commit: outcome.claim.commit,
      differences: outcome.differences,
      causes: outcome.causes,
      vsa: vsaDigest,
    });
    out.line(`rebuild ${outcome.result}: ${outcome.claim.subjectName} at ${outcome.claim.commit.slice(0, 12)}`);
    out.line(`  claimed  ${outcome.claim.subjectDigest}`);
    out.line(`  rebuilt  ${outcome.rebuilt?.artifact.digest ?? '-'} (isolation ${outcome.rebuilt?.environment.isolation ?? '-'})`);
    for (const d of outcome.differences) out.line(`  differs  ${d.kind}: ${d.detail}`);
    for (const c of outcome.causes) out.line(`  cause    ${c.kind} (${c.confidence}): ${c.detail}`);
    out.line(`  VSA      ${vsaDigest}${outPath ? ` → ${outPath}` : ''}`);
    return outcome.result === 'PASSED' ? 0 : 1;
  } finally {
    await state.close();
  }
}

export const rebuildCommand: Command = {
  name: 'rebuild',
  summary: 'rebuild independently from a provenance and sign a VSA (PASSED only if the digests match)',
  usage: 'cairn rebuild --provenance FILE --repo DIR [--artifact FILE] [--out VSA] [--key KEY.pem] [--rebuilder-id URI] [--json] [--state DIR]',
  description:
    "Takes the source from the rebuilder's own git repository (--repo) at the commit the provenance names, builds it with the committed recipe in the sandbox, and compares the digest with the provenance's subject. With --artifact (the claimed artifact), a mismatch is explained by named causes. The VSA is signed with --key, else the state's rebuilder key (keys/rebuilder.key), stored as evidence, and written to --out. Exit 1 when FAILED.",
  options: {
    provenance: { type: 'string', value: 'FILE', description: 'DSSE envelope with the SLSA provenance to check' },
    repo: { type: 'string', value: 'DIR', description: 'the git repository the rebuilder trusts' },
    artifact: { type: 'string', value: 'FILE', description: 'the claimed artifact, to explain a mismatch' },
    out: { type: 'string', value: 'FILE', description: 'also write the signed VSA here' },
    key: { type: 'string', value: 'KEY.pem', description: "the rebuilder's private key (PKCS#8 PEM)" },
    'rebuilder-id': { type: 'string', value: 'URI', description: 'the verifier id written into the VSA' },
    verbose: { type: 'boolean', short: 'v', description: "show the recipe's output (stderr)" },
  },
  positionals: { min: 0, max: 0 },
  run,
};
