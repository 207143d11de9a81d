/**
 * Reading an archive back: storage -> SHA-256 of the stored bytes -> [decryption] -> gunzip -> tar entries (tar-reader.ts),
 * each header handed to a handler and the content to the sink it returns. Verify and restore are both built on it,
 * so both check the same things the same way. The manifest copy beside the archive is read here too, with its
 * checksum checked.
 */
import { PassThrough, Readable, Writable, pipeline, type Transform } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { BackupError, errnoCode, isBackupError } from '../errors.js';
import type { BackupRecord } from '../metadata/record.js';
import type { ArchiveStorage } from '../storage/storage.js';
import { createDecryptStream, decryptBuffer, keyRequired, type DecryptionKey } from '../crypto/index.js';
import { DigestStream } from './digest.js';
import { MANIFEST_ARCHIVE_PATH, parseManifest, type Manifest, type ManifestEntry } from './manifest.js';
import { handEntries, manifestGunzip, readManifestStream } from './manifest-reader.js';
import { TarReader, type EntrySink, type TarEntryHandler } from './tar-reader.js';
import { endsItsBuffer, releaseBuffer, ReleasingGunzip } from './release.js';

export type { EntrySink, TarHeader } from './tar-reader.js';

/** Receives a manifest's entries one by one, with its header (`entries` left empty). */
export type ManifestEntryHandler = (entry: ManifestEntry, manifest: Manifest) => void;

/** The manifest is the only entry read into memory; anything claiming to be larger is not ours. */
const MAX_MANIFEST_BYTES = 1 << 30;

/** Called with each entry's header (the manifest's excepted); returns where its content goes, or undefined to skip it. */
export type EntryHandler = TarEntryHandler;

export interface ReadOptions {
  signal?: AbortSignal;
  /** False: only hash the archive's own manifest (for a caller that already has the copy); default true. */
  parseManifest?: boolean;
  /** The identities or passphrase that open an encrypted backup. */
  key?: DecryptionKey;
}

export interface ArchiveReadResult {
  /** SHA-256 and size of the stored archive bytes. */
  sha256: string;
  bytes: number;
  /** The manifest found as the archive's last entry, if any (parsed unless asked not to). */
  manifest?: Manifest;
  /** SHA-256 of the archive's own manifest bytes, if it has one. */
  manifestSha256?: string;
}

export async function collect(stream: AsyncIterable<Buffer>, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function tooLarge(limit: number): BackupError {
  return new BackupError('UNSAFE_ARCHIVE', `an archive entry is larger than the ${limit} bytes allowed`);
}

/** `sink`, refusing the entry once it is over `limit` bytes. */
function limited(limit: number, sink: EntrySink): EntrySink {
  let size = 0;
  return {
    data(chunk) {
      size += chunk.length;
      if (size > limit) throw tooLarge(limit);
      return sink.data(chunk);
    },
    end: () => sink.end(),
  };
}

/**
 * Hashes an entry (the manifest) as it streams past, up to `limit` bytes: collected, its chunks are views that keep
 * the decompressor's 1 MiB output buffers alive, and with their concatenation 40 MB for 77k entries, at a restore's
 * very end, where the write pool's buffers are all in use: that was its peak memory.
 */
function hashingSink(limit: number, done: (sha256: string) => void): EntrySink {
  const hash = createHash('sha256');
  return limited(limit, { data: (chunk) => void hash.update(chunk), end: () => done(hash.digest('hex')) });
}

/** Collects an entry (the manifest) into memory, up to `limit` bytes (refusing more), and hands it over at its end. */
export function collectingSink(limit: number, done: (data: Buffer) => void): EntrySink {
  const chunks: Buffer[] = [];
  // A sink's chunks are lent (EntrySink): copied, since they are kept.
  return limited(limit, { data: (chunk) => void chunks.push(Buffer.from(chunk)), end: () => done(Buffer.concat(chunks)) });
}

function missingArchive(record: BackupRecord, storage: ArchiveStorage): BackupError {
  return new BackupError(
    'INTEGRITY',
    `archive ${record.archive} of backup ${record.id} is missing from ${storage.description}: restore the file, or remove the backup with \`mcp backup delete ${record.id}\``,
    { id: record.id },
  );
}

/**
 * Streams an archive's stored bytes through SHA-256, then `decrypt` (if any), gunzip (if `gzip`) and the tar reader,
 * which hands each entry to `handler`; returns the stored bytes' checksum and size. What the handler's sinks refuse
 * comes as a BackupError and is thrown as it is; anything else means the stored bytes do not read, and is thrown as
 * `cannotRead(its message)`.
 */
export async function readTarStream(
  source: Readable,
  stages: { decrypt?: Transform | undefined; gzip: boolean },
  handler: TarEntryHandler,
  options: { signal?: AbortSignal | undefined; cannotRead: (message: string) => BackupError },
): Promise<{ sha256: string; bytes: number }> {
  const digest = new DigestStream();
  // Every chunk from here on is the reader's own: each is freed once read (release.ts).
  const decompress = stages.gzip ? new ReleasingGunzip({ chunkSize: 1 << 20 }) : new PassThrough();
  const reader = new TarReader(handler);
  const extract = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      reader.write(chunk).then(() => {
        // The tar reader and the sinks have copied what they keep of it.
        if (stages.gzip && endsItsBuffer(chunk)) releaseBuffer(chunk.buffer);
        callback();
      }, callback);
    },
    final(callback) {
      try {
        reader.end();
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  });
  try {
    await pipelineAsync([source, digest, stages.decrypt ?? new PassThrough(), decompress, extract], { signal: options.signal });
  } catch (error) {
    if (error instanceof BackupError || options.signal?.aborted) throw error;
    throw options.cannotRead((error as Error).message);
  }
  return { sha256: digest.digest(), bytes: digest.bytes };
}

/**
 * The SHA-256 (hex) of an archive's stored bytes, to compare with its record's. Throws when the file cannot be read
 * (a missing file says so): a read that failed says nothing about whether the bytes changed.
 */
export async function storedChecksum(storage: ArchiveStorage, record: BackupRecord): Promise<string> {
  try {
    const hash = createHash('sha256');
    for await (const chunk of await storage.open(record.archive)) hash.update(chunk as Buffer);
    return hash.digest('hex');
  } catch (error) {
    if (isBackupError(error)) throw error;
    if (errnoCode(error) === 'ENOENT') throw missingArchive(record, storage);
    throw new BackupError('IO', `cannot read archive ${record.archive} of backup ${record.id}: ${(error as Error).message}`, { id: record.id }, { cause: error });
  }
}

/**
 * Streams every entry of the backup's archive through `onEntry`, and returns the stored bytes' checksum. The manifest
 * entry is parsed, not passed on.
 */
export async function readArchive(storage: ArchiveStorage, record: BackupRecord, onEntry: EntryHandler, options: ReadOptions = {}): Promise<ArchiveReadResult> {
  const { signal, key } = options;
  const encryption = record.encryption.mode;
  if (encryption !== 'none' && !key) throw keyRequired(encryption, `backup ${record.id}`);
  let source: Readable;
  try {
    source = await storage.open(record.archive);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') throw missingArchive(record, storage);
    throw error;
  }
  let manifest: Manifest | undefined;
  let manifestSha256: string | undefined;
  const handler: TarEntryHandler = (header) => {
    if (header.name === MANIFEST_ARCHIVE_PATH) {
      if (options.parseManifest === false) return hashingSink(MAX_MANIFEST_BYTES, (sha256) => (manifestSha256 = sha256));
      return collectingSink(MAX_MANIFEST_BYTES, (data) => {
        manifestSha256 = createHash('sha256').update(data).digest('hex');
        manifest = parseManifest(data, `archive ${record.archive}`);
      });
    }
    return onEntry(header);
  };
  // Decrypted bytes are untrusted until the whole stream authenticated: callers stage, and use them only after this
  // function resolved.
  const decrypt = encryption !== 'none' ? createDecryptStream(key!, { subject: `archive ${record.archive}` }) : undefined;
  const stored = await readTarStream(source, { decrypt, gzip: record.compression.algorithm === 'gzip' }, handler, {
    signal,
    cannotRead: (message) => new BackupError('INTEGRITY', `archive ${record.archive} of backup ${record.id} cannot be read: ${message}`, { id: record.id }),
  });
  return { ...stored, ...(manifest && { manifest }), ...(manifestSha256 && { manifestSha256 }) };
}

/** The manifest copy beside the archive, checking its recorded checksum, and the SHA-256 of its plain bytes (to compare with the archive's own manifest). */
export async function readManifestCopyWithDigest(
  storage: ArchiveStorage,
  record: BackupRecord,
  key?: DecryptionKey,
  onEntry?: ManifestEntryHandler,
): Promise<{ manifest: Manifest; plainSha256: string }> {
  const encryption = record.encryption.mode;
  if (encryption !== 'none' && !key) throw keyRequired(encryption, `backup ${record.id}`);
  let source: Readable;
  try {
    source = await storage.open(record.manifest);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') {
      throw new BackupError('INTEGRITY', `manifest ${record.manifest} of backup ${record.id} is missing`, { id: record.id });
    }
    throw error;
  }
  const data = await collect(source, MAX_MANIFEST_BYTES);
  const sha256 = createHash('sha256').update(data).digest('hex');
  if (sha256 !== record.manifestSha256) {
    throw new BackupError('INTEGRITY', `manifest ${record.manifest} of backup ${record.id} does not match its checksum`, { id: record.id });
  }
  const compressed = encryption !== 'none' ? await decryptBuffer(key!, data, { subject: `manifest ${record.manifest}` }) : data;
  // Decompressed and parsed line by line as it streams: the plain JSON (20 MB for 77k entries, 40 MB as one string)
  // is never held whole, which was a restore's peak memory before any file was written. readManifestStream bounds
  // what a small copy may inflate into (a gzip bomb).
  const plainDigest = new DigestStream();
  const plain = pipeline(Readable.from([compressed]), manifestGunzip(), plainDigest, () => undefined);
  let manifest: Manifest;
  try {
    manifest = await readManifestStream(plain, `manifest ${record.manifest}`, MAX_MANIFEST_BYTES, onEntry);
  } catch (error) {
    if (error instanceof BackupError && error.code === 'INTEGRITY') throw error;
    throw new BackupError('INTEGRITY', `manifest ${record.manifest} of backup ${record.id} cannot be decompressed`, { id: record.id });
  }
  if (manifest.id !== record.id) {
    throw new BackupError('INTEGRITY', `manifest ${record.manifest} belongs to backup ${manifest.id}, not ${record.id}`, { id: record.id });
  }
  return { manifest, plainSha256: plainDigest.digest() };
}

/**
 * The backup's manifest: the copy beside the archive when it is intact, else the archive's own copy (which means
 * reading the whole archive).
 */
export async function loadManifest(storage: ArchiveStorage, record: BackupRecord, key?: DecryptionKey): Promise<Manifest> {
  return (await loadManifestWithDigest(storage, record, key)).manifest;
}

/**
 * `loadManifest`, and the SHA-256 of the manifest's plain bytes (which the archive's own manifest must match). With
 * `onEntry`, entries are handed to it as `readManifestStream` hands them, and the manifest returned has none. When
 * the copy fails part way, `onEntry` has seen some of its entries: the caller starts its fold again on `restart`,
 * called before the archive's own manifest is read instead.
 */
export async function loadManifestWithDigest(
  storage: ArchiveStorage,
  record: BackupRecord,
  key?: DecryptionKey,
  streamed?: { onEntry: ManifestEntryHandler; restart: () => void },
): Promise<{ manifest: Manifest; plainSha256: string }> {
  try {
    return await readManifestCopyWithDigest(storage, record, key, streamed?.onEntry);
  } catch (error) {
    if (!(error instanceof BackupError) || error.code !== 'INTEGRITY') throw error;
    const { manifest, manifestSha256 } = await readArchive(storage, record, () => undefined, key && { key });
    if (!manifest || manifestSha256 === undefined) {
      throw new BackupError('INTEGRITY', `backup ${record.id}: neither the manifest copy nor the archive holds a readable manifest`, { id: record.id });
    }
    if (streamed) {
      streamed.restart();
      handEntries(manifest, streamed.onEntry);
    }
    return { manifest, plainSha256: manifestSha256 };
  }
}
