/**
 * gzip on every core, as pigz does it: one standard gzip member whose deflate stream is made of independently
 * compressed blocks. Each block (1 MiB) is deflated on libuv's thread pool with the last 32 KiB of the block before
 * it as its dictionary, and ends with a sync flush (an empty stored block that byte-aligns it), so the compressed
 * blocks simply concatenate into one deflate stream; a final empty block, the CRC-32 and the length close it. The
 * dictionary keeps the ratio within a fraction of a percent of single-threaded `gzip`; `gzip -d`, GNU tar and Node's
 * gunzip read the result like any other .gz.
 *
 * Blocks that do not compress (media, encrypted or already-compressed files) are stored rather than deflated: four
 * 16 KiB samples spread over the block are deflated at level 1 first, and only if none of them shrinks by 2% is the
 * block deflated at level 0. Deflating random data at level 6 costs as much CPU as text and gains nothing (the same
 * trick as borg's "auto"); sampling several places keeps a block that mixes random bytes and text compressed.
 */
import os from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';
import { promisify } from 'node:util';

const deflateRaw = promisify(zlib.deflateRaw);

const SAMPLE = 16 * 1024;
const SAMPLES = 4;
const WORTH_COMPRESSING = 0.98;
const DICTIONARY = 32 * 1024;
/** ID1 ID2, CM=deflate, no flags, no mtime, no extra flags, OS=unix. */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03]);
/** A final (BFINAL=1) fixed-Huffman block holding only its end code: closes a deflate stream of sync-flushed blocks. */
const FINAL_EMPTY_BLOCK = Buffer.from([0x03, 0x00]);

export interface ParallelGzipOptions {
  level: number;
  /** Bytes of input per block. */
  blockSize?: number;
  /** Blocks compressed at once; bounded so memory stays flat. Default: cores + 1. */
  concurrency?: number;
}

/**
 * An output buffer larger than any compressed block, so each block is deflated in one thread-pool job: with zlib's
 * default 16 KiB, every 16 KiB of output is a round trip through the main thread, which serialised the blocks.
 */
function outputSize(block: Buffer): number {
  return block.length + (block.length >> 6) + 1024;
}

async function compressBlock(block: Buffer, dictionary: Buffer | undefined, level: number): Promise<Buffer> {
  let effective = level;
  if (block.length >= SAMPLE * SAMPLES * 2) {
    const step = Math.floor((block.length - SAMPLE) / (SAMPLES - 1));
    effective = 0;
    for (let i = 0; i < SAMPLES && effective === 0; i++) {
      const sample = block.subarray(i * step, i * step + SAMPLE);
      const probe = await deflateRaw(sample, { level: 1, chunkSize: outputSize(sample) });
      if (probe.length <= sample.length * WORTH_COMPRESSING) effective = level;
    }
  }
  return deflateRaw(block, {
    level: effective,
    chunkSize: outputSize(block),
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
    ...(dictionary && { dictionary }),
  });
}

export class ParallelGzip extends Transform {
  readonly #level: number;
  readonly #blockSize: number;
  readonly #concurrency: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Compressions in flight, in input order. */
  #inFlight: Promise<Buffer>[] = [];
  /** The tail of the previous block: the next block's dictionary. */
  #dictionary: Buffer | undefined;
  #crc = 0;
  #length = 0;
  #started = false;

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
    if (this.#pendingBytes > 0) this.#startBlock(Buffer.concat(this.#pending, this.#pendingBytes));
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#emitAll().then(() => {
      this.#header();
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(this.#crc >>> 0, 0);
      trailer.writeUInt32LE(this.#length % 2 ** 32, 4);
      this.push(Buffer.concat([FINAL_EMPTY_BLOCK, trailer]));
      callback();
    }, callback);
  }

  #header(): void {
    if (this.#started) return;
    this.#started = true;
    this.push(GZIP_HEADER);
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
      while (this.#inFlight.length >= this.#concurrency) this.#emit(await this.#inFlight.shift()!);
    }
  }

  #startBlock(block: Buffer): void {
    this.#crc = zlib.crc32(block, this.#crc);
    this.#length += block.length;
    const job = compressBlock(block, this.#dictionary, this.#level);
    job.catch(() => undefined); // Surfaced when awaited in order; avoid an unhandled rejection before that.
    this.#inFlight.push(job);
    // A copy, so the dictionary does not keep the whole previous block alive.
    this.#dictionary = Buffer.from(block.subarray(Math.max(0, block.length - DICTIONARY)));
  }

  #emit(compressed: Buffer): void {
    this.#header();
    this.push(compressed);
  }

  async #emitAll(): Promise<void> {
    while (this.#inFlight.length > 0) this.#emit(await this.#inFlight.shift()!);
  }
}
