import type { Command } from '../command.js';
import { auditLogCommand, auditVerifyCommand } from './audit.js';
import { keygenCommand } from './keygen.js';
import { runCommand } from './run.js';
import { statusCommand } from './status.js';
import { stopCommand } from './stop.js';
import { verifyCommand } from './verify.js';

/** Every `cairn` command, in the order `--help` lists them. */
export const COMMANDS: readonly Command[] = [runCommand, statusCommand, verifyCommand, keygenCommand, auditVerifyCommand, auditLogCommand, stopCommand];
