/**
 * Crash-safe removal of backups: the one way maintenance deletes anything.
 *
 *   under the index lock:
 *     read the index
 *     choose the records to remove (the caller's decision, made on the index as read under the lock)
 *     write the index without them, naming their files in `pendingRemoval`     <- one atomic write
 *     delete each named file (archive, then manifest copy; each deletion made durable)
 *     write the index again, with `pendingRemoval` empty
 *
 * A kill before the first write leaves everything as it was. After it, no record names a file that may be gone,
 * and every file not yet deleted is named in `pendingRemoval`: the next cleanup, delete or index rebuild deletes it
 * (`create` keeps the note as it is). So at every instant each listed backup has its archive, and no archive is
 * left that nothing will find: a leftover is either named in `pendingRemoval` or, if metadata.json itself was lost,
 * found again by `index rebuild` like any other archive.
 *
 * Only a removed backup's own files are deleted (names of the form `<its id>.tar.gz`, `<its id>.manifest.json.gz`
 * and their variants, src/repository/names.ts), never a file a remaining record names, and never anything else in
 * archives/: a record edited by hand cannot make a removal reach another backup's files, or someone else's.
 */
import { ManifestCache } from '../archive/manifest-cache.js';
import { BackupError } from '../errors.js';
import type { BackupRecord } from '../metadata/record.js';
import { INDEX_SCHEMA_VERSION, readIndex, withIndexLock, writeIndex, type LoadedIndex } from '../metadata/store.js';
import type { BackupLayout } from '../repository/layout.js';
import { isObjectOf, parseObjectName } from '../repository/names.js';
import { LocalStorage } from '../storage/local.js';
import type { ArchiveStorage } from '../storage/storage.js';

export interface RemovalChoice<T> {
  /** Ids of the records to remove. */
  remove: readonly string[];
  result: T;
}

export interface RemovalOutcome<T> {
  result: T;
  /** The records removed from the index, as they were. */
  removed: BackupRecord[];
  /** Files deleted from archives/. */
  deletedFiles: string[];
  /** Of those, the files an earlier, interrupted removal had left. */
  finishedFiles: string[];
  /** Files a removed record named that were left in place, and why. */
  leftFiles: { file: string; reason: string }[];
}

/** Files deleted concurrently: enough to overlap the folder fsyncs, few enough to stay polite to the disk. */
const REMOVALS_AT_ONCE = 8;

/**
 * Forgets this host's plain manifest copies of removed encrypted backups (see src/archive/manifest-cache.ts): the
 * backups are gone, so their file lists have no reason to stay. Best effort: a copy left behind costs nothing.
 */
export async function forgetCachedManifests(platformRoot: string, removed: readonly BackupRecord[]): Promise<void> {
  const cache = new ManifestCache(platformRoot);
  for (const record of removed) {
    if (record.encryption.mode !== 'none') await cache.remove(record.id).catch(() => undefined);
  }
}

/** Storage for deleting only: maintenance never writes archives through it. */
export function maintenanceStorage(layout: BackupLayout): ArchiveStorage {
  return new LocalStorage(layout.archives, () => Promise.reject(new Error('maintenance storage does not create objects')));
}

/**
 * The files of `removed` that may be deleted, given the records that stay: each must be a file name of its own
 * backup and named by no remaining record.
 */
export function filesToDelete(removed: readonly BackupRecord[], kept: readonly BackupRecord[]): { files: string[]; left: { file: string; reason: string }[] } {
  const referenced = new Set(kept.flatMap((r) => [r.archive, r.manifest]));
  const files = new Set<string>();
  const left: { file: string; reason: string }[] = [];
  for (const record of removed) {
    for (const file of [record.archive, record.manifest]) {
      if (!isObjectOf(file, record.id)) left.push({ file, reason: `not a file name of backup ${record.id}: left in place` });
      else if (referenced.has(file)) left.push({ file, reason: 'another backup in the index names it: left in place' });
      else files.add(file);
    }
  }
  return { files: [...files], left };
}

/**
 * Writes `records` as the index, then deletes `files` (and any removal the index still had pending), crash-safely as
 * the header says. Call holding the index lock, with `current` as read under it. Returns the files deleted.
 */
export async function commitRemoval(
  layout: BackupLayout,
  storage: ArchiveStorage,
  current: LoadedIndex,
  records: BackupRecord[],
  files: readonly string[],
): Promise<{ deleted: string[]; finished: string[] }> {
  const referenced = new Set(records.flatMap((r) => [r.archive, r.manifest]));
  const chosen = new Set(files);
  // A pending name that is not one of ours, or that a record names again, is dropped from the note untouched.
  const finished = current.pendingRemoval.filter((file) => parseObjectName(file) !== undefined && !referenced.has(file) && !chosen.has(file));
  const pending = [...new Set([...finished, ...files.filter((file) => !referenced.has(file))])];
  if (pending.length === 0) {
    await writeIndex(layout, current, records);
    return { deleted: [], finished: [] };
  }
  await writeIndex(layout, current, records, pending);
  // A few at a time: each removal is made durable (the folder fsynced) before the note is cleared.
  let next = 0;
  const worker = async () => {
    while (next < pending.length) await storage.remove(pending[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(REMOVALS_AT_ONCE, pending.length) }, worker));
  await writeIndex(layout, { exists: true, schemaVersion: INDEX_SCHEMA_VERSION }, records);
  return { deleted: pending, finished };
}

/**
 * Removes the records `choose` picks, and their files, crash-safely. `choose` runs under the index lock on the
 * current records and may throw to refuse (nothing is written then). With nothing to remove and nothing pending,
 * the index is not written at all.
 */
export async function removeBackups<T>(
  layout: BackupLayout,
  choose: (records: readonly BackupRecord[]) => RemovalChoice<T> | Promise<RemovalChoice<T>>,
  options: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<RemovalOutcome<T>> {
  const storage = maintenanceStorage(layout);
  return withIndexLock(
    layout,
    async () => {
      if (options.signal?.aborted) throw new BackupError('ABORTED', 'stopped before removing anything');
      const current = await readIndex(layout);
      const { remove, result } = await choose(current.backups);
      const ids = new Set(remove);
      const removed = current.backups.filter((r) => ids.has(r.id));
      const kept = current.backups.filter((r) => !ids.has(r.id));
      const { files, left } = filesToDelete(removed, kept);
      if (removed.length === 0 && current.pendingRemoval.length === 0) {
        return { result, removed, deletedFiles: [], finishedFiles: [], leftFiles: left };
      }
      // Past this point the removal runs to its end: it is short, and stopping half-way would only leave work for
      // the next command.
      const { deleted, finished } = await commitRemoval(layout, storage, current, kept, files);
      return { result, removed, deletedFiles: deleted, finishedFiles: finished, leftFiles: left };
    },
    options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {},
  );
}
