import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateKeyPair } from '../../crypto/keys.js';
import { UsageError } from '../../model/errors.js';
import { flag, stringOption, type Command, type CommandContext } from '../command.js';

async function run(context: CommandContext): Promise<number> {
  const alg = stringOption(context, 'alg') ?? 'ed25519';
  if (alg !== 'ed25519') throw new UsageError('CLI_BAD_OPTION', `--alg ${alg} is not supported (supported: ed25519)`);
  const prefix = path.resolve(context.io.cwd, stringOption(context, 'out') ?? 'cairn');
  const pair = generateKeyPair(alg);
  const privatePath = `${prefix}.key`;
  const publicPath = `${prefix}.pub`;
  const mode = flag(context, 'force') ? 'w' : 'wx';
  try {
    await writeFile(privatePath, pair.privateKeyPem, { mode: 0o600, flag: mode });
    await writeFile(publicPath, pair.publicKeyPem, { mode: 0o644, flag: mode });
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST')
      throw new UsageError('CLI_FILE_EXISTS', `${privatePath} or ${publicPath} already exists (use --force to overwrite)`, { cause });
    throw cause;
  }
  context.out.event('key', { algorithm: alg, keyid: pair.keyid, privateKey: privatePath, publicKey: publicPath });
  context.out.line(`wrote ${privatePath} (PKCS#8, mode 0600) and ${publicPath} (SPKI)`);
  context.out.line(`keyid ${pair.keyid}`);
  return 0;
}

export const keygenCommand: Command = {
  name: 'keygen',
  summary: 'generate a signing key pair (PEM: PKCS#8 private, SPKI public)',
  usage: 'cairn keygen [--alg ed25519] [--out PREFIX] [--force] [--json]',
  options: {
    alg: { type: 'string', value: 'ALG', description: 'key algorithm (ed25519)' },
    out: { type: 'string', value: 'PREFIX', description: 'write PREFIX.key and PREFIX.pub (default ./cairn)' },
    force: { type: 'boolean', description: 'overwrite existing files' },
  },
  positionals: { min: 0, max: 0 },
  run,
};
