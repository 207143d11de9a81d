/**
 * Writes a restore's files on worker threads (src/workers/write-files.ts), one per core, while the main thread reads
 * and checks the archive. A file is queued as `begin(job)`, `data(chunk)`..., `end()` (the pool is the archive
 * reader's sink for it): its bytes are copied into the current batch buffer, sent when it holds BATCH_BYTES or
 * BATCH_FILES files; a file larger than what is left continues in the next batch, sent to the same worker. At most
 * BUFFERS batches are in flight: `data` then waits for one to come back, which holds the archive stream back, so
 * memory stays flat whatever the archive's size.
 *
 * The first failure a worker reports (or its crash) is thrown by the next `begin`, `data` or `flush`, after which
 * the restore is abandoned; `close` ends the workers, which close any file they hold open.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { workerModule } from '../workers/location.js';
import { PART_FIELDS, PartField as F, type BatchDone, type ToWorker, type WriteFailure } from '../workers/write-files-protocol.js';

/** Large enough that a message's cost is small against its syscalls; small enough to spread files over workers. */
const BATCH_BYTES = 1 << 20;
const BATCH_FILES = 64;
/**
 * Batches in flight at most: 8 MiB of file content, four batches queued for each of two workers. Every buffer made
 * stays resident until the restore ends.
 */
const BUFFERS = 8;
/** Beyond the cores, more workers would only take turns. */
const MAX_WORKERS = 4;

/** A file to create, and what its content must be. */
export interface FileJob {
  /** Absolute destination; must not exist. */
  dest: string;
  /** The archive path, to name the file in an error. */
  path: string;
  size: number;
  /** Hex SHA-256 the content must have. */
  sha256: string;
  mode: number;
  /** The file gets `mode` from open(2) as it is created (see `creationDefaults` in stage.ts): no fchmod. */
  modeAtCreation?: boolean;
  /** Set only when the owner must be changed (running as root, and not the owner a new file gets). */
  owner?: { uid: number; gid: number };
  /** Seconds since the epoch. */
  atime: number;
  mtime: number;
}

interface Slot {
  worker: Worker;
  /** Batches sent and not answered yet. */
  pending: number;
  exited: Promise<unknown>;
}

export interface WritePoolOptions {
  /** Turns a worker's failure into the error the restore reports. */
  toError: (failure: WriteFailure) => Error;
  /** After each batch: files completed and bytes written by it. */
  onWritten?: (files: number, bytes: number) => void;
}

export class WritePool {
  readonly #slots: Slot[];
  readonly #options: WritePoolOptions;
  readonly #free: ArrayBuffer[] = [];
  #allocated = 0;
  #buffer: Uint8Array | undefined;
  #used = 0;
  /** The current batch's parts (PART_FIELDS numbers each) and names. */
  #parts: number[] = [];
  #names: string[] = [];
  /** Where the file begun last has its numbers in `#parts`. */
  #part = 0;
  /** The worker the last batch went to, and whether its last file continues in the next batch. */
  #last: Slot | undefined;
  #continues = false;
  #outstanding = 0;
  #error: Error | undefined;
  #stopping = false;
  /** Callers waiting for a buffer to come back or for the last batch to be answered. */
  #waiters: (() => void)[] = [];

  constructor(options: WritePoolOptions) {
    this.#options = options;
    const count = Math.max(1, Math.min(MAX_WORKERS, os.availableParallelism()));
    const { url, options: workerOptions } = workerModule('write-files');
    this.#slots = Array.from({ length: count }, () => {
      const worker = new Worker(url, workerOptions);
      const slot: Slot = { worker, pending: 0, exited: new Promise((resolve) => worker.once('exit', resolve)) };
      slot.worker.on('message', (done: BatchDone) => this.#answered(slot, done));
      slot.worker.on('error', (error) => this.#fail(error));
      slot.worker.on('exit', (code) => {
        if (!this.#stopping) this.#fail(new Error(`a file-writing worker exited early (code ${code})`));
      });
      return slot;
    });
  }

  /** Starts queueing a file; its content follows through `data`, then `end`. */
  begin(job: FileJob): void {
    this.#throwIfFailed();
    this.#part = this.#startPart(job);
  }

  /** Queues content of the file begun last; a returned promise holds the caller until buffers are free. */
  data(chunk: Buffer): void | Promise<void> {
    if (this.#buffer && this.#used + chunk.length <= BATCH_BYTES) {
      this.#buffer.set(chunk, this.#used);
      this.#used += chunk.length;
      this.#parts[this.#part + F.length]! += chunk.length;
      return;
    }
    return this.#dataAcrossBatches(chunk);
  }

  /** The file begun last is complete. */
  end(): void | Promise<void> {
    this.#parts[this.#part + F.last] = 1;
    if (this.#used === BATCH_BYTES || this.#parts.length >= BATCH_FILES * PART_FIELDS) return this.#sendFull();
  }

  /** Sends what is queued and waits until every file is written; throws the first failure. */
  async flush(): Promise<void> {
    if (this.#parts.length > 0) await this.#sendFull();
    while (this.#outstanding > 0) {
      this.#throwIfFailed();
      await this.#wait();
    }
    this.#throwIfFailed();
  }

  /** Ends the workers (after the batches they hold); a file left open by an abandoned restore is closed. */
  async close(): Promise<void> {
    this.#stopping = true;
    for (const { worker } of this.#slots) worker.postMessage({ type: 'stop' } satisfies ToWorker);
    await Promise.all(this.#slots.map((slot) => slot.exited));
  }

  async #dataAcrossBatches(chunk: Buffer): Promise<void> {
    for (let at = 0; at < chunk.length; ) {
      if (this.#used === BATCH_BYTES) {
        this.#send(true);
        this.#part = this.#startPart(undefined);
      }
      this.#buffer ??= await this.#take();
      const n = Math.min(chunk.length - at, BATCH_BYTES - this.#used);
      this.#buffer.set(chunk.subarray(at, at + n), this.#used);
      this.#used += n;
      this.#parts[this.#part + F.length]! += n;
      at += n;
    }
  }

  /** Sends the current batch, which may hold only empty files so far, and so no buffer yet. */
  async #sendFull(): Promise<void> {
    this.#buffer ??= await this.#take();
    this.#send(false);
  }

  /** Appends a part (a file's first when `job` is given, else the continuation of the last one); returns its offset. */
  #startPart(job: FileJob | undefined): number {
    const at = this.#parts.length;
    if (!job) {
      this.#parts.push(0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
      return at;
    }
    this.#parts.push(0, 0, 1, job.size, job.mode, job.owner?.uid ?? -1, job.owner?.gid ?? -1, job.atime, job.mtime, job.modeAtCreation ? 1 : 0);
    this.#names.push(job.dest, job.path, job.sha256);
    return at;
  }

  #send(continues: boolean): void {
    const buffer = this.#buffer!;
    // A file continued from the previous batch must reach the worker that holds it open.
    const slot = this.#continues ? this.#last! : this.#slots.reduce((a, b) => (b.pending < a.pending ? b : a));
    const message: ToWorker = { type: 'batch', buffer: buffer.buffer as ArrayBuffer, parts: new Float64Array(this.#parts), names: this.#names.join('\0') };
    slot.worker.postMessage(message, [message.buffer]);
    slot.pending++;
    this.#outstanding++;
    this.#last = slot;
    this.#continues = continues;
    this.#buffer = undefined;
    this.#used = 0;
    this.#parts = [];
    this.#names = [];
  }

  async #take(): Promise<Uint8Array> {
    for (;;) {
      this.#throwIfFailed();
      const free = this.#free.pop();
      if (free) return new Uint8Array(free);
      if (this.#allocated < BUFFERS) {
        this.#allocated++;
        return new Uint8Array(BATCH_BYTES);
      }
      await this.#wait();
    }
  }

  #answered(slot: Slot, done: BatchDone): void {
    slot.pending--;
    this.#outstanding--;
    this.#free.push(done.buffer);
    if (done.failure) this.#fail(this.#options.toError(done.failure));
    else this.#options.onWritten?.(done.files, done.bytes);
    this.#wake();
  }

  #fail(error: Error): void {
    this.#error ??= error;
    this.#wake();
  }

  #wait(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }

  #throwIfFailed(): void {
    if (this.#error) throw this.#error;
  }
}
