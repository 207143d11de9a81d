/**
 * Creating a backup:
 *
 *   resolve the scope -> check every path exists -> pre_backup hooks -> scan (metadata only)
 *   -> [incremental: keep only what changed since the chain's state]
 *   -> tar (file by file, hashing) -> gzip on every core -> [encryption] -> SHA-256 -> staging file
 *   -> post_backup hook of each service as soon as its files are packed
 *   -> manifest as the archive's last entry, and a compressed copy beside the archive
 *   -> under the index lock: rename both into archives/, then add the record to metadata.json.
 *
 * The record is written last, so a backup is listed only once its archive is complete and durable; a killed create
 * leaves a staging folder that the next command sweeps, or at worst an unlisted archive that `index rebuild` finds.
 */
import { promises as fs } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import type { Writable, Transform } from 'node:stream';
import tarStream from 'tar-stream';
import { BackupError } from '../errors.js';
import { DigestStream } from '../archive/digest.js';
import { FORMAT_VERSION, MANIFEST_ARCHIVE_PATH, MANIFEST_FORMAT, serializeManifest, type Manifest, type ManifestEntry, type ManifestRoot } from '../archive/manifest.js';
import { packEntries, packExtra } from '../archive/pack.js';
import { ParallelGzip } from '../archive/parallel-gzip.js';
import { runHook } from '../hooks/run-hook.js';
import { newBackupId } from '../metadata/ids.js';
import type { BackupOrigin, BackupRecord, BackupType } from '../metadata/record.js';
import { readIndex, updateIndex } from '../metadata/store.js';
import { PLATFORM_CONFIG_ARCHIVE_PATH, type Platform, type Service } from '../platform/types.js';
import { backupLayout, ensureLayout } from '../repository/layout.js';
import { openWorkspace, sweepTemp } from '../repository/workspace.js';
import { LocalStorage } from '../storage/local.js';
import type { ArchiveStorage, ObjectWriter } from '../storage/storage.js';
import { scanRoots, type ScanProblem, type ScanRoot, type ScannedEntry } from '../walk/scan.js';
import type { OperationObserver } from './progress.js';
import { resolveScope, type BackupScope } from './scope.js';
import { TOOL_VERSION } from '../version.js';

const gzip = promisify(zlib.gzip);

export const DEFAULT_COMPRESSION_LEVEL = 6;

export interface CreateBackupOptions extends OperationObserver {
  type: BackupType;
  /** Required for `service` backups; optional for incrementals (then the whole platform). */
  services?: string[];
  description?: string;
  includeLogs?: boolean;
  /** Default true; false leaves the volumes out (service backups only). */
  volumes?: boolean;
  /** Default true. */
  compress?: boolean;
  /** 1-9; default platform.yaml's backup.compression.level, else 6. */
  compressionLevel?: number;
  /** Back up what can be read and report the rest, instead of failing. */
  skipUnreadable?: boolean;
  origin?: BackupOrigin;
  signal?: AbortSignal;
  /** Clock, for tests. */
  now?: () => Date;
}

export interface CreateBackupResult {
  record: BackupRecord;
  /** Files that changed while they were read. */
  changedWhileReading: string[];
  /** Files left out because they could not be read (only with skipUnreadable). */
  skipped: string[];
}

interface PreparedService {
  service: Service;
  entries: ScannedEntry[];
}

function scanRootsOf(platform: Platform, service: Service, scope: BackupScope): ScanRoot[] {
  return service.paths
    .filter((p) => scope.parts[p.part])
    .map((p) => ({ absolute: p.absolute, archiveRoot: p.archiveRoot, exclude: service.exclude }));
}

async function checkPathsExist(platform: Platform, scope: BackupScope): Promise<void> {
  for (const service of scope.services) {
    for (const p of service.paths) {
      if (!scope.parts[p.part]) continue;
      const found = await fs.lstat(p.absolute).then(() => true, () => false);
      if (!found) {
        const where = platform.configFile ? `or fix ${platform.configFile}` : 'or remove it';
        throw new BackupError('PATH_MISSING', `service ${service.name}: ${p.part} path ${p.declared} does not exist (${p.absolute}): create it ${where}`, {
          service: service.name,
          path: p.absolute,
        });
      }
    }
  }
}

function describeProblems(problems: readonly ScanProblem[]): string {
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

export async function createBackup(platform: Platform, options: CreateBackupOptions): Promise<CreateBackupResult> {
  const startedAt = options.now?.() ?? new Date();
  const layout = backupLayout(platform.backupDir);
  const level = options.compressionLevel ?? platform.defaults.compressionLevel ?? DEFAULT_COMPRESSION_LEVEL;
  if (!Number.isInteger(level) || level < 1 || level > 9) {
    throw new BackupError('USAGE', `compression level ${level} is out of range: use 1 (fastest) to 9 (smallest)`);
  }
  const compress = options.compress ?? true;
  if (options.type === 'incremental') {
    throw new BackupError('USAGE', 'incremental backups are not available yet');
  }
  const scope = resolveScope(platform, options);
  await checkPathsExist(platform, scope);

  // Refuse early if the index cannot be read: a backup that could not be recorded is wasted work.
  const existing = (await readIndex(layout)).backups;
  const id = newBackupId(options.type, startedAt, new Set(existing.map((r) => r.id)));

  await ensureLayout(layout);
  await sweepTemp(layout);
  const workspace = await openWorkspace(layout, 'create');
  const storage: ArchiveStorage = new LocalStorage(layout.archives, () => Promise.resolve(workspace.dir));
  const hooksRan: Service[] = [];
  const runPostHooks = async (services: Service[]) => {
    for (const service of services) {
      const command = service.hooks.post_backup;
      const index = hooksRan.indexOf(service);
      if (index < 0) continue;
      hooksRan.splice(index, 1);
      if (!command) continue;
      // The backup itself is sound whatever this hook does, so its failure is reported, not fatal.
      await runHook({ root: platform.root, service: service.name, hook: 'post_backup', command, env: { MCP_BACKUP_ID: id } }).catch(
        (error: unknown) => options.onWarning?.((error as Error).message),
      );
    }
  };

  let archiveWriter: ObjectWriter | undefined;
  let manifestWriter: ObjectWriter | undefined;
  const pack = tarStream.pack();
  try {
    // 1. Hooks, then the scan: the hooks may create what is to be backed up (a database snapshot).
    for (const service of scope.services) {
      const command = service.hooks.pre_backup;
      hooksRan.push(service);
      if (command) {
        options.onProgress?.({ phase: 'hooks', files: 0, bytes: 0, service: service.name });
        await runHook({ root: platform.root, service: service.name, hook: 'pre_backup', command, env: { MCP_BACKUP_ID: id } });
      }
    }
    const skip = new Set([layout.root]);
    const prepared: PreparedService[] = [];
    const problems: ScanProblem[] = [];
    for (const service of scope.services) {
      const scanned = scanRoots(scanRootsOf(platform, service, scope), { skip });
      prepared.push({ service, entries: scanned.entries });
      problems.push(...scanned.problems);
    }
    const platformEntries =
      scope.parts.platformConfig && platform.configFile
        ? scanRoots([{ absolute: platform.configFile, archiveRoot: PLATFORM_CONFIG_ARCHIVE_PATH, exclude: [] }], { skip }).entries
        : [];

    const specialFiles = problems.filter((p) => p.kind === 'special-file');
    for (const p of specialFiles) options.onWarning?.(`skipped ${p.absolute}: ${p.reason}`);
    const blocking = problems.filter((p) => p.kind !== 'special-file');
    if (blocking.length > 0 && !options.skipUnreadable) {
      throw new BackupError(
        'UNREADABLE_FILES',
        `${blocking.length} path${blocking.length > 1 ? 's' : ''} cannot be backed up: ${describeProblems(blocking)}; fix their permissions or names, or pass --skip-unreadable`,
        { paths: blocking.map((p) => p.absolute) },
      );
    }
    const skipped = blocking.map((p) => p.absolute);
    for (const p of blocking) options.onWarning?.(`skipped ${p.absolute}: ${p.reason}`);

    const totalFiles = prepared.reduce((n, s) => n + s.entries.filter((e) => e.type === 'file').length, 0) + platformEntries.length;
    const totalBytes = prepared.reduce((n, s) => n + s.entries.reduce((b, e) => b + e.size, 0), 0);

    // 2. The archive stream.
    const archiveName = `${id}.tar${compress ? '.gz' : ''}`;
    archiveWriter = await storage.create(archiveName);
    const digest = new DigestStream();
    const stages: (Transform | Writable)[] = [];
    if (compress) stages.push(new ParallelGzip({ level }));
    const written = pipeline([pack, ...stages, digest, archiveWriter.stream] as unknown as [NodeJS.ReadableStream, NodeJS.WritableStream]);
    written.catch(() => undefined); // Awaited below; an early failure must not be an unhandled rejection.

    const entries: ManifestEntry[] = [];
    const changedWhileReading: string[] = [];
    const unreadable: string[] = [];
    let doneFiles = 0;
    let doneBytes = 0;
    const packHooks = (service?: string) => ({
      onProgress: (p: { files: number; bytes: number }) =>
        options.onProgress?.({ phase: 'pack', files: doneFiles + p.files, bytes: doneBytes + p.bytes, totalFiles, totalBytes, ...(service && { service }) }),
      onUnreadable: (absolute: string, reason: string) => {
        unreadable.push(`${absolute} (${reason})`);
        options.onWarning?.(`cannot read ${absolute}: ${reason}`);
      },
      onChangedWhileReading: (absolute: string) => {
        changedWhileReading.push(absolute);
        options.onWarning?.(`${absolute}: file changed as we read it`);
      },
    });
    const account = (packed: ManifestEntry[]) => {
      entries.push(...packed);
      for (const e of packed) {
        if (e.type === 'file') {
          doneFiles++;
          doneBytes += e.size;
        }
      }
    };
    for (const { service, entries: serviceEntries } of prepared) {
      account(await packEntries(pack, serviceEntries, packHooks(service.name), options.signal));
      await runPostHooks([service]);
    }
    account(await packEntries(pack, platformEntries, packHooks(), options.signal));
    if (unreadable.length > 0 && !options.skipUnreadable) {
      throw new BackupError(
        'UNREADABLE_FILES',
        `${unreadable.length} file${unreadable.length > 1 ? 's' : ''} could not be read: ${unreadable.slice(0, 5).join('; ')}${unreadable.length > 5 ? ', and more' : ''}; fix their permissions or pass --skip-unreadable`,
        { paths: unreadable },
      );
    }
    skipped.push(...unreadable);

    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      formatVersion: FORMAT_VERSION,
      toolVersion: TOOL_VERSION,
      id,
      type: options.type,
      createdAt: startedAt.toISOString(),
      ...(options.description !== undefined && { description: options.description }),
      platform: { name: platform.name, root: platform.root },
      services: scope.services.map((s) => s.name),
      parts: scope.parts,
      roots: manifestRoots(platform, scope),
      entries,
      deleted: [],
    };
    const manifestBytes = serializeManifest(manifest);
    await packExtra(pack, { path: MANIFEST_ARCHIVE_PATH, content: manifestBytes, mode: 0o600 }, startedAt);
    pack.finalize();
    await written;

    // 3. The manifest copy beside the archive.
    const manifestName = `${id}.manifest.json.gz`;
    manifestWriter = await storage.create(manifestName);
    const manifestCompressed = await gzip(manifestBytes, { level: 6 });
    const manifestDigest = new DigestStream();
    await pipeline(
      (async function* () {
        yield manifestCompressed;
      })(),
      manifestDigest,
      manifestWriter.stream,
    );

    // 4. Commit: objects first, the record last.
    const files = entries.filter((e) => e.type === 'file');
    const bytes = files.reduce((n, e) => n + e.size, 0);
    const record: BackupRecord = {
      id,
      type: options.type,
      createdAt: startedAt.toISOString(),
      ...(options.description !== undefined && { description: options.description }),
      services: manifest.services,
      parts: scope.parts,
      origin: options.origin ?? { kind: 'manual' },
      archive: archiveName,
      manifest: manifestName,
      size: digest.bytes,
      sha256: digest.digest(),
      manifestSha256: manifestDigest.digest(),
      entries: entries.length,
      files: files.length,
      bytes,
      storedBytes: bytes,
      compression: compress ? { algorithm: 'gzip', level } : { algorithm: 'none' },
      encryption: { mode: 'none' },
      status: 'complete',
      changedWhileReading: changedWhileReading.length,
      durationMs: 0,
      toolVersion: TOOL_VERSION,
      formatVersion: FORMAT_VERSION,
    };
    options.onProgress?.({ phase: 'commit', files: doneFiles, bytes: doneBytes, totalFiles, totalBytes });
    const manifestCommit = manifestWriter;
    const archiveCommit = archiveWriter;
    await updateIndex(layout, async (records) => {
      await manifestCommit.commit();
      await archiveCommit.commit();
      record.durationMs = Date.now() - startedAt.getTime();
      return { records: [...records, record], result: undefined };
    });
    return { record, changedWhileReading, skipped };
  } catch (error) {
    pack.destroy();
    await archiveWriter?.abort();
    await manifestWriter?.abort();
    throw error;
  } finally {
    await runPostHooks([...hooksRan]);
    await workspace.dispose();
  }
}
