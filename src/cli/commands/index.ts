import type { Command } from '../command.js';
import { attestCommand } from './attest.js';
import { auditLogCommand, auditVerifyCommand } from './audit.js';
import { buildCommand } from './build.js';
import { ciAuditCommand } from './ci.js';
import { explainCommand } from './explain.js';
import { keygenCommand } from './keygen.js';
import { POLICY_COMMANDS } from './policy.js';
import { rebuildCommand } from './rebuild.js';
import { runCommand } from './run.js';
import { secretsBaselineCommand, secretsScanCommand } from './secrets.js';
import { statusCommand } from './status.js';
import { stopCommand } from './stop.js';
import { verifyCommand } from './verify.js';

/** Every `cairn` command, in the order `--help` lists them. */
export const COMMANDS: readonly Command[] = [
  runCommand,
  buildCommand,
  statusCommand,
  attestCommand,
  verifyCommand,
  rebuildCommand,
  explainCommand,
  ciAuditCommand,
  secretsScanCommand,
  secretsBaselineCommand,
  keygenCommand,
  auditVerifyCommand,
  auditLogCommand,
  ...POLICY_COMMANDS,
  stopCommand,
];
