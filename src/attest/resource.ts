import type { ResourceDescriptor } from '../model/attestation.js';
import { type Fields, joinPath } from '../model/fields.js';

/** Hex lengths of the DigestSet algorithms whose form is fixed; others need only be non-empty. */
const HEX_LENGTHS: Readonly<Record<string, readonly number[]>> = {
  sha1: [40],
  sha224: [56],
  sha256: [64],
  sha384: [96],
  sha512: [128],
  sha512_224: [56],
  sha512_256: [64],
  sha3_224: [56],
  sha3_256: [64],
  sha3_384: [96],
  sha3_512: [128],
  gitCommit: [40, 64],
  gitTree: [40, 64],
  gitBlob: [40, 64],
};
const HEX = /^[0-9a-fA-F]+$/;
const MAX_DIGESTS = 32;

/** Caps shared by the predicate parsers. */
export const PREDICATE_LIMITS = {
  maxUri: 4096,
  maxDescriptors: 4096,
  maxTests: 100_000,
} as const;

/**
 * An in-toto DigestSet: algorithm → digest. Known hash algorithms must be lowercase-able hex
 * of their length; the values are returned lowercased.
 */
export function digestSetField(f: Fields, raw: unknown, path: string): Record<string, string> | undefined {
  const d = f.object(raw, path);
  if (!d) return undefined;
  const keys = Object.keys(d);
  if (keys.length === 0) {
    f.report(path, 'EMPTY', 'a digest set needs at least one digest');
    return undefined;
  }
  if (keys.length > MAX_DIGESTS) {
    f.report(path, 'TOO_MANY', `more than ${MAX_DIGESTS} digests`);
    return undefined;
  }
  const out: Record<string, string> = {};
  let ok = true;
  for (const alg of keys) {
    const p = joinPath(path, alg);
    const lengths = HEX_LENGTHS[alg];
    const value = f.string(d[alg], p, { maxLength: 512, ...(lengths ? { pattern: HEX } : {}) });
    if (value === undefined) {
      ok = false;
      continue;
    }
    if (lengths && !lengths.includes(value.length)) {
      f.report(p, 'INVALID_FORMAT', `a ${alg} digest has ${lengths.join(' or ')} hex digits`);
      ok = false;
      continue;
    }
    out[alg] = lengths ? value.toLowerCase() : value;
  }
  return ok ? out : undefined;
}

/**
 * An in-toto ResourceDescriptor: at least one of `uri`, `digest`, `content`. Unknown fields
 * are ignored, as the in-toto framework requires of consumers.
 */
export function resourceDescriptorField(f: Fields, raw: unknown, path: string): ResourceDescriptor | undefined {
  const r = f.object(raw, path);
  if (!r) return undefined;
  const before = f.problems.length;
  const uri = f.optionalString(r.uri, joinPath(path, 'uri'), { maxLength: PREDICATE_LIMITS.maxUri });
  const name = f.optionalString(r.name, joinPath(path, 'name'), { maxLength: 1024 });
  const digest = r.digest === undefined ? undefined : digestSetField(f, r.digest, joinPath(path, 'digest'));
  f.optionalString(r.downloadLocation, joinPath(path, 'downloadLocation'), { maxLength: PREDICATE_LIMITS.maxUri });
  f.optionalString(r.mediaType, joinPath(path, 'mediaType'), { maxLength: 256 });
  if (r.content !== undefined) f.string(r.content, joinPath(path, 'content'), { maxLength: 1024 * 1024, pattern: /^[A-Za-z0-9+/_-]*={0,2}$/, empty: true });
  const annotations = r.annotations === undefined ? undefined : f.object(r.annotations, joinPath(path, 'annotations'));
  if (uri === undefined && r.digest === undefined && r.content === undefined) {
    f.report(path, 'MISSING', 'a resource descriptor needs a uri, a digest or content');
  }
  if (f.problems.length > before) return undefined;
  return {
    ...(name !== undefined ? { name } : {}),
    ...(uri !== undefined ? { uri } : {}),
    ...(digest !== undefined ? { digest } : {}),
    ...(annotations !== undefined ? { annotations } : {}),
  };
}

/** A list of ResourceDescriptors, each checked. */
export function resourceListField(f: Fields, raw: unknown, path: string, max: number = PREDICATE_LIMITS.maxDescriptors): ResourceDescriptor[] | undefined {
  const list = f.array(raw, path, max);
  if (!list) return undefined;
  const out: ResourceDescriptor[] = [];
  let ok = true;
  list.forEach((item, i) => {
    const d = resourceDescriptorField(f, item, joinPath(path, i));
    if (d) out.push(d);
    else ok = false;
  });
  return ok ? out : undefined;
}

/** A list of strings (test names, levels). */
export function stringListField(f: Fields, raw: unknown, path: string, max: number, maxLength = 4096): string[] | undefined {
  const list = f.array(raw, path, max);
  if (!list) return undefined;
  const out: string[] = [];
  let ok = true;
  list.forEach((item, i) => {
    const s = f.string(item, joinPath(path, i), { maxLength, empty: true });
    if (s === undefined) ok = false;
    else out.push(s);
  });
  return ok ? out : undefined;
}

/** A map of string to string (builder.version, verifier.version). */
export function stringMapField(f: Fields, raw: unknown, path: string): Record<string, string> | undefined {
  const o = f.object(raw, path);
  if (!o) return undefined;
  const keys = Object.keys(o);
  if (keys.length > 256) {
    f.report(path, 'TOO_MANY', 'more than 256 entries');
    return undefined;
  }
  const out: Record<string, string> = {};
  let ok = true;
  for (const k of keys) {
    const v = f.string(o[k], joinPath(path, k), { maxLength: 1024, empty: true });
    if (v === undefined) ok = false;
    else out[k] = v;
  }
  return ok ? out : undefined;
}
