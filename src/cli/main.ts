/**
 * The `mcp` command line: a thin shell over the library. It parses arguments, calls one library function, prints
 * the result, and maps errors to exit codes here and only here.
 */
import { Command, CommanderError, Option, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { errnoCode, isBackupError } from '../errors.js';
import { TOOL_VERSION } from '../version.js';
import { CliContext, readerLeft, type CliIo } from './context.js';
import { printable } from './format.js';
import { EXIT_CODES_HELP, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, exitCodeFor } from './exit-codes.js';
import { registerCreate } from './commands/create.js';
import { registerList } from './commands/list.js';
import { registerServices } from './commands/services.js';
import { registerShow } from './commands/show.js';
import { registerVerify } from './commands/verify.js';
import { registerSchedule } from './commands/schedule.js';
import { registerDaemon } from './commands/daemon.js';
import { registerRestore } from './commands/restore.js';
import { registerCleanup } from './commands/cleanup.js';
import { registerDelete } from './commands/delete.js';
import { registerIndex } from './commands/index.js';

function buildProgram(io: CliIo): { program: Command; ctx: CliContext } {
  const program = new Command('mcp').description('MCP platform tools').version(TOOL_VERSION, '--version');
  const backup = program
    .command('backup')
    .description('back up and restore the services of an MCP platform')
    .addOption(new Option('--platform <dir>', 'the platform root (default: $MCP_PLATFORM_HOME, else the nearest folder with platform.yaml)'))
    .option('--json', 'machine-readable output on stdout, nothing else there')
    .option('--quiet', 'print only results and errors')
    .option('--no-progress', 'no progress bar on stderr')
    .addHelpText('after', EXIT_CODES_HELP);
  const ctx = new CliContext(io, () => backup.opts());
  const sub = backup as unknown as Command<[], Record<string, unknown>, Record<string, unknown>>;
  registerServices(sub, ctx);
  registerCreate(sub, ctx);
  registerList(sub, ctx);
  registerShow(sub, ctx);
  registerVerify(sub, ctx);
  registerSchedule(sub, ctx);
  registerDaemon(sub, ctx);
  registerRestore(sub, ctx);
  registerCleanup(sub, ctx);
  registerDelete(sub, ctx);
  registerIndex(sub, ctx);

  const all = (c: CommandUnknownOpts): CommandUnknownOpts[] => [c, ...c.commands.flatMap(all)];
  for (const command of all(program)) {
    command.exitOverride();
    command.showSuggestionAfterError(true);
    command.configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    });
  }
  return { program: program, ctx };
}

export async function main(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  const { program } = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has printed its message already; help and --version end with exit code 0.
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return EXIT_OK;
      if (error.code === 'commander.executeSubCommandAsync') return EXIT_FAILURE;
      return EXIT_USAGE;
    }
    if (isBackupError(error)) {
      io.stderr.write(`mcp backup: ${printable(error.message)}\n`);
      return exitCodeFor(error.code);
    }
    // A full disk is no bug: say so on one line, with the fix.
    const errno = errnoCode(error);
    if (errno === 'ENOSPC' || errno === 'EDQUOT') {
      const where = (error as { path?: unknown }).path;
      io.stderr.write(`mcp backup: no space left on the device${typeof where === 'string' ? ` (${printable(where)})` : ''}: free some space and run the command again\n`);
      return EXIT_FAILURE;
    }
    // Not a failure we anticipated: say so plainly, and show the stack only when asked.
    const message = error instanceof Error ? error.message : String(error);
    io.stderr.write(`mcp backup: unexpected error: ${printable(message)}\n`);
    if (io.env.MCP_BACKUP_DEBUG) io.stderr.write(`${error instanceof Error ? error.stack : ''}\n`);
    else io.stderr.write('  (set MCP_BACKUP_DEBUG=1 for details, and please report it)\n');
    return EXIT_FAILURE;
  }
}

function defaultIo(): CliIo {
  // A reader that stops early (`mcp backup list | head`) is no failure: the command carries on (a backup is never
  // cut short by it) and what it prints goes nowhere, instead of an EPIPE stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error) => {
      if (!readerLeft(error)) throw error;
    });
  }
  return { stdout: process.stdout, stderr: process.stderr, stdinIsTTY: process.stdin.isTTY === true, env: process.env, cwd: process.cwd() };
}
