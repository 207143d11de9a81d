import type { Command } from '@commander-js/extra-typings';
import type { ListFilter } from '../../backup-interface.js';
import { BACKUP_TYPES, type BackupRecord } from '../../metadata/record.js';
import type { CliContext } from '../context.js';
import { formatBytes, formatWhen, table } from '../format.js';
import { integerIn, oneOf } from '../options.js';

export function listRows(records: readonly BackupRecord[], now = Date.now()): string[][] {
  return records.map((r) => [
    r.id,
    r.type,
    formatWhen(r.createdAt, now),
    r.services.join(','),
    formatBytes(r.size),
    String(r.files),
    r.parent ?? '-',
    r.encryption.mode === 'none' ? 'no' : 'yes',
    r.description ?? '',
  ]);
}

export function registerList(backup: Command<[], Record<string, unknown>, Record<string, unknown>>, ctx: CliContext): void {
  backup
    .command('list')
    .description('list backups, newest first (reads only the index)')
    .option('--type <type>', 'only full, incremental or service backups', oneOf('--type', BACKUP_TYPES))
    .option('--days <n>', 'only backups created in the last N days', integerIn('--days', 0, 100_000))
    .option('--service <name>', 'only backups that hold this service')
    .addHelpText('after', `
Examples:
  mcp backup list
  mcp backup list --type full --days 7
  mcp backup list --service git --json`)
    .action(async (opts) => {
      const manager = await ctx.manager();
      const filter: ListFilter = {
        ...(opts.type && { type: opts.type }),
        ...(opts.days !== undefined && { days: opts.days }),
        ...(opts.service !== undefined && { service: opts.service }),
        onWarning: (message) => ctx.warn(message),
      };
      if (ctx.jsonForProgram) return ctx.streamResult((out) => manager.listJson(out, filter));
      const records = await manager.list(filter);
      ctx.result(records, () => {
        if (records.length === 0) return 'No backups yet: create one with `mcp backup create --type full`.';
        return table(['ID', 'TYPE', 'CREATED', 'SERVICES', 'SIZE', 'FILES', 'PARENT', 'ENCRYPTED', 'DESCRIPTION'], listRows(records));
      });
    });
}
