import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { keyIdOf, publicKeyFromPem } from '../../crypto/keys.js';
import { CAIRN_BUILD_TYPE, SLSA_PROVENANCE_V1 } from '../../model/attestation.js';
import { cli, tempDir } from '../../testkit.js';

const dirs: { remove(): void }[] = [];
after(() => {
  for (const d of dirs) d.remove();
});

const BUILDER = 'https://cairn.dev/builders/ci';
const REPO = 'https://git.example/org/service';
const COMMIT = '0123456789abcdef0123456789abcdef01234567';
const NOW = '2025-06-10T00:00:00Z';

function predicate(change: { builderId?: string; finishedOn?: string; extra?: boolean } = {}) {
  return {
    buildDefinition: {
      buildType: CAIRN_BUILD_TYPE,
      externalParameters: {
        source: { uri: `git+${REPO}`, commit: COMMIT, subdir: '' },
        recipe: { run: 'make', output: 'out' },
        ...(change.extra ? { shell: 'bash' } : {}),
      },
    },
    runDetails: { builder: { id: change.builderId ?? BUILDER }, metadata: { finishedOn: change.finishedOn ?? '2025-06-01T00:00:00Z' } },
  };
}

/** A folder with an artifact, a predicate file and keys of both algorithms made by `cairn keygen`. */
async function workspace(): Promise<{ dir: string; key: Record<'ed25519' | 'ecdsa-p256', { keyid: string; privateKey: string; publicKey: string }> }> {
  const d = tempDir('cairn-attest-');
  dirs.push(d);
  writeFileSync(path.join(d.path, 'service.tgz'), 'artifact bytes\n');
  writeFileSync(path.join(d.path, 'predicate.json'), JSON.stringify(predicate()));
  const key = {} as Record<'ed25519' | 'ecdsa-p256', { keyid: string; privateKey: string; publicKey: string }>;
  for (const alg of ['ed25519', 'ecdsa-p256'] as const) {
    const result = await cli(['keygen', '--alg', alg, '--out', alg, '--json'], { cwd: d.path });
    assert.equal(result.code, 0, result.stderr);
    key[alg] = result.events()[0] as { keyid: string; privateKey: string; publicKey: string };
  }
  return { dir: d.path, key };
}

function trustFile(
  dir: string,
  entries: readonly { publicKey: string; algorithm: string; builder: string; validFrom?: string; validUntil?: string; revoked?: boolean }[],
): string {
  const file = path.join(dir, `trust-${Math.random().toString(36).slice(2)}.json`);
  const keys = entries.map((e) => {
    const pem = readFileSync(e.publicKey, 'utf8');
    return {
      keyid: keyIdOf(publicKeyFromPem(pem)),
      algorithm: e.algorithm,
      publicKey: pem,
      identities: [{ role: 'builder', id: e.builder }],
      validFrom: e.validFrom ?? '2025-01-01T00:00:00Z',
      ...(e.validUntil ? { validUntil: e.validUntil } : {}),
      ...(e.revoked ? { revoked: true } : {}),
    };
  });
  writeFileSync(file, JSON.stringify({ version: 1, keys }, null, 2));
  return file;
}

const POLICY = `version: 1
predicateTypes: [${SLSA_PROVENANCE_V1}]
threshold: 1
maxAge: 30d
provenance:
  builders: [${BUILDER}]
  buildTypes: [${CAIRN_BUILD_TYPE}]
  externalParameters: [source, recipe]
  source:
    repository: ${REPO}
    commit: ${COMMIT}
`;

describe('cairn keygen --alg', () => {
  it('writes an ECDSA P-256 key pair whose printed key id is its SPKI key id', async () => {
    const { key } = await workspace();
    const pub = publicKeyFromPem(readFileSync(key['ecdsa-p256'].publicKey, 'utf8'));
    assert.equal(pub.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(keyIdOf(pub), key['ecdsa-p256'].keyid);
  });

  it('rejects an algorithm it does not support, listing the supported ones', async () => {
    const result = await cli(['keygen', '--alg', 'rsa']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /CLI_BAD_OPTION.*ed25519, ecdsa-p256/);
  });
});

describe('cairn attest → cairn verify', () => {
  for (const alg of ['ed25519', 'ecdsa-p256'] as const) {
    it(`round-trips through files with a ${alg} key`, async () => {
      const { dir, key } = await workspace();
      const made = await cli(
        [
          'attest',
          '--subject',
          'service.tgz',
          '--predicate',
          'predicate.json',
          '--type',
          'provenance',
          '--key',
          key[alg].privateKey,
          '-o',
          'att.json',
          '--json',
        ],
        { cwd: dir },
      );
      assert.equal(made.code, 0, made.stderr);
      const event = made.events()[0] as { type: string; keyids: string[]; predicateType: string; format: string };
      assert.equal(event.type, 'attested');
      assert.deepEqual(event.keyids, [key[alg].keyid]);
      assert.equal(event.predicateType, SLSA_PROVENANCE_V1);
      assert.equal(event.format, 'dsse');

      const ok = await cli(['verify', '--artifact', 'service.tgz', '--attestation', 'att.json', '--key', key[alg].publicKey, '--now', NOW, '--json'], {
        cwd: dir,
      });
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      const verified = ok.events()[0] as Record<string, unknown>;
      assert.equal(verified.type, 'verified');
      assert.deepEqual(verified.keyids, [key[alg].keyid]);
      assert.equal(verified.builderId, BUILDER);
      assert.equal(verified.sourceCommit, COMMIT);
      assert.equal(verified.subject, 'service.tgz');

      writeFileSync(path.join(dir, 'service.tgz'), 'other bytes\n');
      const bad = await cli(['verify', '--artifact', 'service.tgz', '--attestation', 'att.json', '--key', key[alg].publicKey, '--now', NOW, '--json'], {
        cwd: dir,
      });
      assert.equal(bad.code, 1);
      assert.equal(bad.events()[0]?.code, 'ATTEST_SUBJECT_DIGEST_MISMATCH');
    });
  }

  it('verifies with --trust and --policy, printing the verified facts', async () => {
    const { dir, key } = await workspace();
    writeFileSync(path.join(dir, 'policy.yaml'), POLICY);
    const trust = trustFile(dir, [{ publicKey: key.ed25519.publicKey, algorithm: 'ed25519', builder: BUILDER }]);
    assert.equal(
      (
        await cli(
          [
            'attest',
            '--subject',
            'service.tgz',
            '--predicate',
            'predicate.json',
            '--type',
            SLSA_PROVENANCE_V1,
            '--key',
            key.ed25519.privateKey,
            '-o',
            'att.json',
          ],
          { cwd: dir },
        )
      ).code,
      0,
    );
    const ok = await cli(['verify', '--artifact', 'service.tgz', '--attestation', 'att.json', '--trust', trust, '--policy', 'policy.yaml', '--now', NOW], {
      cwd: dir,
    });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^verified service\.tgz\n/);
    assert.match(ok.stdout, /builderId {10}https:\/\/cairn\.dev\/builders\/ci/);
    assert.match(ok.stdout, /ok {3}source {13}https:\/\/git\.example\/org\/service @ 0123456789abcdef/);
  });

  it('names every failed check with its code (exit 1) for a forged builder claim, on stderr and in --json', async () => {
    const { dir, key } = await workspace();
    writeFileSync(path.join(dir, 'policy.yaml'), POLICY);
    writeFileSync(path.join(dir, 'forged.json'), JSON.stringify(predicate({ extra: true, finishedOn: '2025-01-15T00:00:00Z' })));
    // The ECDSA key is trusted, but only for another builder; the predicate claims ours.
    const trust = trustFile(dir, [
      { publicKey: key.ed25519.publicKey, algorithm: 'ed25519', builder: BUILDER },
      { publicKey: key['ecdsa-p256'].publicKey, algorithm: 'ecdsa-p256', builder: 'https://other.example/builder' },
    ]);
    await cli(
      ['attest', '--subject', 'service.tgz', '--predicate', 'forged.json', '--type', 'provenance', '--key', key['ecdsa-p256'].privateKey, '-o', 'att.json'],
      { cwd: dir },
    );
    const args = ['verify', '--artifact', 'service.tgz', '--attestation', 'att.json', '--trust', trust, '--policy', 'policy.yaml', '--now', NOW];
    const text = await cli(args, { cwd: dir });
    assert.equal(text.code, 1);
    for (const code of ['ATTEST_BUILDER_UNTRUSTED', 'ATTEST_EXTERNAL_PARAMETER_UNKNOWN', 'ATTEST_TOO_OLD'])
      assert.match(text.stderr, new RegExp(`\\[${code}\\]`));
    const json = await cli([...args, '--json'], { cwd: dir });
    const [error] = json.events() as { type: string; code: string; exitCode: number; problems: { code: string }[] }[];
    assert.equal(error?.type, 'error');
    assert.equal(error?.exitCode, 1);
    assert.deepEqual(
      error?.problems.map((p) => p.code),
      ['ATTEST_BUILDER_UNTRUSTED', 'ATTEST_EXTERNAL_PARAMETER_UNKNOWN', 'ATTEST_TOO_OLD'],
    );
  });

  it('judges key windows and age as of --now', async () => {
    const { dir, key } = await workspace();
    const trust = trustFile(dir, [{ publicKey: key.ed25519.publicKey, algorithm: 'ed25519', builder: BUILDER, validUntil: '2025-03-01T00:00:00Z' }]);
    await cli(
      ['attest', '--subject', 'service.tgz', '--predicate', 'predicate.json', '--type', 'provenance', '--key', key.ed25519.privateKey, '-o', 'att.json'],
      { cwd: dir },
    );
    const run = (now: string) =>
      cli(['verify', '--artifact', 'service.tgz', '--attestation', 'att.json', '--trust', trust, '--now', now, '--json'], { cwd: dir });
    const expired = await run(NOW);
    assert.equal(expired.code, 1);
    assert.equal(expired.events()[0]?.code, 'ATTEST_KEY_EXPIRED');
    const future = await run('2025-05-01T00:00:00Z');
    assert.equal(future.events()[0]?.code, 'ATTEST_EVIDENCE_TIME_INVALID');
    assert.equal((await run('garbage')).code, 2);
  });

  it('writes and verifies a keyed Sigstore bundle, told apart from an envelope by shape', async () => {
    const { dir, key } = await workspace();
    const made = await cli(
      [
        'attest',
        '--subject',
        'service.tgz',
        '--predicate',
        'predicate.json',
        '--type',
        'provenance',
        '--key',
        key['ecdsa-p256'].privateKey,
        '--bundle',
        '-o',
        'att.sigstore.json',
        '--json',
      ],
      { cwd: dir },
    );
    assert.equal(made.code, 0, made.stderr);
    const bundle = JSON.parse(readFileSync(path.join(dir, 'att.sigstore.json'), 'utf8'));
    assert.equal(bundle.mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    assert.equal(bundle.verificationMaterial.publicKey.hint, key['ecdsa-p256'].keyid);
    const trust = trustFile(dir, [{ publicKey: key['ecdsa-p256'].publicKey, algorithm: 'ecdsa-p256', builder: BUILDER }]);
    const ok = await cli(['verify', '--artifact', 'service.tgz', '--attestation', 'att.sigstore.json', '--trust', trust, '--now', NOW, '--json'], { cwd: dir });
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.equal(ok.events()[0]?.format, 'sigstore-bundle');
    bundle.verificationMaterial.publicKey.hint = key.ed25519.keyid;
    writeFileSync(path.join(dir, 'swapped.json'), JSON.stringify(bundle));
    const swapped = await cli(['verify', '--artifact', 'service.tgz', '--attestation', 'swapped.json', '--trust', trust, '--now', NOW, '--json'], { cwd: dir });
    assert.equal(swapped.code, 1);
    assert.equal(swapped.events()[0]?.code, 'ATTEST_BUNDLE_HINT_MISMATCH');
  });

  it('signs with several keys, and a threshold counts distinct keys', async () => {
    const { dir, key } = await workspace();
    writeFileSync(path.join(dir, 'two.yaml'), `${POLICY.replace('threshold: 1', 'threshold: 2')}`);
    const trust = trustFile(dir, [
      { publicKey: key.ed25519.publicKey, algorithm: 'ed25519', builder: BUILDER },
      { publicKey: key['ecdsa-p256'].publicKey, algorithm: 'ecdsa-p256', builder: BUILDER },
    ]);
    const sign = (out: string, keys: string[]) =>
      cli(['attest', '--subject', 'service.tgz', '--predicate', 'predicate.json', '--type', 'provenance', ...keys.flatMap((k) => ['--key', k]), '-o', out], {
        cwd: dir,
      });
    await sign('both.json', [key.ed25519.privateKey, key['ecdsa-p256'].privateKey]);
    await sign('twice.json', [key.ed25519.privateKey, key.ed25519.privateKey]);
    const verify = (file: string) =>
      cli(['verify', '--artifact', 'service.tgz', '--attestation', file, '--trust', trust, '--policy', 'two.yaml', '--now', NOW, '--json'], { cwd: dir });
    assert.equal((await verify('both.json')).code, 0);
    const twice = await verify('twice.json');
    assert.equal(twice.code, 1);
    assert.equal(twice.events()[0]?.code, 'ATTEST_THRESHOLD_NOT_MET');
  });

  it('verifies a P1363 ECDSA signature only with --allow-p1363', async () => {
    const { dir, key } = await workspace();
    await cli(
      [
        'attest',
        '--subject',
        'service.tgz',
        '--predicate',
        'predicate.json',
        '--type',
        'provenance',
        '--key',
        key['ecdsa-p256'].privateKey,
        '--ecdsa-format',
        'p1363',
        '-o',
        'att.json',
      ],
      { cwd: dir },
    );
    const args = ['verify', '--artifact', 'service.tgz', '--attestation', 'att.json', '--key', key['ecdsa-p256'].publicKey, '--now', NOW, '--json'];
    assert.equal((await cli(args, { cwd: dir })).events()[0]?.code, 'ATTEST_SIGNATURE_INVALID');
    assert.equal((await cli([...args, '--allow-p1363'], { cwd: dir })).code, 0);
  });

  it('applies --max-envelope-bytes before reading the attestation', async () => {
    const { dir, key } = await workspace();
    const padded = predicate();
    writeFileSync(
      path.join(dir, 'padded.json'),
      JSON.stringify({ ...padded, buildDefinition: { ...padded.buildDefinition, internalParameters: { pad: 'x'.repeat(2000) } } }),
    );
    await cli(['attest', '--subject', 'service.tgz', '--predicate', 'padded.json', '--type', 'provenance', '--key', key.ed25519.privateKey, '-o', 'att.json'], {
      cwd: dir,
    });
    const args = ['verify', '--artifact', 'service.tgz', '--attestation', 'att.json', '--key', key.ed25519.publicKey, '--now', NOW, '--json'];
    assert.equal((await cli([...args, '--max-envelope-bytes', '8192'], { cwd: dir })).code, 0);
    const small = await cli([...args, '--max-envelope-bytes', '1024'], { cwd: dir });
    assert.equal(small.code, 1);
    assert.equal(small.events()[0]?.code, 'ATTEST_ENVELOPE_MALFORMED');
    assert.equal((await cli([...args, '--max-envelope-bytes', 'lots'], { cwd: dir })).events()[0]?.code, 'CLI_BAD_OPTION');
  });
});

describe('cairn attest and verify: bad input (exit 2)', () => {
  it('refuses to sign a malformed provenance predicate, naming the field', async () => {
    const { dir, key } = await workspace();
    writeFileSync(path.join(dir, 'bad.json'), JSON.stringify({ buildDefinition: { buildType: 'x' }, runDetails: {} }));
    const result = await cli(
      ['attest', '--subject', 'service.tgz', '--predicate', 'bad.json', '--type', 'provenance', '--key', key.ed25519.privateKey, '-o', 'att.json', '--json'],
      { cwd: dir },
    );
    assert.equal(result.code, 2);
    const [error] = result.events() as { code: string; problems: { path: string }[] }[];
    assert.equal(error?.code, 'ATTEST_PREDICATE_MALFORMED');
    assert.ok(error?.problems.some((p) => p.path === 'predicate.runDetails.builder'));
  });

  it('signs a predicate of a type it does not know as given', async () => {
    const { dir, key } = await workspace();
    writeFileSync(path.join(dir, 'custom.json'), '{"anything": [1, 2]}');
    const result = await cli(
      [
        'attest',
        '--subject',
        'service.tgz',
        '--predicate',
        'custom.json',
        '--type',
        'https://example.com/custom/v1',
        '--key',
        key.ed25519.privateKey,
        '-o',
        'a.json',
      ],
      { cwd: dir },
    );
    assert.equal(result.code, 0, result.stderr);
    const denied = await cli(['verify', '--artifact', 'service.tgz', '--attestation', 'a.json', '--key', key.ed25519.publicKey, '--json'], { cwd: dir });
    assert.equal(denied.events()[0]?.code, 'ATTEST_PREDICATE_TYPE_NOT_ALLOWED', 'the default policy allows only the types cairn knows');
  });

  it('will not overwrite an attestation without --force', async () => {
    const { dir, key } = await workspace();
    const args = [
      'attest',
      '--subject',
      'service.tgz',
      '--predicate',
      'predicate.json',
      '--type',
      'provenance',
      '--key',
      key.ed25519.privateKey,
      '-o',
      'att.json',
    ];
    assert.equal((await cli(args, { cwd: dir })).code, 0);
    assert.match((await cli(args, { cwd: dir })).stderr, /CLI_FILE_EXISTS/);
    assert.equal((await cli([...args, '--force'], { cwd: dir })).code, 0);
  });

  it('rejects a bundle with two keys, a type that is not a URI, and missing options', async () => {
    const { dir, key } = await workspace();
    const base = ['attest', '--subject', 'service.tgz', '--predicate', 'predicate.json', '-o', 'x.json', '--json'];
    const code = async (args: string[]) => (await cli(args, { cwd: dir })).events()[0]?.code;
    assert.equal(
      await code([...base, '--type', 'provenance', '--key', key.ed25519.privateKey, '--key', key['ecdsa-p256'].privateKey, '--bundle']),
      'CLI_BAD_OPTION',
    );
    assert.equal(await code([...base, '--type', 'not a uri', '--key', key.ed25519.privateKey]), 'CLI_BAD_OPTION');
    assert.equal(await code(['attest', '--subject', 'service.tgz', '--json']), 'CLI_MISSING_OPTION');
  });

  it('reports every problem of a bad trust store and of a bad policy', async () => {
    const { dir, key } = await workspace();
    await cli(
      ['attest', '--subject', 'service.tgz', '--predicate', 'predicate.json', '--type', 'provenance', '--key', key.ed25519.privateKey, '-o', 'att.json'],
      { cwd: dir },
    );
    writeFileSync(path.join(dir, 'trust.json'), JSON.stringify({ version: 1, keys: [{ keyid: 'x', algorithm: 'rsa' }] }));
    const badTrust = await cli(['verify', '--artifact', 'service.tgz', '--attestation', 'att.json', '--trust', 'trust.json', '--json'], { cwd: dir });
    assert.equal(badTrust.code, 2);
    const [t] = badTrust.events() as { code: string; problems: unknown[] }[];
    assert.equal(t?.code, 'ATTEST_TRUST_STORE_INVALID');
    assert.ok((t?.problems.length ?? 0) >= 5);
    writeFileSync(path.join(dir, 'p.yaml'), 'version: 1\nthreshold: 0\nmaxAge: forever\n');
    const badPolicy = await cli(
      ['verify', '--artifact', 'service.tgz', '--attestation', 'att.json', '--key', key.ed25519.publicKey, '--policy', 'p.yaml', '--json'],
      { cwd: dir },
    );
    assert.equal(badPolicy.code, 2);
    assert.equal(badPolicy.events()[0]?.code, 'ATTEST_POLICY_INVALID');
    assert.equal(((badPolicy.events()[0]?.problems as unknown[] | undefined) ?? []).length, 2);
  });

  it('wants exactly one of --key and --trust', async () => {
    const { dir, key } = await workspace();
    const result = await cli(['verify', '--artifact', 'service.tgz', '--attestation', 'a', '--key', key.ed25519.publicKey, '--trust', 't', '--json'], {
      cwd: dir,
    });
    assert.equal(result.events()[0]?.code, 'CLI_BAD_OPTION');
  });
});
