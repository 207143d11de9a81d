/**
 * Verifying a backup: the archive's SHA-256 against the index, then every entry decompressed and hashed against the
 * manifest, the manifest copy against the archive's own, and the chain (every parent present). A report lists
 * every problem found rather than stopping at the first, so one run tells the whole story.
 */
import { createHash } from 'node:crypto';
import { BackupError } from '../errors.js';
import { isKeyFailure, type DecryptionKey } from '../crypto/index.js';
import { readArchive, readManifestCopy, type EntryBody } from '../archive/read.js';
import type { Manifest, ManifestEntry } from '../archive/manifest.js';
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

async function hashBody(body: EntryBody): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of body) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest('hex'), size };
}

async function storedChecksum(storage: ArchiveStorage, record: BackupRecord): Promise<string | undefined> {
  try {
    const hash = createHash('sha256');
    for await (const chunk of await storage.open(record.archive)) hash.update(chunk as Buffer);
    return hash.digest('hex');
  } catch {
    return undefined;
  }
}

/** Entries whose content or metadata this backup's archive must hold (an incremental holds only what changed). */
function storedHere(manifest: Manifest): ManifestEntry[] {
  return manifest.entries.filter((e) => e.storedIn === undefined);
}

export function compareWithManifest(manifest: Manifest, seen: Map<string, SeenEntry>, problems: string[]): number {
  let checked = 0;
  const expected = storedHere(manifest);
  for (const entry of expected) {
    const found = seen.get(entry.path);
    if (!found) {
      problems.push(`${entry.path}: in the manifest but not in the archive`);
      continue;
    }
    seen.delete(entry.path);
    checked++;
    if (found.type !== TAR_TYPES[entry.type]) {
      problems.push(`${entry.path}: archive holds a ${found.type}, manifest says ${entry.type}`);
    } else if (entry.type === 'file' && (found.size !== entry.size || found.sha256 !== entry.sha256)) {
      problems.push(`${entry.path}: content does not match its SHA-256 in the manifest`);
    } else if ((entry.type === 'symlink' || entry.type === 'hardlink') && found.link !== entry.link) {
      problems.push(`${entry.path}: link target does not match the manifest`);
    }
  }
  for (const path of seen.keys()) problems.push(`${path}: in the archive but not in the manifest`);
  return checked;
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

  for (let parentId = record.parent; parentId !== undefined; ) {
    const parent = options.records.find((r) => r.id === parentId);
    if (!parent) {
      problems.push(`chain broken: parent backup ${parentId} is not in the index`);
      break;
    }
    parentId = parent.parent;
  }

  const info = await storage.stat(record.archive);
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
    if ((await storedChecksum(storage, record)) !== record.sha256) problems.push(`archive ${record.archive} does not match its SHA-256 in the index`);
    return { id: record.id, ok: problems.length === 0, problems, checkedEntries, checkedBytes, contentChecked: false };
  }

  const seen = new Map<string, SeenEntry>();
  let files = 0;
  try {
    const result = await readArchive(
      storage,
      record,
      async (header, body) => {
        const { sha256, size } = await hashBody(body);
        if (seen.has(header.name)) problems.push(`${header.name}: appears twice in the archive`);
        seen.set(header.name, {
          type: header.type,
          size,
          ...(header.type === 'file' && { sha256 }),
          ...(header.linkname && { link: header.linkname }),
        });
        if (header.type === 'file') {
          files++;
          checkedBytes += size;
          options.onProgress?.({ phase: 'verify', files, bytes: checkedBytes, totalFiles: record.storedFiles, totalBytes: record.storedBytes });
        }
      },
      { ...(options.signal && { signal: options.signal }), ...(options.key && { key: options.key }) },
    );
    if (result.sha256 !== record.sha256) problems.push(`archive ${record.archive} does not match its SHA-256 in the index`);
    if (!result.manifest) {
      problems.push(`archive ${record.archive} has no manifest`);
    } else {
      if (result.manifest.id !== record.id) problems.push(`archive ${record.archive} holds backup ${result.manifest.id}, not ${record.id}`);
      checkedEntries = compareWithManifest(result.manifest, seen, problems);
      try {
        const copy = await readManifestCopy(storage, record, options.key);
        if (copy.entries.length !== result.manifest.entries.length || JSON.stringify(copy) !== JSON.stringify(result.manifest)) {
          problems.push(`manifest copy ${record.manifest} differs from the archive's own manifest`);
        }
      } catch (error) {
        problems.push((error as Error).message);
      }
    }
  } catch (error) {
    if (!(error instanceof BackupError)) throw error;
    // The stream stopped early; say whether the stored bytes themselves changed, which is what the user acts on.
    const damaged = (await storedChecksum(storage, record)) !== record.sha256;
    // A wrong key is the caller's mistake, not damage: fail the command rather than call the backup broken. But a
    // damaged recipient stanza also reads as "no identity matches": when the bytes changed, it is damage.
    if (isKeyFailure(error) && !damaged) throw error;
    if (damaged) problems.push(`archive ${record.archive} does not match its SHA-256 in the index`);
    problems.push(error.message);
  }
  return { id: record.id, ok: problems.length === 0, problems, checkedEntries, checkedBytes, contentChecked: true };
}
