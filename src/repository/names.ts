/**
 * The names of what `mcp backup` keeps in archives/: per backup, its archive `<id>.tar.gz` (`<id>.tar` without
 * compression, `.age` appended when encrypted) and the manifest copy `<id>.manifest.json.gz` (`.age` appended when
 * encrypted). Maintenance reads and removes only files whose names parse here, so a file someone else put in
 * archives/ is never touched, and a record edited by hand can never make a command remove another backup's files.
 */

/** A backup id as `newBackupId` makes them: `20261124T020000Z-full-7f3a`. */
const ID = String.raw`\d{8}T\d{6}Z-(?:full|incremental|service)-[A-Za-z0-9]+`;
const ARCHIVE = new RegExp(String.raw`^(${ID})\.tar(\.gz)?(\.age)?$`);
const MANIFEST = new RegExp(String.raw`^(${ID})\.manifest\.json\.gz(\.age)?$`);

export type ObjectName =
  | { kind: 'archive'; id: string; compression: 'gzip' | 'none'; encrypted: boolean }
  | { kind: 'manifest'; id: string; encrypted: boolean };

/** What an object name in archives/ is, or undefined for a name that is not ours. */
export function parseObjectName(name: string): ObjectName | undefined {
  const archive = ARCHIVE.exec(name);
  if (archive) return { kind: 'archive', id: archive[1]!, compression: archive[2] ? 'gzip' : 'none', encrypted: archive[3] !== undefined };
  const manifest = MANIFEST.exec(name);
  if (manifest) return { kind: 'manifest', id: manifest[1]!, encrypted: manifest[2] !== undefined };
  return undefined;
}

/** True when `name` is one of the files of backup `id` (its archive or its manifest copy, in any variant). */
export function isObjectOf(name: string, id: string): boolean {
  return parseObjectName(name)?.id === id;
}

/** The manifest copy's name beside an archive. */
export function manifestNameFor(id: string, encrypted: boolean): string {
  return `${id}.manifest.json.gz${encrypted ? '.age' : ''}`;
}
