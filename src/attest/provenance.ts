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
import type { SourceSnapshot } from '../model/source.js';

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
          recipe: { run: build.recipe.run, output: build.recipe.output },
        },
        internalParameters: {
          sourceDateEpoch: source.sourceDateEpoch,
          environment: build.environment.variables,
          umask: build.environment.umask,
          platform: `${build.environment.platform}-${build.environment.arch}`,
          isolation: build.environment.isolation,
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
