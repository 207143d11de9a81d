/**
 * Reading ahead of the packer. The packer reads each file synchronously on the main thread, which also feeds and
 * helps the compressors: whenever a read waits for the disk, compression stops with it. On a warm page cache that
 * never happens; on a cold one (a first backup after a reboot, or data the kernel has reclaimed) a small file costs
 * a seek (70,000 small files took 5.5 s to read here). So a worker reads the coming files a bounded distance ahead of
 * the packer, and the packer's own reads find their data in memory (workers/read-ahead.ts). tar hides the same
 * waits differently: its reader and gzip are two processes with a pipe between them.
 *
 * It only warms the cache: what is archived is still exactly what the packer reads, checked as before.
 */
import { Worker } from 'node:worker_threads';
import type { PackEntry } from './pack.js';
import type { PackList } from './pack-list.js';
import { FILES_READ, PACKER_AT, type ReadAheadBatch, type ReadAheadData } from '../workers/read-ahead-protocol.js';
import { workerModule } from '../workers/location.js';

/** How far ahead of the packer files are read: far enough to cover a burst of small files, near enough that they
 *  are still cached when the packer gets there. */
const AHEAD_FILES = 2048;
const AHEAD_BYTES = 64 << 20;
/** Entries looked ahead at most, whatever their kind: in a tree of many folders and few files, only so far. */
const AHEAD_ENTRIES = 4 * AHEAD_FILES;
/** Files announced at once: each time this many have been packed. */
const BATCH = 256;
/**
 * The worker starts once this many files have been announced: for fewer, starting it costs more than reading ahead
 * could save (a small incremental), and the first ones are read by the packer alone.
 */
const MIN_FILES = 256;

export class ReadAhead {
  #worker: Worker | undefined;
  readonly #progress = new Int32Array(new SharedArrayBuffer(8));
  /** Files announced so far, and files the packer has taken: over all the lists read through this read-ahead. */
  #announced = 0;
  #taken = 0;
  readonly #sampleCached: boolean;

  /** `sampleCached: false` reads every file ahead, cached or not (tests of how far ahead it reads). */
  constructor(options: { sampleCached?: boolean } = {}) {
    this.#sampleCached = options.sampleCached ?? true;
  }

  /**
   * The entries of `list` in order, with the files among them read ahead: up to AHEAD_FILES files and AHEAD_BYTES
   * bytes before the packer takes them. What lies ahead is looked at by position and each entry made only as it is
   * taken: queued as objects, thousands of entries at a time outlived the young generation, and a backup's 77k of
   * them were garbage for the full collector (peak RSS of a full backup 172-195 -> 169-178 MiB).
   */
  *through(list: PackList): Generator<PackEntry> {
    /** The next entry to announce, and the files (and their bytes) announced and not taken yet. */
    let ahead = 0;
    let files = 0;
    let bytes = 0;
    // What lies ahead is what the list holds so far: a list still being filled (see pack-list.ts) is not walked on
    // for the read-ahead's sake, only when the packer needs its next entry.
    for (let next = 0; list.has(next); next++) {
      // Entries are announced only in batches, and always before they are taken (when all announced ones have been
      // taken, `files` and `bytes` are zero and the loop below announces at least the next one).
      if (ahead < list.length && files <= AHEAD_FILES - BATCH && bytes < AHEAD_BYTES) {
        const paths: string[] = [];
        for (; ahead < list.length && files < AHEAD_FILES && bytes < AHEAD_BYTES && ahead - next < AHEAD_ENTRIES; ahead++) {
          if (!list.isFile(ahead)) continue;
          files++;
          bytes += list.sizeOf(ahead);
          paths.push(list.absoluteOf(ahead));
        }
        if (paths.length > 0) this.#announce(paths);
      }
      if (list.isFile(next)) {
        files--;
        bytes -= list.sizeOf(next);
        Atomics.store(this.#progress, PACKER_AT, this.#taken++);
      }
      yield list.at(next);
    }
  }

  #announce(paths: string[]): void {
    const batch: ReadAheadBatch = { first: this.#announced, paths };
    this.#announced += paths.length;
    if (!this.#worker && this.#announced < MIN_FILES) return;
    this.#worker ??= this.#start();
    this.#worker.postMessage(batch);
  }

  #start(): Worker {
    const { url, options } = workerModule('read-ahead');
    const workerData: ReadAheadData = { progress: this.#progress.buffer, sampleCached: this.#sampleCached };
    // Its heap holds a few batches of paths at most: a small young generation keeps its memory small too.
    const worker = new Worker(url, { ...options, workerData, resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16 } });
    // Reading ahead is only ever a help: the process never waits for it, and a failed worker reads nothing more.
    worker.unref();
    worker.on('error', () => undefined);
    return worker;
  }

  /** Files read ahead so far (not counting those skipped because the packer got there first). */
  get filesRead(): number {
    return Atomics.load(this.#progress, FILES_READ);
  }

  async close(): Promise<void> {
    await this.#worker?.terminate();
  }
}
