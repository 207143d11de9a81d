/**
 * Verifying a backup: the archive's SHA-256 against the index, then every entry decompressed and hashed against the
 * manifest, the manifest copy against the archive's own, and the chain (every parent present). A report lists
 * every problem found rather than stopping at the first, so one run tells the whole story.
 */
import { createHash } from 'node:crypto';
import { BackupError } from '../errors.js';
import { isKeyFailure, type DecryptionKey } from '../crypto/index.js';
import { FoldedState } from '../archive/folded-state.js';
import { readArchive, readManifestCopyWithDigest, storedChecksum } from '../archive/read.js';
import type { Manifest, ManifestEntry } from '../archive/manifest.js';
import type { BackupState } from '../archive/state.js';
import { checkDeletedPaths, checkManifestEntries, checkManifestEntry, checkManifestRoots, checkState } from '../restore/safety.js';
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

function checkEntry(entry: Pick<ManifestEntry, 'path' | 'type' | 'size' | 'sha256' | 'link'>, found: SeenEntry, problems: string[]): void {
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

/** A refusal of restore's checks (src/restore/safety.ts) as verify reports it. */
function refusal(error: unknown): string {
  if (!(error instanceof BackupError)) throw error;
  return error.message.replace(/; nothing was restored$/, '');
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
    return [refusal(error)];
  }
}

/**
 * The manifest copy folded into a compact listing as it streams in (about 250 bytes an entry, where the manifest as
 * objects, and a map of them, cost several times that), with the same checks as `safetyProblems`: the first refusal
 * goes to `problems`, and the listing is still what the archive is checked against.
 */
async function readListing(
  storage: ArchiveStorage,
  record: BackupRecord,
  key: DecryptionKey | undefined,
  problems: string[],
): Promise<{ listing: FoldedState; plainSha256: string }> {
  const where = `backup ${record.id}`;
  const listing = new FoldedState();
  let refused: string | undefined;
  const { manifest, plainSha256 } = await readManifestCopyWithDigest(storage, record, key, (entry, header) => {
    if (listing.slots === 0) listing.begin({ id: header.id, deleted: [] });
    if (refused === undefined) {
      try {
        checkManifestEntry(entry, where, (p) => listing.has(p));
      } catch (error) {
        refused = refusal(error);
      }
    }
    try {
      listing.add(entry);
    } catch (error) {
      // An entry of an unknown type: refused above, and never matched against the archive.
      refused ??= refusal(error);
    }
  });
  if (refused === undefined) {
    try {
      checkManifestRoots(manifest, where);
      checkDeletedPaths(manifest, where);
      if (manifest.parent === undefined) checkState(listing, manifest.roots, where);
    } catch (error) {
      refused = refusal(error);
    }
  }
  if (refused !== undefined) problems.push(refused);
  listing.trim();
  return { listing, plainSha256 };
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

  // With an intact manifest copy, each entry is checked against its listing as it streams past and nothing else is
  // kept; without one, entries are collected and checked against the archive's own manifest at its end.
  let copy: { listing: FoldedState; plainSha256: string; matched: Uint8Array } | undefined;
  try {
    const read = await readListing(storage, record, options.key, problems);
    copy = { ...read, matched: new Uint8Array(read.listing.slots) };
  } catch (error) {
    if (!(error instanceof BackupError) || isKeyFailure(error)) throw error;
    problems.push(error.message);
  }
  const seen = new Map<string, SeenEntry>();
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
            const found: SeenEntry = {
              type: String(header.type),
              size,
              ...(header.type === 'file' && { sha256: hash.digest('hex') }),
              ...(header.linkname && { link: header.linkname }),
            };
            if (copy) {
              const { listing, matched } = copy;
              const slot = listing.indexOf(header.name);
              const expected = slot >= 0 ? listing.entryAt(slot) : undefined;
              if (slot >= 0 && matched[slot] === 1) problems.push(`${header.name}: appears twice in the archive`);
              else if (expected?.storedIn !== record.id) problems.push(`${header.name}: in the archive but not in the manifest`);
              else {
                matched[slot] = 1;
                checkedEntries++;
                checkEntry(expected, found, problems);
              }
            } else {
              if (seen.has(header.name)) problems.push(`${header.name}: appears twice in the archive`);
              seen.set(header.name, found);
            }
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
      const { listing, matched } = copy;
      for (const entry of listing.values()) {
        if (entry.storedIn === record.id && matched[listing.indexOf(entry.path)] === 0) problems.push(`${entry.path}: in the manifest but not in the archive`);
      }
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
