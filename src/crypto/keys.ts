/**
 * Keys: what to encrypt to, and what to decrypt with.
 *
 * - Recipients are age X25519 public keys (`age1...`, as `age-keygen` prints them), given one by one or in a
 *   recipients file (one a line, `#` comments, blank lines ignored: the format `age -R` reads).
 * - Identities are the matching private keys (`AGE-SECRET-KEY-1...`), read from identity files in the format
 *   `age-keygen -o key.txt` writes (comments with the public key, then the key).
 * - A passphrase is used with age's scrypt recipient, like `age -p`.
 *
 * Only X25519 keys are accepted: the age CLI of Debian (1.1) decrypts them, while post-quantum (`age1pq1...`), tag and
 * plugin recipients need a newer age or a plugin, and SSH keys are not supported by the age-encryption library.
 *
 * Secrets never appear in a message: a bad identity line is named by file and line number, never quoted, and a
 * recipient is quoted only when it looks like a public key (a passphrase typed by mistake is not echoed).
 */
import { promises as fs } from 'node:fs';
import { Encrypter, identityToRecipient } from 'age-encryption';
import { BackupError, errnoCode } from '../errors.js';

/** What to encrypt to. The passphrase, like every secret, must never be logged, printed or stored. */
export type EncryptionKey =
  | { mode: 'recipients'; recipients: string[] }
  | {
      mode: 'passphrase';
      passphrase: string;
      /**
       * scrypt work factor (log2 N), default 18 as `age -p` uses: about 1 s and 256 MiB per encryption and per
       * decryption. 10-20 accepted; below 18 only for tests (a weaker passphrase protection).
       */
      workFactor?: number;
    };

/**
 * What to decrypt with: identities, a passphrase, or both (each is tried). With neither, decryption fails with
 * KEY_REQUIRED naming what the file needs.
 */
export interface DecryptionKey {
  identities?: readonly string[];
  passphrase?: string;
}

/** Identity and recipient files are a few lines; anything much larger is not one. */
const MAX_KEY_FILE_BYTES = 1 << 20;

const SECRET_PREFIX = 'AGE-SECRET-KEY-';

function usage(message: string, details: Record<string, unknown> = {}): BackupError {
  return new BackupError('USAGE', message, details);
}

/** Where a key came from, for messages: "recipient 2", "keys/backup.pub line 3". */
function where(source: string | undefined, index: number): string {
  return source === undefined ? `recipient ${index + 1}` : `${source} line ${index + 1}`;
}

/** Checks one recipient and returns it trimmed; throws USAGE with a message that never echoes a possible secret. */
function checkRecipient(raw: string, label: string): string {
  const text = raw.trim();
  if (text.toUpperCase().startsWith(SECRET_PREFIX)) {
    throw usage(`${label} is a private key (AGE-SECRET-KEY-...), not a public key: give its public key instead (age-keygen -y KEYFILE prints it), and keep the private key off this host`);
  }
  if (/^(ssh-|ecdsa-|sk-ssh-|sk-ecdsa-)/.test(text)) {
    throw usage(`${label} is an SSH public key, which this tool does not support: make an age key with age-keygen and give its age1... public key`);
  }
  if (!text.startsWith('age1')) {
    throw usage(`${label} is not an age public key: expected age1... as age-keygen prints it`);
  }
  const shown = text.length > 20 ? `${text.slice(0, 12)}...${text.slice(-6)}` : text;
  const hrp = text.slice(0, text.lastIndexOf('1'));
  if (hrp !== 'age') {
    throw usage(
      `${label} (${shown}) is a post-quantum, tag or plugin recipient, which the age CLI of Debian cannot decrypt: use an X25519 key made by age-keygen (age1...)`,
    );
  }
  try {
    new Encrypter().addRecipient(text);
  } catch {
    throw usage(`${label} (${shown}) is not a valid age public key: check it was copied whole (age-keygen -y KEYFILE prints it)`);
  }
  return text;
}

/**
 * Validates recipients given as a list (command-line `--recipient`, platform.yaml) or as the text of a recipients
 * file, and returns them trimmed, without comments, blank lines or duplicates. Throws USAGE on the first bad one, or
 * when there is none.
 *
 * @param source names the file the text came from, for messages; omit for a list.
 */
export function parseRecipients(input: string | readonly string[], source?: string): string[] {
  const lines = typeof input === 'string' ? input.split(/\r?\n/) : input;
  const recipients: string[] = [];
  lines.forEach((line, index) => {
    const text = line.trim();
    if (typeof input === 'string' && (text === '' || text.startsWith('#'))) return;
    const recipient = checkRecipient(text, where(source, index));
    if (!recipients.includes(recipient)) recipients.push(recipient);
  });
  if (recipients.length === 0) {
    throw usage(source === undefined ? 'no recipient given: pass --recipient age1... (repeatable) or --recipients-file FILE' : `${source} holds no recipient: add age1... public keys, one a line`);
  }
  return recipients;
}

async function readKeyFile(file: string, what: string): Promise<{ text: string; mode: number }> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT') throw usage(`${what} ${file} does not exist`, { path: file });
    if (code === 'EACCES' || code === 'EPERM') throw usage(`${what} ${file} cannot be read: permission denied`, { path: file });
    if (code === 'EISDIR') throw usage(`${what} ${file} is a folder, not a file`, { path: file });
    throw usage(`${what} ${file} cannot be opened (${code ?? 'error'})`, { path: file });
  }
  try {
    const stat = await handle.stat();
    if (stat.isDirectory()) throw usage(`${what} ${file} is a folder, not a file`, { path: file });
    if (stat.size > MAX_KEY_FILE_BYTES) throw usage(`${what} ${file} is too large to be one (${stat.size} bytes)`, { path: file });
    const data = await handle.readFile();
    return { text: data.toString('utf8'), mode: stat.mode & 0o777 };
  } catch (error) {
    if (error instanceof BackupError) throw error;
    throw usage(`${what} ${file} cannot be read (${errnoCode(error) ?? 'error'})`, { path: file });
  } finally {
    await handle.close();
  }
}

/** Reads a recipients file (one `age1...` a line, `#` comments), as `--recipients-file` and platform.yaml name it. */
export async function readRecipientsFile(file: string): Promise<string[]> {
  const { text } = await readKeyFile(file, 'recipients file');
  return parseRecipients(text, file);
}

export interface ReadIdentityOptions {
  /**
   * Told when group or others have any access to the file. Loose modes are reported, not refused: age itself
   * accepts them, keys restored from removable media often have them, and refusing a restore in an emergency over a
   * mode is worse than a warning.
   */
  onWarning?: (message: string) => void;
}

/**
 * Parses the text of an identity file: `AGE-SECRET-KEY-1...` lines, `#` comments and blank lines. Throws USAGE,
 * naming the line but never quoting it, when a line is not an X25519 identity, or when there is none.
 */
export async function parseIdentities(text: string, source = 'identity file'): Promise<string[]> {
  if (/^-----BEGIN [A-Z ]*PRIVATE KEY-----/m.test(text)) {
    throw usage(`${source} is an SSH or PEM private key, which this tool does not support: pass an age identity made by age-keygen`);
  }
  if (text.startsWith('age-encryption.org/v1') || text.startsWith('-----BEGIN AGE ENCRYPTED FILE-----')) {
    throw usage(`${source} is itself encrypted (a passphrase-protected identity): decrypt it first with age -d, into a file only you can read`);
  }
  const identities: string[] = [];
  let publicKeys = 0;
  const lines = text.split(/\r?\n/);
  for (const [index, line] of lines.entries()) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    if (trimmed.startsWith('age1')) {
      publicKeys++;
      continue;
    }
    if (trimmed.startsWith('AGE-SECRET-KEY-PQ-1') || trimmed.startsWith('AGE-PLUGIN-')) {
      throw usage(`${where(source, index)} is a post-quantum or plugin identity, which this tool does not support: use an X25519 key made by age-keygen`);
    }
    if (!trimmed.startsWith('AGE-SECRET-KEY-1')) {
      throw usage(`${where(source, index)} is not an age identity: expected AGE-SECRET-KEY-1... as age-keygen writes it`);
    }
    try {
      // The library's own errors may quote the key (bech32 "Invalid checksum in ..."): never pass them on.
      await identityToRecipient(trimmed);
    } catch {
      throw usage(`${where(source, index)} is not a valid age identity: it may be truncated or mistyped`);
    }
    if (!identities.includes(trimmed)) identities.push(trimmed);
  }
  if (identities.length === 0) {
    throw usage(
      publicKeys > 0
        ? `${source} holds only public keys (age1...), not an identity: pass the private key file made by age-keygen; public keys are for --recipient`
        : `${source} holds no identity: pass the file made by age-keygen -o FILE (it holds an AGE-SECRET-KEY-1... line)`,
    );
  }
  return identities;
}

/**
 * Reads an identity file (`--identity FILE`). Missing, unreadable, empty or public-key-only files are refused with
 * USAGE; a mode readable by group or others is reported through `onWarning`.
 */
export async function readIdentityFile(file: string, options: ReadIdentityOptions = {}): Promise<string[]> {
  const { text, mode } = await readKeyFile(file, 'identity file');
  const identities = await parseIdentities(text, file);
  if ((mode & 0o077) !== 0) {
    options.onWarning?.(`identity file ${file} is open to other users (mode 0${mode.toString(8)}): run chmod 600 ${file}`);
  }
  return identities;
}

/** The public key (`age1...`) of an identity: for tests, and to tell a user which key an identity file holds. */
export async function recipientOf(identity: string): Promise<string> {
  try {
    if (!identity.startsWith('AGE-SECRET-KEY-1')) throw new Error('not X25519');
    return await identityToRecipient(identity);
  } catch {
    throw usage('not a valid age X25519 identity (AGE-SECRET-KEY-1...)');
  }
}

/** Checks an encryption key before any work starts; throws USAGE. Returns the key with recipients normalised. */
export function checkEncryptionKey(key: EncryptionKey): EncryptionKey {
  if (key.mode === 'recipients') return { mode: 'recipients', recipients: parseRecipients(key.recipients) };
  if (typeof key.passphrase !== 'string' || key.passphrase.length === 0) {
    throw usage('the passphrase is empty: set MCP_BACKUP_PASSPHRASE, or type one at the prompt');
  }
  const workFactor = key.workFactor ?? DEFAULT_WORK_FACTOR;
  if (!Number.isInteger(workFactor) || workFactor < MIN_WORK_FACTOR || workFactor > MAX_WORK_FACTOR) {
    throw usage(`scrypt work factor ${workFactor} is out of range: use ${MIN_WORK_FACTOR} to ${MAX_WORK_FACTOR} (default ${DEFAULT_WORK_FACTOR})`);
  }
  return { mode: 'passphrase', passphrase: key.passphrase, workFactor };
}

/** `age -p` uses 18 (2^18 iterations of scrypt, r = 8: 256 MiB and about a second). */
export const DEFAULT_WORK_FACTOR = 18;
export const MIN_WORK_FACTOR = 10;
/** The age-encryption library refuses to decrypt above 20 (1 GiB of memory); the age CLI goes up to 22. */
export const MAX_WORK_FACTOR = 20;
