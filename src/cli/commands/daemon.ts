import type { Command } from '@commander-js/extra-typings';
import type { CliContext } from '../context.js';

export function registerDaemon(backup: Command<[], Record<string, unknown>, Record<string, unknown>>, ctx: CliContext): void {
  backup
    .command('daemon')
    .description('run in the foreground and take scheduled backups when they are due (SIGTERM/SIGINT stop it cleanly)')
    .addHelpText('after', `
One line per event goes to stdout (started, succeeded with id/size/duration, failed with the reason, skipped).
A run missed while the daemon was down is run once at start-up. Several daemons on one platform never run a
schedule twice. On SIGTERM or SIGINT it takes no new runs, lets a running backup finish (up to 60 s, then aborts
it cleanly, listing nothing half-done) and exits 0. The README shows a systemd unit.`)
    .action(async () => {
      const manager = await ctx.manager();
      const controller = new AbortController();
      const stop = () => controller.abort();
      // `on`, not `once`: a second signal while stopping (a supervisor's, and the one a wrapper such as npx forwards)
      // must not kill the daemon in the middle of its clean stop.
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      try {
        // Event lines are the daemon's output: printed even with --quiet, never mixed with --json.
        await manager.runDaemon(controller.signal, { log: (line) => ctx.io.stdout.write(`${line}\n`) });
      } finally {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
      }
    });
}
