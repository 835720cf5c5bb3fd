/**
 * C2SP signed notes (signed-note v1.0.0) with Ed25519, transparency-log checkpoints
 * (tlog-checkpoint v1.0.0), witness cosignatures (tlog-cosignature v1.0.1, signature type
 * 0x04) and offline proofs (c2sp.org/tlog-proof@v1). Pure: no I/O, no clock.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign as ed25519Sign, verify as ed25519Verify } from 'node:crypto';
import type { Problem } from '../model/errors.js';
import { decodeBase64Strict, encodeBase64 } from './base64.js';
import { NoteError } from './errors.js';
import { HASH_SIZE, verifyInclusion } from './merkle.js';

/** Signature type byte of plain Ed25519 note signatures (signed-note §Ed25519 signatures). */
export const SIGNATURE_TYPE_ED25519 = 0x01;
/** Signature type byte of timestamped Ed25519 witness cosignatures (tlog-cosignature v1). */
export const SIGNATURE_TYPE_COSIGNATURE_V1 = 0x04;
export type NoteSignatureType = typeof SIGNATURE_TYPE_ED25519 | typeof SIGNATURE_TYPE_COSIGNATURE_V1;

/** Default cap on signature lines, as golang.org/x/mod/sumdb/note (the spec requires at least 16). */
export const DEFAULT_MAX_SIGNATURES = 100;
/** Default cap on a note's (or a proof's) size in bytes. */
export const DEFAULT_MAX_NOTE_SIZE = 1024 * 1024;
/** Most inclusion-proof hashes a tlog proof may carry (enough for a 2^64 − 1 leaf tree). */
export const MAX_PROOF_LINES = 64;

const SIG_PREFIX = '\u2014 ';
const PRIVATE_KEY_PREFIX = 'PRIVATE+KEY+';
const PROOF_HEADER = 'c2sp.org/tlog-proof@v1';
/** `time` values above this cannot be held in a number; they are ~285 million years ahead, and the spec lets verifiers refuse future times. */
const MAX_TIMESTAMP = Number.MAX_SAFE_INTEGER;
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

const STANDARD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const CONTROL = /[\u0000-\u0009\u000b-\u001f]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const WHITE_SPACE = /\p{White_Space}/u;
const DECIMAL = /^(?:0|[1-9][0-9]*)$/;
const HEX_KEY_ID = /^[0-9a-f]{8}$/;

/** Standard base64 (RFC 4648 §4) with padding, canonical; null for anything else. */
function decodeStandardBase64(text: string): Buffer | null {
  return STANDARD_BASE64.test(text) ? decodeBase64Strict(text) : null;
}

/** Key names: non-empty, well-formed, no Unicode white space, no `+`, no control characters. */
export function isValidKeyName(name: string): boolean {
  return name !== '' && !WHITE_SPACE.test(name) && !name.includes('+') && !CONTROL.test(name) && !LONE_SURROGATE.test(name);
}

function keyIdHex(keyId: number): string {
  return keyId.toString(16).padStart(8, '0');
}

function parseDecimal(text: string): number | null {
  if (!DECIMAL.test(text)) return null;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : null;
}

// ---------------------------------------------------------------------------------------
// Keys

/** `SHA-256(name || 0x0A || type || publicKey)[:4]` as a big-endian uint32. */
export function noteKeyId(name: string, type: number, publicKey: Uint8Array): number {
  return createHash('sha256')
    .update(name, 'utf8')
    .update(Buffer.from([0x0a, type]))
    .update(publicKey)
    .digest()
    .readUInt32BE(0);
}

/** A key that checks note signatures: the (name, key id) pair selects it, `type` fixes what it signs. */
export interface NoteVerifier {
  readonly name: string;
  readonly keyId: number;
  readonly type: NoteSignatureType;
  /** The raw 32-byte Ed25519 public key. */
  readonly publicKey: Buffer;
  readonly key: KeyObject;
}

/**
 * Something that makes Ed25519 signatures under a name: a key held in memory (from
 * {@link parseSignerKey}) or one held elsewhere. `keyId` is the type-0x01 key id.
 */
export interface NoteSigner {
  readonly name: string;
  readonly keyId: number;
  /** The raw 32-byte Ed25519 public key. */
  readonly publicKey: Buffer;
  /** The 64-byte Ed25519 signature of `message`. */
  sign(message: Uint8Array): Buffer;
}

function ed25519PublicKeyObject(publicKey: Uint8Array): KeyObject {
  try {
    return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new NoteError('KEY_MALFORMED', 'not a usable Ed25519 public key', { cause });
  }
}

/** A verifier for `name` and a raw Ed25519 public key, for plain signatures (0x01) or cosignatures (0x04). */
export function noteVerifierFromPublicKey(name: string, publicKey: Uint8Array, type: NoteSignatureType = SIGNATURE_TYPE_ED25519): NoteVerifier {
  if (!isValidKeyName(name)) throw new NoteError('KEY_MALFORMED', `key name ${JSON.stringify(name)} is empty or has spaces, "+" or control characters`);
  if (publicKey.length !== 32) throw new NoteError('KEY_MALFORMED', `an Ed25519 public key is 32 bytes, got ${publicKey.length}`);
  const raw = Buffer.from(publicKey);
  return { name, keyId: noteKeyId(name, type, raw), type, publicKey: raw, key: ed25519PublicKeyObject(raw) };
}

/** A signer for `name` from a raw 32-byte Ed25519 seed (the RFC 8032 private key). */
export function noteSignerFromSeed(name: string, seed: Uint8Array): NoteSigner {
  if (!isValidKeyName(name)) throw new NoteError('KEY_MALFORMED', `key name ${JSON.stringify(name)} is empty or has spaces, "+" or control characters`);
  if (seed.length !== 32) throw new NoteError('KEY_MALFORMED', `an Ed25519 seed is 32 bytes, got ${seed.length}`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  } catch (cause) {
    throw new NoteError('KEY_MALFORMED', 'not a usable Ed25519 seed', { cause });
  }
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  const publicKey = Buffer.from(spki.subarray(spki.length - 32));
  return {
    name,
    keyId: noteKeyId(name, SIGNATURE_TYPE_ED25519, publicKey),
    publicKey,
    sign: (message) => ed25519Sign(null, message, privateKey),
  };
}

/** Parses a verifier key `<name>+<hex key id>+<base64(type || public key)>` (types 0x01 and 0x04). */
export function parseVerifierKey(vkey: string): NoteVerifier {
  const first = vkey.indexOf('+');
  const second = first < 0 ? -1 : vkey.indexOf('+', first + 1);
  if (second < 0) throw new NoteError('KEY_MALFORMED', 'a verifier key is <name>+<key id>+<base64 key>');
  const name = vkey.slice(0, first);
  const id = vkey.slice(first + 1, second);
  const material = decodeStandardBase64(vkey.slice(second + 1));
  if (!isValidKeyName(name) || !HEX_KEY_ID.test(id) || material === null || material.length < 1) {
    throw new NoteError('KEY_MALFORMED', 'a verifier key is <name>+<8 lowercase hex digits>+<standard base64 of type byte and key>');
  }
  const type = material[0] as number;
  if (type !== SIGNATURE_TYPE_ED25519 && type !== SIGNATURE_TYPE_COSIGNATURE_V1) {
    throw new NoteError('KEY_UNSUPPORTED', `verifier key ${name}: signature type 0x${type.toString(16).padStart(2, '0')} is not supported (0x01, 0x04)`);
  }
  if (material.length !== 33) throw new NoteError('KEY_MALFORMED', `verifier key ${name}: an Ed25519 key is 32 bytes, got ${material.length - 1}`);
  const verifier = noteVerifierFromPublicKey(name, material.subarray(1), type);
  if (keyIdHex(verifier.keyId) !== id)
    throw new NoteError('KEY_MALFORMED', `verifier key ${name}: key id ${id} does not match the key (${keyIdHex(verifier.keyId)})`);
  return verifier;
}

/** The verifier key text `<name>+<hex key id>+<base64(type || public key)>`. */
export function formatVerifierKey(verifier: Pick<NoteVerifier, 'name' | 'publicKey'> & { readonly type?: NoteSignatureType }): string {
  const type = verifier.type ?? SIGNATURE_TYPE_ED25519;
  const v = noteVerifierFromPublicKey(verifier.name, verifier.publicKey, type);
  return `${v.name}+${keyIdHex(v.keyId)}+${encodeBase64(Buffer.concat([Buffer.from([type]), v.publicKey]))}`;
}

/** Parses a signer key `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>` as golang.org/x/mod/sumdb/note writes them. */
export function parseSignerKey(skey: string): NoteSigner {
  // Never echo the key text: it is a secret.
  if (!skey.startsWith(PRIVATE_KEY_PREFIX)) throw new NoteError('KEY_MALFORMED', 'a signer key starts with PRIVATE+KEY+');
  const rest = skey.slice(PRIVATE_KEY_PREFIX.length);
  const first = rest.indexOf('+');
  const second = first < 0 ? -1 : rest.indexOf('+', first + 1);
  if (second < 0) throw new NoteError('KEY_MALFORMED', 'a signer key is PRIVATE+KEY+<name>+<key id>+<base64 key>');
  const name = rest.slice(0, first);
  const id = rest.slice(first + 1, second);
  const material = decodeStandardBase64(rest.slice(second + 1));
  if (!isValidKeyName(name) || !HEX_KEY_ID.test(id) || material === null || material.length < 1) {
    throw new NoteError('KEY_MALFORMED', 'a signer key is PRIVATE+KEY+<name>+<8 lowercase hex digits>+<standard base64 of type byte and seed>');
  }
  if (material[0] !== SIGNATURE_TYPE_ED25519) throw new NoteError('KEY_UNSUPPORTED', `signer key ${name}: only Ed25519 (type 0x01) signer keys are supported`);
  if (material.length !== 33) throw new NoteError('KEY_MALFORMED', `signer key ${name}: an Ed25519 seed is 32 bytes`);
  const signer = noteSignerFromSeed(name, material.subarray(1));
  if (keyIdHex(signer.keyId) !== id) throw new NoteError('KEY_MALFORMED', `signer key ${name}: key id ${id} does not match the key`);
  return signer;
}

/** The signer key text `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>`. */
export function formatSignerKey(name: string, seed: Uint8Array): string {
  const signer = noteSignerFromSeed(name, seed);
  return `${PRIVATE_KEY_PREFIX}${name}+${keyIdHex(signer.keyId)}+${encodeBase64(Buffer.concat([Buffer.from([SIGNATURE_TYPE_ED25519]), seed]))}`;
}

/** A fresh Ed25519 key pair for `name`, as signer and verifier key texts. */
export function generateNoteKey(name: string): { readonly signerKey: string; readonly verifierKey: string } {
  const { privateKey } = generateKeyPairSync('ed25519');
  const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d as string, 'base64url');
  const signer = noteSignerFromSeed(name, seed);
  return { signerKey: formatSignerKey(name, seed), verifierKey: formatVerifierKey(signer) };
}

// ---------------------------------------------------------------------------------------
// Notes

/** One signature line: who claims to have signed, and the bytes after the key id. */
export interface NoteSignature {
  readonly name: string;
  readonly keyId: number;
  readonly signature: Buffer;
  /** The signature line without its newline, exactly as in the note. */
  readonly line: string;
}

/** A signature a known key verified; cosignatures carry the witness's timestamp (POSIX seconds). */
export interface VerifiedSignature extends NoteSignature {
  readonly type: NoteSignatureType;
  readonly timestamp?: number;
}

/** A note taken apart without checking any signature. */
export interface ParsedNote {
  readonly text: string;
  readonly signatures: readonly NoteSignature[];
}

export interface OpenedNote {
  readonly text: string;
  /** Signatures by known keys, each key once, in note order. */
  readonly verified: readonly VerifiedSignature[];
  /** Signatures by keys not configured, identical lines once, in note order: ignored, but kept. */
  readonly unverified: readonly NoteSignature[];
}

export interface NoteLimits {
  /** At least 16 (the spec's floor); default 100. */
  readonly maxSignatures?: number;
  /** Bytes; default 1 MiB. */
  readonly maxSize?: number;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** UTF-8 bytes of the input; a string with lone surrogates is not UTF-8 text. */
function noteBytes(input: Uint8Array | string, code: 'NOTE_MALFORMED' | 'PROOF_MALFORMED'): Buffer {
  if (typeof input !== 'string') return Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (LONE_SURROGATE.test(input)) throw new NoteError(code, 'text is not valid Unicode (lone surrogate)');
  return Buffer.from(input, 'utf8');
}

function decodeText(bytes: Uint8Array, code: 'NOTE_MALFORMED' | 'PROOF_MALFORMED' | 'CHECKPOINT_MALFORMED'): string {
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch (cause) {
    throw new NoteError(code, 'text is not valid UTF-8', { cause });
  }
  if (CONTROL.test(text)) throw new NoteError(code, 'text holds a control character other than newline');
  return text;
}

function limitsOf(limits: NoteLimits): { maxSignatures: number; maxSize: number } {
  const maxSignatures = limits.maxSignatures ?? DEFAULT_MAX_SIGNATURES;
  if (!Number.isInteger(maxSignatures) || maxSignatures < 16) throw new RangeError('maxSignatures must be at least 16 (signed-note v1.0.0)');
  return { maxSignatures, maxSize: limits.maxSize ?? DEFAULT_MAX_NOTE_SIZE };
}

/** Parses one signature line (without its newline). */
function parseSignatureLine(line: string): NoteSignature {
  if (!line.startsWith(SIG_PREFIX)) throw new NoteError('NOTE_MALFORMED', 'a signature line starts with an em dash (U+2014) and a space');
  const body = line.slice(SIG_PREFIX.length);
  const space = body.indexOf(' ');
  const name = space < 0 ? body : body.slice(0, space);
  const bytes = space < 0 ? null : decodeStandardBase64(body.slice(space + 1));
  if (!isValidKeyName(name)) throw new NoteError('NOTE_MALFORMED', `signature line: bad key name ${JSON.stringify(name)}`);
  if (bytes === null || bytes.length < 5) throw new NoteError('NOTE_MALFORMED', `signature line of ${name}: not standard base64 of a key id and a signature`);
  return { name, keyId: bytes.readUInt32BE(0), signature: Buffer.from(bytes.subarray(4)), line };
}

/**
 * Takes a signed note apart (text, then the last blank line, then signature lines)
 * checking only its syntax: UTF-8, no control characters but newline, the caps.
 */
export function parseNote(note: Uint8Array | string, limits: NoteLimits = {}): ParsedNote {
  const { maxSignatures, maxSize } = limitsOf(limits);
  const bytes = noteBytes(note, 'NOTE_MALFORMED');
  if (bytes.length > maxSize) throw new NoteError('NOTE_TOO_LARGE', `note is ${bytes.length} bytes, over the ${maxSize}-byte cap`);
  const all = decodeText(bytes, 'NOTE_MALFORMED');
  const split = all.lastIndexOf('\n\n');
  if (split < 0) throw new NoteError('NOTE_MALFORMED', 'no blank line before the signatures');
  const text = all.slice(0, split + 1);
  const block = all.slice(split + 2);
  if (block === '' || !block.endsWith('\n')) throw new NoteError('NOTE_MALFORMED', 'the signature block is empty or does not end in a newline');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > maxSignatures) throw new NoteError('NOTE_TOO_LARGE', `note has ${lines.length} signatures, over the cap of ${maxSignatures}`);
  return { text, signatures: lines.map(parseSignatureLine) };
}

/** The message a cosignature v1 signs: `cosignature/v1\ntime <t>\n` then the checkpoint body. */
export function cosignatureMessage(checkpointText: string, timestamp: number): Buffer {
  return Buffer.from(`cosignature/v1\ntime ${timestamp}\n${checkpointText}`, 'utf8');
}

/**
 * The timestamp (POSIX seconds) a cosignature v1 carries, read without verifying it;
 * `signature` is the bytes after the key id. Only for display: trust it once verified.
 */
export function cosignatureTimestamp(signature: Uint8Array): number {
  if (signature.length !== 72) throw new NoteError('NOTE_MALFORMED', `a cosignature v1 is 8 + 64 bytes after the key id, got ${signature.length}`);
  const timestamp = Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength).readBigUInt64BE(0);
  if (timestamp > BigInt(MAX_TIMESTAMP)) throw new NoteError('NOTE_MALFORMED', 'the cosignature timestamp is beyond 2^53 − 1 seconds');
  return Number(timestamp);
}

/** Checks one signature by a verifier whose name and key id match it; the timestamp for cosignatures. */
function checkSignature(verifier: NoteVerifier, text: string, signature: Buffer): { ok: boolean; timestamp?: number } {
  if (verifier.type === SIGNATURE_TYPE_ED25519) {
    return { ok: signature.length === 64 && ed25519Verify(null, Buffer.from(text, 'utf8'), verifier.key, signature) };
  }
  if (signature.length !== 72) return { ok: false };
  const timestamp = signature.readBigUInt64BE(0);
  if (timestamp > BigInt(MAX_TIMESTAMP)) return { ok: false };
  const seconds = Number(timestamp);
  return { ok: ed25519Verify(null, cosignatureMessage(text, seconds), verifier.key, signature.subarray(8)), timestamp: seconds };
}

function sameKey(a: NoteVerifier, b: NoteVerifier): boolean {
  return a.type === b.type && a.publicKey.equals(b.publicKey);
}

/**
 * Opens a signed note: every signature whose name and key id match a known key must verify
 * (else NOTE_SIGNATURE_INVALID); unknown keys' signatures are kept apart, unchecked; at
 * least one known key must have signed (else NOTE_UNKNOWN_KEY).
 */
export function openNote(note: Uint8Array | string, verifiers: readonly NoteVerifier[], limits: NoteLimits = {}): OpenedNote {
  const { text, signatures } = parseNote(note, limits);
  const verified: VerifiedSignature[] = [];
  const unverified: NoteSignature[] = [];
  const seenKeys = new Set<string>();
  const seenLines = new Set<string>();
  for (const sig of signatures) {
    const matches = verifiers.filter((v) => v.name === sig.name && v.keyId === sig.keyId);
    const verifier = matches[0];
    if (verifier === undefined) {
      if (!seenLines.has(sig.line)) unverified.push(sig);
      seenLines.add(sig.line);
      continue;
    }
    if (matches.some((v) => !sameKey(v, verifier))) {
      throw new NoteError('NOTE_AMBIGUOUS_KEY', `more than one known key is named ${sig.name}+${keyIdHex(sig.keyId)}`);
    }
    const { ok, timestamp } = checkSignature(verifier, text, sig.signature);
    if (!ok) throw new NoteError('NOTE_SIGNATURE_INVALID', `the signature of ${sig.name}+${keyIdHex(sig.keyId)} does not verify`);
    const key = `${sig.name}+${sig.keyId}`;
    if (seenKeys.has(key)) continue;
    seenKeys.add(key);
    verified.push(timestamp === undefined ? { ...sig, type: verifier.type } : { ...sig, type: verifier.type, timestamp });
  }
  if (verified.length === 0) {
    const names = [...new Set(signatures.map((s) => `${s.name}+${keyIdHex(s.keyId)}`))].join(', ');
    throw new NoteError('NOTE_UNKNOWN_KEY', `no signature by a known key (signed by: ${names})`);
  }
  return { text, verified, unverified };
}

function checkNoteText(text: string): void {
  if (!text.endsWith('\n')) throw new NoteError('NOTE_MALFORMED', 'note text must end in a newline');
  if (LONE_SURROGATE.test(text)) throw new NoteError('NOTE_MALFORMED', 'note text is not valid Unicode (lone surrogate)');
  if (CONTROL.test(text)) throw new NoteError('NOTE_MALFORMED', 'note text holds a control character other than newline');
}

function signatureLine(name: string, keyId: number, signature: Uint8Array): string {
  const bytes = Buffer.alloc(4 + signature.length);
  bytes.writeUInt32BE(keyId, 0);
  bytes.set(signature, 4);
  return `${SIG_PREFIX}${name} ${encodeBase64(bytes)}\n`;
}

/** Signs `text` (which must end in a newline) with each signer, in order; returns the signed note. */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  checkNoteText(text);
  if (signers.length === 0) throw new NoteError('NOTE_MALFORMED', 'a note needs at least one signature');
  const message = Buffer.from(text, 'utf8');
  const lines = signers.map((signer) => {
    if (!isValidKeyName(signer.name)) throw new NoteError('KEY_MALFORMED', `signer name ${JSON.stringify(signer.name)} is not a valid key name`);
    return signatureLine(signer.name, signer.keyId, signer.sign(message));
  });
  return `${text}\n${lines.join('')}`;
}

// ---------------------------------------------------------------------------------------
// Checkpoints

/** A transparency log's signed tree head body (tlog-checkpoint v1.0.0). */
export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Buffer;
  /** Opaque lines after the root hash, each non-empty. */
  readonly extensions: readonly string[];
}

export interface CheckpointInput {
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Uint8Array;
  readonly extensions?: readonly string[];
}

function checkpointProblems(input: CheckpointInput): Problem[] {
  const problems: Problem[] = [];
  const line = (value: string, where: string) => {
    if (value === '') problems.push({ code: 'EMPTY', path: where, message: 'must not be empty' });
    else if (value.includes('\n') || CONTROL.test(value) || LONE_SURROGATE.test(value)) {
      problems.push({ code: 'INVALID_FORMAT', path: where, message: 'must be one line of text without control characters' });
    }
  };
  line(input.origin, 'origin');
  if (!Number.isSafeInteger(input.size) || input.size < 0)
    problems.push({ code: 'OUT_OF_RANGE', path: 'size', message: 'must be an integer from 0 to 2^53 − 1' });
  if (input.rootHash.length !== HASH_SIZE) problems.push({ code: 'INVALID_FORMAT', path: 'rootHash', message: `must be ${HASH_SIZE} bytes` });
  for (const [i, ext] of (input.extensions ?? []).entries()) line(ext, `extensions[${i}]`);
  return problems;
}

function malformedCheckpoint(problems: readonly Problem[]): NoteError {
  const summary = problems.map((p) => (p.path === '' ? p.message : `${p.path}: ${p.message}`)).join('; ');
  return new NoteError('CHECKPOINT_MALFORMED', `not a checkpoint: ${summary}`, { problems });
}

/** The checkpoint body: origin, decimal size, base64 root hash, extension lines, each newline-terminated. */
export function formatCheckpoint(input: CheckpointInput): string {
  const problems = checkpointProblems(input);
  if (problems.length > 0) throw malformedCheckpoint(problems);
  const lines = [input.origin, String(input.size), encodeBase64(input.rootHash), ...(input.extensions ?? [])];
  return `${lines.join('\n')}\n`;
}

/** Parses a checkpoint body strictly; CHECKPOINT_MALFORMED lists every bad field. */
export function parseCheckpoint(text: string): Checkpoint {
  if (LONE_SURROGATE.test(text) || CONTROL.test(text))
    throw malformedCheckpoint([{ code: 'INVALID_FORMAT', path: '', message: 'holds control characters or is not valid Unicode' }]);
  if (!text.endsWith('\n')) throw malformedCheckpoint([{ code: 'INVALID_FORMAT', path: '', message: 'must end in a newline' }]);
  const [origin = '', sizeText, rootText, ...extensions] = text.slice(0, -1).split('\n');
  const problems: Problem[] = [];
  if (origin === '') problems.push({ code: 'EMPTY', path: 'origin', message: 'must not be empty' });
  const size = sizeText === undefined ? null : parseDecimal(sizeText);
  if (sizeText === undefined) problems.push({ code: 'MISSING', path: 'size', message: 'no tree size line' });
  else if (size === null) problems.push({ code: 'INVALID_FORMAT', path: 'size', message: 'must be a decimal from 0 to 2^53 − 1 without leading zeros' });
  const rootHash = rootText === undefined ? null : decodeStandardBase64(rootText);
  if (rootText === undefined) problems.push({ code: 'MISSING', path: 'rootHash', message: 'no root hash line' });
  else if (rootHash === null || rootHash.length !== HASH_SIZE) {
    problems.push({ code: 'INVALID_FORMAT', path: 'rootHash', message: `must be standard base64 of ${HASH_SIZE} bytes` });
  }
  for (const [i, ext] of extensions.entries()) {
    if (ext === '') problems.push({ code: 'EMPTY', path: `extensions[${i}]`, message: 'extension lines must not be empty' });
  }
  if (problems.length > 0 || size === null || rootHash === null) throw malformedCheckpoint(problems);
  return { origin, size, rootHash, extensions };
}

export interface CheckpointKeys {
  /** The log's key(s); at least one must have signed. */
  readonly log: NoteVerifier | readonly NoteVerifier[];
  /** Witness keys (type 0x04) whose cosignatures to check when present. */
  readonly witnesses?: readonly NoteVerifier[];
  /** The origin the checkpoint must name. */
  readonly origin?: string;
  readonly limits?: NoteLimits;
}

export interface OpenedCheckpoint {
  readonly checkpoint: Checkpoint;
  /** The checkpoint body (the signed text). */
  readonly text: string;
  readonly logSignatures: readonly VerifiedSignature[];
  /** Verified witness cosignatures; whether they are enough is the caller's policy. */
  readonly cosignatures: readonly VerifiedSignature[];
  readonly unverified: readonly NoteSignature[];
}

/** Opens a signed checkpoint: the log must have signed, every known witness's cosignature must verify. */
export function openCheckpoint(note: Uint8Array | string, keys: CheckpointKeys): OpenedCheckpoint {
  const logKeys: readonly NoteVerifier[] = Array.isArray(keys.log) ? keys.log : [keys.log as NoteVerifier];
  const witnesses = keys.witnesses ?? [];
  const opened = openNote(note, [...logKeys, ...witnesses], keys.limits);
  const isLog = (s: VerifiedSignature) => logKeys.some((v) => v.name === s.name && v.keyId === s.keyId);
  const logSignatures = opened.verified.filter(isLog);
  if (logSignatures.length === 0) throw new NoteError('NOTE_UNKNOWN_KEY', 'the checkpoint carries no signature by the log');
  const checkpoint = parseCheckpoint(opened.text);
  if (keys.origin !== undefined && checkpoint.origin !== keys.origin) {
    throw new NoteError('CHECKPOINT_ORIGIN_MISMATCH', `checkpoint is for ${JSON.stringify(checkpoint.origin)}, expected ${JSON.stringify(keys.origin)}`);
  }
  return { checkpoint, text: opened.text, logSignatures, cosignatures: opened.verified.filter((s) => !isLog(s)), unverified: opened.unverified };
}

// ---------------------------------------------------------------------------------------
// Cosignatures

/**
 * A witness's cosignature line (with its newline) over a checkpoint body, at `timestamp`
 * (POSIX seconds): key id with type 0x04 || u64 big-endian timestamp || Ed25519 signature.
 * Append it to the signed checkpoint's signature lines.
 */
export function cosign(checkpointText: string, witness: NoteSigner, timestamp: number): string {
  parseCheckpoint(checkpointText);
  if (!isValidKeyName(witness.name)) throw new NoteError('KEY_MALFORMED', `witness name ${JSON.stringify(witness.name)} is not a valid key name`);
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new RangeError('a cosignature timestamp is an integer from 0 to 2^53 − 1 (POSIX seconds)');
  const keyId = noteKeyId(witness.name, SIGNATURE_TYPE_COSIGNATURE_V1, witness.publicKey);
  const signature = witness.sign(cosignatureMessage(checkpointText, timestamp));
  const blob = Buffer.alloc(8 + signature.length);
  blob.writeBigUInt64BE(BigInt(timestamp), 0);
  blob.set(signature, 8);
  return signatureLine(witness.name, keyId, blob);
}

/**
 * Verifies one cosignature line (newline optional) over a checkpoint body with a witness
 * key of type 0x04; returns it with its timestamp. A line by another key is NOTE_UNKNOWN_KEY.
 */
export function verifyCosignature(checkpointText: string, line: string, witness: NoteVerifier): VerifiedSignature {
  parseCheckpoint(checkpointText);
  if (witness.type !== SIGNATURE_TYPE_COSIGNATURE_V1)
    throw new NoteError('KEY_UNSUPPORTED', `witness key ${witness.name} is not a cosignature (type 0x04) key`);
  const sig = parseSignatureLine(line.endsWith('\n') ? line.slice(0, -1) : line);
  if (sig.name !== witness.name || sig.keyId !== witness.keyId) {
    throw new NoteError('NOTE_UNKNOWN_KEY', `cosignature by ${sig.name}+${keyIdHex(sig.keyId)}, expected ${witness.name}+${keyIdHex(witness.keyId)}`);
  }
  const { ok, timestamp } = checkSignature(witness, checkpointText, sig.signature);
  if (!ok || timestamp === undefined) throw new NoteError('NOTE_SIGNATURE_INVALID', `the cosignature of ${witness.name} does not verify`);
  return { ...sig, type: SIGNATURE_TYPE_COSIGNATURE_V1, timestamp };
}

// ---------------------------------------------------------------------------------------
// tlog-proof

/** An offline-verifiable proof of inclusion (c2sp.org/tlog-proof@v1). */
export interface TlogProof {
  /** Opaque, unauthenticated application data; absent when the proof has no `extra` line. */
  readonly extra?: Buffer;
  readonly index: number;
  /** Inclusion proof hashes, the leaf's sibling first. */
  readonly proof: readonly Buffer[];
  /** The signed checkpoint note, verbatim (body, blank line, signature lines). */
  readonly checkpoint: string;
}

export interface TlogProofInput {
  readonly extra?: Uint8Array;
  readonly index: number;
  readonly proof: readonly Uint8Array[];
  readonly checkpoint: string;
}

function checkEmbeddedCheckpoint(note: string, limits: NoteLimits): void {
  try {
    parseCheckpoint(parseNote(note, limits).text);
  } catch (cause) {
    if (!(cause instanceof NoteError)) throw cause;
    throw new NoteError('PROOF_MALFORMED', `the embedded checkpoint is malformed: ${cause.message}`, { cause });
  }
}

/** The text form: header, optional `extra`, `index N`, one base64 hash per line, a blank line, the signed checkpoint. */
export function formatProof(input: TlogProofInput, limits: NoteLimits = {}): string {
  if (!Number.isSafeInteger(input.index) || input.index < 0) throw new NoteError('PROOF_MALFORMED', 'index must be an integer from 0 to 2^53 − 1');
  if (input.proof.length > MAX_PROOF_LINES) throw new NoteError('PROOF_MALFORMED', `at most ${MAX_PROOF_LINES} proof hashes`);
  if (input.proof.some((h) => h.length !== HASH_SIZE)) throw new NoteError('PROOF_MALFORMED', `proof hashes are ${HASH_SIZE} bytes`);
  if (input.extra !== undefined && input.extra.length === 0) throw new NoteError('PROOF_MALFORMED', 'extra data, when present, must not be empty');
  checkEmbeddedCheckpoint(input.checkpoint, limits);
  const lines = [PROOF_HEADER];
  if (input.extra !== undefined) lines.push(`extra ${encodeBase64(input.extra)}`);
  lines.push(`index ${input.index}`, ...input.proof.map(encodeBase64), '');
  return `${lines.join('\n')}\n${input.checkpoint}`;
}

/** Parses a tlog proof strictly; the checkpoint's syntax is checked, its signatures are not. */
export function parseProof(input: Uint8Array | string, limits: NoteLimits = {}): TlogProof {
  const { maxSize } = limitsOf(limits);
  const bytes = noteBytes(input, 'PROOF_MALFORMED');
  if (bytes.length > maxSize) throw new NoteError('PROOF_MALFORMED', `proof is ${bytes.length} bytes, over the ${maxSize}-byte cap`);
  const text = decodeText(bytes, 'PROOF_MALFORMED');
  const fail = (message: string) => new NoteError('PROOF_MALFORMED', message);
  let at = 0;
  const nextLine = (): string | undefined => {
    if (at >= text.length) return undefined;
    const end = text.indexOf('\n', at);
    if (end < 0) throw fail('the proof ends without a newline');
    const line = text.slice(at, end);
    at = end + 1;
    return line;
  };
  if (nextLine() !== PROOF_HEADER) throw fail(`the first line must be ${PROOF_HEADER}`);
  let line = nextLine();
  let extra: Buffer | undefined;
  if (line?.startsWith('extra ')) {
    const decoded = decodeStandardBase64(line.slice('extra '.length));
    if (decoded === null || decoded.length === 0) throw fail('extra must be non-empty standard base64');
    extra = decoded;
    line = nextLine();
  }
  const index = line?.startsWith('index ') ? parseDecimal(line.slice('index '.length)) : null;
  if (index === null) throw fail('expected "index N" with N a decimal without leading zeros');
  const proof: Buffer[] = [];
  for (line = nextLine(); line !== undefined && line !== ''; line = nextLine()) {
    if (proof.length === MAX_PROOF_LINES) throw fail(`more than ${MAX_PROOF_LINES} proof hashes`);
    const hash = decodeStandardBase64(line);
    if (hash === null || hash.length !== HASH_SIZE) throw fail(`proof line ${proof.length + 1} is not standard base64 of a ${HASH_SIZE}-byte hash`);
    proof.push(hash);
  }
  if (line === undefined) throw fail('no blank line before the checkpoint');
  const checkpoint = text.slice(at);
  checkEmbeddedCheckpoint(checkpoint, limits);
  return extra === undefined ? { index, proof, checkpoint } : { extra, index, proof, checkpoint };
}

export interface VerifiedProof extends OpenedCheckpoint {
  readonly index: number;
  readonly extra?: Buffer;
}

/**
 * Verifies a tlog proof for a leaf hash the caller computed from its own data: the log
 * signed the checkpoint, known witnesses' cosignatures verify, and the inclusion proof binds
 * the leaf at `index` to the checkpoint's root. How many cosignatures suffice is the caller's policy.
 */
export function verifyProof(input: Uint8Array | string, leafHash: Uint8Array, keys: CheckpointKeys): VerifiedProof {
  const parsed = parseProof(input, keys.limits);
  const opened = openCheckpoint(parsed.checkpoint, keys);
  const { size, rootHash } = opened.checkpoint;
  if (parsed.index >= size) throw new NoteError('PROOF_INVALID', `index ${parsed.index} is not below the checkpoint's tree size ${size}`);
  if (!verifyInclusion(parsed.index, size, leafHash, parsed.proof, rootHash)) {
    throw new NoteError('PROOF_INVALID', `the inclusion proof does not lead from the leaf at ${parsed.index} to the root of the tree of ${size}`);
  }
  return parsed.extra === undefined ? { ...opened, index: parsed.index } : { ...opened, index: parsed.index, extra: parsed.extra };
}
