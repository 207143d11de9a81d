/**
 * Encryption of archives and manifest copies in the age format (https://age-encryption.org/v1, binary, not
 * armored), so `age -d -i key.txt archive.tar.gz.age | tar -tz` always gets the data back without this tool.
 *
 *   encrypt: key -> [library Encrypter writes the header, we keep its file key] -> header || nonce
 *            plaintext -> 64 KiB chunks -> ChaCha20-Poly1305 (payload.ts) -> ciphertext
 *   decrypt: ciphertext -> header (scanned here, authenticated by the library's Decrypter, which unwraps the file
 *            key with the identities or the passphrase) -> nonce -> chunks -> plaintext
 *
 * Both are Node Transforms for `stream.pipeline`: encryption goes between gzip and the SHA-256 digest, decryption
 * between the digest and gunzip. Memory stays flat (one 64 KiB chunk and the stream buffers).
 *
 * UNTRUSTED OUTPUT: decryption emits each chunk once that chunk has authenticated, but before later chunks have.
 * A tampered or truncated archive therefore yields some genuine-looking plaintext before the stream fails with
 * DECRYPT_FAILED. Treat everything decrypted as untrusted until the pipeline has ended without error: write it to
 * staging only, and swap it into place (or report "verified") only after the end.
 *
 * Failures are BackupErrors with one-line messages that say which failure it is; no message, detail or cause ever
 * holds a passphrase or a private key (library errors, which may quote a key, are never passed on).
 */
import { Readable, Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Decrypter, Encrypter, type Recipient } from 'age-encryption';
import { BackupError } from '../errors.js';
import { detectArmoredAge, scanAgeHeader, type AgeHeaderInfo } from './header.js';
import { checkEncryptionKey, DEFAULT_WORK_FACTOR, MAX_WORK_FACTOR, type DecryptionKey, type EncryptionKey } from './keys.js';
import { CHUNK_BYTES, NONCE_BYTES, SEALED_CHUNK_BYTES, TAG_BYTES, openChunk, payloadKey, sealChunk } from './payload.js';
import { NativeScryptIdentity, NativeScryptRecipient, WorkFactorTooHigh } from './scrypt.js';

/** Why decryption failed, as `details.reason` of the BackupError. */
export type DecryptFailure =
  | 'not-age'
  | 'header-damaged'
  | 'header-authentication'
  | 'no-matching-identity'
  | 'wrong-passphrase'
  | 'unsupported-recipients'
  | 'work-factor-too-high'
  | 'truncated'
  | 'authentication';

export interface DecryptOptions {
  /** Names what is decrypted in messages, e.g. "archive 20261124T020000Z-full-7f3a.tar.gz.age"; default "the archive". */
  subject?: string;
}

const STREAM_BUFFER = 1 << 20;

function failed(reason: DecryptFailure, message: string, details: Record<string, unknown> = {}): BackupError {
  return new BackupError('DECRYPT_FAILED', message, { reason, ...details });
}

/**
 * The error for an encrypted archive read without the secret it needs. Readers that know from the index that an
 * archive is encrypted call it before opening anything; the decrypt stream raises it too, from the header.
 */
export function keyRequired(mode: 'recipients' | 'passphrase', subject = 'the archive'): BackupError {
  return new BackupError(
    'KEY_REQUIRED',
    mode === 'passphrase'
      ? `${subject} is encrypted with a passphrase: set MCP_BACKUP_PASSPHRASE, or run on a terminal to be asked for it`
      : `${subject} is encrypted to public keys: pass --identity FILE with the private key (made by age-keygen) of one of them`,
    { mode },
  );
}

/** Failures that mean "wrong or missing key", not "damaged file". */
const KEY_FAILURES: ReadonlySet<unknown> = new Set<DecryptFailure>(['no-matching-identity', 'wrong-passphrase', 'unsupported-recipients', 'work-factor-too-high']);

/**
 * True when `error` says the key was wrong or missing (KEY_REQUIRED, wrong identity, wrong passphrase, a key type or
 * work factor this tool does not handle) rather than that the bytes are damaged. Verify uses it to fail the command
 * instead of reporting the backup as broken.
 */
export function isKeyFailure(error: unknown): boolean {
  return error instanceof BackupError && (error.code === 'KEY_REQUIRED' || (error.code === 'DECRYPT_FAILED' && KEY_FAILURES.has(error.details.reason)));
}

/** Encryption's header and payload key, made once per file. */
interface FileStart {
  /** The header and the payload nonce: the first bytes of the file. */
  prefix: Buffer;
  key: Buffer;
}

/**
 * Lets the library write the header of an empty file and keeps its file key: the library does the recipient
 * stanzas and the header MAC, payload.ts the payload. The library's own sealed empty chunk is checked against ours,
 * so a change in either one fails loudly here instead of writing archives nobody can read.
 */
async function startFile(key: EncryptionKey): Promise<FileStart> {
  const encrypter = new Encrypter();
  let fileKey: Uint8Array | undefined;
  const keep = (k: Uint8Array) => {
    fileKey = Uint8Array.from(k);
  };
  if (key.mode === 'recipients') {
    for (const recipient of key.recipients) encrypter.addRecipient(recipient);
    const capture: Recipient = {
      wrapFileKey: (k) => {
        keep(k);
        return [];
      },
    };
    encrypter.addRecipient(capture);
  } else {
    const scrypt = new NativeScryptRecipient(key.passphrase, key.workFactor ?? DEFAULT_WORK_FACTOR);
    const capture: Recipient = {
      wrapFileKey: (k) => {
        keep(k);
        return scrypt.wrapFileKey(k);
      },
    };
    encrypter.addRecipient(capture);
  }
  const empty = await encrypter.encrypt(new Uint8Array(0));
  const bytes = Buffer.from(empty.buffer, empty.byteOffset, empty.length);
  const prefix = bytes.subarray(0, bytes.length - TAG_BYTES);
  const scan = scanAgeHeader(prefix);
  if (fileKey === undefined || scan.state !== 'complete' || scan.info.length + NONCE_BYTES !== prefix.length) {
    throw new Error('age-encryption produced an unexpected header');
  }
  const payload = payloadKey(fileKey, prefix.subarray(scan.info.length));
  const [, tag] = sealChunk(payload, 0, true, new Uint8Array(0));
  if (!tag.equals(bytes.subarray(bytes.length - TAG_BYTES))) throw new Error('age-encryption payload key derivation does not match');
  return { prefix: Buffer.from(prefix), key: payload };
}

/** A Transform that encrypts everything written to it into one age file. */
class AgeEncryptStream extends Transform {
  readonly #start: Promise<FileStart>;
  #file: FileStart | undefined;
  /** Plaintext waiting to fill a chunk; a full chunk is sealed only once more data (or the end) comes. */
  readonly #plain = Buffer.allocUnsafe(CHUNK_BYTES);
  #used = 0;
  #counter = 0;

  constructor(key: EncryptionKey) {
    super({ writableHighWaterMark: STREAM_BUFFER, readableHighWaterMark: STREAM_BUFFER });
    this.#start = startFile(key);
    this.#start.catch(() => undefined); // Awaited by the first write or the end.
  }

  async #ready(): Promise<FileStart> {
    if (this.#file) return this.#file;
    try {
      this.#file = await this.#start;
    } catch (error) {
      if (error instanceof BackupError) throw error;
      // Never the library's message: it may quote a key.
      throw new BackupError('IO', `age encryption could not start: ${error instanceof Error && error.message.startsWith('scrypt failed') ? error.message : 'internal error'}`);
    }
    this.push(this.#file.prefix);
    return this.#file;
  }

  #seal(file: FileStart, chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#used === CHUNK_BYTES) {
        for (const part of sealChunk(file.key, this.#counter++, false, this.#plain)) this.push(part);
        this.#used = 0;
      }
      const n = Math.min(CHUNK_BYTES - this.#used, chunk.length - offset);
      chunk.copy(this.#plain, this.#used, offset, offset + n);
      this.#used += n;
      offset += n;
    }
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#file) {
      this.#seal(this.#file, chunk);
      callback();
      return;
    }
    this.#ready().then(
      (file) => {
        this.#seal(file, chunk);
        callback();
      },
      (error: unknown) => callback(error as Error),
    );
  }

  override _flush(callback: TransformCallback): void {
    this.#ready().then(
      (file) => {
        for (const part of sealChunk(file.key, this.#counter++, true, this.#plain.subarray(0, this.#used))) this.push(part);
        this.#used = 0;
        callback();
      },
      (error: unknown) => callback(error as Error),
    );
  }
}

/**
 * A Transform that turns plaintext into a standard age file, to the recipients or with the passphrase of `key`.
 * Throws USAGE at once for a bad key (no recipient, malformed recipient, empty passphrase). With a passphrase, the
 * first write waits for scrypt (about 1 s and 256 MiB at the default work factor, off the main thread).
 */
export function createEncryptStream(key: EncryptionKey): Transform {
  return new AgeEncryptStream(checkEncryptionKey(key));
}

/** Parses the header, then unwraps the file key with the library; maps every failure to a message that says which. */
async function unwrapFileKey(header: Buffer, info: AgeHeaderInfo, key: DecryptionKey, subject: string): Promise<Uint8Array> {
  const identities = key.identities ?? [];
  const passphrase = key.passphrase !== undefined && key.passphrase.length > 0 ? key.passphrase : undefined;
  if (info.mode === 'other') {
    const types = [...new Set(info.stanzaTypes)].join(', ') || 'none';
    throw failed('unsupported-recipients', `cannot decrypt ${subject}: it is encrypted to key types this tool does not support (${types}): decrypt it with the age CLI`);
  }
  if (info.mode === 'passphrase' && passphrase === undefined) throw keyRequired('passphrase', subject);
  if (info.mode === 'recipients' && identities.length === 0) throw keyRequired('recipients', subject);
  const decrypter = new Decrypter();
  try {
    for (const identity of identities) decrypter.addIdentity(identity);
  } catch {
    throw new BackupError('USAGE', 'an identity given is not a valid age identity (AGE-SECRET-KEY-1...)');
  }
  if (passphrase !== undefined) decrypter.addIdentity(new NativeScryptIdentity(passphrase, MAX_WORK_FACTOR));
  try {
    return await decrypter.decryptHeader(header);
  } catch (error) {
    if (error instanceof WorkFactorTooHigh) {
      throw failed(
        'work-factor-too-high',
        `cannot decrypt ${subject}: its passphrase asks for an scrypt work factor of ${error.workFactor}, above the ${MAX_WORK_FACTOR} this tool accepts: decrypt it with the age CLI`,
        { workFactor: error.workFactor },
      );
    }
    const message = error instanceof Error ? error.message : '';
    if (message.startsWith('no identity matched')) {
      if (info.mode === 'passphrase') throw failed('wrong-passphrase', `cannot decrypt ${subject}: wrong passphrase`);
      const count = info.stanzaTypes.filter((t) => t === 'X25519').length;
      throw failed(
        'no-matching-identity',
        `cannot decrypt ${subject}: no identity matches its recipients (${count} public key${count === 1 ? '' : 's'}): pass the --identity file whose public key was used to encrypt it`,
      );
    }
    if (message === 'invalid header HMAC') {
      throw failed('header-authentication', `${subject} is damaged or was tampered with: its age header failed authentication`);
    }
    throw failed('header-damaged', `${subject} is damaged or was tampered with: its age header is malformed`);
  }
}

function notAge(subject: string, head: Buffer): BackupError {
  return detectArmoredAge(head)
    ? failed('not-age', `${subject} is an ASCII-armored age file (age -a); this tool reads only the binary format it writes`)
    : failed('not-age', `${subject} is not an age-encrypted file`);
}

/** A Transform that decrypts one age file. See the header comment: its output is untrusted until it ends cleanly. */
class AgeDecryptStream extends Transform {
  readonly #key: DecryptionKey;
  readonly #subject: string;
  #state: 'header' | 'nonce' | 'payload' = 'header';
  /** Bytes kept while the header and the nonce come in (at most MAX_HEADER_BYTES + a chunk). */
  #head: Buffer = Buffer.alloc(0);
  #headerLength = 0;
  /** Ciphertext bytes received so far, for messages. */
  #received = 0;
  #fileKey: Uint8Array | undefined;
  #payloadKey: Buffer | undefined;
  /** Sealed bytes of the current chunk; a full chunk is opened only once more data comes (the last one is special). */
  readonly #sealed = Buffer.allocUnsafe(SEALED_CHUNK_BYTES);
  #used = 0;
  #counter = 0;

  constructor(key: DecryptionKey, options: DecryptOptions) {
    super({ writableHighWaterMark: STREAM_BUFFER, readableHighWaterMark: STREAM_BUFFER });
    this.#key = key;
    this.#subject = options.subject ?? 'the archive';
  }

  /** Ciphertext offset of the current chunk, for messages. */
  #offset(): number {
    return this.#headerLength + NONCE_BYTES + this.#counter * SEALED_CHUNK_BYTES;
  }

  #open(last: boolean): void {
    const key = this.#payloadKey as Buffer;
    const plain = openChunk(key, this.#counter, last, this.#sealed.subarray(0, this.#used));
    if (plain === undefined) {
      const offset = this.#offset();
      throw last
        ? failed('truncated', `${this.#subject} is truncated or its end was altered: authentication failed at byte ${offset}`, { offset })
        : failed('authentication', `${this.#subject} is damaged or was tampered with: authentication failed at byte ${offset}`, { offset });
    }
    if (last && plain.length === 0 && this.#counter > 0) {
      const offset = this.#offset();
      throw failed('authentication', `${this.#subject} is damaged or was tampered with: it ends with an empty chunk at byte ${offset}`, { offset });
    }
    this.#counter++;
    this.#used = 0;
    if (plain.length > 0) this.push(plain);
  }

  #payload(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#used === SEALED_CHUNK_BYTES) this.#open(false);
      const n = Math.min(SEALED_CHUNK_BYTES - this.#used, chunk.length - offset);
      chunk.copy(this.#sealed, this.#used, offset, offset + n);
      this.#used += n;
      offset += n;
    }
  }

  /** Header and nonce phase; resolves once the rest of `chunk` (if any) has gone to the payload. */
  async #headerPhase(chunk: Buffer): Promise<void> {
    this.#head = this.#head.length === 0 ? chunk : Buffer.concat([this.#head, chunk]);
    if (this.#state === 'header') {
      const scan = scanAgeHeader(this.#head);
      if (scan.state === 'not-age') throw notAge(this.#subject, this.#head);
      if (scan.state === 'incomplete') {
        if (scan.tooLong) throw failed('header-damaged', `${this.#subject} is damaged or was tampered with: its age header does not end`);
        return;
      }
      this.#headerLength = scan.info.length;
      const fileKey = await unwrapFileKey(this.#head.subarray(0, scan.info.length), scan.info, this.#key, this.#subject);
      this.#head = this.#head.subarray(scan.info.length);
      this.#state = 'nonce';
      this.#fileKey = fileKey;
    }
    if (this.#head.length < NONCE_BYTES) return;
    this.#payloadKey = payloadKey(this.#fileKey as Uint8Array, this.#head.subarray(0, NONCE_BYTES));
    this.#fileKey = undefined;
    const rest = this.#head.subarray(NONCE_BYTES);
    this.#head = Buffer.alloc(0);
    this.#state = 'payload';
    this.#payload(rest);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#received += chunk.length;
    if (this.#state === 'payload') {
      try {
        this.#payload(chunk);
      } catch (error) {
        callback(error as Error);
        return;
      }
      callback();
      return;
    }
    this.#headerPhase(chunk).then(
      () => callback(),
      (error: unknown) => callback(error as Error),
    );
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (this.#state === 'header') {
        const scan = scanAgeHeader(this.#head);
        if (this.#head.length === 0) throw failed('not-age', `${this.#subject} is empty, not an age-encrypted file`);
        if (scan.state === 'not-age') throw notAge(this.#subject, this.#head);
        throw failed('truncated', `${this.#subject} is truncated: it ends inside its age header`, { offset: this.#head.length });
      }
      if (this.#state === 'nonce' || this.#used < TAG_BYTES) {
        throw failed('truncated', `${this.#subject} is truncated: it ends at byte ${this.#received}`, { offset: this.#received });
      }
      this.#open(true);
    } catch (error) {
      callback(error as Error);
      return;
    }
    callback();
  }
}

/**
 * A Transform that decrypts an age file with the identities and/or passphrase of `key`. Fails with DECRYPT_FAILED
 * (wrong identity, wrong passphrase, damaged, tampered or truncated file; `details.reason` says which) or
 * KEY_REQUIRED (the file needs a passphrase or an identity that `key` does not have).
 *
 * Its output is untrusted until the stream ends without error: stage it, and use it only after the end.
 */
export function createDecryptStream(key: DecryptionKey, options: DecryptOptions = {}): Transform {
  return new AgeDecryptStream(key, options);
}

async function collect(source: Readable, through: Transform): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(
    source,
    through,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk);
        callback();
      },
    }),
  );
  return Buffer.concat(chunks);
}

/** Encrypts a small file held in memory (the manifest copy) into a complete age file. */
export function encryptBuffer(key: EncryptionKey, data: Uint8Array): Promise<Buffer> {
  return collect(Readable.from([Buffer.from(data.buffer, data.byteOffset, data.length)]), createEncryptStream(key));
}

/** Decrypts a complete age file held in memory; the result is returned only once the whole file authenticated. */
export function decryptBuffer(key: DecryptionKey, data: Uint8Array, options: DecryptOptions = {}): Promise<Buffer> {
  return collect(Readable.from([Buffer.from(data.buffer, data.byteOffset, data.length)]), createDecryptStream(key, options));
}
