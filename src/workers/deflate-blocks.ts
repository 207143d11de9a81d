/**
 * The parallel gzip's compressing worker: deflates each block it is sent (archive/deflate-block.ts) and sends the
 * result back. Synchronous zlib in a worker, rather than zlib's async calls from the main thread: each async call
 * cost the main thread about half a millisecond of set-up and completion work, which on a 700 MB backup was a second
 * of the thread that reads and hashes the files.
 *
 * It imports nothing of the CLI bundle: the file runs as its own module beside it, with the compiled library.
 */
import { parentPort } from 'node:worker_threads';
import { deflateBlock } from '../archive/deflate-block.js';
import type { DeflateJob, DeflateResult } from './deflate-blocks-protocol.js';

/**
 * Blocks between two collections of this worker's young generation. Each block leaves about a megabyte of zlib
 * output buffers behind, held outside the JS heap, and the worker allocates almost nothing on it: V8 only collected
 * them once tens of megabytes had piled up, in each worker, about 30 MB of a backup's peak memory. A minor collection
 * of a young generation that is nearly all garbage takes well under a millisecond.
 */
const BLOCKS_PER_COLLECTION = 8;
/** V8's collector, when the process runs with --expose-gc (the `mcp` command does: bin/mcp.js); otherwise nothing. */
const collect = (globalThis as { gc?: (options: { type: 'minor' }) => void }).gc;
let blocks = 0;

parentPort!.on('message', (job: DeflateJob) => {
  let result: DeflateResult;
  try {
    const compressed = deflateBlock(new Uint8Array(job.data, 0, job.length), job.dictionary ?? undefined, job.level);
    const data = compressed.buffer as ArrayBuffer;
    result = { id: job.id, data, offset: compressed.byteOffset, length: compressed.length, input: job.data };
    parentPort!.postMessage(result, [data, job.data]);
    if (++blocks % BLOCKS_PER_COLLECTION === 0) collect?.({ type: 'minor' });
  } catch (error) {
    result = { id: job.id, error: (error as Error).message };
    parentPort!.postMessage(result);
  }
});
