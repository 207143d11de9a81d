/**
 * The manifest: what a backup holds, carried inside every archive (as its last entry) and beside it (a compressed
 * copy, for planning a restore without reading the archive). It records the whole state of the backed-up paths at
 * backup time, so an incremental's manifest alone says what a restore must produce; entries whose content lives in
 * an ancestor's archive name that ancestor in `storedIn`.
 */
import { BackupError } from '../errors.js';
import type { BackupOrigin, BackupParts, BackupType } from '../metadata/record.js';
import type { Part } from '../platform/types.js';

export const MANIFEST_FORMAT = 'mcp-backup-manifest';
export const FORMAT_VERSION = 1;
/** Path of the manifest inside the tar stream; the last entry. */
export const MANIFEST_ARCHIVE_PATH = '_backup/manifest.json';

/** The entry types, in the order whose indexes the binary columns (and the cached state files) store. */
export const ENTRY_TYPES = ['file', 'dir', 'symlink', 'hardlink'] as const;
export type EntryType = (typeof ENTRY_TYPES)[number];
/** A SHA-256 as manifests record it: lowercase hex. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;

export interface ManifestEntry {
  /** POSIX path inside the archive, `<service>/<part>/<root>/...` or `_platform/platform.yaml`. */
  path: string;
  type: EntryType;
  /** Permission bits, including setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** Milliseconds since the epoch, with the filesystem's sub-millisecond fraction. */
  mtimeMs: number;
  /** Bytes of content (files only; 0 otherwise). */
  size: number;
  /** SHA-256 hex of the content (files only). */
  sha256?: string;
  /** Symlink target, or for a hard link the archive path of the entry it links to. */
  link?: string;
  /** Identity and change time at backup time, for change detection by the next incremental. */
  dev: number;
  ino: number;
  ctimeMs: number;
  /** Id of the backup whose archive holds this file's content, when it is not this backup (incrementals). */
  storedIn?: string;
  /** The file changed while it was being read: the archived copy may mix old and new content. */
  changedWhileReading?: boolean;
}

export interface ManifestRoot {
  service: string;
  part: Part | 'platform';
  /** Path on the platform at backup time, as configured. */
  source: string;
  archiveRoot: string;
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  formatVersion: number;
  toolVersion: string;
  id: string;
  type: BackupType;
  createdAt: string;
  description?: string;
  parent?: string;
  /** Who made the backup (absent in manifests written before it was added), so `index rebuild` can restore it. */
  origin?: BackupOrigin;
  platform: { name: string; root: string };
  services: string[];
  parts: BackupParts;
  roots: ManifestRoot[];
  /** The whole state at backup time, sorted by path. */
  entries: ManifestEntry[];
  /** Paths present in the parent's state and gone in this one (incrementals). */
  deleted: string[];
}

export function serializeManifest(manifest: Manifest): Buffer {
  return Buffer.from(JSON.stringify(manifest));
}

export function parseManifest(data: Buffer | string, where: string): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(data.toString());
  } catch {
    throw new BackupError('INTEGRITY', `the manifest in ${where} is not valid JSON`, { where });
  }
  const manifest = value as Partial<Manifest> | null;
  if (!manifest || manifest.format !== MANIFEST_FORMAT || !Array.isArray(manifest.entries)) {
    throw new BackupError('INTEGRITY', `${where} does not hold an mcp backup manifest`, { where });
  }
  // Archives are data from outside: the shape every reader relies on is checked here, once (restore's safety.ts
  // then checks the values). A crafted manifest must give an error, never a TypeError.
  const shaped =
    typeof manifest.id === 'string' &&
    typeof manifest.createdAt === 'string' &&
    Array.isArray(manifest.services) &&
    (manifest.parent === undefined || typeof manifest.parent === 'string') &&
    Array.isArray(manifest.roots) &&
    manifest.roots.every((r: unknown) => r !== null && typeof r === 'object') &&
    (manifest.deleted === undefined || (Array.isArray(manifest.deleted) && manifest.deleted.every((p: unknown) => typeof p === 'string'))) &&
    manifest.entries.every((e: unknown) => e !== null && typeof e === 'object' && typeof (e as ManifestEntry).path === 'string' && typeof (e as ManifestEntry).type === 'string');
  if (!shaped) throw new BackupError('INTEGRITY', `${where} does not hold an mcp backup manifest (a field has the wrong type)`, { where });
  manifest.deleted ??= [];
  if (typeof manifest.formatVersion !== 'number' || manifest.formatVersion > FORMAT_VERSION) {
    throw new BackupError('INDEX_TOO_NEW', `${where} was written by a newer mcp backup (format ${String(manifest.formatVersion)}): upgrade the tool`, { where });
  }
  return manifest as Manifest;
}
