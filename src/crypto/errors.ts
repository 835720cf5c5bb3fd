import { CairnError, type CairnErrorOptions, type ErrorCategory } from '../model/errors.js';

/**
 * Codes raised by the signed-note, checkpoint, cosignature and tlog-proof code. Malformed
 * input is `input`; a well-formed note or proof that does not verify is `denied`.
 */
const NOTE_CODES = {
  /** Not a signed note: bad UTF-8, control characters, no signature block, a bad signature line. */
  NOTE_MALFORMED: 'input',
  /** Over the size or signature-count cap. */
  NOTE_TOO_LARGE: 'input',
  /** Two configured keys share both name and key id, and the note is signed under that pair. */
  NOTE_AMBIGUOUS_KEY: 'input',
  /** A signature by a known key (name and key id match) does not verify. */
  NOTE_SIGNATURE_INVALID: 'denied',
  /** No signature by a known key: the note cannot be trusted. */
  NOTE_UNKNOWN_KEY: 'denied',
  /** The text is not a tlog-checkpoint body. */
  CHECKPOINT_MALFORMED: 'input',
  /** The checkpoint names another log than the one expected. */
  CHECKPOINT_ORIGIN_MISMATCH: 'denied',
  /** The text is not a c2sp.org/tlog-proof@v1 proof. */
  PROOF_MALFORMED: 'input',
  /** The inclusion proof does not bind the leaf to the checkpoint's root hash. */
  PROOF_INVALID: 'denied',
  /** A signer or verifier key text, or raw key material, is malformed. */
  KEY_MALFORMED: 'input',
  /** A key of a signature type this code does not implement. */
  KEY_UNSUPPORTED: 'input',
} as const satisfies Record<string, ErrorCategory>;

export type NoteErrorCode = keyof typeof NOTE_CODES;

/** A signed note, checkpoint, cosignature or tlog proof was malformed or did not verify. */
export class NoteError extends CairnError {
  declare readonly code: NoteErrorCode;

  constructor(code: NoteErrorCode, message: string, options?: CairnErrorOptions) {
    super(code, NOTE_CODES[code], message, options);
  }
}

const MERKLE_CODES = {
  /** An index or tree size outside what the call allows (index ≥ size, m > n, m = 0 …). */
  MERKLE_OUT_OF_RANGE: 'input',
  /** A hash that is not 32 bytes was given to, or returned from a source into, tree code. */
  MERKLE_BAD_HASH: 'input',
  /** A frontier whose hash count does not match its size. */
  MERKLE_FRONTIER_INVALID: 'input',
} as const satisfies Record<string, ErrorCategory>;

export type MerkleErrorCode = keyof typeof MERKLE_CODES;

/** Merkle tree code was asked for something the tree cannot answer (a programming or input error). */
export class MerkleError extends CairnError {
  declare readonly code: MerkleErrorCode;

  constructor(code: MerkleErrorCode, message: string, options?: CairnErrorOptions) {
    super(code, MERKLE_CODES[code], message, options);
  }
}
