/**
 * Smoke test of the benchmark harness: only its data generator (at the tiny size) and the index cloning. The
 * benchmark itself never runs in `npm test` (it takes minutes and measures the machine): run `npm run bench`.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cloneIndex, type Json } from '../bench/clone-index.js';
import { generatePlatform } from '../bench/generate.js';
import { mutatePlatform } from '../bench/mutate.js';

const temp = mkdtempSync(join(tmpdir(), 'mcp-bench-smoke-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

/** path -> type, mode, size, content hash or link target; git's index (it caches stat data) is left out. */
function fingerprint(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const rel = relative(root, p);
      const st = lstatSync(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out.set(rel, `dir ${mode} ${st.mtimeMs}`);
        walk(p);
      } else if (st.isSymbolicLink()) {
        out.set(rel, `link ${readlinkSync(p)}`);
      } else if (!rel.endsWith('/.git/index')) {
        out.set(rel, `file ${mode} ${st.size} ${st.mtimeMs} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`);
      }
    }
  };
  walk(root);
  return out;
}

describe('bench data generator', () => {
  it('is deterministic: same seed, same tree and contents; another seed, other contents', () => {
    const a = join(temp, 'a');
    const b = join(temp, 'b');
    const c = join(temp, 'c');
    const statsA = generatePlatform(a, { size: 'tiny', seed: 7 });
    generatePlatform(b, { size: 'tiny', seed: 7 });
    generatePlatform(c, { size: 'tiny', seed: 8 });
    const fa = fingerprint(a);
    expect(fa).toEqual(fingerprint(b));
    expect(fa).not.toEqual(fingerprint(c));

    expect(statsA.files).toBeGreaterThan(200);
    expect(statsA.symlinks).toBeGreaterThan(3);
    expect(statsA.bytes).toBeGreaterThan(1_000_000);
    expect(statsA.bytes).toBeLessThan(6_000_000);
    const paths = [...fa.keys()];
    for (const service of ['filesystem', 'git', 'memory', 'assets']) {
      expect(paths.some((p) => p.startsWith(`services/${service}/config/`))).toBe(true);
      expect(paths.some((p) => p.startsWith(`services/${service}/volumes/`))).toBe(true);
    }
    expect(paths.some((p) => [...p].some((ch) => ch.charCodeAt(0) > 127))).toBe(true); // unicode names
    expect(paths.some((p) => p.includes('/.git/objects/'))).toBe(statsA.git);
  });

  it('applies the same change for the same seed and step', () => {
    const a = join(temp, 'a');
    const b = join(temp, 'b');
    const ma = mutatePlatform(a, 7, 1);
    const mb = mutatePlatform(b, 7, 1);
    expect({ ...ma, gitCommit: null }).toEqual({ ...mb, gitCommit: null });
    expect(ma.gitCommit).toEqual(mb.gitCommit);
    expect(ma.rewritten).toBeGreaterThan(0);
    expect(ma.deleted).toBeGreaterThan(0);
    expect(ma.appendedBytes).toBeGreaterThan(0);
  });
});

describe('bench index cloning', () => {
  it('clones the real records into many with distinct, chained ids, keeping the shape', () => {
    const index: Json = {
      schemaVersion: 1,
      backups: [
        { id: '20261124T020000Z-full-7f3a', type: 'full', createdAt: '2026-11-24T02:00:00.000Z', archive: '20261124T020000Z-full-7f3a.tar.gz', size: 10 },
        { id: '20261124T030000Z-incremental-0b1c', type: 'incremental', parent: '20261124T020000Z-full-7f3a', createdAt: '2026-11-24T03:00:00.000Z', archive: '20261124T030000Z-incremental-0b1c.tar.gz', size: 1 },
      ],
    };
    const out = cloneIndex(index, 25, Date.UTC(2027, 0, 1));
    if ('skip' in out) throw new Error(out.skip);
    const result = out.index as { schemaVersion: number; backups: Array<Record<string, string>> };
    expect(result.schemaVersion).toBe(1);
    expect(result.backups).toHaveLength(25);
    const ids = result.backups.map((r) => r.id);
    expect(new Set(ids).size).toBe(25);
    for (const [i, r] of result.backups.entries()) {
      expect(r.archive).toBe(`${r.id}.tar.gz`);
      expect(r.id).toMatch(/^\d{8}T\d{6}Z-(full|incremental)-[0-9a-f]{4,}$/);
      if (i % 10 === 0) expect(r.type).toBe('full');
      else expect(r.parent).toBe(ids[i - 1]);
    }
    expect(cloneIndex({ nothing: [] }, 5)).toHaveProperty('skip');
  });
});

describe('npm run bench with bad options', () => {
  it.each([
    [['--bogus'], "bench: Unknown option '--bogus'"],
    [['--runs'], "bench: Option '--runs <value>' argument missing"],
    [['--size', 'huge'], 'bench: unknown --size huge'],
  ])('%j: exits 2 with one line and the usage, before any work', (args, line) => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], { cwd: join(import.meta.dirname, '..'), encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr.split('\n')[0]).toBe(line);
    expect(run.stderr).toContain('Usage: npm run bench -- [options]');
    expect(run.stderr).not.toContain('    at ');
    expect(run.stdout).toBe('');
  });
});
