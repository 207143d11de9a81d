/**
 * age's passphrase recipient (the `scrypt` stanza of https://age-encryption.org/v1), on Node's native scrypt.
 *
 * The age-encryption library has the same recipient, but runs scrypt in JavaScript on the main thread (about 1.5 s
 * with the event loop blocked, here); Node's runs on the thread pool in about 1 s and lets progress, signals and the
 * daemon's timers go on. Both plug into the library's `Encrypter`/`Decrypter` through its Recipient and Identity
 * interfaces, so the header itself (encoding, MAC) stays the library's.
 *
 *   salt  = 16 random bytes
 *   key   = scrypt(passphrase, "age-encryption.org/v1/scrypt" || salt, N = 2^logN, r = 8, p = 1, 32 bytes)
 *   body  = ChaCha20-Poly1305(key, nonce = 0).seal(file key)        stanza: -> scrypt <base64(salt)> <logN>
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { Stanza, type Identity, type Recipient } from 'age-encryption';

const LABEL = Buffer.from('age-encryption.org/v1/scrypt', 'latin1');
const ZERO_NONCE = Buffer.alloc(12);
const TAG_BYTES = 16;

/** Thrown (as a plain Error, mapped by age.ts) when a file asks for more scrypt work than we allow. */
export class WorkFactorTooHigh extends Error {
  constructor(readonly workFactor: number) {
    super(`scrypt work factor ${workFactor} is too high`);
  }
}

function deriveKey(passphrase: string, salt: Buffer, logN: number): Promise<Buffer> {
  const N = 2 ** logN;
  return new Promise((resolve, reject) => {
    // The passphrase is encoded as UTF-8, as the age CLI does; maxmem leaves room over scrypt's 128 * N * r bytes.
    scrypt(passphrase, Buffer.concat([LABEL, salt]), 32, { N, r: 8, p: 1, maxmem: 256 * N * 8 }, (error, key) =>
      error ? reject(new Error(`scrypt failed: ${error.message}`)) : resolve(key),
    );
  });
}

function base64NoPad(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64').replace(/=+$/, '');
}

export class NativeScryptRecipient implements Recipient {
  readonly #passphrase: string;
  readonly #logN: number;

  constructor(passphrase: string, logN: number) {
    this.#passphrase = passphrase;
    this.#logN = logN;
  }

  async wrapFileKey(fileKey: Uint8Array): Promise<Stanza[]> {
    const salt = randomBytes(16);
    const key = await deriveKey(this.#passphrase, salt, this.#logN);
    const cipher = createCipheriv('chacha20-poly1305', key, ZERO_NONCE, { authTagLength: TAG_BYTES });
    const body = Buffer.concat([cipher.update(fileKey), cipher.final(), cipher.getAuthTag()]);
    return [new Stanza(['scrypt', base64NoPad(salt), String(this.#logN)], body)];
  }
}

export class NativeScryptIdentity implements Identity {
  readonly #passphrase: string;
  readonly #maxLogN: number;

  constructor(passphrase: string, maxLogN: number) {
    this.#passphrase = passphrase;
    this.#maxLogN = maxLogN;
  }

  /** Returns null when the passphrase is wrong; throws when the stanza is malformed or too costly. */
  async unwrapFileKey(stanzas: Stanza[]): Promise<Uint8Array | null> {
    for (const s of stanzas) {
      if (s.args[0] !== 'scrypt') continue;
      // The spec's rules, as the library's own scrypt identity applies them.
      if (stanzas.length !== 1) throw new Error('scrypt recipient is not the only one in the header');
      const [, saltText, logNText] = s.args;
      if (s.args.length !== 3 || saltText === undefined || logNText === undefined || !/^[1-9][0-9]*$/.test(logNText)) {
        throw new Error('invalid scrypt stanza');
      }
      const salt = Buffer.from(saltText, 'base64');
      if (salt.length !== 16 || base64NoPad(salt) !== saltText) throw new Error('invalid scrypt stanza');
      const logN = Number(logNText);
      if (logN > this.#maxLogN) throw new WorkFactorTooHigh(logN);
      if (s.body.length !== 32) throw new Error('invalid scrypt stanza');
      const key = await deriveKey(this.#passphrase, salt, logN);
      const body = Buffer.from(s.body);
      const decipher = createDecipheriv('chacha20-poly1305', key, ZERO_NONCE, { authTagLength: TAG_BYTES });
      decipher.setAuthTag(body.subarray(16));
      const fileKey = decipher.update(body.subarray(0, 16));
      try {
        decipher.final();
      } catch {
        return null;
      }
      return fileKey;
    }
    return null;
  }
}
