import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { sha256Digest } from '../crypto/digest.js';
import { openState } from '../pipeline/state.js';
import { cli, useScratch } from '../testkit.js';
import { FileWitness } from './witness.js';

/**
 * Receipts checked by an implementation that shares no code with cairn: a small Python
 * verifier written from RFC 9162 §2.1.3.2, C2SP signed-note, tlog-checkpoint, tlog-proof and
 * tlog-cosignature, fed what `cairn audit proof INDEX --leaf FILE` prints.
 */
const VERIFIER = String.raw`
import base64, hashlib, json, struct, sys

def ed25519_verify(pub, sig, msg):
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        try:
            Ed25519PublicKey.from_public_bytes(pub).verify(sig, msg)
            return True
        except Exception:
            return False
    except ImportError:
        import nacl.signing, nacl.exceptions
        try:
            nacl.signing.VerifyKey(pub).verify(msg, sig)
            return True
        except nacl.exceptions.BadSignatureError:
            return False

def fail(reason):
    print(json.dumps({"ok": False, "reason": reason}))
    sys.exit(1)

def vkey(text, want_type):
    name, key_id, material = text.strip().split("+", 2)
    raw = base64.b64decode(material, validate=True)
    if raw[0] != want_type or len(raw) != 33:
        fail("unexpected key type")
    computed = hashlib.sha256(name.encode() + b"\n" + raw[:1] + raw[1:]).digest()[:4]
    if computed.hex() != key_id:
        fail("key id does not match the key")
    return name, computed, raw[1:]

def node(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()

def root_from_inclusion(index, size, leaf_hash, proof):
    # RFC 9162 2.1.3.2
    if index >= size:
        fail("index beyond the tree")
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            fail("proof too long")
        if fn % 2 == 1 or fn == sn:
            r = node(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        fail("proof too short")
    return r

receipt = open(sys.argv[1], "rb").read().decode("utf-8")
leaf = open(sys.argv[2], "rb").read()
log_name, log_id, log_pub = vkey(sys.argv[3], 1)
witnesses = [vkey(w, 4) for w in sys.argv[4:]]

lines = receipt.split("\n")
if lines[0] != "c2sp.org/tlog-proof@v1":
    fail("not a tlog-proof")
i = 1
extra = None
if lines[i].startswith("extra "):
    extra = base64.b64decode(lines[i][6:], validate=True)
    i += 1
if not lines[i].startswith("index "):
    fail("no index line")
index = int(lines[i][6:])
i += 1
proof = []
while lines[i] != "":
    proof.append(base64.b64decode(lines[i], validate=True))
    i += 1
note = "\n".join(lines[i + 1:])
if extra is not None and extra != leaf:
    fail("the receipt's extra is not the leaf")

split = note.rindex("\n\n")
text, sigs = note[: split + 1], note[split + 2 :].rstrip("\n").split("\n")
body = text.split("\n")
origin, size, root = body[0], int(body[1]), base64.b64decode(body[2], validate=True)
if origin != log_name:
    fail("checkpoint of another log")

signed_by_log = False
cosigned = []
for line in sigs:
    if not line.startswith("\u2014 "):
        fail("bad signature line")
    name, blob = line[2:].split(" ")
    blob = base64.b64decode(blob, validate=True)
    if name == log_name and blob[:4] == log_id:
        if not ed25519_verify(log_pub, blob[4:], text.encode()):
            fail("the log signature does not verify")
        signed_by_log = True
    for (w_name, w_id, w_pub) in witnesses:
        if name == w_name and blob[:4] == w_id:
            (timestamp,) = struct.unpack(">Q", blob[4:12])
            message = ("cosignature/v1\ntime %d\n" % timestamp).encode() + text.encode()
            if not ed25519_verify(w_pub, blob[12:], message):
                fail("a cosignature does not verify")
            cosigned.append(w_name)
if not signed_by_log:
    fail("no signature by the log key")

leaf_hash = hashlib.sha256(b"\x00" + leaf).digest()
if root_from_inclusion(index, size, leaf_hash, proof) != root:
    fail("the inclusion proof does not lead to the checkpoint root")
event = json.loads(leaf)
if event["seq"] != index:
    fail("the leaf is another entry")
print(json.dumps({"ok": True, "index": index, "size": size, "action": event["action"], "cosigned": cosigned}))
`;

const PYTHON = '/usr/bin/python3';

function pythonSkip(): string | false {
  if (!existsSync(PYTHON)) return `${PYTHON} is not installed`;
  const probe = spawnSync(PYTHON, ['-c', 'import importlib.util as u, sys; sys.exit(0 if (u.find_spec("cryptography") or u.find_spec("nacl")) else 1)']);
  return probe.status === 0 ? false : 'python3 has neither the cryptography nor the nacl package for Ed25519';
}

const scratch = useScratch();

describe('receipts checked by an independent Python verifier', { skip: pythonSkip() }, () => {
  const state = scratch();
  const work = scratch();
  const script = path.join(work, 'verify_receipt.py');
  let vkey = '';

  before(async () => {
    writeFileSync(script, VERIFIER);
    const opened = await openState(state);
    try {
      const log = await opened.audit();
      for (let i = 0; i < 13; i++) {
        await log.append({
          actor: { identity: 'ci@example.test', purpose: `interop ${i} — ünïcode` },
          action: i % 2 ? 'deploy.apply' : 'build.complete',
          subjects: [sha256Digest(`artifact ${i}`)],
          payloadDigest: sha256Digest(`payload ${i}`),
        });
      }
      await log.checkpoint();
      vkey = log.verifierKey;
    } finally {
      await opened.close();
    }
  });

  function python(receipt: string, leaf: string, ...keys: string[]) {
    const run = spawnSync(PYTHON, [script, receipt, leaf, ...keys], { encoding: 'utf8' });
    return { status: run.status, out: JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>, stderr: run.stderr };
  }

  it('accepts the receipt of every entry, with the leaf bytes cairn audit proof --leaf wrote', async () => {
    for (let index = 0; index < 13; index++) {
      const receipt = path.join(work, `r${index}.tlog-proof`);
      const leaf = path.join(work, `l${index}.json`);
      const proof = await cli(['audit', 'proof', String(index), '--state', state, '--leaf', leaf, '--out', receipt]);
      assert.equal(proof.code, 0, proof.stderr);
      const result = python(receipt, leaf, vkey);
      assert.equal(result.status, 0, `${index}: ${JSON.stringify(result.out)} ${result.stderr}`);
      assert.deepEqual(result.out, { ok: true, index, size: 13, action: index % 2 ? 'deploy.apply' : 'build.complete', cosigned: [] });
    }
  });

  it('rejects an altered leaf, a receipt for another index, and a forged signature', async () => {
    const receipt = path.join(work, 'r5.tlog-proof');
    const leaf = path.join(work, 'l5.json');
    const altered = path.join(work, 'altered.json');
    writeFileSync(altered, readFileSync(leaf, 'utf8').replace('interop 5', 'interop 6'));
    // Without the extra line, only the leaf file speaks for the entry.
    const bare = path.join(work, 'bare.tlog-proof');
    writeFileSync(bare, readFileSync(receipt, 'utf8').replace(/^extra .*\n/m, ''));
    assert.equal(python(bare, leaf, vkey).status, 0);
    assert.deepEqual(python(bare, altered, vkey).out, { ok: false, reason: 'the inclusion proof does not lead to the checkpoint root' });
    const moved = path.join(work, 'moved.tlog-proof');
    writeFileSync(moved, readFileSync(bare, 'utf8').replace('index 5\n', 'index 4\n'));
    assert.equal(python(moved, leaf, vkey).status, 1);
    const forged = path.join(work, 'forged.tlog-proof');
    writeFileSync(
      forged,
      readFileSync(receipt, 'utf8').replace(/(\u2014 \S+ \S{10})(\S)/, (_, head: string, c: string) => head + (c === 'A' ? 'B' : 'A')),
    );
    assert.equal(python(forged, leaf, vkey).status, 1);
  });

  it("checks a witness's cosignature (tlog-cosignature v1) the same way cairn does", async () => {
    const witnessDir = path.join(work, 'witness');
    const { witness } = await FileWitness.init(witnessDir, 'witness.example/w1', [vkey]);
    writeFileSync(path.join(state, 'audit.policy'), `witness w1 ${witness.verifierKey}\nquorum w1\n`);
    const opened = await openState(state);
    try {
      const log = await opened.audit();
      await log.append({
        actor: { identity: 'ci@example.test', purpose: 'cosigned' },
        action: 'gate.decision',
        subjects: [],
        payloadDigest: sha256Digest('x'),
      });
      await log.checkpoint();
      const latest = await witness.latest(log.origin);
      const { cosignature } = await witness.cosign(await log.witnessRequest(latest === null ? 0 : 13), new Date('2025-03-01T00:00:00Z'));
      await log.addCosignatures(cosignature);
    } finally {
      await opened.close();
    }
    const receipt = path.join(work, 'r13.tlog-proof');
    const leaf = path.join(work, 'l13.json');
    assert.equal((await cli(['audit', 'proof', '13', '--state', state, '--leaf', leaf, '--out', receipt])).code, 0);
    const result = python(receipt, leaf, vkey, witness.verifierKey);
    assert.equal(result.status, 0, JSON.stringify(result.out));
    assert.deepEqual(result.out.cosigned, ['witness.example/w1']);
  });
});
