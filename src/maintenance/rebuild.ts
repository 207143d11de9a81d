/**
 * `index rebuild`: metadata.json made again from the archives themselves, for when it is lost, corrupt or wrong.
 *
 *   sweep temp/
 *   1. without the lock (the slow part): list archives/; for each archive of ours (src/repository/names.ts),
 *      read its manifest and hash its stored bytes (archive-readers.ts):
 *        the old index lists it and its bytes still match the recorded SHA-256: the manifest copy beside it is
 *        enough (the archive is only hashed)
 *        otherwise: the whole archive is read (hashed, decompressed), and its own manifest, its last entry, is the
 *        truth; a missing or different manifest copy is noted for repair
 *      then, for incrementals, the state of their chain (files, bytes) by folding the chain's manifests, tree by
 *      tree, one chain state in memory at a time
 *   2. under the index lock: list again and scan what appeared or changed meanwhile; write the repaired manifest
 *      copies; keep a copy of the old metadata.json (`metadata.json.<time>.bak`, 0600); write the new index; delete
 *      the files of an interrupted removal the old index still named in `pendingRemoval` (crash-safely, remove.ts)
 *
 * What each record holds comes from the archive's manifest (id, type, time, description, services, parts, parent,
 * origin, versions, counts), from the file (name: compression and encryption; size; SHA-256) and from the manifest
 * copy (its SHA-256). The old record, when its checksum matches, gives what the archive cannot tell: the gzip level
 * and the duration; an old manifest with no origin is read as manual.
 *
 * Nothing is lost by a rebuild:
 * - an archive missing from the old index (a killed create, a lost metadata.json) is a complete backup: re-added
 *   and reported; except files an interrupted cleanup or delete was removing, which are deleted as it decided;
 * - an archive that cannot be read (damaged, or encrypted without a reader holding its key) keeps its old record,
 *   if there was one, so `verify` names it and `delete` can remove it; it is reported either way;
 * - an archive whose bytes differ from the SHA-256 the old index recorded keeps the old record, checksum included,
 *   so `verify` flags it rather than the rebuild blessing a changed file;
 * - records whose archive is gone are dropped, and reported;
 * - nothing in archives/ is deleted or changed, except missing or damaged manifest copies, written again from the
 *   archive's own manifest, and the files of an interrupted removal.
 */
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { BackupError, isBackupError } from '../errors.js';
import { parseManifest, type Manifest } from '../archive/manifest.js';
import { ManifestCache } from '../archive/manifest-cache.js';
import type { DecryptionKey } from '../crypto/index.js';
import type { OperationObserver } from '../backup/progress.js';
import { exists } from '../fsutil/safe-write.js';
import { compactUtc } from '../metadata/ids.js';
import type { BackupRecord } from '../metadata/record.js';
import { INDEX_SCHEMA_VERSION, keepCopy, readIndex, withIndexLock, type LoadedIndex } from '../metadata/store.js';
import type { Platform } from '../platform/types.js';
import { backupLayout, ensureLayout, type BackupLayout } from '../repository/layout.js';
import { manifestNameFor, parseObjectName } from '../repository/names.js';
import { openWorkspace, sweepTemp, type Workspace } from '../repository/workspace.js';
import { chainProblem } from '../retention/policy.js';
import { LocalStorage } from '../storage/local.js';
import type { ArchiveStorage, ObjectInfo } from '../storage/storage.js';
import { encryptedArchiveReader, hashObject, plainArchiveReader, type ArchiveRead, type ArchiveReader, type CopyRead, type FoundArchive } from './archive-readers.js';
import { commitRemoval, maintenanceStorage } from './remove.js';

export interface RebuildOptions extends OperationObserver {
  /**
   * Opens encrypted archives (identities or passphrase). Without it, an encrypted archive is listed from this host's
   * plain manifest cache, or from its old record when the archive still matches it; else reported as unreadable.
   */
  key?: DecryptionKey;
  /** Readers for more kinds of archives; tried before the built-in ones. */
  readers?: readonly ArchiveReader[];
  /** Clock, for tests (names the copy of the old index). */
  now?: () => Date;
  signal?: AbortSignal;
}

export interface RebuildReport {
  /** False when there was nothing to rebuild from (no backup directory): nothing was written. */
  written: boolean;
  /** The ids in the new index, oldest first. */
  ids: string[];
  /** The index found before the rebuild, and where its copy was kept. */
  previous: { state: 'missing' | 'read' | 'unreadable'; records: number; problem?: string; copy?: string };
  /** Backups found in archives/ that the old index did not list (re-added). */
  added: string[];
  /** Backups the old index listed whose archive is gone (dropped). */
  missingArchives: string[];
  /** Archives that could not be read; `keptRecord` when the old index's record of it was kept. */
  unreadable: { file: string; reason: string; keptRecord: boolean }[];
  /** Archives whose bytes no longer match the SHA-256 recorded in the old index: their old record was kept. */
  checksumChanged: { id: string; recorded: string; found: string }[];
  /** Manifest copies written again from the archive's own manifest (they were missing or damaged). */
  repairedCopies: string[];
  /** Manifest copies with no archive beside them (left in place). */
  strayCopies: string[];
  /** Archives not used because another archive of the same backup id was (left in place). */
  duplicates: string[];
  /** Files in archives/ that are not mcp backup files (left in place). */
  ignored: string[];
  /** Encrypted backups listed from this host's plain manifest cache, their archive unread (no key was given). */
  fromManifestCache: string[];
  /** Incrementals in the new index whose chain is broken, and why. */
  brokenChains: { id: string; problem: string }[];
  /** Files of an interrupted cleanup or delete, deleted now rather than re-added. */
  finishedFiles: string[];
}

/** The manifest's fields a record takes, without its (large) list of entries. */
type ManifestHead = Pick<Manifest, 'id' | 'type' | 'createdAt' | 'description' | 'parent' | 'origin' | 'services' | 'parts' | 'toolVersion' | 'formatVersion'>;

interface Counts {
  entries: number;
  files: number;
  bytes: number;
}

interface ScanOk {
  ok: true;
  found: FoundArchive;
  reader: ArchiveReader;
  sha256: string;
  size: number;
  encryption: BackupRecord['encryption']['mode'];
  /** Where the manifest came from when neither the archive nor a matching recorded checksum vouched for it. */
  vouchedBy?: string;
  head: ManifestHead;
  /** Counts of this archive's own manifest: the whole state for full and service backups. */
  own: Counts & { storedFiles: number; storedBytes: number; deletedEntries: number; changedWhileReading: number };
  /** The intact manifest copy (same manifest as the archive's). */
  copy?: { name: string; sha256: string };
  /** Stored bytes of a manifest copy to write, when it was missing or damaged. */
  repair?: Buffer;
}

interface ScanFailed {
  ok: false;
  found: FoundArchive;
  reason: string;
  sha256?: string;
}

type Scan = ScanOk | ScanFailed;

interface Listing {
  archives: FoundArchive[];
  copies: string[];
  ignored: string[];
}

interface PreviousIndex {
  index?: LoadedIndex;
  exists: boolean;
  problem?: string;
  /** Its records by archive file name. */
  byArchive: Map<string, BackupRecord>;
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function readPrevious(layout: BackupLayout): Promise<PreviousIndex> {
  try {
    const index = await readIndex(layout);
    return { index, exists: index.exists, byArchive: new Map(index.backups.map((r) => [r.archive, r])) };
  } catch (error) {
    // A corrupt index is what rebuild is for; one from a newer version is not ours to overwrite.
    if (isBackupError(error, 'INDEX_CORRUPT')) {
      return { exists: true, problem: typeof error.details.reason === 'string' ? error.details.reason : error.message, byArchive: new Map() };
    }
    throw error;
  }
}

function classify(objects: readonly ObjectInfo[]): Listing {
  const listing: Listing = { archives: [], copies: [], ignored: [] };
  for (const object of [...objects].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const parsed = parseObjectName(object.name);
    if (!parsed) listing.ignored.push(object.name);
    else if (parsed.kind === 'manifest') listing.copies.push(object.name);
    else listing.archives.push({ name: object.name, id: parsed.id, compression: parsed.compression, encrypted: parsed.encrypted, size: object.size });
  }
  return listing;
}

/** The old index's record of this very archive file, if any. */
function recordedFor(previous: PreviousIndex, found: FoundArchive): BackupRecord | undefined {
  const record = previous.byArchive.get(found.name);
  return record?.id === found.id ? record : undefined;
}

function summarize(manifest: Manifest): Pick<ScanOk, 'head' | 'own'> {
  const files = manifest.entries.filter((e) => e.type === 'file');
  const bytes = files.reduce((n, e) => n + e.size, 0);
  const stored = files.filter((e) => e.storedIn === undefined);
  return {
    head: {
      id: manifest.id,
      type: manifest.type,
      createdAt: manifest.createdAt,
      ...(manifest.description !== undefined && { description: manifest.description }),
      ...(manifest.parent !== undefined && { parent: manifest.parent }),
      ...(manifest.origin !== undefined && { origin: manifest.origin }),
      services: manifest.services,
      parts: manifest.parts,
      toolVersion: manifest.toolVersion,
      formatVersion: manifest.formatVersion,
    },
    own: {
      entries: manifest.entries.length,
      files: files.length,
      bytes,
      storedFiles: stored.length,
      storedBytes: stored.reduce((n, e) => n + e.size, 0),
      deletedEntries: manifest.deleted.length,
      changedWhileReading: manifest.entries.filter((e) => e.changedWhileReading === true).length,
    },
  };
}

/** What makes a parsed manifest unusable for a record, or undefined: every field a record takes, checked. */
function manifestProblem(m: Manifest): string | undefined {
  const parts = m.parts as Partial<Manifest['parts']> | undefined;
  if (typeof m.id !== 'string') return 'no id';
  if (m.type !== 'full' && m.type !== 'incremental' && m.type !== 'service') return 'no valid type';
  if (typeof m.createdAt !== 'string' || !Number.isFinite(Date.parse(m.createdAt))) return 'no valid creation time';
  if (m.parent !== undefined && typeof m.parent !== 'string') return 'an invalid parent';
  if (!Array.isArray(m.services) || !m.services.every((x) => typeof x === 'string')) return 'no services list';
  if (!parts || typeof parts !== 'object' || !(['config', 'volumes', 'logs', 'platformConfig'] as const).every((k) => typeof parts[k] === 'boolean')) return 'no parts';
  if (!Array.isArray(m.deleted) || !m.deleted.every((x) => typeof x === 'string')) return 'no deleted list';
  if (!m.entries.every((e) => e !== null && typeof e === 'object' && typeof e.path === 'string' && typeof e.type === 'string' && typeof e.size === 'number')) {
    return 'an invalid entry';
  }
  return undefined;
}

async function scanArchive(
  storage: ArchiveStorage,
  readers: readonly ArchiveReader[],
  found: FoundArchive,
  recorded: BackupRecord | undefined,
  signal?: AbortSignal,
): Promise<Scan> {
  const reader = readers.find((r) => r.accepts(found));
  const failed = async (reason: string, sha256?: string): Promise<ScanFailed> => {
    const hash = sha256 ?? (await hashObject(storage, found.name).then((h) => h.sha256, () => undefined));
    return { ok: false, found, reason, ...(hash !== undefined && { sha256: hash }) };
  };
  if (!reader) {
    return failed(found.encrypted ? 'it is encrypted, and index rebuild was given no key to read it' : 'no reader for this kind of archive');
  }
  const copyName = manifestNameFor(found.id, found.encrypted);
  // A copy that is missing or unreadable is written again below (when the reader can).
  let copy: CopyRead | undefined = await reader
    .readCopy(storage, found, copyName)
    .then((read) => (manifestProblem(read.manifest) === undefined ? read : undefined))
    .catch(() => undefined);
  const encryption = await reader.encryption(storage, found);
  const ok = (manifest: Manifest, sha256: string, size: number, repair?: Buffer, vouchedBy?: string): ScanOk => ({
    ok: true,
    found,
    reader,
    sha256,
    size,
    encryption,
    ...(vouchedBy !== undefined && { vouchedBy }),
    ...summarize(manifest),
    ...(copy && !repair && { copy: { name: copyName, sha256: copy.sha256 } }),
    ...(repair && { repair }),
  });

  // The recorded checksums of the archive and of the copy (or where the copy came from) vouch for the manifest
  // copy: the archive is only hashed.
  const copyVouched = copy && (recorded ? copy.sha256 === recorded.manifestSha256 : copy.vouchedBy !== undefined);
  if (copy && copyVouched) {
    const hashed = await hashObject(storage, found.name);
    if (recorded ? hashed.sha256 === recorded.sha256 : true) return ok(copy.manifest, hashed.sha256, hashed.bytes, undefined, recorded ? undefined : copy.vouchedBy);
  }
  // Otherwise the archive itself is read, and its own manifest is the truth.
  let read: ArchiveRead;
  try {
    read = await reader.readArchive(storage, found, signal);
  } catch (error) {
    if (signal?.aborted) throw error;
    return failed(reasonOf(error));
  }
  if (!read.manifestBytes) return failed('it holds no manifest (no _backup/manifest.json entry): cut short, or not an mcp backup archive', read.sha256);
  let manifest: Manifest;
  try {
    manifest = parseManifest(read.manifestBytes, `archive ${found.name}`);
  } catch (error) {
    return failed(reasonOf(error), read.sha256);
  }
  if (manifest.id !== found.id) return failed(`its manifest names another backup, ${manifest.id}`, read.sha256);
  const problem = manifestProblem(manifest);
  if (problem !== undefined) return failed(`its manifest is incomplete (${problem})`, read.sha256);
  // A copy whose bytes are not the archive's own manifest is damaged: it is written again, byte for byte.
  if (copy && copy.plainSha256 !== createHash('sha256').update(read.manifestBytes).digest('hex')) copy = undefined;
  const repair = copy ? undefined : await reader.encodeCopy(found, read.manifestBytes);
  return ok(manifest, read.sha256, read.bytes, repair);
}

/**
 * The state counts of every incremental whose whole chain was scanned: each tree (a full or service backup and the
 * incrementals on it) is walked depth first, folding manifests as src/archive/state.ts does, so only the states on
 * the current path are in memory.
 */
async function foldCounts(scans: readonly ScanOk[], load: (scan: ScanOk) => Promise<Manifest>, signal?: AbortSignal): Promise<Map<string, Counts>> {
  const byId = new Map(scans.map((s) => [s.head.id, s]));
  const children = new Map<string, ScanOk[]>();
  for (const s of scans) {
    if (s.head.type !== 'incremental' || s.head.parent === undefined || !byId.has(s.head.parent)) continue;
    children.set(s.head.parent, [...(children.get(s.head.parent) ?? []), s]);
  }
  const counts = new Map<string, Counts>();
  type State = Map<string, { type: string; size: number }>;
  const visit = async (scan: ScanOk, inherited: State): Promise<void> => {
    if (signal?.aborted) throw new BackupError('ABORTED', 'index rebuild stopped');
    const manifest = await load(scan);
    const state = inherited;
    for (const path of manifest.deleted) state.delete(path);
    for (const e of manifest.entries) state.set(e.path, { type: e.type, size: e.size });
    if (scan.head.type === 'incremental') {
      let files = 0;
      let bytes = 0;
      for (const e of state.values()) {
        if (e.type !== 'file') continue;
        files++;
        bytes += e.size;
      }
      counts.set(scan.head.id, { entries: state.size, files, bytes });
    }
    const kids = children.get(scan.head.id) ?? [];
    for (const [i, kid] of kids.entries()) await visit(kid, i === kids.length - 1 ? state : new Map(state));
  };
  for (const root of scans) {
    if (root.head.type !== 'incremental' && root.head.parent === undefined && children.has(root.head.id)) await visit(root, new Map());
  }
  return counts;
}

async function loadManifestOf(storage: ArchiveStorage, scan: ScanOk): Promise<Manifest> {
  if (scan.copy) return (await scan.reader.readCopy(storage, scan.found, scan.copy.name)).manifest;
  const read = await scan.reader.readArchive(storage, scan.found);
  if (!read.manifestBytes) throw new BackupError('INTEGRITY', `archive ${scan.found.name} no longer holds a manifest`);
  return parseManifest(read.manifestBytes, `archive ${scan.found.name}`);
}

function toRecord(scan: ScanOk, counts: Counts, recorded: BackupRecord | undefined, manifestSha256: string): BackupRecord {
  const { head, own, found } = scan;
  const level = recorded?.compression.algorithm === 'gzip' ? recorded.compression.level : undefined;
  return {
    id: head.id,
    type: head.type,
    createdAt: head.createdAt,
    ...(head.description !== undefined && { description: head.description }),
    services: head.services,
    parts: head.parts,
    ...(head.parent !== undefined && { parent: head.parent }),
    origin: head.origin ?? recorded?.origin ?? { kind: 'manual' },
    archive: found.name,
    manifest: manifestNameFor(found.id, found.encrypted),
    size: scan.size,
    sha256: scan.sha256,
    manifestSha256,
    entries: counts.entries,
    files: counts.files,
    bytes: counts.bytes,
    storedFiles: own.storedFiles,
    storedBytes: own.storedBytes,
    deletedEntries: own.deletedEntries,
    compression: found.compression === 'gzip' ? { algorithm: 'gzip', ...(level !== undefined && { level }) } : { algorithm: 'none' },
    encryption: { mode: scan.encryption },
    status: 'complete',
    changedWhileReading: own.changedWhileReading,
    durationMs: recorded?.durationMs ?? 0,
    toolVersion: head.toolVersion,
    formatVersion: head.formatVersion,
  };
}

/** A name for the copy of the old index that no earlier copy has. */
async function copyName(layout: BackupLayout, now: Date): Promise<string> {
  const stem = `${layout.metadata}.${compactUtc(now)}`;
  for (let i = 1; ; i++) {
    const name = i === 1 ? `${stem}.bak` : `${stem}-${i}.bak`;
    if (!(await exists(name))) return name;
  }
}

async function writeCopy(storage: ArchiveStorage, name: string, bytes: Buffer): Promise<string> {
  const writer = await storage.create(name);
  try {
    await pipeline([bytes], writer.stream);
    await writer.commit();
  } catch (error) {
    await writer.abort();
    throw error;
  }
  return createHash('sha256').update(bytes).digest('hex');
}

function emptyReport(): RebuildReport {
  return {
    written: false,
    ids: [],
    previous: { state: 'missing', records: 0 },
    added: [],
    missingArchives: [],
    unreadable: [],
    checksumChanged: [],
    repairedCopies: [],
    strayCopies: [],
    duplicates: [],
    ignored: [],
    fromManifestCache: [],
    brokenChains: [],
    finishedFiles: [],
  };
}

/** Prefers the archive the old index names, then a compressed one, then the first by name. */
function chooseArchive(candidates: FoundArchive[], previous: PreviousIndex): FoundArchive {
  return (
    candidates.find((f) => recordedFor(previous, f) !== undefined) ??
    candidates.find((f) => f.compression === 'gzip') ??
    candidates[0]!
  );
}

export async function rebuildIndex(platform: Platform, options: RebuildOptions = {}): Promise<RebuildReport> {
  const layout = backupLayout(platform.backupDir);
  const readers = [
    ...(options.readers ?? []),
    encryptedArchiveReader({ ...(options.key && { key: options.key }), cache: new ManifestCache(platform.root) }),
    plainArchiveReader,
  ];
  const { signal } = options;
  const report = emptyReport();
  if (!(await exists(layout.root))) return report;
  for (const warning of await ensureLayout(layout)) options.onWarning?.(warning);
  await sweepTemp(layout);
  const storage = maintenanceStorage(layout);

  // 1. The slow part, without the lock.
  const first = await readPrevious(layout);
  const firstPending = new Set(first.index?.pendingRemoval ?? []);
  const firstListing = classify(await storage.list()).archives.filter((f) => !firstPending.has(f.name));
  const scans = new Map<string, { scan: Scan; recordedSha?: string }>();
  const totalBytes = firstListing.reduce((n, f) => n + f.size, 0);
  let doneBytes = 0;
  for (const [i, found] of firstListing.entries()) {
    if (signal?.aborted) throw new BackupError('ABORTED', 'index rebuild stopped before writing anything');
    options.onProgress?.({ phase: 'verify', files: i, bytes: doneBytes, totalFiles: firstListing.length, totalBytes });
    const recorded = recordedFor(first, found);
    scans.set(found.name, { scan: await scanArchive(storage, readers, found, recorded, signal), ...(recorded && { recordedSha: recorded.sha256 }) });
    doneBytes += found.size;
  }
  options.onProgress?.({ phase: 'verify', files: firstListing.length, bytes: doneBytes, totalFiles: firstListing.length, totalBytes });
  const oks = (list: Iterable<Scan>) => [...list].filter((s): s is ScanOk => s.ok);
  let counts = await foldCounts(oks([...scans.values()].map((s) => s.scan)), (s) => loadManifestOf(storage, s), signal);

  // 2. Under the lock: what changed meanwhile, then the writes.
  return withIndexLock(layout, async () => {
    const previous = await readPrevious(layout);
    const pending = new Set((previous.index?.pendingRemoval ?? []).filter((name) => parseObjectName(name) !== undefined));
    const listing = classify(await storage.list());
    report.ignored = listing.ignored;
    const archives = listing.archives.filter((f) => !pending.has(f.name));

    let rescanned = false;
    const current = new Map<string, Scan>();
    for (const found of archives) {
      const recorded = recordedFor(previous, found);
      const earlier = scans.get(found.name);
      if (earlier && earlier.scan.found.size === found.size && earlier.recordedSha === recorded?.sha256) {
        current.set(found.name, earlier.scan);
      } else {
        current.set(found.name, await scanArchive(storage, readers, found, recorded, signal));
        rescanned = true;
      }
    }
    if (rescanned || current.size !== scans.size) counts = await foldCounts(oks(current.values()), (s) => loadManifestOf(storage, s), signal);

    // One archive per backup id.
    const byId = new Map<string, FoundArchive[]>();
    for (const found of archives) byId.set(found.id, [...(byId.get(found.id) ?? []), found]);
    const chosen: Scan[] = [];
    for (const candidates of byId.values()) {
      const pick = chooseArchive(candidates, previous);
      chosen.push(current.get(pick.name)!);
      for (const other of candidates) if (other !== pick) report.duplicates.push(other.name);
    }

    const oldRecords = previous.index?.backups ?? [];
    const records: BackupRecord[] = [];
    let workspace: Workspace | undefined;
    try {
      for (const scan of chosen) {
        const recorded = recordedFor(previous, scan.found);
        if (!scan.ok) {
          report.unreadable.push({ file: scan.found.name, reason: scan.reason, keptRecord: recorded !== undefined });
          if (recorded) records.push(recorded);
          continue;
        }
        if (recorded && recorded.sha256 !== scan.sha256) {
          report.checksumChanged.push({ id: recorded.id, recorded: recorded.sha256, found: scan.sha256 });
          records.push(recorded);
          continue;
        }
        let manifestSha256 = scan.copy?.sha256 ?? '';
        if (scan.repair) {
          workspace ??= await openWorkspace(layout, 'rebuild');
          const dir = workspace.dir;
          const writable = new LocalStorage(layout.archives, () => Promise.resolve(dir));
          const name = manifestNameFor(scan.found.id, scan.found.encrypted);
          manifestSha256 = await writeCopy(writable, name, scan.repair);
          report.repairedCopies.push(name);
        }
        if (scan.vouchedBy !== undefined) report.fromManifestCache.push(scan.head.id);
        const own = scan.own;
        const stateCounts = scan.head.type === 'incremental' ? (counts.get(scan.head.id) ?? recorded ?? own) : own;
        records.push(toRecord(scan, { entries: stateCounts.entries, files: stateCounts.files, bytes: stateCounts.bytes }, recorded, manifestSha256));
      }
    } finally {
      await workspace?.dispose();
    }

    const archiveNames = new Set(archives.map((f) => f.name));
    const oldIds = new Set(oldRecords.map((r) => r.id));
    report.added = records.filter((r) => !oldIds.has(r.id)).map((r) => r.id).sort();
    report.missingArchives = oldRecords.filter((r) => !archiveNames.has(r.archive)).map((r) => r.id).sort();
    const archiveIds = new Set(archives.map((f) => f.id));
    report.strayCopies = listing.copies.filter((name) => !archiveIds.has(parseObjectName(name)!.id) && !pending.has(name));
    const recordsById = new Map(records.map((r) => [r.id, r]));
    for (const r of records) {
      const problem = chainProblem(r, recordsById);
      if (problem !== undefined) report.brokenChains.push({ id: r.id, problem });
    }

    // The old file is kept, then replaced; the files of an interrupted removal are deleted as it decided.
    const now = options.now?.() ?? new Date();
    let copy: string | undefined;
    if (previous.exists) copy = await keepCopy(layout.metadata, await copyName(layout, now));
    report.previous = {
      state: !previous.exists ? 'missing' : previous.index ? 'read' : 'unreadable',
      records: oldRecords.length,
      ...(previous.problem !== undefined && { problem: previous.problem }),
      ...(copy !== undefined && { copy }),
    };
    const base: LoadedIndex = { backups: oldRecords, schemaVersion: INDEX_SCHEMA_VERSION, exists: true, pendingRemoval: [...pending] };
    const { finished } = await commitRemoval(layout, storage, base, records, []);
    report.finishedFiles = finished;
    report.written = true;
    report.ids = [...records].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id)).map((r) => r.id);
    return report;
  });
}
