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
 * It imports nothing of the CLI bundle: the file runs as its own module beside it, with the compiled library.
 */
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { FILES_READ, PACKER_AT, type ReadAheadBatch, type ReadAheadData } from './read-ahead-protocol.js';

const CHUNK = 256 * 1024;
/** A path may have become something else since the scan: a FIFO must not block the reader, nor a link lead it
 *  elsewhere. */
const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOFOLLOW;

const { progress: shared } = workerData as ReadAheadData;
const progress = new Int32Array(shared);
const buffer = Buffer.allocUnsafe(CHUNK);
/** Batches sent and not yet read. */
let waiting: ReadAheadBatch[] = [];
let scheduled = false;

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
      if (!passed(n) && readThrough(paths[i]!, n)) Atomics.add(progress, FILES_READ, 1);
    }
  }
}

function readThrough(file: string, n: number): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, OPEN_FLAGS);
  } catch {
    return false;
  }
  try {
    while (fs.readSync(fd, buffer, 0, CHUNK, null) === CHUNK) if (passed(n)) return false;
    return true;
  } catch {
    return false;
  } finally {
    fs.closeSync(fd);
  }
}
