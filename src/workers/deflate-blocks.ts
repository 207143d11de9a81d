/**
 * The parallel gzip's compressing worker: deflates each block it is sent (see archive/parallel-gzip.ts for the
 * format) and sends the result back. Synchronous zlib in a worker, rather than zlib's async calls from the main
 * thread: each async call cost the main thread about half a millisecond of set-up and completion work, which on a
 * 700 MB backup was a second of the thread that reads and hashes the files.
 *
 * Only Node built-ins are imported: the file runs as its own module beside the CLI bundle.
 */
import { parentPort } from 'node:worker_threads';
import zlib from 'node:zlib';
import type { DeflateJob, DeflateResult } from './deflate-blocks-protocol.js';

const SAMPLE = 16 * 1024;
const SAMPLES = 4;
const WORTH_COMPRESSING = 0.98;

/**
 * The level a block gets: 0 (stored) when four samples spread over it all fail to shrink by 2% at level 1. Random
 * data costs as much CPU to deflate as text and gains nothing; several samples keep a block that mixes random bytes
 * and text compressed.
 */
function effectiveLevel(block: Buffer, level: number): number {
  if (block.length < SAMPLE * SAMPLES * 2) return level;
  const step = Math.floor((block.length - SAMPLE) / (SAMPLES - 1));
  for (let i = 0; i < SAMPLES; i++) {
    const sample = block.subarray(i * step, i * step + SAMPLE);
    if (zlib.deflateRawSync(sample, { level: 1 }).length <= sample.length * WORTH_COMPRESSING) return level;
  }
  return 0;
}

function deflate(job: DeflateJob): Buffer {
  const block = Buffer.from(job.data, 0, job.length);
  return zlib.deflateRawSync(block, {
    level: effectiveLevel(block, job.level),
    // One output buffer larger than any compressed block: no concatenation of 16 KiB pieces.
    chunkSize: block.length + (block.length >> 6) + 1024,
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
    ...(job.dictionary && { dictionary: job.dictionary }),
  });
}

parentPort!.on('message', (job: DeflateJob) => {
  let result: DeflateResult;
  try {
    let compressed: Uint8Array = deflate(job);
    // zlib's output is a view of a buffer it allocated for this call alone, as large as the input: moved as it is
    // when nearly full, copied to its size otherwise, so that the blocks waiting to be written hold no empty memory.
    if (compressed.length < compressed.buffer.byteLength * 0.75) compressed = new Uint8Array(compressed);
    const data = compressed.buffer as ArrayBuffer;
    result = { id: job.id, data, offset: compressed.byteOffset, length: compressed.length, input: job.data };
    parentPort!.postMessage(result, [data, job.data]);
  } catch (error) {
    result = { id: job.id, error: (error as Error).message };
    parentPort!.postMessage(result);
  }
});
