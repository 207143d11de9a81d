/**
 * `list --json` over the whole index, copied from metadata.json rather than parsed and printed again. The index holds
 * its records newest first, one per line as `JSON.stringify` made it, joined as `--json` joins an array's items, and
 * its first line carries the SHA-256 of the rest (src/metadata/store.ts). Where that checksum holds, the file is as
 * this tool wrote it, from records it had checked, and its record lines are the list's JSON as they stand.
 *
 * Why: 10,000 records are 8 MB of JSON. Reading, decoding, parsing, checking and printing them again took about
 * 0.35 s, most of it in fresh memory, which is slow to touch on this machine; this copies them in about 15 ms
 * through one reused buffer (docs/performance.md).
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { Writable } from 'node:stream';
import { errnoCode } from '../errors.js';
import { ARRAY_CLOSE, ARRAY_OPEN, EMPTY_ARRAY, writeThrough } from '../json-output.js';
import { bodyChecksumOf } from './store.js';

const CHUNK_BYTES = 256 * 1024;
const NEWLINE = 0x0a;
const CLOSING_BRACKET = 0x5d;

/** Where the record lines lie in the file: from `start` to `end` (the newline before the closing `]`, excluded). */
interface RecordLines {
  start: number;
  end: number;
}

/**
 * Writes the index's records to `out` as `list --json` prints them, newest first, when metadata.json carries a
 * checksum that holds: two passes over the file, the first to check it, the second to copy. Returns false, having
 * written nothing, for any other file (none, an older writer's, or one edited by hand): the caller reads it then.
 *
 * Each chunk is written from the same buffer: `out` must be done with a chunk when it calls back, as a file or a
 * pipe is.
 */
export async function copyListing(file: string, out: Writable, chunkBytes = CHUNK_BYTES): Promise<boolean> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return false;
    throw error;
  }
  try {
    const buffer = Buffer.allocUnsafe(chunkBytes);
    const lines = await checkedRecordLines(handle, buffer);
    if (!lines) return false;
    if (lines.end <= lines.start) {
      await writeThrough(out, EMPTY_ARRAY);
      return true;
    }
    await writeThrough(out, ARRAY_OPEN);
    for (let position = lines.start; position < lines.end; ) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, lines.end - position), position);
      if (bytesRead === 0) throw new Error(`${file} got shorter while it was listed`);
      await writeThrough(out, buffer.subarray(0, bytesRead));
      position += bytesRead;
    }
    await writeThrough(out, ARRAY_CLOSE);
    return true;
  } finally {
    await handle.close();
  }
}

/** More than the header line `serializeIndex` writes (about 110 bytes). */
const HEADER_PROBE_BYTES = 256;

/**
 * Reads the whole file once: its first line must be the header `serializeIndex` writes, the SHA-256 of the rest must
 * be the one it names, and the rest must hold no control character but the newlines between lines. The record lines
 * end where a line begins with `]` (a record line begins with `{`).
 */
async function checkedRecordLines(handle: fs.FileHandle, buffer: Buffer): Promise<RecordLines | undefined> {
  const probe = Buffer.alloc(HEADER_PROBE_BYTES);
  const { bytesRead: probed } = await handle.read(probe, 0, probe.length, 0);
  const newline = probe.subarray(0, probed).indexOf(NEWLINE);
  const expected = newline < 0 ? undefined : bodyChecksumOf(probe.toString('latin1', 0, newline));
  if (expected === undefined) return undefined;
  const start = newline + 1;
  const hash = createHash('sha256');
  let end = -1;
  let previous = NEWLINE;
  for (let position = start; ; ) {
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) break;
    const chunk = buffer.subarray(0, bytesRead);
    if (hasControlBytes(chunk)) return undefined;
    hash.update(chunk);
    if (end < 0) {
      const found = chunk.indexOf('\n]');
      if (previous === NEWLINE && chunk[0] === CLOSING_BRACKET) end = position - 1;
      else if (found >= 0) end = position + found;
      previous = chunk[bytesRead - 1]!;
    }
    position += bytesRead;
  }
  if (end < 0 || hash.digest('hex') !== expected) return undefined;
  return { start, end };
}

/** Every control character but the newline. */
const CONTROL_BYTES = Array.from({ length: 0x20 }, (_, byte) => byte).filter((byte) => byte !== NEWLINE);

/**
 * `JSON.stringify` writes control characters as escapes, so a file this tool wrote holds none but its newlines. The
 * checksum is no signature: this keeps a file forged with one that holds from printing terminal escapes, which the
 * parsed path cannot print either. One native search per byte value: a loop over every byte took 100 ms of `list`.
 */
function hasControlBytes(chunk: Buffer): boolean {
  return CONTROL_BYTES.some((byte) => chunk.includes(byte));
}
