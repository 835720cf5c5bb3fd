import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * The state directory: `--state`, else `$CAIRN_STATE`, else `.cairn/` in the current
 * project (the nearest folder upwards holding `.git` or `cairn.yaml`, else the cwd).
 */
export function resolveStateDir(flagValue: string | undefined, env: Readonly<Record<string, string | undefined>>, cwd: string): string {
  if (flagValue) return path.resolve(cwd, flagValue);
  if (env.CAIRN_STATE) return path.resolve(cwd, env.CAIRN_STATE);
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, '.git')) || existsSync(path.join(dir, 'cairn.yaml'))) return path.join(dir, '.cairn');
    if (path.dirname(dir) === dir) return path.join(path.resolve(cwd), '.cairn');
  }
}
