import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { API_VERSION, type BindingDocument, type PolicyDocument, type PolicySetDocument, parseYaml, policySetDocumentFrom } from './documents.js';
import { assembleBundle, type BundleDocument, type LoadedBundle, loadBundle } from './bundle.js';

/**
 * The default policy set ships in the repository at `policies/default` (its tests under
 * `policies/default/tests`). From `dist/src/policy/` that is three folders up.
 */
export const DEFAULT_POLICY_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../policies/default');

function readDefaultDocuments(dir: string): PolicySetDocument[] {
  const files = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => e.name)
    .sort();
  return files.flatMap((name) => parseYaml(readFileSync(path.join(dir, name), 'utf8'), name).map(policySetDocumentFrom));
}

let cached: { bundle: BundleDocument; loaded: LoadedBundle } | null = null;

/** The default policy set as a bundle document (read once, synchronously, from the repository). */
export function defaultBundleDocument(dir: string = DEFAULT_POLICY_DIR): BundleDocument {
  if (dir === DEFAULT_POLICY_DIR && cached) return cached.bundle;
  const bundle = assembleBundle(readDefaultDocuments(dir));
  if (dir === DEFAULT_POLICY_DIR) cached = { bundle, loaded: loadBundle(bundle) };
  return bundle;
}

/** The default policy set, compiled. */
export function defaultBundle(): LoadedBundle {
  defaultBundleDocument();
  return (cached as { loaded: LoadedBundle }).loaded;
}

/**
 * The part of the default set whose evidence the skeleton pipeline already gathers
 * (provenance and SBOM), as its own honestly named bundle. Used only by the deprecated
 * `evaluateBuiltinGate` until the pipeline fills the whole gate input.
 */
let transitional: LoadedBundle | null = null;
export const TRANSITIONAL_BINDINGS: readonly string[] = ['provenance', 'sbom'];

export function transitionalBundle(): LoadedBundle {
  if (transitional) return transitional;
  const full = defaultBundleDocument();
  const bindings: BindingDocument[] = full.bindings.filter((b) => TRANSITIONAL_BINDINGS.includes(b.metadata.name));
  const names = new Set(bindings.map((b) => b.spec.policyRef.name));
  const policies: PolicyDocument[] = full.policies.filter((p) => names.has(p.metadata.name));
  transitional = loadBundle(
    assembleBundle([
      {
        apiVersion: API_VERSION,
        kind: 'PolicyBundle',
        metadata: {
          name: `${full.metadata.name}-transitional`,
          version: full.metadata.version,
          description: 'provenance and SBOM policies of the default set',
        },
      },
      ...policies,
      ...bindings,
    ]),
  );
  return transitional;
}
