const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decodes standard or URL-safe base64, strictly: the text must be the canonical encoding
 * of the bytes it decodes to (padding optional), so two different strings never verify as
 * the same bytes. Returns null for anything else.
 */
export function decodeBase64Strict(text: string): Buffer | null {
  const standard = text.replace(/-/g, '+').replace(/_/g, '/');
  if (!B64.test(standard)) return null;
  const unpadded = standard.replace(/=+$/, '');
  if (unpadded.length % 4 === 1) return null;
  const bytes = Buffer.from(unpadded, 'base64');
  if (bytes.toString('base64').replace(/=+$/, '') !== unpadded) return null;
  if (standard.length !== unpadded.length && standard.length % 4 !== 0) return null;
  return bytes;
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}
