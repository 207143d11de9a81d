/**
 * Writes a manifest to a file entry by entry, as the packer produces them, so a backup of millions of files never
 * holds its manifest in memory. The result is the same JSON document `parseManifest` reads: the header fields
 * (known before packing starts), then `entries`, one per line.
 *
 * Lines are gathered in a 1 MiB buffer and written synchronously when it fills. A write stream would queue one
 * string per entry until its asynchronous writes caught up with a main thread busy packing; those strings outlived
 * the young generation and every few megabytes of them cost a full garbage collection.
 */
import fs from 'node:fs';
import { FILE_MODE } from '../fsutil/safe-write.js';
import type { Manifest, ManifestEntry } from './manifest.js';

export type ManifestHeader = Omit<Manifest, 'entries'>;

const BUFFER_SIZE = 1 << 20;

export class ManifestWriter {
  readonly file: string;
  #fd: number | undefined;
  readonly #buffer = Buffer.allocUnsafe(BUFFER_SIZE);
  #used = 0;
  #count = 0;

  private constructor(file: string, fd: number) {
    this.file = file;
    this.#fd = fd;
  }

  static open(file: string, header: ManifestHeader): Promise<ManifestWriter> {
    const writer = new ManifestWriter(file, fs.openSync(file, 'wx', FILE_MODE));
    const head = JSON.stringify(header);
    writer.#append(`${head.slice(0, -1)},"entries":[\n`);
    return Promise.resolve(writer);
  }

  get entries(): number {
    return this.#count;
  }

  /** Appends one entry. */
  add(entry: ManifestEntry): void {
    this.#append(`${this.#count === 0 ? '' : ',\n'}${JSON.stringify(entry)}`);
    this.#count++;
  }

  /** Finishes the document and closes the file. */
  close(): Promise<void> {
    this.#append('\n]}\n');
    this.#flush();
    this.#closeFile();
    return Promise.resolve();
  }

  /** Closes the file without finishing it (the backup failed). */
  abort(): void {
    this.#closeFile();
  }

  #append(text: string): void {
    // Worst case 3 bytes per UTF-16 unit: flush first when that might not fit.
    if (this.#used + text.length * 3 > BUFFER_SIZE) {
      this.#flush();
      if (text.length * 3 > BUFFER_SIZE) return this.#write(Buffer.from(text));
    }
    this.#used += this.#buffer.write(text, this.#used);
  }

  #flush(): void {
    this.#write(this.#buffer.subarray(0, this.#used));
    this.#used = 0;
  }

  #write(bytes: Buffer): void {
    if (this.#fd === undefined) throw new Error(`the manifest ${this.file} is already closed`);
    for (let offset = 0; offset < bytes.length; ) offset += fs.writeSync(this.#fd, bytes, offset, bytes.length - offset);
  }

  #closeFile(): void {
    if (this.#fd === undefined) return;
    const fd = this.#fd;
    this.#fd = undefined;
    fs.closeSync(fd);
  }
}
