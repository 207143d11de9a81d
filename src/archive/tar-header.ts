/**
 * Tar headers as POSIX.1-2001 writes them: a ustar header, preceded by a pax extended header when a field does not
 * fit in it (a name or link target that is not ASCII or too long, an id above 2,097,151, a size of 8 GiB or more, a
 * time before 1970). GNU tar, bsdtar and tar-stream read them.
 *
 * Encoded here rather than through tar-stream's packer because the archive writer (tar-stream-writer.ts) lays
 * headers and file content straight into its compression blocks, and tar-stream does not expose its header encoder.
 * Restore and verify read archives with tar-reader.ts.
 */
import type { TarEntryType } from './tar-reader.js';

/** The entry types this tool writes (the reader, tar-reader.ts, knows them all). */
export type WrittenTarType = Extract<TarEntryType, 'file' | 'directory' | 'symlink' | 'link'>;

export interface TarEntryHeader {
  /** Path inside the archive. Folders have no trailing slash, as in every archive this tool has written. */
  name: string;
  type: WrittenTarType;
  mode: number;
  uid: number;
  gid: number;
  /** Content bytes (files only). */
  size: number;
  mtimeMs: number;
  /** Target of a symlink, or the archive path a hard link points to. */
  linkname?: string;
}

export const BLOCK = 512;

const TYPEFLAG: Record<WrittenTarType | 'pax', number> = { file: 0x30, link: 0x31, symlink: 0x32, directory: 0x35, pax: 0x78 };
const MAX_ID = 0o7777777;
const MAX_SIZE = 0o77777777777;
const MAX_TIME = 0o77777777777;
const ASCII = /^[\x20-\x7e]*$/;

/** `value` as `digits` octal digits followed by a NUL, at `offset`. */
function octal(buffer: Buffer, offset: number, digits: number, value: number): void {
  buffer.write(value.toString(8).padStart(digits, '0'), offset, digits, 'latin1');
  buffer[offset + digits] = 0;
}

/** Splits an ASCII path over ustar's prefix (155) and name (100) fields, or returns undefined when it cannot. */
function splitName(name: string): { prefix: string; name: string } | undefined {
  if (name.length <= 100) return { prefix: '', name };
  for (let slash = name.indexOf('/'); slash >= 0 && slash <= 155; slash = name.indexOf('/', slash + 1)) {
    if (name.length - slash - 1 <= 100) return slash > 0 ? { prefix: name.slice(0, slash), name: name.slice(slash + 1) } : undefined;
  }
  return undefined;
}

/** One pax record: "<length> <key>=<value>\n", where the length counts the whole record, itself included. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bytes = Buffer.byteLength(body);
  let length = bytes + String(bytes).length;
  if (String(length).length > String(bytes).length) length = bytes + String(length).length;
  return `${length}${body}`;
}

function ustar(
  header: { name: string; prefix: string; typeflag: number; mode: number; uid: number; gid: number; size: number; mtime: number; linkname: string },
  target: Buffer,
  offset: number,
): void {
  const block = target.subarray(offset, offset + BLOCK);
  block.fill(0);
  block.write(header.name, 0, 100, 'latin1');
  octal(block, 100, 7, header.mode & 0o7777);
  octal(block, 108, 7, header.uid);
  octal(block, 116, 7, header.gid);
  octal(block, 124, 11, header.size);
  octal(block, 136, 11, header.mtime);
  block.fill(0x20, 148, 156); // The checksum is computed with its own field as spaces.
  block[156] = header.typeflag;
  block.write(header.linkname, 157, 100, 'latin1');
  block.write('ustar\x0000', 257, 8, 'latin1');
  block.write(header.prefix, 345, 155, 'latin1');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += block[i]!;
  octal(block, 148, 6, sum);
  block[155] = 0x20;
}

/** The bytes of `header`: 512, or more with a pax extended header in front. */
export function encodeHeader(header: TarEntryHeader): Buffer {
  const linkname = header.linkname ?? '';
  const mtime = Math.floor(header.mtimeMs / 1000);
  const pax: string[] = [];
  const split = ASCII.test(header.name) ? splitName(header.name) : undefined;
  if (!split) pax.push(paxRecord('path', header.name));
  const linkFits = linkname.length <= 100 && ASCII.test(linkname);
  if (!linkFits) pax.push(paxRecord('linkpath', linkname));
  if (header.uid > MAX_ID) pax.push(paxRecord('uid', String(header.uid)));
  if (header.gid > MAX_ID) pax.push(paxRecord('gid', String(header.gid)));
  if (header.size > MAX_SIZE) pax.push(paxRecord('size', String(header.size)));
  if (mtime < 0 || mtime > MAX_TIME) pax.push(paxRecord('mtime', String(mtime)));

  const fields = {
    name: split?.name ?? header.name.replace(/[^\x20-\x7e]/g, '_').slice(-100),
    prefix: split?.prefix ?? '',
    typeflag: TYPEFLAG[header.type],
    mode: header.mode,
    uid: header.uid > MAX_ID ? 0 : header.uid,
    gid: header.gid > MAX_ID ? 0 : header.gid,
    size: header.size > MAX_SIZE ? 0 : header.size,
    mtime: mtime < 0 || mtime > MAX_TIME ? 0 : mtime,
    linkname: linkFits ? linkname : '',
  };
  if (pax.length === 0) {
    const out = Buffer.allocUnsafe(BLOCK);
    ustar(fields, out, 0);
    return out;
  }
  const records = Buffer.from(pax.join(''));
  const padded = Math.ceil(records.length / BLOCK) * BLOCK;
  const out = Buffer.alloc(BLOCK + padded + BLOCK);
  ustar({ ...fields, name: 'PaxHeader', prefix: '', typeflag: TYPEFLAG.pax, size: records.length, linkname: '' }, out, 0);
  records.copy(out, BLOCK);
  ustar(fields, out, BLOCK + padded);
  return out;
}
