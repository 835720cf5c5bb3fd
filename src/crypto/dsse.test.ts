import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { DsseEnvelope } from '../model/attestation.js';
import { InputError } from '../model/errors.js';
import { decodeBase64Strict, encodeBase64 } from './base64.js';
import { pae, signEnvelope, verifyEnvelope } from './dsse.js';
import { generateKeyPair, keyIdOf, privateKeyFromPem, publicKeyFromPem } from './keys.js';

const PAYLOAD_TYPE = 'application/vnd.in-toto+json';
const PAYLOAD = Buffer.from('{"_type":"https://in-toto.io/Statement/v1"}', 'utf8');

interface Ed25519Pair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly keyid: string;
}

function ed25519(): Ed25519Pair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, keyid: keyIdOf(publicKey) };
}

const A = ed25519();
const B = ed25519();
const C = ed25519();

const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** The same base64 text in the URL-safe alphabet, without padding. */
function toUrlSafe(text: string): string {
  return text.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Flips the lowest of the unused bits in the last data character of a padded base64 text. */
function withDirtyTrailingBits(text: string): string {
  const unpadded = text.replace(/=+$/, '');
  assert.notEqual(unpadded.length, text.length, 'needs a padded encoding, which has unused bits');
  const last = unpadded.at(-1) as string;
  const flipped = BASE64_ALPHABET[BASE64_ALPHABET.indexOf(last) ^ 1] as string;
  return `${unpadded.slice(0, -1)}${flipped}${text.slice(unpadded.length)}`;
}

function withSignature(envelope: DsseEnvelope, index: number, change: { keyid?: string; sig?: string }): DsseEnvelope {
  return {
    ...envelope,
    signatures: envelope.signatures.map((s, i) => (i === index ? { ...s, ...change } : s)),
  };
}

function expectInputError(fn: () => unknown, code: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof InputError, `expected InputError ${code}, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.equal(error.category, 'input');
    return true;
  });
}

const scratch = mkdtempSync(join(tmpdir(), 'cairn-dsse-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function openssl(args: readonly string[], input?: Buffer) {
  return spawnSync('openssl', args, input === undefined ? {} : { input });
}

const opensslVersion = openssl(['version']);
const NO_OPENSSL = opensslVersion.error !== undefined || opensslVersion.status !== 0 ? 'the openssl CLI is not installed' : false;
const pkeyutlUsage = NO_OPENSSL ? undefined : openssl(['pkeyutl', '-help']);
const pkeyutlHelp = pkeyutlUsage ? `${pkeyutlUsage.stdout.toString()}${pkeyutlUsage.stderr.toString()}` : '';
const NO_RAWIN = NO_OPENSSL || (pkeyutlHelp.includes('-rawin') ? false : 'this openssl has no `pkeyutl -rawin`, needed for Ed25519');

describe('pae', () => {
  it('matches the DSSE specification example', () => {
    assert.equal(
      pae('http://example.com/HelloWorld', Buffer.from('hello world', 'utf8')).toString('utf8'),
      'DSSEv1 29 http://example.com/HelloWorld 11 hello world',
    );
  });

  it('counts the bytes, not the characters, of a non-ASCII payload type', () => {
    const type = 'application/vnd.café+json';
    assert.equal(type.length, 25);
    assert.equal(pae(type, Buffer.from('{}')).toString('utf8'), 'DSSEv1 26 application/vnd.café+json 2 {}');
  });

  it('counts the bytes, not the characters, of a non-ASCII payload', () => {
    assert.equal(pae('text', Buffer.from('héllo €', 'utf8')).toString('utf8'), 'DSSEv1 4 text 10 héllo €');
  });

  it('appends binary payload bytes verbatim', () => {
    const payload = Buffer.from([0x00, 0xff, 0x20, 0x0a, 0x80]);
    const message = pae('b', payload);
    assert.deepEqual(message, Buffer.concat([Buffer.from('DSSEv1 1 b 5 ', 'ascii'), payload]));
  });

  it('encodes an empty type and payload with zero lengths', () => {
    assert.equal(pae('', Buffer.alloc(0)).toString('utf8'), 'DSSEv1 0  0 ');
  });
});

describe('decodeBase64Strict', () => {
  it('decodes standard base64 with or without padding', () => {
    assert.equal(decodeBase64Strict('aGk=')?.toString('utf8'), 'hi');
    assert.equal(decodeBase64Strict('aGk')?.toString('utf8'), 'hi');
    assert.equal(decodeBase64Strict('aGVsbG8gd29ybGQ=')?.toString('utf8'), 'hello world');
  });

  it('decodes the URL-safe alphabet', () => {
    assert.deepEqual(decodeBase64Strict('-_8'), Buffer.from([0xfb, 0xff]));
    assert.deepEqual(decodeBase64Strict('-_8='), Buffer.from([0xfb, 0xff]));
  });

  it('decodes the empty string to no bytes', () => {
    assert.deepEqual(decodeBase64Strict(''), Buffer.alloc(0));
  });

  it('rejects an encoding whose unused trailing bits are not zero', () => {
    // A lenient decoder reads "aGl=" as "hi" too; two texts must never stand for the same bytes.
    assert.equal(Buffer.from('aGl=', 'base64').toString('utf8'), 'hi');
    assert.equal(decodeBase64Strict('aGl='), null);
    assert.equal(decodeBase64Strict('aGl'), null);
  });

  for (const bad of ['aGk==', 'aG=k', 'aGk===', '=', '==', 'a', 'aGVsbG8==', 'aGVsbA=', 'aGVsbA=x']) {
    it(`rejects the badly padded or truncated text ${JSON.stringify(bad)}`, () => {
      assert.equal(decodeBase64Strict(bad), null);
    });
  }

  for (const bad of ['aG k', 'aGk=\n', 'aGk*', 'aG.k']) {
    it(`rejects characters outside the alphabet in ${JSON.stringify(bad)}`, () => {
      assert.equal(decodeBase64Strict(bad), null);
    });
  }

  it('decodes what encodeBase64 encodes', () => {
    const bytes = Buffer.from([0, 1, 2, 250, 251, 252, 253, 254, 255]);
    assert.deepEqual(decodeBase64Strict(encodeBase64(bytes)), bytes);
  });
});

describe('signEnvelope', () => {
  it('writes the payload as standard base64 and one signature per key, named by key id', () => {
    const envelope = signEnvelope(PAYLOAD_TYPE, PAYLOAD, [A.privateKey, B.privateKey]);
    assert.equal(envelope.payloadType, PAYLOAD_TYPE);
    assert.equal(envelope.payload, PAYLOAD.toString('base64'));
    assert.deepEqual(
      envelope.signatures.map((s) => s.keyid),
      [A.keyid, B.keyid],
    );
  });

  it('signs the PAE bytes, not the bare payload', () => {
    const envelope = signEnvelope(PAYLOAD_TYPE, PAYLOAD, [A.privateKey]);
    const sig = Buffer.from(envelope.signatures[0]?.sig ?? '', 'base64');
    assert.equal(cryptoVerify(null, pae(PAYLOAD_TYPE, PAYLOAD), A.publicKey, sig), true);
    assert.equal(cryptoVerify(null, PAYLOAD, A.publicKey, sig), false);
  });
});

describe('verifyEnvelope', () => {
  const signed = signEnvelope(PAYLOAD_TYPE, PAYLOAD, [A.privateKey]);

  it('verifies a round trip and returns the payload bytes', () => {
    const result = verifyEnvelope(signed, [A.publicKey]);
    assert.deepEqual(result.verifiedKeyids, [A.keyid]);
    assert.deepEqual(result.payload, PAYLOAD);
    assert.deepEqual(result.rejected, []);
  });

  it('does not count a signature by key A when only key B is trusted', () => {
    const result = verifyEnvelope(signed, [B.publicKey]);
    assert.deepEqual(result.verifiedKeyids, []);
    assert.equal(result.rejected.length, 1);
  });

  it('does not count a signature by key A with an empty keyid when only key B is trusted', () => {
    const result = verifyEnvelope(withSignature(signed, 0, { keyid: '' }), [B.publicKey]);
    assert.deepEqual(result.verifiedKeyids, []);
    assert.deepEqual(result.rejected, [{ index: 0, reason: 'signature does not verify' }]);
  });

  it('fails when the payload type is changed', () => {
    const result = verifyEnvelope({ ...signed, payloadType: 'application/json' }, [A.publicKey]);
    assert.deepEqual(result.verifiedKeyids, []);
    assert.deepEqual(result.rejected, [{ index: 0, reason: 'signature does not verify' }]);
  });

  it('fails when the payload is changed', () => {
    const other = Buffer.from('{"_type":"https://in-toto.io/Statement/v0"}', 'utf8');
    const result = verifyEnvelope({ ...signed, payload: other.toString('base64') }, [A.publicKey]);
    assert.deepEqual(result.verifiedKeyids, []);
    assert.deepEqual(result.payload, other);
  });

  it('fails when one byte of the signature is changed', () => {
    const sig = Buffer.from(signed.signatures[0]?.sig ?? '', 'base64');
    sig[10] = (sig[10] ?? 0) ^ 0x01;
    const result = verifyEnvelope(withSignature(signed, 0, { sig: sig.toString('base64') }), [A.publicKey]);
    assert.deepEqual(result.verifiedKeyids, []);
    assert.deepEqual(result.rejected, [{ index: 0, reason: 'signature does not verify' }]);
  });

  it('does not count a truncated signature, and does not throw', () => {
    const sig = Buffer.from(signed.signatures[0]?.sig ?? '', 'base64').subarray(0, 32);
    const result = verifyEnvelope(withSignature(signed, 0, { sig: sig.toString('base64') }), [A.publicKey]);
    assert.deepEqual(result.verifiedKeyids, []);
  });

  it('accepts URL-safe unpadded base64 in the payload and the signature', () => {
    // 0xfb 0xff 0xfe encodes to "+//+": the URL-safe text differs from the standard one.
    const payload = Buffer.concat([PAYLOAD, Buffer.from([0xfb, 0xff, 0xfe, 0x01])]);
    const envelope = signEnvelope(PAYLOAD_TYPE, payload, [A.privateKey]);
    const urlSafe: DsseEnvelope = {
      ...envelope,
      payload: toUrlSafe(envelope.payload),
      signatures: envelope.signatures.map((s) => ({ ...s, sig: toUrlSafe(s.sig) })),
    };
    assert.notEqual(urlSafe.payload, envelope.payload.replace(/=+$/, ''));
    const result = verifyEnvelope(urlSafe, [A.publicKey]);
    assert.deepEqual(result.verifiedKeyids, [A.keyid]);
    assert.deepEqual(result.payload, payload);
  });

  it('rejects a payload whose base64 has dirty trailing bits, though a lenient decoder reads the same bytes', () => {
    const envelope = signEnvelope(PAYLOAD_TYPE, Buffer.from('hi'), [A.privateKey]);
    const dirty = withDirtyTrailingBits(envelope.payload);
    assert.deepEqual(Buffer.from(dirty, 'base64'), Buffer.from('hi'));
    const result = verifyEnvelope({ ...envelope, payload: dirty }, [A.publicKey]);
    assert.equal(result.payload, null);
    assert.deepEqual(result.verifiedKeyids, []);
    assert.equal(result.rejected.length, 1);
  });

  it('rejects a signature whose base64 has dirty trailing bits, though a lenient decoder reads the same bytes', () => {
    const original = signed.signatures[0]?.sig ?? '';
    const dirty = withDirtyTrailingBits(original);
    assert.deepEqual(Buffer.from(dirty, 'base64'), Buffer.from(original, 'base64'));
    const result = verifyEnvelope(withSignature(signed, 0, { sig: dirty }), [A.publicKey]);
    assert.deepEqual(result.verifiedKeyids, []);
    assert.deepEqual(result.rejected, [{ index: 0, reason: 'signature is not canonical base64' }]);
  });

  for (const [what, change] of [
    ['an extra "="', (sig: string) => `${sig}=`],
    ['a missing "="', (sig: string) => sig.slice(0, -1)],
  ] as const) {
    it(`rejects a signature with ${what} of padding`, () => {
      const sig = change(signed.signatures[0]?.sig ?? '');
      const result = verifyEnvelope(withSignature(signed, 0, { sig }), [A.publicKey]);
      assert.deepEqual(result.verifiedKeyids, []);
      assert.deepEqual(result.rejected, [{ index: 0, reason: 'signature is not canonical base64' }]);
    });
  }

  it('does not count a good signature whose keyid names another trusted key: only the named key is tried', () => {
    const result = verifyEnvelope(withSignature(signed, 0, { keyid: B.keyid }), [B.publicKey, A.publicKey]);
    assert.deepEqual(result.verifiedKeyids, []);
    assert.deepEqual(result.rejected, [{ index: 0, reason: 'signature does not verify' }]);
  });

  it('counts a good signature whose keyid is in another scheme (a securesystemslib hex id)', () => {
    const hexId = createHash('sha256').update('another scheme').digest('hex');
    const result = verifyEnvelope(withSignature(signed, 0, { keyid: hexId }), [A.publicKey]);
    assert.deepEqual(result.verifiedKeyids, [A.keyid]);
  });

  it('does not count a signature whose keyid names a trusted key when that key did not make it', () => {
    const byC = signEnvelope(PAYLOAD_TYPE, PAYLOAD, [C.privateKey]);
    const result = verifyEnvelope(withSignature(byC, 0, { keyid: A.keyid }), [A.publicKey, B.publicKey]);
    assert.deepEqual(result.verifiedKeyids, []);
    assert.deepEqual(result.rejected, [{ index: 0, reason: 'signature does not verify' }]);
  });

  it('reports that there is no key to try when no key is given', () => {
    const result = verifyEnvelope(signed, []);
    assert.deepEqual(result.verifiedKeyids, []);
    assert.deepEqual(result.rejected, [{ index: 0, reason: 'no trusted key to try' }]);
  });

  it('counts a key once however many signatures it made', () => {
    const twice = signEnvelope(PAYLOAD_TYPE, PAYLOAD, [A.privateKey, A.privateKey]);
    assert.equal(twice.signatures.length, 2);
    const result = verifyEnvelope(twice, [A.publicKey]);
    assert.equal(result.verifiedKeyids.length, 1);
    assert.deepEqual(result.verifiedKeyids, [A.keyid]);
  });

  it('counts each of two distinct trusted keys', () => {
    const both = signEnvelope(PAYLOAD_TYPE, PAYLOAD, [A.privateKey, B.privateKey]);
    const result = verifyEnvelope(both, [B.publicKey, A.publicKey]);
    assert.deepEqual([...result.verifiedKeyids].sort(), [A.keyid, B.keyid].sort());
  });

  it('counts only the trusted signers of a multi-signed envelope', () => {
    const mixed = signEnvelope(PAYLOAD_TYPE, PAYLOAD, [C.privateKey, A.privateKey]);
    const result = verifyEnvelope(mixed, [A.publicKey]);
    assert.deepEqual(result.verifiedKeyids, [A.keyid]);
    assert.deepEqual(
      result.rejected.map((r) => r.index),
      [0],
    );
  });

  it('accepts an empty keyid as "any trusted key" and reports the key that verified', () => {
    const result = verifyEnvelope(withSignature(signed, 0, { keyid: '' }), [B.publicKey, A.publicKey]);
    assert.deepEqual(result.verifiedKeyids, [A.keyid]);
    assert.deepEqual(result.rejected, []);
  });

  it('verifies a signature that OpenSSL made over the PAE bytes', { skip: NO_RAWIN }, () => {
    const dir = mkdtempSync(join(scratch, 'sign-'));
    const keyFile = join(dir, 'key.pem');
    const messageFile = join(dir, 'pae.bin');
    writeFileSync(keyFile, A.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(messageFile, pae(PAYLOAD_TYPE, PAYLOAD));
    const result = openssl(['pkeyutl', '-sign', '-rawin', '-inkey', keyFile, '-in', messageFile]);
    assert.equal(result.status, 0, result.stderr.toString());
    const envelope: DsseEnvelope = {
      payloadType: PAYLOAD_TYPE,
      payload: PAYLOAD.toString('base64'),
      signatures: [{ keyid: A.keyid, sig: result.stdout.toString('base64') }],
    };
    assert.deepEqual(verifyEnvelope(envelope, [A.publicKey]).verifiedKeyids, [A.keyid]);
  });
});

describe('signEnvelope checked by OpenSSL', () => {
  function opensslVerifies(message: Buffer, sig: Buffer): boolean {
    const dir = mkdtempSync(join(scratch, 'verify-'));
    const keyFile = join(dir, 'pub.pem');
    const messageFile = join(dir, 'pae.bin');
    const sigFile = join(dir, 'sig.bin');
    writeFileSync(keyFile, A.publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(messageFile, message);
    writeFileSync(sigFile, sig);
    const result = openssl(['pkeyutl', '-verify', '-pubin', '-inkey', keyFile, '-rawin', '-in', messageFile, '-sigfile', sigFile]);
    return result.status === 0;
  }

  it('produces an Ed25519 signature over the PAE that `openssl pkeyutl -verify` accepts', { skip: NO_RAWIN }, () => {
    const envelope = signEnvelope(PAYLOAD_TYPE, PAYLOAD, [A.privateKey]);
    const sig = Buffer.from(envelope.signatures[0]?.sig ?? '', 'base64');
    assert.equal(opensslVerifies(pae(PAYLOAD_TYPE, PAYLOAD), sig), true);
  });

  it('is rejected by `openssl pkeyutl -verify` over different bytes (the check can fail)', { skip: NO_RAWIN }, () => {
    const envelope = signEnvelope(PAYLOAD_TYPE, PAYLOAD, [A.privateKey]);
    const sig = Buffer.from(envelope.signatures[0]?.sig ?? '', 'base64');
    assert.equal(opensslVerifies(PAYLOAD, sig), false);
  });
});

describe('keyIdOf', () => {
  it('is standard base64 of the SHA-256 of the SPKI DER', () => {
    const der = A.publicKey.export({ type: 'spki', format: 'der' });
    assert.equal(keyIdOf(A.publicKey), createHash('sha256').update(der).digest('base64'));
    assert.match(keyIdOf(A.publicKey), /^[A-Za-z0-9+/]{43}=$/);
  });

  it('agrees with `openssl pkey -outform DER | openssl dgst -sha256 -binary | base64`', { skip: NO_OPENSSL }, () => {
    const file = join(mkdtempSync(join(scratch, 'keyid-')), 'pub.pem');
    writeFileSync(file, B.publicKey.export({ type: 'spki', format: 'pem' }));
    const der = openssl(['pkey', '-pubin', '-in', file, '-outform', 'DER']);
    assert.equal(der.status, 0, der.stderr.toString());
    const hash = openssl(['dgst', '-sha256', '-binary'], der.stdout);
    assert.equal(hash.status, 0, hash.stderr.toString());
    const b64 = openssl(['base64', '-A'], hash.stdout);
    assert.equal(b64.status, 0, b64.stderr.toString());
    assert.equal(keyIdOf(B.publicKey), b64.stdout.toString('ascii').trim());
  });

  it('is the same for a public key and for the public key derived from its private key', () => {
    const pair = generateKeyPair();
    assert.equal(keyIdOf(publicKeyFromPem(pair.publicKeyPem)), pair.keyid);
    assert.notEqual(pair.keyid, A.keyid);
  });
});

describe('generateKeyPair', () => {
  it('writes a PKCS#8 private key and an SPKI public key that sign and verify together', () => {
    const pair = generateKeyPair('ed25519');
    assert.match(pair.privateKeyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    assert.match(pair.publicKeyPem, /^-----BEGIN PUBLIC KEY-----\n/);
    const envelope = signEnvelope(PAYLOAD_TYPE, PAYLOAD, [privateKeyFromPem(pair.privateKeyPem)]);
    assert.deepEqual(verifyEnvelope(envelope, [publicKeyFromPem(pair.publicKeyPem)]).verifiedKeyids, [pair.keyid]);
  });
});

describe('publicKeyFromPem / privateKeyFromPem', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const spki = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }).toString();
  const pkcs8 = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }).toString();

  it('reads an Ed25519 key pair', () => {
    assert.equal(publicKeyFromPem(spki(A.publicKey)).asymmetricKeyType, 'ed25519');
    assert.equal(privateKeyFromPem(pkcs8(A.privateKey)).asymmetricKeyType, 'ed25519');
  });

  const malformed: readonly (readonly [string, () => unknown])[] = [
    ['a public key that is not PEM', () => publicKeyFromPem('not a key')],
    ['a public key PEM with a garbage body', () => publicKeyFromPem('-----BEGIN PUBLIC KEY-----\nZ2FyYmFnZQ==\n-----END PUBLIC KEY-----\n')],
    ['a private key given as a public key', () => publicKeyFromPem(pkcs8(A.privateKey))],
    ['a private key that is not PEM', () => privateKeyFromPem('')],
    ['a private key PEM with a garbage body', () => privateKeyFromPem('-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZQ==\n-----END PRIVATE KEY-----\n')],
    ['a public key given as a private key', () => privateKeyFromPem(spki(A.publicKey))],
    ['a PKCS#1 RSA private key', () => privateKeyFromPem(rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString())],
  ];
  for (const [what, read] of malformed) {
    it(`rejects ${what} with KEY_MALFORMED`, () => expectInputError(read, 'KEY_MALFORMED'));
  }

  it('reads an ECDSA P-256 key pair', () => {
    const pub = publicKeyFromPem(spki(p256.publicKey));
    assert.equal(pub.asymmetricKeyType, 'ec');
    assert.equal(pub.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(privateKeyFromPem(pkcs8(p256.privateKey)).asymmetricKeyDetails?.namedCurve, 'prime256v1');
  });

  const unsupported: readonly (readonly [string, () => unknown])[] = [
    ['an RSA public key', () => publicKeyFromPem(spki(rsa.publicKey))],
    ['a P-384 public key', () => publicKeyFromPem(spki(p384.publicKey))],
    ['an RSA private key', () => privateKeyFromPem(pkcs8(rsa.privateKey))],
    ['a P-384 private key', () => privateKeyFromPem(pkcs8(p384.privateKey))],
    ['an X25519 public key', () => publicKeyFromPem(spki(generateKeyPairSync('x25519').publicKey))],
  ];
  for (const [what, read] of unsupported) {
    it(`rejects ${what} with KEY_UNSUPPORTED`, () => expectInputError(read, 'KEY_UNSUPPORTED'));
  }
});
