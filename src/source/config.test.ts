import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_STRATEGY } from '../model/config.js';
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
      deploy: {
        target: 'local',
        start: 'node x.js',
        health: '/healthz',
        environments: ['dev'],
        healthTimeoutSeconds: 15,
        strategy: DEFAULT_STRATEGY,
        rollbackUnsafe: false,
      },
    });
  });

  it('parses a canary strategy with steps, analysis, triggers and the cannot-measure policy', () => {
    const config = parseProjectConfig(
      [
        'name: svc',
        'build: { run: make, output: dist }',
        'deploy:',
        '  target: local',
        '  start: node x.js',
        '  health: /healthz',
        '  rollbackUnsafe: true',
        '  strategy:',
        '    steps: [{ weight: 5, pauseSeconds: 1.5 }, { weight: 40 }, { weight: 100, pauseSeconds: 0 }]',
        '    analysis: { baselineErrorRate: 0.002, effect: 10, alpha: 0.01, beta: 0.2 }',
        '    triggers: { maxErrorRate: 0.2, maxP99Ms: 800, minRequests: 50, custom: [{ metric: queue_depth, max: 100 }] }',
        '    onCannotMeasure: rollback',
        '    requestsPerMinute: 1200',
        '',
      ].join('\n'),
    );
    assert.equal(config.deploy.rollbackUnsafe, true);
    assert.deepEqual(config.deploy.strategy, {
      kind: 'canary',
      steps: [
        { weight: 5, pauseSeconds: 1.5 },
        { weight: 40, pauseSeconds: 30 },
        { weight: 100, pauseSeconds: 0 },
      ],
      analysis: { baselineErrorRate: 0.002, effect: 10, alpha: 0.01, beta: 0.2 },
      triggers: { maxErrorRate: 0.2, maxP99Ms: 800, minRequests: 50, custom: [{ metric: 'queue_depth', max: 100 }] },
      onCannotMeasure: 'rollback',
      requestsPerMinute: 1200,
    });
  });

  it('turns blue-green into one switch at 100 and parses the command target', () => {
    const config = parseProjectConfig(
      [
        'name: svc',
        'build: { run: make, output: dist }',
        'deploy:',
        '  target: command',
        '  strategy: { kind: blueGreen }',
        '  commands: { start: ./start.sh, shift: ./shift.sh, read: ./read.sh, stop: ./stop.sh, metrics: ./metrics.sh }',
        '',
      ].join('\n'),
    );
    assert.deepEqual(config.deploy.strategy.steps, [{ weight: 100, pauseSeconds: 30 }]);
    assert.equal(config.deploy.strategy.kind, 'blueGreen');
    assert.deepEqual(config.deploy.commands, {
      start: './start.sh',
      shift: './shift.sh',
      read: './read.sh',
      stop: './stop.sh',
      metrics: './metrics.sh',
      timeoutSeconds: 60,
    });
  });

  it('names every bad strategy field: order, last weight, ranges, unknown policies, missing scripts', () => {
    const problems = problemsOf(
      [
        'name: svc',
        'build: { run: make, output: dist }',
        'deploy:',
        '  target: command',
        '  strategy:',
        '    kind: linear',
        '    steps: [{ weight: 50 }, { weight: 20 }, { weight: 90, pause: 3 }]',
        '    analysis: { baselineErrorRate: 0.3, effect: 5, alpha: 2 }',
        '    triggers: { maxErrorRate: 1.5, custom: [{ metric: "bad name", max: 1 }] }',
        '    onCannotMeasure: pass',
        '  commands: { start: ./start.sh }',
        '',
      ].join('\n'),
    );
    const byPath = Object.fromEntries(problems.map((p) => [p.path, p.code]));
    assert.deepEqual(byPath, {
      'deploy.strategy.kind': 'UNSUPPORTED',
      'deploy.strategy.steps[1].weight': 'NOT_ASCENDING',
      'deploy.strategy.steps[2].pause': 'UNKNOWN_KEY',
      'deploy.strategy.steps[2]': 'LAST_NOT_100',
      'deploy.strategy.analysis.alpha': 'OUT_OF_RANGE',
      'deploy.strategy.analysis.effect': 'OUT_OF_RANGE',
      'deploy.strategy.triggers.maxErrorRate': 'OUT_OF_RANGE',
      'deploy.strategy.triggers.custom[0].metric': 'INVALID_FORMAT',
      'deploy.strategy.onCannotMeasure': 'UNSUPPORTED',
      'deploy.commands.shift': 'MISSING',
      'deploy.commands.read': 'MISSING',
      'deploy.commands.stop': 'MISSING',
    });
    const last = problemsOf(
      'name: svc\nbuild: { run: make, output: dist }\ndeploy: { target: local, start: x, health: /h, strategy: { steps: [{ weight: 10 }] } }\n',
    );
    assert.deepEqual(
      last.map((p) => [p.path, p.code]),
      [['deploy.strategy.steps[0]', 'LAST_NOT_100']],
    );
    const product = problemsOf(
      'name: svc\nbuild: { run: make, output: dist }\ndeploy: { target: local, start: x, health: /h, strategy: { analysis: { baselineErrorRate: 0.3, effect: 5 } } }\n',
    );
    assert.deepEqual(
      product.map((p) => [p.path, p.code]),
      [['deploy.strategy.analysis.effect', 'OUT_OF_RANGE']],
    );
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
