/**
 * Safety checks for what a restore is asked to write, applied before anything is written (node-tar's layers are
 * the model). An archive and its manifest are data from outside: a path is refused unless it is a plain relative
 * POSIX path with no `.`/`..`/empty segments, lies under one of the backup's roots, and has a real folder (not a
 * symlink, not a file) of the same state as its parent; a hard link must point to a file of the restored tree.
 * Every refusal is a one-line UNSAFE_ARCHIVE error naming the entry. Symlink targets are data: a symlink may point
 * anywhere, it is recreated as a symlink and never followed.
 */
import path from 'node:path';
import { BackupError } from '../errors.js';
import { ENTRY_TYPES, SHA256_HEX, type Manifest, type ManifestEntry, type ManifestRoot } from '../archive/manifest.js';
import type { BackupState, StateEntry } from '../archive/state.js';

const MAX_PATH_BYTES = 4096;
/** An empty, `.` or `..` segment; which one is told by splitting, only for the paths that have one. */
const BAD_SEGMENT = /(?:^|\/)\.{0,2}(?:\/|$)/;

export function unsafe(where: string, entry: string, why: string): BackupError {
  return new BackupError('UNSAFE_ARCHIVE', `${where}: refused entry ${JSON.stringify(entry)}: ${why}; nothing was restored`, { entry, where });
}

/** Why `p` is not a safe archive path, or undefined when it is. */
export function archivePathProblem(p: unknown): string | undefined {
  if (typeof p !== 'string' || p === '') return 'empty path';
  if (p.includes('\0')) return 'NUL byte in path';
  // A UTF-16 unit is at most 3 UTF-8 bytes: only long strings need counting.
  if (p.length * 3 > MAX_PATH_BYTES && Buffer.byteLength(p) > MAX_PATH_BYTES) return 'path too long';
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p)) return 'absolute path';
  if (!BAD_SEGMENT.test(p)) return undefined;
  for (const segment of p.split('/')) {
    if (segment === '..') return 'path with ".."';
    if (segment === '' || segment === '.') return 'path with an empty or "." segment';
  }
  return undefined;
}

/** True when `child` is `dir` or lies under it (both absolute, normalised). */
export function isInside(dir: string, child: string): boolean {
  const relative = path.relative(dir, child);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative) && relative !== '..');
}

/** The root of the backup that `p` belongs to, if any. */
export function rootOf<R extends { archiveRoot: string }>(roots: readonly R[], p: string): R | undefined {
  return roots.find((r) => p === r.archiveRoot || p.startsWith(`${r.archiveRoot}/`));
}

/**
 * `rootOf` for many paths in archive order, where a root's paths come together: the last root found is tried first.
 * Roots never nest (checkManifestRoots), so a path under the last root belongs to no other.
 */
export function rootFinder<R extends { archiveRoot: string }>(roots: readonly R[]): (p: string) => R | undefined {
  const prefixed = roots.map((root) => ({ root, prefix: `${root.archiveRoot}/` }));
  let last: (typeof prefixed)[number] | undefined;
  return (p) => {
    if (last && p.startsWith(last.prefix)) return last.root;
    const found = prefixed.find((r) => p === r.root.archiveRoot || p.startsWith(r.prefix));
    if (found) last = found;
    return found?.root;
  };
}

function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}

/** A root's archive path must be `<service>/<part>/<name>` (or `_platform/platform.yaml`) with safe segments. */
export function checkManifestRoots(manifest: Manifest, where: string): void {
  const seen = new Set<string>();
  if (!Array.isArray(manifest.roots)) throw unsafe(where, '(roots)', 'the manifest lists no roots');
  for (const root of manifest.roots) {
    const problem = archivePathProblem(root.archiveRoot);
    if (problem) throw unsafe(where, String(root.archiveRoot), problem);
    if (seen.has(root.archiveRoot)) throw unsafe(where, root.archiveRoot, 'root listed twice');
    seen.add(root.archiveRoot);
    const segments = root.archiveRoot.split('/');
    const platformRoot = root.service === '_platform' && root.part === 'platform' && root.archiveRoot === '_platform/platform.yaml' && root.source === 'platform.yaml';
    const serviceRoot = segments.length === 3 && segments[0] === root.service && segments[1] === root.part && ['config', 'volumes', 'logs'].includes(root.part);
    if (!platformRoot && !serviceRoot) throw unsafe(where, root.archiveRoot, `not a root of service ${String(root.service)}'s ${String(root.part)}`);
    if (typeof root.source !== 'string' || root.source === '' || root.source.includes('\0')) throw unsafe(where, root.archiveRoot, 'no source path');
  }
  for (const root of manifest.roots) {
    const nested = manifest.roots.find((other) => other !== root && root.archiveRoot.startsWith(`${other.archiveRoot}/`));
    if (nested) throw unsafe(where, root.archiveRoot, `root inside root ${nested.archiveRoot}`);
  }
}

/**
 * One manifest entry: a safe path, listed once (`listedBefore` says whether an earlier entry of the same manifest
 * had its path), of a known type, with sane fields. Checked as the manifest streams in, before the entry is kept.
 */
export function checkManifestEntry(entry: ManifestEntry, where: string, listedBefore: (path: string) => boolean): void {
  const problem = archivePathProblem(entry.path);
  if (problem) throw unsafe(where, String(entry.path), problem);
  if (listedBefore(entry.path)) throw unsafe(where, entry.path, 'listed twice');
  if (!(ENTRY_TYPES as readonly string[]).includes(entry.type)) throw unsafe(where, entry.path, `unknown type ${String(entry.type)}`);
  if (!Number.isInteger(entry.mode) || entry.mode < 0 || entry.mode > 0o7777) throw unsafe(where, entry.path, 'invalid mode');
  if (!Number.isFinite(entry.mtimeMs)) throw unsafe(where, entry.path, 'invalid mtime');
  if (entry.type === 'file') {
    if (!Number.isSafeInteger(entry.size) || entry.size < 0) throw unsafe(where, entry.path, 'invalid size');
    if (typeof entry.sha256 !== 'string' || !SHA256_HEX.test(entry.sha256)) throw unsafe(where, entry.path, 'no SHA-256');
  }
  if ((entry.type === 'symlink' || entry.type === 'hardlink') && (typeof entry.link !== 'string' || entry.link === '' || entry.link.includes('\0'))) {
    throw unsafe(where, entry.path, 'link without a valid target');
  }
}

/** A manifest's deleted paths: safe paths. */
export function checkDeletedPaths(manifest: Manifest, where: string): void {
  for (const deleted of manifest.deleted ?? []) {
    const problem = archivePathProblem(deleted);
    if (problem) throw unsafe(where, String(deleted), problem);
  }
}

/** Each manifest entry (`checkManifestEntry`), and its deleted paths. */
export function checkManifestEntries(manifest: Manifest, where: string): void {
  const seen = new Set<string>();
  for (const entry of manifest.entries) {
    checkManifestEntry(entry, where, (p) => seen.has(p));
    seen.add(entry.path);
  }
  checkDeletedPaths(manifest, where);
}

/**
 * The folded state, checked as a whole: every path under a root of the backup, every parent a folder of the state,
 * every hard link to a file of the same root set. `where` names the backup for messages.
 */
export function checkState(state: BackupState, roots: readonly ManifestRoot[], where: string): void {
  const rootOfPath = rootFinder(roots);
  // Entries come folder by folder, so most share the previous entry's parent: looked up once, not once per entry
  // (a compact state makes an object at each lookup).
  let lastParent: { path: string; entry: StateEntry | undefined } | undefined;
  const parentEntry = (path: string) => {
    if (lastParent?.path !== path) lastParent = { path, entry: state.get(path) };
    return lastParent.entry;
  };
  for (const [p, entry] of state) {
    const root = rootOfPath(p);
    if (!root) throw unsafe(where, p, 'not under any root of the backup');
    if (p !== root.archiveRoot) {
      const parent = parentEntry(parentOf(p));
      if (!parent) throw unsafe(where, p, `its folder ${parentOf(p)} is not in the backup`);
      if (parent.type === 'symlink') throw unsafe(where, p, `it would be written through the symlink ${parent.path}`);
      if (parent.type !== 'dir') throw unsafe(where, p, `its parent ${parent.path} is a ${parent.type}, not a folder`);
    }
    if (entry.type === 'hardlink') {
      const target = state.get(entry.link ?? '');
      if (!target || target.type !== 'file' || !rootOf(roots, target.path) || rootOf(roots, target.path)!.service !== root.service) {
        throw unsafe(where, p, `hard link to ${JSON.stringify(entry.link)}, outside the restored files`);
      }
    }
  }
}
