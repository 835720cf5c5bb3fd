import { DECISION_POINTS } from '../../policy/documents.js';
import type { Command } from '../command.js';
import { PURPOSE_OPTION } from './shared.js';

const actions = () => import('./policy-actions.js');

const TRUST_OPTION = {
  type: 'string',
  value: 'PUB.pem',
  multiple: true,
  description: 'trusted policy key (default: the state key keys/policy.pub); repeatable',
} as const;
const KEY_OPTION = {
  type: 'string',
  value: 'KEY.pem',
  multiple: true,
  description: 'signing key (default: the state key keys/policy.key, created on first use)',
} as const;

export const policyTestCommand: Command = {
  name: 'policy test',
  summary: 'run the PolicyTest files of a policy directory, strictly, with coverage',
  usage: 'cairn policy test DIR [--run REGEX] [--min-coverage PCT] [--junit FILE] [--report FILE] [--attest FILE [--key KEY.pem]] [--json]',
  description:
    "Evaluates every case with the gate's own evaluator and fails on any mismatch: decision, violations (with message regexes), exceptions applied, error count, shadow divergences. Every validation must be seen both passing and failing (floor, never rounded up). --attest signs an in-toto test-result attestation naming the bundle digest; activation requires one. Formats: docs/policy.md.",
  options: {
    run: { type: 'string', value: 'REGEX', description: 'only cases whose "test/case" name matches (RE2); coverage is then not enforced' },
    'min-coverage': { type: 'string', value: 'PCT', description: 'percent of validations seen passing and failing (default 100)' },
    junit: { type: 'string', value: 'FILE', description: 'also write JUnit XML' },
    report: { type: 'string', value: 'FILE', description: 'also write the JSON report' },
    attest: { type: 'string', value: 'FILE', description: 'write a signed test-result attestation (DSSE) for the bundle' },
    key: KEY_OPTION,
  },
  positionals: { min: 1, max: 1 },
  run: (context) => actions().then((m) => m.testCommand(context)),
};

export const policyBundleCommand: Command = {
  name: 'policy bundle',
  summary: 'compile a policy directory into a signed, content-addressed bundle',
  usage: 'cairn policy bundle DIR --out FILE [--key KEY.pem] [--json]',
  options: { out: { type: 'string', value: 'FILE', description: 'where to write the signed bundle (DSSE envelope)' }, key: KEY_OPTION },
  positionals: { min: 1, max: 1 },
  run: (context) => actions().then((m) => m.bundleCommand(context)),
};

const ACTIVATION_OPTIONS = {
  attestation: { type: 'string', value: 'FILE', description: 'the signed test-result attestation naming the bundle digest' },
  'trust-key': TRUST_OPTION,
  key: KEY_OPTION,
  reason: { type: 'string', value: 'TEXT', description: 'why (recorded in the signed record)' },
  purpose: PURPOSE_OPTION,
  'dry-run': { type: 'boolean', description: 'print the plan and the record without changing anything' },
} as const;

export const policyActivateCommand: Command = {
  name: 'policy activate',
  summary: 'make a signed, tested bundle the active policy (no tightening: use promote)',
  usage: 'cairn policy activate BUNDLE --attestation FILE [--trust-key PUB.pem] [--key KEY.pem] [--reason TEXT] [--dry-run] [--json]',
  description:
    'Refuses an unsigned bundle, one without a PASSED test-result attestation for its digest, a version not above every version activated before, and any change that starts denying with a policy that has not run in shadow (promote it instead).',
  options: ACTIVATION_OPTIONS,
  positionals: { min: 1, max: 1 },
  run: (context) => actions().then((m) => m.activation(context, 'activate')),
};

export const policyPromoteCommand: Command = {
  name: 'policy promote',
  summary: 'activate a bundle that enforces what ran in shadow, given enough clean shadow decisions',
  usage: 'cairn policy promote BUNDLE --attestation FILE [--min-decisions N] [--trust-key PUB.pem] [--key KEY.pem] [--reason TEXT] [--dry-run] [--json]',
  description:
    'Like activate, but every binding that starts denying needs N decisions (its minShadowDecisions, or --min-decisions if higher) in which the same policy and params ran in shadow at that point and environment, with no unexplained divergence and no error. Only decisions that replay byte for byte count.',
  options: { ...ACTIVATION_OPTIONS, 'min-decisions': { type: 'string', value: 'N', description: 'require at least N shadow decisions per tightening' } },
  positionals: { min: 1, max: 1 },
  run: (context) => actions().then((m) => m.activation(context, 'promote')),
};

export const policyRollbackCommand: Command = {
  name: 'policy rollback',
  summary: 'return to the previous policy bundle with a signed, audited record',
  usage: 'cairn policy rollback --reason TEXT [--to DIGEST] [--trust-key PUB.pem] [--key KEY.pem] [--dry-run] [--json]',
  options: {
    reason: { type: 'string', value: 'TEXT', description: 'why (required; recorded in the signed record)' },
    to: { type: 'string', value: 'DIGEST', description: 'an earlier, older bundle that was active here (default: the one before the current)' },
    'trust-key': TRUST_OPTION,
    key: KEY_OPTION,
    purpose: PURPOSE_OPTION,
    'dry-run': { type: 'boolean', description: 'print the plan and the record without changing anything' },
  },
  positionals: { min: 0, max: 0 },
  run: (context) => actions().then((m) => m.rollbackCommand(context)),
};

export const policyEvalCommand: Command = {
  name: 'policy eval',
  summary: 'decide on a gate input with the active bundle and store the decision (exit 1 when denied)',
  usage: 'cairn policy eval --input FILE --environment ENV [--point deploy] [--now RFC3339] [--default] [--trust-key PUB.pem] [--json]',
  options: {
    input: { type: 'string', value: 'FILE', description: 'gate input JSON (schema cairn.dev/gate-input/v1)' },
    environment: { type: 'string', value: 'ENV', description: 'the environment decided for' },
    point: { type: 'string', value: 'POINT', description: `decision point: ${DECISION_POINTS.join(', ')} (default deploy)` },
    now: { type: 'string', value: 'RFC3339', description: "the decision's clock (default: now)" },
    default: { type: 'boolean', description: 'with no active bundle, use the shipped default set' },
    'trust-key': TRUST_OPTION,
  },
  positionals: { min: 0, max: 0 },
  run: (context) => actions().then((m) => m.evalCommand(context)),
};

export const policyReplayCommand: Command = {
  name: 'policy replay',
  summary: 'recompute a stored decision; exit 0 only if it is byte-identical',
  usage: 'cairn policy replay DECISION_ID [--trust-key PUB.pem] [--json]',
  options: { 'trust-key': TRUST_OPTION },
  positionals: { min: 1, max: 1 },
  run: (context) => actions().then((m) => m.replayCommand(context)),
};

export const policyShadowReportCommand: Command = {
  name: 'policy shadow-report',
  summary: 'list shadow divergences of the active bundle and whether each candidate is ready to promote',
  usage: 'cairn policy shadow-report [--min-decisions N] [--trust-key PUB.pem] [--json]',
  options: {
    'min-decisions': { type: 'string', value: 'N', description: 'count a candidate ready only with at least N decisions' },
    'trust-key': TRUST_OPTION,
  },
  positionals: { min: 0, max: 0 },
  run: (context) => actions().then((m) => m.shadowReportCommand(context)),
};

export const policyStatusCommand: Command = {
  name: 'policy status',
  summary: 'show the active policy bundle, its bindings and the verified rollout history',
  usage: 'cairn policy status [--trust-key PUB.pem] [--json]',
  options: { 'trust-key': TRUST_OPTION },
  positionals: { min: 0, max: 0 },
  run: (context) => actions().then((m) => m.statusCommand(context)),
};

export const POLICY_COMMANDS: readonly Command[] = [
  policyTestCommand,
  policyBundleCommand,
  policyActivateCommand,
  policyPromoteCommand,
  policyRollbackCommand,
  policyEvalCommand,
  policyReplayCommand,
  policyShadowReportCommand,
  policyStatusCommand,
];
