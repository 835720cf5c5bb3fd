// C0 controls except TAB and LF, DEL, C1 controls (incl. the one-byte CSI), line/paragraph
// separators and the bidirectional overrides used to disguise text ("Trojan Source").
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/g;
const UNSAFE_WITH_NEWLINES = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/g;

function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * Makes text safe for a terminal: every control or escape character and every bidi override
 * is replaced by a visible `\xNN` / `\uNNNN` escape. Tabs survive; newlines survive unless
 * `singleLine` (for one field of a line).
 */
export function forTerminal(text: string, singleLine = false): string {
  return text.replace(singleLine ? UNSAFE_WITH_NEWLINES : UNSAFE, escapeChar);
}

const JSON_UNSAFE = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/g;

/** One NDJSON line; characters a terminal could act on are \u-escaped (still valid JSON). */
export function ndjson(value: unknown): string {
  return JSON.stringify(value).replace(JSON_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
