/**
 * Which witness cosignatures make a checkpoint acceptable: a subset of C2SP tlog-policy
 * (`log`, `witness`, `group` and `quorum` lines; URLs are accepted and ignored).
 */
import { type NoteVerifier, parseVerifierKey, SIGNATURE_TYPE_COSIGNATURE_V1, SIGNATURE_TYPE_ED25519 } from '../crypto/note.js';
import type { Problem } from '../model/errors.js';
import { AuditError } from './errors.js';

/** A quorum rule: one witness, or at least `k` of a group's members. */
export type QuorumRule =
  | { readonly kind: 'witness'; readonly name: string; readonly key: NoteVerifier }
  | { readonly kind: 'group'; readonly name: string; readonly k: number; readonly members: readonly QuorumRule[] };

export interface WitnessPolicy {
  /** Log keys the policy names (empty when the log is known from context). */
  readonly logs: readonly NoteVerifier[];
  /** Witness cosigning keys (type 0x04), by policy name. */
  readonly witnesses: ReadonlyMap<string, NoteVerifier>;
  /** null for `quorum none`: no cosignature is required. */
  readonly quorum: QuorumRule | null;
}

/** The policy that requires no witness: checkpoints are published as soon as the log signs them. */
export const NO_WITNESSES: WitnessPolicy = Object.freeze({ logs: [], witnesses: new Map(), quorum: null });

const NAME = /^[\x21-\x7e\x80-\uffff]+$/;
const MAX_ENTRIES = 64;

/** Parses a policy; AUDIT_POLICY_MALFORMED lists every bad line. */
export function parseWitnessPolicy(text: string, where = 'policy'): WitnessPolicy {
  const problems: Problem[] = [];
  const logs: NoteVerifier[] = [];
  const witnesses = new Map<string, NoteVerifier>();
  const rules = new Map<string, QuorumRule>();
  const used = new Set<string>();
  let quorum: QuorumRule | null | undefined;
  const lines = text.split('\n');
  for (const [i, raw] of lines.entries()) {
    const path = `${where}:${i + 1}`;
    const report = (message: string) => problems.push({ code: 'INVALID_FORMAT', path, message });
    if (/[\x00-\x08\x0b-\x1f\x7f]/.test(raw)) {
      report('control characters other than tab are not allowed');
      continue;
    }
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [keyword, ...args] = line.split(/[ \t]+/);
    const key = (text: string | undefined, type: number): NoteVerifier | null => {
      try {
        const verifier = parseVerifierKey(text ?? '');
        if (verifier.type !== type) {
          report(`expected a ${type === SIGNATURE_TYPE_ED25519 ? 'log (type 0x01)' : 'cosignature (type 0x04)'} verifier key`);
          return null;
        }
        return verifier;
      } catch (error) {
        report(error instanceof Error ? error.message : String(error));
        return null;
      }
    };
    if (witnesses.size + rules.size + logs.length > MAX_ENTRIES) {
      report(`more than ${MAX_ENTRIES} logs, witnesses and groups`);
      break;
    }
    switch (keyword) {
      case 'log': {
        if (args.length < 1 || args.length > 2) report('expected: log <vkey> [<url>]');
        const v = key(args[0], SIGNATURE_TYPE_ED25519);
        if (v && logs.some((l) => l.publicKey.equals(v.publicKey))) report('duplicate log key');
        else if (v) logs.push(v);
        break;
      }
      case 'witness': {
        const [name, vkey] = args;
        if (args.length < 2 || args.length > 3 || name === undefined) {
          report('expected: witness <name> <vkey> [<url>]');
          break;
        }
        if (!NAME.test(name) || name === 'none' || rules.has(name)) {
          report(`witness name ${JSON.stringify(name)} is reserved, malformed or already defined`);
          break;
        }
        const v = key(vkey, SIGNATURE_TYPE_COSIGNATURE_V1);
        if (v && [...witnesses.values()].some((w) => w.publicKey.equals(v.publicKey))) report('duplicate witness key');
        else if (v) {
          witnesses.set(name, v);
          rules.set(name, { kind: 'witness', name, key: v });
        }
        break;
      }
      case 'group': {
        const [name, threshold, ...memberNames] = args;
        if (name === undefined || threshold === undefined || memberNames.length === 0) {
          report('expected: group <name> <k|all|any> <member>...');
          break;
        }
        if (!NAME.test(name) || name === 'none' || rules.has(name)) {
          report(`group name ${JSON.stringify(name)} is reserved, malformed or already defined`);
          break;
        }
        const members: QuorumRule[] = [];
        for (const member of memberNames) {
          const rule = rules.get(member);
          if (!rule) report(`group ${name}: ${JSON.stringify(member)} is not defined on an earlier line`);
          else if (used.has(`${name}/${member}`)) report(`group ${name}: ${member} is listed twice`);
          else {
            used.add(`${name}/${member}`);
            members.push(rule);
          }
        }
        const n = memberNames.length;
        const k = threshold === 'all' ? n : threshold === 'any' ? 1 : /^[1-9][0-9]*$/.test(threshold) ? Number(threshold) : Number.NaN;
        if (!(k >= 1 && k <= n)) {
          report(`group ${name}: the threshold must be all, any, or a decimal from 1 to ${n}`);
          break;
        }
        if (members.length === n) rules.set(name, { kind: 'group', name, k, members });
        break;
      }
      case 'quorum': {
        if (quorum !== undefined) report('more than one quorum line');
        else if (args.length !== 1) report('expected: quorum <name|none>');
        else if (args[0] === 'none') quorum = null;
        else {
          const rule = rules.get(args[0] as string);
          if (rule) quorum = rule;
          else report(`quorum: ${JSON.stringify(args[0])} is not defined on an earlier line`);
        }
        break;
      }
      default:
        report(`unknown line type ${JSON.stringify(keyword)} (expected log, witness, group or quorum)`);
    }
  }
  if (quorum === undefined && !problems.some((p) => p.message.includes('quorum'))) {
    problems.push({ code: 'MISSING', path: where, message: 'a policy needs exactly one quorum line (quorum none for no witnesses)' });
  }
  if (problems.length > 0 || quorum === undefined) {
    const first = problems[0];
    throw new AuditError('AUDIT_POLICY_MALFORMED', `the witness policy is invalid: ${first ? `${first.path}: ${first.message}` : 'no quorum'}`, { problems });
  }
  return { logs, witnesses, quorum };
}

/** The key id a cosigning verifier is known by in a note: `name+keyid`. */
export function witnessKeyLabel(key: Pick<NoteVerifier, 'name' | 'keyId'>): string {
  return `${key.name}+${key.keyId.toString(16).padStart(8, '0')}`;
}

/** Whether the witnesses whose cosignatures verified (by label, see {@link witnessKeyLabel}) satisfy the quorum. */
export function quorumMet(policy: WitnessPolicy, cosigned: ReadonlySet<string>): boolean {
  const met = (rule: QuorumRule): boolean => (rule.kind === 'witness' ? cosigned.has(witnessKeyLabel(rule.key)) : rule.members.filter(met).length >= rule.k);
  return policy.quorum === null || met(policy.quorum);
}

/** A one-line description of the quorum, for people. */
export function describeQuorum(policy: WitnessPolicy): string {
  const describe = (rule: QuorumRule): string => (rule.kind === 'witness' ? rule.name : `${rule.k} of ${rule.name} (${rule.members.map(describe).join(', ')})`);
  return policy.quorum === null ? 'none' : describe(policy.quorum);
}
