/**
 * Which key a backup is encrypted to: the recipients given for this backup, else platform.yaml's
 * `backup.encryption` (so scheduled backups need no secret on the host), else a passphrase when one is supplied.
 */
import { BackupError } from '../errors.js';
import { parseRecipients, readRecipientsFile, type EncryptionKey } from '../crypto/index.js';
import type { Platform } from '../platform/types.js';

export interface EncryptionRequest {
  /** True: encrypt; false: do not, even if platform.yaml says to; undefined: as platform.yaml says. */
  encrypt?: boolean;
  recipients?: readonly string[];
  recipientsFiles?: readonly string[];
  /** Asked for only when encryption is wanted and no recipient is known. */
  passphrase?: () => Promise<string | undefined>;
}

export async function resolveEncryption(platform: Platform, request: EncryptionRequest): Promise<EncryptionKey | undefined> {
  const given = request.recipients && request.recipients.length > 0 ? [...parseRecipients(request.recipients)] : [];
  for (const file of request.recipientsFiles ?? []) given.push(...(await readRecipientsFile(file)));
  if (request.encrypt === false) {
    if (given.length > 0) throw new BackupError('USAGE', '--no-encrypt contradicts --recipient/--recipients-file: choose one');
    return undefined;
  }
  if (given.length > 0) return { mode: 'recipients', recipients: [...new Set(given)] };

  const defaults = platform.defaults.encryption;
  if (defaults) {
    const fromPlatform = defaults.recipients.length > 0 ? [...parseRecipients(defaults.recipients, platform.configFile)] : [];
    if (defaults.recipientsFile) fromPlatform.push(...(await readRecipientsFile(defaults.recipientsFile)));
    if (fromPlatform.length > 0) return { mode: 'recipients', recipients: [...new Set(fromPlatform)] };
  }
  if (!request.encrypt) return undefined;
  const passphrase = await request.passphrase?.();
  if (passphrase === undefined || passphrase === '') {
    throw new BackupError(
      'KEY_REQUIRED',
      '--encrypt needs a key: pass --recipient age1... (or --recipients-file), set MCP_BACKUP_PASSPHRASE, or run on a terminal to type a passphrase',
    );
  }
  return { mode: 'passphrase', passphrase };
}
