/**
 * gzip on every core, still one standard `.gz` file: the input is cut into blocks, each compressed on libuv's thread
 * pool as an independent gzip member, and the members are written in order. A concatenation of gzip members is a
 * valid gzip stream (RFC 1952 §2.2) that `gzip -d`, GNU tar and Node's gunzip read as one. Blocks of 1 MiB keep the
 * size cost of restarting the dictionary under 1% while giving the pool enough work to overlap.
 */
import { Transform, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';
import { promisify } from 'node:util';

const gzip = promisify(zlib.gzip);

export interface ParallelGzipOptions {
  level: number;
  /** Bytes per gzip member. */
  blockSize?: number;
  /** Blocks compressed at once; bounded so memory stays flat. */
  concurrency?: number;
}

export class ParallelGzip extends Transform {
  readonly #level: number;
  readonly #blockSize: number;
  readonly #concurrency: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Compressions in flight, in input order. */
  #inFlight: Promise<Buffer>[] = [];

  constructor(options: ParallelGzipOptions) {
    super({ highWaterMark: 1 << 20 });
    this.#level = options.level;
    this.#blockSize = options.blockSize ?? 1 << 20;
    this.#concurrency = options.concurrency ?? 4;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    this.#drainFullBlocks().then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    if (this.#pendingBytes > 0) this.#startBlock(Buffer.concat(this.#pending, this.#pendingBytes));
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#emitAll().then(() => callback(), callback);
  }

  async #drainFullBlocks(): Promise<void> {
    while (this.#pendingBytes >= this.#blockSize) {
      const all = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingBytes);
      const block = all.subarray(0, this.#blockSize);
      const rest = all.subarray(this.#blockSize);
      this.#pending = rest.length > 0 ? [rest] : [];
      this.#pendingBytes = rest.length;
      this.#startBlock(block);
      // Backpressure: never more than `concurrency` blocks in flight.
      while (this.#inFlight.length >= this.#concurrency) this.push(await this.#inFlight.shift()!);
    }
  }

  #startBlock(block: Buffer): void {
    const job = gzip(block, { level: this.#level });
    job.catch(() => undefined); // Surfaced when awaited in order; avoid an unhandled rejection before that.
    this.#inFlight.push(job);
  }

  async #emitAll(): Promise<void> {
    while (this.#inFlight.length > 0) this.push(await this.#inFlight.shift()!);
  }
}
