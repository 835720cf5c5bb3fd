import type { Command } from '../command.js';
import { attestCommand } from './attest.js';
import {
  auditAddCosignatureCommand,
  auditCheckpointCommand,
  auditKeyCommand,
  auditLogCommand,
  auditProofCommand,
  auditVerifyCommand,
  auditVerifyReceiptCommand,
  auditWitnessRequestCommand,
} from './audit.js';
import { buildCommand } from './build.js';
import { ciAuditCommand } from './ci.js';
import { deployCommand } from './deploy.js';
import { drillRollbackCommand } from './drill.js';
import { explainCommand } from './explain.js';
import { keygenCommand } from './keygen.js';
import { POLICY_COMMANDS } from './policy.js';
import { rebuildCommand } from './rebuild.js';
import { runCommand } from './run.js';
import { sbomCommand } from './sbom.js';
import { scanCommand } from './scan.js';
import { secretsBaselineCommand, secretsScanCommand } from './secrets.js';
import { statusCommand } from './status.js';
import { rollbackCommand } from './rollback.js';
import { stopCommand } from './stop.js';
import { verifyCommand } from './verify.js';
import { witnessCosignCommand, witnessInitCommand } from './witness.js';

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
  ...POLICY_COMMANDS,
  auditVerifyCommand,
  auditLogCommand,
  auditProofCommand,
  auditCheckpointCommand,
  auditKeyCommand,
  auditVerifyReceiptCommand,
  auditWitnessRequestCommand,
  auditAddCosignatureCommand,
  witnessInitCommand,
  witnessCosignCommand,
  stopCommand,
  rollbackCommand,
  scanCommand,
  sbomCommand,
  ciAuditCommand,
  secretsScanCommand,
  secretsBaselineCommand,
  deployCommand,
  drillRollbackCommand,
];
