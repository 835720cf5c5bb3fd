import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { isNode, LineCounter, parseDocument } from 'yaml';
import { projectConfigFromJSON, type ProjectConfig } from '../model/config.js';
import { InputError, type Problem } from '../model/errors.js';
import { SourceError } from './errors.js';

export const CONFIG_FILE = 'cairn.yaml';
const MAX_CONFIG_BYTES = 256 * 1024;

function pathSegments(p: string): (string | number)[] {
  const segments: (string | number)[] = [];
  for (const part of p.split('.')) {
    const match = /^([^[]*)((?:\[\d+\])*)$/.exec(part);
    if (!match) return segments;
    if (match[1]) segments.push(match[1]);
    for (const index of match[2]?.matchAll(/\[(\d+)\]/g) ?? []) segments.push(Number(index[1]));
  }
  return segments;
}

/**
 * Parses `cairn.yaml` text: YAML syntax errors, duplicate keys, excessive aliases, unknown
 * keys, wrong types and missing fields are all reported together, each with its path and line.
 */
export function parseProjectConfig(text: string, file = CONFIG_FILE): ProjectConfig {
  if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) {
    throw new SourceError('CONFIG_INVALID', `${file}: larger than ${MAX_CONFIG_BYTES} bytes`, {
      problems: [{ code: 'TOO_LARGE', path: '', message: `larger than ${MAX_CONFIG_BYTES} bytes` }],
    });
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const lineOf = (offset: number | undefined): string => (offset === undefined ? '' : ` (line ${lines.linePos(offset).line})`);
  if (doc.errors.length > 0) {
    const problems: Problem[] = doc.errors.map((e) => ({ code: 'YAML_SYNTAX', path: '', message: `${e.message.split('\n')[0]}${lineOf(e.pos[0])}` }));
    throw new SourceError('CONFIG_YAML', `${file}: not valid YAML: ${problems[0]?.message ?? ''}`, { problems });
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 50 });
  } catch (cause) {
    throw new SourceError('CONFIG_YAML', `${file}: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
      problems: [{ code: 'YAML_ALIASES', path: '', message: 'too many alias expansions' }],
    });
  }
  try {
    return projectConfigFromJSON(raw ?? {});
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    const problems = error.problems.map((p) => {
      const segments = pathSegments(p.path);
      let node = segments.length === 0 ? doc.contents : doc.getIn(segments, true);
      // A missing field has no node: point at its parent instead.
      for (let up = segments.length - 1; !isNode(node) && up >= 0; up--) node = up === 0 ? doc.contents : doc.getIn(segments.slice(0, up), true);
      const offset = isNode(node) ? node.range?.[0] : undefined;
      return { ...p, message: `${p.message}${lineOf(offset)}` };
    });
    const list = problems.map((p) => `  ${p.path || '(root)'}: ${p.message}`).join('\n');
    throw new SourceError('CONFIG_INVALID', `${file} has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${list}`, { problems });
  }
}

/** Reads and parses `cairn.yaml` from a project directory (a snapshot, normally). */
export async function loadProjectConfig(dir: string): Promise<{ config: ProjectConfig; text: string }> {
  const file = path.join(dir, CONFIG_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new SourceError('CONFIG_MISSING', `no ${CONFIG_FILE} in ${dir}`, { cause });
  }
  return { config: parseProjectConfig(text), text };
}
