import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { openStore, parseStoreUrl } from './open.js';

const dir = mkdtempSync(join(tmpdir(), 'cairn-open-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('parseStoreUrl', () => {
  const cases: [string, ReturnType<typeof parseStoreUrl>][] = [
    ['postgres://cairn@db:5432/cairn', { dialect: 'postgres', url: 'postgres://cairn@db:5432/cairn' }],
    ['postgresql://cairn@db/cairn', { dialect: 'postgres', url: 'postgresql://cairn@db/cairn' }],
    ['sqlite:.cairn/store.db', { dialect: 'sqlite', file: '.cairn/store.db' }],
    ['sqlite:///var/lib/cairn/store.db', { dialect: 'sqlite', file: '/var/lib/cairn/store.db' }],
    ['sqlite://store.db', { dialect: 'sqlite', file: 'store.db' }],
    ['file:///var/lib/cairn/store.db', { dialect: 'sqlite', file: '/var/lib/cairn/store.db' }],
    ['.cairn/store.db', { dialect: 'sqlite', file: '.cairn/store.db' }],
    ['/var/lib/cairn/store.db', { dialect: 'sqlite', file: '/var/lib/cairn/store.db' }],
  ];
  for (const [url, expected] of cases) {
    it(`reads ${url}`, () => assert.deepEqual(parseStoreUrl(url), expected));
  }

  it('refuses other schemes without echoing the rest of the URL', () => {
    assert.throws(
      () => parseStoreUrl('mysql://root:secret@db/cairn'),
      (error) => error instanceof TypeError && error.message.includes('"mysql:"') && !error.message.includes('secret'),
    );
  });

  it('refuses a URL that names no file', () => {
    assert.throws(() => parseStoreUrl(''), TypeError);
    assert.throws(() => parseStoreUrl('sqlite:'), TypeError);
  });
});

describe('openStore', () => {
  for (const [label, toUrl] of [
    ['a plain path', (file: string) => file],
    ['a sqlite: URL', (file: string) => `sqlite:${file}`],
    ['a file:// URL', (file: string) => pathToFileURL(file).href],
  ] as const) {
    it(`opens and migrates a SQLite store from ${label}`, async (t) => {
      const store = await openStore(toUrl(join(dir, `${label.replaceAll(/\W/g, '-')}.db`)));
      t.after(() => store.close());
      assert.equal(store.capabilities.dialect, 'sqlite');
      assert.equal((await store.auditTreeHead()).size, 0);
    });
  }
});
