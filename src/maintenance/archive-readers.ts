/**
 * How `index rebuild` reads an archive it finds in archives/: one `ArchiveReader` per kind of archive, chosen by
 * the file name (src/repository/names.ts). The plain reader handles `.tar.gz` and `.tar`; the encrypted reader
 * handles `.age` with the key it is given, or without one from this host's plain manifest cache (the copies
 * `create` keeps in the platform root so that a host that may only encrypt can still make incrementals). More
 * readers plug in through `RebuildOptions.readers`. An archive no reader can open is reported as unreadable (and its
 * old record, if any, is kept: see rebuild.ts).
 *
 * A reader has two primitives; rebuild.ts decides which to use:
 * - `readCopy`: the manifest copy beside the archive (small, cheap), with the checksum of its stored bytes;
 * - `readArchive`: the whole archive (stored bytes -> SHA-256 -> [age] -> [gunzip] -> tar), which proves it reads
 *   to the end and yields the exact bytes of the manifest it carries as its last entry: the truth when the copy and
 *   the archive disagree, and what a repaired copy holds, byte for byte.
 */
import { createHash } from 'node:crypto';
import type { Readable, Transform } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { BackupError, errnoCode } from '../errors.js';
import { MANIFEST_ARCHIVE_PATH, parseManifest, type Manifest } from '../archive/manifest.js';
import type { ManifestCache } from '../archive/manifest-cache.js';
import { collect, collectingSink, readTarStream } from '../archive/read.js';
import { createDecryptStream, decryptBuffer, inspectAgeHeader, keyRequired, type DecryptionKey } from '../crypto/index.js';
import type { BackupRecord } from '../metadata/record.js';
import type { ArchiveStorage } from '../storage/storage.js';

const gunzip = promisify(zlib.gunzip);
const gzip = promisify(zlib.gzip);

/** A manifest (copy or entry) larger than this is not ours. */
const MAX_MANIFEST_BYTES = 1 << 30;

/** An archive file found in archives/. */
export interface FoundArchive {
  /** File name, e.g. `20261124T020000Z-full-7f3a.tar.gz`. */
  name: string;
  /** The backup id its name carries. */
  id: string;
  compression: 'gzip' | 'none';
  encrypted: boolean;
  /** Bytes, as listed. */
  size: number;
}

/** A manifest copy as read. */
export interface CopyRead {
  manifest: Manifest;
  /** SHA-256 of the copy's stored bytes. */
  sha256: string;
  /** SHA-256 of the manifest's plain bytes, to compare with the archive's own. */
  plainSha256: string;
  /**
   * Set when this manifest may be trusted without reading the archive (it came from somewhere as trustworthy as the
   * index), saying where from; otherwise only matching recorded checksums vouch for it.
   */
  vouchedBy?: string;
}

/** An archive read to its end. */
export interface ArchiveRead {
  /** SHA-256 and size of the stored bytes. */
  sha256: string;
  bytes: number;
  /** The exact bytes of the manifest it carries as its last entry, if any. */
  manifestBytes?: Buffer;
}

export interface ArchiveReader {
  /** True for the archives this reader can open. */
  accepts(found: FoundArchive): boolean;
  /** How the archive is encrypted, as the index records it. */
  encryption(storage: ArchiveStorage, found: FoundArchive): Promise<BackupRecord['encryption']['mode']>;
  /** Reads the manifest copy `copyName`; rejects when it is missing or unreadable. */
  readCopy(storage: ArchiveStorage, found: FoundArchive, copyName: string): Promise<CopyRead>;
  /** Reads the whole archive; rejects when it cannot be read to its end. */
  readArchive(storage: ArchiveStorage, found: FoundArchive, signal?: AbortSignal): Promise<ArchiveRead>;
  /** The stored bytes of a manifest copy holding `manifestBytes`, to replace a missing or damaged one; undefined when it cannot. */
  encodeCopy(found: FoundArchive, manifestBytes: Buffer): Promise<Buffer | undefined>;
}

function sha256Of(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function readStored(storage: ArchiveStorage, name: string): Promise<Buffer> {
  try {
    return await collect(await storage.open(name), MAX_MANIFEST_BYTES);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') throw new BackupError('INTEGRITY', `manifest copy ${name} is missing`);
    throw error;
  }
}

async function parseCopy(name: string, found: FoundArchive, stored: Buffer, compressed: Buffer): Promise<CopyRead> {
  let plain: Buffer;
  try {
    plain = await gunzip(compressed);
  } catch {
    throw new BackupError('INTEGRITY', `manifest copy ${name} cannot be decompressed`);
  }
  const manifest = parseManifest(plain, `manifest copy ${name}`);
  if (manifest.id !== found.id) throw new BackupError('INTEGRITY', `manifest copy ${name} names backup ${manifest.id}`);
  return { manifest, sha256: sha256Of(stored), plainSha256: sha256Of(plain) };
}

/** Reads an archive to its end through `decrypt` (if any), keeping the bytes of its manifest entry. */
async function readToEnd(storage: ArchiveStorage, found: FoundArchive, decrypt: Transform | undefined, signal?: AbortSignal): Promise<ArchiveRead> {
  let source: Readable;
  try {
    source = await storage.open(found.name);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') throw new BackupError('INTEGRITY', `archive ${found.name} is gone`);
    throw error;
  }
  let manifestBytes: Buffer | undefined;
  const stored = await readTarStream(
    source,
    { decrypt, gzip: found.compression === 'gzip' },
    (header) => (header.name === MANIFEST_ARCHIVE_PATH ? collectingSink(MAX_MANIFEST_BYTES, (data) => (manifestBytes = data)) : undefined),
    { signal, cannotRead: (message) => new BackupError('INTEGRITY', `archive ${found.name} cannot be read: ${message}`) },
  );
  return { ...stored, ...(manifestBytes && { manifestBytes }) };
}

/** Archives written without encryption: `<id>.tar.gz` and `<id>.tar`. */
export const plainArchiveReader: ArchiveReader = {
  accepts: (found) => !found.encrypted,
  encryption: () => Promise.resolve('none'),

  async readCopy(storage, found, copyName) {
    const stored = await readStored(storage, copyName);
    return parseCopy(copyName, found, stored, stored);
  },

  readArchive: (storage, found, signal) => readToEnd(storage, found, undefined, signal),

  async encodeCopy(_found, manifestBytes) {
    return gzip(manifestBytes, { level: 6 });
  },
};

/** The first bytes of a stored object (enough for an age header). */
async function headOf(storage: ArchiveStorage, name: string, limit = 64 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  const stream = await storage.open(name);
  try {
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size >= limit) break;
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks);
}

/**
 * Encrypted archives (`.age`): with `key`, read like plain ones after decryption. Without it, the manifest comes
 * from this host's plain manifest cache when it has one (vouched for like the index: `create` wrote it); the
 * archive itself cannot be read then, so such an archive is listed from the cache, or not at all.
 */
export function encryptedArchiveReader(options: { key?: DecryptionKey; cache?: ManifestCache } = {}): ArchiveReader {
  const { key, cache } = options;
  const modeOf = async (storage: ArchiveStorage, found: FoundArchive): Promise<'recipients' | 'passphrase'> =>
    inspectAgeHeader(await headOf(storage, found.name))?.mode === 'passphrase' ? 'passphrase' : 'recipients';
  return {
    accepts: (found) => found.encrypted,
    encryption: modeOf,

    async readCopy(storage, found, copyName) {
      const stored = await readStored(storage, copyName);
      if (key) return parseCopy(copyName, found, stored, await decryptBuffer(key, stored, { subject: `manifest copy ${copyName}` }));
      const cached = await cache?.get(found.id);
      if (cached) {
        // Only the parsed manifest is vouched for; its plain bytes are not compared with the archive's (unread).
        return { manifest: cached, sha256: sha256Of(stored), plainSha256: '', vouchedBy: "this host's plain manifest cache" };
      }
      throw keyRequired(await modeOf(storage, found), `manifest copy ${copyName}`);
    },

    async readArchive(storage, found, signal) {
      if (!key) throw keyRequired(await modeOf(storage, found), `archive ${found.name}`);
      return readToEnd(storage, found, createDecryptStream(key, { subject: `archive ${found.name}` }), signal);
    },

    // Written again only by `create`, which knows the recipients: a rebuild does not guess them.
    encodeCopy: () => Promise.resolve(undefined),
  };
}

/** SHA-256 and size of a stored object. */
export async function hashObject(storage: ArchiveStorage, name: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of await storage.open(name)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}
