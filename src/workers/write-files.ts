/**
 * A restore's file-writing worker: creates each file of a batch, writes and hashes its content, checks the size and
 * SHA-256 against the manifest, then sets owner, mode and times (owner and mode only when the file did not get them
 * as it was created) and closes it. Running these syscalls and the hashing off the main thread lets them use another
 * core while the main thread decompresses and parses the archive.
 *
 * Only Node built-ins are imported: the file runs as its own module beside the CLI bundle.
 */
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { FileContent } from './direct-write.js';
import { PART_FIELDS, PartField as F, type BatchDone, type BatchMessage, type ToWorker, type WriteFailure } from './write-files-protocol.js';

interface FileJob {
  dest: string;
  path: string;
  sha256: string;
  size: number;
  mode: number;
  /** Created with `mode`, which it keeps: no fchmod. */
  modeAtCreation: boolean;
  /** -1: leave the owner alone. */
  uid: number;
  gid: number;
  atime: number;
  mtime: number;
}

interface OpenFile {
  job: FileJob;
  content: FileContent;
  hash: Hash;
}

/** The file a previous batch left open (its next part starts the next batch). */
let open: OpenFile | undefined;
/** After a failure nothing more is written: the restore is being abandoned. */
let failed = false;

function failure(stage: WriteFailure['stage'], job: FileJob, error: unknown): WriteFailure {
  const code = (error as NodeJS.ErrnoException).code;
  return { stage, dest: job.dest, path: job.path, message: (error as Error).message, ...(code !== undefined && { code }) };
}

function closeOpen(): void {
  if (!open) return;
  try {
    fs.closeSync(open.content.fd);
  } catch {
    // Already failing or stopping: the file is discarded with the staging folder.
  }
  open = undefined;
}

/** Checks the open file's content, sets its metadata and closes it. */
function finish(file: OpenFile): WriteFailure | undefined {
  const { job, content } = file;
  if (content.written !== job.size || file.hash.digest('hex') !== job.sha256) {
    return { stage: 'content', dest: job.dest, path: job.path, message: 'content does not match its SHA-256 in the manifest' };
  }
  try {
    content.end();
    // Owner before mode: a change of owner clears the set-user-ID and set-group-ID bits.
    if (job.uid >= 0) fs.fchownSync(content.fd, job.uid, job.gid);
    if (!job.modeAtCreation) fs.fchmodSync(content.fd, job.mode);
    fs.futimesSync(content.fd, job.atime, job.mtime);
  } catch (error) {
    return failure('writing', job, error);
  }
  // close(2) releases the descriptor even when it fails: never close it twice.
  open = undefined;
  try {
    fs.closeSync(content.fd);
  } catch (error) {
    return failure('writing', job, error);
  }
  return undefined;
}

function writeBatch(message: BatchMessage): BatchDone {
  const bytes = new Uint8Array(message.buffer);
  const done: BatchDone = { type: 'done', buffer: message.buffer, files: 0, bytes: 0 };
  if (failed) return done;
  const { parts } = message;
  const names = message.names.split('\0');
  let named = 0;
  let offset = 0;
  for (let at = 0; at < parts.length; at += PART_FIELDS) {
    const length = parts[at + F.length]!;
    const chunk = bytes.subarray(offset, offset + length);
    offset += length;
    if (parts[at + F.first] === 1) {
      const job: FileJob = {
        dest: names[named]!,
        path: names[named + 1]!,
        sha256: names[named + 2]!,
        size: parts[at + F.size]!,
        mode: parts[at + F.mode]!,
        modeAtCreation: parts[at + F.modeAtCreation] === 1,
        uid: parts[at + F.uid]!,
        gid: parts[at + F.gid]!,
        atime: parts[at + F.atime]!,
        mtime: parts[at + F.mtime]!,
      };
      named += 3;
      try {
        open = { job, content: new FileContent(job.dest, job.modeAtCreation ? job.mode : 0o600, job.size), hash: createHash('sha256') };
      } catch (error) {
        done.failure = failure('creating', job, error);
        break;
      }
    }
    const file = open!;
    try {
      file.content.write(chunk);
    } catch (error) {
      done.failure = failure('writing', file.job, error);
      break;
    }
    file.hash.update(chunk);
    done.bytes += chunk.length;
    if (parts[at + F.last] !== 1) continue;
    const problem = finish(file);
    if (problem) {
      done.failure = problem;
      break;
    }
    done.files++;
  }
  if (done.failure) {
    failed = true;
    closeOpen();
  }
  return done;
}

parentPort!.on('message', (message: ToWorker) => {
  if (message.type === 'stop') {
    closeOpen();
    parentPort!.close();
    return;
  }
  const done = writeBatch(message);
  parentPort!.postMessage(done, [done.buffer]);
});
