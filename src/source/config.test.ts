import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseProjectConfig } from './config.js';
import { SourceError } from './errors.js';

function problemsOf(text: string): { path: string; code: string; message: string }[] {
  try {
    parseProjectConfig(text);
  } catch (e) {
    assert.ok(e instanceof SourceError, `expected a SourceError, got ${String(e)}`);
    return [...e.problems];
  }
  assert.fail('expected the config to be rejected');
}

describe('parseProjectConfig', () => {
  it('parses a valid cairn.yaml with defaults', () => {
    const config = parseProjectConfig('name: svc\nbuild: { run: make, output: dist }\ndeploy: { target: local, start: node x.js, health: /healthz }\n');
    assert.deepEqual(config, {
      name: 'svc',
      build: { run: 'make', output: 'dist', install: 'none' },
      deploy: { target: 'local', start: 'node x.js', health: '/healthz', environments: ['dev'], healthTimeoutSeconds: 15 },
    });
  });

  it('lists every problem at once, each with its path and line', () => {
    const problems = problemsOf(
      [
        'name: svc',
        'colour: blue',
        'build:',
        '  output: 42',
        'deploy:',
        '  target: local',
        '  start: node x.js',
        '  health: /healthz',
        '  healthTimeoutSeconds: "10"',
        '',
      ].join('\n'),
    );
    const byPath = Object.fromEntries(problems.map((p) => [p.path, p]));
    assert.deepEqual(Object.keys(byPath).sort(), ['build.output', 'build.run', 'colour', 'deploy.healthTimeoutSeconds']);
    assert.equal(byPath.colour?.code, 'UNKNOWN_KEY');
    assert.match(byPath.colour?.message ?? '', /line 2/);
    assert.equal(byPath['build.run']?.code, 'MISSING');
    assert.equal(byPath['build.output']?.code, 'WRONG_TYPE');
    assert.match(byPath['build.output']?.message ?? '', /line 4/);
    assert.equal(byPath['deploy.healthTimeoutSeconds']?.code, 'WRONG_TYPE');
  });

  it('reports a missing recipe and deploy section', () => {
    const problems = problemsOf('name: svc\n');
    assert.deepEqual(
      problems.map((p) => [p.path, p.code]),
      [
        ['build', 'MISSING'],
        ['deploy', 'MISSING'],
      ],
    );
  });

  it('rejects unsafe values: parent paths, bad names, unknown targets', () => {
    const problems = problemsOf('name: "Bad Name"\nbuild: { run: make, output: ../etc }\ndeploy: { target: k8s, start: x, health: "no-slash" }\n');
    assert.deepEqual(problems.map((p) => p.path).sort(), ['build.output', 'deploy.health', 'deploy.target', 'name']);
  });

  it('rejects YAML syntax errors, duplicate keys and alias bombs with CONFIG_YAML', () => {
    for (const text of ['name: [unclosed\n', 'name: a\nname: b\n']) {
      assert.throws(
        () => parseProjectConfig(text),
        (e: unknown) => e instanceof SourceError && e.code === 'CONFIG_YAML' && e.problems.length > 0,
      );
    }
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      ...Array.from(
        { length: 8 },
        (_, i) =>
          `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`,
      ),
    ].join('\n');
    assert.throws(
      () => parseProjectConfig(bomb),
      (e: unknown) => e instanceof SourceError && e.code === 'CONFIG_YAML',
    );
  });

  it('rejects an oversized file', () => {
    assert.throws(
      () => parseProjectConfig(`# ${'x'.repeat(300 * 1024)}\n`),
      (e: unknown) => e instanceof SourceError && e.code === 'CONFIG_INVALID',
    );
  });
});
