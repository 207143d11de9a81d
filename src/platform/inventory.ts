/** What a backup would take, service by service: each path with its size and file count (`mcp backup services`). */
import fs from 'node:fs';
import { scanRoots } from '../walk/scan.js';
import type { Part, Platform } from './types.js';

export interface PathSummary {
  part: Part;
  declared: string;
  absolute: string;
  exists: boolean;
  files: number;
  bytes: number;
  /** Paths inside it that a backup could not read. */
  problems: number;
}

export interface ServiceSummary {
  name: string;
  paths: PathSummary[];
  exclude: string[];
  hooks: string[];
  files: number;
  bytes: number;
}

export function inventory(platform: Platform): ServiceSummary[] {
  const skip = new Set([platform.backupDir]);
  return platform.services.map((service) => {
    const paths = service.paths.map((p): PathSummary => {
      if (!fs.existsSync(p.absolute)) return { part: p.part, declared: p.declared, absolute: p.absolute, exists: false, files: 0, bytes: 0, problems: 0 };
      const scan = scanRoots([{ absolute: p.absolute, archiveRoot: p.archiveRoot, exclude: service.exclude }], { skip });
      const files = scan.entries.filter((e) => e.type === 'file');
      return {
        part: p.part,
        declared: p.declared,
        absolute: p.absolute,
        exists: true,
        files: files.length,
        bytes: files.reduce((n, e) => n + e.size, 0),
        problems: scan.problems.length,
      };
    });
    return {
      name: service.name,
      paths,
      exclude: service.exclude,
      hooks: Object.keys(service.hooks),
      files: paths.reduce((n, p) => n + p.files, 0),
      bytes: paths.reduce((n, p) => n + p.bytes, 0),
    };
  });
}
