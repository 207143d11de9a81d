/**
 * Where each root of a backup goes on disk. A backup's manifest lists its roots (`<service>/<part>/<name>` in the
 * archive, and the path each came from as platform.yaml declared it). A restore picks the roots of the services
 * asked for, and maps each one:
 *
 * - `--target DIR`: to `DIR/<service>/<part>/<name>` (platform.yaml to `DIR/_platform/platform.yaml`);
 * - in place, when platform.yaml itself is restored (a whole-platform restore of a backup that holds it): to the
 *   path the backup declared, resolved against the platform root, since the restored platform.yaml declares it;
 * - in place otherwise: to the path the current platform.yaml declares for the same service, part and archive
 *   root, else to the backup's declared path resolved against the platform root.
 *
 * In place, a path must be one the current platform owns: declared by the current platform.yaml, or inside the
 * platform root. Roots must not overlap each other, the backup directory or (with --target) the live platform.
 */
import path from 'node:path';
import { BackupError } from '../errors.js';
import type { Manifest, ManifestRoot } from '../archive/manifest.js';
import type { Platform } from '../platform/types.js';
import { isInside } from './safety.js';

export const PLATFORM_SERVICE = '_platform';

export interface RestoreRoot extends ManifestRoot {
  /** Absolute path this root is restored to. */
  destination: string;
  /** gitignore-style patterns of the current service: paths they match that the backup lacks are kept. */
  exclude: readonly string[];
}

export interface RootSelection {
  /** Services to restore; all of the backup's when omitted. */
  services?: readonly string[];
  /** Absolute target folder, instead of in place. */
  target?: string;
}

export interface SelectedRoots {
  roots: RestoreRoot[];
  /** The services restored, in the backup's order (without `_platform`). */
  services: string[];
  /** True when platform.yaml is among the roots. */
  platformConfig: boolean;
}

function overlaps(a: string, b: string): boolean {
  return isInside(a, b) || isInside(b, a);
}

export function selectRoots(manifest: Manifest, platform: Platform, selection: RootSelection): SelectedRoots {
  const held = manifest.services;
  let services = [...held];
  if (selection.services !== undefined) {
    const wanted = [...new Set(selection.services.map((s) => s.trim()).filter((s) => s !== ''))];
    if (wanted.length === 0) throw new BackupError('USAGE', '--services is empty: name at least one service');
    const unknown = wanted.filter((s) => !held.includes(s));
    if (unknown.length > 0) {
      throw new BackupError('SERVICE_UNKNOWN', `backup ${manifest.id} does not hold service${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}: it holds ${held.join(', ')}`, {
        unknown,
        held,
      });
    }
    services = held.filter((s) => wanted.includes(s));
  }
  const platformConfig = selection.services === undefined && manifest.roots.some((r) => r.service === PLATFORM_SERVICE);
  const chosen = manifest.roots.filter((r) => services.includes(r.service) || (platformConfig && r.service === PLATFORM_SERVICE));

  const roots = chosen.map((root): RestoreRoot => {
    const current = platform.services.find((s) => s.name === root.service);
    const exclude = current?.exclude ?? [];
    if (selection.target !== undefined) return { ...root, destination: path.join(selection.target, ...root.archiveRoot.split('/')), exclude };
    if (root.service === PLATFORM_SERVICE) return { ...root, destination: platform.configFile ?? path.join(platform.root, 'platform.yaml'), exclude };
    const declaredNow = current?.paths.find((p) => p.part === root.part && p.archiveRoot === root.archiveRoot);
    const fromBackup = path.resolve(platform.root, root.source);
    const destination = platformConfig || !declaredNow ? fromBackup : declaredNow.absolute;
    const owned = isInside(platform.root, destination) || platform.services.some((s) => s.paths.some((p) => p.absolute === destination));
    if (!owned) {
      throw new BackupError(
        'UNSAFE_ARCHIVE',
        `backup ${manifest.id} restores ${root.service}'s ${root.part} to ${destination}, which the current platform.yaml does not declare and which is outside the platform root: declare it in platform.yaml, or restore with --target DIR`,
        { destination, archiveRoot: root.archiveRoot },
      );
    }
    return { ...root, destination, exclude };
  });

  checkOverlaps(roots, platform, selection.target !== undefined);
  return { roots, services, platformConfig };
}

function checkOverlaps(roots: readonly RestoreRoot[], platform: Platform, toTarget: boolean): void {
  const backupDir = platform.backupDir;
  for (const root of roots) {
    const d = root.destination;
    if (d === path.parse(d).root) throw new BackupError('USAGE', `refusing to restore ${root.archiveRoot} over the filesystem root ${d}`);
    if (overlaps(d, backupDir)) {
      throw new BackupError('USAGE', `${root.archiveRoot} would be restored to ${d}, which overlaps the backup directory ${backupDir}: restore it with --target DIR elsewhere`, {
        destination: d,
      });
    }
    const other = roots.find((r) => r !== root && overlaps(r.destination, d));
    if (other) {
      throw new BackupError('USAGE', `${root.archiveRoot} and ${other.archiveRoot} would be restored to overlapping paths (${d}, ${other.destination}): restore them with --target DIR`, {
        destination: d,
      });
    }
    if (toTarget) {
      const live = platform.services.flatMap((s) => s.paths.map((p) => p.absolute));
      if (platform.configFile) live.push(platform.configFile);
      const hit = live.find((p) => overlaps(p, d));
      if (hit) throw new BackupError('USAGE', `--target would write ${d}, which overlaps the live platform path ${hit}: choose a folder outside the platform's paths`, { destination: d });
    } else {
      // In place, a root may not hold another service's path: swapping it would replace that service's files too.
      const held = platform.services.flatMap((s) => s.paths.filter(() => s.name !== root.service).map((p) => p.absolute));
      if (root.service !== PLATFORM_SERVICE && platform.configFile) held.push(platform.configFile);
      const inner = held.find((p) => p !== d && isInside(d, p));
      if (inner) {
        throw new BackupError('USAGE', `${root.archiveRoot} would be restored to ${d}, which holds ${inner}, a path of another part of the platform: restore it with --target DIR`, {
          destination: d,
        });
      }
    }
  }
}
