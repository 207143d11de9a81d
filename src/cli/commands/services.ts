import type { Command } from '@commander-js/extra-typings';
import type { CliContext } from '../context.js';
import { formatBytes, table } from '../format.js';

export function registerServices(backup: Command<[], Record<string, unknown>, Record<string, unknown>>, ctx: CliContext): void {
  backup
    .command('services')
    .description('show each service with its paths, sizes and file counts: what a backup would take')
    .action(async () => {
      const manager = await ctx.manager();
      const services = await manager.services();
      ctx.result({ platform: { name: manager.platform.name, root: manager.platform.root, backupDir: manager.platform.backupDir }, services }, () => {
        const rows: string[][] = [];
        for (const s of services) {
          for (const p of s.paths) {
            rows.push([s.name, p.part, p.declared, p.exists ? String(p.files) : '-', p.exists ? formatBytes(p.bytes) : 'MISSING']);
          }
          if (s.paths.length === 0) rows.push([s.name, '-', '(no paths)', '-', '-']);
        }
        const total = services.reduce((n, s) => n + s.bytes, 0);
        const files = services.reduce((n, s) => n + s.files, 0);
        return [
          `Platform ${manager.platform.name} at ${manager.platform.root}${manager.platform.configFile ? '' : ' (services found by convention)'}`,
          '',
          table(['SERVICE', 'PART', 'PATH', 'FILES', 'SIZE'], rows),
          '',
          `Total: ${files} files, ${formatBytes(total)} (logs only with --include-logs)`,
        ].join('\n');
      });
    });
}
