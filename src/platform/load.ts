/**
 * Finds the platform root and turns platform.yaml (or the folder convention) into a `Platform`.
 *
 * Root: the explicit option, else the MCP_PLATFORM_HOME value the caller passes in, else the nearest folder at or
 * above `cwd` holding platform.yaml. Without platform.yaml, each folder `services/<name>/` is a service whose
 * `config/`, `volumes/` (or `data/`) and `logs/` subfolders are its parts.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { BackupError } from '../errors.js';
import { readPlatformFile } from './config-file.js';
import type { Part, Platform, Service, SourcePath } from './types.js';

export const PLATFORM_FILE = 'platform.yaml';
const DEFAULT_BACKUP_DIR = 'backup';

export interface LocatePlatformOptions {
  /** `--platform DIR`. */
  platform?: string;
  /** The value of MCP_PLATFORM_HOME, if set. The library never reads the environment itself. */
  platformHome?: string;
  /** Where the upward search starts. */
  cwd: string;
}

async function isDirectory(p: string): Promise<boolean> {
  return fs.stat(p).then((s) => s.isDirectory(), () => false);
}

async function isFile(p: string): Promise<boolean> {
  return fs.stat(p).then((s) => s.isFile(), () => false);
}

export async function locatePlatformRoot(options: LocatePlatformOptions): Promise<string> {
  const explicit = options.platform ?? options.platformHome;
  if (explicit !== undefined) {
    const root = path.resolve(options.cwd, explicit);
    const source = options.platform !== undefined ? '--platform' : 'MCP_PLATFORM_HOME';
    if (!(await isDirectory(root))) {
      throw new BackupError('PLATFORM_NOT_FOUND', `platform folder ${root} (from ${source}) does not exist: pass the folder that holds platform.yaml or services/`, { root });
    }
    return root;
  }
  for (let dir = path.resolve(options.cwd); ; dir = path.dirname(dir)) {
    if (await isFile(path.join(dir, PLATFORM_FILE))) return dir;
    if (path.dirname(dir) === dir) break;
  }
  throw new BackupError(
    'PLATFORM_NOT_FOUND',
    `no ${PLATFORM_FILE} found in ${options.cwd} or any folder above it: pass --platform DIR or set MCP_PLATFORM_HOME`,
    { cwd: options.cwd },
  );
}

export async function loadPlatform(options: LocatePlatformOptions): Promise<Platform> {
  const root = await locatePlatformRoot(options);
  const configFile = path.join(root, PLATFORM_FILE);
  if (await isFile(configFile)) return fromConfigFile(root, configFile);
  return discoverByConvention(root);
}

/** Gives each path a unique archive root `<service>/<part>/<basename>` (suffixing -2, -3 on clashes). */
function assignArchiveRoots(service: string, declared: { part: Part; declared: string; absolute: string }[]): SourcePath[] {
  const taken = new Set<string>();
  return declared.map((p) => {
    const base = path.basename(p.absolute) || 'root';
    let candidate = `${service}/${p.part}/${base}`;
    for (let n = 2; taken.has(candidate); n++) candidate = `${service}/${p.part}/${base}-${n}`;
    taken.add(candidate);
    return { ...p, archiveRoot: candidate };
  });
}

async function fromConfigFile(root: string, configFile: string): Promise<Platform> {
  const file = await readPlatformFile(configFile);
  const services: Service[] = Object.entries(file.services)
    .map(([name, spec]) => {
      const parts: { part: Part; declared: string; absolute: string }[] = [];
      for (const part of ['config', 'volumes', 'logs'] as const) {
        for (const declared of spec?.[part] ?? []) parts.push({ part, declared, absolute: path.resolve(root, declared) });
      }
      return {
        name,
        paths: assignArchiveRoots(name, parts),
        exclude: spec?.exclude ?? [],
        hooks: spec?.hooks ?? {},
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));

  const backup = file.backup ?? {};
  const encryption = backup.encryption;
  return {
    root,
    name: file.name ?? path.basename(root),
    configFile,
    services,
    backupDir: path.resolve(root, backup.dir ?? DEFAULT_BACKUP_DIR),
    defaults: {
      ...(backup.retention && { retention: backup.retention }),
      ...(backup.compression?.level !== undefined && { compressionLevel: backup.compression.level }),
      ...(encryption && {
        encryption: {
          recipients: encryption.recipients ?? [],
          ...(encryption.recipients_file && { recipientsFile: path.resolve(root, encryption.recipients_file) }),
        },
      }),
    },
  };
}

const CONVENTION: { part: Part; folders: string[] }[] = [
  { part: 'config', folders: ['config'] },
  { part: 'volumes', folders: ['volumes', 'data'] },
  { part: 'logs', folders: ['logs'] },
];

async function discoverByConvention(root: string): Promise<Platform> {
  const servicesDir = path.join(root, 'services');
  let names: string[];
  try {
    names = (await fs.readdir(servicesDir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  } catch {
    names = [];
  }
  if (names.length === 0) {
    throw new BackupError(
      'PLATFORM_NOT_FOUND',
      `${root} has no ${PLATFORM_FILE} and no services/<name>/ folders: write a ${PLATFORM_FILE} (see the README) or pass the right --platform`,
      { root },
    );
  }
  const services: Service[] = [];
  for (const name of names) {
    const parts: { part: Part; declared: string; absolute: string }[] = [];
    for (const { part, folders } of CONVENTION) {
      for (const folder of folders) {
        const declared = `services/${name}/${folder}`;
        if (await isDirectory(path.join(root, declared))) {
          parts.push({ part, declared, absolute: path.join(root, declared) });
          break;
        }
      }
    }
    services.push({ name, paths: assignArchiveRoots(name, parts), exclude: [], hooks: {} });
  }
  return { root, name: path.basename(root), services, backupDir: path.join(root, DEFAULT_BACKUP_DIR), defaults: {} };
}
