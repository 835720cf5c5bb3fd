import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from './errors.js';
import { parseRfc3339, TRUST_STORE_LIMITS, trustStoreFromJSON } from './trust.js';

const PEM = '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n';
const KEYID = 'q6fMoDbJmEVuRdtPqVZDG46YFZEDSwvkbmnIOqLhIc0=';

function key(change: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    keyid: KEYID,
    algorithm: 'ed25519',
    publicKey: PEM,
    identities: [{ role: 'builder', id: 'https://cairn.dev/builders/ci' }],
    validFrom: '2025-01-01T00:00:00Z',
    ...change,
  };
}

function problemsOf(raw: unknown): { path: string; code: string }[] {
  try {
    trustStoreFromJSON(raw);
  } catch (e) {
    assert.ok(e instanceof InputError, String(e));
    assert.equal(e.code, 'ATTEST_TRUST_STORE_INVALID');
    return e.problems.map((p) => ({ path: p.path, code: p.code }));
  }
  return [];
}

describe('parseRfc3339', () => {
  it('reads UTC, offsets and fractions', () => {
    assert.equal(parseRfc3339('2025-01-31T12:00:00Z')?.toISOString(), '2025-01-31T12:00:00.000Z');
    assert.equal(parseRfc3339('2025-01-31T12:00:00.5+02:00')?.toISOString(), '2025-01-31T10:00:00.500Z');
    assert.equal(parseRfc3339('2025-01-31t12:00:00z')?.toISOString(), '2025-01-31T12:00:00.000Z');
  });

  for (const bad of [
    '2025-02-30T00:00:00Z',
    '2025-13-01T00:00:00Z',
    '2025-01-01T24:00:00Z',
    '2025-01-01T00:00:60Z',
    '2025-01-01',
    '2025-01-01 00:00:00Z',
    '2025-01-01T00:00:00',
    '2025-01-01T00:00:00+24:00',
    'yesterday',
    '',
  ]) {
    it(`rejects ${JSON.stringify(bad)}`, () => assert.equal(parseRfc3339(bad), null));
  }
});

describe('trustStoreFromJSON', () => {
  it('reads a key with its identities, window and revocation', () => {
    const store = trustStoreFromJSON({
      version: 1,
      keys: [key({ validUntil: '2026-01-01T00:00:00Z', revoked: true, revokedAt: '2025-06-01T00:00:00Z', description: 'CI builder, 2025' })],
    });
    const [k] = store.keys;
    assert.equal(k?.keyid, KEYID);
    assert.equal(k?.algorithm, 'ed25519');
    assert.deepEqual(k?.identities, [{ role: 'builder', id: 'https://cairn.dev/builders/ci' }]);
    assert.equal(k?.validFrom.toISOString(), '2025-01-01T00:00:00.000Z');
    assert.equal(k?.validUntil?.toISOString(), '2026-01-01T00:00:00.000Z');
    assert.equal(k?.revoked, true);
    assert.equal(k?.revokedAt?.toISOString(), '2025-06-01T00:00:00.000Z');
    assert.equal(k?.description, 'CI builder, 2025');
  });

  it('defaults to no end, not revoked', () => {
    const [k] = trustStoreFromJSON({ version: 1, keys: [key()] }).keys;
    assert.equal(k?.validUntil, null);
    assert.equal(k?.revoked, false);
    assert.equal(k?.revokedAt, null);
  });

  it('accepts an empty key list (nothing is trusted)', () => {
    assert.deepEqual(trustStoreFromJSON({ version: 1, keys: [] }).keys, []);
  });

  it('reports every bad field with its path at once', () => {
    const problems = problemsOf({
      version: 2,
      keys: [
        key({
          keyid: 'abc',
          algorithm: 'rsa',
          publicKey: 'not pem',
          identities: [{ role: 'admin', id: 'no uri' }],
          validFrom: '2025-02-30T00:00:00Z',
          extra: 1,
        }),
        key({ validUntil: '2024-01-01T00:00:00Z', revokedAt: '2025-01-01T00:00:00Z', revoked: 'yes' }),
        key({ identities: [] }),
      ],
    });
    assert.deepEqual(problems, [
      { path: 'version', code: 'OUT_OF_RANGE' },
      { path: 'keys[0].extra', code: 'UNKNOWN_KEY' },
      { path: 'keys[0].keyid', code: 'INVALID_FORMAT' },
      { path: 'keys[0].algorithm', code: 'UNSUPPORTED' },
      { path: 'keys[0].publicKey', code: 'INVALID_FORMAT' },
      { path: 'keys[0].identities[0].role', code: 'UNSUPPORTED' },
      { path: 'keys[0].identities[0].id', code: 'INVALID_FORMAT' },
      { path: 'keys[0].validFrom', code: 'INVALID_FORMAT' },
      { path: 'keys[1].validUntil', code: 'OUT_OF_RANGE' },
      { path: 'keys[1].revoked', code: 'WRONG_TYPE' },
      { path: 'keys[1].revokedAt', code: 'INVALID_FORMAT' },
      { path: 'keys[2].identities', code: 'EMPTY' },
    ]);
  });

  it('rejects a keyid listed twice, naming both places', () => {
    const problems = problemsOf({ version: 1, keys: [key(), key({ revoked: true })] });
    assert.deepEqual(problems, [{ path: 'keys[1].keyid', code: 'DUPLICATE' }]);
  });

  it('rejects an identity listed twice on one key', () => {
    const id = { role: 'builder', id: 'https://cairn.dev/builders/ci' };
    assert.deepEqual(problemsOf({ version: 1, keys: [key({ identities: [id, id] })] }), [{ path: 'keys[0].identities[1]', code: 'DUPLICATE' }]);
  });

  it('caps the number of keys and of identities per key', () => {
    assert.deepEqual(problemsOf({ version: 1, keys: Array.from({ length: TRUST_STORE_LIMITS.maxKeys + 1 }, () => key()) }), [
      { path: 'keys', code: 'TOO_MANY' },
    ]);
    const identities = Array.from({ length: TRUST_STORE_LIMITS.maxIdentitiesPerKey + 1 }, (_, i) => ({ role: 'builder', id: `https://b.example/${i}` }));
    assert.deepEqual(problemsOf({ version: 1, keys: [key({ identities })] }), [{ path: 'keys[0].identities', code: 'TOO_MANY' }]);
  });

  for (const [what, raw] of [
    ['null', null],
    ['an array', []],
    ['a string', 'keys'],
    ['an object without keys', { version: 1 }],
  ] as const) {
    it(`rejects ${what} with ATTEST_TRUST_STORE_INVALID`, () => assert.ok(problemsOf(raw).length > 0));
  }
});

describe('parseRfc3339 agrees with Date.parse', () => {
  it('on a spread of valid instants, offsets, leap days and fractions', () => {
    const samples = [
      '2024-02-29T23:59:59Z',
      '2000-02-29T00:00:00+14:00',
      '1999-12-31T23:30:00-00:30',
      '2025-06-01T12:00:00.123456789Z',
      '2025-06-01T12:00:00.1-05:00',
      '0099-01-01T00:00:00Z',
      '9999-12-31T23:59:59Z',
    ];
    for (const s of samples) assert.equal(parseRfc3339(s)?.getTime(), Date.parse(s), s);
    assert.equal(parseRfc3339('2023-02-29T00:00:00Z'), null);
    assert.equal(parseRfc3339('1900-02-29T00:00:00Z'), null);
  });
});
