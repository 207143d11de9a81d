/**
 * Creating a backup:
 *
 *   resolve the scope -> check every path exists -> pre_backup hooks
 *   -> scan (metadata only), walked on as packing goes: scan-ahead.ts
 *   -> [incremental: keep only what changed since the state of the chain it extends]
 *   -> tar (file by file, hashing) -> gzip on every core -> [encryption] -> SHA-256 -> staging file
 *   -> post_backup hook of each service as soon as its files are packed
 *   -> manifest as the archive's last entry, and a compressed copy beside the archive
 *   -> under the index lock: rename both into archives/, then add the record to metadata.json.
 *
 * The record is written last, so a backup is listed only once its archive is complete and durable; a killed create
 * leaves a staging folder that the next command sweeps, or at worst an unlisted archive that `index rebuild` finds.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { BackupError } from '../errors.js';
import { DigestStream } from '../archive/digest.js';
import { FORMAT_VERSION, MANIFEST_ARCHIVE_PATH, MANIFEST_FORMAT, type ManifestRoot } from '../archive/manifest.js';
import { ManifestWriter, type ManifestHeader } from '../archive/manifest-writer.js';
import { packEntries, packOwnFile, type PackHooks } from '../archive/pack.js';
import { BlockPool } from '../archive/block-pool.js';
import { MEM_LEVEL } from '../archive/deflate-block.js';
import { PackList } from '../archive/pack-list.js';
import { ReadAhead } from '../archive/read-ahead.js';
import { ParallelGzip } from '../archive/parallel-gzip.js';
import { TAR_BLOCK_SIZE, TarStreamWriter } from '../archive/tar-stream-writer.js';
import { ManifestCache, MANIFEST_CACHE_DIR } from '../archive/manifest-cache.js';
import { StateCache, type EncodableState } from '../archive/state-cache.js';
import { StateSpill } from '../archive/state-spill.js';
import { checkEncryptionKey, createEncryptStream, type DecryptionKey, type EncryptionKey } from '../crypto/index.js';
import { runHook } from '../hooks/run-hook.js';
import { newBackupId } from '../metadata/ids.js';
import type { BackupOrigin, BackupParts, BackupRecord, BackupType } from '../metadata/record.js';
import { INDEX_SCHEMA_VERSION, readIndex, withIndexLock, writeIndex } from '../metadata/store.js';
import { PLATFORM_CONFIG_ARCHIVE_PATH, type Platform, type Service } from '../platform/types.js';
import { backupLayout, ensureLayout, removeEmptyLayout } from '../repository/layout.js';
import { openWorkspace, sweepTemp, type Workspace } from '../repository/workspace.js';
import { isRestoreRunning } from '../restore/recovery.js';
import { LocalStorage } from '../storage/local.js';
import type { ArchiveStorage, ObjectWriter } from '../storage/storage.js';
import type { ScanProblem, ScanRoot, ScannedEntry } from '../walk/scan.js';
import { exists } from '../fsutil/safe-write.js';
import { TOOL_VERSION } from '../version.js';
import { contentDiffers, resolveIncremental } from './incremental.js';
import { StateDiff } from './changes.js';
import { ScanAhead } from './scan-ahead.js';
import type { OperationObserver } from './progress.js';
import { resolveScope, sameScope, type BackupScope } from './scope.js';


export const DEFAULT_COMPRESSION_LEVEL = 6;

export interface CreateBackupOptions extends OperationObserver {
  type: BackupType;
  /** Required for `service` backups; for incrementals, the scope to continue (default: the whole platform). */
  services?: string[];
  description?: string;
  /** Also back up logs. For incrementals, default: as the backup it builds on. */
  includeLogs?: boolean;
  /** False leaves the volumes out (service backups). For incrementals, default: as the backup it builds on. */
  volumes?: boolean;
  /** Default true. */
  compress?: boolean;
  /** 1-9; default platform.yaml's backup.compression.level, else 6. */
  compressionLevel?: number;
  /** Back up what can be read and report the rest, instead of failing. */
  skipUnreadable?: boolean;
  /** Incrementals: hash every file to find changes, for filesystems whose timestamps cannot be trusted. */
  verifyContent?: boolean;
  /** Encrypt the archive and its manifest copy (age format). */
  encryption?: EncryptionKey;
  /**
   * Incrementals over encrypted backups: opens the base's manifest when this host has no cached copy of it. With a
   * passphrase, the passphrase of `encryption` is used.
   */
  decryptionKey?: DecryptionKey;
  origin?: BackupOrigin;
  signal?: AbortSignal;
  /** Clock, for tests. */
  now?: () => Date;
}

export interface CreateBackupResult {
  record: BackupRecord;
  /** Files that changed while they were read. */
  changedWhileReading: string[];
  /** Paths left out because they could not be read (only with skipUnreadable). */
  skipped: string[];
}

function scanRootsOf(service: Service, parts: BackupParts): ScanRoot[] {
  return service.paths
    .filter((p) => parts[p.part])
    .map((p) => ({ absolute: p.absolute, archiveRoot: p.archiveRoot, exclude: service.exclude }));
}

async function checkPathsExist(platform: Platform, scope: BackupScope): Promise<void> {
  for (const service of scope.services) {
    for (const p of service.paths) {
      if (!scope.parts[p.part]) continue;
      const found = await fs.promises.lstat(p.absolute).then(() => true, () => false);
      if (!found) {
        const fix = platform.configFile ? `create it or fix ${platform.configFile}` : 'create it';
        throw new BackupError('PATH_MISSING', `service ${service.name}: ${p.part} path ${p.declared} does not exist (${p.absolute}): ${fix}`, {
          service: service.name,
          path: p.absolute,
        });
      }
    }
  }
}

/** What the scan found that refuses the backup without --skip-unreadable (special files are only warned of). */
function blockingOf(problems: readonly ScanProblem[]): ScanProblem[] {
  return problems.filter((p) => p.kind !== 'special-file');
}

function unreadableError(blocking: readonly ScanProblem[]): BackupError | undefined {
  if (blocking.length === 0) return undefined;
  return new BackupError(
    'UNREADABLE_FILES',
    `${blocking.length} path${blocking.length > 1 ? 's' : ''} cannot be backed up: ${describeProblems(blocking)}; fix their permissions or names, or pass --skip-unreadable`,
    { paths: blocking.map((p) => p.absolute) },
  );
}

function describeProblems(problems: readonly { absolute: string; reason: string }[]): string {
  const shown = problems.slice(0, 5).map((p) => `${p.absolute} (${p.reason})`);
  const more = problems.length > shown.length ? `, and ${problems.length - shown.length} more` : '';
  return `${shown.join('; ')}${more}`;
}

function manifestRoots(platform: Platform, scope: BackupScope): ManifestRoot[] {
  const roots: ManifestRoot[] = [];
  for (const service of scope.services) {
    for (const p of service.paths) {
      if (scope.parts[p.part]) roots.push({ service: service.name, part: p.part, source: p.declared, archiveRoot: p.archiveRoot });
    }
  }
  if (scope.parts.platformConfig && platform.configFile) {
    roots.push({ service: '_platform', part: 'platform', source: 'platform.yaml', archiveRoot: PLATFORM_CONFIG_ARCHIVE_PATH });
  }
  return roots;
}

/** Caches a new chain's first state; failing to costs the next incremental some time, not this backup. */
async function cacheState(platform: Platform, record: BackupRecord, state: EncodableState, before: readonly BackupRecord[]): Promise<void> {
  const states = new StateCache(platform.root);
  try {
    await states.put(record, state);
    // Incrementals of this scope will extend this backup from now on: the older ones' states go.
    await states.prune([...before.filter((r) => !sameScope(r, record)), record]);
  } catch {
    // Left to the next incremental to build.
  }
}

export async function createBackup(platform: Platform, options: CreateBackupOptions): Promise<CreateBackupResult> {
  const startedAt = options.now?.() ?? new Date();
  const layout = backupLayout(platform.backupDir);
  const level = options.compressionLevel ?? platform.defaults.compressionLevel ?? DEFAULT_COMPRESSION_LEVEL;
  if (!Number.isInteger(level) || level < 1 || level > 9) {
    throw new BackupError('USAGE', `compression level ${level} is out of range: use 1 (fastest) to 9 (smallest)`);
  }
  if (options.verifyContent && options.type !== 'incremental') {
    throw new BackupError('USAGE', '--verify-content applies to incremental backups: full and service backups read every file anyway');
  }
  const compress = options.compress ?? true;
  const encryption = options.encryption && checkEncryptionKey(options.encryption);
  const readOnlyStorage = new LocalStorage(layout.archives, () => Promise.reject(new Error('read-only storage handle')));

  // Refuse early if the index cannot be read: a backup that could not be recorded is wasted work.
  const existing = (await readIndex(layout)).backups;
  // Settle what a killed command left (a half-swapped restore above all) before looking at the platform, and never
  // back up paths a running restore is swapping (its own safety backup excepted).
  await sweepTemp(layout);
  if (options.origin?.kind !== 'safety' && (await isRestoreRunning(layout))) {
    throw new BackupError('LOCKED', 'a restore is running on this platform: a backup now would catch it half-done; retry when it has finished');
  }
  const { scope, base } =
    options.type === 'incremental'
      ? await resolveIncremental(platform, readOnlyStorage, existing, options)
      : { scope: resolveScope(platform, options), base: undefined };
  await checkPathsExist(platform, scope);
  const id = newBackupId(options.type, startedAt, new Set(existing.map((r) => r.id)));

  const hookEnv = { MCP_BACKUP_ID: id };
  const awaitingPostHook: Service[] = [];
  const runPostHook = async (service: Service) => {
    const index = awaitingPostHook.indexOf(service);
    if (index < 0) return;
    awaitingPostHook.splice(index, 1);
    const command = service.hooks.post_backup;
    if (!command) return;
    // The backup itself is sound whatever this hook does, so its failure is reported, not fatal.
    await runHook({ root: platform.root, service: service.name, hook: 'post_backup', command, env: hookEnv }).catch((error: unknown) =>
      options.onWarning?.((error as Error).message),
    );
  };

  let archiveWriter: ObjectWriter | undefined;
  let manifestWriter: ObjectWriter | undefined;
  let workspace: Workspace | undefined;
  let manifest: ManifestWriter | undefined;
  let readAhead: ReadAhead | undefined;
  /** The state of a backup that starts a chain, as it is packed. */
  let chainState: StateSpill | undefined;
  /** Whether this backup made the backup directory (it then removes it again if it fails), and whether it is listed. */
  let madeLayout = false;
  let committed = false;
  // Compression gives the tar writer's blocks back once deflated.
  const blocks = compress ? new BlockPool(TAR_BLOCK_SIZE) : undefined;
  const pack = new TarStreamWriter({ ...(blocks && { pool: blocks }) });
  try {
    // 1. Hooks, then the scan: a hook may create what is to be backed up (a database snapshot).
    for (const service of scope.services) {
      awaitingPostHook.push(service);
      const command = service.hooks.pre_backup;
      if (!command) continue;
      options.onProgress?.({ phase: 'hooks', files: 0, bytes: 0, service: service.name });
      await runHook({ root: platform.root, service: service.name, hook: 'pre_backup', command, env: hookEnv });
    }
    options.onProgress?.({ phase: 'scan', files: 0, bytes: 0 });
    // The scan is walked as the packing goes (scan-ahead.ts), into compact lists (pack-list.ts) that hold no object
    // per entry: a full backup takes every entry, an incremental what its diff, walking the scan in step with the
    // base's state, finds new or changed.
    const diff = base && new StateDiff(base.state, options.verifyContent ? contentDiffers : undefined);
    const scan = new ScanAhead({
      skip: new Set([layout.root, path.join(platform.root, MANIFEST_CACHE_DIR)]),
      ...(diff && { keep: (entry: ScannedEntry) => diff.changed(entry) }),
      ...(!options.skipUnreadable && { refuse: (problems: readonly ScanProblem[]) => unreadableError(blockingOf(problems)) }),
    });
    const toPack: { service?: Service; list: PackList }[] = scope.services.map((service) => ({ service, list: scan.group(scanRootsOf(service, scope.parts)) }));
    if (scope.parts.platformConfig && platform.configFile) {
      toPack.push({ list: scan.group([{ absolute: platform.configFile, archiveRoot: PLATFORM_CONFIG_ARCHIVE_PATH, exclude: [] }]) });
    }
    // Its first stretch before anything is written: a backup refused for what the scan finds, which finds it within
    // its first stretch on a small platform, has then not even made the backup directory.
    scan.walkOn();

    // A refused backup leaves the backup directory as it was: what it wrote goes with its staging folder, and the
    // folders it made, when it made the backup directory.
    madeLayout = !(await exists(layout.root));
    for (const warning of await ensureLayout(layout)) options.onWarning?.(warning);
    const staging = await openWorkspace(layout, 'create');
    workspace = staging;
    const storage: ArchiveStorage = new LocalStorage(layout.archives, () => Promise.resolve(staging.dir));

    // 2. The archive stream.
    const archiveName = `${id}.tar${compress ? '.gz' : ''}${encryption ? '.age' : ''}`;
    archiveWriter = await storage.create(archiveName);
    const digest = new DigestStream();
    const stages: Transform[] = [];
    if (compress) stages.push(new ParallelGzip({ level, blockSize: TAR_BLOCK_SIZE, ...(blocks && { recycle: blocks }), spareWork: () => scan.spare() }));
    if (encryption) stages.push(createEncryptStream(encryption));
    const written = pipeline([pack, ...stages, digest, archiveWriter.stream] as unknown as [NodeJS.ReadableStream, NodeJS.WritableStream]);
    written.catch(() => undefined); // Awaited below; an early failure must not be an unhandled rejection.

    // The manifest is written to staging as entries are packed, never held whole in memory. An incremental's header
    // names what was deleted since its base, known once the scan is done.
    const manifestHeader = (deleted: string[]): ManifestHeader => ({
      format: MANIFEST_FORMAT,
      formatVersion: FORMAT_VERSION,
      toolVersion: TOOL_VERSION,
      id,
      type: options.type,
      createdAt: startedAt.toISOString(),
      ...(options.description !== undefined && { description: options.description }),
      ...(base && { parent: base.parent.id }),
      origin: options.origin ?? { kind: 'manual' },
      platform: { name: platform.name, root: platform.root },
      services: scope.services.map((s) => s.name),
      parts: scope.parts,
      roots: manifestRoots(platform, scope),
      deleted,
    });
    manifest = await ManifestWriter.open(path.join(staging.dir, 'manifest.json'), diff ? undefined : manifestHeader([]));
    const manifestOut = manifest;
    // A backup that starts a chain leaves its state in the host's cache (archive/state-cache.ts), so that the first
    // incremental on it reads a small binary file instead of this backup's whole manifest.
    if (!base) chainState = new StateSpill(path.join(staging.dir, 'state'));
    const stored = { files: 0, bytes: 0 };
    const changedWhileReading: string[] = [];
    const unreadable: { absolute: string; reason: string }[] = [];
    const packHooks = (service?: string): PackHooks => ({
      onEntry: (entry) => {
        if (entry.type === 'file') {
          stored.files++;
          stored.bytes += entry.size;
        }
        chainState?.add(entry);
        manifestOut.add(entry);
        scan.packed(entry.size);
      },
      // The totals grow until the scan is done: in a large backup, when the packer is near the end (scan-ahead.ts).
      onProgress: () => options.onProgress?.({ phase: 'pack', files: stored.files, bytes: stored.bytes, totalFiles: scan.files, totalBytes: scan.fileBytes, ...(service && { service }) }),
      onUnreadable: (absolute, reason) => {
        unreadable.push({ absolute, reason });
        if (options.skipUnreadable) options.onWarning?.(`skipped ${absolute}: ${reason}`);
      },
      onChangedWhileReading: (absolute) => {
        changedWhileReading.push(absolute);
        options.onWarning?.(`${absolute}: file changed as we read it`);
      },
    });
    readAhead = new ReadAhead();
    while (toPack.length > 0) {
      const { service, list } = toPack.shift()!; // Packed lists are let go.
      await packEntries(pack, readAhead.through(list), packHooks(service?.name), options.signal);
      if (service) await runPostHook(service);
    }

    scan.finish();
    const problems = scan.problems;
    for (const p of problems.filter((p) => p.kind === 'special-file')) options.onWarning?.(`skipped ${p.absolute}: ${p.reason}`);
    const skipped: string[] = [];
    for (const p of blockingOf(problems)) {
      options.onWarning?.(`skipped ${p.absolute}: ${p.reason}`);
      skipped.push(p.absolute);
    }
    if (unreadable.length > 0 && !options.skipUnreadable) {
      throw new BackupError(
        'UNREADABLE_FILES',
        `${unreadable.length} file${unreadable.length > 1 ? 's' : ''} could not be read: ${describeProblems(unreadable)}; fix their permissions or pass --skip-unreadable`,
        { paths: unreadable.map((u) => u.absolute) },
      );
    }
    skipped.push(...unreadable.map((u) => u.absolute));

    // 3. What vanished since the base is recorded as deleted; what the incremental does not store, counted.
    const deleted = diff?.deleted() ?? [];
    const unchanged = diff?.unchanged ?? { entries: 0, files: 0, bytes: 0 };
    const totalFiles = scan.files;
    const totalBytes = scan.fileBytes;
    const header = manifestHeader(deleted);
    await manifest.close(diff && header);

    // 4. The manifest copy beside the archive (and, for encrypted backups, a plain copy on this host, so the next
    // incremental needs no secret). It is compressed on libuv's pool while this thread packs the manifest into the
    // archive and the last blocks are compressed: done after them, it was half a second of a full backup on one core.
    const manifestName = `${id}.manifest.json.gz${encryption ? '.age' : ''}`;
    manifestWriter = await storage.create(manifestName);
    const manifestDigest = new DigestStream();
    const copyStages: Transform[] = [zlib.createGzip({ level: 6, memLevel: MEM_LEVEL, chunkSize: 256 * 1024 })];
    if (encryption) copyStages.push(createEncryptStream(encryption));
    const copied = pipeline([fs.createReadStream(manifest.file, { highWaterMark: 1 << 20 }), ...copyStages, manifestDigest, manifestWriter.stream] as unknown as [NodeJS.ReadableStream, NodeJS.WritableStream]);
    copied.catch(() => undefined); // Awaited below, as `written` is.

    await packOwnFile(pack, MANIFEST_ARCHIVE_PATH, manifest.file, startedAt);
    await pack.finish();
    await written;
    await copied;
    if (encryption) await new ManifestCache(platform.root).putFile(id, manifest.file);

    // 5. Commit: objects first, the record last.
    const record: BackupRecord = {
      id,
      type: options.type,
      createdAt: startedAt.toISOString(),
      ...(options.description !== undefined && { description: options.description }),
      services: header.services,
      parts: scope.parts,
      ...(base && { parent: base.parent.id }),
      origin: options.origin ?? { kind: 'manual' },
      archive: archiveName,
      manifest: manifestName,
      size: digest.bytes,
      sha256: digest.digest(),
      manifestSha256: manifestDigest.digest(),
      entries: manifest.entries + unchanged.entries,
      files: stored.files + unchanged.files,
      bytes: stored.bytes + unchanged.bytes,
      storedFiles: stored.files,
      storedBytes: stored.bytes,
      deletedEntries: deleted.length,
      compression: compress ? { algorithm: 'gzip', level } : { algorithm: 'none' },
      encryption: { mode: encryption?.mode ?? 'none' },
      status: 'complete',
      changedWhileReading: changedWhileReading.length,
      durationMs: 0,
      toolVersion: TOOL_VERSION,
      formatVersion: FORMAT_VERSION,
    };
    options.onProgress?.({ phase: 'commit', files: stored.files, bytes: stored.bytes, totalFiles, totalBytes });
    const [archiveCommit, manifestCommit] = [archiveWriter, manifestWriter];
    await withIndexLock(layout, async () => {
      const current = await readIndex(layout);
      // The base may have been deleted while this incremental was being written: never record a broken chain.
      if (base && !current.backups.some((r) => r.id === base.parent.id)) {
        throw new BackupError('NO_BASE', `the incremental's base ${base.parent.id} was deleted while it was being made: run the backup again`);
      }
      // Named as pending removal before they enter archives/: killed between the renames and the record, the files
      // are never an archive nothing knows of (the next cleanup, delete or index rebuild removes them).
      const files = [record.archive, record.manifest];
      await writeIndex(layout, current, current.backups, [...current.pendingRemoval, ...files]);
      await manifestCommit.commit();
      await archiveCommit.commit();
      record.durationMs = Date.now() - startedAt.getTime();
      await writeIndex(layout, { exists: true, schemaVersion: INDEX_SCHEMA_VERSION }, [...current.backups, record], current.pendingRemoval);
      committed = true;
    });
    if (chainState) await cacheState(platform, record, chainState, existing);
    return { record, changedWhileReading, skipped };
  } catch (error) {
    pack.destroy();
    manifest?.abort();
    await archiveWriter?.abort();
    await manifestWriter?.abort();
    throw error;
  } finally {
    await readAhead?.close();
    chainState?.dispose();
    for (const service of [...awaitingPostHook]) await runPostHook(service);
    await workspace?.dispose();
    if (madeLayout && !committed) await removeEmptyLayout(layout);
  }
}
