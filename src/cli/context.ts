/**
 * What every command gets: the global options, the output streams, and the platform opened on first use. Commands
 * print only through this, so `--json` (stdout holds JSON and nothing else) and `--quiet` hold everywhere.
 */
import type { Writable } from 'node:stream';
import { openPlatform, type BackupManager } from '../backup-manager.js';
import type { OperationObserver } from '../backup/progress.js';
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
    // Indented for a person at a terminal; compact for a program, where 10,000 records print in half the time.
    if (this.json) {
      if (Array.isArray(value) && !this.io.stdout.isTTY) writeJsonArray(this.io.stdout, value);
      else this.io.stdout.write(`${JSON.stringify(value, null, this.io.stdout.isTTY ? 2 : undefined)}\n`);
    } else {
      const text = printable(human(), true);
      if (text !== '') this.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
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

/** Bytes of JSON gathered before each write of a long array. */
const JSON_PIECE = 64 * 1024;

/**
 * `JSON.stringify(items)` and a newline, written a piece at a time: 10,000 records are 9 MB of JSON, which as one
 * string and then one buffer was 18 MB of memory to make and touch, a sixth of `list`'s time.
 */
function writeJsonArray(out: Writable, items: readonly unknown[]): void {
  let piece = '[';
  items.forEach((item, i) => {
    piece += (i === 0 ? '' : ',') + (JSON.stringify(item) ?? 'null');
    if (piece.length >= JSON_PIECE) {
      out.write(piece);
      piece = '';
    }
  });
  out.write(`${piece}]\n`);
}
