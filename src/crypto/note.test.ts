import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { NoteError, type NoteErrorCode } from './errors.js';
import { leafHash, MerkleTree } from './merkle.js';
import {
  type Checkpoint,
  cosign,
  cosignatureMessage,
  cosignatureTimestamp,
  formatCheckpoint,
  formatProof,
  formatSignerKey,
  formatVerifierKey,
  generateNoteKey,
  MAX_PROOF_LINES,
  type NoteSigner,
  type NoteVerifier,
  noteKeyId,
  noteSignerFromSeed,
  noteVerifierFromPublicKey,
  openCheckpoint,
  openNote,
  parseCheckpoint,
  parseNote,
  parseProof,
  parseSignerKey,
  parseVerifierKey,
  SIGNATURE_TYPE_COSIGNATURE_V1,
  signNote,
  verifyCosignature,
  verifyProof,
} from './note.js';

const EM = '\u2014';

// golang.org/x/mod sumdb/note note_test.go (BSD-3-Clause): a fixed key pair, a text and its golden signatures.
const PETER_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const ENOCH_VKEY = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
const TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG = `${EM} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;
const ENOCH_SIG = `${EM} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n`;

// C2SP signed-note v1.0.0 example.
const C2SP_VKEY = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k';
const C2SP_NOTE = `This is an example message.\n\n${EM} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n`;

// transparency-dev/formats log/note_test.go (Apache-2.0): a real sum.golang.org checkpoint.
const SUMDB_VKEY = 'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8';
const SUMDB_CHECKPOINT =
  'go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\n' +
  `${EM} sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n`;

// C2SP tlog-cosignature v1.0.1 example: a checkpoint body and its witness's signature line.
const SOFA_BODY = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
const SOFA_WITNESS_SIG = 'jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==';

const seed = (label: string) => createHash('sha256').update(label).digest();
const LOG = noteSignerFromSeed('example.com/cairn-log', seed('cairn test log'));
const LOG_VERIFIER = noteVerifierFromPublicKey(LOG.name, LOG.publicKey);
const WITNESS = noteSignerFromSeed('witness.example/w1', seed('cairn test witness 1'));
const WITNESS_VERIFIER = noteVerifierFromPublicKey(WITNESS.name, WITNESS.publicKey, SIGNATURE_TYPE_COSIGNATURE_V1);
const WITNESS2 = noteSignerFromSeed('witness.example/w2', seed('cairn test witness 2'));
const WITNESS2_VERIFIER = noteVerifierFromPublicKey(WITNESS2.name, WITNESS2.publicKey, SIGNATURE_TYPE_COSIGNATURE_V1);

function expectNoteError(fn: () => unknown, code: NoteErrorCode, category?: 'input' | 'denied'): NoteError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof NoteError, `expected NoteError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (category !== undefined) assert.equal(caught.category, category);
  return caught;
}

describe('verifier and signer keys', () => {
  it('parse the sumdb key pair, and the signer derives the verifier key', () => {
    const signer = parseSignerKey(PETER_SKEY);
    const verifier = parseVerifierKey(PETER_VKEY);
    assert.equal(signer.name, 'PeterNeumann');
    assert.equal(signer.keyId, 0xc74f20a3);
    assert.deepEqual(signer.publicKey, verifier.publicKey);
    assert.equal(verifier.keyId, noteKeyId('PeterNeumann', 0x01, verifier.publicKey));
    assert.equal(formatVerifierKey(signer), PETER_VKEY);
    const material = Buffer.from(PETER_SKEY.split('+').slice(4).join('+'), 'base64');
    assert.equal(formatSignerKey('PeterNeumann', material.subarray(1)), PETER_SKEY);
  });

  it('refuse every truncation and every one-character change of the key texts', () => {
    for (const [text, parse] of [
      [PETER_VKEY, parseVerifierKey],
      [PETER_SKEY, parseSignerKey],
    ] as const) {
      for (let i = 0; i <= text.length; i++) {
        for (let j = i + 1; j <= text.length; j++) {
          if (i !== 0 || j !== text.length) assert.throws(() => parse(text.slice(i, j)), NoteError, text.slice(i, j));
        }
      }
      for (let i = 0; i < text.length; i++) {
        const changed = text.slice(0, i) + String.fromCharCode(text.charCodeAt(i) + 1) + text.slice(i + 1);
        assert.throws(() => parse(changed), NoteError, changed);
      }
    }
  });

  it('say which part is wrong: a wrong-length key, an unknown type, upper-case hex', () => {
    // From sumdb's tests: key ids adjusted so that only the named defect remains.
    expectNoteError(() => parseVerifierKey('PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=='), 'KEY_MALFORMED');
    expectNoteError(() => parseVerifierKey('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'), 'KEY_UNSUPPORTED');
    expectNoteError(() => parseVerifierKey('PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'), 'KEY_MALFORMED');
    expectNoteError(() => parseVerifierKey('Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'), 'KEY_MALFORMED');
  });

  it('never put the secret in an error message', () => {
    const broken = `${PETER_SKEY.slice(0, -1)}A`;
    const error = expectNoteError(() => parseSignerKey(broken), 'KEY_MALFORMED');
    assert.ok(!error.message.includes('AYEKFALVFGyN'), error.message);
  });

  it('parse a witness key of type 0x04, whose key id commits to that type', () => {
    const witness = parseVerifierKey('remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2');
    assert.equal(witness.type, SIGNATURE_TYPE_COSIGNATURE_V1);
    assert.equal(witness.keyId, 0xda77ade7);
    assert.notEqual(noteVerifierFromPublicKey(witness.name, witness.publicKey).keyId, witness.keyId);
  });

  it('generate a key pair whose texts parse back into a working signer and verifier', () => {
    const { signerKey, verifierKey } = generateNoteKey('example.com/fresh');
    const signer = parseSignerKey(signerKey);
    const verifier = parseVerifierKey(verifierKey);
    assert.equal(openNote(signNote('hello\n', [signer]), [verifier]).verified.length, 1);
  });

  it('refuse names with spaces or "+", and keys of the wrong length', () => {
    expectNoteError(() => noteSignerFromSeed('a+b', seed('x')), 'KEY_MALFORMED');
    expectNoteError(() => noteSignerFromSeed('a\u00a0b', seed('x')), 'KEY_MALFORMED');
    expectNoteError(() => noteSignerFromSeed('ok', seed('x').subarray(1)), 'KEY_MALFORMED');
    expectNoteError(() => noteVerifierFromPublicKey('', LOG.publicKey), 'KEY_MALFORMED');
    expectNoteError(() => noteVerifierFromPublicKey('ok', Buffer.alloc(33)), 'KEY_MALFORMED');
  });
});

describe('signNote and openNote', () => {
  it('reproduce the sumdb golden signature byte for byte, and verify it', () => {
    const signed = signNote(TEXT, [parseSignerKey(PETER_SKEY)]);
    assert.equal(signed, `${TEXT}\n${PETER_SIG}`);
    const opened = openNote(signed, [parseVerifierKey(PETER_VKEY)]);
    assert.equal(opened.text, TEXT);
    assert.deepEqual(
      opened.verified.map((s) => [s.name, s.keyId]),
      [['PeterNeumann', 0xc74f20a3]],
    );
  });

  it('verify the C2SP signed-note example', () => {
    const opened = openNote(C2SP_NOTE, [parseVerifierKey(C2SP_VKEY)]);
    assert.equal(opened.text, 'This is an example message.\n');
    assert.equal(opened.verified.length, 1);
  });

  it('keep a signature by an unknown key apart, unchecked, beside the known one', () => {
    const note = `${TEXT}\n${PETER_SIG}${ENOCH_SIG}`;
    const peterOnly = openNote(note, [parseVerifierKey(PETER_VKEY)]);
    assert.deepEqual(
      peterOnly.verified.map((s) => s.name),
      ['PeterNeumann'],
    );
    assert.deepEqual(
      peterOnly.unverified.map((s) => [s.name, s.keyId]),
      [['EnochRoot', 0xaf0cfe78]],
    );
    const both = openNote(note, [parseVerifierKey(PETER_VKEY), parseVerifierKey(ENOCH_VKEY)]);
    assert.deepEqual(
      both.verified.map((s) => s.name),
      ['PeterNeumann', 'EnochRoot'],
    );
    assert.equal(both.unverified.length, 0);
  });

  it('refuse a note no known key signed', () => {
    const note = `${TEXT}\n${PETER_SIG}${ENOCH_SIG}`;
    expectNoteError(() => openNote(note, []), 'NOTE_UNKNOWN_KEY', 'denied');
    expectNoteError(() => openNote(note, [LOG_VERIFIER]), 'NOTE_UNKNOWN_KEY', 'denied');
  });

  it('treat a key that shares only the name, or only the key id, as unknown', () => {
    const sameName = noteVerifierFromPublicKey('PeterNeumann', LOG.publicKey);
    const peter = parseVerifierKey(PETER_VKEY);
    const sameId: NoteVerifier = { ...noteVerifierFromPublicKey('PeterNeumann2', peter.publicKey), keyId: peter.keyId };
    expectNoteError(() => openNote(`${TEXT}\n${PETER_SIG}`, [sameName, sameId]), 'NOTE_UNKNOWN_KEY');
  });

  it('refuse the whole note when a known key’s signature does not verify', () => {
    const bad = `${PETER_SIG.slice(0, 60)}ABCD${PETER_SIG.slice(60)}`;
    expectNoteError(() => openNote(`${TEXT}\n${bad}`, [parseVerifierKey(PETER_VKEY)]), 'NOTE_SIGNATURE_INVALID', 'denied');
    expectNoteError(() => openNote(`${TEXT}\n${PETER_SIG}${bad}`, [parseVerifierKey(PETER_VKEY)]), 'NOTE_SIGNATURE_INVALID');
    expectNoteError(() => openNote(`${TEXT.replace('problem,', 'problem!')}\n${PETER_SIG}`, [parseVerifierKey(PETER_VKEY)]), 'NOTE_SIGNATURE_INVALID');
  });

  it('list a repeated signature once', () => {
    const opened = openNote(`${TEXT}\n${PETER_SIG}${PETER_SIG}${ENOCH_SIG}${ENOCH_SIG}`, [parseVerifierKey(PETER_VKEY)]);
    assert.equal(opened.verified.length, 1);
    assert.equal(opened.unverified.length, 1);
  });

  it('refuse two known keys that share name and key id', () => {
    const peter = parseVerifierKey(PETER_VKEY);
    const impostor: NoteVerifier = { ...noteVerifierFromPublicKey('PeterNeumann', LOG.publicKey), keyId: peter.keyId };
    expectNoteError(() => openNote(`${TEXT}\n${PETER_SIG}`, [peter, impostor]), 'NOTE_AMBIGUOUS_KEY');
    assert.equal(openNote(`${TEXT}\n${PETER_SIG}`, [peter, parseVerifierKey(PETER_VKEY)]).verified.length, 1);
  });

  it('refuse malformed notes', () => {
    const peter = [parseVerifierKey(PETER_VKEY)];
    const cases: Array<[string, string | Uint8Array]> = [
      ['text only', TEXT],
      ['blank line but no signatures', `${TEXT}\n`],
      ['last signature without newline', `${TEXT}\n${PETER_SIG.slice(0, -1)}`],
      ['control character', `\u0001${TEXT}\n${PETER_SIG}`],
      ['carriage return', `${TEXT.replace('\n', '\r\n')}\n${PETER_SIG}`],
      ['not UTF-8', Buffer.concat([Buffer.from([0xff]), Buffer.from(`${TEXT}\n${PETER_SIG}`)])],
      ['lone surrogate', `\ud800${TEXT}\n${PETER_SIG}`],
      ['space in the key name', `${TEXT}\n${EM} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`],
      ['plus in the key name', `${TEXT}\n${PETER_SIG.replace('PeterNeumann', 'Peter+Neumann')}`],
      ['line after the signatures', `${TEXT}\n${PETER_SIG}Unexpected line.\n`],
      ['hyphen instead of em dash', `${TEXT}\n${PETER_SIG.replace(EM, '-')}`],
      ['no space after the em dash', `${TEXT}\n${PETER_SIG.replace(`${EM} `, EM)}`],
      ['unpadded base64', `${TEXT}\n${PETER_SIG.replace('AM=\n', 'AM\n')}`],
      ['URL-safe base64', `${TEXT}\n${PETER_SIG.replace('x08go/', 'x08go_')}`],
      ['signature shorter than a key id and a byte', `${TEXT}\n${EM} PeterNeumann x08gow==\n`],
      ['no signature after the name', `${TEXT}\n${EM} PeterNeumann\n`],
    ];
    for (const [what, note] of cases) {
      assert.throws(
        () => openNote(note, peter),
        (e: unknown) => e instanceof NoteError && e.code === 'NOTE_MALFORMED' && e.category === 'input',
        what,
      );
    }
  });

  it('cap the number of signatures (default 100, never below the spec’s 16) and the size', () => {
    const peter = [parseVerifierKey(PETER_VKEY)];
    expectNoteError(() => openNote(`${TEXT}\n${PETER_SIG.repeat(101)}`, peter), 'NOTE_TOO_LARGE');
    assert.equal(openNote(`${TEXT}\n${PETER_SIG.repeat(100)}`, peter).verified.length, 1);
    assert.equal(openNote(`${TEXT}\n${PETER_SIG}${ENOCH_SIG.repeat(15)}`, peter, { maxSignatures: 16 }).verified.length, 1);
    expectNoteError(() => openNote(`${TEXT}\n${PETER_SIG.repeat(17)}`, peter, { maxSignatures: 16 }), 'NOTE_TOO_LARGE');
    assert.throws(() => openNote(`${TEXT}\n${PETER_SIG}`, peter, { maxSignatures: 15 }), RangeError);
    expectNoteError(() => openNote(`${TEXT}\n${PETER_SIG}`, peter, { maxSize: 100 }), 'NOTE_TOO_LARGE');
  });

  it('sign texts with inner blank lines and several signers, in order', () => {
    const text = 'first\n\n\u2014 looks like a signature but is text\n\nlast\n';
    const signed = signNote(text, [LOG, WITNESS]);
    const opened = openNote(signed, [LOG_VERIFIER, noteVerifierFromPublicKey(WITNESS.name, WITNESS.publicKey)]);
    assert.equal(opened.text, text);
    assert.deepEqual(
      opened.verified.map((s) => s.name),
      [LOG.name, WITNESS.name],
    );
    assert.deepEqual(parseNote(signed).text, text);
  });

  it('refuse to sign a text without a final newline, with control characters, or with no signer', () => {
    expectNoteError(() => signNote('abc', [LOG]), 'NOTE_MALFORMED');
    expectNoteError(() => signNote('a\tb\n', [LOG]), 'NOTE_MALFORMED');
    expectNoteError(() => signNote('abc\n', []), 'NOTE_MALFORMED');
    const badName: NoteSigner = { ...LOG, name: 'bad name' };
    expectNoteError(() => signNote('abc\n', [badName]), 'KEY_MALFORMED');
  });
});

describe('checkpoints', () => {
  const root = leafHash(Buffer.from('hello world'));

  it('format as sumdb’s tree note golden', () => {
    // golang.org/x/mod sumdb/tlog note_test.go: the root is the record hash of "hello world".
    assert.equal(
      formatCheckpoint({ origin: 'go.sum database tree', size: 123456789012, rootHash: root }),
      'go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n',
    );
  });

  it('round-trip, with and without extension lines, and the empty tree', () => {
    const cases: Checkpoint[] = [
      { origin: 'example.com/log', size: 0, rootHash: createHash('sha256').digest(), extensions: [] },
      { origin: 'example.com/log', size: 42, rootHash: root, extensions: ['ext one', 'ext — two'] },
      { origin: 'an origin with spaces', size: Number.MAX_SAFE_INTEGER, rootHash: root, extensions: [] },
    ];
    for (const checkpoint of cases) assert.deepEqual(parseCheckpoint(formatCheckpoint(checkpoint)), checkpoint);
  });

  it('parse the C2SP example and the real sum.golang.org checkpoint', () => {
    const sofa = parseCheckpoint(SOFA_BODY);
    assert.equal(sofa.origin, 'example.com/behind-the-sofa');
    assert.equal(sofa.size, 20852163);
    const opened = openCheckpoint(SUMDB_CHECKPOINT, { log: parseVerifierKey(SUMDB_VKEY), origin: 'go.sum database tree' });
    assert.equal(opened.checkpoint.size, 6476701);
    assert.equal(opened.checkpoint.rootHash.toString('base64'), 'mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=');
  });

  it('refuse malformed bodies', () => {
    const r = root.toString('base64');
    const cases: Array<[string, string]> = [
      ['no final newline', `log\n1\n${r}`],
      ['empty origin', `\n1\n${r}\n`],
      ['two lines', 'log\n1\n'],
      ['leading zero', `log\n01\n${r}\n`],
      ['sign', `log\n+1\n${r}\n`],
      ['negative', `log\n-1\n${r}\n`],
      ['exponent', `log\n1e3\n${r}\n`],
      ['space before the size', `log\n 1\n${r}\n`],
      ['beyond 2^53 − 1', `log\n9007199254740992\n${r}\n`],
      ['root not base64', 'log\n1\nnot base64!\n'],
      ['root of 31 bytes', `log\n1\n${root.subarray(1).toString('base64')}\n`],
      ['root unpadded', `log\n1\n${r.replace(/=$/, '')}\n`],
      ['root URL-safe', `log\n1\n${root.toString('base64url')}=\n`],
      ['empty extension line', `log\n1\n${r}\n\n`],
      ['control character', `log\u0007\n1\n${r}\n`],
      ['carriage return', `log\r\n1\r\n${r}\r\n`],
    ];
    for (const [what, text] of cases) {
      assert.throws(
        () => parseCheckpoint(text),
        (e: unknown) => e instanceof NoteError && e.code === 'CHECKPOINT_MALFORMED',
        what,
      );
    }
  });

  it('list every bad field at once', () => {
    const error = expectNoteError(() => parseCheckpoint('\n007\nxx\n'), 'CHECKPOINT_MALFORMED');
    assert.deepEqual(
      error.problems.map((p) => p.path),
      ['origin', 'size', 'rootHash'],
    );
  });

  it('refuse to format what would not parse back', () => {
    expectNoteError(() => formatCheckpoint({ origin: 'a\nb', size: 1, rootHash: root }), 'CHECKPOINT_MALFORMED');
    expectNoteError(() => formatCheckpoint({ origin: '', size: 1, rootHash: root }), 'CHECKPOINT_MALFORMED');
    expectNoteError(() => formatCheckpoint({ origin: 'log', size: -1, rootHash: root }), 'CHECKPOINT_MALFORMED');
    expectNoteError(() => formatCheckpoint({ origin: 'log', size: 1.5, rootHash: root }), 'CHECKPOINT_MALFORMED');
    expectNoteError(() => formatCheckpoint({ origin: 'log', size: 1, rootHash: root.subarray(1) }), 'CHECKPOINT_MALFORMED');
    expectNoteError(() => formatCheckpoint({ origin: 'log', size: 1, rootHash: root, extensions: [''] }), 'CHECKPOINT_MALFORMED');
  });

  it('open only when the log signed, for the expected origin', () => {
    const body = formatCheckpoint({ origin: 'example.com/cairn-log', size: 1, rootHash: root });
    const signed = signNote(body, [LOG]);
    assert.equal(openCheckpoint(signed, { log: [LOG_VERIFIER], origin: 'example.com/cairn-log' }).logSignatures.length, 1);
    expectNoteError(() => openCheckpoint(signed, { log: LOG_VERIFIER, origin: 'example.com/other' }), 'CHECKPOINT_ORIGIN_MISMATCH', 'denied');
    const witnessOnly = `${body}\n${cosign(body, WITNESS, 1_700_000_000)}`;
    expectNoteError(() => openCheckpoint(witnessOnly, { log: LOG_VERIFIER, witnesses: [WITNESS_VERIFIER] }), 'NOTE_UNKNOWN_KEY');
    expectNoteError(() => openCheckpoint(signNote('not\na checkpoint\n', [LOG]), { log: LOG_VERIFIER }), 'CHECKPOINT_MALFORMED');
  });
});

describe('cosignatures', () => {
  const body = formatCheckpoint({ origin: 'example.com/cairn-log', size: 7, rootHash: leafHash(Buffer.from('seven')) });
  const TIME = 1_700_000_123;

  it('sign `cosignature/v1`, the time line and the body, as in the spec’s example', () => {
    assert.equal(
      cosignatureMessage(SOFA_BODY, 1679315147).toString('utf8'),
      'cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n',
    );
    // The spec's witness signature line carries that same time.
    assert.equal(cosignatureTimestamp(Buffer.from(SOFA_WITNESS_SIG, 'base64').subarray(4)), 1679315147);
  });

  it('read the timestamp of transparency-dev’s vector, and refuse a plain signature as a cosignature', () => {
    const blob = Buffer.from('ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==', 'base64');
    assert.equal(blob.readUInt32BE(0), 0x646846b9);
    assert.equal(cosignatureTimestamp(blob.subarray(4)), 1727964367);
    const plain = Buffer.from('eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY=', 'base64');
    expectNoteError(() => cosignatureTimestamp(plain.subarray(4)), 'NOTE_MALFORMED');
  });

  it('round-trip: key id of type 0x04, 8-byte big-endian time, 64-byte signature', () => {
    const line = cosign(body, WITNESS, TIME);
    assert.match(line, new RegExp(`^${EM} witness\\.example/w1 [A-Za-z0-9+/]+=*\\n$`));
    const blob = Buffer.from(line.slice(line.lastIndexOf(' ') + 1), 'base64');
    assert.equal(blob.length, 76);
    assert.equal(blob.readUInt32BE(0), noteKeyId(WITNESS.name, 0x04, WITNESS.publicKey));
    assert.equal(blob.readBigUInt64BE(4), BigInt(TIME));
    const verified = verifyCosignature(body, line, WITNESS_VERIFIER);
    assert.equal(verified.timestamp, TIME);
    assert.equal(verified.name, WITNESS.name);
  });

  it('fail for a changed time, a changed body, another key or a plain Ed25519 key', () => {
    const line = cosign(body, WITNESS, TIME);
    const blob = Buffer.from(line.slice(line.lastIndexOf(' ') + 1), 'base64');
    blob.writeBigUInt64BE(BigInt(TIME + 1), 4);
    const retimed = `${EM} ${WITNESS.name} ${blob.toString('base64')}\n`;
    expectNoteError(() => verifyCosignature(body, retimed, WITNESS_VERIFIER), 'NOTE_SIGNATURE_INVALID', 'denied');
    const otherBody = formatCheckpoint({ origin: 'example.com/cairn-log', size: 8, rootHash: leafHash(Buffer.from('eight')) });
    expectNoteError(() => verifyCosignature(otherBody, line, WITNESS_VERIFIER), 'NOTE_SIGNATURE_INVALID');
    expectNoteError(() => verifyCosignature(body, line, WITNESS2_VERIFIER), 'NOTE_UNKNOWN_KEY');
    const impostor: NoteVerifier = { ...WITNESS2_VERIFIER, name: WITNESS.name, keyId: WITNESS_VERIFIER.keyId };
    expectNoteError(() => verifyCosignature(body, line, impostor), 'NOTE_SIGNATURE_INVALID');
    expectNoteError(() => verifyCosignature(body, line, noteVerifierFromPublicKey(WITNESS.name, WITNESS.publicKey)), 'KEY_UNSUPPORTED');
  });

  it('refuse to cosign what is not a checkpoint body, or a time that is not whole seconds', () => {
    expectNoteError(() => cosign(signNote(body, [LOG]), WITNESS, TIME), 'CHECKPOINT_MALFORMED');
    assert.throws(() => cosign(body, WITNESS, -1), RangeError);
    assert.throws(() => cosign(body, WITNESS, 1.5), RangeError);
  });

  it('verify inside a signed checkpoint next to the log’s signature, and fail the note when a known witness’s does not', () => {
    const signed = `${signNote(body, [LOG])}${cosign(body, WITNESS, TIME)}${cosign(body, WITNESS2, TIME + 5)}`;
    const opened = openCheckpoint(signed, { log: LOG_VERIFIER, witnesses: [WITNESS_VERIFIER, WITNESS2_VERIFIER] });
    assert.deepEqual(
      opened.cosignatures.map((s) => [s.name, s.timestamp]),
      [
        [WITNESS.name, TIME],
        [WITNESS2.name, TIME + 5],
      ],
    );
    const w1Only = openCheckpoint(signed, { log: LOG_VERIFIER, witnesses: [WITNESS_VERIFIER] });
    assert.deepEqual(
      w1Only.unverified.map((s) => s.name),
      [WITNESS2.name],
    );
    const forged = `${signNote(body, [LOG])}${cosign(formatCheckpoint({ origin: 'example.com/cairn-log', size: 9, rootHash: leafHash(Buffer.from('x')) }), WITNESS, TIME)}`;
    expectNoteError(() => openCheckpoint(forged, { log: LOG_VERIFIER, witnesses: [WITNESS_VERIFIER] }), 'NOTE_SIGNATURE_INVALID');
  });
});

describe('tlog proofs', () => {
  const entries = Array.from({ length: 13 }, (_, i) => Buffer.from(`audit entry ${i}`));
  const tree = MerkleTree.fromEntries(entries);
  const body = formatCheckpoint({ origin: 'example.com/cairn-log', size: tree.size, rootHash: tree.root() });
  const checkpoint = `${signNote(body, [LOG])}${cosign(body, WITNESS, 1_700_000_000)}`;
  const keys = { log: LOG_VERIFIER, witnesses: [WITNESS_VERIFIER], origin: 'example.com/cairn-log' };

  it('lay out header, extra, index, hashes, a blank line and the checkpoint verbatim', () => {
    const proof = tree.inclusionProof(5);
    const text = formatProof({ extra: Buffer.from('context'), index: 5, proof, checkpoint });
    assert.equal(
      text,
      [
        'c2sp.org/tlog-proof@v1',
        `extra ${Buffer.from('context').toString('base64')}`,
        'index 5',
        ...proof.map((h) => h.toString('base64')),
        '',
        checkpoint,
      ].join('\n'),
    );
    assert.deepEqual(parseProof(text), { extra: Buffer.from('context'), index: 5, proof, checkpoint });
    const plain = formatProof({ index: 5, proof, checkpoint });
    assert.deepEqual(parseProof(plain), { index: 5, proof, checkpoint });
  });

  it('verify against the leaf, the log key and the witness', () => {
    for (let index = 0; index < tree.size; index++) {
      const text = formatProof({ index, proof: tree.inclusionProof(index), checkpoint });
      const verified = verifyProof(text, leafHash(entries[index] as Buffer), keys);
      assert.equal(verified.index, index);
      assert.equal(verified.checkpoint.size, 13);
      assert.deepEqual(
        verified.cosignatures.map((s) => s.timestamp),
        [1_700_000_000],
      );
    }
  });

  it('carry zero proof lines for the only leaf of a one-leaf tree', () => {
    const oneBody = formatCheckpoint({ origin: 'example.com/cairn-log', size: 1, rootHash: leafHash(entries[0] as Buffer) });
    const text = formatProof({ index: 0, proof: [], checkpoint: signNote(oneBody, [LOG]) });
    assert.ok(text.startsWith('c2sp.org/tlog-proof@v1\nindex 0\n\nexample.com/cairn-log\n1\n'));
    assert.equal(verifyProof(text, leafHash(entries[0] as Buffer), keys).index, 0);
  });

  it('fail for another leaf, a changed hash, an index outside the tree, an unknown log', () => {
    const proof = tree.inclusionProof(5);
    const text = formatProof({ index: 5, proof, checkpoint });
    expectNoteError(() => verifyProof(text, leafHash(entries[6] as Buffer), keys), 'PROOF_INVALID', 'denied');
    const flipped = [...proof];
    flipped[1] = Buffer.from(proof[1] as Buffer).fill(7, 0, 1);
    expectNoteError(() => verifyProof(formatProof({ index: 5, proof: flipped, checkpoint }), leafHash(entries[5] as Buffer), keys), 'PROOF_INVALID');
    expectNoteError(() => verifyProof(formatProof({ index: 13, proof, checkpoint }), leafHash(entries[5] as Buffer), keys), 'PROOF_INVALID');
    expectNoteError(() => verifyProof(text, leafHash(entries[5] as Buffer), { log: WITNESS2_VERIFIER }), 'NOTE_UNKNOWN_KEY');
    expectNoteError(() => verifyProof(text, leafHash(entries[5] as Buffer), { ...keys, origin: 'example.com/other' }), 'CHECKPOINT_ORIGIN_MISMATCH');
  });

  it('refuse malformed proofs', () => {
    const good = formatProof({ index: 5, proof: tree.inclusionProof(5), checkpoint });
    const hash = (tree.inclusionProof(5)[0] as Buffer).toString('base64');
    const withHashes = (count: number) => ['c2sp.org/tlog-proof@v1', 'index 5', ...Array.from({ length: count }, () => hash), '', checkpoint].join('\n');
    const cases: Array<[string, string]> = [
      ['another header', good.replace('tlog-proof@v1', 'tlog-proof@v2')],
      ['no index line', good.replace('index 5\n', '')],
      ['index with a leading zero', good.replace('index 5', 'index 05')],
      ['negative index', good.replace('index 5', 'index -5')],
      ['two spaces', good.replace('index 5', 'index  5')],
      ['extra after index', good.replace('index 5\n', 'index 5\nextra AAAA\n')],
      ['empty extra', good.replace('index 5\n', 'extra \nindex 5\n')],
      ['extra not base64', good.replace('index 5\n', 'extra !!\nindex 5\n')],
      ['hash of 31 bytes', good.replace(hash, Buffer.alloc(31).toString('base64'))],
      ['hash unpadded', good.replace(hash, hash.replace(/=$/, ''))],
      ['carriage returns', good.replaceAll('\n', '\r\n')],
      ['no blank line', good.replace('\n\nexample.com', '\nexample.com')],
      ['no checkpoint', good.slice(0, good.indexOf('\n\n') + 2)],
      ['checkpoint without signatures', `${good.slice(0, good.indexOf('\n\n') + 2)}${body}`],
      ['checkpoint body malformed', `${good.slice(0, good.indexOf('\n\n') + 2)}${signNote('not a checkpoint\n', [LOG])}`],
      ['65 hashes', withHashes(MAX_PROOF_LINES + 1)],
    ];
    for (const [what, text] of cases) {
      assert.throws(
        () => parseProof(text),
        (e: unknown) => e instanceof NoteError && e.code === 'PROOF_MALFORMED',
        what,
      );
    }
    assert.equal(parseProof(withHashes(MAX_PROOF_LINES)).proof.length, MAX_PROOF_LINES);
  });

  it('refuse to format what would not parse back', () => {
    const proof = tree.inclusionProof(5);
    expectNoteError(() => formatProof({ index: -1, proof, checkpoint }), 'PROOF_MALFORMED');
    expectNoteError(() => formatProof({ index: 5, proof: [...proof, Buffer.alloc(31)], checkpoint }), 'PROOF_MALFORMED');
    expectNoteError(() => formatProof({ index: 5, proof: Array.from({ length: 65 }, () => Buffer.alloc(32)), checkpoint }), 'PROOF_MALFORMED');
    expectNoteError(() => formatProof({ index: 5, proof, checkpoint: body }), 'PROOF_MALFORMED');
    expectNoteError(() => formatProof({ extra: Buffer.alloc(0), index: 5, proof, checkpoint }), 'PROOF_MALFORMED');
  });
});

describe('Ed25519 keys from node:crypto', () => {
  it('match a key pair made by node:crypto (raw seed in, raw public key out)', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const d = Buffer.from(privateKey.export({ format: 'jwk' }).d as string, 'base64url');
    const x = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url');
    assert.deepEqual(noteSignerFromSeed('k', d).publicKey, x);
  });
});
