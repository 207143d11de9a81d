import type { Command } from '@commander-js/extra-typings';
import type { RebuildReport } from '../../maintenance/index.js';
import type { CliContext } from '../context.js';
import { collect } from '../options.js';
import { decryptionKey } from '../secrets.js';

function listed(ids: readonly string[]): string {
  return ids.length > 10 ? `${ids.slice(0, 10).join(', ')} and ${ids.length - 10} more` : ids.join(', ');
}

export function rebuildText(report: RebuildReport): string {
  if (!report.written) return 'No backup directory: nothing to rebuild from, nothing written.';
  const lines = [`Rebuilt metadata.json from the archives: ${report.ids.length} backup(s) listed.`];
  const { previous } = report;
  const copy = previous.copy !== undefined ? `; a copy is kept as ${previous.copy}` : '';
  if (previous.state === 'missing') lines.push('  old index:        there was none');
  else if (previous.state === 'unreadable') lines.push(`  old index:        unreadable (${previous.problem ?? 'corrupt'})${copy}`);
  else lines.push(`  old index:        ${previous.records} record(s)${copy}`);
  if (report.added.length > 0) lines.push(`  added:            ${report.added.length} archive(s) the old index did not list: ${listed(report.added)}`);
  if (report.missingArchives.length > 0) {
    lines.push(`  archives missing: ${report.missingArchives.length} old record(s) named an archive that is gone, dropped: ${listed(report.missingArchives)}`);
  }
  for (const u of report.unreadable) {
    lines.push(`  unreadable:       ${u.file}: ${u.reason}${u.keptRecord ? ' (its old record is kept: check it with `mcp backup verify`, or remove it with `mcp backup delete`)' : ' (not listed; the file is left in place)'}`);
  }
  for (const c of report.checksumChanged) {
    lines.push(`  checksum changed: ${c.id}: the archive no longer matches the SHA-256 the old index recorded (old record kept): run \`mcp backup verify ${c.id}\``);
  }
  if (report.fromManifestCache.length > 0) {
    lines.push(`  from this host:   ${report.fromManifestCache.length} encrypted backup(s) listed from the plain manifest cache, archive unread (pass --identity to read them): ${listed(report.fromManifestCache)}`);
  }
  if (report.repairedCopies.length > 0) lines.push(`  manifest copies:  ${report.repairedCopies.length} missing or damaged, written again from their archives: ${listed(report.repairedCopies)}`);
  if (report.strayCopies.length > 0) lines.push(`  stray copies:     ${report.strayCopies.length} manifest copy(ies) with no archive, left in place: ${listed(report.strayCopies)}`);
  if (report.duplicates.length > 0) lines.push(`  duplicates:       another archive of the same backup was used; left in place: ${listed(report.duplicates)}`);
  if (report.ignored.length > 0) lines.push(`  ignored:          ${report.ignored.length} file(s) that are not mcp backup files, left in place: ${listed(report.ignored)}`);
  for (const b of report.brokenChains) lines.push(`  broken chain:     ${b.id}: ${b.problem}`);
  if (report.finishedFiles.length > 0) lines.push(`  finished:         an interrupted removal: deleted ${report.finishedFiles.length} leftover file(s)`);
  return lines.join('\n');
}

export function registerIndex(backup: Command<[], Record<string, unknown>, Record<string, unknown>>, ctx: CliContext): void {
  const index = backup.command('index').description('maintain metadata.json, the index of backups');
  const rebuild = index
    .command('rebuild')
    .description('rebuild metadata.json from the archives\' own manifests (a copy of the old file is kept)')
    .option('--identity <file>', 'age identity that opens encrypted archives (repeatable); MCP_BACKUP_PASSPHRASE for passphrase ones', collect)
    .addHelpText('after', `
Reports archives the old index did not list (they are added), records whose archive is gone (they are dropped),
and archives that cannot be read (their old record, if any, is kept). Encrypted archives are read with --identity
or MCP_BACKUP_PASSPHRASE; without a key, from this host's plain manifest cache when it has them.

Example:
  mcp backup index rebuild`)
    .action(async (opts) => {
      const manager = await ctx.manager();
      const key = await decryptionKey(ctx, opts, false);
      const observer = ctx.observer('rebuild');
      let report;
      try {
        report = await manager.rebuildIndex({ ...observer, ...(key && { key }) });
      } finally {
        observer.done();
      }
      ctx.result(report, () => rebuildText(report));
    });
  // Usage errors of these nested commands go through main's error handling, like every other command's.
  for (const command of [index, rebuild]) {
    command.exitOverride();
    command.showSuggestionAfterError(true);
    command.configureOutput({
      writeOut: (text) => ctx.io.stdout.write(text),
      writeErr: (text) => ctx.io.stderr.write(text),
    });
  }
}
