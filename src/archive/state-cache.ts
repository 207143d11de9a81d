/**
 * The host's cache of compact states (compact-state.ts), one file per backup in `.mcp-backup-cache/states/`, so an
 * incremental reads its base's state in one small binary read instead of parsing the chain's manifests (tar's
 * snapshot file plays the same part). It is only ever a copy: each file names the backup and the checksum of its
 * manifest copy, a file that does not match the index's record or its own checksum is ignored, and the manifests
 * remain the source of truth. Like the manifest cache, it holds names of files that sit in plain form on this host.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ensurePrivateDir, writeFileSafelyFrom } from '../fsutil/safe-write.js';
import type { BackupRecord } from '../metadata/record.js';
import { CompactState, type StateIdentity } from './compact-state.js';
import { MANIFEST_CACHE_DIR } from './manifest-cache.js';

/** A state that can write its binary form: a CompactState, or a StateSpill (state-spill.ts). */
export interface EncodableState {
  encodedPieces(identity: StateIdentity): Iterable<Uint8Array>;
}

export class StateCache {
  readonly dir: string;

  constructor(platformRoot: string) {
    this.dir = path.join(platformRoot, MANIFEST_CACHE_DIR, 'states');
  }

  #name(id: string): string {
    return `${id.replace(/[^A-Za-z0-9_-]/g, '_')}.state`;
  }

  /** The cached state of `record`'s backup, or undefined when none matches it (missing, damaged, or stale). */
  async get(record: BackupRecord): Promise<CompactState | undefined> {
    let data: Buffer;
    try {
      data = await fs.readFile(path.join(this.dir, this.#name(record.id)));
    } catch {
      return undefined;
    }
    try {
      const { identity, state } = CompactState.decode(data, `cached state of ${record.id}`);
      return identity.id === record.id && identity.manifestSha256 === record.manifestSha256 ? state : undefined;
    } catch {
      return undefined;
    }
  }

  async put(record: BackupRecord, state: EncodableState): Promise<void> {
    await ensurePrivateDir(this.dir);
    await writeFileSafelyFrom(path.join(this.dir, this.#name(record.id)), state.encodedPieces({ id: record.id, manifestSha256: record.manifestSha256 }));
  }

  /** Removes every cached state (and a killed write's temporary file) but those of the backups in `keep`. */
  async prune(keep: readonly BackupRecord[]): Promise<void> {
    const kept = new Set(keep.map((r) => this.#name(r.id)));
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (!kept.has(name) && name.includes('.state')) await fs.rm(path.join(this.dir, name), { force: true });
    }
  }
}
