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
 * - `readArchive`: the whole archive, which hashes its stored bytes, proves it decompresses, and yields the manifest
 *   it carries as its last entry (the truth, when the copy and the archive disagree).
 */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { BackupError, errnoCode } from '../errors.js';
import { parseManifest, serializeManifest, type Manifest } from '../archive/manifest.js';
import type { ManifestCache } from '../archive/manifest-cache.js';
import { collect, readArchive } from '../archive/read.js';
import { decryptBuffer, inspectAgeHeader, keyRequired, type DecryptionKey } from '../crypto/index.js';
import type { BackupRecord } from '../metadata/record.js';
import type { ArchiveStorage } from '../storage/storage.js';

const gunzip = promisify(zlib.gunzip);
const gzip = promisify(zlib.gzip);

/** A manifest copy larger than this is not ours. */
const MAX_MANIFEST_COPY_BYTES = 1 << 30;

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
  /**
   * Set when this manifest may be trusted without reading the archive (it came from somewhere as trustworthy as the
   * index), saying where from; otherwise only a matching recorded checksum vouches for it.
   */
  vouchedBy?: string;
}

export interface ArchiveReader {
  /** True for the archives this reader can open. */
  accepts(found: FoundArchive): boolean;
  /** How the archive is encrypted, as the index records it. */
  encryption(storage: ArchiveStorage, found: FoundArchive): Promise<BackupRecord['encryption']['mode']>;
  /** Reads the manifest copy `copyName`; rejects when it is missing or unreadable. */
  readCopy(storage: ArchiveStorage, found: FoundArchive, copyName: string): Promise<CopyRead>;
  /** Reads the whole archive: the checksum and size of its stored bytes, and the manifest it carries, if any. */
  readArchive(storage: ArchiveStorage, found: FoundArchive, signal?: AbortSignal): Promise<{ sha256: string; bytes: number; manifest?: Manifest }>;
  /** The stored bytes of a manifest copy, to write one that is missing or damaged; undefined when it cannot. */
  encodeCopy(found: FoundArchive, manifest: Manifest): Promise<Buffer | undefined>;
}

/** The name of the manifest copy the plain reader reads and writes. */
export function plainCopyName(id: string): string {
  return `${id}.manifest.json.gz`;
}

/** A record with just what src/archive/read.ts needs to open an archive found on disk. */
function provisionalRecord(found: FoundArchive, encryption: BackupRecord['encryption']['mode']): BackupRecord {
  return {
    id: found.id,
    archive: found.name,
    compression: { algorithm: found.compression },
    encryption: { mode: encryption },
  } as BackupRecord;
}

async function readStored(storage: ArchiveStorage, name: string): Promise<Buffer> {
  try {
    return await collect(await storage.open(name), MAX_MANIFEST_COPY_BYTES);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') throw new BackupError('INTEGRITY', `manifest copy ${name} is missing`);
    throw error;
  }
}

async function parseCopy(name: string, found: FoundArchive, compressed: Buffer): Promise<Manifest> {
  let plain: Buffer;
  try {
    plain = await gunzip(compressed);
  } catch {
    throw new BackupError('INTEGRITY', `manifest copy ${name} cannot be decompressed`);
  }
  const manifest = parseManifest(plain, `manifest copy ${name}`);
  if (manifest.id !== found.id) throw new BackupError('INTEGRITY', `manifest copy ${name} names backup ${manifest.id}`);
  return manifest;
}

async function skipEntry(_header: unknown, body: { resume(): unknown; on(event: 'end', listener: () => void): unknown }): Promise<void> {
  body.resume();
  await new Promise<void>((resolve) => body.on('end', () => resolve()));
}

/** Archives written without encryption: `<id>.tar.gz` and `<id>.tar`. */
export const plainArchiveReader: ArchiveReader = {
  accepts: (found) => !found.encrypted,
  encryption: () => Promise.resolve('none'),

  async readCopy(storage, found, copyName) {
    const data = await readStored(storage, copyName);
    return { manifest: await parseCopy(copyName, found, data), sha256: createHash('sha256').update(data).digest('hex') };
  },

  async readArchive(storage, found) {
    return readArchive(storage, provisionalRecord(found, 'none'), skipEntry);
  },

  async encodeCopy(_found, manifest) {
    return gzip(serializeManifest(manifest), { level: 6 });
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
 * archive itself cannot be read, so such an archive is listed only from the copy or the cache.
 */
export function encryptedArchiveReader(options: { key?: DecryptionKey; cache?: ManifestCache } = {}): ArchiveReader {
  const { key, cache } = options;
  const modeOf = async (storage: ArchiveStorage, found: FoundArchive): Promise<'recipients' | 'passphrase'> => {
    return inspectAgeHeader(await headOf(storage, found.name))?.mode === 'passphrase' ? 'passphrase' : 'recipients';
  };
  return {
    accepts: (found) => found.encrypted,
    encryption: modeOf,

    async readCopy(storage, found, copyName) {
      const data = await readStored(storage, copyName);
      const sha256 = createHash('sha256').update(data).digest('hex');
      if (key) {
        const compressed = await decryptBuffer(key, data, { subject: `manifest copy ${copyName}` });
        return { manifest: await parseCopy(copyName, found, compressed), sha256 };
      }
      const cached = await cache?.get(found.id);
      if (cached) return { manifest: cached, sha256, vouchedBy: "this host's plain manifest cache" };
      throw keyRequired(await modeOf(storage, found), `manifest copy ${copyName}`);
    },

    async readArchive(storage, found, signal) {
      const mode = await modeOf(storage, found);
      if (!key) throw keyRequired(mode, `archive ${found.name}`);
      return readArchive(storage, provisionalRecord(found, mode), skipEntry, { key, ...(signal && { signal }) });
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
