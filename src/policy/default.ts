import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type PolicySetDocument, parseYaml, policySetDocumentFrom } from './documents.js';
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
