/**
 * src/crypto owns encryption: archives and manifest copies in the age format, and the keys that open them.
 *
 * - keys.ts: recipients (age1...), identity files (AGE-SECRET-KEY-1...), passphrase checks; messages never quote a
 *   secret.
 * - age.ts: createEncryptStream / createDecryptStream (Node Transforms for stream.pipeline), encryptBuffer /
 *   decryptBuffer for small files, and the mapping of every failure to DECRYPT_FAILED / KEY_REQUIRED / USAGE.
 * - header.ts: detectAge / inspectAgeHeader, which read the header without a key.
 * - payload.ts and scrypt.ts: the payload cipher and the passphrase recipient on Node's native crypto; the
 *   age-encryption library does the header, the X25519 recipients and the header MAC.
 *
 * Decrypted output is untrusted until the decrypt stream has ended without error (see age.ts): stage, then swap.
 */
export {
  createDecryptStream,
  createEncryptStream,
  decryptBuffer,
  encryptBuffer,
  isKeyFailure,
  keyRequired,
  type DecryptFailure,
  type DecryptOptions,
} from './age.js';
export { AGE_MAGIC, detectAge, detectArmoredAge, inspectAgeHeader, type AgeHeaderInfo } from './header.js';
export {
  DEFAULT_WORK_FACTOR,
  checkEncryptionKey,
  parseIdentities,
  parseRecipients,
  readIdentityFile,
  readRecipientsFile,
  recipientOf,
  type DecryptionKey,
  type EncryptionKey,
  type ReadIdentityOptions,
} from './keys.js';
