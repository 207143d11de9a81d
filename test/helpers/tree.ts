/**
 * Test fixtures as declarative trees (the changesets `testdir` habit): a test reads as the situation it sets up.
 * And `snapshotTree`, which records everything a restore must reproduce, for byte-exact comparisons.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A file's content, a folder (nested tree), a symlink, or a file with an explicit mode. */
export type TreeNode =
  | string
  | Buffer
  | { [name: string]: TreeNode }
  | { symlink: string }
  | { content: string | Buffer; mode: number };

function isSymlink(node: TreeNode): node is { symlink: string } {
  return typeof node === 'object' && !Buffer.isBuffer(node) && typeof (node as { symlink?: unknown }).symlink === 'string';
}

function isModeFile(node: TreeNode): node is { content: string | Buffer; mode: number } {
  return typeof node === 'object' && !Buffer.isBuffer(node) && 'content' in node && 'mode' in node && typeof node.mode === 'number';
}

export function writeTree(root: string, tree: { [name: string]: TreeNode }): void {
  fs.mkdirSync(root, { recursive: true });
  for (const [name, node] of Object.entries(tree)) {
    const target = path.join(root, name);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    if (typeof node === 'string' || Buffer.isBuffer(node)) fs.writeFileSync(target, node);
    else if (isSymlink(node)) fs.symlinkSync(node.symlink, target);
    else if (isModeFile(node)) {
      fs.writeFileSync(target, node.content);
      fs.chmodSync(target, node.mode);
    } else writeTree(target, node);
  }
}

/** A fresh temporary folder, removed by the returned cleanup. */
export function tempDir(prefix = 'mcp-backup-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface TreeRecord {
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  size?: number;
  sha256?: string;
  link?: string;
  mtimeMs?: number;
}

/** Every entry under `root` (relative paths), with what a restore must reproduce. */
export function snapshotTree(root: string, options: { mtimes?: boolean; skip?: (relative: string) => boolean } = {}): Record<string, TreeRecord> {
  const out: Record<string, TreeRecord> = {};
  const walk = (dir: string, rel: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      const relative = rel ? `${rel}/${name}` : name;
      if (options.skip?.(relative)) continue;
      const absolute = path.join(dir, name);
      // A name that is not UTF-8 cannot be opened through a JS string: record that it is there.
      if (name.includes('\uFFFD')) {
        out[relative] = { type: 'file', mode: -1 };
        continue;
      }
      const stat = fs.lstatSync(absolute);
      const mtime = options.mtimes ? { mtimeMs: Math.floor(stat.mtimeMs) } : {};
      if (stat.isSymbolicLink()) out[relative] = { type: 'symlink', mode: 0, link: fs.readlinkSync(absolute) };
      else if (stat.isDirectory()) {
        out[relative] = { type: 'dir', mode: stat.mode & 0o7777, ...mtime };
        walk(absolute, relative);
      } else {
        const content = fs.readFileSync(absolute);
        out[relative] = {
          type: 'file',
          mode: stat.mode & 0o7777,
          size: content.length,
          sha256: createHash('sha256').update(content).digest('hex'),
          ...mtime,
        };
      }
    }
  };
  walk(root, '');
  return out;
}
