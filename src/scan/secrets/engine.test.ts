import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { hashSecret, maskSecret, SecretDetector, shannonEntropy } from './engine.js';
import { SECRET_RULES } from './rules.js';
import { ALNUM, BASE64, DIGITS, fakeChars, HEX, join, LOWER, UPPER, URLSAFE } from './samples.js';

const detector = new SecretDetector();

interface Case {
  readonly rule: string;
  /** Text holding one secret. */
  readonly text: string;
  readonly secret: string;
  readonly file?: string;
  /** Similar text the rule must not report. */
  readonly near: string;
  readonly nearFile?: string;
}

function jwtPart(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

const uuid = () => `${fakeChars(HEX, 8, 91)}-${fakeChars(HEX, 4, 92)}-${fakeChars(HEX, 4, 93)}-${fakeChars(HEX, 4, 94)}-${fakeChars(HEX, 12, 95)}`;
const pemBody = [fakeChars(BASE64, 64, 61), fakeChars(BASE64, 64, 62), fakeChars(BASE64, 40, 63)].join('\n');
const jwt = `${jwtPart({ alg: 'HS256', typ: 'JWT' })}.${jwtPart({ sub: 'build-bot', iat: 1700000000 })}.${fakeChars(URLSAFE, 43, 64)}`;

function simple(rule: string, secret: string, near: string, before = 'value: ', after = '\n'): Case {
  return { rule, text: `${before}${secret}${after}`, secret, near: `${before}${near}${after}` };
}

const CASES: Case[] = [
  simple('secret-aws-access-key-id', join('AK', 'IA', fakeChars(`${UPPER}234567`, 16, 1)), join('AKIAIOSFODNN7', 'EXAMPLE')),
  simple('secret-aws-secret-access-key', fakeChars(`${ALNUM}/+`, 40, 2), 'a'.repeat(20) + 'b'.repeat(20), 'aws_secret_access_key = '),
  simple('secret-gcp-api-key', join('AI', 'za', fakeChars(URLSAFE, 35, 3)), join('AI', 'za', fakeChars(URLSAFE, 12, 3))),
  simple('secret-google-oauth-client-secret', join('GOC', 'SPX-', fakeChars(URLSAFE, 28, 4)), join('GOC', 'SPX-', fakeChars(URLSAFE, 10, 4))),
  simple('secret-azure-storage-key', `${fakeChars(BASE64, 86, 5)}==`, 'short==', 'DefaultEndpointsProtocol=https;AccountName=x;AccountKey='),
  simple('secret-azure-ad-client-secret', join(fakeChars(ALNUM, 3, 6), '8Q', '~', fakeChars(ALNUM, 34, 6)), join('abc8Q', '~short')),
  simple('secret-alibaba-access-key', join('LT', 'AI', fakeChars(ALNUM, 20, 7)), join('LT', 'AI', fakeChars(ALNUM, 8, 7))),
  simple('secret-digitalocean-token', join('dop', '_v1_', fakeChars(HEX, 64, 8)), join('dop', '_v1_', fakeChars(HEX, 20, 8))),
  { rule: 'secret-heroku-api-key', secret: uuid(), text: `HEROKU_API_KEY=${uuid()}\n`, near: `request_id=${uuid()}\n` },
  simple('secret-cloudflare-api-token', fakeChars(URLSAFE, 40, 10), fakeChars(URLSAFE, 12, 10), 'CLOUDFLARE_API_TOKEN='),
  simple('secret-databricks-token', join('da', 'pi', fakeChars(HEX, 32, 11)), join('da', 'pi', 'zz', fakeChars(HEX, 30, 11))),
  simple('secret-supabase-token', join('sb', 'p_', fakeChars(HEX, 40, 12)), join('sb', 'p_', fakeChars(HEX, 12, 12))),
  simple('secret-planetscale-token', join('pscale', '_tkn_', fakeChars(ALNUM, 43, 13)), join('pscale', '_tkn_', fakeChars(ALNUM, 10, 13))),
  simple('secret-pulumi-token', join('pu', 'l-', fakeChars(HEX, 40, 14)), join('pu', 'l-', fakeChars(HEX, 39, 14))),
  simple(
    'secret-terraform-cloud-token',
    join(fakeChars(ALNUM, 14, 15), '.atlas', 'v1.', fakeChars(URLSAFE, 67, 15)),
    join(fakeChars(ALNUM, 14, 15), '.atlas', 'v1.', 'short'),
  ),
  simple('secret-vault-token', join('hv', 's.', fakeChars(URLSAFE, 90, 16)), join('hv', 's.', 'short')),
  simple('secret-doppler-token', join('dp', '.pt.', fakeChars(ALNUM, 43, 17)), join('dp', '.pt.', fakeChars(ALNUM, 12, 17))),
  simple('secret-kubeconfig-client-key', fakeChars(BASE64, 120, 18), 'c2hvcnQ=', '    client-key-data: '),
  simple('secret-github-token', join('gh', 'p_', fakeChars(ALNUM, 36, 19)), join('gh', 'p_', fakeChars(ALNUM, 35, 19))),
  simple(
    'secret-github-fine-grained-token',
    join('github', '_pat_', fakeChars(ALNUM, 22, 20), '_', fakeChars(ALNUM, 59, 20)),
    join('github', '_pat_', fakeChars(ALNUM, 22, 20)),
  ),
  simple('secret-gitlab-token', join('gl', 'pat-', fakeChars(ALNUM, 20, 21)), join('gl', 'pat-', fakeChars(ALNUM, 8, 21))),
  simple('secret-gitlab-runner-registration-token', join('GR13', '48941', fakeChars(ALNUM, 20, 22)), join('GR13', '48941', fakeChars(ALNUM, 6, 22))),
  simple('secret-bitbucket-app-password', join('AT', 'BB', fakeChars(ALNUM, 32, 23)), join('AT', 'BB', fakeChars(ALNUM, 10, 23))),
  simple('secret-atlassian-api-token', join('ATA', 'TT3', fakeChars(URLSAFE, 180, 24)), join('ATA', 'TT3', fakeChars(URLSAFE, 20, 24))),
  simple('secret-npm-token', join('np', 'm_', fakeChars(ALNUM, 36, 25)), join('np', 'm_', fakeChars(ALNUM, 20, 25))),
  simple('secret-npmrc-auth', fakeChars(ALNUM, 36, 26), '${NPM_TOKEN}', '//registry.npmjs.org/:_authToken='),
  simple('secret-pypi-token', join('pypi-', 'AgEIcHlwaS5vcmc', fakeChars(URLSAFE, 70, 27)), join('pypi-', 'AgEIcHlwaS5vcmc', 'short')),
  simple('secret-rubygems-key', join('ruby', 'gems_', fakeChars(HEX, 48, 28)), join('ruby', 'gems_', fakeChars(HEX, 20, 28))),
  simple('secret-nuget-key', join('oy', '2', fakeChars(LOWER + DIGITS, 43, 29)), join('oy', '2', fakeChars(LOWER + DIGITS, 20, 29))),
  simple('secret-crates-token', join('ci', 'o', fakeChars(ALNUM, 32, 30)), join('ci', 'o', 'a'.repeat(16), 'b'.repeat(16))),
  simple('secret-dockerhub-token', join('dckr', '_pat_', fakeChars(ALNUM, 27, 31)), join('dckr', '_pat_', fakeChars(ALNUM, 12, 31))),
  {
    rule: 'secret-docker-config-auth',
    secret: Buffer.from(`ci:${fakeChars(ALNUM, 24, 32)}`).toString('base64'),
    text: `{"auths": {"registry.example.com": {"auth": "${Buffer.from(`ci:${fakeChars(ALNUM, 24, 32)}`).toString('base64')}"}}}\n`,
    file: '.docker/config.json',
    near: `{"auths": {"registry.example.com": {"auth": "${Buffer.from(`ci:${fakeChars(ALNUM, 24, 32)}`).toString('base64')}"}}}\n`,
    nearFile: 'docs/example.json',
  },
  {
    rule: 'secret-netrc-password',
    secret: fakeChars(ALNUM, 20, 33),
    text: `machine git.example.com\n  login ci\n  password ${fakeChars(ALNUM, 20, 33)}\n`,
    file: 'home/.netrc',
    near: `machine git.example.com\n  login ci\n  password ${fakeChars(ALNUM, 20, 33)}\n`,
    nearFile: 'docs/netrc.md',
  },
  simple(
    'secret-slack-token',
    join('xo', 'xb-', fakeChars(DIGITS, 12, 34), '-', fakeChars(DIGITS, 13, 34), '-', fakeChars(ALNUM, 24, 34)),
    join('xo', 'xb-', 'short'),
  ),
  simple(
    'secret-slack-app-token',
    join('xa', 'pp-1-', fakeChars(UPPER + DIGITS, 11, 35), '-', fakeChars(DIGITS, 13, 35), '-', fakeChars(LOWER + DIGITS, 64, 35)),
    join('xa', 'pp-1-', 'A-1-a'),
  ),
  simple(
    'secret-slack-webhook',
    join('https://hooks.', 'slack.com/services/T', fakeChars(UPPER, 8, 36), '/B', fakeChars(UPPER, 8, 36), '/', fakeChars(ALNUM, 24, 36)),
    join('https://hooks.', 'slack.com/services/'),
  ),
  simple(
    'secret-discord-webhook',
    join('https://discord.com/api/', 'webhooks/', fakeChars(DIGITS, 18, 37), '/', fakeChars(URLSAFE, 68, 37)),
    join('https://discord.com/api/', 'webhooks/1/short'),
  ),
  simple(
    'secret-telegram-bot-token',
    join(fakeChars(DIGITS, 9, 38), ':A', 'A', fakeChars(URLSAFE, 33, 38)),
    join(fakeChars(DIGITS, 9, 38), ':A', 'A', 'short'),
    'TELEGRAM_BOT_TOKEN=',
  ),
  simple('secret-stripe-live-key', join('sk', '_live_', fakeChars(ALNUM, 24, 39)), join('sk', '_test_', fakeChars(ALNUM, 24, 39))),
  simple('secret-square-token', join('EA', 'AA', fakeChars(URLSAFE, 60, 40)), join('EA', 'AA', 'short')),
  simple('secret-sendgrid-key', join('SG', '.', fakeChars(URLSAFE, 22, 41), '.', fakeChars(URLSAFE, 43, 41)), join('SG', '.', 'short.short')),
  {
    rule: 'secret-twilio-api-key',
    secret: join('S', 'K', fakeChars(HEX, 32, 42)),
    text: `TWILIO_API_KEY=${join('S', 'K', fakeChars(HEX, 32, 42))}\n`,
    near: `OTHER_KEY=${join('S', 'K', fakeChars(HEX, 32, 42))}\n`,
  },
  {
    rule: 'secret-mailgun-key',
    secret: join('ke', 'y-', fakeChars(HEX, 32, 43)),
    text: `MAILGUN_KEY=${join('ke', 'y-', fakeChars(HEX, 32, 43))}\n`,
    near: `OTHER=${join('ke', 'y-', fakeChars(HEX, 32, 43))}\n`,
  },
  simple(
    'secret-openai-key',
    join('sk-', 'proj-', fakeChars(URLSAFE, 40, 44), 'T3Blbk', 'FJ', fakeChars(URLSAFE, 40, 44)),
    join('sk-', 'proj-', fakeChars(URLSAFE, 40, 44)),
  ),
  simple('secret-anthropic-key', join('sk-', 'ant-', 'api03-', fakeChars(URLSAFE, 90, 45), 'AA'), join('sk-', 'ant-', 'api03-', 'short')),
  simple('secret-huggingface-token', join('h', 'f_', fakeChars(UPPER + LOWER, 34, 46)), join('h', 'f_', fakeChars(UPPER + LOWER, 20, 46))),
  simple('secret-shopify-token', join('shp', 'at_', fakeChars(HEX, 32, 47)), join('shp', 'at_', fakeChars(HEX, 16, 47))),
  simple('secret-linear-key', join('lin', '_api_', fakeChars(ALNUM, 40, 48)), join('lin', '_api_', fakeChars(ALNUM, 20, 48))),
  simple('secret-postman-key', join('PM', 'AK-', fakeChars(HEX, 24, 49), '-', fakeChars(HEX, 34, 49)), join('PM', 'AK-', fakeChars(HEX, 24, 49))),
  simple('secret-newrelic-key', join('NR', 'AK-', fakeChars(UPPER + DIGITS, 27, 50)), join('NR', 'AK-', fakeChars(UPPER + DIGITS, 10, 50))),
  simple('secret-grafana-token', join('gl', 'sa_', fakeChars(ALNUM, 32, 51), '_', fakeChars(HEX, 8, 51)), join('gl', 'sa_', fakeChars(ALNUM, 10, 51))),
  simple('secret-sentry-token', join('sntr', 'yu_', fakeChars(HEX, 64, 52)), join('sntr', 'yu_', fakeChars(HEX, 20, 52))),
  simple('secret-okta-token', join('0', '0', fakeChars(URLSAFE, 40, 53)), join('0', '0', fakeChars(URLSAFE, 20, 53)), 'OKTA_API_TOKEN='),
  simple(
    'secret-mapbox-secret-token',
    join('sk', '.eyJ', fakeChars(URLSAFE, 60, 54), '.', fakeChars(URLSAFE, 22, 54)),
    join('pk', '.eyJ', fakeChars(URLSAFE, 60, 54), '.', fakeChars(URLSAFE, 22, 54)),
  ),
  simple('secret-age-secret-key', join('AGE-SECRET', '-KEY-1', fakeChars('QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L', 58, 55)), join('AGE-SECRET', '-KEY-1', 'QPZRY')),
  {
    rule: 'secret-private-key',
    secret: pemBody,
    text: `${join('-----BEGIN RSA ', 'PRIVATE KEY-----')}\n${pemBody}\n${join('-----END RSA ', 'PRIVATE KEY-----')}\n`,
    near: `const header = '${join('-----BEGIN ', 'PRIVATE KEY-----')}';\n`,
  },
  simple('secret-jwt', jwt, `${jwtPart({ hello: 'world' })}.${jwtPart({ sub: 'x' })}.${fakeChars(URLSAFE, 43, 64)}`, 'Authorization: Bearer '),
  simple('secret-database-url', fakeChars(ALNUM, 16, 56), '${DB_PASSWORD}', 'DATABASE_URL=postgres://app:', '@db.internal:5432/app\n'),
  simple('secret-url-credentials', fakeChars(ALNUM, 20, 57), '$GIT_TOKEN', 'remote = https://deploy:', '@git.example.com/app.git\n'),
  simple('secret-generic-assignment', fakeChars(ALNUM, 32, 58), 'process.env.CLIENT_SECRET', 'client_secret: '),
];

describe('SecretDetector: one positive and one negative case per rule', () => {
  it('covers every rule', () => {
    assert.deepEqual(
      SECRET_RULES.map((r) => r.id).filter((id) => !CASES.some((c) => c.rule === id)),
      [],
    );
  });

  for (const c of CASES) {
    it(`${c.rule} finds the secret, at its position`, () => {
      const found = detector.scan(c.text, c.file ?? 'config/app.env');
      assert.deepEqual(
        found.map((f) => f.ruleId),
        [c.rule],
      );
      const f = found[0];
      const index = c.text.indexOf(c.secret);
      const before = c.text.slice(0, index);
      assert.equal(f?.location.line, before.split('\n').length);
      assert.equal(f?.location.column, index - before.lastIndexOf('\n'));
      assert.equal(f?.evidence.secretHash, hashSecret(c.secret));
      assert.ok(!JSON.stringify(f).includes(c.secret), 'the finding never holds the secret');
    });
    it(`${c.rule} leaves the near miss alone`, () => {
      assert.deepEqual(
        detector.scan(c.near, c.nearFile ?? 'config/app.env').filter((f) => f.ruleId === c.rule),
        [],
      );
    });
  }
});

describe('SecretDetector findings', () => {
  const token = join('gh', 'p_', fakeChars(ALNUM, 36, 70));
  const other = join('np', 'm_', fakeChars(ALNUM, 36, 71));

  it('mask every secret on the excerpt line, and the excerpt keeps its context', () => {
    const found = detector.scan(`export GH=${token} NPM=${other} # ci\n`, '.env');
    assert.deepEqual(
      found.map((f) => f.ruleId),
      ['secret-github-token', 'secret-npm-token'],
    );
    for (const f of found) {
      const excerpt = String(f.evidence.excerpt);
      assert.ok(!excerpt.includes(token) && !excerpt.includes(other));
      assert.match(excerpt, /^export GH=ghp_\*{8} NPM=npm_\*{8} # ci$/);
    }
  });

  it('keep the same fingerprint when the secret moves within its file, and change it across files and secrets', () => {
    const a = detector.scan(`x=${token}\n`, 'a.env')[0];
    const moved = detector.scan(`\n\n  y = "${token}"\n`, 'a.env')[0];
    const elsewhere = detector.scan(`x=${token}\n`, 'b.env')[0];
    const changed = detector.scan(`x=${join('gh', 'p_', fakeChars(ALNUM, 36, 72))}\n`, 'a.env')[0];
    assert.equal(moved?.fingerprint, a?.fingerprint);
    assert.notEqual(elsewhere?.fingerprint, a?.fingerprint);
    assert.notEqual(changed?.fingerprint, a?.fingerprint);
  });

  it('report a typed secret once, not again as a generic assignment', () => {
    const found = detector.scan(`api_token = "${token}"\n`, 'a.py');
    assert.deepEqual(
      found.map((f) => f.ruleId),
      ['secret-github-token'],
    );
  });

  it('skip documentation placeholders and low-entropy values', () => {
    const text = [
      `aws_access_key_id = ${join('AKIA', 'IOSFODNN7EXAMPLE')}`,
      `password = "${'x'.repeat(24)}"`,
      'client_secret: your_client_secret_here_1234',
      'token: ${{ secrets.DEPLOY_TOKEN }}',
      'DATABASE_URL=postgres://user:password@localhost/db',
      `integrity: sha512-${fakeChars(BASE64, 86, 73)}==`,
    ].join('\n');
    assert.deepEqual(detector.scan(text, 'README.md'), []);
  });

  it('give lines relative to an origin (a diff hunk) and carry the commit', () => {
    const f = detector.scan(`a\nkey=${token}\n`, 'x.env', { line: 40, commit: 'c0ffee' })[0];
    assert.equal(f?.location.line, 41);
    assert.equal(f?.evidence.commit, 'c0ffee');
  });

  it('stay linear on hostile input built to make backtracking engines explode', () => {
    const hostile = [
      `password=${'a'.repeat(200_000)}!`,
      'token:'.repeat(100_000),
      `postgres://${'a:'.repeat(100_000)}`,
      `${join('-----BEGIN ', 'PRIVATE KEY-----')}${' \\n'.repeat(100_000)}`,
      `eyJ${'a'.repeat(100_000)}.eyJ${'a'.repeat(100_000)}`,
    ].join('\n');
    assert.ok(Array.isArray(detector.scan(hostile, 'x.txt')));
  });
});

describe('maskSecret and shannonEntropy', () => {
  it('show at most a quarter of the secret, never its end', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 80 }), fc.integer({ min: 0, max: 20 }), (s, keep) => {
        const m = maskSecret(s, keep);
        const shown = m.slice(0, m.length - 8);
        assert.ok(shown.length <= s.length / 4);
        assert.ok(s.startsWith(shown));
      }),
    );
  });

  it('measure bits per character', () => {
    assert.equal(shannonEntropy('aaaa'), 0);
    assert.equal(shannonEntropy('abcd'), 2);
    assert.ok(shannonEntropy(fakeChars(ALNUM, 64, 3)) > 5);
  });
});

describe('SecretDetector under fuzzing', () => {
  it('never throws and never puts a matched secret into its output', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 300 }),
        fc.constantFrom('', join('gh', 'p_', fakeChars(ALNUM, 36, 80)), join('np', 'm_', fakeChars(ALNUM, 36, 81))),
        (noise, secret) => {
          const text = `${noise}${secret}${noise}`;
          const found = detector.scan(text, 'f.txt');
          if (secret !== '') assert.ok(!JSON.stringify(found).includes(secret));
        },
      ),
      { numRuns: 300 },
    );
  });
});
