import type { Command } from '@commander-js/extra-typings';
import type { CliContext } from '../context.js';
import { formatBytes, formatWhen } from '../format.js';

export function registerDelete(backup: Command<[], Record<string, unknown>, Record<string, unknown>>, ctx: CliContext): void {
  backup
    .command('delete')
    .description('delete one backup (its archive and its record); refuses while other backups build on it')
    .argument('<id>', 'backup id or unique prefix')
    .option('--with-dependents', 'also delete every backup that builds on it')
    .option('--dry-run', 'show what would be deleted; change nothing')
    .addHelpText('after', `
Examples:
  mcp backup delete 20261124T020000Z-full-7f3a
  mcp backup delete 20261124T0200 --with-dependents --dry-run`)
    .action(async (id, opts) => {
      const manager = await ctx.manager();
      const result = await manager.delete(id, { withDependents: opts.withDependents === true, dryRun: opts.dryRun === true });
      ctx.result(result, () => {
        const verb = result.dryRun ? 'Would delete' : 'Deleted';
        const [target, ...dependents] = result.removed;
        const lines = [`${verb} ${target!.type} backup ${target!.id} (created ${formatWhen(target!.createdAt)}, ${formatBytes(target!.size)})`];
        if (dependents.length > 0) lines.push(`${verb} with it ${dependents.length} backup(s) that build on it: ${dependents.map((d) => d.id).join(', ')}`);
        if (dependents.length > 0 || ctx.options.quiet !== true) lines.push(`${result.dryRun ? 'Would free' : 'Freed'} ${formatBytes(result.freedBytes)}.${result.dryRun ? ' Nothing was changed.' : ''}`);
        if (result.finishedFiles.length > 0) lines.push(`Finished an interrupted removal: deleted ${result.finishedFiles.length} leftover file(s).`);
        for (const warning of result.warnings) lines.push(`warning: ${warning}`);
        return lines.join('\n');
      });
    });
}
