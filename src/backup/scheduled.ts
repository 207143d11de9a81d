/**
 * The bridge between the scheduler (src/schedule, which knows nothing of archives) and the backup engine: how a
 * schedule's stored options become a `createBackup` call, and the checks a new schedule must pass against the
 * platform before it is stored.
 */
import { BackupError } from '../errors.js';
import type { Platform } from '../platform/types.js';
import type { NewSchedule, RunBackup } from '../schedule/index.js';
import { createBackup } from './create.js';
import { resolveEncryption } from './encryption.js';
import { findServices } from './scope.js';

/** Refuses a schedule that could never run: unknown services, or encryption that would need a secret. */
export async function checkNewSchedule(platform: Platform, input: NewSchedule): Promise<void> {
  if (input.backup.services && input.backup.services.length > 0) findServices(platform, input.backup.services);
  if (input.backup.type === 'full' && ((input.backup.services?.length ?? 0) > 0 || input.backup.volumes === false)) {
    throw new BackupError('USAGE', 'a full backup takes every service with its volumes: use --type service --services a,b to choose');
  }
  if (input.backup.type === 'service' && !(input.backup.services && input.backup.services.length > 0)) {
    throw new BackupError('USAGE', `a service schedule needs --services a,b (this platform has ${platform.services.map((s) => s.name).join(', ')})`);
  }
  if (input.backup.encrypt) {
    // A scheduled backup runs unattended: it may encrypt to public keys only, never with a passphrase.
    await resolveEncryption(platform, {
      encrypt: true,
      ...(input.backup.recipients && { recipients: input.backup.recipients }),
      passphrase: () => {
        throw new BackupError(
          'USAGE',
          'a schedule cannot encrypt with a passphrase (it would have to be stored): pass --recipient age1... or set backup.encryption in platform.yaml',
        );
      },
    });
  }
}

/** Runs one scheduled backup, recorded as made by that schedule. */
export function scheduledBackupRunner(platform: Platform): RunBackup {
  return async (schedule, context) => {
    const options = schedule.backup;
    const encryption = await resolveEncryption(platform, {
      ...(options.encrypt && { encrypt: true }),
      ...(options.recipients && { recipients: options.recipients }),
    });
    const incremental = options.type === 'incremental';
    const { record } = await createBackup(platform, {
      type: options.type,
      ...(options.services && options.services.length > 0 && { services: options.services }),
      // An incremental takes logs and volumes from its base unless the schedule says otherwise.
      ...((!incremental || options.includeLogs) && { includeLogs: options.includeLogs }),
      ...((!incremental || !options.volumes) && { volumes: options.volumes }),
      compress: options.compress,
      ...(options.compressionLevel !== undefined && { compressionLevel: options.compressionLevel }),
      ...(encryption && { encryption }),
      ...(schedule.description !== undefined && { description: schedule.description }),
      origin: { kind: 'schedule', scheduleId: schedule.id },
      signal: context.signal,
    });
    return { backupId: record.id, size: record.size, durationMs: record.durationMs };
  };
}
