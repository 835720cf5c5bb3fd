import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { generateKeyPair, keyIdOf, publicKeyFromPem } from '../crypto/keys.js';
import { CairnError, DeniedError, InputError, InternalError } from '../model/errors.js';
import { cli, useScratch } from '../testkit.js';
import { COMMANDS } from './commands/index.js';
import { exitCodeFor } from './main.js';
import { resolveStateDir } from './state-dir.js';
import { forTerminal, ndjson } from './terminal.js';

const scratch = useScratch();

describe('cairn --help', () => {
  it('lists every command', async () => {
    const result = await cli(['--help']);
    assert.equal(result.code, 0);
    for (const c of COMMANDS) assert.ok(result.stdout.includes(`  ${c.name} `), `${c.name} missing from --help`);
  });

  for (const command of COMMANDS) {
    it(`has help for "${command.name}" listing its options and the global ones`, async () => {
      const result = await cli([...command.name.split(' '), '--help']);
      assert.equal(result.code, 0);
      assert.match(result.stdout, new RegExp(`^usage: cairn ${command.name}`));
      for (const option of [...Object.keys(command.options), 'json', 'state']) assert.ok(result.stdout.includes(`--${option}`), `--${option} missing`);
      const viaHelp = await cli(['help', ...command.name.split(' ')]);
      assert.equal(viaHelp.stdout, result.stdout);
    });
  }
});

describe('cairn usage errors', () => {
  it('exits 2 with a stable code for an unknown command, option or argument count', async () => {
    const cases: [string[], string][] = [
      [['frobnicate'], 'CLI_UNKNOWN_COMMAND'],
      [['status', '--no-such-flag'], 'CLI_BAD_OPTION'],
      [['status', 'extra'], 'CLI_BAD_ARGUMENTS'],
      [['verify', '--artifact', 'x'], 'CLI_MISSING_OPTION'],
      [['audit', 'log', '--limit', 'lots'], 'CLI_BAD_OPTION'],
      [['verify', '--artifact', '/nonexistent', '--attestation', '/nonexistent', '--key', '/nonexistent'], 'CLI_FILE_UNREADABLE'],
    ];
    for (const [args, code] of cases) {
      const result = await cli([...args, '--json'], { cwd: scratch() });
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
      const [event] = result.events();
      assert.equal(event?.type, 'error');
      assert.equal(event?.code, code, args.join(' '));
    }
  });

  it('prints errors for people on stderr, not stdout', async () => {
    const result = await cli(['status', '--bogus']);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^error CLI_BAD_OPTION: /);
  });
});

describe('exitCodeFor', () => {
  it('maps denied to 1, input to 2 and everything else to 3', () => {
    assert.equal(exitCodeFor(new DeniedError('X', 'x')), 1);
    assert.equal(exitCodeFor(new InputError('X', 'x')), 2);
    assert.equal(exitCodeFor(new InternalError('X', 'x')), 3);
    assert.equal(exitCodeFor(new CairnError('X', 'internal', 'x')), 3);
    assert.equal(exitCodeFor(new TypeError('x')), 3);
  });
});

describe('cairn keygen', () => {
  it('writes a PKCS#8 private key (0600) and an SPKI public key and prints the key id', async () => {
    const dir = scratch();
    const result = await cli(['keygen', '--out', 'ci', '--json'], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    const event = result.events()[0] as { keyid: string; privateKey: string; publicKey: string };
    assert.match(readFileSync(event.privateKey, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
    assert.equal(statSync(event.privateKey).mode & 0o777, 0o600);
    assert.equal(keyIdOf(publicKeyFromPem(readFileSync(event.publicKey, 'utf8'))), event.keyid);
    const again = await cli(['keygen', '--out', 'ci'], { cwd: dir });
    assert.equal(again.code, 2);
    assert.match(again.stderr, /CLI_FILE_EXISTS/);
    assert.equal((await cli(['keygen', '--alg', 'rsa'], { cwd: dir })).code, 2);
  });

  it('rejects a key that is not PEM with KEY_MALFORMED (exit 2)', async () => {
    const dir = scratch();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path.join(dir, 'a'), 'artifact');
    writeFileSync(path.join(dir, 'e'), '{}');
    writeFileSync(path.join(dir, 'k'), generateKeyPair().privateKeyPem);
    const result = await cli(['verify', '--artifact', 'a', '--attestation', 'e', '--key', 'k', '--json'], { cwd: dir });
    assert.equal(result.code, 2);
    assert.equal(result.events()[0]?.code, 'KEY_MALFORMED');
  });
});

describe('forTerminal', () => {
  it('escapes control and escape sequences, C1 controls and bidi overrides', () => {
    assert.equal(forTerminal('a\u001b[31mred\u001b[0m'), 'a\\x1b[31mred\\x1b[0m');
    assert.equal(forTerminal('bell\u0007 csi\u009b2J del\u007f'), 'bell\\x07 csi\\x9b2J del\\x7f');
    assert.equal(forTerminal('abc\u202edcba\u2066'), 'abc\\u202edcba\\u2066');
    assert.equal(forTerminal('cr\rover'), 'cr\\x0dover');
  });

  it('keeps tabs, and newlines unless asked for a single line', () => {
    assert.equal(forTerminal('a\tb\nc'), 'a\tb\nc');
    assert.equal(forTerminal('a\tb\nc', true), 'a\tb\\x0ac');
  });

  it('leaves ordinary text, including non-Latin scripts, alone', () => {
    assert.equal(forTerminal('héllo → 世界 ✔'), 'héllo → 世界 ✔');
  });
});

describe('ndjson', () => {
  it('writes one valid JSON line with terminal-active characters escaped', () => {
    const line = ndjson({ s: 'x\u001b]0;title\u0007\u009b\u202e' });
    assert.ok(!/[\u0000-\u001f\u007f-\u009f\u202e]/.test(line));
    assert.deepEqual(JSON.parse(line), { s: 'x\u001b]0;title\u0007\u009b\u202e' });
  });

  it('keeps data from a failing command out of the terminal raw', async () => {
    const dir = scratch();
    const result = await cli(['frobnicate\u001b[2J'], { cwd: dir });
    assert.ok(!result.stderr.includes('\u001b'));
    assert.match(result.stderr, /frobnicate\\x1b\[2J/);
  });
});

describe('resolveStateDir', () => {
  it('prefers --state, then $CAIRN_STATE, then .cairn/ in the enclosing project', () => {
    const root = scratch();
    mkdirSync(path.join(root, '.git'));
    mkdirSync(path.join(root, 'a/b'), { recursive: true });
    assert.equal(resolveStateDir('s', { CAIRN_STATE: '/x' }, root), path.join(root, 's'));
    assert.equal(resolveStateDir(undefined, { CAIRN_STATE: '/x' }, root), '/x');
    assert.equal(resolveStateDir(undefined, {}, path.join(root, 'a/b')), path.join(root, '.cairn'));
  });
});
