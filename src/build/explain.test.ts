import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { Output } from '../cli/io.js';
import { explainCommand } from '../cli/commands/explain.js';
import { COMMANDS } from '../cli/commands/index.js';
import { exitCodeFor } from '../cli/main.js';
import { gzipDeterministic, packTar, packTgz, unpackTar, type TarEntry } from '../crypto/archive.js';
import { packZip, type ZipEntry } from '../crypto/zip.js';
import { CairnError, InputError } from '../model/errors.js';
import { cli, useScratch } from '../testkit.js';
import { type Cause, type CauseKind, type DiffNode, type ExplainOptions, type ExplainResult, explainArtifacts } from './explain.js';

const scratch = useScratch();

/** npm's fixed tarball date, 1985-10-26T08:15:00Z. */
const MTIME = 499162500;
const bytes = (text: string) => Buffer.from(text, 'utf8');
const file = (p: string, text: string, mode = 0o644): TarEntry => ({ path: p, type: 'file', mode, data: bytes(text) });
const zfile = (p: string, data: string | Uint8Array, mode = 0o644): ZipEntry => ({
  path: p,
  type: 'file',
  mode,
  data: typeof data === 'string' ? bytes(data) : data,
});

/** A package whose `dist/info` file is the only thing the fixture varies. */
function pkg(info: string, infoName = 'package/dist/info.txt'): TarEntry[] {
  return [
    file('package/package.json', '{"name":"demo","version":"1.0.0"}\n'),
    file('package/dist/index.js', 'export const answer = 42;\n'),
    file(infoName, info),
  ];
}

function explainPair(a: Uint8Array, b: Uint8Array, options: ExplainOptions = {}): ExplainResult {
  const result = explainArtifacts(a, b, { names: ['a.tgz', 'b.tgz'], ...options });
  assert.equal(result.identical, false, 'the fixture pair must differ');
  return result;
}

function top(result: ExplainResult): Cause {
  const [first] = result.causes;
  assert.ok(first !== undefined, 'at least one cause');
  return first;
}

function kinds(result: ExplainResult): CauseKind[] {
  return result.causes.map((c) => c.kind);
}

/** A tar with members in exactly the order given (packTar sorts them). */
function tarInOrder(entries: readonly TarEntry[], mtime = MTIME): Buffer {
  const bodies = entries.map((entry) => {
    const single = packTar([entry], mtime);
    const [member] = unpackTar(single);
    const size = member?.data?.length ?? 0;
    return single.subarray(0, 512 + Math.ceil(size / 512) * 512);
  });
  const body = Buffer.concat(bodies);
  const end = Math.ceil((body.length + 1024) / 10240) * 10240;
  return Buffer.concat([body, Buffer.alloc(end - body.length)]);
}

/** Rewrites one member's header fields, as a checkout under another umask or user would leave them. */
function withHeader(tar: Buffer, memberPath: string, patch: { mode?: number; uname?: string }): Buffer {
  const member = unpackTar(tar).find((m) => m.path === memberPath);
  assert.ok(member !== undefined, memberPath);
  const out = Buffer.from(tar);
  const at = member.offset;
  if (patch.mode !== undefined) out.write(`${patch.mode.toString(8).padStart(7, '0')}\u0000`, at + 100, 'latin1');
  if (patch.uname !== undefined) {
    out.fill(0, at + 265, at + 297);
    out.write(patch.uname, at + 265, 'latin1');
  }
  out.fill(0x20, at + 148, at + 156);
  let sum = 0;
  for (let i = at; i < at + 512; i++) sum += out.readUInt8(i);
  out.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, at + 148, 'latin1');
  return out;
}

function findNode(node: DiffNode, predicate: (n: DiffNode) => boolean): DiffNode | undefined {
  if (predicate(node)) return node;
  for (const child of node.details) {
    const found = findNode(child, predicate);
    if (found !== undefined) return found;
  }
  return undefined;
}

function expectCode(fn: () => unknown, code: string): CairnError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof CairnError, `expected CairnError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

describe('explainArtifacts: identical inputs', () => {
  it('says identical, with no causes and no tree', () => {
    const tgz = packTgz(pkg('x\n'), MTIME);
    assert.deepEqual(explainArtifacts(tgz, Buffer.from(tgz)), { identical: true, causes: [], diff: null });
  });
});

describe('explainArtifacts names the cause of a single difference', () => {
  it('a build time embedded in a file → timestamp, with the two times as evidence', () => {
    const a = packTgz(pkg("export const builtAt = '2024-05-01T10:00:00.000Z';\n", 'package/dist/build-info.js'), MTIME);
    const b = packTgz(pkg("export const builtAt = '2024-05-01T10:07:31.118Z';\n", 'package/dist/build-info.js'), MTIME);
    const cause = top(explainPair(a, b));
    assert.equal(cause.kind, 'timestamp');
    assert.deepEqual(cause.evidence[0], {
      path: 'package/dist/build-info.js',
      line1: 1,
      line2: 1,
      value1: '2024-05-01T10:00:00.000Z',
      value2: '2024-05-01T10:07:31.118Z',
    });
  });

  it('an epoch build time in JSON → timestamp', () => {
    const a = bytes('{"name":"demo","builtAt":1714557600}\n');
    const b = bytes('{"name":"demo","builtAt":1714558051}\n');
    const result = explainPair(a, b);
    assert.equal(top(result).kind, 'timestamp');
    assert.equal(top(result).evidence[0]?.field, '$.builtAt');
  });

  it('tar member mtimes → timestamp, per member, nothing else', () => {
    const result = explainPair(packTgz(pkg('x\n'), 1_700_000_000), packTgz(pkg('x\n'), 1_717_245_296));
    assert.deepEqual(kinds(result), ['timestamp']);
    const cause = top(result);
    assert.equal(cause.confidence, 'high');
    assert.equal(cause.occurrences, 3);
    assert.deepEqual(cause.evidence[0], { path: 'package/dist/index.js', field: 'mtime', value1: '2023-11-14T22:13:20Z', value2: '2024-06-01T12:34:56Z' });
    const list = result.diff === null ? undefined : findNode(result.diff, (n) => n.source1 === 'file list');
    assert.match(list?.unified_diff ?? '', /^-.*2023-11-14T22:13:20Z package\/dist\/index\.js$/m);
  });

  it('an embedded build path → build-path, naming both paths', () => {
    const a = packTgz(pkg('const root = "/tmp/cairn-build-Ab3xQz/app/src";\n'), MTIME);
    const b = packTgz(pkg('const root = "/tmp/cairn-build-Q9mLr2/app/src";\n'), MTIME);
    const cause = top(explainPair(a, b));
    assert.equal(cause.kind, 'build-path');
    assert.equal(cause.evidence[0]?.value1, '/tmp/cairn-build-Ab3xQz/app/src');
    assert.equal(cause.evidence[0]?.value2, '/tmp/cairn-build-Q9mLr2/app/src');
  });

  it('a source map sourceRoot under another build directory → build-path', () => {
    const map = (root: string) => bytes(`${JSON.stringify({ version: 3, sourceRoot: root, sources: ['index.ts'], mappings: 'AAAA' })}\n`);
    const cause = top(explainPair(map('/home/ci/builds/8812/app'), map('/home/ci/builds/9120/app')));
    assert.equal(cause.kind, 'build-path');
    assert.equal(cause.evidence[0]?.field, '$.sourceRoot');
  });

  it('a locale-formatted number → locale (the measured et_EE form)', () => {
    const a = packTgz(pkg('size: 1,234,567.891\n'), MTIME);
    const b = packTgz(pkg('size: 1\u00a0234\u00a0567,891\n'), MTIME);
    const result = explainPair(a, b);
    assert.deepEqual(kinds(result), ['locale']);
    assert.deepEqual([top(result).evidence[0]?.value1, top(result).evidence[0]?.value2], ['1,234,567.891', '1\u00a0234\u00a0567,891']);
    assert.equal(top(explainPair(bytes('total 1234.5\n'), bytes('total 1234,5\n'))).kind, 'locale');
    assert.equal(top(explainPair(bytes('total 1.234,5 kB\n'), bytes('total 1,234.5 kB\n'))).kind, 'locale');
  });

  it('a version bump is not mistaken for a locale', () => {
    assert.equal(top(explainPair(bytes('version 1.2.3\n'), bytes('version 1,2,3\n'))).kind, 'content');
  });

  it('month names in another language → locale', () => {
    assert.equal(top(explainPair(bytes('Released 26. Oktober 1985\n'), bytes('Released 26. October 1985\n'))).kind, 'locale');
  });

  it('a local-time date (Date#toString under two TZs) → timezone, the same instant', () => {
    const a = packTgz(pkg('Built: Fri Oct 25 1985 20:15:00 GMT-1200 (GMT-12:00)\n'), MTIME);
    const b = packTgz(pkg('Built: Sat Oct 26 1985 22:15:00 GMT+1400 (GMT+14:00)\n'), MTIME);
    const result = explainPair(a, b);
    assert.deepEqual(kinds(result), ['timezone']);
    assert.equal(top(result).confidence, 'high');
    assert.match(top(result).detail, /same instant/);
    assert.equal(top(result).evidence[0]?.value1, 'Fri Oct 25 1985 20:15:00 GMT-1200 (GMT-12:00)');
  });

  it('a local-time date without an offset (toLocaleString) → timezone by the whole-hour shift', () => {
    const result = explainPair(bytes('Built 10/25/1985, 8:15:00 PM\n'), bytes('Built 10/26/1985, 10:15:00 PM\n'));
    assert.deepEqual(kinds(result), ['timezone']);
    assert.match(top(result).detail, /\+26 h/);
  });

  it('times that differ by minutes are a timestamp, not a time zone', () => {
    assert.equal(top(explainPair(bytes('Built 10/25/1985, 8:15:00 PM\n'), bytes('Built 10/25/1985, 9:47:12 PM\n'))).kind, 'timestamp');
  });

  it('ISO times a fraction of a second apart (two quick builds) are a timestamp, not a locale', () => {
    const result = explainPair(bytes('{"builtAt":"2026-11-28T14:20:43.840Z"}\n'), bytes('{"builtAt":"2026-11-28T14:20:43.967Z"}\n'));
    assert.deepEqual(kinds(result), ['timestamp']);
  });

  it('tar member order → file-order', () => {
    const entries = pkg('x\n');
    const [p, i, info] = entries as [TarEntry, TarEntry, TarEntry];
    const result = explainPair(gzipDeterministic(tarInOrder([p, i, info])), gzipDeterministic(tarInOrder([info, p, i])));
    assert.deepEqual(kinds(result), ['file-order']);
    assert.deepEqual(top(result).evidence[0], {
      path: '',
      field: 'member order',
      value1: '#1 package/package.json',
      value2: '#1 package/dist/info.txt',
    });
  });

  it('a JSON array from a directory listing in another order → file-order', () => {
    const result = explainPair(bytes('{"files":["a.js","b.js","c.js"]}\n'), bytes('{"files":["c.js","a.js","b.js"]}\n'));
    assert.deepEqual(kinds(result), ['file-order']);
    assert.equal(top(result).evidence[0]?.field, '$.files');
  });

  it('text lines in another order → file-order', () => {
    assert.equal(top(explainPair(bytes('a.js\nb.js\nc.js\n'), bytes('b.js\nc.js\na.js\n'))).kind, 'file-order');
  });

  it('modes 0600 vs 0644 → file-mode, mentioning the umask', () => {
    const tar = packTar(pkg('x\n'), MTIME);
    const result = explainPair(gzipDeterministic(tar), gzipDeterministic(withHeader(tar, 'package/dist/info.txt', { mode: 0o600 })));
    assert.deepEqual(kinds(result), ['file-mode']);
    assert.match(top(result).detail, /umask/);
    assert.deepEqual(top(result).evidence[0], { path: 'package/dist/info.txt', field: 'mode', value1: '0644 (rw-r--r--)', value2: '0600 (rw-------)' });
  });

  it('the tar owner name → environment', () => {
    const tar = packTar(pkg('x\n'), MTIME);
    const result = explainPair(tar, withHeader(tar, 'package/dist/info.txt', { uname: 'builder' }));
    assert.deepEqual(kinds(result), ['environment']);
    assert.deepEqual(top(result).evidence[0], { path: 'package/dist/info.txt', field: 'owner', value1: '0/0 -/-', value2: '0/0 builder/-' });
  });

  it('a one-line minified bundle over the tokeniser window still yields each embedded value', () => {
    const bundle = (stamp: string, dir: string) =>
      bytes(`${'var a=1;'.repeat(4000)}var built="${stamp}";${'var b=2;'.repeat(4000)}var src="/tmp/${dir}/src/index.ts";${'var c=3;'.repeat(4000)}\n`);
    const result = explainPair(bundle('2024-05-01T10:00:00Z', 'build-aaaa'), bundle('2024-05-01T10:12:09Z', 'build-bbbb'));
    assert.deepEqual(kinds(result).sort(), ['build-path', 'timestamp']);
  });

  it('a random id → randomness', () => {
    const a = bytes('{"name":"demo","buildId":"3f9c2a7e-1b4d-4c8e-9a2f-6d5e4c3b2a1f"}\n');
    const b = bytes('{"name":"demo","buildId":"b81e0c55-7d2a-4f39-8c61-0a9e4d7f12c3"}\n');
    const result = explainPair(a, b);
    assert.deepEqual(kinds(result), ['randomness']);
    assert.equal(top(result).confidence, 'high');
    assert.equal(top(result).evidence[0]?.value2, 'b81e0c55-7d2a-4f39-8c61-0a9e4d7f12c3');
    assert.equal(top(explainPair(bytes('nonce=9f86d081884c7d65;\n'), bytes('nonce=2c26b46b68ffc68f;\n'))).kind, 'randomness');
  });

  it('the hostname, recognised by its key → environment', () => {
    const a = bytes('{"name":"demo","builtOn":{"hostname":"ci-runner-17"}}\n');
    const b = bytes('{"name":"demo","builtOn":{"hostname":"devbox"}}\n');
    const result = explainPair(a, b);
    assert.deepEqual(kinds(result), ['environment']);
    assert.deepEqual([top(result).evidence[0]?.value1, top(result).evidence[0]?.value2], ['ci-runner-17', 'devbox']);
  });

  it('the hostname without a telling context → environment only with a hint', () => {
    const a = packTgz(pkg('Generated on ci-runner-17 for you\n'), MTIME);
    const b = packTgz(pkg('Generated on laptop-5 for you\n'), MTIME);
    assert.equal(top(explainPair(a, b)).kind, 'content');
    const hinted = top(explainPair(a, b, { hints: { hostnames: ['ci-runner-17', 'other-host'] } }));
    assert.equal(hinted.kind, 'environment');
    assert.equal(hinted.confidence, 'high');
    assert.match(hinted.detail, /hostname/);
  });

  it('a user in user@host, and HOME paths → environment', () => {
    assert.equal(top(explainPair(bytes('packed by alice@box1\n'), bytes('packed by bob@box1\n'))).kind, 'environment');
    const home = top(explainPair(bytes('cache=/home/alice\n'), bytes('cache=/home/bob\n')));
    assert.equal(home.kind, 'environment');
    assert.match(home.detail, /HOME/);
    const hinted = top(explainPair(bytes('x /srv/work/a1/out\n'), bytes('x /srv/work/b2/out\n'), { hints: { buildPaths: ['/srv/work/a1'] } }));
    assert.equal(hinted.kind, 'build-path');
    assert.equal(hinted.confidence, 'high');
  });

  it('a gzip header differing in MTIME and OS only → compression, naming the fields', () => {
    const tgz = packTgz(pkg('x\n'), MTIME);
    const changed = Buffer.from(tgz);
    changed.writeUInt32LE(1_700_000_000, 4);
    changed.writeUInt8(3, 9);
    const result = explainPair(tgz, changed);
    assert.deepEqual(kinds(result), ['compression']);
    assert.deepEqual(
      top(result).evidence.map((e) => [e.field, e.value1, e.value2]),
      [
        ['gzip MTIME', '0 (none)', '1700000000 (2023-11-14T22:13:20Z)'],
        ['gzip OS', '255 (unknown)', '3 (Unix)'],
      ],
    );
    assert.match(top(result).detail, /gzip -n/);
    assert.deepEqual(result.diff?.comments, ['the decompressed data is identical']);
  });

  it('the same tar recompressed at another level → compression (implementation/level)', () => {
    const text = Array.from({ length: 400 }, (_, i) => `line ${i} ${'abcdefghij'.repeat(i % 7)}\n`).join('');
    const tar = packTar(pkg(text), MTIME);
    const result = explainPair(gzipSync(tar, { level: 9 }), gzipSync(tar, { level: 1 }));
    assert.deepEqual(kinds(result), ['compression']);
    const fields = top(result).evidence.map((e) => e.field);
    assert.ok(fields.includes('deflate stream'), fields.join());
    assert.ok(fields.includes('gzip XFL'), fields.join());
    assert.match(top(result).detail, /compressor implementation, version or level/);
  });

  it('anything else → content', () => {
    const result = explainPair(bytes('hello world\n'), bytes('goodbye world\n'));
    assert.deepEqual(kinds(result), ['content']);
    assert.equal(top(result).confidence, 'low');
  });
});

describe('explainArtifacts: JSON', () => {
  it('a key-order-only difference is detected as such', () => {
    const result = explainPair(
      bytes('{"name":"x","version":"1.0.0","scripts":{"a":"1","b":"2"}}\n'),
      bytes('{"version":"1.0.0","name":"x","scripts":{"b":"2","a":"1"}}\n'),
    );
    assert.deepEqual(kinds(result), ['file-order']);
    assert.deepEqual(
      top(result).evidence.map((e) => [e.field, e.value1, e.value2]),
      [
        ['$', 'name,version,scripts', 'version,name,scripts'],
        ['$.scripts', 'a,b', 'b,a'],
      ],
    );
    const pretty = result.diff === null ? undefined : findNode(result.diff, (n) => n.source1 === 'Pretty-printed');
    assert.ok(pretty?.comments?.includes('Ordering differences only'));
  });

  it('reports added, removed and changed paths', () => {
    const result = explainPair(bytes('{"a":1,"b":{"c":"x"},"gone":true}'), bytes('{"a":2,"b":{"c":"x","d":null}}'));
    const fields = result.causes.flatMap((c) => c.evidence.map((e) => e.field));
    assert.deepEqual(fields.sort(), ['$.a', '$.b.d', '$.gone']);
  });

  it('equal values spelled differently are only formatting', () => {
    const result = explainPair(bytes('{"a": [1, 2]}'), bytes('{\n  "a": [1,2]\n}\n'));
    assert.deepEqual(kinds(result), ['content']);
    assert.match(top(result).detail, /formatting/);
  });
});

describe('explainArtifacts: zip', () => {
  const entries = (mode: number): ZipEntry[] => [zfile('app/index.js', 'export {};\n'), zfile('app/data.txt', 'data\n', mode)];

  it('modes 0600 vs 0644 in a zip → file-mode', () => {
    const result = explainPair(packZip(entries(0o644), { mtime: MTIME }), packZip(entries(0o600), { mtime: MTIME }));
    assert.deepEqual(kinds(result), ['file-mode']);
    assert.equal(top(result).evidence[0]?.path, 'app/data.txt');
  });

  it('DOS times shifted by whole hours while the UTC timestamps agree → timezone', () => {
    const result = explainPair(packZip(entries(0o644), { mtime: MTIME }), packZip(entries(0o644), { mtime: MTIME, utcOffsetMinutes: 180 }));
    assert.deepEqual(kinds(result), ['timezone']);
    assert.equal(top(result).confidence, 'high');
    assert.deepEqual(top(result).evidence[0], { path: 'app/index.js', field: 'DOS time', value1: '1985-10-26 08:15:00', value2: '1985-10-26 11:15:00' });
  });

  it('member times → timestamp; stored vs deflated identical data → compression', () => {
    assert.deepEqual(kinds(explainPair(packZip(entries(0o644), { mtime: MTIME }), packZip(entries(0o644), { mtime: MTIME + 4321 }))), ['timestamp']);
    const big = [zfile('a.txt', 'abc '.repeat(500))];
    assert.deepEqual(kinds(explainPair(packZip(big, { mtime: MTIME }), packZip(big, { mtime: MTIME, method: 'store' }))), ['compression']);
  });

  it('a tgz inside a zip: recurses and reports the nested path', () => {
    const inner = (time: string) => packTgz(pkg(`built ${time}\n`), MTIME);
    const a = packZip([zfile('README', 'hi\n'), zfile('dist/inner.tgz', inner('2024-05-01 10:00:00'))], { mtime: MTIME });
    const b = packZip([zfile('README', 'hi\n'), zfile('dist/inner.tgz', inner('2024-05-01 10:09:41'))], { mtime: MTIME });
    const result = explainArtifacts(a, b, { names: ['a.zip', 'b.zip'] });
    assert.deepEqual(kinds(result), ['timestamp']);
    assert.equal(top(result).evidence[0]?.path, 'dist/inner.tgz!/package/dist/info.txt');
    const tree = result.diff;
    assert.ok(tree !== null);
    assert.equal(tree.source1, 'a.zip');
    const tgzNode = tree.details.find((n) => n.source1 === 'dist/inner.tgz');
    assert.equal(tgzNode?.details[0]?.source1, 'dist/inner.tar');
    const leaf = tgzNode?.details[0]?.details.find((n) => n.source1 === 'package/dist/info.txt');
    assert.equal(leaf?.unified_diff, '@@ -1 +1 @@\n-built 2024-05-01 10:00:00\n+built 2024-05-01 10:09:41\n');
  });
});

describe('explainArtifacts: the tree has the shape of diffoscope JSON', () => {
  it('every node has source1, source2, unified_diff and details; the root has the version marker', () => {
    const result = explainPair(packTgz(pkg('a\n'), MTIME), packTgz(pkg('b\n'), MTIME + 1));
    assert.ok(result.diff !== null);
    assert.equal(result.diff['diffoscope-json-version'], 1);
    const check = (node: DiffNode) => {
      assert.equal(typeof node.source1, 'string');
      assert.equal(typeof node.source2, 'string');
      assert.ok(node.unified_diff === null || typeof node.unified_diff === 'string');
      assert.ok(Array.isArray(node.details));
      node.details.forEach(check);
    };
    check(result.diff);
    assert.deepEqual(
      result.diff.details.map((n) => n.source1),
      ['a.tar'],
    );
  });

  const hasDiffoscope = spawnSync('diffoscope', ['--version']).status === 0;
  it('renders with diffoscope --load-existing-diff', { skip: !hasDiffoscope && 'diffoscope is not installed' }, () => {
    const result = explainPair(packTgz(pkg('a\n'), MTIME), packTgz(pkg('b\n'), MTIME + 1));
    const report = path.join(scratch(), 'tree.json');
    writeFileSync(report, JSON.stringify(result.diff));
    const rendered = spawnSync('diffoscope', ['--load-existing-diff', report, '--text', '-'], { encoding: 'utf8' });
    assert.equal(rendered.status, 1, rendered.stderr);
    assert.match(rendered.stdout, /package\/dist\/info\.txt/);
    assert.match(rendered.stdout, /^[│ ]+-a$/m);
  });
});

describe('explainArtifacts: text diffs', () => {
  it('the unified diff turns source1 into source2 (property)', () => {
    const line = fc.constantFrom('a', 'b', 'c', 'd', '');
    fc.assert(
      fc.property(fc.array(line, { maxLength: 25 }), fc.array(line, { maxLength: 25 }), (lines1, lines2) => {
        const text1 = lines1.map((l) => `${l}\n`).join('');
        const text2 = lines2.map((l) => `${l}\n`).join('');
        fc.pre(text1 !== text2);
        const diff = explainArtifacts(bytes(text1), bytes(text2), { limits: { maxDiffLines: 10_000 } }).diff?.unified_diff;
        assert.ok(typeof diff === 'string');
        assert.deepEqual(applyUnified(lines1, diff), lines2);
      }),
      { numRuns: 300 },
    );
  });
});

/** Applies a unified diff (as written by explain) to `lines`, checking its context and removed lines. */
function applyUnified(lines: readonly string[], diff: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (const row of diff.slice(0, -1).split('\n')) {
    const hunk = /^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@$/.exec(row);
    if (hunk !== null) {
      const start = hunk[2] === '0' ? Number(hunk[1]) : Number(hunk[1]) - 1;
      while (i < start) out.push(lines[i++] ?? '');
    } else if (row.startsWith('+')) out.push(row.slice(1));
    else {
      assert.equal(lines[i], row.slice(1), `line ${i + 1} of source1`);
      if (row.startsWith(' ')) out.push(row.slice(1));
      i++;
    }
  }
  while (i < lines.length) out.push(lines[i++] ?? '');
  return out;
}

describe('explainArtifacts: caps', () => {
  it('rejects a gzip bomb with ARCHIVE_TOO_LARGE', () => {
    const bomb = gzipSync(Buffer.alloc(32 * 1024 * 1024));
    const other = gzipSync(Buffer.alloc(32 * 1024 * 1024, 1));
    assert.ok(bomb.length < 100_000);
    expectCode(() => explainArtifacts(bomb, other, { limits: { maxUnpackedBytes: 1024 * 1024 } }), 'ARCHIVE_TOO_LARGE');
  });

  it('rejects a 100 000-member tar with a small member cap', () => {
    const entries = Array.from({ length: 100_000 }, (_, i) => ({ path: `f${i}`, type: 'file' as const, mode: 0o644 }));
    const a = packTar(entries, MTIME);
    const b = packTar(entries, MTIME + 1);
    const error = expectCode(() => explainArtifacts(a, b, { limits: { maxMembers: 1000 } }), 'ARCHIVE_TOO_MANY_ENTRIES');
    assert.ok(error instanceof InputError);
  });

  it('rejects inputs over maxInputBytes and invalid limits or hints', () => {
    expectCode(() => explainArtifacts(bytes('0123456789a'), bytes('0123456789b'), { limits: { maxInputBytes: 10 } }), 'EXPLAIN_TOO_LARGE');
    expectCode(() => explainArtifacts(bytes('a'), bytes('b'), { limits: { maxDiffLines: 0 } }), 'EXPLAIN_BAD_OPTION');
    expectCode(() => explainArtifacts(bytes('a'), bytes('b'), { hints: { hostnames: ['x'] } }), 'EXPLAIN_BAD_OPTION');
  });

  it('stops unpacking at maxDepth and says so', () => {
    const a = packTgz([{ path: 'inner.tgz', type: 'file', mode: 0o644, data: packTgz(pkg('a\n'), MTIME) }], MTIME);
    const b = packTgz([{ path: 'inner.tgz', type: 'file', mode: 0o644, data: packTgz(pkg('b\n'), MTIME) }], MTIME);
    const result = explainArtifacts(a, b, { limits: { maxDepth: 2 } });
    const stopped = result.diff === null ? undefined : findNode(result.diff, (n) => (n.comments ?? []).some((c) => c.includes('maxDepth')));
    assert.equal(stopped?.source1, 'inner.tgz');
    assert.equal(
      findNode(result.diff as DiffNode, (n) => n.source1 === 'package/dist/info.txt'),
      undefined,
    );
  });

  it('a malformed top-level archive is input error; a malformed nested one is compared as bytes', () => {
    const good = packTgz(pkg('x\n'), MTIME);
    const truncated = good.subarray(0, good.length - 20);
    const error = expectCode(() => explainArtifacts(good, truncated, { names: ['a.tgz', 'b.tgz'] }), 'ARCHIVE_CORRUPT');
    assert.equal(exitCodeFor(error), 2);
    assert.match(error.message, /^b\.tgz: /);
    const wrap = (inner: Uint8Array) => packTgz([{ path: 'inner.tgz', type: 'file', mode: 0o644, data: inner }], MTIME);
    const result = explainArtifacts(wrap(good), wrap(truncated));
    const node = result.diff === null ? undefined : findNode(result.diff, (n) => n.source1 === 'inner.tgz');
    assert.ok(
      node?.comments?.some((c) => c.includes('ARCHIVE_CORRUPT')),
      JSON.stringify(node),
    );
  });

  it('caps unified diffs and evidence values', () => {
    const many = (tag: string) => bytes(Array.from({ length: 2000 }, (_, i) => `${tag} line ${i} ${'x'.repeat(600)}`).join('\n'));
    const result = explainArtifacts(many('left'), many('right'), { limits: { maxDiffLines: 50, maxLineLength: 100, maxValueLength: 40, maxLinePairs: 10 } });
    const diff = result.diff?.unified_diff ?? '';
    const lines = diff.trimEnd().split('\n');
    assert.equal(lines.length, 51);
    assert.match(lines[50] ?? '', /^\[ \d+ lines elided \]$/);
    assert.ok(lines.every((l) => l.length <= 100));
    for (const cause of result.causes) for (const e of cause.evidence) assert.ok((e.value1 ?? '').length <= 40 && (e.value2 ?? '').length <= 40);
    assert.ok(result.diff?.comments?.some((c) => c.includes('maxLinePairs')));
  });
});

describe('cairn explain (command)', () => {
  function io(env: Record<string, string | undefined> = {}) {
    let stdout = '';
    let stderr = '';
    return {
      io: {
        stdout: { write: (t: string) => (stdout += t) },
        stderr: { write: (t: string) => (stderr += t) },
        env,
        cwd: scratch(),
      },
      out: () => stdout,
      err: () => stderr,
    };
  }

  async function runExplain(args: string[], values: Record<string, string | boolean | string[]>, env: Record<string, string | undefined> = {}) {
    const captured = io(env);
    const json = values.json === true;
    const code = await explainCommand.run({ io: captured.io, out: new Output(captured.io, json), values, positionals: args, stateDir: captured.io.cwd });
    return { code, stdout: captured.out(), cwd: captured.io.cwd };
  }

  function writePair(dir: string, a: Uint8Array, b: Uint8Array): [string, string] {
    writeFileSync(path.join(dir, 'a.tgz'), a);
    writeFileSync(path.join(dir, 'b.tgz'), b);
    return [path.join(dir, 'a.tgz'), path.join(dir, 'b.tgz')];
  }

  it('--json emits one explain event and exits 1 when the files differ, 0 when identical', async () => {
    const dir = scratch();
    const [a, b] = writePair(dir, packTgz(pkg('x\n'), MTIME), packTgz(pkg('x\n'), MTIME + 86_400 * 3));
    const different = await runExplain([a, b], { json: true });
    assert.equal(different.code, 1);
    const events = different.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(events.length, 1);
    const [event] = events as [{ type: string; identical: boolean; causes: Cause[]; diff: DiffNode; files: { sha256: string }[] }];
    assert.equal(event.type, 'explain');
    assert.equal(event.identical, false);
    assert.equal(event.causes[0]?.kind, 'timestamp');
    assert.equal(event.diff.source1, a);
    assert.equal(event.files.length, 2);
    const same = await runExplain([a, a], { json: true });
    assert.equal(same.code, 0);
    assert.equal((JSON.parse(same.stdout) as { identical: boolean }).identical, true);
  });

  it('prints causes and the tree for people, escaping control sequences from the artifacts', async () => {
    const dir = scratch();
    const [a, b] = writePair(dir, bytes('title \u001b[31mred\u001b[0m one\n'), bytes('title \u001b[31mred\u001b[0m two\n'));
    const result = await runExplain([a, b], {});
    assert.equal(result.code, 1);
    assert.match(result.stdout, /^different: /);
    assert.match(result.stdout, /likely causes:\n {2}1\. content \(low; 1 difference\)/);
    assert.ok(!result.stdout.includes('\u001b'), 'no raw escape reaches the terminal');
    assert.ok(result.stdout.includes('\\x1b[31m'));
  });

  it('unreadable files are input errors (exit 2)', async () => {
    const dir = scratch();
    await assert.rejects(
      runExplain([path.join(dir, 'missing-a'), path.join(dir, 'missing-b')], {}),
      (error: unknown) => error instanceof CairnError && error.code === 'EXPLAIN_UNREADABLE' && exitCodeFor(error) === 2,
    );
    await assert.rejects(runExplain([dir, dir], {}), (error: unknown) => error instanceof CairnError && error.code === 'EXPLAIN_UNREADABLE');
  });

  it('--deep without diffoscope says so and still explains', async () => {
    const dir = scratch();
    const [a, b] = writePair(dir, bytes('a\n'), bytes('b\n'));
    const result = await runExplain([a, b], { json: true, deep: true }, { PATH: path.join(dir, 'no-such-bin') });
    assert.equal(result.code, 1);
    const event = JSON.parse(result.stdout) as { diffoscope: { status: string; comment: string } };
    assert.equal(event.diffoscope.status, 'absent');
    assert.match(event.diffoscope.comment, /not on PATH/);
  });

  it('--deep attaches the tree a diffoscope on PATH reports, and stops one that hangs', async () => {
    const dir = scratch();
    const bin = path.join(dir, 'bin');
    const [a, b] = writePair(dir, bytes('a\n'), bytes('b\n'));
    spawnSync('mkdir', ['-p', bin]);
    const tree = {
      'diffoscope-json-version': 1,
      source1: 'a.tgz',
      source2: 'b.tgz',
      unified_diff: null,
      details: [{ source1: 'x', source2: 'x', unified_diff: '@@ -1 +1 @@\n-a\n+b\n' }],
    };
    writeFileSync(path.join(bin, 'diffoscope'), `#!/bin/sh\nprintf '%s' '${JSON.stringify(tree)}'\nexit 1\n`);
    chmodSync(path.join(bin, 'diffoscope'), 0o755);
    const ok = await runExplain([a, b], { json: true, deep: true }, { PATH: `${bin}:/usr/bin:/bin` });
    const report = (JSON.parse(ok.stdout) as { diffoscope: { status: string; exitCode: number; tree: DiffNode } }).diffoscope;
    assert.equal(report.status, 'ok');
    assert.equal(report.exitCode, 1);
    assert.deepEqual(report.tree.details[0], { source1: 'x', source2: 'x', unified_diff: '@@ -1 +1 @@\n-a\n+b\n', details: [] });

    writeFileSync(path.join(bin, 'diffoscope'), '#!/bin/sh\nexec sleep 30\n');
    const hung = await runExplain([a, b], { json: true, deep: true, timeout: '0.3' }, { PATH: `${bin}:/usr/bin:/bin` });
    assert.equal(hung.code, 1);
    assert.equal((JSON.parse(hung.stdout) as { diffoscope: { status: string } }).diffoscope.status, 'timeout');
  });

  const registered = COMMANDS.includes(explainCommand);
  it('runs through main() with --json, flags included', { skip: !registered && 'explainCommand is not in COMMANDS yet' }, async () => {
    const dir = scratch();
    const [a, b] = writePair(dir, bytes('Generated on ci-runner-17\n'), bytes('Generated on laptop-5\n'));
    const result = await cli(['explain', a, b, '--json', '--hostname', 'ci-runner-17', '--hostname', 'laptop-5']);
    assert.equal(result.code, 1, result.stderr);
    const [event] = result.events() as [{ type: string; causes: Cause[] }];
    assert.equal(event.type, 'explain');
    assert.equal(event.causes[0]?.kind, 'environment');
    const missing = await cli(['explain', path.join(dir, 'nope'), b, '--json']);
    assert.equal(missing.code, 2);
    assert.equal(missing.events()[0]?.code, 'EXPLAIN_UNREADABLE');
  });

  it('rejects a bad --timeout', async () => {
    const dir = scratch();
    const [a, b] = writePair(dir, bytes('a\n'), bytes('b\n'));
    await assert.rejects(
      runExplain([a, b], { deep: true, timeout: 'soon' }),
      (error: unknown) => error instanceof CairnError && error.code === 'CLI_BAD_OPTION',
    );
  });
});
