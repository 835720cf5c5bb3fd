import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { InputError } from '../model/errors.js';
import { pae, signEnvelope, verifyEnvelope } from './dsse.js';
import { generateKeyPair, KEY_ALGORITHMS, keyAlgorithmOf, keyIdOf, privateKeyFromPem, publicKeyFromPem, signBytes, verifyBytes } from './keys.js';

const scratch = mkdtempSync(join(tmpdir(), 'cairn-keys-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const opensslVersion = spawnSync('openssl', ['version']);
const NO_OPENSSL = opensslVersion.error !== undefined || opensslVersion.status !== 0 ? 'the openssl CLI is not installed' : false;

function openssl(args: readonly string[], input?: Buffer) {
  return spawnSync('openssl', args, input === undefined ? {} : { input });
}

const MESSAGE = pae('application/vnd.in-toto+json', Buffer.from('{"_type":"https://in-toto.io/Statement/v1"}'));

describe('generateKeyPair', () => {
  for (const algorithm of KEY_ALGORITHMS) {
    it(`writes a ${algorithm} PKCS#8 private key and SPKI public key that read back as the same key`, () => {
      const pair = generateKeyPair(algorithm);
      assert.equal(pair.algorithm, algorithm);
      assert.match(pair.privateKeyPem, /^-----BEGIN PRIVATE KEY-----\n/);
      assert.match(pair.publicKeyPem, /^-----BEGIN PUBLIC KEY-----\n/);
      const privateKey = privateKeyFromPem(pair.privateKeyPem);
      const publicKey = publicKeyFromPem(pair.publicKeyPem);
      assert.equal(keyAlgorithmOf(privateKey), algorithm);
      assert.equal(keyAlgorithmOf(publicKey), algorithm);
      assert.equal(keyIdOf(publicKey), pair.keyid);
      assert.equal(keyIdOf(privateKey), pair.keyid, 'the id of a private key is the id of its public half');
      assert.equal(publicKey.export({ type: 'spki', format: 'pem' }).toString(), pair.publicKeyPem);
      assert.equal(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), pair.privateKeyPem);
      assert.equal(verifyBytes(publicKey, MESSAGE, signBytes(privateKey, MESSAGE)), true);
    });
  }

  it('makes a new key each time', () => {
    assert.notEqual(generateKeyPair('ecdsa-p256').keyid, generateKeyPair('ecdsa-p256').keyid);
  });
});

describe('keyIdOf against openssl', () => {
  for (const algorithm of KEY_ALGORITHMS) {
    it(`equals base64(sha256(SPKI DER)) computed by openssl for ${algorithm}`, { skip: NO_OPENSSL }, () => {
      const pair = generateKeyPair(algorithm);
      const file = join(mkdtempSync(join(scratch, 'keyid-')), 'pub.pem');
      writeFileSync(file, pair.publicKeyPem);
      const der = openssl(['pkey', '-pubin', '-in', file, '-outform', 'DER']);
      assert.equal(der.status, 0, der.stderr.toString());
      const hash = openssl(['dgst', '-sha256', '-binary'], der.stdout);
      const b64 = openssl(['base64', '-A'], hash.stdout);
      assert.equal(pair.keyid, b64.stdout.toString('ascii').trim());
    });
  }
});

describe('ECDSA P-256 signatures', () => {
  const pair = generateKeyPair('ecdsa-p256');
  const privateKey = privateKeyFromPem(pair.privateKeyPem);
  const publicKey = publicKeyFromPem(pair.publicKeyPem);

  it('are ASN.1 DER by default and IEEE P1363 (64 bytes) when asked', () => {
    const der = signBytes(privateKey, MESSAGE);
    assert.equal(der[0], 0x30, 'a DER SEQUENCE');
    assert.ok(der.length >= 8 && der.length <= 72, `DER length ${der.length}`);
    assert.equal(signBytes(privateKey, MESSAGE, { ecdsaSignatureFormat: 'der' })[0], 0x30);
    assert.equal(signBytes(privateKey, MESSAGE, { ecdsaSignatureFormat: 'p1363' }).length, 64);
  });

  it('verify as DER always, and as P1363 only when the caller allows it', () => {
    const der = signBytes(privateKey, MESSAGE);
    const p1363 = signBytes(privateKey, MESSAGE, { ecdsaSignatureFormat: 'p1363' });
    assert.equal(verifyBytes(publicKey, MESSAGE, der), true);
    assert.equal(verifyBytes(publicKey, MESSAGE, p1363), false);
    assert.equal(verifyBytes(publicKey, MESSAGE, p1363, { allowP1363: true }), true);
    assert.equal(verifyBytes(publicKey, MESSAGE, der, { allowP1363: true }), true);
  });

  it('do not verify over other bytes, in either form', () => {
    const other = Buffer.concat([MESSAGE, Buffer.from(' ')]);
    assert.equal(verifyBytes(publicKey, other, signBytes(privateKey, MESSAGE)), false);
    assert.equal(verifyBytes(publicKey, other, signBytes(privateKey, MESSAGE, { ecdsaSignatureFormat: 'p1363' }), { allowP1363: true }), false);
  });

  it('reject a DER signature with a non-minimal length byte (BER), so a signature has one DER form', () => {
    const der = signBytes(privateKey, MESSAGE);
    // 0x30 LEN … → 0x30 0x81 LEN …: the same value in long-form length, valid BER but not DER.
    const ber = Buffer.concat([Buffer.from([0x30, 0x81, der[1] as number]), der.subarray(2)]);
    assert.equal(verifyBytes(publicKey, MESSAGE, ber), false);
  });

  it('are verified by `openssl dgst -sha256 -verify`, and openssl-made ones verify here', { skip: NO_OPENSSL }, () => {
    const dir = mkdtempSync(join(scratch, 'ecdsa-'));
    writeFileSync(join(dir, 'pub.pem'), pair.publicKeyPem);
    writeFileSync(join(dir, 'key.pem'), pair.privateKeyPem);
    writeFileSync(join(dir, 'msg'), MESSAGE);
    writeFileSync(join(dir, 'sig'), signBytes(privateKey, MESSAGE));
    const verified = openssl(['dgst', '-sha256', '-verify', join(dir, 'pub.pem'), '-signature', join(dir, 'sig'), join(dir, 'msg')]);
    assert.equal(verified.status, 0, verified.stderr.toString());
    const signed = openssl(['dgst', '-sha256', '-sign', join(dir, 'key.pem'), join(dir, 'msg')]);
    assert.equal(signed.status, 0, signed.stderr.toString());
    assert.equal(verifyBytes(publicKey, MESSAGE, signed.stdout), true);
    assert.equal(verifyBytes(publicKey, Buffer.from('other'), signed.stdout), false);
  });

  it('verify the DSSE specification test vector (P1363) only in P1363 mode', () => {
    // protocol.md: ECDSA P-256/SHA-256, r‖s; X and Y of the public key given in decimal.
    const coordinate = (decimal: string) => Buffer.from(BigInt(decimal).toString(16).padStart(64, '0'), 'hex').toString('base64url');
    const key = createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: coordinate('46950820868899156662930047687818585632848591499744589407958293238635476079160'),
        y: coordinate('5640078356564379163099075877009565129882514886557779369047442380624545832820'),
      },
      format: 'jwk',
    });
    const envelope = {
      payload: 'aGVsbG8gd29ybGQ=',
      payloadType: 'http://example.com/HelloWorld',
      signatures: [{ keyid: '', sig: 'A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA==' }],
    };
    assert.deepEqual(verifyEnvelope(envelope, [key]).verifiedKeyids, []);
    assert.deepEqual(verifyEnvelope(envelope, [key], { allowP1363: true }).verifiedKeyids, [keyIdOf(key)]);
    assert.deepEqual(verifyEnvelope({ ...envelope, payload: 'aGVsbG8gd29ybGQh' }, [key], { allowP1363: true }).verifiedKeyids, []);
  });

  it('sign DSSE envelopes in either form, named by key id', () => {
    const der = signEnvelope('t', Buffer.from('x'), [privateKey]);
    const p1363 = signEnvelope('t', Buffer.from('x'), [privateKey], { ecdsaSignatureFormat: 'p1363' });
    assert.equal(der.signatures[0]?.keyid, pair.keyid);
    assert.equal(Buffer.from(p1363.signatures[0]?.sig ?? '', 'base64').length, 64);
    assert.deepEqual(verifyEnvelope(der, [publicKey]).verifiedKeyids, [pair.keyid]);
    assert.deepEqual(verifyEnvelope(p1363, [publicKey]).verifiedKeyids, []);
    assert.deepEqual(verifyEnvelope(p1363, [publicKey], { allowP1363: true }).verifiedKeyids, [pair.keyid]);
  });

  it('count one key once even though its two signatures differ (ECDSA is randomised)', () => {
    const twice = signEnvelope('t', Buffer.from('x'), [privateKey, privateKey]);
    assert.notEqual(twice.signatures[0]?.sig, twice.signatures[1]?.sig);
    const result = verifyEnvelope(twice, [publicKey]);
    assert.equal(result.verified.length, 2);
    assert.deepEqual(result.verifiedKeyids, [pair.keyid]);
  });
});

describe('signBytes / verifyBytes with other keys', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

  it('refuses to sign with an RSA key (KEY_UNSUPPORTED)', () => {
    assert.throws(
      () => signBytes(rsa.privateKey, MESSAGE),
      (e: unknown) => e instanceof InputError && e.code === 'KEY_UNSUPPORTED',
    );
  });

  it('never verifies with an RSA key, even an RSA signature', () => {
    const sig = cryptoSign('sha256', MESSAGE, rsa.privateKey);
    assert.equal(verifyBytes(rsa.publicKey, MESSAGE, sig), false);
  });

  it('returns false, never throws, for garbage signatures of every length', () => {
    const keys = [generateKeyPair('ed25519'), generateKeyPair('ecdsa-p256')].map((p) => publicKeyFromPem(p.publicKeyPem));
    for (const key of keys) {
      for (const length of [0, 1, 2, 8, 63, 64, 65, 70, 72, 200]) {
        const garbage = createHash('sha512').update(String(length)).digest().subarray(0, Math.min(length, 64));
        const sig = Buffer.concat([garbage, Buffer.alloc(Math.max(0, length - 64), 0x30)]);
        assert.equal(verifyBytes(key, MESSAGE, sig, { allowP1363: true }), false);
      }
    }
  });
});
