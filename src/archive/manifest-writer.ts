/**
 * Writes a manifest to a file entry by entry, as the packer produces them, so a backup of millions of files never
 * holds its manifest in memory. The result is the same JSON document `parseManifest` reads: the header fields
 * (known before packing starts), then `entries`, one per line.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { FILE_MODE } from '../fsutil/safe-write.js';
import type { Manifest, ManifestEntry } from './manifest.js';

export type ManifestHeader = Omit<Manifest, 'entries'>;

export class ManifestWriter {
  readonly file: string;
  readonly #out: WriteStream;
  #count = 0;

  private constructor(file: string, out: WriteStream) {
    this.file = file;
    this.#out = out;
  }

  static async open(file: string, header: ManifestHeader): Promise<ManifestWriter> {
    const out = createWriteStream(file, { flags: 'wx', mode: FILE_MODE, highWaterMark: 1 << 20 });
    await once(out, 'open');
    const head = JSON.stringify(header);
    out.write(`${head.slice(0, -1)},"entries":[\n`);
    return new ManifestWriter(file, out);
  }

  get entries(): number {
    return this.#count;
  }

  /** Appends one entry; resolves at once unless the file stream asks to wait. */
  async add(entry: ManifestEntry): Promise<void> {
    const ok = this.#out.write(`${this.#count === 0 ? '' : ',\n'}${JSON.stringify(entry)}`);
    this.#count++;
    if (!ok) await once(this.#out, 'drain');
  }

  /** Finishes the document and closes the file. */
  async close(): Promise<void> {
    this.#out.end('\n]}\n');
    await once(this.#out, 'close');
  }

  /** Closes the file without finishing it (the backup failed). */
  abort(): void {
    this.#out.destroy();
  }
}
