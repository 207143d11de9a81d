/**
 * src/maintenance owns what changes the backup directory after backups are made: `cleanup` (retention), `delete`,
 * and `index rebuild`; with src/metadata/store.ts, the index's persistence and schema migration.
 *
 * - cleanup.ts: the retention policy (src/retention/policy.ts, pure) planned on the index and applied; also
 *   `applyRetention`, a schedule's retention over that schedule's own backups.
 * - delete.ts: one backup, refusing while others build on it unless asked to delete them too.
 * - remove.ts: the one crash-safe way to remove backups: records out of the index first (naming their files as
 *   pending removal, in the same atomic write), files deleted second, the note cleared last.
 * - rebuild.ts: metadata.json rebuilt from the archives' own manifests, reporting every difference.
 * - archive-readers.ts: how rebuild reads each kind of archive; encrypted kinds plug in here.
 * - chains.ts: dependents and "last way back" facts, pure.
 *
 * Every command here that writes holds the index lock while it writes, and first sweeps what killed commands left
 * in temp/. Dry runs read the index only, and change nothing at all.
 */
export { applyRetention, cleanupBackups, planCleanup, resolvePolicy, type ApplyRetentionOptions, type CleanupDecision, type CleanupOptions, type CleanupResult } from './cleanup.js';
export { deleteBackup, planDelete, type DeleteOptions, type DeleteResult } from './delete.js';
export { rebuildIndex, type RebuildOptions, type RebuildReport } from './rebuild.js';
export { encryptedArchiveReader, plainArchiveReader, type ArchiveRead, type ArchiveReader, type CopyRead, type FoundArchive } from './archive-readers.js';
export { removeBackups, type RemovalChoice, type RemovalOutcome } from './remove.js';
