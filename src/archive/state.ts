/**
 * The state of the backed-up paths at a backup's time. A full or service backup's manifest is its state; an
 * incremental's manifest holds only what changed since its parent (new and changed entries, and deleted paths), so
 * its state is the chain's manifests folded base first. Every entry of a state names the backup whose archive holds
 * its content (`storedIn`), so a restore reads each file once, from the newest archive that has it.
 */
import { BackupError } from '../errors.js';
import type { Manifest, ManifestEntry } from './manifest.js';

export interface StateEntry extends ManifestEntry {
  storedIn: string;
}

/**
 * Path -> entry, in archive order (folders before their contents). A restore holds it as columns (FoldedState,
 * folded-state.ts); a small one may be a Map.
 */
export type BackupState = ReadonlyMap<string, StateEntry>;

/** Folds manifests, base first, into the state at the last one's time. The manifests are consumed: their entries become the state's (with `storedIn` filled in). */
export function foldChain(manifests: readonly Manifest[]): Map<string, StateEntry> {
  const state = new Map<string, StateEntry>();
  manifests.forEach((manifest, i) => {
    checkContinues(manifest, manifests[i - 1]?.id);
    for (const path of manifest.deleted) state.delete(path);
    for (const entry of manifest.entries) {
      // A changed path keeps its place in the map; a new one goes to the end, after its folder, which an earlier
      // manifest or this one (in archive order) put in already: folders still come before their contents.
      // The manifests are the fold's own copies: completing their entries in place saves a copy of each.
      const stateEntry = entry as StateEntry;
      stateEntry.storedIn ??= manifest.id;
      state.set(entry.path, stateEntry);
    }
  });
  return state;
}

/** Refuses a manifest that does not follow backup `previousId` (undefined: one that does not start a chain). */
export function checkContinues(manifest: Manifest, previousId: string | undefined): void {
  if (manifest.parent !== previousId) {
    throw new BackupError('INTEGRITY', `backup ${manifest.id} does not continue the chain it was given (parent ${manifest.parent ?? 'none'})`, {
      id: manifest.id,
    });
  }
}
