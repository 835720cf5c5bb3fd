import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { sha256Digest } from '../crypto/digest.js';
import type { Digest } from '../model/digest.js';
import { isCairnError } from '../model/errors.js';
import { parseJson, type JsonValue } from '../model/json.js';
import { assembleBundle, type BundleDocument, loadBundle } from './bundle.js';
import { type ExceptionDocument, type PolicySetDocument, parseYaml, policySetDocumentFrom } from './documents.js';
import { PolicyError } from './errors.js';
import { DOCUMENT_LIMITS } from './limits.js';
import { type LoadedTest, type PolicySuite, policyTestFrom } from './testing.js';

/** Folder of a policy directory whose documents are test material, never part of the bundle. */
export const TESTS_DIR = 'tests';

function posix(p: string): string {
  return p.split(path.sep).join('/');
}

async function listYaml(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.') || e.name === 'node_modules') continue;
      const full = path.join(dir, e.name);
      if (e.isDirectory()) await walk(full);
      else if (e.isFile() && /\.ya?ml$/.test(e.name)) out.push(full);
      if (out.length > DOCUMENT_LIMITS.maxFiles) throw new PolicyError('POLICY_BUNDLE_INVALID', `${root}: more than ${DOCUMENT_LIMITS.maxFiles} YAML files`);
    }
  };
  await walk(root);
  return out;
}

async function readCapped(file: string, max: number, what: string): Promise<Buffer> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (cause) {
    throw new PolicyError('POLICY_NOT_FOUND', `${what} ${file}: ${(cause as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause });
  }
  if (size > max) throw new PolicyError('POLICY_DOCUMENT_INVALID', `${what} ${file}: ${size} bytes, over the limit of ${max}`);
  return readFile(file);
}

/** Resolves a path a test file names, refusing one that leaves the policy directory. */
function inside(root: string, from: string, relative: string, what: string): string {
  const resolved = path.resolve(path.dirname(from), relative);
  if (resolved !== root && !resolved.startsWith(`${root}${path.sep}`)) {
    throw new PolicyError('POLICY_TEST_INVALID', `${posix(path.relative(root, from))}: ${what} ${relative} is outside the policy directory`);
  }
  return resolved;
}

/**
 * Reads the policy documents of a directory (every YAML file outside `tests/`) into a bundle,
 * and every PolicyTest document (anywhere) with the fixtures and test-only exceptions it
 * names. Problems in several documents are reported together.
 */
export async function loadPolicyDirectory(dir: string): Promise<PolicySuite> {
  const root = path.resolve(dir);
  const files = await listYaml(root);
  const digests = new Map<string, Digest>();
  const documents: PolicySetDocument[] = [];
  const tests: { file: string; doc: ReturnType<typeof policyTestFrom> }[] = [];
  const errors: PolicyError[] = [];
  for (const file of files) {
    const rel = posix(path.relative(root, file));
    const bytes = await readCapped(file, DOCUMENT_LIMITS.maxFileBytes, 'policy file');
    digests.set(rel, sha256Digest(bytes));
    const inTests = rel.split('/')[0] === TESTS_DIR;
    try {
      for (const doc of parseYaml(bytes.toString('utf8'), rel)) {
        const kind = (doc.value as { kind?: unknown } | null)?.kind;
        if (kind === 'PolicyTest') tests.push({ file, doc: policyTestFrom(doc) });
        else if (!inTests) documents.push(policySetDocumentFrom(doc));
      }
    } catch (error) {
      if (error instanceof PolicyError) errors.push(error);
      else throw error;
    }
  }
  if (errors.length > 0) {
    const first = errors[0] as PolicyError;
    if (errors.length === 1) throw first;
    throw new PolicyError(first.code as 'POLICY_DOCUMENT_INVALID', errors.map((e) => e.message).join('\n'), { problems: errors.flatMap((e) => e.problems) });
  }
  const bundle: BundleDocument = assembleBundle(documents);
  const loaded = loadBundle(bundle);
  const loadedTests: LoadedTest[] = [];
  for (const { file, doc } of tests) {
    const fixtures = new Map<string, JsonValue>();
    for (const [name, relative] of Object.entries(doc.spec.fixtures)) {
      const target = inside(root, file, relative, 'fixture');
      const bytes = await readCapped(target, DOCUMENT_LIMITS.maxFixtureBytes, 'fixture');
      digests.set(posix(path.relative(root, target)), sha256Digest(bytes));
      try {
        fixtures.set(name, parseJson(bytes, relative, { maxBytes: DOCUMENT_LIMITS.maxFixtureBytes, maxDepth: 64 }) as JsonValue);
      } catch (error) {
        throw new PolicyError(
          'POLICY_TEST_INVALID',
          `${posix(path.relative(root, file))}: fixture ${name}: ${error instanceof Error ? error.message : String(error)}`,
          {
            cause: error,
            problems: isCairnError(error) ? error.problems : [],
          },
        );
      }
    }
    const exceptions: ExceptionDocument[] = [];
    for (const relative of doc.spec.exceptions) {
      const target = inside(root, file, relative, 'exception file');
      const rel = posix(path.relative(root, target));
      const bytes = await readCapped(target, DOCUMENT_LIMITS.maxFileBytes, 'exception file');
      digests.set(rel, sha256Digest(bytes));
      for (const d of parseYaml(bytes.toString('utf8'), rel)) {
        const parsed = policySetDocumentFrom(d);
        if (parsed.kind !== 'PolicyException')
          throw new PolicyError('POLICY_TEST_INVALID', `${rel}: a test's exceptions file may hold only PolicyException documents`);
        exceptions.push(parsed);
      }
    }
    loadedTests.push({ file: posix(path.relative(root, file)), document: doc, fixtures, exceptions });
  }
  const list = [...digests.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([p, digest]) => ({ path: p, digest }));
  return { bundle, loaded, tests: loadedTests, files: list };
}
