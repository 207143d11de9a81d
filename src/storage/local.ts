/**
 * Archives in a local folder (`backup/archives/`). New objects are written to a staging folder on the same
 * filesystem (under `backup/temp/`), fsynced, then renamed into place and the folder fsynced: a reader never sees a
 * partial archive, and a crash leaves at most a staging file that the next command removes.
 */
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { BackupError, errnoCode, isBackupError } from '../errors.js';
import { FILE_MODE, commitRename, fsyncDir, siblingTempName } from '../fsutil/safe-write.js';
import type { ArchiveStorage, ObjectInfo, ObjectWriter } from './storage.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function checkName(name: string, dir: string): void {
  // Names come from the index, which could be edited by hand: never let one point outside the folder.
  if (typeof name !== 'string' || !NAME.test(name)) {
    const shown = JSON.stringify(typeof name === 'string' && name.length > 80 ? `${name.slice(0, 80)}...` : name);
    throw new BackupError(
      'INDEX_CORRUPT',
      `the index names the file ${shown}, which is not a plain file name inside ${dir}: it was refused; run \`mcp backup index rebuild\` to rebuild the index from the archives`,
      { name },
    );
  }
}

function notAFile(dir: string, name: string): BackupError {
  return new BackupError('UNSAFE_ARCHIVE', `${path.join(dir, name)} is not a regular file (a symlink, folder or device): it was not read`, { name });
}

export class LocalStorage implements ArchiveStorage {
  readonly #dir: string;
  readonly #stagingDir: () => Promise<string>;

  /**
   * @param dir the archives folder (exists, 0700)
   * @param stagingDir gives the folder, on the same filesystem, where new objects are staged
   */
  constructor(dir: string, stagingDir: () => Promise<string>) {
    this.#dir = dir;
    this.#stagingDir = stagingDir;
  }

  get description(): string {
    return this.#dir;
  }

  pathOf(name: string): string {
    checkName(name, this.#dir);
    return path.join(this.#dir, name);
  }

  async create(name: string): Promise<ObjectWriter> {
    const target = this.pathOf(name);
    const staging = siblingTempName(path.join(await this.#stagingDir(), name));
    const handle = await fs.open(staging, 'wx', FILE_MODE);
    await handle.chmod(FILE_MODE);
    const stream = handle.createWriteStream({ autoClose: false, highWaterMark: 1 << 20 });
    // Flushed to disk as soon as the last byte is written, not when the caller commits: a backup writes its manifest
    // copy meanwhile, and the archive's fsync (a tenth of a second for the bench's) no longer waits for that.
    let synced: Promise<void> | undefined;
    stream.once('finish', () => {
      synced = handle.sync();
      synced.catch(() => undefined); // Awaited by commit.
    });
    let state: 'open' | 'committed' | 'aborted' = 'open';
    const closeHandle = async () => {
      if (!stream.destroyed) stream.destroy();
      await handle.close().catch(() => undefined);
    };
    return {
      stream,
      commit: async () => {
        if (state !== 'open') throw new Error(`object ${name} is already ${state}`);
        if (!stream.writableFinished) await finished(stream);
        await (synced ?? handle.sync());
        await closeHandle();
        await commitRename(staging, target);
        state = 'committed';
      },
      abort: async () => {
        if (state === 'committed') return;
        state = 'aborted';
        await closeHandle();
        await fs.rm(staging, { force: true });
      },
    };
  }

  async open(name: string): Promise<Readable> {
    // Not through a symlink, and not a FIFO or device (which could block or never end): only a regular file is ours.
    const handle = await fs.open(this.pathOf(name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch((error: unknown) => {
      throw errnoCode(error) === 'ELOOP' ? notAFile(this.#dir, name) : error;
    });
    if (!(await handle.stat()).isFile()) {
      await handle.close();
      throw notAFile(this.#dir, name);
    }
    return handle.createReadStream({ highWaterMark: 1 << 20 });
  }

  async stat(name: string): Promise<ObjectInfo | undefined> {
    try {
      const stat = await fs.lstat(this.pathOf(name));
      if (!stat.isFile()) throw notAFile(this.#dir, name);
      return { name, size: stat.size, mode: stat.mode & 0o777 };
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return undefined;
      throw error;
    }
  }

  async list(): Promise<ObjectInfo[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.#dir);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return [];
      throw error;
    }
    // What is not a regular file is not an object of ours: left out, as are names that are not ours.
    const infos = await Promise.all(names.filter((n) => NAME.test(n)).map((n) => this.stat(n).catch((error: unknown) => {
      if (isBackupError(error, 'UNSAFE_ARCHIVE')) return undefined;
      throw error;
    })));
    return infos.filter((info): info is ObjectInfo => info !== undefined);
  }

  async remove(name: string): Promise<void> {
    await fs.rm(this.pathOf(name), { force: true });
    await fsyncDir(this.#dir);
  }
}
