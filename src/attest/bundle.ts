/**
 * Sigstore bundles (protobuf-specs `sigstore_bundle.proto`, JSON form) around cairn's DSSE
 * envelopes, so that Sigstore tooling can verify cairn's attestations and cairn can verify
 * theirs. cairn writes keyed v0.3 bundles only: the verifier's own key, found by the
 * `publicKey.hint`, no transparency-log entries and no timestamps, because cairn is offline.
 */
import type { KeyObject } from 'node:crypto';
import { decodeBase64Strict } from '../crypto/base64.js';
import { pae } from '../crypto/dsse.js';
import { keyAlgorithmOf, keyIdOf, verifyBytes } from '../crypto/keys.js';
import { type DsseEnvelope, envelopeFromJSON } from '../model/attestation.js';
import type { Digest } from '../model/digest.js';
import { CairnError, type CairnErrorOptions, type Problem } from '../model/errors.js';
import { Fields, joinPath } from '../model/fields.js';
import { parseJson } from '../model/json.js';
import { AttestError, type AttestErrorCode } from './errors.js';
import { envelopeBytes } from './sign.js';
import { type VerifiedAttestation, verifyAttestation } from './verify.js';

/** The media type cairn writes. */
export const BUNDLE_V03_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

export type BundleVersion = '0.1' | '0.2' | '0.3';

/** Every media type cairn reads, with the bundle version it names. */
export const BUNDLE_MEDIA_TYPES: Readonly<Record<string, BundleVersion>> = {
  [BUNDLE_V03_MEDIA_TYPE]: '0.3',
  'application/vnd.dev.sigstore.bundle+json;version=0.3': '0.3',
  'application/vnd.dev.sigstore.bundle+json;version=0.2': '0.2',
  'application/vnd.dev.sigstore.bundle+json;version=0.1': '0.1',
};

/** Codes raised here; `AttestErrorCode` in errors.ts is to list them too. */
export type BundleErrorCode = 'ATTEST_BUNDLE_MALFORMED' | 'ATTEST_BUNDLE_HINT_MISMATCH' | 'ATTEST_BUNDLE_UNSUPPORTED';

/** DER bytes of an X.509 certificate, base64. */
export interface BundleCertificate {
  readonly rawBytes: string;
}

export interface InclusionProof {
  /** int64 as a decimal string, as protobuf JSON writes it. */
  readonly logIndex: string;
  readonly rootHash: string;
  readonly treeSize: string;
  readonly hashes: readonly string[];
  readonly checkpoint?: { readonly envelope: string };
}

/** A transparency-log entry, carried through unverified: cairn trusts keys, not logs. */
export interface TransparencyLogEntry {
  readonly logIndex: string;
  readonly logId: { readonly keyId: string };
  readonly kindVersion: { readonly kind: string; readonly version: string };
  readonly integratedTime?: string;
  readonly inclusionPromise?: { readonly signedEntryTimestamp: string };
  readonly inclusionProof?: InclusionProof;
  readonly canonicalizedBody: string;
}

export interface TimestampVerificationData {
  readonly rfc3161Timestamps: readonly { readonly signedTimestamp: string }[];
}

/** Exactly one of a public-key hint (keyed), a leaf certificate (v0.3) or a chain (v0.1, v0.2). */
export type BundleKeyMaterial =
  | { readonly publicKey: { readonly hint?: string }; readonly certificate?: never; readonly x509CertificateChain?: never }
  | { readonly certificate: BundleCertificate; readonly publicKey?: never; readonly x509CertificateChain?: never }
  | { readonly x509CertificateChain: { readonly certificates: readonly BundleCertificate[] }; readonly publicKey?: never; readonly certificate?: never };

export type BundleVerificationMaterial = BundleKeyMaterial & {
  readonly tlogEntries: readonly TransparencyLogEntry[];
  readonly timestampVerificationData?: TimestampVerificationData;
};

export interface MessageSignature {
  readonly messageDigest?: { readonly algorithm: string; readonly digest: string };
  readonly signature: string;
}

/** A Sigstore bundle in its JSON form: `JSON.stringify` of it is the wire format. */
export type SigstoreBundle = {
  readonly mediaType: string;
  readonly verificationMaterial: BundleVerificationMaterial;
} & (
  | { readonly dsseEnvelope: DsseEnvelope; readonly messageSignature?: never }
  | { readonly messageSignature: MessageSignature; readonly dsseEnvelope?: never }
);

function bundleError(code: BundleErrorCode, message: string, options?: CairnErrorOptions): AttestError {
  // The bundle codes are not in AttestErrorCode yet; errors.ts is owned by another change.
  return new AttestError(code as string as AttestErrorCode, message, options);
}

/**
 * Wraps a one-signature DSSE envelope into a keyed v0.3 bundle whose hint is `publicKey`'s
 * key id. Refuses what a Sigstore verifier would reject: a signature that does not verify
 * with `publicKey` over the PAE (for ECDSA P-256: DER-encoded, SHA-256), or a DSSE `keyid` that
 * names another key. An empty `keyid` is set to the hint, as the bundle spec requires.
 */
export function bundleFromEnvelope(envelope: DsseEnvelope, publicKey: KeyObject): SigstoreBundle {
  if (envelope.signatures.length !== 1) {
    throw bundleError('ATTEST_BUNDLE_MALFORMED', `a Sigstore bundle carries exactly one DSSE signature, this envelope has ${envelope.signatures.length}`);
  }
  const [signature] = envelope.signatures as [DsseEnvelope['signatures'][number]];
  const hint = keyIdOf(publicKey);
  if (signature.keyid !== '' && signature.keyid !== hint) {
    throw bundleError('ATTEST_BUNDLE_HINT_MISMATCH', `the DSSE signature's keyid ${signature.keyid} is not the key id ${hint} of the given key`);
  }
  const payload = decodeBase64Strict(envelope.payload);
  const sig = decodeBase64Strict(signature.sig);
  if (payload === null || sig === null) throw bundleError('ATTEST_BUNDLE_MALFORMED', 'the envelope has a payload or signature that is not canonical base64');
  if (keyAlgorithmOf(publicKey) === null) {
    throw bundleError('ATTEST_BUNDLE_UNSUPPORTED', `cairn writes bundles for ed25519 and ECDSA P-256 keys, not ${publicKey.asymmetricKeyType ?? 'this key'}`);
  }
  const message = pae(envelope.payloadType, payload);
  if (!verifyBytes(publicKey, message, sig)) {
    const p1363 = verifyBytes(publicKey, message, sig, { allowP1363: true });
    throw new AttestError(
      'ATTEST_SIGNATURE_INVALID',
      p1363
        ? 'the ECDSA signature is IEEE P1363 (r‖s); Sigstore bundles carry DER-encoded ECDSA signatures'
        : 'the envelope signature does not verify with the given key',
    );
  }
  return {
    mediaType: BUNDLE_V03_MEDIA_TYPE,
    verificationMaterial: { publicKey: { hint }, tlogEntries: [] },
    dsseEnvelope: { payload: envelope.payload, payloadType: envelope.payloadType, signatures: [{ sig: signature.sig, keyid: hint }] },
  };
}

/** The bundle's file form: compact JSON and a final newline. */
export function bundleBytes(bundle: SigstoreBundle): Buffer {
  return Buffer.from(`${JSON.stringify(bundle)}\n`, 'utf8');
}

/**
 * Whether a parsed JSON document looks like a Sigstore bundle rather than a bare DSSE
 * envelope (shape only: the chosen parser then reports what is wrong with it).
 */
export function isBundle(raw: unknown): boolean {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return false;
  return 'mediaType' in raw || 'verificationMaterial' in raw || 'dsseEnvelope' in raw || 'messageSignature' in raw;
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const UINT64 = /^(0|[1-9][0-9]{0,18})$/;
const MAX_TLOG_ENTRIES = 32;
const MAX_TIMESTAMPS = 32;
const MAX_CERTIFICATES = 16;
const MAX_PROOF_HASHES = 64;
const KIB = 1024;

/**
 * Parses a Sigstore bundle (v0.1, v0.2 or v0.3, protobuf JSON form), reporting every bad or
 * unknown field at once as ATTEST_BUNDLE_MALFORMED. Beyond the schema it enforces the
 * spec's rules a verifier must check: a known media type, exactly one key material and one
 * content, exactly one DSSE signature, an inclusion proof with checkpoint for every log
 * entry from v0.2 on, and no certificate chain under v0.3.
 */
export function bundleFromJSON(raw: unknown): SigstoreBundle {
  const f = new Fields();
  const root = f.object(raw, '', ['mediaType', 'verificationMaterial', 'dsseEnvelope', 'messageSignature']);
  if (!root) return finish(f, undefined);
  const mediaType = f.string(root.mediaType, 'mediaType', { maxLength: 256 });
  const version = mediaType === undefined ? undefined : BUNDLE_MEDIA_TYPES[mediaType];
  if (mediaType !== undefined && version === undefined) {
    f.report('mediaType', 'UNSUPPORTED', `unknown bundle media type "${mediaType}" (cairn reads ${Object.keys(BUNDLE_MEDIA_TYPES).join(', ')})`);
  }
  const material = verificationMaterial(f, root.verificationMaterial, version);
  const content = bundleContent(f, root);
  if (mediaType === undefined || material === undefined || content === undefined) return finish(f, undefined);
  return finish(f, { mediaType, verificationMaterial: material, ...content } as SigstoreBundle);
}

function finish(f: Fields, bundle: SigstoreBundle | undefined): SigstoreBundle {
  try {
    return f.finish(bundle, 'ATTEST_BUNDLE_MALFORMED', 'Sigstore bundle');
  } catch (error) {
    if (error instanceof CairnError) throw bundleError('ATTEST_BUNDLE_MALFORMED', error.message, { cause: error, problems: error.problems });
    throw error;
  }
}

function exactlyOne(f: Fields, record: Record<string, unknown>, path: string, keys: readonly string[]): string | undefined {
  const present = keys.filter((k) => record[k] !== undefined);
  if (present.length === 1) return present[0];
  if (present.length === 0) f.report(path, 'MISSING', `needs one of ${keys.join(', ')}`);
  else f.report(path, 'INVALID_FORMAT', `has ${present.join(' and ')}; exactly one is allowed`);
  return undefined;
}

function base64(f: Fields, value: unknown, path: string, maxLength: number): string | undefined {
  return f.string(value, path, { maxLength, pattern: BASE64 });
}

/** An int64 as protobuf JSON writes it (a decimal string; a number is read too), never negative. */
function uint64(f: Fields, value: unknown, path: string): string | undefined {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return String(value);
    f.report(path, 'OUT_OF_RANGE', 'must be a non-negative integer');
    return undefined;
  }
  const text = f.string(value, path, { maxLength: 20 });
  if (text !== undefined && !UINT64.test(text)) {
    f.report(path, 'OUT_OF_RANGE', 'must be a non-negative decimal integer');
    return undefined;
  }
  return text;
}

function certificate(f: Fields, value: unknown, path: string): BundleCertificate | undefined {
  const o = f.object(value, path, ['rawBytes']);
  if (!o) return undefined;
  const rawBytes = base64(f, o.rawBytes, joinPath(path, 'rawBytes'), 64 * KIB);
  return rawBytes === undefined ? undefined : { rawBytes };
}

function verificationMaterial(f: Fields, value: unknown, version: BundleVersion | undefined): BundleVerificationMaterial | undefined {
  const path = 'verificationMaterial';
  const vm = f.object(value, path, ['publicKey', 'certificate', 'x509CertificateChain', 'tlogEntries', 'timestampVerificationData']);
  if (!vm) return undefined;
  let key: BundleKeyMaterial | undefined;
  switch (exactlyOne(f, vm, path, ['publicKey', 'certificate', 'x509CertificateChain'])) {
    case 'publicKey': {
      const pk = f.object(vm.publicKey, 'verificationMaterial.publicKey', ['hint']);
      const hint = f.optionalString(pk?.hint, 'verificationMaterial.publicKey.hint', { maxLength: 512, empty: true });
      if (pk) key = { publicKey: hint === undefined || hint === '' ? {} : { hint } };
      break;
    }
    case 'certificate': {
      const cert = certificate(f, vm.certificate, 'verificationMaterial.certificate');
      if (cert) key = { certificate: cert };
      break;
    }
    case 'x509CertificateChain': {
      const chainPath = 'verificationMaterial.x509CertificateChain';
      if (version === '0.3') f.report(chainPath, 'UNSUPPORTED', 'a v0.3 bundle carries a single leaf certificate, not a chain');
      const chain = f.object(vm.x509CertificateChain, chainPath, ['certificates']);
      const list = chain && f.array(chain.certificates, joinPath(chainPath, 'certificates'), MAX_CERTIFICATES);
      if (list?.length === 0) f.report(joinPath(chainPath, 'certificates'), 'EMPTY', 'a certificate chain needs at least one certificate');
      const certificates = (list ?? []).map((c, i) => certificate(f, c, joinPath(joinPath(chainPath, 'certificates'), i)));
      if (list) key = { x509CertificateChain: { certificates: certificates.filter((c): c is BundleCertificate => c !== undefined) } };
      break;
    }
  }
  // protobuf JSON omits an empty repeated field, so a missing tlogEntries is an empty list.
  const entries = vm.tlogEntries === undefined ? [] : (f.array(vm.tlogEntries, 'verificationMaterial.tlogEntries', MAX_TLOG_ENTRIES) ?? []);
  const tlogEntries = entries
    .map((e, i) => tlogEntry(f, e, joinPath('verificationMaterial.tlogEntries', i), version))
    .filter((e): e is TransparencyLogEntry => e !== undefined);
  const timestamps = vm.timestampVerificationData === undefined ? undefined : timestampData(f, vm.timestampVerificationData);
  if (!key) return undefined;
  return { ...key, tlogEntries, ...(timestamps === undefined ? {} : { timestampVerificationData: timestamps }) };
}

function tlogEntry(f: Fields, value: unknown, path: string, version: BundleVersion | undefined): TransparencyLogEntry | undefined {
  const e = f.object(value, path, ['logIndex', 'logId', 'kindVersion', 'integratedTime', 'inclusionPromise', 'inclusionProof', 'canonicalizedBody']);
  if (!e) return undefined;
  const logIndex = uint64(f, e.logIndex, joinPath(path, 'logIndex'));
  const logIdObject = f.object(e.logId, joinPath(path, 'logId'), ['keyId']);
  const keyId = logIdObject && base64(f, logIdObject.keyId, joinPath(path, 'logId.keyId'), 128);
  const kv = f.object(e.kindVersion, joinPath(path, 'kindVersion'), ['kind', 'version']);
  const kind = kv && f.string(kv.kind, joinPath(path, 'kindVersion.kind'), { maxLength: 64 });
  const kindVersion = kv && f.string(kv.version, joinPath(path, 'kindVersion.version'), { maxLength: 64 });
  const integratedTime = e.integratedTime === undefined ? undefined : uint64(f, e.integratedTime, joinPath(path, 'integratedTime'));
  let inclusionPromise: TransparencyLogEntry['inclusionPromise'];
  if (e.inclusionPromise !== undefined) {
    const p = f.object(e.inclusionPromise, joinPath(path, 'inclusionPromise'), ['signedEntryTimestamp']);
    const set = p && base64(f, p.signedEntryTimestamp, joinPath(path, 'inclusionPromise.signedEntryTimestamp'), 4 * KIB);
    if (set !== undefined) inclusionPromise = { signedEntryTimestamp: set };
  }
  const inclusionProof = e.inclusionProof === undefined ? undefined : proof(f, e.inclusionProof, joinPath(path, 'inclusionProof'));
  if (version === '0.1' && e.inclusionPromise === undefined)
    f.report(joinPath(path, 'inclusionPromise'), 'MISSING', 'a v0.1 log entry needs an inclusion promise');
  if (version !== undefined && version !== '0.1') {
    if (e.inclusionProof === undefined) f.report(joinPath(path, 'inclusionProof'), 'MISSING', `a v${version} log entry needs an inclusion proof`);
    else if (inclusionProof && !inclusionProof.checkpoint)
      f.report(joinPath(path, 'inclusionProof.checkpoint'), 'MISSING', `a v${version} inclusion proof needs a checkpoint`);
  }
  const canonicalizedBody = base64(f, e.canonicalizedBody, joinPath(path, 'canonicalizedBody'), 12 * KIB * KIB);
  if (logIndex === undefined || !keyId || !kind || !kindVersion || canonicalizedBody === undefined) return undefined;
  return {
    logIndex,
    logId: { keyId },
    kindVersion: { kind, version: kindVersion },
    ...(integratedTime === undefined ? {} : { integratedTime }),
    ...(inclusionPromise === undefined ? {} : { inclusionPromise }),
    ...(inclusionProof === undefined ? {} : { inclusionProof }),
    canonicalizedBody,
  };
}

function proof(f: Fields, value: unknown, path: string): InclusionProof | undefined {
  const p = f.object(value, path, ['logIndex', 'rootHash', 'treeSize', 'hashes', 'checkpoint']);
  if (!p) return undefined;
  const logIndex = uint64(f, p.logIndex, joinPath(path, 'logIndex'));
  const rootHash = base64(f, p.rootHash, joinPath(path, 'rootHash'), 128);
  const treeSize = uint64(f, p.treeSize, joinPath(path, 'treeSize'));
  const list = p.hashes === undefined ? [] : (f.array(p.hashes, joinPath(path, 'hashes'), MAX_PROOF_HASHES) ?? []);
  const hashes = list.map((h, i) => base64(f, h, joinPath(joinPath(path, 'hashes'), i), 128)).filter((h): h is string => h !== undefined);
  let checkpoint: InclusionProof['checkpoint'];
  if (p.checkpoint !== undefined) {
    const c = f.object(p.checkpoint, joinPath(path, 'checkpoint'), ['envelope']);
    const envelope = c && f.string(c.envelope, joinPath(path, 'checkpoint.envelope'), { maxLength: 16 * KIB });
    if (envelope !== undefined) checkpoint = { envelope };
  }
  if (logIndex === undefined || rootHash === undefined || treeSize === undefined) return undefined;
  return { logIndex, rootHash, treeSize, hashes, ...(checkpoint === undefined ? {} : { checkpoint }) };
}

function timestampData(f: Fields, value: unknown): TimestampVerificationData | undefined {
  const path = 'verificationMaterial.timestampVerificationData';
  const t = f.object(value, path, ['rfc3161Timestamps']);
  if (!t) return undefined;
  const list = t.rfc3161Timestamps === undefined ? [] : (f.array(t.rfc3161Timestamps, joinPath(path, 'rfc3161Timestamps'), MAX_TIMESTAMPS) ?? []);
  const rfc3161Timestamps = list
    .map((item, i) => {
      const itemPath = joinPath(joinPath(path, 'rfc3161Timestamps'), i);
      const o = f.object(item, itemPath, ['signedTimestamp']);
      const signedTimestamp = o && base64(f, o.signedTimestamp, joinPath(itemPath, 'signedTimestamp'), 32 * KIB);
      return signedTimestamp === undefined ? undefined : { signedTimestamp };
    })
    .filter((x): x is { signedTimestamp: string } => x !== undefined);
  return { rfc3161Timestamps };
}

function bundleContent(f: Fields, root: Record<string, unknown>): { dsseEnvelope: DsseEnvelope } | { messageSignature: MessageSignature } | undefined {
  switch (exactlyOne(f, root, '', ['dsseEnvelope', 'messageSignature'])) {
    case 'dsseEnvelope': {
      const envelope = nested(f, 'dsseEnvelope', () => envelopeFromJSON(root.dsseEnvelope));
      if (envelope && envelope.signatures.length !== 1) {
        f.report('dsseEnvelope.signatures', 'INVALID_FORMAT', `a bundle's DSSE envelope has exactly one signature, not ${envelope.signatures.length}`);
      }
      return envelope && { dsseEnvelope: envelope };
    }
    case 'messageSignature': {
      const path = 'messageSignature';
      const m = f.object(root.messageSignature, path, ['messageDigest', 'signature']);
      if (!m) return undefined;
      let messageDigest: MessageSignature['messageDigest'];
      if (m.messageDigest !== undefined) {
        const d = f.object(m.messageDigest, 'messageSignature.messageDigest', ['algorithm', 'digest']);
        const algorithm = d && f.string(d.algorithm, 'messageSignature.messageDigest.algorithm', { maxLength: 64 });
        const digest = d && base64(f, d.digest, 'messageSignature.messageDigest.digest', 256);
        if (algorithm && digest !== undefined) messageDigest = { algorithm, digest };
      }
      const signature = base64(f, m.signature, 'messageSignature.signature', 4 * KIB);
      if (signature === undefined) return undefined;
      return { messageSignature: messageDigest === undefined ? { signature } : { messageDigest, signature } };
    }
    default:
      return undefined;
  }
}

/** Runs another strict parser on a sub-document, re-rooting its problems under `path`. */
function nested<T>(f: Fields, path: string, parse: () => T): T | undefined {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof CairnError)) throw error;
    const problems: readonly Problem[] = error.problems.length > 0 ? error.problems : [{ code: error.code, path: '', message: error.message }];
    for (const p of problems) f.report(p.path === '' ? path : joinPath(path, p.path), p.code, p.message);
    return undefined;
  }
}

/**
 * The DSSE envelope a bundle carries and its public-key hint (null when the bundle names
 * its key by certificate, or gives an empty hint). A message-signature bundle has no
 * envelope: ATTEST_BUNDLE_UNSUPPORTED.
 */
export function envelopeFromBundle(bundle: SigstoreBundle): { envelope: DsseEnvelope; hint: string | null } {
  if (!bundle.dsseEnvelope) {
    throw bundleError('ATTEST_BUNDLE_UNSUPPORTED', 'the bundle carries a message signature, not a DSSE envelope: it is not an attestation');
  }
  const hint = bundle.verificationMaterial.publicKey?.hint ?? null;
  return { envelope: bundle.dsseEnvelope, hint };
}

export interface VerifiedBundle extends VerifiedAttestation {
  /** The bundle's public-key hint: the key id of the key whose signature verified. */
  readonly hint: string;
}

const BUNDLE_LIMITS = { maxBytes: 16 * 1024 * 1024, maxDepth: 32 };

/**
 * Verifies a keyed Sigstore bundle like a bare envelope (see verifyAttestation), and also
 * that its public-key hint equals both the DSSE signature's keyid and the id of the trusted
 * key that verified. Log entries and timestamps are not consulted: trust comes from the
 * keys. Certificate (keyless) bundles are ATTEST_BUNDLE_UNSUPPORTED.
 */
export function verifyBundle(bundleText: Uint8Array | string, artifactDigest: Digest, publicKeys: readonly KeyObject[]): VerifiedBundle {
  let raw: unknown;
  try {
    raw = parseJson(bundleText, 'Sigstore bundle', BUNDLE_LIMITS);
  } catch (error) {
    if (error instanceof CairnError) throw bundleError('ATTEST_BUNDLE_MALFORMED', error.message, { cause: error, problems: error.problems });
    throw error;
  }
  const bundle = bundleFromJSON(raw);
  const { envelope, hint } = envelopeFromBundle(bundle);
  if (hint === null) {
    if (!bundle.verificationMaterial.publicKey) {
      throw bundleError(
        'ATTEST_BUNDLE_UNSUPPORTED',
        'the bundle names its key by certificate; cairn verifies keyed bundles (publicKey.hint) against its own keys',
      );
    }
    throw bundleError('ATTEST_BUNDLE_HINT_MISMATCH', 'the bundle has an empty public-key hint; it must be the key id of the signing key');
  }
  const keyid = envelope.signatures[0]?.keyid ?? '';
  if (keyid !== '' && keyid !== hint) {
    throw bundleError('ATTEST_BUNDLE_HINT_MISMATCH', `the bundle's public-key hint ${hint} differs from the DSSE signature's keyid ${keyid}`);
  }
  const verified = verifyAttestation(envelopeBytes(envelope), artifactDigest, publicKeys);
  if (!verified.keyids.includes(hint)) {
    throw bundleError('ATTEST_BUNDLE_HINT_MISMATCH', `the bundle's public-key hint ${hint} is not the key that verified (${verified.keyids.join(', ')})`);
  }
  return { ...verified, hint };
}
