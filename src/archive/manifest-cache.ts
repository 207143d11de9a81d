/**
 * The host's own copies of the manifests of encrypted backups, in plain form, so that an incremental backup can
 * compare the platform with its base without any secret on the host (public-key encryption: the host can encrypt
 * but not decrypt). It lives in the platform root (`.mcp-backup-cache/`), never in the backup directory, which is
 * what gets copied to other disks and buckets: it names files that already sit in plain form on this host, and
 * nothing else. Losing it costs nothing but convenience: an incremental then needs the key to read its base.
 */
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import { pipeline, type Readable } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import { FILE_MODE, commitRename, ensurePrivateDir, siblingTempName, writeFileSafely } from '../fsutil/safe-write.js';
import { manifestGunzip } from './manifest-reader.js';
import { parseManifest, serializeManifest, type Manifest } from './manifest.js';

const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);

export const MANIFEST_CACHE_DIR = '.mcp-backup-cache';

export class ManifestCache {
  readonly dir: string;

  constructor(platformRoot: string) {
    this.dir = path.join(platformRoot, MANIFEST_CACHE_DIR, 'manifests');
  }

  #file(id: string): string {
    return path.join(this.dir, `${id.replace(/[^A-Za-z0-9_-]/g, '_')}.json.gz`);
  }

  /** The cached manifest of backup `id`, or undefined when it is not cached or unreadable. */
  async get(id: string): Promise<Manifest | undefined> {
    try {
      const manifest = parseManifest(await gunzip(await fs.readFile(this.#file(id))), `cached manifest of ${id}`);
      return manifest.id === id ? manifest : undefined;
    } catch {
      return undefined;
    }
  }

  /** The cached manifest of backup `id` as a stream of its plain JSON, or undefined when it is not cached. */
  async open(id: string): Promise<Readable | undefined> {
    const handle = await fs.open(this.#file(id)).catch(() => undefined);
    // pipeline, not pipe: a read error must end the plain stream too, with that error.
    return handle && pipeline(handle.createReadStream(), manifestGunzip(), () => undefined);
  }

  async put(manifest: Manifest): Promise<void> {
    await ensurePrivateDir(this.dir);
    await writeFileSafely(this.#file(manifest.id), await gzip(serializeManifest(manifest)));
  }

  /** Caches the manifest of backup `id` from a plain manifest file, streaming. */
  async putFile(id: string, manifestFile: string): Promise<void> {
    await ensurePrivateDir(this.dir);
    const target = this.#file(id);
    const staging = siblingTempName(target);
    try {
      await pipelineAsync(createReadStream(manifestFile), zlib.createGzip({ level: 6 }), createWriteStream(staging, { flags: 'wx', mode: FILE_MODE }));
      await commitRename(staging, target);
    } finally {
      await fs.rm(staging, { force: true });
    }
  }

  async remove(id: string): Promise<void> {
    await fs.rm(this.#file(id), { force: true });
  }
}
