import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { canonicalDigest, canonicalize } from './jcs.js';

/** The IEEE 754 double whose bits are the 16 hex digits, as RFC 8785 Appendix B lists them. */
function double(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

/** `depth` arrays nested in one another around `leaf`, built without recursion. */
function nestedArrays(depth: number, leaf: unknown): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

describe('canonicalize', () => {
  describe('the RFC 8785 examples', () => {
    it('reproduces the §3.2.2 example byte for byte', () => {
      const input = String.raw`{
        "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
        "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
        "literals": [null, true, false]
      }`;
      const expected = String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`;
      assert.equal(canonicalize(JSON.parse(input)), expected);
    });

    it('sorts the §3.2.3 keys by UTF-16 code units', () => {
      const input = {
        '\u20ac': 'Euro Sign',
        '\r': 'Carriage Return',
        '\ufb33': 'Hebrew Letter Dalet With Dagesh',
        '1': 'One',
        '\ud83d\ude00': 'Emoji: Grinning Face',
        '\u0080': 'Control',
        '\u00f6': 'Latin Small Letter O With Diaeresis',
      };
      const expected =
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
        '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}';
      assert.equal(canonicalize(input), expected);
    });
  });

  describe('object members', () => {
    it('puts a supplementary-plane key before U+FB33 although its code point is larger', () => {
      assert.equal(canonicalize({ '\ufb33': 1, '\ud83d\ude00': 2 }), '{"\ud83d\ude00":2,"\ufb33":1}');
    });

    it('orders keys by code unit, not by locale: upper case before lower case, a prefix before its extensions', () => {
      assert.equal(canonicalize({ b: 1, aa: 2, B: 3, a: 4, A: 5 }), '{"A":5,"B":3,"a":4,"aa":2,"b":1}');
    });

    it('gives the same text whatever order the members were inserted in', () => {
      const one = { name: 'x', version: 1, deps: { z: true, y: false } };
      const two = { deps: { y: false, z: true }, version: 1, name: 'x' };
      assert.equal(canonicalize(one), canonicalize(two));
    });

    it('sorts members at every nesting level and keeps array order', () => {
      const value = { z: [{ b: 1, a: 2 }, 3, [{ d: null, c: 'x' }]], a: { y: {}, x: [] } };
      assert.equal(canonicalize(value), '{"a":{"x":[],"y":{}},"z":[{"a":2,"b":1},3,[{"c":"x","d":null}]]}');
    });

    it('drops members whose value is undefined', () => {
      assert.equal(canonicalize({ a: undefined, b: 1, c: { d: undefined } }), '{"b":1,"c":{}}');
    });

    it('escapes keys the same way as string values', () => {
      assert.equal(canonicalize({ 'a\nb': 1, 'q"': 2 }), '{"a\\nb":1,"q\\"":2}');
    });
  });

  describe('literals and structure', () => {
    it('writes null, true and false as JSON literals', () => {
      assert.equal(canonicalize([null, true, false]), '[null,true,false]');
    });

    it('writes empty containers and no whitespace', () => {
      assert.equal(canonicalize({ a: [], b: {}, c: [[], [{}]] }), '{"a":[],"b":{},"c":[[],[{}]]}');
    });
  });

  describe('numbers', () => {
    // Values from RFC 8785 Appendix B, given as IEEE 754 bit patterns.
    const appendixB: readonly (readonly [string, string])[] = [
      ['0000000000000000', '0'],
      ['8000000000000000', '0'],
      ['0000000000000001', '5e-324'],
      ['8000000000000001', '-5e-324'],
      ['7fefffffffffffff', '1.7976931348623157e+308'],
      ['ffefffffffffffff', '-1.7976931348623157e+308'],
      ['4340000000000000', '9007199254740992'],
      ['c340000000000000', '-9007199254740992'],
      ['4430000000000000', '295147905179352830000'],
      ['44b52d02c7e14af5', '9.999999999999997e+22'],
      ['44b52d02c7e14af6', '1e+23'],
      ['44b52d02c7e14af7', '1.0000000000000001e+23'],
      ['444b1ae4d6e2ef4e', '999999999999999700000'],
      ['444b1ae4d6e2ef4f', '999999999999999900000'],
      ['444b1ae4d6e2ef50', '1e+21'],
      ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
      ['3eb0c6f7a0b5ed8d', '0.000001'],
      ['41b3de4355555553', '333333333.3333332'],
      ['41b3de4355555554', '333333333.33333325'],
      ['41b3de4355555555', '333333333.3333333'],
      ['41b3de4355555556', '333333333.3333334'],
      ['41b3de4355555557', '333333333.33333343'],
      ['becbf647612f3696', '-0.0000033333333333333333'],
      ['43143ff3c1cb0959', '1424953923781206.2'],
    ];
    for (const [bits, expected] of appendixB) {
      it(`writes the double 0x${bits} as ${expected}`, () => {
        assert.equal(canonicalize(double(bits)), expected);
      });
    }

    const literals: readonly (readonly [number, string])[] = [
      [1e30, '1e+30'],
      [4.5, '4.5'],
      [2e-3, '0.002'],
      [1e-7, '1e-7'],
      [1e-27, '1e-27'],
      [1e20, '100000000000000000000'],
      [9007199254740991, '9007199254740991'],
      [-1, '-1'],
      [0.1 + 0.2, '0.30000000000000004'],
    ];
    for (const [value, expected] of literals) {
      it(`writes ${expected} in ECMAScript shortest form`, () => {
        assert.equal(canonicalize(value), expected);
      });
    }

    it('writes negative zero as 0, also inside containers', () => {
      assert.equal(canonicalize(-0), '0');
      assert.equal(canonicalize({ n: [-0] }), '{"n":[0]}');
    });
  });

  describe('strings', () => {
    const short: Record<number, string> = { 8: '\\b', 9: '\\t', 10: '\\n', 12: '\\f', 13: '\\r' };
    for (let code = 0; code < 0x20; code++) {
      const escaped = short[code] ?? `\\u${code.toString(16).padStart(4, '0')}`;
      it(`escapes U+${code.toString(16).padStart(4, '0').toUpperCase()} as ${escaped}`, () => {
        assert.equal(canonicalize(String.fromCharCode(code)), `"${escaped}"`);
      });
    }

    it('escapes the quotation mark and the reverse solidus', () => {
      assert.equal(canonicalize('say "hi" \\ bye'), '"say \\"hi\\" \\\\ bye"');
    });

    it('leaves the solidus unescaped', () => {
      assert.equal(canonicalize('a/b'), '"a/b"');
    });

    it('keeps DEL, non-ASCII and line/paragraph separators as literal characters', () => {
      const text = '\u007f é € \u2028 \u2029 \ud83d\ude00 \u0080';
      assert.equal(canonicalize(text), `"${text}"`);
    });
  });

  describe('values JSON cannot carry canonically', () => {
    const rejected: readonly (readonly [string, unknown])[] = [
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['-Infinity', Number.NEGATIVE_INFINITY],
      ['NaN inside an object', { a: [1, Number.NaN] }],
      ['a lone high surrogate', 'a\ud800b'],
      ['a lone low surrogate', '\udc00'],
      ['a surrogate pair in the wrong order', '\ude00\ud83d'],
      ['a lone surrogate in a key', { '\ud800': 1 }],
      ['a bigint', 10n],
      ['a bigint member', { n: 1n }],
      ['a function', () => 1],
      ['a function member', { f: () => 1 }],
      ['a symbol', Symbol('s')],
      ['undefined at the top', undefined],
      ['undefined in an array', [1, undefined]],
    ];
    for (const [what, value] of rejected) {
      it(`throws a TypeError for ${what}`, () => {
        assert.throws(() => canonicalize(value), TypeError);
      });
    }
  });

  describe('nesting', () => {
    it('accepts 100 levels of nesting', () => {
      assert.equal(canonicalize(nestedArrays(100, 7)), `${'['.repeat(100)}7${']'.repeat(100)}`);
    });

    it('rejects very deep nesting with a TypeError, not a stack overflow', () => {
      assert.throws(
        () => canonicalize(nestedArrays(100_000, null)),
        (error: unknown) => {
          assert.ok(error instanceof TypeError, `expected TypeError, got ${String(error)}`);
          assert.match(error.message, /nesting/);
          return true;
        },
      );
    });

    it('rejects a cyclic object with a TypeError', () => {
      const cyclic: Record<string, unknown> = { name: 'loop' };
      cyclic.self = cyclic;
      assert.throws(() => canonicalize(cyclic), TypeError);
    });
  });
});

describe('canonicalDigest', () => {
  it('is the sha256 of the UTF-8 bytes of the canonical text', () => {
    const value = { b: 'é€', a: [1, 2.5] };
    const expected = createHash('sha256')
      .update(Buffer.from(canonicalize(value), 'utf8'))
      .digest('hex');
    assert.equal(canonicalDigest(value), `sha256:${expected}`);
  });

  it('digests the empty object to sha256("{}")', () => {
    assert.equal(canonicalDigest({}), 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
  });

  it('is the same for the same members in another order and differs when a value changes', () => {
    assert.equal(canonicalDigest({ a: 1, b: 2 }), canonicalDigest({ b: 2, a: 1 }));
    assert.notEqual(canonicalDigest({ a: 1, b: 2 }), canonicalDigest({ a: 1, b: 3 }));
  });
});
