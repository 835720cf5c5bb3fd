/**
 * Small example projects for tests and benchmarks of `cairn build --vary` and `cairn explain`:
 * each is unreproducible in exactly one way (one environment axis it leaks, or randomness),
 * plus one that is reproducible. Literal file contents; tests commit them with
 * `commitTree`. Recipes are one `node build.cjs` each: no npm, no network.
 */
import type { CauseKind } from './explain.js';
import type { VaryFinding } from './vary.js';

export interface VaryFixture {
  readonly name: string;
  /** What `--vary` must name (empty: reproducible). */
  readonly matters: readonly VaryFinding[];
  /** The cause `explain` should name first from the pair of artifacts that shows the difference. */
  readonly cause: CauseKind | null;
  /** Needs bubblewrap to show (only the sandbox can change the hostname). */
  readonly needsSandbox?: boolean;
  /** Needs libfaketime to show. */
  readonly needsFakeTime?: boolean;
  /** Needs a tmpfs whose directory order follows creation order. */
  readonly needsTmpfs?: boolean;
  readonly files: Readonly<Record<string, string>>;
}

function cairnYaml(name: string): string {
  return `name: ${name}\nbuild:\n  run: node build.cjs\n  output: out\ndeploy:\n  target: local\n  start: node out/server.js\n  health: /healthz\n`;
}

/** A project whose build.cjs writes `out/build.json` from the given expression (plus a constant file). */
function project(name: string, prelude: string, fields: string): Readonly<Record<string, string>> {
  return {
    'cairn.yaml': cairnYaml(name),
    'build.cjs':
      "const fs = require('node:fs');\n" +
      prelude +
      "fs.mkdirSync('out', { recursive: true });\n" +
      "fs.writeFileSync('out/server.js', 'console.log(1)\\n');\n" +
      `fs.writeFileSync('out/build.json', JSON.stringify({ name: '${name}', ${fields} }, null, 2) + '\\n');\n`,
  };
}

const SDE_DATE = 'const released = new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000);\n';

export const VARY_FIXTURES: readonly VaryFixture[] = [
  {
    name: 'reproducible',
    matters: [],
    cause: null,
    files: {
      ...project(
        'reproducible',
        SDE_DATE + "const parts = fs.readdirSync('parts').sort();\n",
        "released: released.toISOString(), parts, size: (1234567.891).toLocaleString('en-US')",
      ),
      'parts/a.txt': 'a\n',
      'parts/b.txt': 'b\n',
      'parts/c.txt': 'c\n',
    },
  },
  {
    name: 'build-time',
    matters: ['time'],
    cause: 'timestamp',
    files: project('build-time', '', 'builtAt: new Date().toISOString()'),
  },
  {
    name: 'build-date',
    matters: ['time'],
    cause: 'timestamp',
    needsFakeTime: true,
    files: project('build-date', '', 'builtOn: new Date().toISOString().slice(0, 10)'),
  },
  {
    name: 'build-path',
    matters: ['build-path'],
    cause: 'build-path',
    files: project('build-path', '', 'builtIn: process.cwd()'),
  },
  {
    name: 'locale-number',
    matters: ['locale'],
    cause: 'locale',
    files: project('locale-number', '', 'size: (1234567.891).toLocaleString()'),
  },
  {
    name: 'local-time',
    matters: ['timezone'],
    cause: 'timezone',
    files: project(
      'local-time',
      SDE_DATE +
        "const pad = (n) => String(Math.abs(n)).padStart(2, '0');\n" +
        'const offset = -released.getTimezoneOffset();\n' +
        "const local = released.getFullYear() + '-' + pad(released.getMonth() + 1) + '-' + pad(released.getDate()) + 'T' + pad(released.getHours()) + ':' + pad(released.getMinutes()) + ':' + pad(released.getSeconds()) + (offset < 0 ? '-' : '+') + pad(Math.trunc(offset / 60)) + ':' + pad(offset % 60);\n",
      'released: local',
    ),
  },
  {
    name: 'opendir-order',
    matters: ['file-order'],
    cause: 'file-order',
    needsTmpfs: true,
    files: {
      'cairn.yaml': cairnYaml('opendir-order'),
      'build.cjs':
        "const fs = require('node:fs');\n" +
        '(async () => {\n' +
        '  const parts = [];\n' +
        "  for await (const entry of await fs.promises.opendir('parts')) parts.push(entry.name);\n" +
        "  fs.mkdirSync('out', { recursive: true });\n" +
        "  fs.writeFileSync('out/build.json', JSON.stringify({ name: 'opendir-order', parts }, null, 2) + '\\n');\n" +
        '})();\n',
      'parts/a.txt': 'a\n',
      'parts/b.txt': 'b\n',
      'parts/c.txt': 'c\n',
      'parts/d.txt': 'd\n',
    },
  },
  {
    name: 'umask-modes',
    matters: ['umask'],
    cause: 'file-mode',
    files: {
      'cairn.yaml': cairnYaml('umask-modes'),
      'build.cjs':
        "const fs = require('node:fs');\nconst { execFileSync } = require('node:child_process');\n" +
        "fs.mkdirSync('out', { recursive: true });\n" +
        "fs.writeFileSync('data.txt', 'payload\\n');\n" +
        "execFileSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-cf', 'out/data.tar', 'data.txt']);\n",
    },
  },
  {
    name: 'random-id',
    matters: ['randomness'],
    cause: 'randomness',
    files: project('random-id', "const { randomBytes } = require('node:crypto');\n", "buildId: randomBytes(16).toString('hex')"),
  },
  {
    name: 'home',
    matters: ['home'],
    cause: 'environment',
    files: project('home', '', "home: require('node:os').homedir()"),
  },
  {
    name: 'user-name',
    matters: ['environment'],
    cause: 'environment',
    files: project('user-name', '', "builtBy: process.env.USER || 'unknown'"),
  },
  {
    name: 'hostname',
    matters: ['hostname'],
    cause: 'environment',
    needsSandbox: true,
    files: project('hostname', '', "host: require('node:os').hostname()"),
  },
];
