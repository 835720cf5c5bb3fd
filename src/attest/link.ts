/**
 * in-toto links (in-toto spec v0.9, the format in-toto 1.x reads) signed by cairn, so that a
 * cairn step can be one functionary of an in-toto layout. in-toto 1.3.1's `in-toto-verify`
 * reads only the legacy signed-metadata form ("Metablock": `{signatures, signed}`, the
 * signature over the canonical JSON of `signed`, hex-encoded), not DSSE, so that is the
 * form written here.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { sha256Hex } from '../crypto/digest.js';
import { keyAlgorithmOf, signBytes } from '../crypto/keys.js';
import { InputError } from '../model/errors.js';
import type { JsonValue } from '../model/json.js';

/** Artifact path → digest set (`{ sha256: <hex> }`). */
export type ArtifactDigests = Readonly<Record<string, Readonly<Record<string, string>>>>;

/** An in-toto v0.9 link: what one functionary ran, on which inputs, producing which outputs. */
export interface InTotoLink {
  readonly _type: 'link';
  readonly name: string;
  readonly command: readonly string[];
  readonly materials: ArtifactDigests;
  readonly products: ArtifactDigests;
  readonly byproducts: Readonly<Record<string, JsonValue>>;
  readonly environment: Readonly<Record<string, JsonValue>>;
}

export interface LinkInput {
  /** The layout step this link is evidence for. */
  readonly name: string;
  readonly command?: readonly string[];
  /** Artifact path → content; recorded by sha256. */
  readonly materials: Readonly<Record<string, Uint8Array>>;
  readonly products: Readonly<Record<string, Uint8Array>>;
  /** e.g. `{ "return-value": 0, stdout: "", stderr: "" }`, as in-toto-run records them. */
  readonly byproducts?: Readonly<Record<string, JsonValue>>;
  readonly environment?: Readonly<Record<string, JsonValue>>;
}

function digests(artifacts: Readonly<Record<string, Uint8Array>>): ArtifactDigests {
  return Object.fromEntries(Object.entries(artifacts).map(([path, bytes]) => [path, { sha256: sha256Hex(bytes) }]));
}

/** Builds a link from artifact contents (the caller reads the files). */
export function makeLink(input: LinkInput): InTotoLink {
  return {
    _type: 'link',
    name: input.name,
    command: input.command ?? [],
    materials: digests(input.materials),
    products: digests(input.products),
    byproducts: input.byproducts ?? {},
    environment: input.environment ?? {},
  };
}

/** A securesystemslib public key, as in-toto layouts list functionary keys. */
export interface SslibPublicKey {
  readonly keytype: 'ed25519' | 'ecdsa';
  readonly scheme: 'ed25519' | 'ecdsa-sha2-nistp256';
  readonly keyid_hash_algorithms: readonly ['sha256', 'sha512'];
  readonly keyval: { readonly public: string };
}

/**
 * The securesystemslib form of an ed25519 (hex of the raw 32 bytes) or P-256 (SPKI PEM
 * without the final newline) public key.
 */
export function sslibPublicKey(key: KeyObject): SslibPublicKey {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const algorithm = keyAlgorithmOf(publicKey);
  if (algorithm === 'ed25519') {
    const jwk = publicKey.export({ format: 'jwk' });
    return {
      keytype: 'ed25519',
      scheme: 'ed25519',
      keyid_hash_algorithms: ['sha256', 'sha512'],
      keyval: { public: Buffer.from(jwk.x ?? '', 'base64url').toString('hex') },
    };
  }
  if (algorithm === 'ecdsa-p256') {
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString().trim();
    return { keytype: 'ecdsa', scheme: 'ecdsa-sha2-nistp256', keyid_hash_algorithms: ['sha256', 'sha512'], keyval: { public: pem } };
  }
  throw new InputError('KEY_UNSUPPORTED', `in-toto links: unsupported key type ${publicKey.asymmetricKeyType ?? 'unknown'} (ed25519 or P-256)`);
}

/** securesystemslib's key id: hex SHA-256 of the canonical JSON of the public key. */
export function sslibKeyId(key: KeyObject): string {
  return createHash('sha256')
    .update(canonicalJson(sslibPublicKey(key) as unknown as JsonValue), 'utf8')
    .digest('hex');
}

export interface LinkMetablock {
  readonly signatures: readonly { readonly keyid: string; readonly sig: string }[];
  readonly signed: InTotoLink;
}

/**
 * Signs a link the way in-toto 1.x does: over the UTF-8 canonical JSON of the link, the
 * signature hex-encoded (ed25519 raw; ECDSA P-256 DER over SHA-256), keyid = sslib key id.
 */
export function signLink(link: InTotoLink, privateKey: KeyObject): LinkMetablock {
  const message = Buffer.from(canonicalJson(link as unknown as JsonValue), 'utf8');
  const sig = signBytes(privateKey, message).toString('hex');
  return { signatures: [{ keyid: sslibKeyId(privateKey), sig }], signed: link };
}

/** The file name in-toto-verify looks for: `<step>.<first 8 hex of keyid>.link`. */
export function linkFileName(step: string, keyid: string): string {
  return `${step}.${keyid.slice(0, 8)}.link`;
}

export function linkMetablockBytes(metablock: LinkMetablock): Buffer {
  return Buffer.from(`${JSON.stringify(metablock)}\n`, 'utf8');
}

function compareCodePoints(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = (x[i]?.codePointAt(0) ?? 0) - (y[i]?.codePointAt(0) ?? 0);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/**
 * OLPC canonical JSON as securesystemslib encodes it: keys sorted by code point, no
 * whitespace, only `"` and `\` escaped (other characters raw), integers only.
 */
export function canonicalJson(value: JsonValue): string {
  if (value === null) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TypeError(`canonical JSON has integers only, not ${value}`);
    return String(value);
  }
  if (typeof value === 'string') return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort(compareCodePoints);
  return `{${keys.map((k) => `${canonicalJson(k)}:${canonicalJson(value[k] as JsonValue)}`).join(',')}}`;
}
