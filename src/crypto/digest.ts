import { createHash } from 'node:crypto';
import type { Digest } from '../model/digest.js';

/** sha256 of the bytes, as `sha256:<hex>`. */
export function sha256Digest(bytes: Uint8Array | string): Digest {
  return `sha256:${sha256Hex(bytes)}`;
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}
