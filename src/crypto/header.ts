/**
 * The age header, read without any key: enough to tell an age file from other bytes, to find where the header ends,
 * and to say how the file was encrypted (to public keys or with a passphrase) so a reader asks for the right secret.
 * Authenticating the header is the library's job (`Decrypter.decryptHeader`), never this module's.
 *
 * Layout (https://age-encryption.org/v1):
 *
 *   age-encryption.org/v1\n
 *   -> X25519 <share>\n          one stanza per recipient: a "-> type args" line, then base64 body lines
 *   <body>\n
 *   --- <MAC>\n                  the header ends with this line
 *   <16-byte nonce><payload>     binary
 */

/** The first line of every (binary, not armored) age file. */
export const AGE_MAGIC = 'age-encryption.org/v1\n';

const MAGIC_BYTES = Buffer.from(AGE_MAGIC, 'latin1');
const ARMOR_MAGIC = Buffer.from('-----BEGIN AGE ENCRYPTED FILE-----', 'latin1');
const NEWLINE = 0x0a;

/** A header longer than this is refused: 1 MiB holds thousands of recipients. */
export const MAX_HEADER_BYTES = 1 << 20;

export interface AgeHeaderInfo {
  /** Bytes of the header, up to and including the MAC line's newline. */
  length: number;
  /** The first argument of each stanza, in order: "X25519", "scrypt", "ssh-ed25519"... */
  stanzaTypes: string[];
  /**
   * How the file key is wrapped: `passphrase` for a lone scrypt stanza, `recipients` when X25519 stanzas are present,
   * `other` for anything else (SSH keys, plugins), which this tool cannot decrypt.
   */
  mode: 'recipients' | 'passphrase' | 'other';
  /** The scrypt work factor (log2 N) of a passphrase-encrypted file. */
  workFactor?: number;
}

/**
 * True when `bytes` (the first bytes of a file; 22 are enough) begin an age file in the binary format this tool
 * writes. Fewer bytes than the magic line answer false.
 */
export function detectAge(bytes: Uint8Array): boolean {
  return bytes.length >= MAGIC_BYTES.length && Buffer.from(bytes.buffer, bytes.byteOffset, MAGIC_BYTES.length).equals(MAGIC_BYTES);
}

/** True when `bytes` begin an ASCII-armored age file (`age -a`), which this tool does not write or read. */
export function detectArmoredAge(bytes: Uint8Array): boolean {
  return bytes.length >= ARMOR_MAGIC.length && Buffer.from(bytes.buffer, bytes.byteOffset, ARMOR_MAGIC.length).equals(ARMOR_MAGIC);
}

/** What a scan of the first bytes found. */
export type HeaderScan =
  /** The bytes cannot begin an age file. */
  | { state: 'not-age' }
  /** So far so good: more bytes are needed (or the header is longer than MAX_HEADER_BYTES: see `tooLong`). */
  | { state: 'incomplete'; tooLong: boolean }
  | { state: 'complete'; info: AgeHeaderInfo };

/**
 * Scans the start of a file for a complete age header. Pure: never throws, whatever the bytes. It checks the shape
 * only (magic line, stanza lines, MAC line); the library checks the rest when it authenticates the header.
 */
export function scanAgeHeader(bytes: Uint8Array): HeaderScan {
  const prefix = Math.min(bytes.length, MAGIC_BYTES.length);
  if (!Buffer.from(bytes.buffer, bytes.byteOffset, prefix).equals(MAGIC_BYTES.subarray(0, prefix))) return { state: 'not-age' };
  const stanzaTypes: string[] = [];
  let workFactor: number | undefined;
  let start = MAGIC_BYTES.length;
  const limit = Math.min(bytes.length, MAX_HEADER_BYTES);
  while (start < limit) {
    const end = bytes.indexOf(NEWLINE, start);
    if (end < 0 || end >= limit) break;
    const line = Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('latin1');
    if (line.startsWith('---')) {
      const mode = stanzaTypes.length === 1 && stanzaTypes[0] === 'scrypt' ? 'passphrase' : stanzaTypes.includes('X25519') ? 'recipients' : 'other';
      return { state: 'complete', info: { length: end + 1, stanzaTypes, mode, ...(mode === 'passphrase' && workFactor !== undefined && { workFactor }) } };
    }
    if (line.startsWith('-> ')) {
      const args = line.slice(3).split(' ');
      const type = args[0] ?? '';
      stanzaTypes.push(type);
      if (type === 'scrypt' && /^[1-9][0-9]?$/.test(args[2] ?? '')) workFactor = Number(args[2]);
    }
    start = end + 1;
  }
  return { state: 'incomplete', tooLong: bytes.length >= MAX_HEADER_BYTES };
}

/**
 * Describes the age header at the start of `bytes` (for example the first 64 KiB of an archive), or undefined when
 * they do not hold a complete age header. `index rebuild` uses it to record how an archive was encrypted.
 */
export function inspectAgeHeader(bytes: Uint8Array): AgeHeaderInfo | undefined {
  const scan = scanAgeHeader(bytes);
  return scan.state === 'complete' ? scan.info : undefined;
}
