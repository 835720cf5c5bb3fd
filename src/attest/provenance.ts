import type { BuildResult } from '../model/build.js';
import {
  CAIRN_BUILD_TYPE,
  IN_TOTO_STATEMENT_V1,
  SLSA_PROVENANCE_V1,
  type ResourceDescriptor,
  type SlsaProvenance,
  type Statement,
} from '../model/attestation.js';
import { digestHex } from '../model/digest.js';
import { Fields } from '../model/fields.js';
import type { SourceSnapshot } from '../model/source.js';
import { timeField, URI_PATTERN } from '../model/trust.js';
import { PREDICATE_LIMITS, resourceListField, stringMapField } from './resource.js';

export interface ProvenanceContext {
  /** URI naming the builder; trust in it comes from the key that signs, never from this claim. */
  readonly builderId: string;
  readonly invocationId: string;
  readonly cairnVersion: string;
}

/** An in-toto Statement v1 with an SLSA Provenance v1 predicate describing one build. */
export function provenanceStatement(source: SourceSnapshot, build: BuildResult, context: ProvenanceContext): Statement<SlsaProvenance> {
  const resolvedDependencies: ResourceDescriptor[] = [
    {
      uri: `${source.repository}@${source.commit}`,
      digest: { gitCommit: source.commit, sha256: digestHex(source.treeDigest) },
      annotations: { subdir: source.subdir, gitTree: source.gitTree },
    },
  ];
  if (build.lockfileDigest) {
    resolvedDependencies.push({ name: 'package-lock.json', digest: { sha256: digestHex(build.lockfileDigest) } });
  }
  // Every package cairn installed, pinned by the integrity it was checked against.
  for (const dep of build.dependencies) {
    const [algorithm, base64] = dep.integrity.split('-', 2);
    resolvedDependencies.push({
      uri: `pkg:npm/${dep.name.startsWith('@') ? `%40${dep.name.slice(1)}` : dep.name}@${dep.version}`,
      ...(algorithm && base64 ? { digest: { [algorithm]: Buffer.from(base64, 'base64').toString('hex') } } : {}),
      annotations: { path: dep.path },
    });
  }
  resolvedDependencies.push({ uri: `pkg:generic/node@${build.environment.node.replace(/^v/, '')}`, annotations: { npm: build.environment.npm } });
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ name: build.artifact.name, digest: { sha256: digestHex(build.artifact.digest) } }],
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: CAIRN_BUILD_TYPE,
        externalParameters: {
          source: { uri: source.repository, commit: source.commit, subdir: source.subdir },
          recipe: {
            run: build.recipe.run,
            output: build.recipe.output,
            install: build.recipe.install,
            ...(build.recipe.format ? { format: build.recipe.format } : {}),
          },
        },
        internalParameters: {
          sourceDateEpoch: source.sourceDateEpoch,
          environment: build.environment.variables,
          umask: build.environment.umask,
          platform: `${build.environment.platform}-${build.environment.arch}`,
          isolation: build.environment.isolation,
          isolationNotes: build.environment.isolationNotes,
          buildDir: build.environment.buildDir,
        },
        resolvedDependencies,
      },
      runDetails: {
        builder: { id: context.builderId, version: { cairn: context.cairnVersion } },
        metadata: { invocationId: context.invocationId, startedOn: build.startedAt, finishedOn: build.finishedAt },
      },
    },
  };
}

/** The keys of `externalParameters` in provenance of cairn's own buildType. */
export const CAIRN_EXTERNAL_PARAMETERS: readonly string[] = ['source', 'recipe'];

/**
 * Parses an SLSA Provenance v1 predicate, reporting every bad field with its path. Required:
 * `buildDefinition.buildType` (URI), `buildDefinition.externalParameters` (object),
 * `runDetails.builder.id` (URI); `metadata` times must be RFC 3339. Unknown fields are
 * ignored, as the in-toto framework requires of consumers.
 */
export function provenanceFromJSON(raw: unknown): SlsaProvenance {
  const f = new Fields();
  const root = f.object(raw, 'predicate');
  if (!root) return f.finish<SlsaProvenance>(undefined, 'ATTEST_PREDICATE_MALFORMED', 'SLSA provenance');
  const bd = f.object(root.buildDefinition, 'predicate.buildDefinition');
  const buildType = bd
    ? f.string(bd.buildType, 'predicate.buildDefinition.buildType', { maxLength: PREDICATE_LIMITS.maxUri, pattern: URI_PATTERN })
    : undefined;
  const externalParameters = bd ? f.object(bd.externalParameters, 'predicate.buildDefinition.externalParameters') : undefined;
  const internalParameters = bd?.internalParameters === undefined ? undefined : f.object(bd.internalParameters, 'predicate.buildDefinition.internalParameters');
  const resolvedDependencies =
    bd?.resolvedDependencies === undefined ? undefined : resourceListField(f, bd.resolvedDependencies, 'predicate.buildDefinition.resolvedDependencies');
  const rd = f.object(root.runDetails, 'predicate.runDetails');
  const builder = rd ? f.object(rd.builder, 'predicate.runDetails.builder') : undefined;
  const builderId = builder ? f.string(builder.id, 'predicate.runDetails.builder.id', { maxLength: PREDICATE_LIMITS.maxUri, pattern: URI_PATTERN }) : undefined;
  const version = builder?.version === undefined ? undefined : stringMapField(f, builder.version, 'predicate.runDetails.builder.version');
  if (builder?.builderDependencies !== undefined) resourceListField(f, builder.builderDependencies, 'predicate.runDetails.builder.builderDependencies');
  let metadata: { invocationId?: string; startedOn?: string; finishedOn?: string } | undefined;
  if (rd?.metadata !== undefined) {
    const m = f.object(rd.metadata, 'predicate.runDetails.metadata');
    if (m) {
      const invocationId = f.optionalString(m.invocationId, 'predicate.runDetails.metadata.invocationId', { maxLength: PREDICATE_LIMITS.maxUri });
      if (m.startedOn !== undefined) timeField(f, m.startedOn, 'predicate.runDetails.metadata.startedOn');
      if (m.finishedOn !== undefined) timeField(f, m.finishedOn, 'predicate.runDetails.metadata.finishedOn');
      metadata = {
        ...(invocationId !== undefined ? { invocationId } : {}),
        ...(typeof m.startedOn === 'string' ? { startedOn: m.startedOn } : {}),
        ...(typeof m.finishedOn === 'string' ? { finishedOn: m.finishedOn } : {}),
      };
    }
  }
  if (rd?.byproducts !== undefined) resourceListField(f, rd.byproducts, 'predicate.runDetails.byproducts');
  const provenance =
    buildType !== undefined && externalParameters !== undefined && builderId !== undefined
      ? {
          buildDefinition: {
            buildType,
            externalParameters,
            ...(internalParameters !== undefined ? { internalParameters } : {}),
            ...(resolvedDependencies !== undefined ? { resolvedDependencies } : {}),
          },
          runDetails: {
            builder: { id: builderId, ...(version !== undefined ? { version } : {}) },
            ...(metadata !== undefined ? { metadata } : {}),
          },
        }
      : undefined;
  return f.finish(provenance, 'ATTEST_PREDICATE_MALFORMED', 'SLSA provenance');
}

/** The source a provenance names: repository URI (no `git+`, no `@ref`) and commit, or null. */
export interface ProvenanceSource {
  readonly repository: string;
  readonly commit: string | null;
  /** Where it was read: `externalParameters.source` or `resolvedDependencies[i]`. */
  readonly from: string;
}

/** `git+https://host/o/r@refs/heads/main` → `https://host/o/r`. */
export function normaliseRepository(uri: string): string {
  const bare = uri.startsWith('git+') ? uri.slice(4) : uri;
  const schemeEnd = bare.indexOf('://');
  // The ref follows an "@" in the path; an "@" before the path is userinfo (git@host).
  const pathStart = bare.indexOf('/', schemeEnd < 0 ? 0 : schemeEnd + 3);
  const at = pathStart < 0 ? -1 : bare.indexOf('@', pathStart);
  return at < 0 ? bare : bare.slice(0, at);
}

/**
 * The primary source of a provenance: cairn's `externalParameters.source` {uri, commit} when
 * present, else the first resolved dependency with a `gitCommit` digest.
 */
export function provenanceSource(provenance: SlsaProvenance): ProvenanceSource | null {
  const source = provenance.buildDefinition.externalParameters.source;
  if (typeof source === 'object' && source !== null && !Array.isArray(source)) {
    const s = source as Record<string, unknown>;
    if (typeof s.uri === 'string') {
      return {
        repository: normaliseRepository(s.uri),
        commit: typeof s.commit === 'string' ? s.commit.toLowerCase() : null,
        from: 'externalParameters.source',
      };
    }
  }
  const deps = provenance.buildDefinition.resolvedDependencies ?? [];
  for (let i = 0; i < deps.length; i++) {
    const dep = deps[i];
    const commit = dep?.digest?.gitCommit;
    if (dep?.uri !== undefined && commit !== undefined) {
      return { repository: normaliseRepository(dep.uri), commit: commit.toLowerCase(), from: `resolvedDependencies[${i}]` };
    }
  }
  return null;
}
