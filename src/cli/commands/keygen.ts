import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateKeyPair, KEY_ALGORITHMS, type KeyAlgorithm } from '../../crypto/keys.js';
import { UsageError } from '../../model/errors.js';
import { flag, stringOption, type Command, type CommandContext } from '../command.js';

async function run(context: CommandContext): Promise<number> {
  const alg = stringOption(context, 'alg') ?? 'ed25519';
  if (!(KEY_ALGORITHMS as readonly string[]).includes(alg)) {
    throw new UsageError('CLI_BAD_OPTION', `--alg ${alg} is not supported (supported: ${KEY_ALGORITHMS.join(', ')})`);
  }
  const prefix = path.resolve(context.io.cwd, stringOption(context, 'out') ?? 'cairn');
  const pair = generateKeyPair(alg as KeyAlgorithm);
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
  usage: 'cairn keygen [--alg ed25519|ecdsa-p256] [--out PREFIX] [--force] [--json]',
  description:
    'Ed25519 (default) or ECDSA P-256 (signatures over SHA-256, DER-encoded). The key id printed is the standard base64 of the SHA-256 of the SPKI DER: the DSSE keyid and the Sigstore public-key hint.',
  options: {
    alg: { type: 'string', value: 'ALG', description: 'key algorithm: ed25519 (default) or ecdsa-p256' },
    out: { type: 'string', value: 'PREFIX', description: 'write PREFIX.key and PREFIX.pub (default ./cairn)' },
    force: { type: 'boolean', description: 'overwrite existing files' },
  },
  positionals: { min: 0, max: 0 },
  run,
};
