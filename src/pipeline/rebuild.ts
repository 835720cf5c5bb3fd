import type { KeyObject } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { envelopeBytes, signStatement } from '../attest/sign.js';
import { vsaStatement } from '../attest/vsa.js';
import type { Cause } from '../build/explain.js';
import { explainArtifacts } from '../build/explain.js';
import { runBuild } from '../build/run.js';
import { sha256Digest } from '../crypto/digest.js';
import { envelopeFromJSON, type SlsaProvenance, type Statement, statementFromJSON } from '../model/attestation.js';
import type { BuildResult } from '../model/build.js';
import type { ProjectConfig } from '../model/config.js';
import { digestFromHex, digestHex, type Digest, isSha256Hex } from '../model/digest.js';
import { CairnError, InputError } from '../model/errors.js';
import { parseJson } from '../model/json.js';
import { loadProjectConfig } from '../source/config.js';
import { snapshotCommit } from '../source/snapshot.js';
import { decodeBase64Strict } from '../crypto/base64.js';

/** What a provenance says was built, read without trusting it: the rebuilder checks every claim. */
export interface ProvenanceClaim {
  readonly subjectName: string;
  readonly subjectDigest: Digest;
  readonly repository: string;
  readonly commit: string;
  readonly subdir: string;
  readonly treeDigest: Digest | null;
  readonly recipe: { readonly run: string; readonly output: string; readonly install: 'none' | 'npm'; readonly format: 'tgz' | 'zip' };
  readonly builderId: string;
}

export interface RebuildDifference {
  readonly kind: 'source' | 'recipe' | 'artifact';
  readonly detail: string;
}

export interface RebuildOutcome {
  readonly result: 'PASSED' | 'FAILED';
  readonly claim: ProvenanceClaim;
  readonly rebuilt: BuildResult | null;
  readonly differences: readonly RebuildDifference[];
  /** Named likely causes when the artifacts differ and the claimed artifact was available. */
  readonly causes: readonly Cause[];
  /** The signed VSA (DSSE envelope bytes, compact JSON + newline). */
  readonly vsa: Buffer;
  readonly vsaDigest: Digest;
}

export interface RebuildOptions {
  /** Raw bytes of the provenance: a DSSE envelope holding an SLSA v1 statement. */
  readonly provenance: Uint8Array;
  /** The git repository the rebuilder trusts as the source of truth. */
  readonly repository: string;
  /** The claimed artifact, when available, to explain a mismatch. */
  readonly claimedArtifact?: Uint8Array | null;
  readonly rebuilderKey: KeyObject;
  readonly rebuilderId: string;
  readonly now: () => Date;
  readonly cairnVersion: string;
  readonly onLine?: (line: string) => void;
}

function field<T>(value: unknown, what: string, check: (v: unknown) => v is T): T {
  if (!check(value)) throw new InputError('REBUILD_PROVENANCE_UNUSABLE', `the provenance has no usable ${what}`);
  return value;
}
const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** Reads the claims a rebuild needs out of a provenance envelope (signature checks happen at the gate). */
export function provenanceClaim(bytes: Uint8Array): ProvenanceClaim {
  let statement: Statement;
  try {
    const envelope = envelopeFromJSON(parseJson(bytes, 'provenance', { maxBytes: 16 * 1024 * 1024, maxDepth: 32 }));
    const payload = decodeBase64Strict(envelope.payload);
    if (!payload) throw new InputError('REBUILD_PROVENANCE_UNUSABLE', 'the provenance payload is not canonical base64');
    statement = statementFromJSON(parseJson(payload, 'statement', { maxBytes: 16 * 1024 * 1024, maxDepth: 32 }));
  } catch (error) {
    if (error instanceof CairnError && error.code !== 'REBUILD_PROVENANCE_UNUSABLE') {
      throw new InputError('REBUILD_PROVENANCE_UNUSABLE', `not a DSSE-enveloped in-toto statement: ${error.message}`, {
        cause: error,
        problems: error.problems,
      });
    }
    throw error;
  }
  const predicate = statement.predicate as Partial<SlsaProvenance>;
  const external = (predicate.buildDefinition?.externalParameters ?? {}) as { source?: Record<string, unknown>; recipe?: Record<string, unknown> };
  const subject = statement.subject[0];
  const hex = field(subject?.digest.sha256, 'subject sha256', (v): v is string => isSha256Hex(v));
  const source = external.source ?? {};
  const recipe = external.recipe ?? {};
  const sourceDep = predicate.buildDefinition?.resolvedDependencies?.find((d) => d.digest?.gitCommit === source.commit);
  const install = recipe.install === 'npm' ? 'npm' : 'none';
  return {
    subjectName: subject?.name ?? 'artifact',
    subjectDigest: digestFromHex(hex),
    repository: field(source.uri, 'source repository', isString),
    commit: field(source.commit, 'source commit', (v): v is string => typeof v === 'string' && /^[0-9a-f]{40,64}$/.test(v)),
    subdir: typeof source.subdir === 'string' ? source.subdir : '',
    treeDigest: sourceDep?.digest?.sha256 && isSha256Hex(sourceDep.digest.sha256) ? digestFromHex(sourceDep.digest.sha256) : null,
    recipe: {
      run: field(recipe.run, 'recipe', isString),
      output: field(recipe.output, 'recipe output', isString),
      install,
      format: recipe.format === 'zip' ? 'zip' : 'tgz',
    },
    builderId: field(predicate.runDetails?.builder?.id, 'builder id', isString),
  };
}

function sameRecipe(claim: ProvenanceClaim, config: ProjectConfig): boolean {
  return (
    claim.recipe.run === config.build.run &&
    claim.recipe.output === config.build.output &&
    claim.recipe.install === config.build.install &&
    claim.recipe.format === (config.build.format ?? 'tgz')
  );
}

/**
 * The independent rebuilder: takes the source from its own repository at the commit the
 * provenance names, builds it with the committed recipe, compares the digest with the
 * claimed one, and signs a VSA (PASSED only when the source, the recipe and the artifact all
 * match). When the claimed artifact is at hand, a mismatch is explained by named causes.
 */
export async function rebuildFromProvenance(options: RebuildOptions): Promise<RebuildOutcome> {
  const claim = provenanceClaim(options.provenance);
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'cairn-rebuild-'));
  const differences: RebuildDifference[] = [];
  let rebuilt: BuildResult | null = null;
  let causes: Cause[] = [];
  try {
    const projectDir = path.join(options.repository, ...claim.subdir.split('/').filter(Boolean));
    const snap = await snapshotCommit(projectDir, { rev: claim.commit, into: path.join(scratch, 'src') });
    if (claim.treeDigest && claim.treeDigest !== snap.snapshot.treeDigest) {
      differences.push({ kind: 'source', detail: `the commit's tree digests to ${snap.snapshot.treeDigest}, the provenance claims ${claim.treeDigest}` });
    }
    const { config } = await loadProjectConfig(snap.dir);
    if (!sameRecipe(claim, config)) {
      differences.push({
        kind: 'recipe',
        detail: `the provenance's recipe (${JSON.stringify(claim.recipe)}) is not the committed one (${JSON.stringify(config.build)})`,
      });
    }
    await mkdir(path.join(scratch, 'build'));
    const output = await runBuild({
      dir: snap.dir,
      scratch: path.join(scratch, 'build'),
      name: config.name,
      recipe: config.build,
      sourceDateEpoch: snap.snapshot.sourceDateEpoch,
      clock: options.now,
      ...(options.onLine ? { onLine: options.onLine } : {}),
    });
    rebuilt = output.result;
    if (output.result.artifact.digest !== claim.subjectDigest) {
      differences.push({ kind: 'artifact', detail: `rebuilt ${output.result.artifact.digest}, the provenance claims ${claim.subjectDigest}` });
      const claimed = options.claimedArtifact;
      if (claimed && sha256Digest(claimed) === claim.subjectDigest) {
        causes = [...explainArtifacts(claimed, output.artifact, { names: ['claimed', 'rebuilt'] }).causes];
      }
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  const result = differences.length === 0 ? 'PASSED' : 'FAILED';
  const statement = vsaStatement({
    subject: [{ name: claim.subjectName, digest: { sha256: digestHex(claim.subjectDigest) } }],
    verifierId: options.rebuilderId,
    verifierVersion: { cairn: options.cairnVersion },
    timeVerified: options.now(),
    resourceUri: `${claim.repository}@${claim.commit}#${claim.subdir}`,
    policy: { uri: 'https://cairn.dev/policy/rebuild/v1' },
    inputAttestations: [{ uri: `cairn-blob:${sha256Digest(options.provenance)}`, digest: { sha256: digestHex(sha256Digest(options.provenance)) } }],
    result,
    // A matching rebuild confirms the provenance's claims; it does not harden the original builder.
    verifiedLevels: result === 'PASSED' ? ['SLSA_BUILD_LEVEL_1'] : [],
  });
  const vsa = envelopeBytes(signStatement(statement, [options.rebuilderKey]));
  return { result, claim, rebuilt, differences, causes, vsa, vsaDigest: sha256Digest(vsa) };
}
