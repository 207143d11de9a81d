import type { Command } from '@commander-js/extra-typings';
import { BackupError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { formatBytes } from '../format.js';
import { collect } from '../options.js';
import { decryptionKey, needsPassphrase } from '../secrets.js';

export function registerVerify(backup: Command<[], Record<string, unknown>, Record<string, unknown>>, ctx: CliContext): void {
  backup
    .command('verify')
    .description('check archives against their checksums and every file against its manifest')
    .argument('[ids...]', 'backup ids or unique prefixes')
    .option('--all', 'verify every backup')
    .option('--identity <file>', 'age identity that opens encrypted backups (repeatable); without it their archives are checked by checksum only', collect)
    .action(async (ids, opts) => {
      if (ids.length === 0 && !opts.all) throw new BackupError('USAGE', 'name a backup id to verify, or pass --all');
      const manager = await ctx.manager();
      const key = await decryptionKey(ctx, opts, await needsPassphrase(manager, opts.all ? undefined : ids));
      const observer = ctx.observer('verify');
      let reports;
      try {
        reports = await manager.verify({ ...observer, ids, all: opts.all === true, ...(key && { key }) });
      } finally {
        observer.done();
      }
      ctx.result(reports, () => {
        if (reports.length === 0) return 'No backups to verify.';
        return reports
          .map((r) =>
            r.ok
              ? r.contentChecked
                ? `ok      ${r.id}: ${r.checkedEntries} entries, ${formatBytes(r.checkedBytes)} checked`
                : `ok      ${r.id}: encrypted archive matches its SHA-256 (pass --identity or the passphrase to check every file)`
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
