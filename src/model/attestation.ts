import { Fields, joinPath } from './fields.js';

export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
/** The buildType cairn writes into its SLSA provenance. */
export const CAIRN_BUILD_TYPE = 'https://cairn.dev/build/recipe/v1';

export interface DsseSignature {
  readonly keyid: string;
  /** Base64 (standard or URL-safe) as found in the envelope. */
  readonly sig: string;
}

/** A DSSE envelope as it appears on the wire (JSON). */
export interface DsseEnvelope {
  readonly payloadType: string;
  /** Base64 (standard or URL-safe). */
  readonly payload: string;
  readonly signatures: readonly DsseSignature[];
}

export interface ResourceDescriptor {
  readonly name?: string;
  readonly uri?: string;
  readonly digest?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, unknown>>;
}

/** A statement subject: a name and at least one digest. */
export interface Subject {
  readonly name?: string;
  readonly digest: Readonly<Record<string, string>>;
}

export interface Statement<P = unknown> {
  readonly _type: typeof IN_TOTO_STATEMENT_V1;
  readonly subject: readonly Subject[];
  readonly predicateType: string;
  readonly predicate: P;
}

/** SLSA Provenance v1 predicate. */
export interface SlsaProvenance {
  readonly buildDefinition: {
    readonly buildType: string;
    readonly externalParameters: Readonly<Record<string, unknown>>;
    readonly internalParameters?: Readonly<Record<string, unknown>>;
    readonly resolvedDependencies?: readonly ResourceDescriptor[];
  };
  readonly runDetails: {
    readonly builder: { readonly id: string; readonly version?: Readonly<Record<string, string>> };
    readonly metadata?: {
      readonly invocationId?: string;
      readonly startedOn?: string;
      readonly finishedOn?: string;
    };
  };
}

const MAX_SIGNATURES = 16;

/** Parses a DSSE envelope, reporting every bad or unknown field. */
export function envelopeFromJSON(raw: unknown, limits: { readonly maxPayloadChars?: number } = {}): DsseEnvelope {
  const f = new Fields();
  const root = f.object(raw, '', ['payloadType', 'payload', 'signatures']);
  if (!root) return f.finish<DsseEnvelope>(undefined, 'ATTEST_ENVELOPE_MALFORMED', 'DSSE envelope');
  const payloadType = f.string(root.payloadType, 'payloadType', { maxLength: 256 });
  const payload = f.string(root.payload, 'payload', { maxLength: limits.maxPayloadChars ?? 8 * 1024 * 1024, pattern: /^[A-Za-z0-9+/_-]*={0,2}$/ });
  const signatures: DsseSignature[] = [];
  const list = f.array(root.signatures, 'signatures', MAX_SIGNATURES);
  if (list) {
    if (list.length === 0) f.report('signatures', 'EMPTY', 'an envelope needs at least one signature');
    list.forEach((item, i) => {
      const path = joinPath('signatures', i);
      const s = f.object(item, path, ['keyid', 'sig']);
      if (!s) return;
      const keyid = s.keyid === undefined ? '' : f.string(s.keyid, joinPath(path, 'keyid'), { maxLength: 512, empty: true });
      const sig = f.string(s.sig, joinPath(path, 'sig'), { maxLength: 4096, pattern: /^[A-Za-z0-9+/_-]+={0,2}$/ });
      if (keyid !== undefined && sig !== undefined) signatures.push({ keyid, sig });
    });
  }
  const envelope = payloadType !== undefined && payload !== undefined ? { payloadType, payload, signatures } : undefined;
  return f.finish(envelope, 'ATTEST_ENVELOPE_MALFORMED', 'DSSE envelope');
}

/** Parses an in-toto Statement v1 (the predicate is kept as raw JSON). */
export function statementFromJSON(raw: unknown): Statement {
  const f = new Fields();
  // in-toto: consumers must ignore fields they do not recognise (they are signed all the same).
  const root = f.object(raw, '');
  if (!root) return f.finish<Statement>(undefined, 'ATTEST_STATEMENT_MALFORMED', 'in-toto statement');
  if (root._type !== IN_TOTO_STATEMENT_V1) f.report('_type', 'UNSUPPORTED', `expected "${IN_TOTO_STATEMENT_V1}"`);
  const predicateType = f.string(root.predicateType, 'predicateType', { maxLength: 1024 });
  const subject: Subject[] = [];
  const list = f.array(root.subject, 'subject', 1024);
  if (list) {
    if (list.length === 0) f.report('subject', 'EMPTY', 'a statement needs at least one subject');
    list.forEach((item, i) => {
      const path = joinPath('subject', i);
      const s = f.object(item, path);
      if (!s) return;
      const name = f.optionalString(s.name, joinPath(path, 'name'), { maxLength: 1024 });
      const d = f.object(s.digest, joinPath(path, 'digest'));
      if (!d) return;
      const digest: Record<string, string> = {};
      for (const [alg, value] of Object.entries(d)) {
        const v = f.string(value, joinPath(joinPath(path, 'digest'), alg), { maxLength: 256, pattern: /^[0-9a-fA-F]+$/ });
        if (v !== undefined) digest[alg] = v.toLowerCase();
      }
      if (Object.keys(digest).length === 0) f.report(joinPath(path, 'digest'), 'EMPTY', 'a subject needs at least one digest');
      subject.push(name === undefined ? { digest } : { name, digest });
    });
  }
  if (root.predicate !== undefined) f.object(root.predicate, 'predicate');
  const statement = predicateType !== undefined ? { _type: IN_TOTO_STATEMENT_V1, subject, predicateType, predicate: root.predicate ?? {} } : undefined;
  return f.finish(statement as Statement | undefined, 'ATTEST_STATEMENT_MALFORMED', 'in-toto statement');
}
