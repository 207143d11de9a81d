/**
 * `mcp backup restore ID`: prints the plan, asks on a terminal (unless --yes), restores, and prints what it did.
 * The test-only environment variable MCP_BACKUP_TEST_PAUSE_AT=<step> holds the restore at a step (see the library's
 * `onStep`), so a test can kill it at a chosen instant; the library itself never reads the environment.
 */
import path from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { Command } from '@commander-js/extra-typings';
import { BackupError } from '../../errors.js';
import type { RestorePlan, ServicePlan } from '../../restore/plan.js';
import type { RestoreResult } from '../../restore/restore.js';
import type { CliContext } from '../context.js';
import { formatBytes, formatDuration, formatRate, table } from '../format.js';
import { collect, list } from '../options.js';
import { decryptionKey, needsPassphrase } from '../secrets.js';

const PAUSE_ENV = 'MCP_BACKUP_TEST_PAUSE_AT';
const LISTED_PER_SERVICE = 50;

function shown(p: string, root: string): string {
  const relative = path.relative(root, p);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : p;
}

function serviceName(s: ServicePlan): string {
  return s.service === '_platform' ? 'platform.yaml' : s.service;
}

export function planTable(plan: RestorePlan): string {
  return table(
    ['SERVICE', 'CREATE', 'OVERWRITE', 'DELETE', 'UNCHANGED', 'KEPT', 'TO WRITE'],
    plan.services.map((s) => [serviceName(s), s.createCount, s.overwrite.length, s.delete.length, s.unchanged, s.kept, formatBytes(s.bytesToWrite)]),
  );
}

function planHeading(plan: RestorePlan, root: string): string {
  const where = plan.inPlace ? 'in place' : `into ${plan.target ?? ''}`;
  const chain = plan.chain.length > 1 ? ` (chain ${plan.chain.join(' -> ')})` : '';
  const missing = plan.services.flatMap((s) => s.roots.filter((r) => !r.exists).map((r) => shown(r.destination, root)));
  const lines = [`Restore of backup ${plan.backupId}${chain}, ${where}:`, '', planTable(plan)];
  if (missing.length > 0) lines.push('', `Missing now (restored from scratch): ${missing.join(', ')}`);
  if (plan.totals.kept > 0) lines.push('', `${plan.totals.kept} path(s) the backup never covered (excluded, sockets, FIFOs) are kept as they are.`);
  return lines.join('\n');
}

export function planDetails(plan: RestorePlan, root: string): string {
  const lines: string[] = ['', 'Paths:'];
  for (const s of plan.services) {
    for (const r of s.roots) lines.push(`  ${r.archiveRoot.padEnd(36)} -> ${shown(r.destination, root)}${r.exists ? '' : ' (missing now)'}`);
  }
  for (const s of plan.services) {
    const changes = [
      ...s.create.map((c) => `  create     ${shown(c.destination, root)} (${c.type}${c.type === 'file' ? `, ${formatBytes(c.size)}` : ''})`),
      ...s.overwrite.map((c) => `  ${c.type === 'dir' ? 'update   ' : 'overwrite'}  ${shown(c.destination, root)} (${c.reason ?? 'differs'})`),
      ...s.delete.map((c) => `  delete     ${shown(c.destination, root)} (${c.type})`),
    ];
    if (changes.length === 0) continue;
    lines.push('', `${serviceName(s)}:`, ...changes.slice(0, LISTED_PER_SERVICE));
    if (changes.length > LISTED_PER_SERVICE) lines.push(`  ... and ${changes.length - LISTED_PER_SERVICE} more (--json lists them all)`);
  }
  if (plan.totals.create + plan.totals.overwrite + plan.totals.delete === 0) lines.push('', 'Every path is already as the backup recorded it.');
  return lines.join('\n');
}

function summary(result: RestoreResult): string {
  const plan = result.plan;
  const where = plan.inPlace ? 'in place' : `into ${plan.target ?? ''}`;
  const lines = [`Restored backup ${result.backupId} ${where}`];
  if (result.safetyBackupId) lines.push(`  safety backup: ${result.safetyBackupId} (to undo: mcp backup restore ${result.safetyBackupId})`);
  else if (result.safetyBackupSkipped) lines.push(`  safety backup: none, ${result.safetyBackupSkipped}`);
  else if (plan.inPlace) lines.push('  safety backup: none (--no-safety-backup)');
  for (const s of result.services) {
    const name = s.service === '_platform' ? 'platform.yaml' : s.service;
    lines.push(`  ${name.padEnd(14)} ${s.status}: ${s.created} created, ${s.overwritten} overwritten, ${s.deleted} deleted, ${s.unchanged} unchanged${s.kept ? `, ${s.kept} kept` : ''}`);
  }
  lines.push(`  written:       ${result.files} files, ${formatBytes(result.bytes)} in ${formatDuration(result.durationMs)} (${formatRate(result.bytes, result.durationMs)})`);
  return lines.join('\n');
}

async function askYesNo(ctx: CliContext, question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: ctx.io.stderr });
  try {
    return /^\s*y(es)?\s*$/i.test(await rl.question(question));
  } finally {
    rl.close();
  }
}

export function registerRestore(backup: Command<[], Record<string, unknown>, Record<string, unknown>>, ctx: CliContext): void {
  backup
    .command('restore')
    .description('restore a backup in place (after a safety backup of what it replaces), or into --target DIR')
    .argument('<id>', 'backup id or unique prefix')
    .option('--services <names>', 'restore only these services (comma-separated); the others are not touched', list)
    .option('--dry-run', 'print the plan (what would be created, overwritten and deleted) and change nothing')
    .option('--target <dir>', 'restore into DIR/<service>/<part>/<name> instead of in place; the live platform is not touched')
    .option('--no-safety-backup', 'do not back up what an in-place restore replaces')
    .option('--yes', 'do not ask for confirmation on a terminal')
    .option('--identity <file>', 'age identity that opens an encrypted backup (repeatable)', collect)
    .addHelpText('after', `
Every archive of the backup's chain is checked against its SHA-256, and every file against the manifest, before
anything is changed. Each path is staged in backup/temp/ and swapped into place: a crash leaves it either as it
was or fully restored. Paths the backup never covered (excluded by the service's patterns) are kept.

Examples:
  mcp backup restore 20261124T020000Z-full-7f3a
  mcp backup restore 20261124T02 --services filesystem --dry-run
  mcp backup restore 20261124T020000Z-full-7f3a --target /tmp/inspect --json`)
    .action(async (id, opts) => {
      const manager = await ctx.manager();
      const root = manager.platform.root;
      const key = await decryptionKey(ctx, opts, !opts.dryRun && (await needsPassphrase(manager, [id])));
      const interactive = ctx.io.stdinIsTTY && ctx.io.stderr.isTTY === true;
      const pauseAt = ctx.io.env[PAUSE_ENV];
      const human = !ctx.json && !ctx.options.quiet;

      if (opts.dryRun) {
        const result = await manager.restore({ id, dryRun: true, ...(opts.services && { services: opts.services }), ...(opts.target !== undefined && { target: path.resolve(ctx.io.cwd, opts.target) }), ...(key && { key }) });
        for (const dir of result.pendingRecovery ?? []) ctx.warn(`an interrupted restore left ${dir}: the next restore or backup will put its paths in order first`);
        ctx.result(result, () => [planHeading(result.plan, root), planDetails(result.plan, root), '', 'Dry run: nothing was changed.'].join('\n'));
        return;
      }

      const observer = ctx.observer('restore');
      let result: RestoreResult;
      try {
        result = await manager.restore({
          ...observer,
          id,
          ...(opts.services && { services: opts.services }),
          ...(opts.target !== undefined && { target: path.resolve(ctx.io.cwd, opts.target) }),
          safetyBackup: opts.safetyBackup,
          ...(key && { key }),
          confirm: async (plan) => {
            if (interactive && !opts.yes) {
              ctx.io.stderr.write(`${planHeading(plan, root)}\n\n`);
              const names = plan.services.map(serviceName).join(', ');
              const what = plan.inPlace ? `in place, replacing what is there${opts.safetyBackup ? ' (after a safety backup)' : ''}` : `into ${plan.target ?? ''}`;
              return askYesNo(ctx, `Restore ${names} from ${plan.backupId} ${what}? [y/N] `);
            }
            if (human) ctx.io.stdout.write(`${planHeading(plan, root)}\n\n`);
            return true;
          },
          ...(pauseAt && {
            onStep: async (step: string) => {
              if (!step.startsWith(pauseAt)) return;
              ctx.io.stderr.write(`paused at ${step}\n`);
              await new Promise(() => setInterval(() => undefined, 60_000));
            },
          }),
        });
      } finally {
        observer.done();
      }
      if (result.cancelled) throw new BackupError('ABORTED', 'restore cancelled: nothing was changed');
      ctx.result(result, () => (ctx.options.quiet ? (result.safetyBackupId ?? '') : summary(result)));
    });
}
