import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type OsvAffected, type OsvEvent, type OsvRange, evaluateAffected, inRange } from './osv.js';
import { compareSemver, formatSemver, parseAdvisoryVersion, parseSemver, type SemVer } from './semver.js';

const v = (text: string): SemVer => {
  const parsed = parseSemver(text);
  assert.ok(parsed, `${text} should parse`);
  return parsed;
};

describe('parseSemver', () => {
  it('reads core, prerelease and build parts', () => {
    const p = v('1.2.3-rc.1+build.5');
    assert.deepEqual([p.major, p.minor, p.patch], [1, 2, 3]);
    assert.deepEqual(p.prerelease, [
      { numeric: false, text: 'rc' },
      { numeric: true, digits: '1' },
    ]);
    assert.deepEqual(p.build, ['build', '5']);
  });

  for (const bad of [
    '1.2',
    'v1.2.3',
    '01.2.3',
    '1.2.3-',
    '1.2.3-01',
    '1.2.3+',
    '1.2.3-a..b',
    '1.2.3-ü',
    ' 1.2.3',
    '1.2.3.4',
    '',
    '9007199254740992.0.0',
    'x'.repeat(300),
  ]) {
    it(`refuses ${JSON.stringify(bad.slice(0, 20))}`, () => assert.equal(parseSemver(bad), null));
  }

  it('accepts hyphens inside prerelease identifiers (1.4.44-liberty-2)', () => {
    assert.equal(formatSemver(v('1.4.44-liberty-2')), '1.4.44-liberty-2');
  });
});

describe('parseAdvisoryVersion', () => {
  it('pads shortened versions and drops one leading v or =, as advisory data writes them', () => {
    assert.equal(formatSemver(parseAdvisoryVersion('1.0') as SemVer), '1.0.0');
    assert.equal(formatSemver(parseAdvisoryVersion('2') as SemVer), '2.0.0');
    assert.equal(formatSemver(parseAdvisoryVersion('v1.2.3') as SemVer), '1.2.3');
    assert.equal(formatSemver(parseAdvisoryVersion('1.0-beta.1') as SemVer), '1.0.0-beta.1');
  });

  it('still refuses what is not a version', () => {
    for (const bad of ['1.x', '>=1.0.0', 'latest', '1.2.3.4']) assert.equal(parseAdvisoryVersion(bad), null, bad);
  });
});

describe('compareSemver', () => {
  const ordered = [
    '0.0.0',
    '1.0.0-0',
    '1.0.0-alpha',
    '1.0.0-alpha.1',
    '1.0.0-alpha.beta',
    '1.0.0-beta',
    '1.0.0-beta.2',
    '1.0.0-beta.11',
    '1.0.0-rc.1',
    '1.0.0',
    '1.0.1',
    '1.1.0',
    '2.0.0',
  ];

  it('orders the SemVer 2.0.0 precedence example', () => {
    for (let i = 0; i + 1 < ordered.length; i++)
      assert.equal(compareSemver(v(ordered[i] as string), v(ordered[i + 1] as string)), -1, `${ordered[i]} < ${ordered[i + 1]}`);
  });

  it('ignores build metadata', () => {
    assert.equal(compareSemver(v('1.0.0+a'), v('1.0.0+b')), 0);
  });

  it('compares numeric identifiers by value, however long', () => {
    assert.equal(compareSemver(v('1.0.0-canary.100'), v('1.0.0-canary.13')), 1);
    assert.equal(compareSemver(v('1.0.0-99999999999999999999'), v('1.0.0-100000000000000000000')), -1);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties, each against a reference written independently of the code under test.

interface Raw {
  readonly core: readonly [number, number, number];
  readonly pre: readonly (number | string)[];
  readonly build: readonly string[];
}

const alnum = fc.stringMatching(/^[0-9A-Za-z-]{1,6}$/).filter((s) => !/^\d+$/.test(s));
const rawVersion: fc.Arbitrary<Raw> = fc.record({
  core: fc.tuple(fc.nat(4), fc.nat(4), fc.nat(4)),
  pre: fc.array(fc.oneof(fc.nat(20), alnum), { maxLength: 3 }),
  build: fc.array(fc.stringMatching(/^[0-9A-Za-z-]{1,4}$/), { maxLength: 2 }),
});
const text = (r: Raw) => `${r.core.join('.')}${r.pre.length ? `-${r.pre.join('.')}` : ''}${r.build.length ? `+${r.build.join('.')}` : ''}`;

/** Reference precedence over the raw parts (SemVer 2.0.0 §11), not over parsed values. */
function reference(a: Raw, b: Raw): number {
  for (let i = 0; i < 3; i++) if (a.core[i] !== b.core[i]) return (a.core[i] as number) < (b.core[i] as number) ? -1 : 1;
  if (a.pre.length === 0 || b.pre.length === 0) return a.pre.length === b.pre.length ? 0 : a.pre.length === 0 ? 1 : -1;
  for (let i = 0; ; i++) {
    if (i === a.pre.length || i === b.pre.length) return a.pre.length === b.pre.length ? 0 : i === a.pre.length ? -1 : 1;
    const x = a.pre[i] as number | string;
    const y = b.pre[i] as number | string;
    if (typeof x === 'number' && typeof y === 'number') {
      if (x !== y) return x < y ? -1 : 1;
    } else if (typeof x === 'number') return -1;
    else if (typeof y === 'number') return 1;
    else if (x !== y) return x < y ? -1 : 1;
  }
}

describe('semver properties', () => {
  it('parses what it formats, and agrees with the reference precedence', () => {
    fc.assert(
      fc.property(rawVersion, rawVersion, (a, b) => {
        const pa = parseSemver(text(a));
        const pb = parseSemver(text(b));
        assert.ok(pa && pb);
        assert.equal(formatSemver(pa, true), text(a));
        assert.equal(compareSemver(pa, pb), reference(a, b));
      }),
      { numRuns: 2000 },
    );
  });

  it('is a total order: antisymmetric and transitive', () => {
    fc.assert(
      fc.property(rawVersion, rawVersion, rawVersion, (a, b, c) => {
        const [pa, pb, pc] = [a, b, c].map((r) => parseSemver(text(r)) as SemVer) as [SemVer, SemVer, SemVer];
        assert.equal(compareSemver(pa, pb), -compareSemver(pb, pa) || 0);
        if (compareSemver(pa, pb) <= 0 && compareSemver(pb, pc) <= 0) assert.ok(compareSemver(pa, pc) <= 0);
      }),
      { numRuns: 1000 },
    );
  });
});

/** Distinct versions (by reference precedence), sorted: the universe the range properties draw from. */
const universe = fc
  .uniqueArray(
    rawVersion.map((r) => ({ ...r, build: [] })),
    { minLength: 3, maxLength: 24, selector: text },
  )
  .map((list) => [...list].sort(reference).filter((r, i, all) => i === 0 || reference(all[i - 1] as Raw, r) !== 0));

function event(kind: OsvEvent['kind'], version: string): OsvEvent {
  return { kind, version, parsed: version === '0' && kind === 'introduced' ? 'zero' : version === '*' ? 'any' : parseSemver(version) };
}

/** A range built from disjoint half-open index intervals [start, end) of the sorted universe, events shuffled. */
const scenario = universe.chain((u) =>
  fc
    .record({
      cuts: fc.uniqueArray(fc.nat(u.length), { minLength: 1, maxLength: 6 }),
      lastAffected: fc.boolean(),
      fromZero: fc.boolean(),
      limit: fc.option(fc.nat(u.length - 1), { nil: undefined }),
      seed: fc.nat(),
    })
    .map((s) => ({ u, ...s })),
);

function shuffled<T>(list: readonly T[], seed: number): T[] {
  const out = [...list];
  let x = seed || 1;
  for (let i = out.length - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const j = x % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

describe('OSV range evaluation properties (against brute force over generated version lists)', () => {
  it('a range of disjoint intervals, events in any order, matches exactly the versions inside an interval and below the limit', () => {
    fc.assert(
      fc.property(scenario, ({ u, cuts, lastAffected, fromZero, limit, seed }) => {
        const sorted = [...cuts].sort((a, b) => a - b);
        if (sorted.length % 2 === 1) sorted.push(u.length);
        const intervals: [number, number][] = [];
        for (let i = 0; i < sorted.length; i += 2)
          if ((sorted[i] as number) < (sorted[i + 1] as number)) intervals.push([sorted[i] as number, sorted[i + 1] as number]);
        if (intervals.length === 0) return;
        const events: OsvEvent[] = [];
        intervals.forEach(([start, end], k) => {
          events.push(event('introduced', k === 0 && fromZero && start === 0 ? '0' : text(u[start] as Raw)));
          if (end < u.length) events.push(lastAffected ? event('last_affected', text(u[end - 1] as Raw)) : event('fixed', text(u[end] as Raw)));
        });
        if (limit !== undefined) events.push(event('limit', text(u[limit] as Raw)));
        const range: OsvRange = { type: 'ECOSYSTEM', events: shuffled(events, seed) };
        u.forEach((r, index) => {
          const inside = intervals.some(([s, e]) => index >= s && index < e) && (limit === undefined || index < limit);
          assert.equal(
            inRange(parseSemver(text(r)) as SemVer, range),
            inside,
            `${text(r)} in ${JSON.stringify(range.events.map((e) => `${e.kind} ${e.version}`))}`,
          );
        });
      }),
      { numRuns: 600 },
    );
  });

  it('several ranges and several affected entries are OR-ed, like the versions list', () => {
    fc.assert(
      fc.property(
        universe,
        fc.array(fc.tuple(fc.nat(23), fc.nat(23)), { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(23), { maxLength: 3 }),
        (u, pairs, listed) => {
          const intervals = pairs.map(([a, b]) => [Math.min(a % u.length, b % u.length), Math.max(a % u.length, b % u.length) + 1] as const);
          const ranges = intervals.map(
            ([s, e]): OsvRange => ({
              type: 'SEMVER',
              events: [event('introduced', text(u[s] as Raw)), ...(e < u.length ? [event('fixed', text(u[e] as Raw))] : [])],
            }),
          );
          const versions = listed.map((i) => text(u[i % u.length] as Raw));
          const entries: OsvAffected[] = [
            { ecosystem: 'npm', name: 'p', ranges: ranges.slice(0, 1), versions: [], severity: [] },
            { ecosystem: 'npm', name: 'p', ranges: ranges.slice(1), versions, severity: [] },
          ];
          u.forEach((r, index) => {
            const expected = intervals.some(([s, e]) => index >= s && index < e) || versions.includes(text(r));
            assert.equal(
              entries.some((a) => evaluateAffected(text(r), a).affected),
              expected,
              text(r),
            );
          });
        },
      ),
      { numRuns: 400 },
    );
  });
});
