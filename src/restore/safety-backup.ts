/**
 * The safety backup an in-place restore takes right before its first swap: what exists now of the paths it will
 * replace, through the ordinary create (its hooks included), recorded with origin `safety` so retention and `show`
 * know it. Paths that do not exist now are left out; with none, there is nothing to save.
 */
import { createBackup } from '../backup/create.js';
import { resolveEncryption } from '../backup/encryption.js';
import { recipientOf, type DecryptionKey, type EncryptionKey } from '../crypto/index.js';
import type { BackupRecord } from '../metadata/record.js';
import type { Part, Platform, Service } from '../platform/types.js';
import type { Prepared } from './prepare.js';
import type { RestoreOptions } from './restore.js';
import { PLATFORM_SERVICE } from './roots.js';
import { SCRATCH_PREFIX } from './swap.js';
import { pathExists } from './tree-ops.js';

/** A backup of what exists now of the paths about to be replaced, through the ordinary create. */
export async function takeSafetyBackup(platform: Platform, prepared: Prepared, options: RestoreOptions): Promise<{ id?: string; skipped?: string }> {
  const { selected, record } = prepared;
  const services: Service[] = [];
  for (const name of selected.services) {
    const current = platform.services.find((s) => s.name === name);
    const paths = selected.roots
      .filter((r) => r.service === name && pathExists(r.destination))
      .map((r) => ({ part: r.part as Part, declared: r.source, absolute: r.destination, archiveRoot: r.archiveRoot }));
    // A mount point being restored holds the restore's own staging folder: not part of what is saved.
    if (paths.length > 0) services.push({ name, paths, exclude: [...(current?.exclude ?? []), `/${SCRATCH_PREFIX}*`], hooks: current?.hooks ?? {} });
  }
  const platformRoot = selected.roots.find((r) => r.service === PLATFORM_SERVICE);
  const configFile = platformRoot && pathExists(platformRoot.destination) ? platformRoot.destination : undefined;
  const whole = selected.platformConfig && record.parts.volumes;
  if (services.length === 0 && (!whole || !configFile)) return { skipped: 'none of the paths to restore exists now, so there is nothing to save' };
  const encryption = await safetyEncryption(platform, record, options.key);
  const { record: safety } = await createBackup(
    { ...platform, services, configFile },
    {
      type: whole ? 'full' : 'service',
      ...(!whole && { services: services.map((s) => s.name), volumes: record.parts.volumes }),
      includeLogs: record.parts.logs,
      description: `Safety backup before restoring ${record.id}`,
      origin: { kind: 'safety', restoreOf: record.id },
      ...(encryption && { encryption }),
      onWarning: (message) => options.onWarning?.(message),
      onProgress: (event) => options.onProgress?.(event),
      ...(options.signal && { signal: options.signal }),
    },
  );
  return { id: safety.id };
}

/**
 * The safety backup holds the live data a restore replaces: it is kept as private as the backups of the platform.
 * platform.yaml's recipients when it names some; else, when the restored backup is encrypted, the same way: with its
 * passphrase, or to the public keys of the identities that opened it.
 */
async function safetyEncryption(platform: Platform, record: BackupRecord, key: DecryptionKey | undefined): Promise<EncryptionKey | undefined> {
  const configured = await resolveEncryption(platform, {});
  if (configured) return configured;
  if (record.encryption.mode === 'passphrase' && key?.passphrase !== undefined) return { mode: 'passphrase', passphrase: key.passphrase };
  if (record.encryption.mode === 'recipients' && key?.identities && key.identities.length > 0) {
    const recipients: string[] = [];
    for (const identity of key.identities) {
      // Only X25519 identities have a public key to encrypt to; others (plugins) are skipped.
      const recipient = await recipientOf(identity).catch(() => undefined);
      if (recipient) recipients.push(recipient);
    }
    if (recipients.length > 0) return { mode: 'recipients', recipients: [...new Set(recipients)] };
  }
  return undefined;
}
