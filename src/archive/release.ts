/**
 * Frees memory held outside the JS heap as soon as it is no longer needed, instead of whenever V8 collects the objects
 * that hold it: the chunks of an archive being read, and the columns a state store has outgrown. Every chunk of a
 * restore's or a verify's stream is a fresh 1 MiB allocation (1.1 GB of them for the benchmark's 700 MB: the stored
 * bytes read, then their inflated output). V8 frees such memory only when a collection finds its object dead, and by
 * then most of those objects had outlived the young generation: they waited for a full collection, which V8 starts
 * only once about 64 MB more is held outside the heap than after the last one. That wait was 50-75 MB of a restore's
 * peak, and every new chunk was fresh pages for the kernel to fault in and zero.
 *
 * Transferring an ArrayBuffer detaches it (every view of it then has length 0) and hands its memory to the message;
 * closing the channel with the message unread frees it, and the allocator gives the pages to the next chunk.
 */
import zlib from 'node:zlib';
import { MessageChannel } from 'node:worker_threads';

/** Smaller buffers may be slices of Node's shared 8 KiB pool, which must not (and cannot) be transferred. */
const MIN_RELEASED_BYTES = 64 * 1024;

/**
 * Frees `buffer`'s memory now. Only for a buffer no code will read again: its producer is done with it and every
 * consumer has copied what it keeps.
 */
export function releaseBuffer(buffer: ArrayBufferLike): void {
  if (!(buffer instanceof ArrayBuffer) || buffer.byteLength < MIN_RELEASED_BYTES) return;
  const { port1, port2 } = new MessageChannel();
  try {
    port1.postMessage(null, [buffer]);
  } catch {
    // Not transferable (a pool's buffer): the collector frees it as before.
  }
  port1.close();
  port2.close();
}

/** Whether `chunk` is all of its buffer: no other part of that buffer can be someone else's bytes. */
function isWholeBuffer(chunk: Uint8Array): boolean {
  return chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength;
}

/**
 * Whether zlib has moved past `chunk`'s buffer: it fills each output buffer front to back, and makes a new one only
 * once the last is full, so a chunk that ends at its buffer's end is the last view zlib makes of it. (Were that to
 * change, zlib would write into a freed buffer and the process would die: release.test.ts guards it.)
 */
export function endsItsBuffer(chunk: Uint8Array): boolean {
  return chunk.byteOffset + chunk.byteLength === chunk.buffer.byteLength;
}

/**
 * A gunzip that frees each input chunk once it has inflated it, when the chunk is a whole buffer of its own. It owns
 * what it is written: for a pipeline whose upstream stages pass chunks on and keep none (a file's read stream, a
 * digest, a decryption).
 */
export class ReleasingGunzip extends zlib.Gunzip {
  override _transform(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    super._transform(chunk, encoding, (error?: Error | null) => {
      if (!error && isWholeBuffer(chunk)) releaseBuffer(chunk.buffer);
      callback(error);
    });
  }
}
