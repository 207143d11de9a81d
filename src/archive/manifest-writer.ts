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
  /** Where the entries go until the header is known, when it was not at `open`. */
  readonly #entriesFile: string | undefined;
  #fd: number | undefined;
  readonly #buffer = Buffer.allocUnsafe(BUFFER_SIZE);
  #used = 0;
  #count = 0;

  private constructor(file: string, entriesFile: string | undefined) {
    this.file = file;
    this.#entriesFile = entriesFile;
    this.#fd = fs.openSync(entriesFile ?? file, 'wx', FILE_MODE);
  }

  /** A manifest whose header is known now, or (without one) at `close`. */
  static open(file: string, header?: ManifestHeader): Promise<ManifestWriter> {
    const writer = new ManifestWriter(file, header ? undefined : `${file}.entries`);
    if (header) writer.#append(head(header));
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

  /** Finishes the document and closes the file; `header` is the one not given to `open`. */
  close(header?: ManifestHeader): Promise<void> {
    if (!header !== !this.#entriesFile) throw new Error(`the header of the manifest ${this.file} is given at open or at close, once`);
    if (header) this.#writeHeaderBeforeEntries(header);
    this.#append('\n]}\n');
    this.#flush();
    this.#closeFile();
    return Promise.resolve();
  }

  #writeHeaderBeforeEntries(header: ManifestHeader): void {
    this.#flush();
    this.#closeFile();
    const entries = fs.openSync(this.#entriesFile!, 'r');
    try {
      this.#fd = fs.openSync(this.file, 'wx', FILE_MODE);
      this.#append(head(header));
      this.#flush();
      let read: number;
      while ((read = fs.readSync(entries, this.#buffer, 0, BUFFER_SIZE, null)) > 0) this.#write(this.#buffer.subarray(0, read));
    } finally {
      fs.closeSync(entries);
    }
    fs.unlinkSync(this.#entriesFile!);
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

function head(header: ManifestHeader): string {
  return `${JSON.stringify(header).slice(0, -1)},"entries":[\n`;
}
