import type { Command } from '../command.js';
import { attestCommand } from './attest.js';
import { auditLogCommand, auditVerifyCommand } from './audit.js';
import { buildCommand } from './build.js';
import { explainCommand } from './explain.js';
import { keygenCommand } from './keygen.js';
import { rebuildCommand } from './rebuild.js';
import { runCommand } from './run.js';
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
  keygenCommand,
  auditVerifyCommand,
  auditLogCommand,
  stopCommand,
];
