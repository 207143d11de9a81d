import type { Command } from '@commander-js/extra-typings';
import type { CleanupResult } from '../../maintenance/index.js';
import type { CliContext } from '../context.js';
import { formatBytes, formatWhen, table } from '../format.js';
import { integerIn } from '../options.js';

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function describePolicy(result: CleanupResult): string {
  const { keep, days } = result.policy;
  const scope = result.scheduleId !== undefined ? ` (backups of schedule ${result.scheduleId} only)` : '';
  return `Policy: keep the ${keep} newest, remove those older than ${days} day${days === 1 ? '' : 's'}; never a base a kept backup needs, nor the newest restorable backup of each scope${scope}.`;
}

export function cleanupText(result: CleanupResult, quiet: boolean, now = Date.now()): string {
  const removed = result.removed.length;
  const kept = result.kept.length;
  const freed = removed > 0 ? ` (${formatBytes(result.freedBytes)})` : '';
  const summary = result.dryRun
    ? `Dry run: would remove ${plural(removed, 'backup')}${freed} and keep ${kept}. Nothing was changed.`
    : removed > 0
      ? `Removed ${plural(removed, 'backup')}${freed}; kept ${kept}.`
      : `Nothing to remove; kept ${plural(kept, 'backup')}.`;
  const lines: string[] = [];
  if (!quiet) {
    lines.push(describePolicy(result), '');
    if (result.decisions.length === 0) lines.push('No backups.');
    else {
      lines.push(
        table(
          ['ID', 'TYPE', 'CREATED', 'ACTION', 'REASONS'],
          result.decisions.map((d) => [d.id, d.type, formatWhen(d.createdAt, now), result.dryRun && d.action === 'remove' ? 'would remove' : d.action, d.reasons.join('; ')]),
        ),
      );
    }
    lines.push('');
  }
  lines.push(summary);
  if (result.finishedFiles.length > 0) lines.push(`Finished an interrupted removal: deleted ${plural(result.finishedFiles.length, 'leftover file')}.`);
  for (const warning of result.warnings) lines.push(`warning: ${warning}`);
  return lines.join('\n');
}

export function registerCleanup(backup: Command<[], Record<string, unknown>, Record<string, unknown>>, ctx: CliContext): void {
  backup
    .command('cleanup')
    .description('remove old backups by the retention policy (keep the N newest, remove those older than D days)')
    .option('--keep <n>', 'keep the N newest backups (default: backup.retention.keep in platform.yaml, else 10)', integerIn('--keep', 0, 1_000_000))
    .option('--days <d>', 'remove backups older than D days (default: backup.retention.days in platform.yaml, else 30)', integerIn('--days', 0, 1_000_000))
    .option('--dry-run', 'show each backup with keep or remove and why; change nothing')
    .addHelpText('after', `
A backup is removed when it is not among the N newest, or is older than D days; except that a backup a kept
incremental builds on is kept, and the newest restorable backup of each scope (services and parts) is always kept
with its chain: no policy leaves a scope with no way back. Removal is crash-safe.

Examples:
  mcp backup cleanup --dry-run
  mcp backup cleanup --keep 5 --days 14`)
    .action(async (opts) => {
      const manager = await ctx.manager();
      const result = await manager.cleanup({
        ...(opts.keep !== undefined && { keep: opts.keep }),
        ...(opts.days !== undefined && { days: opts.days }),
        dryRun: opts.dryRun === true,
      });
      ctx.result(result, () => cleanupText(result, ctx.options.quiet === true));
    });
}
