/**
 * The read-ahead worker (archive/read-ahead.ts): reads the files it is sent, in order, and throws the bytes away.
 * What it leaves behind is the page cache: when the packer's synchronous read of a file comes, the data is already
 * in memory. Files the packer has already passed (its position is in the shared `progress`) are skipped, and a file
 * that cannot be read is simply not read ahead: the packer reports it.
 *
 * Reads are synchronous, one file after the other. Asynchronous ones, four in flight, read a cold disk faster, but
 * each call is a round trip through the thread pool: on 70,000 cached files that cost 2 s of CPU more than the
 * whole read-ahead saved.
 *
 * Reading ahead what is already in the page cache only costs CPU (opening, reading and closing 71,000 files, on a
 * machine whose two cores are busy compressing). So the reads are timed in windows of WINDOW files: after a window
 * read at page-cache speed, only one file in STRIDE is read, and after a window slower than that, every file again.
 * Windows, not single files: on this VM one cached read in ten takes twice the usual 17 µs, now and then 1 ms.
 *
 * It imports nothing of the CLI bundle: the file runs as its own module beside it, with the compiled library.
 */
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { FILES_READ, PACKER_AT, type ReadAheadBatch, type ReadAheadData } from './read-ahead-protocol.js';

const CHUNK = 256 * 1024;
/** A path may have become something else since the scan: a FIFO must not block the reader, nor a link lead it
 *  elsewhere. */
const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOFOLLOW;

/** A file read from the page cache takes tens of microseconds, plus its bytes at memory speed; from the disk, a seek
 *  (80 µs a small file here, milliseconds on a real disk). */
const CACHED_MICROSECONDS = 40;
const CACHED_BYTES_PER_MICROSECOND = 1000;
const WINDOW = 16;
const STRIDE = 16;

const { progress: shared, sampleCached } = workerData as ReadAheadData;
const progress = new Int32Array(shared);
const buffer = Buffer.allocUnsafe(CHUNK);
/** Batches sent and not yet read. */
let waiting: ReadAheadBatch[] = [];
let scheduled = false;

/** Whether only one file in STRIDE is read, and the window of reads being timed. */
let sampling = false;
const timing = { files: 0, bytes: 0, microseconds: 0 };

/** Counts a file read into the window, and decides how to read on when the window is full. */
function timed(bytes: number, microseconds: number): void {
  timing.files++;
  timing.bytes += bytes;
  timing.microseconds += microseconds;
  if (timing.files < WINDOW) return;
  sampling = sampleCached && timing.microseconds <= WINDOW * CACHED_MICROSECONDS + timing.bytes / CACHED_BYTES_PER_MICROSECOND;
  timing.files = timing.bytes = timing.microseconds = 0;
}

/** Whether the packer has gone past file `n`. */
const passed = (n: number): boolean => Atomics.load(progress, PACKER_AT) > n;

parentPort!.on('message', (batch: ReadAheadBatch) => {
  waiting.push(batch);
  if (!scheduled) setImmediate(readWaiting);
  scheduled = true;
});

/** Reads the waiting files, then lets the next batches in. */
function readWaiting(): void {
  scheduled = false;
  const batches = waiting;
  waiting = [];
  for (const { first, paths } of batches) {
    for (let i = 0; i < paths.length; i++) {
      const n = first + i;
      if (passed(n) || (sampling && n % STRIDE !== 0)) continue;
      const started = performance.now();
      const bytes = readThrough(paths[i]!, n);
      if (bytes < 0) continue;
      Atomics.add(progress, FILES_READ, 1);
      timed(bytes, (performance.now() - started) * 1000);
    }
  }
}

/** The bytes read, or -1 when the file could not be read, or the packer got there first. */
function readThrough(file: string, n: number): number {
  let fd: number;
  try {
    fd = fs.openSync(file, OPEN_FLAGS);
  } catch {
    return -1;
  }
  try {
    let bytes = 0;
    for (let read = CHUNK; read === CHUNK; bytes += read) {
      read = fs.readSync(fd, buffer, 0, CHUNK, null);
      if (passed(n)) return -1;
    }
    return bytes;
  } catch {
    return -1;
  } finally {
    fs.closeSync(fd);
  }
}
