/**
 * gzip on every core, as pigz does it: one standard gzip member whose deflate stream is made of independently
 * compressed blocks. Each block (1 MiB) is deflated with the last 32 KiB of the block before it as its dictionary,
 * and ends with a sync flush (an empty stored block that byte-aligns it), so the compressed blocks simply
 * concatenate into one deflate stream; a final empty block, the CRC-32 and the length close it. The dictionary keeps
 * the ratio within a fraction of a percent of single-threaded `gzip`; `gzip -d`, GNU tar and Node's gunzip read the
 * result like any other .gz. Blocks that do not compress are stored (see deflate-block.ts).
 *
 * Blocks go to worker threads, one per core but one: the last core is the main thread's, which feeds them and, when
 * every worker already has work queued, deflates the next block itself rather than wait. So both cores of a 2-core
 * machine compress whenever reading outpaces compression, without a third thread competing for them. Work of its own
 * that this thread is given (`spareWork`) comes before that: it deflates only when it has nothing else to do.
 *
 * A written chunk that spans a whole ArrayBuffer (as the tar writer's blocks do) is moved to the worker, not copied:
 * the stream takes ownership of what is written to it.
 */
import os from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { Worker } from 'node:worker_threads';
import zlib from 'node:zlib';
import type { DeflateJob, DeflateResult } from '../workers/deflate-blocks-protocol.js';
import type { BlockPool } from './block-pool.js';
import { deflateBlock } from './deflate-block.js';
import { workerModule } from '../workers/location.js';

const DICTIONARY = 32 * 1024;
/** ID1 ID2, CM=deflate, no flags, no mtime, no extra flags, OS=unix. */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03]);
/** A final (BFINAL=1) fixed-Huffman block holding only its end code: closes a deflate stream of sync-flushed blocks. */
const FINAL_EMPTY_BLOCK = Buffer.from([0x03, 0x00]);

export interface ParallelGzipOptions {
  level: number;
  /** Bytes of input per block. */
  blockSize?: number;
  /** Worker threads. Default: one per core but one (the main thread's). */
  workers?: number;
  /** Where the memory of compressed input blocks goes back to (the tar writer's pool). */
  recycle?: BlockPool;
  /**
   * Other work of this thread, done a short stretch at a time when every worker has work queued, before this thread
   * deflates a block itself (a backup's scan): false when there is none, for now.
   */
  spareWork?: () => boolean;
}

interface PoolWorker {
  worker: Worker;
  pending: number;
}

/** Worker threads deflating blocks; each job's promise settles with its block, in whatever order they finish. */
class DeflatePool {
  readonly #workers: PoolWorker[] = [];
  readonly #jobs = new Map<number, { resolve: (block: Buffer) => void; reject: (error: Error) => void; owner: PoolWorker }>();
  readonly #recycle: BlockPool | undefined;
  #nextId = 0;
  #failure: Error | undefined;
  #closing = false;

  constructor(size: number, recycle: BlockPool | undefined) {
    this.#recycle = recycle;
    const { url, options } = workerModule('deflate-blocks');
    for (let i = 0; i < size; i++) {
      const owner: PoolWorker = { worker: new Worker(url, options), pending: 0 };
      // Only a worker with work keeps the process alive: a pool nobody closed never holds the process open.
      owner.worker.unref();
      owner.worker.on('message', (result: DeflateResult) => this.#settle(result));
      owner.worker.on('error', (error) => this.#fail(error));
      owner.worker.on('exit', (code) => {
        if (!this.#closing) this.#fail(new Error(`a compression worker stopped (exit code ${code})`));
      });
      this.#workers.push(owner);
    }
  }

  compress(block: Buffer, dictionary: Buffer | undefined, level: number): Promise<Buffer> {
    if (this.#failure) return Promise.reject(this.#failure);
    const owner = this.#workers.reduce((a, b) => (b.pending < a.pending ? b : a));
    const wholeBuffer = block.byteOffset === 0 && block.length === block.buffer.byteLength;
    const data = wholeBuffer ? (block.buffer as ArrayBuffer) : new Uint8Array(block).buffer;
    const job: DeflateJob = { id: this.#nextId++, data, length: block.length, dictionary: dictionary ?? null, level };
    return new Promise<Buffer>((resolve, reject) => {
      this.#jobs.set(job.id, { resolve, reject, owner });
      if (owner.pending++ === 0) owner.worker.ref();
      owner.worker.postMessage(job, [data]);
    });
  }

  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(this.#workers.map((w) => w.worker.terminate()));
  }

  #settle(result: DeflateResult): void {
    const job = this.#jobs.get(result.id);
    if (!job) return;
    this.#jobs.delete(result.id);
    if (--job.owner.pending === 0) job.owner.worker.unref();
    if ('error' in result) return job.reject(new Error(`compression failed: ${result.error}`));
    this.#recycle?.give(result.input);
    job.resolve(Buffer.from(result.data, result.offset, result.length));
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const job of this.#jobs.values()) job.reject(error);
    this.#jobs.clear();
  }
}

export class ParallelGzip extends Transform {
  readonly #level: number;
  readonly #blockSize: number;
  readonly #workerCount: number;
  readonly #recycle: BlockPool | undefined;
  readonly #spareWork: (() => boolean) | undefined;
  #pool: DeflatePool | undefined;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Compressions in flight, in input order. */
  #inFlight: { result: Promise<Buffer>; done: boolean }[] = [];
  /** The tail of the previous block: the next block's dictionary. */
  #dictionary: Buffer | undefined;
  /** Where blocks' tails are copied, in turn: block n's tail is copied while block n-1's is still its dictionary.
   *  Two buffers, not one per block, since a job takes its dictionary at once (copied into the worker's message,
   *  or used before this thread's deflate returns). */
  readonly #tails = [Buffer.allocUnsafeSlow(DICTIONARY), Buffer.allocUnsafeSlow(DICTIONARY)];
  #blocks = 0;
  #crc = 0;
  #length = 0;
  #started = false;

  constructor(options: ParallelGzipOptions) {
    super({ highWaterMark: 1 << 20 });
    this.#level = options.level;
    this.#blockSize = options.blockSize ?? 1 << 20;
    this.#workerCount = options.workers ?? Math.max(1, os.availableParallelism() - 1);
    this.#recycle = options.recycle;
    this.#spareWork = options.spareWork;
  }

  /** Blocks queued to the workers: enough for each to go on to its next block at once. */
  get #workerQueue(): number {
    return 2 * this.#workerCount;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    // Most chunks (tar headers, small files) just accumulate: answer at once, without a promise per chunk.
    if (this.#pendingBytes < this.#blockSize) return callback();
    this.#drainFullBlocks().then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    if (this.#pendingBytes > 0) this.#startBlock(Buffer.concat(this.#pending, this.#pendingBytes));
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#emitAll()
      .then(() => {
        this.#header();
        const trailer = Buffer.alloc(8);
        trailer.writeUInt32LE(this.#crc >>> 0, 0);
        trailer.writeUInt32LE(this.#length % 2 ** 32, 4);
        this.push(Buffer.concat([FINAL_EMPTY_BLOCK, trailer]));
        return this.#pool?.close();
      })
      .then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#inFlight = [];
    const pool = this.#pool;
    this.#pool = undefined;
    if (!pool) return callback(error);
    pool.close().then(() => callback(error), () => callback(error));
  }

  #header(): void {
    if (this.#started) return;
    this.#started = true;
    this.push(GZIP_HEADER);
  }

  async #drainFullBlocks(): Promise<void> {
    while (this.#pendingBytes >= this.#blockSize) {
      const all = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingBytes);
      const block = all.length === this.#blockSize ? all : Buffer.from(all.subarray(0, this.#blockSize));
      const rest = all.subarray(this.#blockSize);
      this.#pending = rest.length > 0 ? [rest] : [];
      this.#pendingBytes = rest.length;
      // One turn of the event loop per block: the packer's awaits all resolve at once, so without it the workers'
      // results (messages) would wait, the workers would look busy, and this thread would deflate every block itself.
      await new Promise<void>((resolve) => setImmediate(resolve));
      // The workers start with the first full block: a stream that ends within its first block (a small archive, such
      // as a no-change incremental's) starts none, since starting one took longer (0.1 s here) than deflating it.
      this.#pool ??= new DeflatePool(this.#workerCount, this.#recycle);
      // Each stretch of spare work is followed by a turn of the event loop, in which a worker may report a block done.
      while (this.#queued() >= this.#workerQueue && this.#spareWork?.()) await new Promise<void>((resolve) => setImmediate(resolve));
      this.#startBlock(block);
      // Out in order, as soon as done; and a bound on what waits behind a slow block, so memory stays flat.
      while (this.#inFlight[0]?.done || this.#inFlight.length > 2 * this.#workerQueue) this.#emit(await this.#inFlight.shift()!.result);
    }
  }

  #startBlock(block: Buffer): void {
    this.#crc = zlib.crc32(block, this.#crc);
    this.#length += block.length;
    // A copy, taken before the block is handed over, so the dictionary does not keep the whole block alive.
    const into = this.#tails[this.#blocks++ % 2]!;
    const tail = into.subarray(0, block.copy(into, 0, Math.max(0, block.length - DICTIONARY)));
    let result: Promise<Buffer>;
    if (this.#pool && this.#queued() < this.#workerQueue) {
      result = this.#pool.compress(block, this.#dictionary, this.#level);
    } else {
      // No workers, or every worker has work queued: this thread takes the block itself rather than wait for them.
      result = Promise.resolve(deflateBlock(block, this.#dictionary, this.#level));
      if (block.byteOffset === 0 && block.length === block.buffer.byteLength) this.#recycle?.give(block.buffer as ArrayBuffer);
    }
    const job = { result, done: false };
    // Surfaced when awaited in order; no unhandled rejection before that.
    result.then(() => (job.done = true), () => (job.done = true));
    this.#inFlight.push(job);
    this.#dictionary = tail;
  }

  /** Blocks in flight that are not done yet. */
  #queued(): number {
    return this.#inFlight.filter((job) => !job.done).length;
  }

  #emit(compressed: Buffer): void {
    this.#header();
    this.push(compressed);
  }

  async #emitAll(): Promise<void> {
    while (this.#inFlight.length > 0) this.#emit(await this.#inFlight.shift()!.result);
  }
}
