import type { Command } from '@commander-js/extra-typings';
import type { CliContext } from '../context.js';
import { formatBytes, formatDuration, formatWhen, table } from '../format.js';
import { collect } from '../options.js';
import { decryptionKey, needsPassphrase } from '../secrets.js';

function modeString(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

export function registerShow(backup: Command<[], Record<string, unknown>, Record<string, unknown>>, ctx: CliContext): void {
  backup
    .command('show')
    .description('show one backup in full, with its chain')
    .argument('<id>', 'backup id or unique prefix')
    .option('--files', 'also list every file it holds')
    .option('--identity <file>', 'age identity that opens an encrypted backup\'s file list (repeatable)', collect)
    .action(async (id, opts) => {
      const manager = await ctx.manager();
      const key = opts.files ? await decryptionKey(ctx, opts, await needsPassphrase(manager, [id])) : undefined;
      const shown = await manager.show(id, { files: opts.files === true, ...(key && { key }) });
      ctx.result(shown, () => {
        const r = shown.record;
        const lines = [
          `Backup ${r.id}`,
          `  type:          ${r.type}`,
          `  created:       ${formatWhen(r.createdAt)}`,
          `  description:   ${r.description ?? '-'}`,
          `  services:      ${r.services.join(', ')}`,
          `  parts:         ${(['config', 'volumes', 'logs'] as const).filter((p) => r.parts[p]).join(', ')}${r.parts.platformConfig ? ', platform.yaml' : ''}`,
          `  files:         ${r.files} (${formatBytes(r.bytes)}); stored in this archive: ${formatBytes(r.storedBytes)}`,
          `  archive:       ${r.archive} (${formatBytes(r.size)}, sha256 ${r.sha256})`,
          `  compression:   ${r.compression.algorithm}${r.compression.level !== undefined ? ` level ${r.compression.level}` : ''}`,
          `  encryption:    ${r.encryption.mode}`,
          `  origin:        ${r.origin.kind === 'schedule' ? `schedule ${r.origin.scheduleId}` : r.origin.kind === 'safety' ? `safety backup before restoring ${r.origin.restoreOf}` : 'manual'}`,
          `  duration:      ${formatDuration(r.durationMs)}`,
          `  chain:         ${shown.chain.map((c) => c.id).join(' -> ')}`,
          `  dependents:    ${shown.dependents.map((d) => d.id).join(', ') || '-'}`,
        ];
        if (r.changedWhileReading > 0) lines.push(`  warning:       ${r.changedWhileReading} file(s) changed while being read`);
        if (shown.manifest) {
          lines.push('', table(['TYPE', 'MODE', 'SIZE', 'PATH'], shown.manifest.entries.map((e) => [
            e.type, modeString(e.mode), e.type === 'file' ? formatBytes(e.size) : '', e.link ? `${e.path} -> ${e.link}` : e.path,
          ])));
        }
        return lines.join('\n');
      });
    });
}
