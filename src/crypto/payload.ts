/**
 * age's payload: the STREAM construction of https://age-encryption.org/v1, on Node's native ChaCha20-Poly1305.
 *
 *   payload key = HKDF-SHA256(ikm = file key, salt = 16-byte nonce, info = "payload", 32 bytes)
 *   plaintext in 64 KiB chunks, each sealed with ChaCha20-Poly1305 under the nonce
 *     11-byte big-endian chunk counter || 0x01 for the last chunk, 0x00 otherwise
 *   only the last chunk may be shorter than 64 KiB; it is empty only when the whole plaintext is.
 *
 * The age-encryption library implements the same in JavaScript at about 120 MB/s; OpenSSL's cipher runs over
 * 1 GB/s here, which keeps encryption off the critical path of a backup on two cores. The file key and the header
 * still come from the library (see age.ts), and the tests check every chunk shape against the library and the age
 * CLI both ways.
 */
import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';

export const CHUNK_BYTES = 64 * 1024;
export const TAG_BYTES = 16;
export const SEALED_CHUNK_BYTES = CHUNK_BYTES + TAG_BYTES;
export const NONCE_BYTES = 16;

/** 2^48 chunks of 64 KiB (16 EiB) is far beyond any archive; the counter field has room for 2^88. */
const MAX_CHUNKS = 2 ** 48;

export function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', fileKey, nonce, 'payload', 32));
}

function chunkNonce(counter: number, last: boolean): Buffer {
  if (counter >= MAX_CHUNKS) throw new Error('age payload too long');
  const nonce = Buffer.alloc(12);
  nonce.writeUIntBE(counter, 5, 6);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

/** Seals one chunk; returns ciphertext and tag as two buffers (pushed as they are, no copy). */
export function sealChunk(key: Buffer, counter: number, last: boolean, plain: Uint8Array): [Buffer, Buffer] {
  const cipher = createCipheriv('chacha20-poly1305', key, chunkNonce(counter, last), { authTagLength: TAG_BYTES });
  const body = cipher.update(plain);
  cipher.final();
  return [body, cipher.getAuthTag()];
}

/** Opens one sealed chunk; undefined when it does not authenticate. No plaintext is returned before it has. */
export function openChunk(key: Buffer, counter: number, last: boolean, sealed: Uint8Array): Buffer | undefined {
  if (sealed.length < TAG_BYTES) return undefined;
  const decipher = createDecipheriv('chacha20-poly1305', key, chunkNonce(counter, last), { authTagLength: TAG_BYTES });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  const plain = decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES));
  try {
    decipher.final();
  } catch {
    return undefined;
  }
  return plain;
}
