import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Digest } from '../model/digest.js';
import { CairnError, InputError, type Problem } from '../model/errors.js';
import { parseJson } from '../model/json.js';
import { OSV_LIMITS, type OsvRecord, osvFromJSON } from './osv.js';
import { readMember, zipMembers } from './osv-zip.js';

/** Caps for an advisory database: files, total bytes, folder depth. */
export interface OsvDatabaseLimits {
  readonly maxRecords: number;
  readonly maxTotalBytes: number;
  readonly maxDepth: number;
}

export const DEFAULT_OSV_DB_LIMITS: OsvDatabaseLimits = { maxRecords: 1_000_000, maxTotalBytes: 2 * 1024 * 1024 * 1024, maxDepth: 8 };

export interface OsvDatabase {
  /** Records with at least one npm entry (withdrawn ones included; the matcher skips them). */
  readonly records: readonly OsvRecord[];
  /** sha256 of the zip, or of the sorted `sha256  path` list of a folder's JSON files. */
  readonly digest: Digest;
  readonly source: 'zip' | 'directory' | 'file';
  /** The file that was read (the zip inside an osv-scanner folder, for instance). */
  readonly path: string;
  readonly files: number;
  /** The latest `modified` time of any record: how fresh the database is. */
  readonly modifiedMax: string | null;
}

function unreadable(where: string, cause: unknown): InputError {
  const code = (cause as NodeJS.ErrnoException)?.code ?? (cause instanceof Error ? cause.message : String(cause));
  return new InputError('SCAN_OSV_UNREADABLE', `advisory database ${where}: ${code}`, { cause });
}

function tooLarge(what: string, limit: number): InputError {
  return new InputError('SCAN_OSV_TOO_LARGE', `advisory database: more than ${limit} ${what}`, {
    problems: [{ code: 'TOO_LARGE', path: '', message: `more than ${limit} ${what}` }],
  });
}

function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** JSON files under `root`, relative POSIX paths in code-point order; symbolic links are not followed. */
async function jsonFiles(root: string, limits: OsvDatabaseLimits): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, rel: string, depth: number): Promise<void> => {
    if (depth > limits.maxDepth) return;
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (cause) {
      throw unreadable(dir, cause);
    }
    for (const e of entries) {
      const relPath = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) await walk(path.join(dir, e.name), relPath, depth + 1);
      else if (e.isFile() && e.name.endsWith('.json')) {
        out.push(relPath);
        if (out.length > limits.maxRecords) throw tooLarge('records', limits.maxRecords);
      }
    }
  };
  await walk(root, '', 0);
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

interface Collector {
  readonly records: Map<string, OsvRecord>;
  readonly problems: Problem[];
  modifiedMax: string | null;
  files: number;
}

/**
 * Whether a JSON text nests deeper than `maxDepth`, in one pass that jumps over string
 * contents with indexOf (advisory `details` are long prose). Same verdict as `parseJson`'s
 * character loop, several times faster on a database of thousands of records.
 */
export function nestsDeeperThan(text: string, maxDepth: number): boolean {
  let depth = 0;
  const structural = /["[\]{}]/g;
  for (let m = structural.exec(text); m !== null; m = structural.exec(text)) {
    const c = text.charCodeAt(m.index);
    if (c === 0x22) {
      let end = m.index;
      for (;;) {
        end = text.indexOf('"', end + 1);
        if (end < 0) return false; // unterminated: JSON.parse reports it
        let slashes = 0;
        while (text.charCodeAt(end - 1 - slashes) === 0x5c) slashes++;
        if (slashes % 2 === 0) break;
      }
      structural.lastIndex = end + 1;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) return true;
    } else depth--;
  }
  return false;
}

/** Parses one record's JSON under the OSV caps (size, then depth, then JSON.parse), reporting like parseJson. */
function parseRecordJson(bytes: Uint8Array, source: string): unknown {
  if (bytes.byteLength > OSV_LIMITS.maxBytes) return parseJson(bytes, source, OSV_LIMITS);
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  if (nestsDeeperThan(text, OSV_LIMITS.maxDepth)) return parseJson(text, source, OSV_LIMITS);
  try {
    return JSON.parse(text);
  } catch {
    return parseJson(text, source, OSV_LIMITS);
  }
}

function addRecord(c: Collector, bytes: Uint8Array, source: string): void {
  c.files++;
  try {
    const raw = parseRecordJson(bytes, source);
    const record = osvFromJSON(raw, source);
    if (!record.affected.some((a) => a.ecosystem === 'npm')) return;
    if (c.modifiedMax === null || record.modified > c.modifiedMax) c.modifiedMax = record.modified;
    const previous = c.records.get(record.id);
    // One record per id: the latest `modified` wins, the first in path order on a tie.
    if (!previous || record.modified > previous.modified) c.records.set(record.id, record);
  } catch (error) {
    if (!(error instanceof CairnError)) throw error;
    if (c.problems.length < 100) {
      const problems = error.problems.length > 0 ? error.problems.slice(0, 5) : [{ code: error.code, path: source, message: error.message }];
      c.problems.push(...problems.map((p) => (p.path === '' ? { ...p, path: source } : p)));
    }
  }
}

function finish(c: Collector, digest: string, source: OsvDatabase['source'], file: string): OsvDatabase {
  if (c.problems.length > 0) {
    throw new InputError(
      'SCAN_OSV_MALFORMED',
      `advisory database ${file}: ${c.problems.length} problem(s), first ${c.problems[0]?.path}: ${c.problems[0]?.message}`,
      {
        problems: c.problems,
      },
    );
  }
  const records = [...c.records.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { records, digest: `sha256:${digest}`, source, path: file, files: c.files, modifiedMax: c.modifiedMax };
}

function fromZip(bytes: Buffer, file: string, limits: OsvDatabaseLimits): OsvDatabase {
  const zipLimits = { maxEntries: limits.maxRecords, maxMemberBytes: OSV_LIMITS.maxBytes, maxTotalBytes: limits.maxTotalBytes };
  const members = zipMembers(bytes, zipLimits)
    .filter((m) => m.name.endsWith('.json') && !m.name.endsWith('/'))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const c: Collector = { records: new Map(), problems: [], modifiedMax: null, files: 0 };
  let total = 0;
  for (const m of members) {
    total += m.size;
    if (total > limits.maxTotalBytes) throw tooLarge('bytes', limits.maxTotalBytes);
    addRecord(c, readMember(bytes, m, zipLimits), `${path.basename(file)}:${m.name}`);
  }
  return finish(c, sha256(bytes), 'zip', file);
}

/**
 * Reads an OSV advisory database offline: a zip of OSV JSON files (osv-scanner's
 * `<dir>/osv-scanner/npm/all.zip`, or that zip itself), or a folder of OSV JSON files
 * (searched recursively). Keeps the records with an npm entry and digests what was read,
 * so the result can be recorded as evidence. Malformed records fail the whole read
 * (SCAN_OSV_MALFORMED, every problem listed, at most 100).
 */
export async function loadOsvDatabase(location: string, limits: OsvDatabaseLimits = DEFAULT_OSV_DB_LIMITS): Promise<OsvDatabase> {
  let info: import('node:fs').Stats;
  try {
    info = await lstat(location);
  } catch (cause) {
    throw unreadable(location, cause);
  }
  if (info.isDirectory()) {
    for (const candidate of ['osv-scanner/npm/all.zip', 'npm/all.zip', 'all.zip']) {
      const zip = path.join(location, candidate);
      const zipInfo = await lstat(zip).catch(() => null);
      if (zipInfo?.isFile()) return loadOsvDatabase(zip, limits);
    }
    const files = await jsonFiles(location, limits);
    const c: Collector = { records: new Map(), problems: [], modifiedMax: null, files: 0 };
    const manifest: string[] = [];
    let total = 0;
    for (const rel of files) {
      let bytes: Buffer;
      try {
        // Synchronous on purpose: thousands of small files read in order cost a few
        // microseconds each this way, against four thread-pool round trips each with fs/promises.
        bytes = readFileSync(path.join(location, rel));
      } catch (cause) {
        throw unreadable(rel, cause);
      }
      total += bytes.byteLength;
      if (total > limits.maxTotalBytes) throw tooLarge('bytes', limits.maxTotalBytes);
      manifest.push(`${sha256(bytes)}  ${rel}\n`);
      addRecord(c, bytes, rel);
    }
    return finish(c, sha256(manifest.join('')), 'directory', location);
  }
  if (!info.isFile()) throw unreadable(location, new Error('not a file or folder'));
  if (info.size > limits.maxTotalBytes) throw tooLarge('bytes', limits.maxTotalBytes);
  let bytes: Buffer;
  try {
    bytes = await readFile(location);
  } catch (cause) {
    throw unreadable(location, cause);
  }
  if (bytes.length >= 4 && (bytes.readUInt32LE(0) === 0x04034b50 || bytes.readUInt32LE(0) === 0x06054b50)) return fromZip(bytes, location, limits);
  const c: Collector = { records: new Map(), problems: [], modifiedMax: null, files: 0 };
  addRecord(c, bytes, path.basename(location));
  return finish(c, sha256(bytes), 'file', location);
}
