/**
 * Interop with Debian's in-toto 1.3.1 and securesystemslib 0.26 (Python), offline.
 *
 * securesystemslib 0.26 has signers and keys (`securesystemslib.signer`) but no DSSE module
 * and no PAE, and in-toto 1.3.1 reads only legacy signed metadata. So the DSSE side is a
 * small Python peer written here from the DSSE spec, with every signature made and checked
 * by securesystemslib; the link/layout side is the real `in-toto-run` and `in-toto-verify`.
 * Outside CI the suite skips with a reason when in-toto is missing; in CI it fails.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, type KeyObject, verify as nodeVerify } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { decodeBase64Strict, encodeBase64 } from '../crypto/base64.js';
import { sha256Digest } from '../crypto/digest.js';
import { pae, signEnvelope, verifyEnvelope } from '../crypto/dsse.js';
import { generateKeyPair, type KeyAlgorithm, keyIdOf, privateKeyFromPem, publicKeyFromPem } from '../crypto/keys.js';
import { type DsseEnvelope, IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_V1, type Statement } from '../model/attestation.js';
import { digestHex } from '../model/digest.js';
import { CairnError } from '../model/errors.js';
import type { JsonValue } from '../model/json.js';
import { tempDir } from '../testkit.js';
import { canonicalJson, linkFileName, linkMetablockBytes, makeLink, signLink, sslibKeyId, sslibPublicKey } from './link.js';
import { signStatement } from './sign.js';
import { verifyAttestation } from './verify.js';

const PYTHON = '/usr/bin/python3';
const IN_TOTO_RUN = '/usr/bin/in-toto-run';
const IN_TOTO_VERIFY = '/usr/bin/in-toto-verify';
const IN_TOTO_KEYGEN = '/usr/bin/in-toto-keygen';
/** The CLIs are `#!/usr/bin/python3` scripts; a pyenv shim first on PATH must not shadow it. */
const ENV = { PATH: '/usr/bin:/bin', LC_ALL: 'C.UTF-8', HOME: '/nonexistent' };

function missingInToto(): string | null {
  for (const file of [PYTHON, IN_TOTO_RUN, IN_TOTO_VERIFY, IN_TOTO_KEYGEN]) if (!existsSync(file)) return `${file} is not installed`;
  const probe = spawnSync(PYTHON, ['-c', 'import in_toto, securesystemslib.signer'], { env: ENV, encoding: 'utf8' });
  return probe.status === 0 ? null : `python cannot import in_toto/securesystemslib: ${probe.stderr.trim()}`;
}

const missing = missingInToto();
const skip = missing === null ? false : `in-toto 1.3.1 is not available (${missing}); install it with apt-get install in-toto`;

if (missing !== null && process.env.CI === 'true') {
  describe('in-toto interop in CI', () => {
    it('has Debian in-toto installed', () => {
      assert.fail(`CI must run the in-toto interop tests, but ${missing}. Install it with: apt-get install -y in-toto`);
    });
  });
}

/**
 * The Python peer: one process per batch of jobs (JSON on stdin, one result per job on
 * stdout). PAE is the DSSE spec's; keys, signing and verification are securesystemslib's.
 */
const PEER = `
import base64, hashlib, json, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from securesystemslib import keys as sskeys
from securesystemslib.exceptions import UnverifiedSignatureError, VerificationError
from securesystemslib.interface import import_privatekey_from_file
from securesystemslib.signer import Signature, SSlibKey, SSlibSigner


def pae(payload_type, body):
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def b64any(text):
    # DSSE: verifiers accept standard and URL-safe base64, padded or not.
    text = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def public_dict(key):
    meta = sskeys.format_keyval_to_metadata(key["keytype"], key["scheme"], {"public": key["keyval"]["public"]})
    full, _ = sskeys.format_metadata_to_key(meta)
    return {"keyid": full["keyid"], "keytype": full["keytype"], "scheme": full["scheme"],
            "keyid_hash_algorithms": meta["keyid_hash_algorithms"], "keyval": {"public": full["keyval"]["public"]}}


def spki_keyid(key):
    public = key["keyval"]["public"]
    if key["keytype"] == "ed25519":
        loaded = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public))
    else:
        loaded = serialization.load_pem_public_key(public.encode("utf-8"))
    der = loaded.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode("ascii")


def keygen(job):
    key = sskeys.generate_ed25519_key() if job["type"] == "ed25519" else sskeys.generate_ecdsa_key()
    return {"private": key, "public": public_dict(key)}


def sign(job):
    key = job["key"]
    body = base64.b64decode(job["payload"])
    signature = SSlibSigner(key).sign(pae(job["payloadType"], body))
    keyid = {"sslib": key["keyid"], "spki": spki_keyid(key), "none": ""}[job["keyid"]]
    sig = base64.b64encode(bytes.fromhex(signature.signature)).decode("ascii")
    return {"envelope": {"payloadType": job["payloadType"], "payload": job["payload"], "signatures": [{"keyid": keyid, "sig": sig}]}}


def verify(job):
    # A signature counts only if its keyid is empty or names this key (either id scheme),
    # as securesystemslib's later Envelope.verify matches signatures to keys by keyid.
    env = job["envelope"]
    signatures = env.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise ValueError("the envelope has no signatures")
    body = b64any(env["payload"])
    message = pae(env["payloadType"], body)
    pub = public_dict(job["key"])
    key = SSlibKey.from_securesystemslib_key(pub)
    names = {"", pub["keyid"], spki_keyid(pub)}
    for s in signatures:
        if s.get("keyid", "") not in names:
            continue
        try:
            key.verify_signature(Signature(pub["keyid"], b64any(s["sig"]).hex()), message)
            return {"payload": base64.b64encode(body).decode("ascii")}
        except (UnverifiedSignatureError, VerificationError):
            continue
    raise ValueError("no signature verifies with this key")


def keyid(job):
    pub = public_dict(job["key"])
    return {"sslib": pub["keyid"], "spki": spki_keyid(pub)}


def canonical(job):
    from securesystemslib.formats import encode_canonical
    return {"text": encode_canonical(job["value"])}


def pae_job(job):
    return {"pae": base64.b64encode(pae(job["payloadType"], base64.b64decode(job["payload"]))).decode("ascii")}


def layout(job):
    from in_toto.models.layout import Layout, Step
    from in_toto.models.metadata import Metablock
    owner = import_privatekey_from_file(job["ownerKey"], key_type=job["ownerKeyType"])
    result = Layout()
    result.set_relative_expiration(days=1)
    keyids = []
    for f in job["functionaries"]:
        pub = public_dict(f)
        result.add_functionary_key(pub)
        keyids.append(pub["keyid"])
    step = Step(name=job["step"])
    step.pubkeys = keyids
    step.threshold = job["threshold"]
    step.expected_command = job["command"]
    step.expected_materials = [["ALLOW", "src/*"], ["DISALLOW", "*"]]
    step.expected_products = [["CREATE", "out/app.js"], ["DISALLOW", "*"]]
    result.steps = [step]
    metablock = Metablock(signed=result)
    metablock.sign(owner)
    metablock.dump(job["out"])
    return {"keyids": keyids}


OPS = {"canonical": canonical, "keygen": keygen, "sign": sign, "verify": verify, "keyid": keyid, "pae": pae_job, "layout": layout}
results = []
for job in json.load(sys.stdin):
    try:
        results.append({"ok": True, **OPS[job["op"]](job)})
    except Exception as e:
        results.append({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
json.dump(results, sys.stdout)
`;

interface SslibKeyDict {
  readonly keyid: string;
  readonly keytype: string;
  readonly scheme: string;
  readonly keyval: { readonly public: string; readonly private?: string };
}

type PeerResult = { ok: true; [field: string]: unknown } | { ok: false; error: string };

let work: { path: string; remove(): void } | undefined;

function workDir(): string {
  if (!work) {
    work = tempDir('cairn-intoto-');
    writeFileSync(path.join(work.path, 'peer.py'), PEER);
  }
  return work.path;
}

function peer(jobs: readonly Record<string, unknown>[]): PeerResult[] {
  const run = spawnSync(PYTHON, [path.join(workDir(), 'peer.py')], { input: JSON.stringify(jobs), env: ENV, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(run.status, 0, `python peer failed: ${run.stderr}`);
  const results = JSON.parse(run.stdout) as PeerResult[];
  assert.equal(results.length, jobs.length);
  return results;
}

function ok(result: PeerResult | undefined): Record<string, unknown> {
  assert.ok(result?.ok, `python peer: ${result && !result.ok ? result.error : 'no result'}`);
  return result;
}

/** A securesystemslib public key (ed25519 hex, or ECDSA PEM) as a node KeyObject. */
function keyFromSslib(key: SslibKeyDict): KeyObject {
  if (key.keytype === 'ed25519') {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(key.keyval.public, 'hex').toString('base64url') }, format: 'jwk' });
  }
  return createPublicKey(key.keyval.public);
}

/** A securesystemslib ed25519 private key (hex seed) as a node KeyObject. */
function ed25519PrivateFromSslib(key: SslibKeyDict): KeyObject {
  const x = Buffer.from(key.keyval.public, 'hex').toString('base64url');
  const d = Buffer.from(key.keyval.private ?? '', 'hex').toString('base64url');
  return createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x, d }, format: 'jwk' });
}

const artifact = Buffer.from('console.log("hi")\n');

function statementBytes(): Buffer {
  const statement: Statement = {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ name: 'app.js', digest: { sha256: digestHex(sha256Digest(artifact)) } }],
    predicateType: 'https://slsa.dev/provenance/v1',
    predicate: {
      buildDefinition: { buildType: 'https://cairn.dev/build/recipe/v1', externalParameters: {} },
      runDetails: { builder: { id: 'https://cairn.dev/b' } },
    },
  };
  return Buffer.from(JSON.stringify(statement), 'utf8');
}

/** cairn's verdict on an envelope: 'OK' or the error code. */
function cairnVerdict(envelope: DsseEnvelope | Record<string, unknown>, keys: readonly KeyObject[]): string {
  try {
    verifyAttestation(JSON.stringify(envelope), sha256Digest(artifact), keys);
    return 'OK';
  } catch (error) {
    if (error instanceof CairnError) return error.code;
    throw error;
  }
}

/** Flips one byte of the decoded payload (inside the JSON, so the statement still parses). */
function changeOnePayloadByte(envelope: DsseEnvelope): DsseEnvelope {
  const body = Buffer.from(envelope.payload, 'base64');
  const at = body.indexOf('slsa.dev');
  body[at] = 'S'.charCodeAt(0);
  return { ...envelope, payload: encodeBase64(body) };
}

function withKeyid(envelope: DsseEnvelope, keyid: string): DsseEnvelope {
  return { ...envelope, signatures: envelope.signatures.map((s) => ({ ...s, keyid })) };
}

const PYTHON_ALGORITHM: Record<KeyAlgorithm, 'ed25519' | 'ecdsa'> = { ed25519: 'ed25519', 'ecdsa-p256': 'ecdsa' };

function record(t: TestContext, what: string, verdicts: { cairn: string; python: string }): void {
  t.diagnostic(`${what}: cairn ${verdicts.cairn}; securesystemslib peer ${verdicts.python}`);
}

after(() => {
  work?.remove();
  work = undefined;
});

describe('DSSE with securesystemslib 0.26 (python peer)', { skip }, () => {
  it("computes the spec's PAE test vector exactly as cairn does", () => {
    const [vector, unicode] = peer([
      { op: 'pae', payloadType: 'http://example.com/HelloWorld', payload: encodeBase64(Buffer.from('hello world')) },
      { op: 'pae', payloadType: 'application/vnd.exämple+json', payload: encodeBase64(Buffer.from('ünïcode')) },
    ]);
    const expected = Buffer.from('DSSEv1 29 http://example.com/HelloWorld 11 hello world', 'ascii');
    assert.deepEqual(Buffer.from(ok(vector).pae as string, 'base64'), expected);
    assert.deepEqual(pae('http://example.com/HelloWorld', Buffer.from('hello world')), expected);
    assert.deepEqual(Buffer.from(ok(unicode).pae as string, 'base64'), pae('application/vnd.exämple+json', Buffer.from('ünïcode')));
  });

  it("encodes canonical JSON byte for byte as securesystemslib's encode_canonical", () => {
    const values: JsonValue[] = [
      { b: 1, a: [true, false, null], B: { z: '', y: -7 } },
      { é: 'ü', '\u{1F600}': 'astral', '\uFFFF': 'bmp', Z: 'upper', _type: 'link' },
      ['quote " and backslash \\', 'newline \n, tab \t, bell \u0007', '</script>', 'ünïcödé 😀'],
      [0, -1, 9007199254740991, { nested: { deeper: [[], {}] } }],
    ];
    const results = peer(values.map((value) => ({ op: 'canonical', value })));
    values.forEach((value, i) => {
      assert.equal(canonicalJson(value), ok(results[i]).text, JSON.stringify(value));
    });
    const [float] = peer([{ op: 'canonical', value: 1.5 }]);
    assert.equal(float?.ok, false);
    assert.throws(() => canonicalJson(1.5));
  });

  for (const algorithm of ['ed25519', 'ecdsa-p256'] as const) {
    describe(algorithm, () => {
      let python: { private: SslibKeyDict; public: SslibKeyDict; key: KeyObject };
      let other: { public: SslibKeyDict; key: KeyObject };
      const cairnPair = generateKeyPair(algorithm);
      const cairnPrivate = privateKeyFromPem(cairnPair.privateKeyPem);
      const cairnPublic = publicKeyFromPem(cairnPair.publicKeyPem);
      const cairnSslib = { ...sslibPublicKey(cairnPublic), keyid: sslibKeyId(cairnPublic) };
      const body = statementBytes();

      before(() => {
        const [a, b] = peer([
          { op: 'keygen', type: PYTHON_ALGORITHM[algorithm] },
          { op: 'keygen', type: PYTHON_ALGORITHM[algorithm] },
        ]);
        const pa = ok(a) as unknown as { private: SslibKeyDict; public: SslibKeyDict };
        const pb = ok(b) as unknown as { public: SslibKeyDict };
        python = { ...pa, key: keyFromSslib(pa.public) };
        other = { public: pb.public, key: keyFromSslib(pb.public) };
      });

      it('agrees with securesystemslib on key ids: sslib ids of cairn keys, cairn ids of sslib keys', () => {
        const [forCairnKey, forPythonKey] = peer([
          { op: 'keyid', key: cairnSslib },
          { op: 'keyid', key: python.public },
        ]);
        assert.equal(ok(forCairnKey).sslib, sslibKeyId(cairnPublic));
        assert.equal(ok(forCairnKey).spki, cairnPair.keyid);
        assert.equal(ok(forPythonKey).spki, keyIdOf(python.key));
        // securesystemslib hashes the PEM text of an ECDSA key as written; cairn writes it without the final newline.
        if (algorithm === 'ed25519') assert.equal(ok(forPythonKey).sslib, sslibKeyId(python.key));
      });

      it('cairn verifies envelopes signed by securesystemslib, whatever keyid scheme they carry', () => {
        const payload = encodeBase64(body);
        const results = peer(
          ['spki', 'sslib', 'none'].map((keyid) => ({ op: 'sign', key: python.private, payloadType: IN_TOTO_PAYLOAD_TYPE, payload, keyid })),
        );
        for (const result of results) {
          const envelope = ok(result).envelope as DsseEnvelope;
          assert.equal(cairnVerdict(envelope, [other.key, python.key]), 'OK', `keyid ${JSON.stringify(envelope.signatures[0]?.keyid)}`);
        }
      });

      it('securesystemslib verifies envelopes signed by cairn', () => {
        const envelope = signStatement(JSON.parse(body.toString('utf8')) as Statement, [cairnPrivate]);
        const [verdict, anonymous] = peer([
          { op: 'verify', key: cairnSslib, envelope },
          { op: 'verify', key: cairnSslib, envelope: withKeyid(envelope, '') },
        ]);
        assert.deepEqual(Buffer.from(ok(verdict).payload as string, 'base64'), body);
        ok(anonymous);
        if (algorithm === 'ecdsa-p256') assert.equal(Buffer.from(envelope.signatures[0]?.sig ?? '', 'base64')[0], 0x30, 'ECDSA signatures are DER');
      });

      it('both reject the same tampering: payloadType, one payload byte, wrong key, no signatures', (t) => {
        const [signed] = peer([{ op: 'sign', key: python.private, payloadType: IN_TOTO_PAYLOAD_TYPE, payload: encodeBase64(body), keyid: 'spki' }]);
        const theirs = ok(signed).envelope as DsseEnvelope;
        const ours = signEnvelope(IN_TOTO_PAYLOAD_TYPE, body, [cairnPrivate]);
        const cases: [string, (e: DsseEnvelope) => DsseEnvelope, 'own' | 'wrong'][] = [
          ['payloadType flipped', (e) => ({ ...e, payloadType: 'application/vnd.in-toto+jsoN' }), 'own'],
          ['one payload byte changed', changeOnePayloadByte, 'own'],
          ['verified with another key', (e) => e, 'wrong'],
          ['empty signatures list', (e) => ({ ...e, signatures: [] }), 'own'],
        ];
        const pythonVerdicts = peer(
          cases.map(([, edit, keyChoice]) => ({ op: 'verify', key: keyChoice === 'own' ? cairnSslib : other.public, envelope: edit(ours) })),
        ).map((r) => (r.ok ? 'OK' : r.error));
        cases.forEach(([what, edit, keyChoice], i) => {
          const cairn = cairnVerdict(edit(theirs), keyChoice === 'own' ? [python.key] : [other.key]);
          record(t, what, { cairn, python: pythonVerdicts[i] ?? '' });
          assert.notEqual(cairn, 'OK', `cairn accepted a python envelope with ${what}`);
          assert.notEqual(pythonVerdicts[i], 'OK', `securesystemslib accepted a cairn envelope with ${what}`);
        });
        // The payload type is signed (it is in the PAE), not only checked against the in-toto type.
        assert.equal(verifyEnvelope({ ...theirs, payloadType: 'application/vnd.in-toto+jsoN' }, [python.key]).verifiedKeyids.length, 0);
      });

      it('treat a keyid naming another key as each defines it: the peer skips the signature; cairn never accepts a signature no trusted key made', (t) => {
        const [signed] = peer([{ op: 'sign', key: python.private, payloadType: IN_TOTO_PAYLOAD_TYPE, payload: encodeBase64(body), keyid: 'spki' }]);
        const theirs = ok(signed).envelope as DsseEnvelope;
        const ours = signEnvelope(IN_TOTO_PAYLOAD_TYPE, body, [cairnPrivate]);
        const [namesTrusted, namesUnknown] = peer([
          { op: 'verify', key: cairnSslib, envelope: withKeyid(ours, other.public.keyid) },
          { op: 'verify', key: cairnSslib, envelope: withKeyid(ours, 'not-a-known-key') },
        ]);
        assert.equal(namesTrusted?.ok, false);
        assert.equal(namesUnknown?.ok, false);
        // The keyid is unauthenticated: whether cairn tries only the named key or every key is
        // crypto/dsse.ts's rule; either way the signature is the signer's, so the verdict is OK or
        // a bad signature, never a different error.
        const trustedVerdict = cairnVerdict(withKeyid(theirs, keyIdOf(other.key)), [python.key, other.key]);
        record(t, "signer's signature, keyid of another trusted key", { cairn: trustedVerdict, python: 'rejected' });
        assert.match(trustedVerdict, /^(OK|ATTEST_SIGNATURE_INVALID)$/);
        const unknownVerdict = cairnVerdict(withKeyid(theirs, 'not-a-known-key'), [python.key]);
        record(t, "signer's signature, keyid naming no known key", { cairn: unknownVerdict, python: 'rejected' });
        assert.equal(unknownVerdict, 'OK');
        assert.equal(cairnVerdict(withKeyid(theirs, keyIdOf(python.key)), [other.key]), 'ATTEST_SIGNATURE_INVALID');
      });

      if (algorithm === 'ed25519') {
        it('makes byte-identical Ed25519 signatures from the same key (libsodium and OpenSSL)', () => {
          const [signed] = peer([{ op: 'sign', key: python.private, payloadType: IN_TOTO_PAYLOAD_TYPE, payload: encodeBase64(body), keyid: 'spki' }]);
          const theirs = ok(signed).envelope as DsseEnvelope;
          const ours = signEnvelope(IN_TOTO_PAYLOAD_TYPE, body, [ed25519PrivateFromSslib(python.private)]);
          assert.deepEqual(ours, theirs);
        });
      }

      it('both accept URL-safe base64 without padding', () => {
        const ours = signEnvelope(IN_TOTO_PAYLOAD_TYPE, body, [cairnPrivate]);
        const urlSafe = (s: string) => s.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
        const relaxed: DsseEnvelope = { ...ours, payload: urlSafe(ours.payload), signatures: ours.signatures.map((s) => ({ ...s, sig: urlSafe(s.sig) })) };
        assert.ok(decodeBase64Strict(relaxed.payload));
        assert.equal(cairnVerdict(relaxed, [cairnPublic]), 'OK');
        ok(peer([{ op: 'verify', key: cairnSslib, envelope: relaxed }])[0]);
        assert.equal(verifyEnvelope(relaxed, [cairnPublic]).verifiedKeyids.length, 1);
      });
    });
  }
});

/** Runs a CLI with a clean environment; returns its exit status and output. */
function run(file: string, args: readonly string[], cwd: string): { status: number | null; output: string } {
  const result = spawnSync(file, args, { cwd, env: ENV, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

const STEP = 'build';
const COMMAND = ['/bin/sh', '-c', 'mkdir -p out && cp src/app.js out/app.js'];

describe('in-toto 1.3.1: a threshold-2 step with one in-toto-run link and one cairn link', { skip }, () => {
  for (const algorithm of ['ed25519', 'ecdsa-p256'] as const) {
    describe(algorithm, () => {
      const cairnPair = generateKeyPair(algorithm);
      const cairnPrivate = privateKeyFromPem(cairnPair.privateKeyPem);
      const cairnPublic = publicKeyFromPem(cairnPair.publicKeyPem);
      let dir = '';
      let links = '';
      let cairnLinkName = '';

      before(() => {
        dir = path.join(workDir(), `layout-${algorithm}`);
        links = path.join(dir, 'links');
        mkdirSync(path.join(dir, 'src'), { recursive: true });
        mkdirSync(links);
        mkdirSync(path.join(dir, 'final'));
        writeFileSync(path.join(dir, 'src/app.js'), artifact);
        for (const [name, type] of [
          ['owner', 'ed25519'],
          ['alice', PYTHON_ALGORITHM[algorithm]],
        ] as const) {
          const keygen = run(IN_TOTO_KEYGEN, ['-t', type, name], dir);
          assert.equal(keygen.status, 0, keygen.output);
        }
        // Functionary A: the real in-toto-run, with a key from in-toto-keygen.
        const a = run(
          IN_TOTO_RUN,
          ['-n', STEP, '-t', PYTHON_ALGORITHM[algorithm], '-k', 'alice', '-m', 'src', '-p', 'out', '-d', 'links', '--', ...COMMAND],
          dir,
        );
        assert.equal(a.status, 0, a.output);
        // Functionary B: cairn, recording the same files after the step ran.
        const link = makeLink({
          name: STEP,
          command: COMMAND,
          materials: { 'src/app.js': readFileSync(path.join(dir, 'src/app.js')) },
          products: { 'out/app.js': readFileSync(path.join(dir, 'out/app.js')) },
          byproducts: { 'return-value': 0, stderr: '', stdout: '' },
        });
        const metablock = signLink(link, cairnPrivate);
        cairnLinkName = linkFileName(STEP, metablock.signatures[0]?.keyid ?? '');
        writeFileSync(path.join(links, cairnLinkName), linkMetablockBytes(metablock));
        const alice = JSON.parse(readFileSync(path.join(dir, 'alice.pub'), 'utf8')) as SslibKeyDict;
        const [layout] = peer([
          {
            op: 'layout',
            ownerKey: path.join(dir, 'owner'),
            ownerKeyType: 'ed25519',
            functionaries: [alice, { ...sslibPublicKey(cairnPublic), keyid: sslibKeyId(cairnPublic) }],
            step: STEP,
            threshold: 2,
            command: COMMAND,
            out: path.join(dir, 'root.layout'),
          },
        ]);
        assert.deepEqual((ok(layout).keyids as string[])[1], sslibKeyId(cairnPublic));
      });

      function inTotoVerify(linkDir = links): { status: number | null; output: string } {
        return run(IN_TOTO_VERIFY, ['-l', '../root.layout', '-k', '../owner.pub', '-t', 'ed25519', '--link-dir', linkDir], path.join(dir, 'final'));
      }

      it('records the same materials and products as in-toto-run, and signs the same canonical bytes', () => {
        const theirName = readdirSync(links).find((f) => f !== cairnLinkName) ?? '';
        const theirs = JSON.parse(readFileSync(path.join(links, theirName), 'utf8')) as {
          signatures: { sig: string }[];
          signed: JsonValue & Record<string, JsonValue>;
        };
        const ours = JSON.parse(readFileSync(path.join(links, cairnLinkName), 'utf8')) as { signed: Record<string, JsonValue> };
        assert.deepEqual(theirs.signed.materials, ours.signed.materials);
        assert.deepEqual(theirs.signed.products, ours.signed.products);
        // in-toto-run signed securesystemslib's canonical JSON of its link; cairn's encoding of it must verify.
        const alice = keyFromSslib(JSON.parse(readFileSync(path.join(dir, 'alice.pub'), 'utf8')) as SslibKeyDict);
        const message = Buffer.from(canonicalJson(theirs.signed), 'utf8');
        const sig = Buffer.from(theirs.signatures[0]?.sig ?? '', 'hex');
        assert.equal(nodeVerify(algorithm === 'ed25519' ? null : 'sha256', message, alice, sig), true);
      });

      it('in-toto-verify passes with both links', () => {
        const verdict = inTotoVerify();
        assert.equal(verdict.status, 0, verdict.output);
      });

      it("in-toto-verify fails when cairn's link is missing", () => {
        const only = path.join(dir, 'links-without-cairn');
        mkdirSync(only);
        for (const f of readdirSync(links).filter((name) => name !== cairnLinkName)) writeFileSync(path.join(only, f), readFileSync(path.join(links, f)));
        const verdict = inTotoVerify(only);
        assert.equal(verdict.status, 1, verdict.output);
        assert.match(verdict.output, /LinkNotFoundError: Step 'build' requires '2' link metadata file\(s\), found '1'/);
      });

      it("in-toto-verify fails when cairn's link is changed after signing", () => {
        const tampered = path.join(dir, 'links-tampered');
        mkdirSync(tampered);
        for (const f of readdirSync(links)) {
          const text = readFileSync(path.join(links, f), 'utf8');
          if (f !== cairnLinkName) writeFileSync(path.join(tampered, f), text);
          else {
            const metablock = JSON.parse(text) as { signed: { byproducts: Record<string, unknown> } };
            metablock.signed.byproducts.stdout = 'not what ran';
            writeFileSync(path.join(tampered, f), JSON.stringify(metablock));
          }
        }
        const verdict = inTotoVerify(tampered);
        assert.equal(verdict.status, 1, verdict.output);
        assert.match(verdict.output, /ThresholdVerificationError: .*validly signed by different authorized functionaries\. Only found '1'/);
        rmSync(tampered, { recursive: true });
      });
    });
  }
});
