import type { Command } from '@commander-js/extra-typings';
import { Option } from '@commander-js/extra-typings';
import { BackupError } from '../../errors.js';
import { BACKUP_TYPES } from '../../metadata/record.js';
import type { ScheduleView } from '../../schedule/index.js';
import type { CliContext } from '../context.js';
import { formatAge, table } from '../format.js';
import { collect, descriptionText, integerIn, list, oneOf } from '../options.js';

function retentionText(view: ScheduleView): string {
  const r = view.schedule.retention;
  if (!r) return '-';
  return [r.keep !== undefined ? `keep ${r.keep}` : '', r.days !== undefined ? `${r.days}d` : ''].filter(Boolean).join(', ');
}

function lastRunText(view: ScheduleView): string {
  const state = view.schedule.state;
  return state.lastRunAt ? formatAge(Date.now() - Date.parse(state.lastRunAt)) : 'never';
}

export function registerSchedule(backup: Command<[], Record<string, unknown>, Record<string, unknown>>, ctx: CliContext): void {
  const schedule = backup
    .command('schedule')
    .description('schedule backups with a cron expression; list, delete and run schedules')
    .argument('[expression]', 'cron expression: 5 fields ("0 2 * * *"), 6 with seconds first, or @daily, @hourly...')
    .addOption(new Option('--type <type>', 'full, incremental or service').argParser(oneOf('--type', BACKUP_TYPES)))
    .option('--services <names>', 'comma-separated services (required for --type service)', list)
    .option('--include-logs', 'also back up logs')
    .option('--no-volumes', 'leave data volumes out (service backups)')
    .option('--compress', 'gzip the archives (the default)')
    .option('--no-compress', 'store plain .tar archives')
    .option('--compression-level <n>', 'gzip level 1-9', integerIn('--compression-level', 1, 9))
    .option('--encrypt', 'encrypt to --recipient keys or platform.yaml\'s backup.encryption (never a passphrase)')
    .option('--recipient <age1...>', 'age public key to encrypt to (repeatable)', collect)
    .option('--keep <n>', 'after each run, keep this schedule\'s N newest backups', integerIn('--keep', 0, 100_000))
    .option('--days <d>', 'after each run, remove this schedule\'s backups older than D days', integerIn('--days', 0, 100_000))
    .option('--timezone <tz>', 'IANA time zone the expression is read in (default: this machine\'s)')
    .option('--description <text>', 'a note kept with each backup it makes (at most 4096 characters)', descriptionText)
    .addHelpText('after', `
Examples:
  mcp backup schedule "0 2 * * *" --type full --compress
  mcp backup schedule "0 */4 * * *" --type incremental --keep 30 --days 7
  mcp backup schedule @daily --type service --services git --timezone Europe/Berlin
  mcp backup schedule list
  mcp backup schedule delete sch-1a2b
  mcp backup schedule run sch-1a2b
  mcp backup schedule run-due     # one pass, for system cron or a systemd timer`)
    .action(async (expression, opts) => {
      if (expression === undefined) {
        throw new BackupError('USAGE', 'give a cron expression (e.g. mcp backup schedule "0 2 * * *" --type full) or a subcommand: list, delete, run, run-due');
      }
      if (!opts.type) throw new BackupError('USAGE', 'a schedule needs --type full, incremental or service');
      const manager = await ctx.manager();
      const added = await manager.addSchedule({
        expression,
        ...(opts.timezone !== undefined && { timezone: opts.timezone }),
        ...(opts.description !== undefined && { description: opts.description }),
        backup: {
          type: opts.type,
          ...(opts.services && { services: opts.services }),
          includeLogs: opts.includeLogs === true,
          volumes: opts.volumes,
          compress: opts.compress !== false,
          ...(opts.compressionLevel !== undefined && { compressionLevel: opts.compressionLevel }),
          encrypt: opts.encrypt === true || (opts.recipient?.length ?? 0) > 0,
          ...(opts.recipient && { recipients: opts.recipient }),
        },
        ...((opts.keep !== undefined || opts.days !== undefined) && {
          retention: { ...(opts.keep !== undefined && { keep: opts.keep }), ...(opts.days !== undefined && { days: opts.days }) },
        }),
      });
      const { schedule: created, reading, nextRuns } = added;
      const { formatInZone } = await import('../../schedule/index.js');
      ctx.result({ ...created, reading, nextRuns: nextRuns.map((d) => d.toISOString()) }, () =>
        [
          `Created schedule ${created.id}: "${created.expression}" — ${reading} (${created.timezone})`,
          `  backup:    ${created.backup.type}${created.backup.services ? ` of ${created.backup.services.join(', ')}` : ''}`,
          `  next runs: ${nextRuns.map((d) => formatInZone(d, created.timezone)).join('\n             ')}`,
          '  It runs when `mcp backup daemon` is running, or on each `mcp backup schedule run-due` (see the README).',
        ].join('\n'),
      );
    });

  schedule
    .command('list')
    .description('list schedules with their next and last runs')
    .action(async () => {
      const manager = await ctx.manager();
      const views = await manager.listSchedules();
      const { formatInZone } = await import('../../schedule/index.js');
      ctx.result(
        views.map((v) => ({ ...v.schedule, reading: v.reading, nextRunAt: v.nextRunAt?.toISOString() ?? null, overdue: v.overdue, ...(v.invalid && { invalid: v.invalid }) })),
        () => {
          if (views.length === 0) return 'No schedules: add one with `mcp backup schedule "0 2 * * *" --type full`.';
          return table(
            ['ID', 'EXPRESSION', 'WHEN', 'TYPE', 'SERVICES', 'RETENTION', 'NEXT RUN', 'LAST RUN', 'RESULT', 'LAST ERROR'],
            views.map((v) => [
              v.schedule.id,
              v.schedule.expression,
              v.invalid ? `INVALID: ${v.invalid}` : v.reading,
              v.schedule.backup.type,
              v.schedule.backup.services?.join(',') ?? 'all',
              retentionText(v),
              v.nextRunAt ? `${formatInZone(v.nextRunAt, v.schedule.timezone)}${v.overdue ? ' (overdue)' : ''}` : '-',
              lastRunText(v),
              v.schedule.state.lastResult ?? '-',
              v.schedule.state.lastError ?? (v.schedule.state.lastNote ? `note: ${v.schedule.state.lastNote}` : ''),
            ]),
          );
        },
      );
    });

  schedule
    .command('delete')
    .description('delete a schedule (its backups stay)')
    .argument('<id>', 'schedule id or unique prefix')
    .action(async (id) => {
      const manager = await ctx.manager();
      const removed = await manager.deleteSchedule(id);
      ctx.result(removed, () => `Deleted schedule ${removed.id} ("${removed.expression}"); its backups are kept.`);
    });

  schedule
    .command('run')
    .description('run one schedule now, with its retention')
    .argument('<id>', 'schedule id or unique prefix')
    .action(async (id) => {
      const manager = await ctx.manager();
      const outcome = await manager.runSchedule(id);
      const { cause: _cause, ...shown } = outcome;
      ctx.result(shown, () =>
        outcome.result === 'success'
          ? `Schedule ${outcome.scheduleId} ran: backup ${outcome.backupId}${outcome.note ? ` (${outcome.note})` : ''}${outcome.error ? `; ${outcome.error}` : ''}`
          : `Schedule ${outcome.scheduleId} failed: ${outcome.error ?? 'unknown error'}`,
      );
      if (outcome.result === 'failed') throw new BackupError('IO', `schedule ${outcome.scheduleId} failed: ${outcome.error ?? 'unknown error'}`);
    });

  schedule
    .command('run-due')
    .description('run every schedule that is due, once, and exit (for system cron or a systemd timer)')
    .action(async () => {
      const manager = await ctx.manager();
      const report = await manager.runDueSchedules({ log: (line) => ctx.say(line) });
      ctx.result(
        {
          runs: report.runs.map(({ cause: _cause, ...run }) => run),
          skipped: report.skipped.map((s) => ({ scheduleId: s.scheduleId, slot: s.slot.toISOString() })),
          invalid: report.invalid,
        },
        () => (report.runs.length === 0 && report.skipped.length === 0 ? 'Nothing was due.' : ''),
      );
      const failed = report.runs.filter((r) => r.result === 'failed');
      if (failed.length > 0) throw new BackupError('IO', `${failed.length} scheduled run(s) failed: ${failed.map((r) => `${r.scheduleId} (${r.error ?? 'error'})`).join('; ')}`);
    });
}
