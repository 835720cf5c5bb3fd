import { parseDocument } from 'yaml';
import { InputError, type Problem } from '../model/errors.js';
import { POLICY_LIMITS, policyFromJSON, type VerificationPolicy } from '../model/policy.js';

const MAX_FLOW_DEPTH = 64;

/** The deepest nesting of `[` and `{` (counted everywhere, quoted or not: an upper bound). */
function flowDepth(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth);
    else if ((c === 0x5d || c === 0x7d) && depth > 0) depth--;
  }
  return max;
}

/**
 * Parses a verification policy written in YAML or JSON (JSON is read as YAML): size-capped,
 * duplicate keys and excessive aliases rejected, then every field checked by `policyFromJSON`.
 * Throws InputError ATTEST_POLICY_INVALID listing every problem.
 */
export function policyFromText(text: string | Uint8Array, what = 'policy'): VerificationPolicy {
  const bytes = typeof text === 'string' ? Buffer.byteLength(text, 'utf8') : text.byteLength;
  if (bytes > POLICY_LIMITS.maxBytes) {
    throw new InputError('ATTEST_POLICY_INVALID', `${what}: larger than ${POLICY_LIMITS.maxBytes} bytes`, {
      problems: [{ code: 'TOO_LARGE', path: '', message: `larger than ${POLICY_LIMITS.maxBytes} bytes` }],
    });
  }
  const source = typeof text === 'string' ? text : Buffer.from(text).toString('utf8');
  // The YAML parser recurses per flow level; refuse deep nesting before it spends time on it.
  if (flowDepth(source) > MAX_FLOW_DEPTH) {
    throw new InputError('ATTEST_POLICY_INVALID', `${what}: nested deeper than ${MAX_FLOW_DEPTH}`, {
      problems: [{ code: 'TOO_DEEP', path: '', message: `flow collections nested deeper than ${MAX_FLOW_DEPTH}` }],
    });
  }
  const doc = parseDocument(source, { uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    const problems: Problem[] = doc.errors.slice(0, 20).map((e) => ({ code: 'YAML_SYNTAX', path: '', message: e.message.split('\n')[0] ?? e.message }));
    throw new InputError('ATTEST_POLICY_INVALID', `${what}: not valid YAML or JSON: ${problems[0]?.message ?? ''}`, { problems });
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 50 });
  } catch (cause) {
    throw new InputError('ATTEST_POLICY_INVALID', `${what}: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
      problems: [{ code: 'YAML_ALIASES', path: '', message: 'too many alias expansions' }],
    });
  }
  try {
    return policyFromJSON(raw ?? {});
  } catch (error) {
    if (error instanceof InputError) {
      throw new InputError(error.code, `${what}: ${error.message}`, { cause: error, problems: error.problems });
    }
    throw error;
  }
}
