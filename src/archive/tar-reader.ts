/**
 * Reads a tar stream chunk by chunk, handing each entry's header to a handler and its content, as slices of the
 * chunks (no copy), to the sink the handler returns. It reads what tar-stream's extract reads, the same way (ustar
 * with its name prefix, GNU long names, pax path/linkpath/size, null blocks skipped, checksums checked, the same
 * error messages), but synchronously within a chunk: no stream, event or promise per entry, which on archives of
 * many small files cost the restore's main thread more than everything else it does.
 */
import { BLOCK } from './tar-header.js';

export type TarEntryType =
  | 'file'
  | 'link'
  | 'symlink'
  | 'character-device'
  | 'block-device'
  | 'directory'
  | 'fifo'
  | 'contiguous-file';

export interface TarHeader {
  name: string;
  /** Null for a type flag tar-stream does not know either. */
  type: TarEntryType | null;
  size: number;
  linkname: string | null;
}

/**
 * Receives an entry's content; a returned promise holds the stream until it settles. A chunk is lent: its memory may
 * be freed once `data` returned and its promise settled (src/archive/release.ts), so a sink copies what it keeps.
 */
export interface EntrySink {
  data(chunk: Buffer): void | Promise<void>;
  end(): void | Promise<void>;
}

/** Returns where the entry's content goes, or undefined to skip it. */
export type TarEntryHandler = (header: TarHeader) => EntrySink | undefined;

/** The stream is not a tar archive, or is cut short. */
export class TarFormatError extends Error {
  override name = 'TarFormatError';
}

/** Bigger pax or GNU long-name headers are refused (as tar-stream does). */
const MAX_LONG_HEADER = 4 * 1024 * 1024;
const NULL_CHECKSUM = 8 * 32;
const TYPES: Record<number, TarEntryType | LongType> = {
  0: 'file',
  1: 'link',
  2: 'symlink',
  3: 'character-device',
  4: 'block-device',
  5: 'directory',
  6: 'fifo',
  7: 'contiguous-file',
  72: 'pax-header',
  55: 'pax-global-header',
  27: 'gnu-long-link-path',
  28: 'gnu-long-path',
  30: 'gnu-long-path',
};
type LongType = 'pax-header' | 'pax-global-header' | 'gnu-long-link-path' | 'gnu-long-path';
const USTAR_MAGIC = Buffer.from('ustar\0', 'latin1');
const GNU_MAGIC = Buffer.from('ustar ', 'latin1');
const GNU_VERSION = Buffer.from(' \0', 'latin1');

function checksum(block: Buffer): number {
  let sum = NULL_CHECKSUM;
  for (let i = 0; i < 148; i++) sum += block[i]!;
  for (let i = 156; i < BLOCK; i++) sum += block[i]!;
  return sum;
}

function decodeString(block: Buffer, offset: number, length: number): string {
  const end = block.indexOf(0, offset);
  return block.toString('utf8', offset, end < 0 || end > offset + length ? offset + length : end);
}

/** An octal field (spaces and NULs around it allowed), or base-256 when its first byte has the high bit set. */
function decodeNumber(block: Buffer, offset: number, length: number): number {
  if (block[offset]! & 0x80) {
    const positive = block[offset] === 0x80;
    if (!positive && block[offset] !== 0xff) return NaN;
    let sum = 0;
    for (let i = offset + 1; i < offset + length; i++) sum = sum * 256 + (positive ? block[i]! : 0xff - block[i]!);
    return positive ? sum : -sum;
  }
  let start = offset;
  const limit = offset + length;
  while (start < limit && block[start] === 32) start++;
  let end = block.indexOf(32, start);
  if (end < 0 || end > limit) end = limit;
  while (start < end && block[start] === 0) start++;
  if (end === start) return 0;
  return parseInt(block.toString('latin1', start, end), 8);
}

function decodePax(data: Buffer): Record<string, string> {
  const result: Record<string, string> = {};
  let rest = data;
  while (rest.length > 0) {
    let i = 0;
    while (i < rest.length && rest[i] !== 32) i++;
    const length = parseInt(rest.toString('utf8', 0, i), 10);
    if (!length) return result;
    const record = rest.toString('utf8', i + 1, length - 1);
    const equals = record.indexOf('=');
    if (equals === -1) return result;
    result[record.slice(0, equals)] = record.slice(equals + 1);
    rest = rest.subarray(length);
  }
  return result;
}

function padding(size: number): number {
  const over = size % BLOCK;
  return over === 0 ? 0 : BLOCK - over;
}

export class TarReader {
  readonly #handler: TarEntryHandler;
  /** A header block begun in one chunk and ended in a later one: its bytes so far, copied (chunks are lent). */
  readonly #partial = Buffer.alloc(BLOCK);
  #partialBytes = 0;
  /** Content bytes still to come for the current entry (or long header), the padding after them, and bytes to skip. */
  #missing = 0;
  #padding = 0;
  #skip = 0;
  #sink: EntrySink | undefined;
  /** A pax or GNU long-name header being collected, and what the next entry takes from them. */
  #long: { type: LongType; size: number; parts: Buffer[] } | undefined;
  #pax: Record<string, string> | undefined;
  #paxGlobal: Record<string, string> | undefined;
  #gnuPath: string | undefined;
  #gnuLinkPath: string | undefined;

  constructor(handler: TarEntryHandler) {
    this.#handler = handler;
  }

  async write(chunk: Buffer): Promise<void> {
    let at = 0;
    while (at < chunk.length) {
      if (this.#missing > 0) {
        const n = Math.min(this.#missing, chunk.length - at);
        const piece = chunk.subarray(at, at + n);
        at += n;
        this.#missing -= n;
        if (this.#long) {
          // Copied, as every piece kept past this chunk is: the chunk's memory may be freed once it is read.
          this.#long.parts.push(Buffer.from(piece));
          if (this.#missing === 0) this.#endLong();
          continue;
        }
        if (this.#sink) {
          const waiting = this.#sink.data(piece);
          if (waiting) await waiting;
        }
        if (this.#missing === 0) await this.#endEntry();
        continue;
      }
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - at);
        at += n;
        this.#skip -= n;
        continue;
      }
      let block: Buffer;
      if (this.#partialBytes === 0 && chunk.length - at >= BLOCK) {
        block = chunk.subarray(at, at + BLOCK);
        at += BLOCK;
      } else {
        const n = chunk.copy(this.#partial, this.#partialBytes, at, Math.min(at + BLOCK - this.#partialBytes, chunk.length));
        this.#partialBytes += n;
        at += n;
        if (this.#partialBytes < BLOCK) continue;
        block = this.#partial;
        this.#partialBytes = 0;
      }
      await this.#header(block);
    }
  }

  /** The stream ended: it must not end inside an entry or a header. */
  end(): void {
    if (this.#missing > 0 || this.#skip > 0 || this.#partialBytes > 0 || this.#long) throw new TarFormatError('Unexpected end of data');
  }

  async #header(block: Buffer): Promise<void> {
    const sum = checksum(block);
    // A block of zeros (the end-of-archive marker, or padding) is skipped.
    if (sum === NULL_CHECKSUM) return;
    if (sum !== decodeNumber(block, 148, 8)) throw new TarFormatError('Invalid tar header. Maybe the tar is corrupted or it needs to be gunzipped?');
    const flag = block[156] === 0 ? 0 : block[156]! - 48;
    let name = decodeString(block, 0, 100);
    if (block.subarray(257, 263).equals(USTAR_MAGIC)) {
      if (block[345]) name = `${decodeString(block, 345, 155)}/${name}`;
    } else if (!(block.subarray(257, 263).equals(GNU_MAGIC) && block.subarray(263, 265).equals(GNU_VERSION))) {
      throw new TarFormatError('Invalid tar header: unknown format.');
    }
    const type = TYPES[flag] ?? null;
    let size = decodeNumber(block, 124, 12);
    if (type === 'pax-header' || type === 'pax-global-header' || type === 'gnu-long-path' || type === 'gnu-long-link-path') {
      if (size > MAX_LONG_HEADER) throw new TarFormatError('Header exceeds max size');
      this.#long = { type, size, parts: [] };
      this.#missing = size;
      if (size === 0) this.#endLong();
      return;
    }
    let linkname = block[157] === 0 ? null : decodeString(block, 157, 100);
    if (this.#gnuPath !== undefined) name = this.#gnuPath;
    if (this.#gnuLinkPath !== undefined) linkname = this.#gnuLinkPath;
    this.#gnuPath = this.#gnuLinkPath = undefined;
    if (this.#pax) {
      if (this.#pax.path) name = this.#pax.path;
      if (this.#pax.linkpath) linkname = this.#pax.linkpath;
      if (this.#pax.size) size = parseInt(this.#pax.size, 10);
      this.#pax = undefined;
    }
    if (!(size >= 0)) throw new TarFormatError('Invalid header');
    this.#sink = this.#handler({ name, type, size, linkname });
    // A folder has no content, whatever its size field says.
    if (size === 0 || type === 'directory') {
      await this.#endEntry();
      return;
    }
    this.#missing = size;
    this.#padding = padding(size);
  }

  async #endEntry(): Promise<void> {
    const sink = this.#sink;
    this.#sink = undefined;
    this.#skip = this.#padding;
    this.#padding = 0;
    if (sink) {
      const waiting = sink.end();
      if (waiting) await waiting;
    }
  }

  #endLong(): void {
    const { type, size, parts } = this.#long!;
    this.#long = undefined;
    this.#skip = padding(size);
    const data = Buffer.concat(parts);
    if (type === 'gnu-long-path') this.#gnuPath = decodeString(data, 0, data.length);
    else if (type === 'gnu-long-link-path') this.#gnuLinkPath = decodeString(data, 0, data.length);
    else if (type === 'pax-global-header') this.#paxGlobal = decodePax(data);
    else this.#pax = { ...this.#paxGlobal, ...decodePax(data) };
  }
}
