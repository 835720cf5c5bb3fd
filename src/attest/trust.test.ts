import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { generateKeyPair, publicKeyFromPem } from '../crypto/keys.js';
import { InputError } from '../model/errors.js';
import { trustStoreFromJSON } from '../model/trust.js';
import { keyHasIdentity, keyStatusAt, resolveTrustStore, trustFromKeys, trustStoreFromText } from './trust.js';

const ed = generateKeyPair('ed25519');
const ec = generateKeyPair('ecdsa-p256');

function entry(pair: typeof ed, change: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    keyid: pair.keyid,
    algorithm: pair.algorithm,
    publicKey: pair.publicKeyPem,
    identities: [{ role: 'builder', id: 'https://cairn.dev/builders/ci' }],
    validFrom: '2025-01-01T00:00:00Z',
    ...change,
  };
}

function storeText(keys: unknown[]): string {
  return JSON.stringify({ version: 1, keys });
}

function problemsOf(fn: () => unknown): { path: string; code: string }[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof InputError, String(e));
    assert.equal(e.code, 'ATTEST_TRUST_STORE_INVALID');
    return e.problems.map((p) => ({ path: p.path, code: p.code }));
  }
  return [];
}

describe('trustStoreFromText', () => {
  it('reads Ed25519 and P-256 keys ready to verify with', () => {
    const trust = trustStoreFromText(storeText([entry(ed), entry(ec)]));
    assert.equal(trust.source, 'trust-store');
    assert.deepEqual(
      trust.keys.map((k) => [k.keyid, k.algorithm, k.key.asymmetricKeyType]),
      [
        [ed.keyid, 'ed25519', 'ed25519'],
        [ec.keyid, 'ecdsa-p256', 'ec'],
      ],
    );
  });

  it('reports a keyid that is not the key’s id and an algorithm that is not the key’s, for every key', () => {
    const stranger = generateKeyPair('ed25519').keyid;
    assert.deepEqual(
      problemsOf(() => trustStoreFromText(storeText([entry(ed, { keyid: stranger }), entry(ec, { algorithm: 'ed25519' })]))),
      [
        { path: 'keys[0].keyid', code: 'MISMATCH' },
        { path: 'keys[1].algorithm', code: 'MISMATCH' },
      ],
    );
  });

  it('reports a PEM that is not a key, and a key cairn does not support', () => {
    const garbage = '-----BEGIN PUBLIC KEY-----\nZ2FyYmFnZQ==\n-----END PUBLIC KEY-----\n';
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    assert.deepEqual(
      problemsOf(() => trustStoreFromText(storeText([entry(ed, { publicKey: garbage }), entry(ec, { publicKey: p384 })]))),
      [
        { path: 'keys[0].publicKey', code: 'KEY_MALFORMED' },
        { path: 'keys[1].publicKey', code: 'KEY_UNSUPPORTED' },
      ],
    );
  });

  it('turns JSON errors and the size cap into ATTEST_TRUST_STORE_INVALID', () => {
    assert.deepEqual(
      problemsOf(() => trustStoreFromText('{')),
      [{ path: '', code: 'JSON_MALFORMED' }],
    );
    assert.deepEqual(
      problemsOf(() => trustStoreFromText(' '.repeat(1024 * 1024 + 1))),
      [{ path: '', code: 'JSON_TOO_LARGE' }],
    );
  });
});

describe('keyStatusAt', () => {
  const [key] = resolveTrustStore(
    trustStoreFromJSON({ version: 1, keys: [entry(ed, { validFrom: '2025-01-01T00:00:00Z', validUntil: '2025-07-01T00:00:00Z' })] }),
  ).keys;
  const at = (iso: string) => keyStatusAt(key as NonNullable<typeof key>, new Date(iso));

  it('counts evidence inside [validFrom, validUntil)', () => {
    assert.equal(at('2025-01-01T00:00:00Z').valid, true);
    assert.equal(at('2025-06-30T23:59:59.999Z').valid, true);
  });

  it('names why evidence outside the window does not count', () => {
    const before = at('2024-12-31T23:59:59Z');
    const after = at('2025-07-01T00:00:00Z');
    assert.equal(before.valid ? null : before.code, 'ATTEST_KEY_NOT_YET_VALID');
    assert.equal(after.valid ? null : after.code, 'ATTEST_KEY_EXPIRED');
  });

  it('places revocation before the window in its verdict', () => {
    const revoked = { ...(key as NonNullable<typeof key>), revoked: true, revokedAt: null };
    const status = keyStatusAt(revoked, new Date('2024-01-01T00:00:00Z'));
    assert.equal(status.valid ? null : status.code, 'ATTEST_KEY_REVOKED');
  });
});

describe('trustFromKeys', () => {
  it('trusts given keys without a window, for any identity', () => {
    const trust = trustFromKeys([publicKeyFromPem(ec.publicKeyPem)]);
    const [key] = trust.keys;
    assert.equal(trust.source, 'keys');
    assert.equal(key?.keyid, ec.keyid);
    assert.equal(keyStatusAt(key as NonNullable<typeof key>, new Date(0)).valid, true);
    assert.equal(keyHasIdentity(key as NonNullable<typeof key>, ['builder'], 'https://anything.example'), true);
  });
});
