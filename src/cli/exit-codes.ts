/**
 * Exit codes, documented in `--help`: 0 success, 1 failure, 2 usage error. The one place that maps error codes to
 * exit codes.
 */
import type { BackupErrorCode } from '../errors.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

const USAGE_ERRORS: ReadonlySet<BackupErrorCode> = new Set(['USAGE', 'SERVICE_UNKNOWN', 'CRON_INVALID']);

export function exitCodeFor(code: BackupErrorCode): number {
  return USAGE_ERRORS.has(code) ? EXIT_USAGE : EXIT_FAILURE;
}

export const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  failure (the operation failed, or verify found a broken backup)
  2  usage error (unknown option or value, unknown service, invalid cron expression)`;
