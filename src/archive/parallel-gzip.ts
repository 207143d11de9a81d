/**
 * gzip on every core, still one standard `.gz` file: the input is cut into blocks, each compressed on libuv's thread
 * pool as an independent gzip member, and the members are written in order. A concatenation of gzip members is a
 * valid gzip stream (RFC 1952 §2.2) that `gzip -d`, GNU tar and Node's gunzip read as one. Blocks of 1 MiB keep the
 * size cost of restarting the dictionary under 1% while giving the pool enough work to overlap.
 *
 * Blocks that do not compress (media, encrypted or already-compressed files) are stored rather than deflated: a
 * 64 KiB sample is deflated at level 1 first, and if it does not shrink by 2%, the block is written as a stored gzip
 * member. Deflating random data at level 6 costs as much CPU as text and gains nothing, so this saves CPU without
 * costing size (the same trick as borg's "auto" compression).
 */
import { Transform, type TransformCallback } from 'node:stream';
import os from 'node:os';
import zlib from 'node:zlib';
import { promisify } from 'node:util';

const gzip = promisify(zlib.gzip);
const deflateRaw = promisify(zlib.deflateRaw);

const SAMPLE = 64 * 1024;
const WORTH_COMPRESSING = 0.98;

export interface ParallelGzipOptions {
  level: number;
  /** Bytes per gzip member. */
  blockSize?: number;
  /** Blocks compressed at once; bounded so memory stays flat. */
  concurrency?: number;
}

/**
 * An output buffer larger than any compressed block, so each block is deflated in one thread-pool job: with zlib's
 * default 16 KiB, every 16 KiB of output is a round trip through the main thread, which serialised the blocks.
 */
function outputSize(block: Buffer): number {
  return block.length + (block.length >> 6) + 1024;
}

async function compressBlock(block: Buffer, level: number): Promise<Buffer> {
  if (block.length > SAMPLE * 2) {
    const sample = block.subarray(Math.floor(block.length / 2) - SAMPLE / 2, Math.floor(block.length / 2) + SAMPLE / 2);
    const probe = await deflateRaw(sample, { level: 1, chunkSize: outputSize(sample) });
    if (probe.length > sample.length * WORTH_COMPRESSING) return gzip(block, { level: 0, chunkSize: outputSize(block) });
  }
  return gzip(block, { level, chunkSize: outputSize(block) });
}

export class ParallelGzip extends Transform {
  readonly #level: number;
  readonly #blockSize: number;
  readonly #concurrency: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Compressions in flight, in input order. */
  #inFlight: Promise<Buffer>[] = [];
  #blocks = 0;

  constructor(options: ParallelGzipOptions) {
    super({ highWaterMark: 1 << 20 });
    this.#level = options.level;
    this.#blockSize = options.blockSize ?? 1 << 20;
    this.#concurrency = options.concurrency ?? os.availableParallelism() + 1;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    // Most chunks (tar headers, small files) just accumulate: answer at once, without a promise per chunk.
    if (this.#pendingBytes < this.#blockSize) return callback();
    this.#drainFullBlocks().then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    // Even empty input gives one member: an empty file is not a valid gzip stream.
    if (this.#pendingBytes > 0 || this.#blocks === 0) this.#startBlock(Buffer.concat(this.#pending, this.#pendingBytes));
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
    this.#blocks++;
    const job = compressBlock(block, this.#level);
    job.catch(() => undefined); // Surfaced when awaited in order; avoid an unhandled rejection before that.
    this.#inFlight.push(job);
  }

  async #emitAll(): Promise<void> {
    while (this.#inFlight.length > 0) this.push(await this.#inFlight.shift()!);
  }
}
