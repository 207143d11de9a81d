/**
 * Typed errors of the library. Every failure a user can cause or meet carries a stable `code` (for code) and a
 * one-line `message` that names the problem and how to fix it (for people). The CLI maps codes to exit codes in one
 * place (src/cli/exit-codes.ts); the library itself never prints or exits.
 */

export type BackupErrorCode =
  /** A bad argument or option value: the caller must change the call. */
  | 'USAGE'
  | 'PLATFORM_NOT_FOUND'
  | 'PLATFORM_INVALID'
  | 'SERVICE_UNKNOWN'
  | 'PATH_MISSING'
  | 'UNREADABLE_FILES'
  | 'HOOK_FAILED'
  | 'BACKUP_NOT_FOUND'
  | 'AMBIGUOUS_ID'
  | 'NO_BASE'
  | 'HAS_DEPENDENTS'
  | 'INDEX_CORRUPT'
  | 'INDEX_TOO_NEW'
  | 'LOCKED'
  | 'INTEGRITY'
  | 'UNSAFE_ARCHIVE'
  | 'DECRYPT_FAILED'
  | 'KEY_REQUIRED'
  | 'CRON_INVALID'
  | 'SCHEDULE_NOT_FOUND'
  | 'NO_SPACE'
  | 'ABORTED'
  | 'IO';

export class BackupError extends Error {
  override name = 'BackupError';
  readonly code: BackupErrorCode;
  /** Structured facts behind the message (ids, paths, candidates), for programs. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: BackupErrorCode, message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.details = details;
  }
}

export function isBackupError(error: unknown, code?: BackupErrorCode): error is BackupError {
  return error instanceof BackupError && (code === undefined || error.code === code);
}

/** The errno code of a Node system error, if it is one. */
export function errnoCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined;
}

/**
 * Turns an unexpected I/O failure into a BackupError that names what was being done, so no raw stack trace reaches
 * a user. A full disk gets its own code because its fix differs.
 */
export function ioError(action: string, path: string, cause: unknown): BackupError {
  if (cause instanceof BackupError) return cause;
  const code = errnoCode(cause);
  const reason = cause instanceof Error ? cause.message : String(cause);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new BackupError('NO_SPACE', `no space left while ${action} ${path}: free some space and run the command again`, { path }, { cause });
  }
  return new BackupError('IO', `${action} ${path} failed: ${reason}`, { path, errno: code }, { cause });
}
