import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Decrypter, Encrypter, generateIdentity, identityToRecipient } from 'age-encryption';
import { beforeAll, describe, expect, it } from 'vitest';
import { BackupError } from '../errors.js';
import { createDecryptStream, createEncryptStream, decryptBuffer, encryptBuffer, isKeyFailure, keyRequired } from './age.js';
import { inspectAgeHeader } from './header.js';
import type { EncryptionKey } from './keys.js';
import { CHUNK_BYTES, SEALED_CHUNK_BYTES, payloadKey, sealChunk } from './payload.js';

// A low scrypt work factor keeps passphrase tests fast; the default (18) is exercised against the age CLI.
const PASSPHRASE = 'correct horse battery staple 7f3a';
const passphraseKey: EncryptionKey = { mode: 'passphrase', passphrase: PASSPHRASE, workFactor: 10 };

let identity: string;
let recipient: string;
let otherIdentity: string;
let recipientsKey: EncryptionKey;

beforeAll(async () => {
  identity = await generateIdentity();
  recipient = await identityToRecipient(identity);
  otherIdentity = await generateIdentity();
  recipientsKey = { mode: 'recipients', recipients: [recipient] };
});

function pattern(size: number, seed = 1): Buffer {
  const data = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) data[i] = (i * 131 + seed * 7 + (i >> 8)) & 0xff;
  return data;
}

/** Feeds `data` in pieces of `piece` bytes through `through`, collecting the output. */
async function run(through: NodeJS.ReadWriteStream, data: Buffer, piece = 1 << 20): Promise<{ output: Buffer; error?: BackupError }> {
  const chunks: Buffer[] = [];
  const pieces = (function* () {
    for (let i = 0; i < data.length; i += piece) yield data.subarray(i, i + piece);
  })();
  try {
    await pipeline(
      Readable.from(pieces),
      through,
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          chunks.push(chunk);
          callback();
        },
      }),
    );
    return { output: Buffer.concat(chunks) };
  } catch (error) {
    if (!(error instanceof BackupError)) throw error;
    return { output: Buffer.concat(chunks), error };
  }
}

/** Expects a BackupError, checks it is one line and holds no secret, and returns it. */
async function failure(promise: Promise<unknown>, code: string, reason?: string): Promise<BackupError> {
  const error = await promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BackupError);
  const backupError = error as BackupError;
  expect(backupError.code).toBe(code);
  if (reason) expect(backupError.details.reason).toBe(reason);
  expectNoSecret(backupError);
  return backupError;
}

function expectNoSecret(error: BackupError): void {
  expect(error.message).not.toContain('\n');
  const everything = JSON.stringify({ message: error.message, details: error.details, stack: error.stack, cause: String(error.cause) });
  for (const secret of [PASSPHRASE, identity, otherIdentity, identity.slice(16, 40)]) {
    expect(everything).not.toContain(secret);
  }
  expect(everything).not.toMatch(/AGE-SECRET-KEY-1[0-9A-Z]{8}/);
}

describe('round trips', () => {
  // Every chunk shape: empty, short, exactly one chunk, one byte over, several chunks, exact multiples.
  const sizes = [0, 1, 100, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 2 * CHUNK_BYTES, 3 * CHUNK_BYTES + 17, 1_000_000];

  it.each(sizes)('%i bytes to a recipient, through the streams, in odd pieces', async (size) => {
    const data = pattern(size);
    const encrypted = await run(createEncryptStream(recipientsKey), data, 4099);
    expect(encrypted.error).toBeUndefined();
    expect(inspectAgeHeader(encrypted.output)?.mode).toBe('recipients');
    const decrypted = await run(createDecryptStream({ identities: [identity] }), encrypted.output, 7919);
    expect(decrypted.error).toBeUndefined();
    expect(decrypted.output.equals(data)).toBe(true);
  });

  it('decrypts when the ciphertext comes one byte at a time', async () => {
    const data = pattern(CHUNK_BYTES + 300);
    const encrypted = await encryptBuffer(recipientsKey, data);
    const decrypted = await run(createDecryptStream({ identities: [identity] }), encrypted, 1);
    expect(decrypted.output.equals(data)).toBe(true);
  });

  it('with a passphrase', async () => {
    const data = pattern(200_000);
    const encrypted = await encryptBuffer(passphraseKey, data);
    expect(inspectAgeHeader(encrypted)).toMatchObject({ mode: 'passphrase', stanzaTypes: ['scrypt'], workFactor: 10 });
    expect((await decryptBuffer({ passphrase: PASSPHRASE }, encrypted)).equals(data)).toBe(true);
    // A key holding both an identity and the passphrase works too.
    expect((await decryptBuffer({ identities: [otherIdentity], passphrase: PASSPHRASE }, encrypted)).equals(data)).toBe(true);
  });

  it('to several recipients, each identity alone decrypts', async () => {
    const second = await identityToRecipient(otherIdentity);
    const data = pattern(70_000);
    const encrypted = await encryptBuffer({ mode: 'recipients', recipients: [recipient, second] }, data);
    expect(inspectAgeHeader(encrypted)?.stanzaTypes).toEqual(['X25519', 'X25519']);
    expect((await decryptBuffer({ identities: [identity] }, encrypted)).equals(data)).toBe(true);
    expect((await decryptBuffer({ identities: [otherIdentity] }, encrypted)).equals(data)).toBe(true);
  });

  it('a new file key and nonce every time', async () => {
    const a = await encryptBuffer(recipientsKey, Buffer.from('same'));
    const b = await encryptBuffer(recipientsKey, Buffer.from('same'));
    expect(a.equals(b)).toBe(false);
  });
});

describe('the age-encryption library reads what we write, and we read what it writes', () => {
  it.each([0, 5, CHUNK_BYTES, 3 * CHUNK_BYTES + 1])('%i bytes, X25519', async (size) => {
    const data = pattern(size, 3);
    const ours = await encryptBuffer(recipientsKey, data);
    const decrypter = new Decrypter();
    decrypter.addIdentity(identity);
    expect(Buffer.from(await decrypter.decrypt(ours)).equals(data)).toBe(true);

    const encrypter = new Encrypter();
    encrypter.addRecipient(recipient);
    const theirs = await encrypter.encrypt(data);
    expect((await decryptBuffer({ identities: [identity] }, theirs)).equals(data)).toBe(true);
  });

  it('passphrase (scrypt), both ways', async () => {
    const data = pattern(100_000, 5);
    const ours = await encryptBuffer(passphraseKey, data);
    const decrypter = new Decrypter();
    decrypter.addPassphrase(PASSPHRASE);
    expect(Buffer.from(await decrypter.decrypt(ours)).equals(data)).toBe(true);

    const encrypter = new Encrypter();
    encrypter.setPassphrase(PASSPHRASE);
    encrypter.setScryptWorkFactor(10);
    const theirs = await encrypter.encrypt(data);
    expect((await decryptBuffer({ passphrase: PASSPHRASE }, theirs)).equals(data)).toBe(true);
  });
});

describe('failures say which, and hold no secret', () => {
  let sealed: Buffer;
  let data: Buffer;
  beforeAll(async () => {
    data = pattern(1_500_000, 9);
    sealed = await encryptBuffer(recipientsKey, data);
  });

  it('wrong identity', async () => {
    const error = await failure(decryptBuffer({ identities: [otherIdentity] }, sealed), 'DECRYPT_FAILED', 'no-matching-identity');
    expect(error.message).toBe(
      'cannot decrypt the archive: no identity matches its recipients (1 public key): pass the --identity file whose public key was used to encrypt it',
    );
  });

  it('wrong passphrase', async () => {
    const encrypted = await encryptBuffer(passphraseKey, Buffer.from('secret data'));
    const error = await failure(decryptBuffer({ passphrase: 'not it' }, encrypted, { subject: 'archive x.tar.gz.age' }), 'DECRYPT_FAILED', 'wrong-passphrase');
    expect(error.message).toBe('cannot decrypt archive x.tar.gz.age: wrong passphrase');
  });

  it('isKeyFailure tells a key problem from damage', async () => {
    expect(isKeyFailure(await decryptBuffer({ identities: [otherIdentity] }, sealed).catch((e: unknown) => e))).toBe(true);
    expect(isKeyFailure(await decryptBuffer({}, sealed).catch((e: unknown) => e))).toBe(true);
    expect(isKeyFailure(await decryptBuffer({ identities: [identity] }, sealed.subarray(0, sealed.length - 5)).catch((e: unknown) => e))).toBe(false);
    expect(isKeyFailure(new Error('x'))).toBe(false);
  });

  it('the wrong kind of key, or none, is KEY_REQUIRED naming what is needed', async () => {
    const withPassphrase = await encryptBuffer(passphraseKey, Buffer.from('x'));
    expect((await failure(decryptBuffer({ identities: [identity] }, withPassphrase), 'KEY_REQUIRED')).message).toMatch(/encrypted with a passphrase: set MCP_BACKUP_PASSPHRASE/);
    expect((await failure(decryptBuffer({ passphrase: PASSPHRASE }, sealed), 'KEY_REQUIRED')).message).toMatch(/encrypted to public keys: pass --identity FILE/);
    expect((await failure(decryptBuffer({}, sealed), 'KEY_REQUIRED')).details).toEqual({ mode: 'recipients' });
    expect(keyRequired('passphrase', 'backup 2026').message).toMatch(/^backup 2026 is encrypted with a passphrase/);
  });

  it('a byte flipped in the middle fails authentication, after earlier plaintext was emitted: stage, then swap', async () => {
    const tampered = Buffer.from(sealed);
    const at = Math.floor(tampered.length / 2);
    tampered[at] = (tampered[at] ?? 0) ^ 0x01;
    const { output, error } = await run(createDecryptStream({ identities: [identity] }), tampered);
    expect(error?.code).toBe('DECRYPT_FAILED');
    expect(error?.details.reason).toBe('authentication');
    const header = inspectAgeHeader(sealed)?.length ?? 0;
    const chunkStart = header + 16 + Math.floor((at - header - 16) / SEALED_CHUNK_BYTES) * SEALED_CHUNK_BYTES;
    expect(error?.message).toBe(`the archive is damaged or was tampered with: authentication failed at byte ${chunkStart}`);
    expectNoSecret(error as BackupError);
    // What came out before the failure is genuine, and there is a lot of it: this is why restore must stage.
    expect(output.length).toBeGreaterThan(500_000);
    expect(output.equals(data.subarray(0, output.length))).toBe(true);
  });

  it.each([
    ['inside the header', 30, 'truncated'],
    ['inside the nonce', -1, 'truncated'],
    ['at a chunk boundary', 2, 'truncated'],
    ['in the middle of a chunk', 3, 'truncated'],
    ['one byte short', 4, 'truncated'],
  ] as const)('truncated %s', async (_label, where, reason) => {
    const header = inspectAgeHeader(sealed)?.length ?? 0;
    const cut =
      where === -1 ? header + 8 : where === 2 ? header + 16 + 3 * SEALED_CHUNK_BYTES : where === 3 ? header + 16 + 5 * SEALED_CHUNK_BYTES + 1000 : where === 4 ? sealed.length - 1 : where;
    const error = await failure(decryptBuffer({ identities: [identity] }, sealed.subarray(0, cut)), 'DECRYPT_FAILED', reason);
    expect(error.message).toMatch(/^the archive is truncated/);
  });

  it('bytes appended after the end fail', async () => {
    await failure(decryptBuffer({ identities: [identity] }, Buffer.concat([sealed, Buffer.from('more')])), 'DECRYPT_FAILED', 'truncated');
  });

  it('chunk framing is checked: a hand-made file with an empty last chunk after a full one is refused', async () => {
    // Built with the file key the library hands to a recipient, and payload.ts: the same parts our encrypter uses.
    let fileKey = new Uint8Array(0);
    const encrypter = new Encrypter();
    encrypter.addRecipient(recipient);
    encrypter.addRecipient({
      wrapFileKey: (k) => {
        fileKey = Uint8Array.from(k);
        return [];
      },
    });
    const empty = Buffer.from(await encrypter.encrypt(new Uint8Array(0)));
    const prefix = empty.subarray(0, empty.length - 16);
    const key = payloadKey(fileKey, prefix.subarray(prefix.length - 16));
    const full = pattern(CHUNK_BYTES);
    const build = (...chunks: [Buffer, boolean][]) => Buffer.concat([prefix, ...chunks.flatMap(([plain, last], i) => sealChunk(key, i, last, plain))]);

    // The helper is right: a full chunk then a short last one decrypts.
    expect((await decryptBuffer({ identities: [identity] }, build([full, false], [Buffer.from('end'), true]))).equals(Buffer.concat([full, Buffer.from('end')]))).toBe(true);
    const error = await failure(decryptBuffer({ identities: [identity] }, build([full, false], [Buffer.alloc(0), true])), 'DECRYPT_FAILED', 'authentication');
    expect(error.message).toMatch(/ends with an empty chunk at byte \d+$/);
    // A short chunk that is not the last, and a full last chunk marked as not last, are refused too.
    await failure(decryptBuffer({ identities: [identity] }, build([Buffer.from('short'), false], [Buffer.from('end'), true])), 'DECRYPT_FAILED');
    await failure(decryptBuffer({ identities: [identity] }, build([full, false])), 'DECRYPT_FAILED', 'truncated');
  });

  it('a tampered header is a header failure', async () => {
    const header = inspectAgeHeader(sealed)?.length ?? 0;
    const macTampered = Buffer.from(sealed);
    macTampered[header - 5] = macTampered[header - 5] === 0x41 ? 0x42 : 0x41;
    const mac = await failure(decryptBuffer({ identities: [identity] }, macTampered), 'DECRYPT_FAILED', 'header-authentication');
    expect(mac.message).toBe('the archive is damaged or was tampered with: its age header failed authentication');

    const malformed = Buffer.from(sealed.toString('latin1').replace('-> X25519 ', '-> X25519  '), 'latin1');
    await failure(decryptBuffer({ identities: [identity] }, malformed), 'DECRYPT_FAILED', 'header-damaged');
  });

  it('not an age file, and an empty one', async () => {
    expect((await failure(decryptBuffer({ identities: [identity] }, Buffer.from([0x1f, 0x8b, 8, 0, 0])), 'DECRYPT_FAILED', 'not-age')).message).toBe(
      'the archive is not an age-encrypted file',
    );
    await failure(decryptBuffer({ identities: [identity] }, Buffer.alloc(0)), 'DECRYPT_FAILED', 'not-age');
    await failure(decryptBuffer({ identities: [identity] }, Buffer.from('-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n')), 'DECRYPT_FAILED', 'not-age');
  });

  it('an SSH-encrypted file is unsupported', async () => {
    const ssh = Buffer.from('age-encryption.org/v1\n-> ssh-ed25519 abcd efgh\nYWJj\n--- AAAA\n0123456789abcdef');
    expect((await failure(decryptBuffer({ identities: [identity] }, ssh), 'DECRYPT_FAILED', 'unsupported-recipients')).message).toMatch(/ssh-ed25519/);
  });

  it('a passphrase file asking for too much scrypt work is refused before any work', async () => {
    const encrypted = await encryptBuffer(passphraseKey, Buffer.from('x'));
    const greedy = Buffer.from(encrypted.toString('latin1').replace(/ 10\n/, ' 30\n'), 'latin1');
    await failure(decryptBuffer({ passphrase: PASSPHRASE }, greedy), 'DECRYPT_FAILED', 'work-factor-too-high');
  });

  it('a malformed identity passed in a key is USAGE without quoting it', async () => {
    const bad = identity.slice(0, -3) + 'QQQ';
    const error = await failure(decryptBuffer({ identities: [bad] }, sealed), 'USAGE');
    expect(error.message).not.toContain(bad.slice(16));
  });

  it('a bad encryption key is refused at once', () => {
    expect(() => createEncryptStream({ mode: 'recipients', recipients: [] })).toThrow(BackupError);
    expect(() => createEncryptStream({ mode: 'passphrase', passphrase: '' })).toThrow(/passphrase is empty/);
  });
});

describe('memory stays flat', () => {
  it('200 MiB through encrypt and decrypt keeps RSS within 150 MiB of the start', { timeout: 120_000 }, async () => {
    const block = randomBytes(1 << 20);
    const total = 200;
    let sent = 0;
    const source = new Readable({
      read() {
        this.push(sent++ < total ? Buffer.from(block) : null);
      },
    });
    const hash = createHash('sha256');
    let bytes = 0;
    const before = process.memoryUsage().rss;
    let peak = before;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    try {
      await pipeline(
        source,
        createEncryptStream(recipientsKey),
        createDecryptStream({ identities: [identity] }),
        new Writable({
          write(chunk: Buffer, _encoding, callback) {
            hash.update(chunk);
            bytes += chunk.length;
            peak = Math.max(peak, process.memoryUsage().rss);
            callback();
          },
        }),
      );
    } finally {
      clearInterval(timer);
    }
    expect(bytes).toBe(total << 20);
    const expected = createHash('sha256');
    for (let i = 0; i < total; i++) expected.update(block);
    expect(hash.digest('hex')).toBe(expected.digest('hex'));
    expect(peak - before).toBeLessThan(150 * 1024 * 1024);
  });
});
