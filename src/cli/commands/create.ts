import type { Command } from '@commander-js/extra-typings';
import { Option } from '@commander-js/extra-typings';
import { BACKUP_TYPES } from '../../metadata/record.js';
import type { CliContext } from '../context.js';
import { formatBytes, formatDuration, formatRate } from '../format.js';
import { collect, descriptionText, integerIn, list, oneOf } from '../options.js';
import { decryptionKey, newPassphrase } from '../secrets.js';

export function registerCreate(backup: Command<[], Record<string, unknown>, Record<string, unknown>>, ctx: CliContext): void {
  backup
    .command('create')
    .description('create a backup: full (every service), incremental (changes since the last backup) or service')
    .addOption(new Option('--type <type>', 'full, incremental or service').argParser(oneOf('--type', BACKUP_TYPES)).makeOptionMandatory())
    .option('--services <names>', 'comma-separated services (required for --type service)', list)
    .option('--description <text>', 'a note kept with the backup (at most 4096 characters)', descriptionText)
    .option('--include-logs', 'also back up each service\'s logs')
    .option('--no-volumes', 'leave data volumes out (service backups)')
    .option('--no-compress', 'store a plain .tar instead of .tar.gz')
    .option('--compression-level <n>', 'gzip level, 1 (fastest) to 9 (smallest); default 6', integerIn('--compression-level', 1, 9))
    .option('--verify-content', 'incremental: hash every file to find changes (for filesystems with unreliable timestamps)')
    .option('--encrypt', 'encrypt (age): to --recipient keys, else platform.yaml\'s backup.encryption, else a passphrase')
    .option('--no-encrypt', 'do not encrypt, even if platform.yaml says to')
    .option('--recipient <age1...>', 'age public key to encrypt to (repeatable)', collect)
    .option('--recipients-file <file>', 'file of age public keys, one a line (repeatable)', collect)
    .option('--identity <file>', 'age identity, for an incremental whose encrypted base is not cached on this host (repeatable)', collect)
    .option('--skip-unreadable', 'back up what can be read and report the rest, instead of failing')
    .addHelpText('after', `
Examples:
  mcp backup create --type full --description "Pre-upgrade backup"
  mcp backup create --type service --services filesystem,git
  mcp backup create --type incremental
  mcp backup create --type full --encrypt --recipient age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
  MCP_BACKUP_PASSPHRASE=... mcp backup create --type full --encrypt
  mcp backup create --type service --services git --no-volumes --include-logs`)
    .action(async (opts) => {
      const manager = await ctx.manager();
      const { resolveEncryption } = await import('../../backup/encryption.js');
      const encryption = await resolveEncryption(manager.platform, {
        ...(opts.encrypt !== undefined && { encrypt: opts.encrypt }),
        recipients: opts.recipient ?? [],
        recipientsFiles: opts.recipientsFile ?? [],
        passphrase: () => newPassphrase(ctx),
      });
      const key = opts.identity ? await decryptionKey(ctx, { identity: opts.identity }, false) : undefined;
      const observer = ctx.observer('backup');
      let result;
      try {
        result = await manager.create({
          ...observer,
          type: opts.type,
          ...(opts.services && { services: opts.services }),
          ...(opts.description !== undefined && { description: opts.description }),
          // Left undefined when not given, so an incremental takes them from the backup it builds on.
          ...(opts.includeLogs && { includeLogs: true }),
          ...(opts.volumes === false && { volumes: false }),
          verifyContent: opts.verifyContent === true,
          compress: opts.compress,
          ...(opts.compressionLevel !== undefined && { compressionLevel: opts.compressionLevel }),
          skipUnreadable: opts.skipUnreadable === true,
          ...(encryption && { encryption }),
          ...(key && { decryptionKey: key }),
        });
      } finally {
        observer.done();
      }
      const { record } = result;
      ctx.result({ ...record, changedWhileReadingFiles: result.changedWhileReading, skippedFiles: result.skipped }, () => {
        const lines = [
          `Created ${record.type} backup ${record.id}`,
          `  services:   ${record.services.join(', ')}`,
          record.type === 'incremental'
            ? `  changes:    ${record.storedFiles} file(s) stored (${formatBytes(record.storedBytes)}), ${record.deletedEntries} path(s) deleted, since ${record.parent}`
            : `  files:      ${record.files} (${formatBytes(record.bytes)})`,
          `  archive:    ${record.archive}, ${formatBytes(record.size)}`,
          `  duration:   ${formatDuration(record.durationMs)} (${formatRate(record.storedBytes, record.durationMs)})`,
        ];
        if (result.changedWhileReading.length > 0) lines.push(`  warning:    ${result.changedWhileReading.length} file(s) changed while being read`);
        if (result.skipped.length > 0) lines.push(`  warning:    ${result.skipped.length} path(s) skipped (unreadable)`);
        return ctx.options.quiet ? record.id : lines.join('\n');
      });
    });
}
