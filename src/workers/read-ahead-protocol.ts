/** Messages between the packer's read-ahead (archive/read-ahead.ts) and its worker (read-ahead.ts). */

export interface ReadAheadData {
  /** Int32s at PACKER_AT and FILES_READ. */
  progress: SharedArrayBuffer;
  /** Read only a sample of the files while they come from the page cache (see workers/read-ahead.ts). */
  sampleCached: boolean;
}

/** The number of the file the packer is reading (files are numbered from 0 in the order sent), set by the packer. */
export const PACKER_AT = 0;
/** Files the worker has read through, set by the worker. */
export const FILES_READ = 1;

/** Each message: absolute paths of files the packer will read in this order, numbered from `first`. */
export interface ReadAheadBatch {
  first: number;
  paths: string[];
}
