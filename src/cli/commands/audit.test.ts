import assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { generateLogKey } from '../../audit/log.js';
import { sha256Digest } from '../../crypto/digest.js';
import { MerkleTree } from '../../crypto/merkle.js';
import {
  formatCheckpoint,
  formatVerifierKey,
  openCheckpoint,
  parseSignerKey,
  parseVerifierKey,
  SIGNATURE_TYPE_COSIGNATURE_V1,
  signNote,
} from '../../crypto/note.js';
import { openState } from '../../pipeline/state.js';
import { cli, useScratch } from '../../testkit.js';

const scratch = useScratch();

/** Appends `count` events to the state's log and makes a checkpoint after each of `checkpointsAt` entries. */
async function grow(state: string, from: number, to: number, checkpoint = true): Promise<void> {
  const opened = await openState(state);
  try {
    const log = await opened.audit();
    for (let i = from; i < to; i++) {
      await log.append({
        actor: { identity: 'ci@example.test', purpose: `step ${i}` },
        action: 'deploy.apply',
        subjects: [sha256Digest(`release ${i}`)],
        payloadDigest: sha256Digest(`payload ${i}`),
      });
    }
    if (checkpoint) await log.checkpoint();
  } finally {
    await opened.close();
  }
}

/** A copy of a state directory to tamper with. */
function copyOf(state: string): string {
  const copy = scratch();
  cpSync(state, copy, { recursive: true });
  return copy;
}

function sql(state: string, statement: string, ...params: unknown[]): unknown[] {
  const db = new Database(path.join(state, 'cairn.db'));
  try {
    const prepared = db.prepare(statement);
    if (prepared.reader) return prepared.all(...params);
    prepared.run(...params);
    return [];
  } finally {
    db.close();
  }
}

describe('cairn audit', () => {
  const state = scratch();
  let vkey = '';

  before(async () => {
    await grow(state, 0, 6);
    await grow(state, 6, 12);
    vkey = readFileSync(path.join(state, 'keys', 'log.vkey'), 'utf8').trim();
  });

  it('key: prints the verifier key of keys/log.key, whose name is the origin cairn.local/<8 hex>', async () => {
    const key = await cli(['audit', 'key', '--state', state, '--json']);
    assert.equal(key.code, 0);
    const event = key.events()[0] as { origin: string; verifierKey: string };
    assert.equal(event.verifierKey, vkey);
    assert.match(event.origin, /^cairn\.local\/[0-9a-f]{8}$/);
    assert.equal(parseVerifierKey(vkey).name, event.origin);
    assert.equal(statSync(path.join(state, 'keys', 'log.key')).mode & 0o777, 0o600);
    assert.match(readFileSync(path.join(state, 'keys', 'log.key'), 'utf8'), /^PRIVATE\+KEY\+cairn\.local\/[0-9a-f]{8}\+[0-9a-f]{8}\+/);
    assert.equal((await cli(['audit', 'key', '--state', state])).stdout, `${vkey}\n`);
  });

  it('checkpoint: prints the latest signed checkpoint, a C2SP signed note', async () => {
    const result = await cli(['audit', 'checkpoint', '--state', state]);
    assert.equal(result.code, 0, result.stderr);
    const opened = openCheckpoint(result.stdout, { log: parseVerifierKey(vkey) });
    assert.equal(opened.checkpoint.size, 12);
  });

  it('proof: prints a receipt and, with --leaf, the exact leaf bytes; verify-receipt checks it offline', async () => {
    const work = scratch();
    const leaf = path.join(work, 'leaf.json');
    const proof = await cli(['audit', 'proof', '4', '--state', state, '--leaf', leaf]);
    assert.equal(proof.code, 0, proof.stderr);
    assert.match(proof.stdout, /^c2sp\.org\/tlog-proof@v1\nextra \S+\nindex 4\n/);
    assert.equal(JSON.parse(readFileSync(leaf, 'utf8')).seq, 4);
    const receipt = path.join(work, 'r.tlog-proof');
    writeFileSync(receipt, proof.stdout);

    const ok = await cli(['audit', 'verify-receipt', receipt, '--log-key', vkey, '--json']);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.equal((ok.events()[0] as { index: number }).index, 4);
    const byFile = await cli(['audit', 'verify-receipt', receipt, '--log-key', path.join(state, 'keys', 'log.vkey'), '--leaf', leaf]);
    assert.equal(byFile.code, 0, byFile.stderr);
    assert.match(byFile.stdout, /^receipt verified offline: entry #4 /);

    const other = path.join(work, 'other.json');
    writeFileSync(other, readFileSync(leaf, 'utf8').replace('step 4', 'step 5'));
    const flipped = path.join(work, 'flipped.tlog-proof');
    writeFileSync(
      flipped,
      proof.stdout.replace(/\nindex 4\n(.)/, (_, c: string) => `\nindex 4\n${c === 'A' ? 'B' : 'A'}`),
    );
    const cases: [string[], number, string][] = [
      [['--leaf', other], 1, 'AUDIT_RECEIPT_LEAF_MISMATCH'],
      [['--log-key', generateLogKey().verifierKey], 1, 'NOTE_UNKNOWN_KEY'],
      [[], 2, 'CLI_MISSING_OPTION'],
    ];
    for (const [extra, code, errorCode] of cases) {
      const args = ['audit', 'verify-receipt', receipt, ...(extra.includes('--log-key') || code === 2 ? [] : ['--log-key', vkey]), ...extra, '--json'];
      const result = await cli(args);
      assert.equal(result.code, code, `${extra.join(' ')}: ${result.stdout}`);
      assert.equal(result.events()[0]?.code, errorCode);
    }
    const bad = await cli(['audit', 'verify-receipt', flipped, '--log-key', vkey, '--json']);
    assert.equal(bad.code, 1);
    assert.equal(bad.events()[0]?.code, 'PROOF_INVALID');
  });

  it('proof: refuses an index beyond the log (exit 2)', async () => {
    const result = await cli(['audit', 'proof', '99', '--state', state, '--json']);
    assert.equal(result.code, 2);
    assert.equal(result.events()[0]?.code, 'AUDIT_INDEX_OUT_OF_RANGE');
    assert.equal((await cli(['audit', 'proof', 'x', '--state', state])).code, 2);
  });

  it('verify: passes on an untouched log and lists its entries', async () => {
    const result = await cli(['audit', 'verify', '--state', state, '--json']);
    assert.equal(result.code, 0, result.stdout);
    const report = result.events()[0] as { ok: boolean; size: number; checkpoints: number; latestCheckpoint: number };
    assert.deepEqual([report.ok, report.size, report.checkpoints, report.latestCheckpoint], [true, 12, 2, 12]);
    const listed = await cli(['audit', 'log', '--state', state, '--limit', '3', '--json']);
    assert.deepEqual(
      listed.events().map((e) => e.index),
      [9, 10, 11],
    );
  });

  describe('verify after tampering: exit 1 with a stable code', () => {
    const cases: { name: string; code: string; tamper(copy: string): void }[] = [
      {
        name: 'a leaf edited',
        code: 'AUDIT_LEAF_HASH_MISMATCH',
        tamper(copy) {
          const [row] = sql(copy, 'SELECT leaf FROM audit_leaves WHERE idx = 5') as { leaf: Buffer }[];
          sql(
            copy,
            'UPDATE audit_leaves SET leaf = ? WHERE idx = 5',
            Buffer.from((row?.leaf ?? Buffer.alloc(0)).toString('utf8').replace('deploy.apply', 'deploy.apple')),
          );
        },
      },
      {
        name: 'a row deleted',
        code: 'AUDIT_SEQUENCE_GAP',
        tamper(copy) {
          sql(copy, 'DELETE FROM audit_leaves WHERE idx = 2');
        },
      },
      {
        name: 'two rows reordered',
        code: 'AUDIT_LEAF_MISPLACED',
        tamper(copy) {
          sql(copy, 'UPDATE audit_leaves SET idx = 1000 WHERE idx = 7');
          sql(copy, 'UPDATE audit_leaves SET idx = 7 WHERE idx = 8');
          sql(copy, 'UPDATE audit_leaves SET idx = 8 WHERE idx = 1000');
        },
      },
      {
        name: 'the tail truncated',
        code: 'AUDIT_TRUNCATED',
        tamper(copy) {
          sql(copy, 'DELETE FROM audit_leaves WHERE idx >= 10');
        },
      },
      {
        name: 'a checkpoint replaced by one signed with another key',
        code: 'AUDIT_CHECKPOINT_SIGNATURE',
        tamper(copy) {
          const origin = parseVerifierKey(vkey).name;
          const [row] = sql(copy, 'SELECT root FROM audit_checkpoints WHERE size = 6') as { root: Buffer }[];
          const intruder = parseSignerKey(generateLogKey().signerKey);
          const note = signNote(formatCheckpoint({ origin, size: 6, rootHash: row?.root ?? Buffer.alloc(32) }), [{ ...intruder, name: origin }]);
          sql(copy, 'UPDATE audit_checkpoints SET note = ? WHERE size = 6', note);
        },
      },
      {
        name: 'a checkpoint replaced by one of a different tree',
        code: 'AUDIT_CHECKPOINT_INCONSISTENT',
        tamper(copy) {
          const signer = parseSignerKey(readFileSync(path.join(copy, 'keys', 'log.key'), 'utf8').trim());
          const other = MerkleTree.fromEntries(Array.from({ length: 6 }, (_, i) => Buffer.from(`another history ${i}`)));
          const note = signNote(formatCheckpoint({ origin: signer.name, size: 6, rootHash: other.root() }), [signer]);
          sql(copy, 'UPDATE audit_checkpoints SET note = ?, root = ? WHERE size = 6', note, other.root());
        },
      },
    ];
    for (const c of cases) {
      it(`reports ${c.name} as ${c.code}`, async () => {
        const copy = copyOf(state);
        c.tamper(copy);
        const result = await cli(['audit', 'verify', '--state', copy, '--json']);
        assert.equal(result.code, 1, result.stdout);
        const report = result.events()[0] as { ok: boolean; problems: { code: string; path: string }[] };
        assert.equal(report.ok, false);
        assert.ok(
          report.problems.some((p) => p.code === c.code),
          report.problems.map((p) => `${p.code} ${p.path}`).join('\n'),
        );
        const text = await cli(['audit', 'verify', '--state', copy]);
        assert.equal(text.code, 1);
        assert.match(text.stdout, new RegExp(`FAILED verification[^]*\\[${c.code}\\]`));
      });
    }

    it('refuses to replace a missing log key while checkpoints signed by it exist', async () => {
      const copy = copyOf(state);
      rmSync(path.join(copy, 'keys', 'log.key'));
      const result = await cli(['audit', 'verify', '--state', copy, '--json']);
      assert.equal(result.code, 1);
      assert.equal(result.events()[0]?.code, 'AUDIT_LOG_KEY_MISMATCH');
    });
  });

  describe('client memory', () => {
    it('fails loudly, showing both checkpoints, when the log was rolled back since this client last looked', async () => {
      const own = copyOf(state);
      const memory = scratch();
      const env = { CAIRN_CHECKPOINTS: memory };
      assert.equal((await cli(['audit', 'checkpoint', '--state', own], { env })).code, 0);
      await grow(own, 12, 15);
      const seen = await cli(['audit', 'verify', '--state', own, '--json'], { env });
      assert.equal(seen.code, 0, seen.stdout);
      assert.equal(seen.events()[0]?.memory, 'advanced');

      // The database owner cuts the last three entries and everything that mentions them.
      const leaves = sql(own, 'SELECT leaf_hash FROM audit_leaves WHERE idx < 12 ORDER BY idx') as { leaf_hash: Buffer }[];
      const tree = new MerkleTree(leaves.map((l) => l.leaf_hash));
      sql(own, 'DELETE FROM audit_leaves WHERE idx >= 12');
      sql(own, 'DELETE FROM audit_checkpoints WHERE size > 12');
      sql(own, 'UPDATE audit_tree SET size = 12, root = ?, frontier = ? WHERE id = 1', tree.root(), Buffer.concat(tree.frontier().hashes));

      const withoutMemory = await cli(['audit', 'verify', '--state', own, '--json']);
      assert.equal(withoutMemory.code, 0, 'alone, the rewound log is self-consistent');
      const caught = await cli(['audit', 'verify', '--state', own], { env });
      assert.equal(caught.code, 1);
      assert.match(caught.stderr, /^error AUDIT_ROLLBACK: SECURITY: the log cairn\.local\/[0-9a-f]{8} presents as its latest a checkpoint older/);
      assert.match(caught.stderr, /remembered \(seen before\):\n {4}cairn\.local\/[0-9a-f]{8}\n {4}15\n/);
      assert.match(caught.stderr, /presented now:\n {4}cairn\.local\/[0-9a-f]{8}\n {4}12\n/);
      const json = await cli(['audit', 'checkpoint', '--state', own, '--json'], { env });
      assert.equal(json.code, 1);
      assert.deepEqual(
        (json.events()[0]?.problems as { path: string }[] | undefined)?.map((p) => p.path),
        ['remembered', 'presented'],
      );
    });
  });
});

describe('cairn witness', () => {
  it('cosigns a checkpoint consistent with the last one it saw; the log publishes only with the quorum', async () => {
    const state = scratch();
    const witnessDir = path.join(scratch(), 'w1');
    await grow(state, 0, 1, false);
    const vkey = readFileSync(path.join(state, 'keys', 'log.vkey'), 'utf8').trim();
    const init = await cli(['witness', 'init', '--dir', witnessDir, '--name', 'witness.example/w1', '--log-key', vkey, '--json']);
    assert.equal(init.code, 0, init.stderr);
    const cosigner = init.events()[0]?.verifierKey as string;
    assert.equal(parseVerifierKey(cosigner).type, 0x04);
    assert.equal(statSync(path.join(witnessDir, 'witness.key')).mode & 0o777, 0o600);
    const policy = path.join(state, 'audit.policy');
    writeFileSync(policy, `# the log publishes a checkpoint once w1 cosigned it\nwitness w1 ${cosigner}\nquorum w1\n`);

    await grow(state, 1, 4);
    const unpublished = await cli(['audit', 'checkpoint', '--state', state, '--json']);
    assert.equal(unpublished.code, 1);
    assert.equal(unpublished.events()[0]?.code, 'AUDIT_NOT_CHECKPOINTED');
    assert.equal((await cli(['audit', 'proof', '0', '--state', state])).code, 1);

    const work = scratch();
    const cosignature = path.join(work, 'cosig');
    const cosigned = await cli(['witness', 'cosign', '--dir', witnessDir, '--log-state', state, '--out', cosignature, '--json']);
    assert.equal(cosigned.code, 0, cosigned.stdout + cosigned.stderr);
    assert.equal(cosigned.events()[0]?.size, 4);
    const added = await cli(['audit', 'add-cosignature', cosignature, '--state', state, '--json']);
    assert.equal(added.code, 0, added.stdout + added.stderr);
    assert.equal(added.events()[0]?.published, true);

    const receipt = path.join(work, 'r.tlog-proof');
    assert.equal((await cli(['audit', 'proof', '2', '--state', state, '--out', receipt])).code, 0);
    const verified = await cli(['audit', 'verify-receipt', receipt, '--log-key', vkey, '--policy', policy, '--json']);
    assert.equal(verified.code, 0, verified.stdout);
    assert.deepEqual(verified.events()[0]?.cosigners, [`witness.example/w1+${cosigner.split('+')[1]}`]);
    const strict = path.join(work, 'strict.policy');
    const w2 = parseSignerKey(generateLogKey().signerKey);
    const w2Key = formatVerifierKey({ name: 'witness.example/w2', publicKey: w2.publicKey, type: SIGNATURE_TYPE_COSIGNATURE_V1 });
    writeFileSync(strict, `witness w1 ${cosigner}\nwitness w2 ${w2Key}\ngroup both all w1 w2\nquorum both\n`);
    const notEnough = await cli(['audit', 'verify-receipt', receipt, '--log-key', vkey, '--policy', strict, '--json']);
    assert.equal(notEnough.code, 1);
    assert.equal(notEnough.events()[0]?.code, 'AUDIT_QUORUM_NOT_MET');

    // The next round goes through request files: old size 4, a consistency proof to 9.
    await grow(state, 4, 9);
    const request = path.join(work, 'request');
    assert.equal((await cli(['audit', 'witness-request', '--old', '4', '--state', state, '--out', request])).code, 0);
    assert.match(readFileSync(request, 'utf8'), /^old 4\n(\S+\n)+\ncairn\.local\/[0-9a-f]{8}\n9\n/);
    const stale = await cli(['audit', 'witness-request', '--old', '0', '--state', state, '--out', path.join(work, 'stale')]);
    assert.equal(stale.code, 0);
    const conflict = await cli(['witness', 'cosign', path.join(work, 'stale'), '--dir', witnessDir, '--json']);
    assert.equal(conflict.code, 1);
    assert.equal(conflict.events()[0]?.code, 'AUDIT_WITNESS_CONFLICT');
    const second = await cli(['witness', 'cosign', request, '--dir', witnessDir]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /^\u2014 witness\.example\/w1 \S+\n$/);
    writeFileSync(cosignature, second.stdout);
    assert.match(
      (await cli(['audit', 'add-cosignature', cosignature, '--state', state])).stdout,
      /checkpoint of size 9, cosigned by witness\.example\/w1\+[0-9a-f]{8}: published/,
    );
    assert.equal((await cli(['audit', 'verify', '--state', state])).code, 0);
  });

  it('needs --dir, and --name for a new witness', async () => {
    assert.equal((await cli(['witness', 'init'])).code, 2);
    assert.equal((await cli(['witness', 'init', '--dir', path.join(scratch(), 'w')])).code, 2);
  });
});
