/** Progress and notices reported by long operations; the CLI renders them, other callers may ignore them. */

export interface ProgressEvent {
  phase: 'scan' | 'hooks' | 'pack' | 'verify' | 'restore' | 'commit';
  files: number;
  bytes: number;
  /** Totals: while a backup packs, what its scan has found so far (the scan goes on along with the packing). */
  totalFiles?: number;
  totalBytes?: number;
  /** The service being worked on, if any. */
  service?: string;
}

export interface OperationObserver {
  onProgress?(event: ProgressEvent): void;
  /** Something the user should know that does not stop the operation (a file changed while read, a skip). */
  onWarning?(message: string): void;
}
