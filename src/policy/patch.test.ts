import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { JsonValue } from '../model/json.js';
import { applyPatch, parsePointer } from './patch.js';

const DOC: JsonValue = { a: { b: [1, 2, 3] }, 'x/y': 1, 'm~n': 2 };

function ok(result: ReturnType<typeof applyPatch>): JsonValue {
  if (!result.ok) assert.fail(result.message);
  return result.value;
}

describe('applyPatch (RFC 6902)', () => {
  it('adds, replaces and removes object members and array elements', () => {
    const out = ok(
      applyPatch(DOC, [
        { op: 'add', path: '/a/c', value: true },
        { op: 'add', path: '/a/b/-', value: 4 },
        { op: 'add', path: '/a/b/0', value: 0 },
        { op: 'replace', path: '/a/b/1', value: 10 },
        { op: 'remove', path: '/a/b/2' },
      ]),
    );
    assert.deepEqual(out, { a: { b: [0, 10, 3, 4], c: true }, 'x/y': 1, 'm~n': 2 });
  });

  it('unescapes ~1 and ~0 in pointers', () => {
    assert.deepEqual(parsePointer('/x~1y/m~0n'), ['x/y', 'm~n']);
    assert.deepEqual(ok(applyPatch(DOC, [{ op: 'replace', path: '/x~1y', value: 9 }])), { ...(DOC as object), 'x/y': 9 });
    assert.equal(parsePointer('/bad~2'), null);
    assert.equal(parsePointer('no-slash'), null);
  });

  it('moves and copies values', () => {
    const out = ok(
      applyPatch(DOC, [
        { op: 'copy', from: '/a/b', path: '/c' },
        { op: 'move', from: '/x~1y', path: '/moved' },
      ]),
    );
    assert.deepEqual(out, { a: { b: [1, 2, 3] }, c: [1, 2, 3], moved: 1, 'm~n': 2 });
  });

  it('fails on a test that does not hold, naming the operation', () => {
    const r = applyPatch(DOC, [{ op: 'test', path: '/a/b', value: [1, 2] }]);
    assert.deepEqual(r, { ok: false, message: 'patch operation 0 (test /a/b): value differs' });
    assert.equal(applyPatch(DOC, [{ op: 'test', path: '/a/b', value: [1, 2, 3] }]).ok, true);
  });

  it('refuses to replace or remove what is not there and out-of-range indexes', () => {
    assert.equal(applyPatch(DOC, [{ op: 'replace', path: '/nope', value: 1 }]).ok, false);
    assert.equal(applyPatch(DOC, [{ op: 'remove', path: '/a/b/3' }]).ok, false);
    assert.equal(applyPatch(DOC, [{ op: 'add', path: '/a/b/5', value: 1 }]).ok, false);
    assert.equal(applyPatch(DOC, [{ op: 'add', path: '/a/b/01', value: 1 }]).ok, false);
    assert.equal(applyPatch(DOC, [{ op: 'add', path: '/missing/x', value: 1 }]).ok, false);
  });

  it('never modifies the document it is given', () => {
    const before = JSON.stringify(DOC);
    applyPatch(DOC, [{ op: 'remove', path: '/a' }]);
    assert.equal(JSON.stringify(DOC), before);
  });

  it('undoes an add of a new member with a remove of it', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.jsonValue({ maxDepth: 3 })),
        fc.string({ minLength: 1, maxLength: 8 }),
        fc.jsonValue({ maxDepth: 2 }),
        (raw, key, value) => {
          const doc = JSON.parse(JSON.stringify(raw)) as Record<string, JsonValue>;
          fc.pre(!Object.hasOwn(doc, key));
          const pointer = `/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
          const added = ok(applyPatch(doc as JsonValue, [{ op: 'add', path: pointer, value: value as JsonValue }]));
          assert.deepEqual(JSON.stringify((added as Record<string, unknown>)[key]), JSON.stringify(value));
          assert.deepEqual(ok(applyPatch(added, [{ op: 'remove', path: pointer }])), doc);
        },
      ),
    );
  });
});
