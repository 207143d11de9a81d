import type { Command } from '@commander-js/extra-typings';
import { BackupError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { formatBytes } from '../format.js';

export function registerVerify(backup: Command<[], Record<string, unknown>, Record<string, unknown>>, ctx: CliContext): void {
  backup
    .command('verify')
    .description('check archives against their checksums and every file against its manifest')
    .argument('[ids...]', 'backup ids or unique prefixes')
    .option('--all', 'verify every backup')
    .action(async (ids, opts) => {
      if (ids.length === 0 && !opts.all) throw new BackupError('USAGE', 'name a backup id to verify, or pass --all');
      const manager = await ctx.manager();
      const observer = ctx.observer('verify');
      let reports;
      try {
        reports = await manager.verify({ ...observer, ids, all: opts.all === true });
      } finally {
        observer.done();
      }
      ctx.result(reports, () => {
        if (reports.length === 0) return 'No backups to verify.';
        return reports
          .map((r) =>
            r.ok
              ? `ok      ${r.id}: ${r.checkedEntries} entries, ${formatBytes(r.checkedBytes)} checked`
              : `BROKEN  ${r.id}:\n${r.problems.map((p) => `          - ${p}`).join('\n')}`,
          )
          .join('\n');
      });
      const broken = reports.filter((r) => !r.ok);
      if (broken.length > 0) {
        throw new BackupError('INTEGRITY', `${broken.length} of ${reports.length} backup(s) failed verification: ${broken.map((r) => r.id).join(', ')}`, {
          reported: true,
        });
      }
    });
}
