/** One `${{ … }}` inside a string: its inner text and where it sits in that string. */
export interface Expression {
  readonly raw: string;
  readonly inner: string;
  readonly start: number;
  readonly end: number;
}

/**
 * The `${{ … }}` expressions of a string, in order. A `}}` inside a single-quoted literal does
 * not close the expression; an unclosed one runs to the end (GitHub rejects it, we still look).
 */
export function expressionsIn(value: string): Expression[] {
  const found: Expression[] = [];
  let from = 0;
  for (;;) {
    const start = value.indexOf('${{', from);
    if (start === -1) return found;
    let i = start + 3;
    let quoted = false;
    let end = value.length;
    let closed = false;
    for (; i < value.length; i++) {
      const c = value[i];
      if (c === "'") quoted = !quoted;
      else if (!quoted && c === '}' && value[i + 1] === '}') {
        end = i + 2;
        closed = true;
        break;
      }
    }
    found.push({ raw: value.slice(start, end), inner: value.slice(start + 3, closed ? end - 2 : end).trim(), start, end });
    from = end;
  }
}

function isIdentStart(c: string | undefined): boolean {
  return c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_');
}

function isIdentPart(c: string | undefined): boolean {
  return isIdentStart(c) || (c !== undefined && ((c >= '0' && c <= '9') || c === '-'));
}

/**
 * Context references of an expression, normalised: `github.event.commits[0].message` →
 * `github.event.commits.*.message`, `github['head_ref']` → `github.head_ref`. Function names
 * and string literals are skipped. Property names are lowercased (contexts are case-insensitive).
 */
export function contextRefs(expression: string): string[] {
  const refs: string[] = [];
  let i = 0;
  const n = expression.length;
  while (i < n) {
    const c = expression[i];
    if (c === "'") {
      i = expression.indexOf("'", i + 1);
      // '' is an escaped quote inside a literal
      while (i !== -1 && expression[i + 1] === "'") i = expression.indexOf("'", i + 2);
      i = i === -1 ? n : i + 1;
      continue;
    }
    if (!isIdentStart(c) || (i > 0 && (isIdentPart(expression[i - 1]) || expression[i - 1] === '.'))) {
      i++;
      continue;
    }
    const segments: string[] = [];
    let j = i;
    while (j < n && isIdentPart(expression[j])) j++;
    segments.push(expression.slice(i, j).toLowerCase());
    for (;;) {
      if (expression[j] === '.' && expression[j + 1] === '*') {
        segments.push('*');
        j += 2;
      } else if (expression[j] === '.' && isIdentStart(expression[j + 1])) {
        let k = j + 1;
        while (k < n && isIdentPart(expression[k])) k++;
        segments.push(expression.slice(j + 1, k).toLowerCase());
        j = k;
      } else if (expression[j] === '[') {
        const close = expression.indexOf(']', j);
        if (close === -1) break;
        const index = expression.slice(j + 1, close).trim();
        segments.push(index.startsWith("'") && index.endsWith("'") && index.length >= 2 ? index.slice(1, -1).toLowerCase() : '*');
        j = close + 1;
      } else break;
    }
    let k = j;
    while (expression[k] === ' ') k++;
    const isCall = expression[k] === '(' && segments.length === 1;
    const word = segments[0];
    if (!isCall && word !== 'true' && word !== 'false' && word !== 'null') refs.push(segments.join('.'));
    i = j;
  }
  return refs;
}

/**
 * How far a context can be trusted:
 * - `attacker`: anyone who can open an issue, a pull request or a comment sets it;
 * - `caller`: whoever dispatches or calls the workflow sets it;
 * - `indirect`: an output of an earlier step or job, which may carry either.
 */
export type Taint = 'attacker' | 'caller' | 'indirect';

const EVENT_OBJECTS = new Set([
  'issue',
  'pull_request',
  'comment',
  'review',
  'review_comment',
  'pages',
  'commits',
  'head_commit',
  'workflow_run',
  'discussion',
  'discussion_comment',
]);
const FREE_TEXT = new Set(['title', 'body', 'message', 'page_name', 'display_title', 'head_branch', 'default_branch', 'description', 'homepage']);

export function taintOf(ref: string): Taint | undefined {
  const s = ref.split('.');
  if (s[0] === 'github') {
    if (s[1] === 'head_ref') return 'attacker';
    if (s[1] !== 'event') return undefined;
    if (s.length === 2) return 'attacker';
    if (s[2] === 'inputs' || s[2] === 'client_payload') return 'caller';
    if (s.length === 3) return EVENT_OBJECTS.has(s[2] ?? '') ? 'attacker' : undefined;
    const last = s[s.length - 1] ?? '';
    const before = s[s.length - 2] ?? '';
    if (FREE_TEXT.has(last)) return 'attacker';
    if ((last === 'ref' || last === 'label') && before === 'head') return 'attacker';
    if ((last === 'email' || last === 'name') && (before === 'author' || before === 'committer')) return 'attacker';
    if ((last === 'author' || last === 'committer') && s.length >= 4) return 'attacker';
    return undefined;
  }
  if (s[0] === 'inputs') return 'caller';
  if ((s[0] === 'steps' || s[0] === 'needs') && s[2] === 'outputs') return 'indirect';
  return undefined;
}

/** The secret names an expression reads: `secrets.X` → `X` (upper-cased, as GitHub compares them). */
export function secretRefs(expression: string): string[] {
  return contextRefs(expression)
    .filter((r) => r.startsWith('secrets.') && r.split('.').length === 2)
    .map((r) => (r.split('.')[1] ?? '').toUpperCase());
}
