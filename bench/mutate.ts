/**
 * The "1% change" between two backups, deterministic from the seed and the step number:
 * - rewrite 1% of the platform's files (chosen among the documents, store files and source files: not the large
 *   blobs, logs or git internals), with new content of about the same size;
 * - append to the largest log (1% of its size, at least 64 KiB);
 * - delete a few files and add as many new ones (0.05% of the files, at least 3);
 * - one new commit in the first git repository (two files edited, one added).
 */
import { appendFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, extname, join, relative } from 'node:path';
import { Rng } from './prng.js';
import { docContent, editSource, git, hasGit } from './generate.js';
import { logText, sentence, word } from './text.js';

export interface MutationSummary {
  step: number;
  totalFiles: number;
  rewritten: number;
  appendedBytes: number;
  appendedTo: string | null;
  deleted: number;
  added: number;
  gitCommit: string | null;
}

interface Entry {
  rel: string;
  size: number;
}

function walk(root: string): { all: number; eligible: Entry[]; logs: Entry[]; repos: string[] } {
  const out = { all: 0, eligible: [] as Entry[], logs: [] as Entry[], repos: [] as string[] };
  const rec = (dir: string, inGit: boolean, inLogs: boolean): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = lstatSync(p);
      const rel = relative(root, p);
      if (st.isDirectory()) {
        if (name === '.git') out.repos.push(dir);
        rec(p, inGit || name === '.git', inLogs || (name === 'logs' && dirname(dir).endsWith('services')));
      } else if (st.isFile()) {
        out.all++;
        if (inLogs) out.logs.push({ rel, size: st.size });
        else if (!inGit && st.size <= 1 << 20) out.eligible.push({ rel, size: st.size });
      }
    }
  };
  rec(root, false, false);
  return out;
}

/** Applies change number `step` (1, 2, ...) to the platform at `root`. */
export function mutatePlatform(root: string, seed: number, step: number): MutationSummary {
  const rng = new Rng(seed).fork(`mutate:${step}`);
  const services = join(root, 'services');
  const tree = walk(services);
  const picked = rng.shuffle(tree.eligible);
  const rewriteCount = Math.max(1, Math.round(tree.all * 0.01));
  const churn = Math.max(3, Math.round(tree.all * 0.0005));
  const summary: MutationSummary = {
    step, totalFiles: tree.all, rewritten: 0, appendedBytes: 0, appendedTo: null, deleted: 0, added: 0, gitCommit: null,
  };

  const rewrite = picked.slice(0, rewriteCount);
  for (const e of rewrite) {
    const p = join(services, e.rel);
    const ext = extname(e.rel).slice(1);
    const size = Math.max(100, Math.round(e.size * (0.9 + rng.next() * 0.2)));
    const known = ['json', 'md', 'txt', 'csv', 'yaml', 'html', 'log', 'sh'].includes(ext);
    const content = known ? docContent(rng, ext, size) : editSource(rng, readFileSync(p, 'utf8'), sentence(rng));
    writeFileSync(p, content);
    summary.rewritten++;
  }

  const biggestLog = tree.logs.slice().sort((a, b) => b.size - a.size || a.rel.localeCompare(b.rel))[0];
  if (biggestLog !== undefined) {
    const text = logText(rng, Math.max(64 * 1024, Math.round(biggestLog.size * 0.01)), Date.UTC(2025, 0, step), 'bench');
    appendFileSync(join(services, biggestLog.rel), text);
    summary.appendedBytes = Buffer.byteLength(text);
    summary.appendedTo = biggestLog.rel;
  }

  const removed = picked.slice(rewriteCount, rewriteCount + churn);
  for (const e of removed) {
    unlinkSync(join(services, e.rel));
    summary.deleted++;
  }
  for (let i = 0; i < churn; i++) {
    const near = rng.pick(rewrite.length > 0 ? rewrite : picked);
    const dir = join(services, dirname(near.rel));
    mkdirSync(dir, { recursive: true });
    const p = join(dir, `new-${step}-${i}-${word(rng)}.md`);
    if (existsSync(p)) continue;
    writeFileSync(p, docContent(rng, 'md', rng.range(200, 4000)));
    summary.added++;
  }

  const repo = tree.repos.sort()[0];
  if (repo !== undefined && hasGit()) {
    const t = Date.UTC(2025, 0, step) / 1000;
    const files = git(repo, ['ls-files', '-z'], t).split('\0').filter((f) => f !== '' && !f.startsWith('notes/'));
    if (files.length > 0) {
      for (let i = 0; i < 2; i++) {
        const f = rng.pick(files);
        const p = join(repo, f);
        if (existsSync(p) && lstatSync(p).isFile()) writeFileSync(p, editSource(rng, readFileSync(p, 'utf8'), sentence(rng)));
      }
    }
    writeFileSync(join(repo, `CHANGES-${step}.md`), docContent(rng, 'md', 1500));
    git(repo, ['add', '-A'], t);
    git(repo, ['commit', '-q', '-m', `Change ${step}: ${sentence(rng)}`], t);
    summary.gitCommit = git(repo, ['rev-parse', 'HEAD'], t).trim();
  }
  return summary;
}
