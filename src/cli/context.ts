/**
 * What every command gets: the global options, the output streams, and the platform opened on first use. Commands
 * print only through this, so `--json` (stdout holds JSON and nothing else) and `--quiet` hold everywhere.
 */
import type { Writable } from 'node:stream';
import { openPlatform, type BackupManager } from '../backup-manager.js';
import type { OperationObserver } from '../backup/progress.js';
import { errnoCode } from '../errors.js';
import { jsonArrayPieces } from '../json-output.js';
import { printable } from './format.js';
import { createProgress } from './progress.js';

export interface GlobalOptions {
  platform?: string;
  json?: boolean;
  quiet?: boolean;
  progress?: boolean;
}

export interface CliIo {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean; columns?: number };
  stdinIsTTY: boolean;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export class CliContext {
  readonly io: CliIo;
  #options: () => GlobalOptions;
  #manager?: Promise<BackupManager>;

  constructor(io: CliIo, options: () => GlobalOptions) {
    this.io = io;
    this.#options = options;
  }

  get options(): GlobalOptions {
    return this.#options();
  }

  get json(): boolean {
    return this.options.json === true;
  }

  manager(): Promise<BackupManager> {
    this.#manager ??= openPlatform({
      ...(this.options.platform !== undefined && { platform: this.options.platform }),
      ...(this.io.env.MCP_PLATFORM_HOME && { platformHome: this.io.env.MCP_PLATFORM_HOME }),
      cwd: this.io.cwd,
    });
    return this.#manager;
  }

  /** A line for people, on stdout; silent with --quiet or --json. */
  say(line = ''): void {
    if (!this.options.quiet && !this.json) this.io.stdout.write(`${printable(line, true)}\n`);
  }

  /** The result, on stdout: JSON with --json, else the given human text (printed even with --quiet). */
  result(value: unknown, human: () => string): void {
    // Indented for a person at a terminal. For a program, compact, and a long array a piece at a time, one item per
    // line (json-output.ts): 10,000 records print in half the time.
    if (this.json) {
      if (Array.isArray(value) && this.jsonForProgram) for (const piece of jsonArrayPieces(value)) this.io.stdout.write(piece);
      else this.io.stdout.write(`${JSON.stringify(value, null, this.io.stdout.isTTY ? 2 : undefined)}\n`);
    } else {
      const text = printable(human(), true);
      if (text !== '') this.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    }
  }

  /** Whether the result goes to a program as JSON in pieces (`result` prints it indented for a person instead). */
  get jsonForProgram(): boolean {
    return this.json && !this.io.stdout.isTTY;
  }

  /** A result that `produce` writes to stdout itself; a reader that stops early is no failure. */
  async streamResult(produce: (out: Writable) => Promise<void>): Promise<void> {
    try {
      await produce(this.io.stdout);
    } catch (error) {
      if (!readerLeft(error)) throw error;
    }
  }

  warn(message: string): void {
    if (!this.options.quiet) this.io.stderr.write(`warning: ${printable(message)}\n`);
  }

  /** Progress (on stderr, only on a terminal) and warnings for an operation. */
  observer(label: string): OperationObserver & { done(): void } {
    const enabled = this.options.progress !== false && !this.options.quiet && this.io.stderr.isTTY === true;
    const progress = enabled ? createProgress(this.io.stderr, label) : undefined;
    return {
      onProgress: (event) => progress?.update(event),
      onWarning: (message) => {
        progress?.interrupt();
        this.warn(message);
      },
      done: () => progress?.stop(),
    };
  }
}

/** A reader that stopped early (`mcp backup list | head`): what is left to print goes nowhere. */
export function readerLeft(error: unknown): boolean {
  const code = errnoCode(error) ?? (error as { code?: unknown } | null)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED';
}
