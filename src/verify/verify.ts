/**
 * Verifying a backup: the archive's SHA-256 against the index, then every entry decompressed and hashed against the
 * manifest, the manifest copy against the archive's own, and the chain (every parent present). A report lists
 * every problem found rather than stopping at the first, so one run tells the whole story.
 */
import { createHash } from 'node:crypto';
import { BackupError } from '../errors.js';
import { isKeyFailure, type DecryptionKey } from '../crypto/index.js';
import { readArchive, readManifestCopyWithDigest, storedChecksum } from '../archive/read.js';
import type { Manifest, ManifestEntry } from '../archive/manifest.js';
import type { BackupState } from '../archive/state.js';
import { checkManifestEntries, checkManifestRoots, checkState } from '../restore/safety.js';
import type { BackupRecord } from '../metadata/record.js';
import type { ArchiveStorage } from '../storage/storage.js';
import type { OperationObserver } from '../backup/progress.js';

export interface VerifyReport {
  id: string;
  ok: boolean;
  problems: string[];
  /** Entries checked against the manifest. */
  checkedEntries: number;
  checkedBytes: number;
  /** False when only the archive's checksum could be checked (an encrypted backup verified without its key). */
  contentChecked: boolean;
}

interface SeenEntry {
  type: string;
  size: number;
  sha256?: string;
  link?: string;
}

const TAR_TYPES: Record<ManifestEntry['type'], string> = { file: 'file', dir: 'directory', symlink: 'symlink', hardlink: 'link' };

/** Entries whose content or metadata this backup's archive must hold (an incremental holds only what changed). */
function storedHere(manifest: Manifest): ManifestEntry[] {
  return manifest.entries.filter((e) => e.storedIn === undefined);
}

function checkEntry(entry: ManifestEntry, found: SeenEntry, problems: string[]): void {
  if (found.type !== TAR_TYPES[entry.type]) {
    problems.push(`${entry.path}: archive holds a ${found.type}, manifest says ${entry.type}`);
  } else if (entry.type === 'file' && (found.size !== entry.size || found.sha256 !== entry.sha256)) {
    problems.push(`${entry.path}: content does not match its SHA-256 in the manifest`);
  } else if ((entry.type === 'symlink' || entry.type === 'hardlink') && found.link !== entry.link) {
    problems.push(`${entry.path}: link target does not match the manifest`);
  }
}

export function compareWithManifest(manifest: Manifest, seen: Map<string, SeenEntry>, problems: string[]): number {
  let checked = 0;
  for (const entry of storedHere(manifest)) {
    const found = seen.get(entry.path);
    if (!found) {
      problems.push(`${entry.path}: in the manifest but not in the archive`);
      continue;
    }
    seen.delete(entry.path);
    checked++;
    checkEntry(entry, found, problems);
  }
  for (const path of seen.keys()) problems.push(`${path}: in the archive but not in the manifest`);
  return checked;
}

/**
 * What a restore would refuse in this manifest (src/restore/safety.ts: unsafe paths, roots, parents and links), so
 * that verify, which tells whether a backup can be restored, reports it as broken too. For an incremental, whose
 * manifest holds only changes, the per-entry checks apply; the whole-state checks need the chain and are restore's.
 */
function safetyProblems(manifest: Manifest, record: BackupRecord): string[] {
  const where = `backup ${record.id}`;
  try {
    checkManifestRoots(manifest, where);
    checkManifestEntries(manifest, where);
    if (manifest.parent === undefined) {
      const state: BackupState = new Map(manifest.entries.map((e) => [e.path, { ...e, storedIn: manifest.id }]));
      checkState(state, manifest.roots, where);
    }
    return [];
  } catch (error) {
    if (!(error instanceof BackupError)) throw error;
    return [error.message.replace(/; nothing was restored$/, '')];
  }
}

export interface VerifyOptions extends OperationObserver {
  /** Every record in the index, to check the chain. */
  records: readonly BackupRecord[];
  signal?: AbortSignal;
  /** Opens encrypted backups. Without it, an encrypted backup's archive is checked against its SHA-256 only. */
  key?: DecryptionKey;
}

export async function verifyBackup(storage: ArchiveStorage, record: BackupRecord, options: VerifyOptions): Promise<VerifyReport> {
  const problems: string[] = [];
  let checkedEntries = 0;
  let checkedBytes = 0;

  const inChain = new Set([record.id]);
  for (let parentId = record.parent; parentId !== undefined; ) {
    const parent = options.records.find((r) => r.id === parentId);
    if (!parent) {
      problems.push(`chain broken: parent backup ${parentId} is not in the index`);
      break;
    }
    if (inChain.has(parent.id)) {
      problems.push(`chain broken: it loops back to backup ${parent.id} (the index was edited or damaged)`);
      break;
    }
    inChain.add(parent.id);
    parentId = parent.parent;
  }

  let info;
  try {
    info = await storage.stat(record.archive);
  } catch (error) {
    // A record naming a file outside archives/, or something there that is not a file: this backup is broken.
    if (!(error instanceof BackupError)) throw error;
    problems.push(error.message);
    return { id: record.id, ok: false, problems, checkedEntries, checkedBytes, contentChecked: false };
  }
  if (!info) {
    problems.push(`archive ${record.archive} is missing`);
    return { id: record.id, ok: false, problems, checkedEntries, checkedBytes, contentChecked: false };
  }
  if (info.size !== record.size) problems.push(`archive ${record.archive} is ${info.size} bytes, the index says ${record.size}`);
  // Verify only reads: a loose mode is reported, and left for the next backup to tighten.
  if (info.mode !== undefined && (info.mode & 0o077) !== 0) {
    options.onWarning?.(`archive ${record.archive} is open to other users (mode 0${info.mode.toString(8)}): the next backup tightens it to 0600, or run chmod 600 on it`);
  }

  if (record.encryption.mode !== 'none' && !options.key) {
    // Integrity without the key: the SHA-256 of the encrypted file. The content needs the key.
    try {
      if ((await storedChecksum(storage, record)) !== record.sha256) problems.push(`archive ${record.archive} does not match its SHA-256 in the index`);
    } catch (error) {
      problems.push((error as Error).message);
    }
    return { id: record.id, ok: problems.length === 0, problems, checkedEntries, checkedBytes, contentChecked: false };
  }

  // With an intact manifest copy, each entry is checked as it streams past and nothing else is kept; without one,
  // entries are collected and checked against the archive's own manifest at its end.
  let copy: { expected: Map<string, ManifestEntry>; plainSha256: string } | undefined;
  try {
    const read = await readManifestCopyWithDigest(storage, record, options.key);
    problems.push(...safetyProblems(read.manifest, record));
    copy = { expected: new Map(storedHere(read.manifest).map((e) => [e.path, e])), plainSha256: read.plainSha256 };
  } catch (error) {
    if (!(error instanceof BackupError) || isKeyFailure(error)) throw error;
    problems.push(error.message);
  }
  const seen = new Map<string, SeenEntry>();
  const once = new Set<string>();
  let files = 0;
  try {
    const result = await readArchive(
      storage,
      record,
      (header) => {
        const hash = createHash('sha256');
        let size = 0;
        return {
          data(chunk) {
            hash.update(chunk);
            size += chunk.length;
          },
          end() {
            if (once.has(header.name)) problems.push(`${header.name}: appears twice in the archive`);
            once.add(header.name);
            const found: SeenEntry = {
              type: String(header.type),
              size,
              ...(header.type === 'file' && { sha256: hash.digest('hex') }),
              ...(header.linkname && { link: header.linkname }),
            };
            if (copy) {
              const expected = copy.expected.get(header.name);
              if (!expected) problems.push(`${header.name}: in the archive but not in the manifest`);
              else {
                copy.expected.delete(header.name);
                checkedEntries++;
                checkEntry(expected, found, problems);
              }
            } else seen.set(header.name, found);
            if (header.type === 'file') {
              files++;
              checkedBytes += size;
              options.onProgress?.({ phase: 'verify', files, bytes: checkedBytes, totalFiles: record.storedFiles, totalBytes: record.storedBytes });
            }
          },
        };
      },
      { ...(options.signal && { signal: options.signal }), ...(options.key && { key: options.key }), parseManifest: copy === undefined },
    );
    if (result.sha256 !== record.sha256) problems.push(`archive ${record.archive} does not match its SHA-256 in the index`);
    if (result.manifestSha256 === undefined) {
      problems.push(`archive ${record.archive} has no manifest`);
    } else if (copy) {
      for (const path of copy.expected.keys()) problems.push(`${path}: in the manifest but not in the archive`);
      if (result.manifestSha256 !== copy.plainSha256) problems.push(`manifest copy ${record.manifest} differs from the archive's own manifest`);
    } else if (result.manifest) {
      if (result.manifest.id !== record.id) problems.push(`archive ${record.archive} holds backup ${result.manifest.id}, not ${record.id}`);
      problems.push(...safetyProblems(result.manifest, record));
      checkedEntries = compareWithManifest(result.manifest, seen, problems);
    }
  } catch (error) {
    if (!(error instanceof BackupError)) throw error;
    // The stream stopped early; say whether the stored bytes themselves changed, which is what the user acts on.
    const stored = await storedChecksum(storage, record).catch(() => undefined);
    const damaged = stored !== undefined && stored !== record.sha256;
    // A wrong key is the caller's mistake, not damage: fail the command rather than call the backup broken. But a
    // damaged recipient stanza also reads as "no identity matches": when the bytes changed, it is damage.
    if (isKeyFailure(error) && !damaged) throw error;
    if (damaged) problems.push(`archive ${record.archive} does not match its SHA-256 in the index`);
    problems.push(error.message);
  }
  return { id: record.id, ok: problems.length === 0, problems, checkedEntries, checkedBytes, contentChecked: true };
}
