/**
 * Builders shared by the policy tests: the default set's release fixture as a typed gate
 * input, and bundles written inline as YAML.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../testkit.js';
import { assembleBundle, type BundleDocument, type LoadedBundle, loadBundle } from './bundle.js';
import { parseYaml, type PolicySetDocument, policySetDocumentFrom } from './documents.js';
import { type GateInput, gateInputFromJSON } from './evidence.js';
import type { GateOptions } from './gate.js';

export const NOW = new Date('2026-03-01T00:00:00.000Z');
export const PROD: GateOptions = { point: 'deploy', environment: 'production', now: NOW };
export const DEFAULT_DIR = path.join(REPO_ROOT, 'policies/default');

const RELEASE_JSON = readFileSync(path.join(DEFAULT_DIR, 'tests/fixtures/release.json'), 'utf8');

/** A gate input every default policy accepts, as raw JSON (a fresh copy). */
export function releaseJson(): Record<string, unknown> {
  return JSON.parse(RELEASE_JSON) as Record<string, unknown>;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends object ? Mutable<T[K]> : T[K] };

/** The release fixture, typed, with `change` applied to a mutable copy. */
export function release(change: (input: Mutable<GateInput>) => void = () => {}): GateInput {
  const raw = releaseJson() as unknown as Mutable<GateInput>;
  change(raw);
  return gateInputFromJSON(raw);
}

export const MANIFEST = 'apiVersion: cairn.dev/v1\nkind: PolicyBundle\nmetadata: { name: test, version: 1 }\n';

/** Parses YAML documents (adding a test manifest when none is given) into a bundle document. */
export function bundleDocument(...yaml: string[]): BundleDocument {
  const docs: PolicySetDocument[] = yaml.flatMap((text, i) => parseYaml(text, `doc${i}.yaml`).map(policySetDocumentFrom));
  if (!docs.some((d) => d.kind === 'PolicyBundle')) docs.push(...parseYaml(MANIFEST, 'manifest.yaml').map(policySetDocumentFrom));
  return assembleBundle(docs);
}

export function bundle(...yaml: string[]): LoadedBundle {
  return loadBundle(bundleDocument(...yaml));
}

/** A one-validation policy `name` at deploy, bound with `action` everywhere. */
export function simplePolicy(name: string, expression: string, options: { action?: string; message?: string; extra?: string } = {}): string {
  return `apiVersion: cairn.dev/v1
kind: Policy
metadata: { name: ${name}, version: 1 }
spec:
  decisionPoint: deploy
${options.extra ?? ''}  validations:
    - id: ${name}-check
      expression: ${JSON.stringify(expression)}
      message: ${JSON.stringify(options.message ?? `${name} failed`)}
---
apiVersion: cairn.dev/v1
kind: PolicyBinding
metadata: { name: ${name} }
spec:
  policyRef: { name: ${name}, version: 1 }
  actions:
    - { point: deploy, action: ${options.action ?? 'deny'} }
`;
}
