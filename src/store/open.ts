import { fileURLToPath } from 'node:url';
import type { Store } from './port.js';

/** Where a store URL points: a PostgreSQL server or a SQLite file. */
export type StoreLocation = { readonly dialect: 'postgres'; readonly url: string } | { readonly dialect: 'sqlite'; readonly file: string };

const URL_SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;

/**
 * Reads a store URL: `postgres://` or `postgresql://` name a server; `sqlite:<path>`,
 * `file://<path>` or a plain path name a SQLite file. Throws a TypeError for any other scheme.
 */
export function parseStoreUrl(url: string): StoreLocation {
  if (/^postgres(?:ql)?:\/\//i.test(url)) return { dialect: 'postgres', url };
  if (/^file:\/\//i.test(url)) return { dialect: 'sqlite', file: fileURLToPath(url) };
  if (/^sqlite:/i.test(url)) return sqliteFile(url.slice('sqlite:'.length).replace(/^\/\//, ''));
  const scheme = URL_SCHEME.exec(url);
  // Only the scheme is echoed: the rest of a URL may carry a password.
  if (scheme) throw new TypeError(`unsupported store URL scheme "${scheme[1]}:" (use postgres://, sqlite: or a file path)`);
  return sqliteFile(url);
}

function sqliteFile(file: string): StoreLocation {
  if (file === '') throw new TypeError('the store URL names no file');
  return { dialect: 'sqlite', file };
}

/** Opens the store `url` names (see `parseStoreUrl`) and brings its schema up to date. */
export async function openStore(url: string): Promise<Store> {
  const location = parseStoreUrl(url);
  // Each driver is loaded only when a store of its kind is opened.
  const store =
    location.dialect === 'postgres'
      ? await (await import('./postgres.js')).openPostgresStore(location.url)
      : await (await import('./sqlite.js')).openSqliteStore(location.file);
  try {
    await store.migrate();
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}
