import { forTerminal, ndjson } from './terminal.js';

/** Where a command writes. Tests pass buffers; the bin passes the process streams. */
export interface Io {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

/** Renders a command's output either as text for people or as NDJSON events. */
export class Output {
  constructor(
    private readonly io: Io,
    readonly json: boolean,
  ) {}

  /** A line for people (ignored in JSON mode); data inside it must already be sanitised or come from cairn. */
  line(text = ''): void {
    if (!this.json) this.io.stdout.write(`${forTerminal(text)}\n`);
  }

  /** Progress for people, on stderr (ignored in JSON mode). */
  progress(text: string): void {
    if (!this.json) this.io.stderr.write(`${forTerminal(text)}\n`);
  }

  /** A typed event: one NDJSON line in JSON mode. */
  event(type: string, body: Record<string, unknown>): void {
    if (this.json) this.io.stdout.write(`${ndjson({ type, ...body })}\n`);
  }
}
