/**
 * Where archives and their manifest copies live. A backend only ever sees opaque named objects: compression and
 * encryption happen above it, so the same interface serves a local folder now and object storage later.
 *
 * Contract:
 * - `create` starts a new object; nothing is visible under its name until `commit` resolves, and after a crash or
 *   `abort` the name holds nothing (or what it held before). `commit` is durable when it resolves.
 * - `open` streams an object; it fails with BACKUP_NOT_FOUND-like errors only through the caller (a missing object
 *   rejects with an error whose errno code is ENOENT).
 * - `stat` returns undefined for a missing object; `list` returns every committed object name.
 * - `remove` is idempotent and durable when it resolves.
 */
import type { Readable, Writable } from 'node:stream';

export interface ObjectWriter {
  /** Where the object's bytes are written. */
  readonly stream: Writable;
  /** Makes the object durable and visible under its name; call after `stream` has finished. */
  commit(): Promise<void>;
  /** Discards what was written. Safe to call more than once, and after a failed commit. */
  abort(): Promise<void>;
}

export interface ObjectInfo {
  name: string;
  size: number;
  /** Mode bits where the backend has them (local files), for reporting loose permissions. */
  mode?: number;
}

export interface ArchiveStorage {
  /** Names the location for messages, e.g. the archives folder. */
  readonly description: string;
  create(name: string): Promise<ObjectWriter>;
  open(name: string): Promise<Readable>;
  stat(name: string): Promise<ObjectInfo | undefined>;
  list(): Promise<ObjectInfo[]>;
  remove(name: string): Promise<void>;
}
