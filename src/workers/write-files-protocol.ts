/**
 * Messages between a restore and its file-writing workers (write-files.ts). A batch is one buffer holding the bytes
 * of consecutive parts, each part the whole or a piece of one file; a file split over batches continues at the start
 * of the next batch sent to the same worker. Buffers are transferred both ways, so a batch costs no copy and the
 * restore reuses a fixed set of them.
 *
 * A part's description is packed into numbers and one string rather than objects: structured-cloning an object per
 * file cost more than writing the file (about 8 µs a file against 2 µs).
 */

import fs from 'node:fs';

/** How each restored file is opened: created, never an existing file, never through a symlink. */
export const CREATE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

/** The numbers describing one part, at `index * PART_FIELDS + field` in `BatchMessage.parts`. */
export const PartField = {
  /** Bytes of this part in the buffer, right after the previous part's. */
  length: 0,
  /** 1 on the file's last part: check its content, set its metadata, close it. */
  last: 1,
  /** 1 on the file's first part, which carries the fields below and three names in `names`. */
  first: 2,
  size: 3,
  mode: 4,
  /** -1 when owners are not restored (not running as root). */
  uid: 5,
  gid: 6,
  /** Seconds since the epoch. */
  atime: 7,
  mtime: 8,
  /** 1 when the file is created with `mode` and keeps it (no fchmod); 0: created 0600, its mode set once written. */
  modeAtCreation: 9,
} as const;
export const PART_FIELDS = 10;

export interface BatchMessage {
  type: 'batch';
  buffer: ArrayBuffer;
  parts: Float64Array;
  /**
   * For each part that starts a file, NUL-separated: its destination (created with O_CREAT|O_EXCL|O_NOFOLLOW, so
   * nothing existing is written through), its archive path (to name it in an error) and the hex SHA-256 its content
   * must have.
   */
  names: string;
}

/** Close whatever is open (the restore stopped) and exit. */
export interface StopMessage {
  type: 'stop';
}

export type ToWorker = BatchMessage | StopMessage;

export interface WriteFailure {
  /** creating: open(2) failed; writing: a later syscall; content: the size or SHA-256 is not the recorded one. */
  stage: 'creating' | 'writing' | 'content';
  dest: string;
  path: string;
  message: string;
  /** errno code (ENOSPC...) when a syscall failed. */
  code?: string;
}

/** One per batch, in order; the buffer comes back for reuse. */
export interface BatchDone {
  type: 'done';
  buffer: ArrayBuffer;
  /** Files completed and bytes written by this batch. */
  files: number;
  bytes: number;
  /** The first failure; the worker writes nothing after it. */
  failure?: WriteFailure;
}
