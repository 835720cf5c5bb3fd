import os from 'node:os';
import type { Actor } from '../../model/audit.js';
import type { Io } from '../io.js';

/** Who is acting: `$CAIRN_ACTOR`, else `user@host`; the purpose is always stated. */
export function actorFrom(io: Io, purpose: string): Actor {
  const identity = io.env.CAIRN_ACTOR ?? `${safeUser()}@${os.hostname()}`;
  return { identity, purpose };
}

function safeUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid${process.getuid?.() ?? '?'}`;
  }
}

export const PURPOSE_OPTION = { type: 'string', value: 'TEXT', description: 'why this is being done (recorded in the audit log)' } as const;
