/**
 * Text for the benchmark's platform: words, names (with unicode), JSON documents, markdown, CSV, log lines, and a
 * corpus of real source and documentation text found on this machine (for the git repositories and some documents).
 * Everything is drawn from an Rng, so it is reproducible from the seed.
 */
import { readdirSync, readFileSync, lstatSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Rng } from './prng.js';

export const WORDS = (
  'the of and to in is for on that with as by this be are from at or an it not which have has was will can all ' +
  'service server client request response config volume backup restore archive index record query model tool ' +
  'resource prompt session token memory graph entity relation observation file folder path repository commit ' +
  'branch merge release deploy build test lint report review plan meeting notes summary budget forecast quarter ' +
  'customer account invoice payment contract policy security access audit incident ticket priority status ' +
  'pending active closed draft final approved rejected team project roadmap milestone sprint backlog feature ' +
  'issue design research analysis dataset pipeline schema migration database table column value default ' +
  'timeout retry cache queue worker schedule daily weekly monthly yearly region cluster node instance capacity ' +
  'latency throughput error warning info debug trace metric alert dashboard threshold owner contact address ' +
  'document template draft version history change update delete create read write list show verify'
).split(' ');

const UNICODE_WORDS = [
  'résumé', 'naïve', 'café', 'Größe', 'straße', 'déjà-vu', 'señal', 'ação', 'smörgåsbord', 'Ωmega', 'λόγος',
  'отчёт', 'данные', '議事録', '設計書', '日本語', '数据', '报告', '회의록', 'تقرير', 'שלום', 'हिन्दी', 'ไทย',
  '🚀', '📁 archive', '✅ done', 'naïve café', 'crème brûlée', 'Ærø', 'İstanbul', 'Łódź', 'ﬁle-ligature',
];

/** Decomposed (NFD) spellings: distinct names from their NFC twins on Linux. */
const NFD_WORDS = ['re\u0301sume\u0301', 'cafe\u0301', 'nai\u0308ve', 'Gro\u0308\u00dfe'];

export const DEPARTMENTS = [
  'engineering', 'sales', 'legal', 'finance', 'hr', 'support', 'marketing', 'research', 'recherche-et-développement',
  '営業部', 'operations', 'design', 'data-science', 'product', 'security', 'общий отдел',
];

export const FIRST_NAMES = ['Ada', 'Grace', 'Linus', 'Margaret', 'Ken', 'Barbara', 'Dennis', 'Frances', 'José', 'Zoë',
  'Søren', 'Åsa', 'Łukasz', 'Chloé', 'Yuki', 'Mei', 'Ngozi', 'Aarav', 'Fatima', 'Olúwaseun'];

export function word(rng: Rng): string {
  return rng.pick(WORDS);
}

export function words(rng: Rng, n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(rng.pick(WORDS));
  return out.join(' ');
}

export function sentence(rng: Rng): string {
  const s = words(rng, rng.range(6, 18));
  return s.charAt(0).toUpperCase() + s.slice(1) + (rng.chance(0.1) ? '?' : '.');
}

export function paragraph(rng: Rng): string {
  const out: string[] = [];
  const n = rng.range(2, 7);
  for (let i = 0; i < n; i++) out.push(sentence(rng));
  return out.join(' ');
}

/** A name for a file or folder: mostly ASCII words, some unicode, a few decomposed, a few long. */
export function fileStem(rng: Rng): string {
  const r = rng.next();
  if (r < 0.06) return `${rng.pick(UNICODE_WORDS)} ${word(rng)}`;
  if (r < 0.07) return `${rng.pick(NFD_WORDS)}-${word(rng)}`;
  if (r < 0.075) return Array.from({ length: rng.range(12, 22) }, () => word(rng)).join('-'); // long name
  if (r < 0.1) return `${word(rng)} ${word(rng)} (${rng.range(1, 9)})`;
  if (r < 0.4) return `${rng.range(2019, 2025)}-${String(rng.range(1, 12)).padStart(2, '0')}-${word(rng)}`;
  return `${word(rng)}-${word(rng)}`;
}

export function isoDate(rng: Rng, fromYear = 2023, toYear = 2025): string {
  const from = Date.UTC(fromYear, 0, 1);
  const to = Date.UTC(toYear, 11, 31);
  return new Date(from + Math.floor(rng.next() * (to - from))).toISOString();
}

/** A pretty-printed JSON document of about `size` bytes (records, nested objects). */
export function jsonDocument(rng: Rng, size: number): string {
  const doc: Record<string, unknown> = {
    id: `${rng.hex(8)}-${rng.hex(4)}-${rng.hex(4)}-${rng.hex(12)}`,
    title: sentence(rng),
    owner: rng.pick(FIRST_NAMES),
    created: isoDate(rng),
    tags: Array.from({ length: rng.range(0, 5) }, () => word(rng)),
    items: [] as unknown[],
  };
  const items = doc.items as unknown[];
  let approx = 200;
  while (approx < size) {
    const item = {
      key: `${word(rng)}_${rng.int(10000)}`,
      value: rng.chance(0.5) ? rng.int(1_000_000) : words(rng, rng.range(1, 8)),
      enabled: rng.chance(0.7),
      updated: isoDate(rng),
      ...(rng.chance(0.3) ? { nested: { a: rng.int(100), b: word(rng), c: [rng.int(9), rng.int(9), rng.int(9)] } } : {}),
    };
    items.push(item);
    approx += 150;
  }
  return JSON.stringify(doc, null, 2) + '\n';
}

/** Markdown of about `size` bytes; some paragraphs are slices of real prose when a pool is given. */
export function markdownDocument(rng: Rng, size: number, prose?: string): string {
  const out: string[] = [`# ${sentence(rng).slice(0, -1)}`, ''];
  let len = out[0]?.length ?? 0;
  while (len < size) {
    let block: string;
    const r = rng.next();
    if (r < 0.15) block = `## ${words(rng, rng.range(2, 6))}`;
    else if (r < 0.3) block = Array.from({ length: rng.range(2, 6) }, () => `- ${sentence(rng)}`).join('\n');
    else if (r < 0.55 && prose !== undefined && prose.length > 4096) {
      const at = rng.int(prose.length - 2048);
      block = prose.slice(at, at + rng.range(200, 1500));
    } else block = paragraph(rng);
    out.push(block, '');
    len += block.length + 2;
  }
  return out.join('\n');
}

export function csvDocument(rng: Rng, size: number): string {
  const cols = rng.range(3, 8);
  const header = Array.from({ length: cols }, (_, i) => (i === 0 ? 'date' : word(rng)));
  const lines = [header.join(',')];
  let len = lines[0]?.length ?? 0;
  while (len < size) {
    const row = [isoDate(rng).slice(0, 10)];
    for (let i = 1; i < cols; i++) row.push(rng.chance(0.8) ? (rng.next() * 10000).toFixed(2) : word(rng));
    const line = row.join(',');
    lines.push(line);
    len += line.length + 1;
  }
  return lines.join('\n') + '\n';
}

export function textDocument(rng: Rng, size: number, prose?: string): string {
  if (prose !== undefined && prose.length > size + 16 && rng.chance(0.5)) {
    const at = rng.int(prose.length - size);
    return prose.slice(at, at + size);
  }
  const out: string[] = [];
  let len = 0;
  while (len < size) {
    const p = paragraph(rng);
    out.push(p);
    len += p.length + 2;
  }
  return out.join('\n\n') + '\n';
}

const LEVELS = ['INFO', 'INFO', 'INFO', 'INFO', 'DEBUG', 'DEBUG', 'WARN', 'ERROR'];
const METHODS = ['tools/call', 'tools/list', 'resources/read', 'resources/list', 'prompts/get', 'initialize', 'ping'];
const TOOLS = ['read_file', 'write_file', 'list_directory', 'search_files', 'git_log', 'git_diff', 'git_status',
  'create_entities', 'search_nodes', 'open_nodes', 'fetch', 'query'];

/**
 * Log text of about `size` bytes, starting at `startMs`: structured lines as MCP servers write them, compressible
 * like real logs (repeated keys, close timestamps, a limited vocabulary).
 */
export function logText(rng: Rng, size: number, startMs: number, service: string): string {
  const parts: string[] = [];
  let len = 0;
  let t = startMs;
  while (len < size) {
    t += rng.int(400);
    const ts = new Date(t).toISOString();
    const level = rng.pick(LEVELS);
    let line: string;
    if (rng.chance(0.3)) {
      line = JSON.stringify({
        ts, level: level.toLowerCase(), service, msg: 'request', method: rng.pick(METHODS), tool: rng.pick(TOOLS),
        session: rng.hex(8), id: rng.int(100000), duration_ms: rng.int(2000), bytes: rng.int(1 << 20),
      });
    } else if (level === 'ERROR' && rng.chance(0.5)) {
      line = `${ts} ERROR [${service}] ${rng.pick(TOOLS)} failed: ${words(rng, rng.range(3, 9))}\n` +
        `    at ${word(rng)}Handler (/app/dist/${word(rng)}.js:${rng.int(900)}:${rng.int(80)})\n` +
        `    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)`;
    } else {
      line = `${ts} ${level.padEnd(5)} [${service}] req=${rng.hex(6)} ${rng.pick(METHODS)} ` +
        `name=${rng.pick(TOOLS)} path=/${word(rng)}/${word(rng)}.${rng.pick(['md', 'json', 'txt'])} ` +
        `status=${rng.chance(0.95) ? 'ok' : 'error'} duration_ms=${rng.int(1500)}`;
    }
    parts.push(line);
    len += line.length + 1;
  }
  return parts.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------------------------
// A corpus of real text found on this machine.

export interface CorpusFile {
  /** Path relative to its root, used as the path inside a repository. */
  rel: string;
  text: string;
}

export interface CorpusRoot {
  name: string;
  dir: string;
  files: CorpusFile[];
}

/** Where real source and documentation text usually is on a Debian-like machine, in the order they are used. */
export const DEFAULT_CORPUS_ROOTS = [
  '/usr/lib/node_modules/npm',
  '/usr/lib/python3.11',
  '/usr/lib/python3',
  '/usr/include',
  '/usr/share/perl5',
  '/usr/share/perl',
  '/usr/share/doc',
];

const TEXT_EXT = /\.(js|mjs|cjs|ts|md|json|py|h|hpp|c|cc|pm|pl|pod|txt|rst|ya?ml|toml|sh|html|css)$/i;
const MIN_FILE = 200;
const MAX_FILE = 256 * 1024;

function looksText(buf: Buffer): boolean {
  const n = Math.min(buf.length, 8192);
  for (let i = 0; i < n; i++) if (buf[i] === 0) return false;
  return true;
}

/**
 * Reads up to `limit` text files under `dir`, walking in sorted order (deterministic for a given machine). Files
 * under /usr/share/doc may be gzip-compressed: they are decompressed (changelogs, READMEs).
 */
export function collectCorpus(dir: string, limit: number): CorpusRoot {
  const root: CorpusRoot = { name: dir, dir, files: [] };
  const isDoc = dir.includes('/share/doc');
  const walk = (d: string, depth: number): void => {
    if (root.files.length >= limit || depth > 12) return;
    let names: string[];
    try {
      names = readdirSync(d).sort();
    } catch {
      return;
    }
    for (const name of names) {
      if (root.files.length >= limit) return;
      if (name === '__pycache__' || (name === 'node_modules' && depth > 3) || name.startsWith('.')) continue;
      const p = join(d, name);
      let st;
      try {
        st = lstatSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(p, depth + 1);
      else if (st.isFile() && st.size >= (name.endsWith('.gz') ? 100 : MIN_FILE) && st.size <= MAX_FILE) {
        const gz = name.endsWith('.gz');
        if (!gz && !TEXT_EXT.test(name) && !isDoc) continue;
        try {
          let buf = readFileSync(p);
          if (gz) {
            if (!isDoc) continue;
            buf = gunzipSync(buf);
            if (buf.length > MAX_FILE * 2 || buf.length < MIN_FILE) continue;
          }
          if (!looksText(buf)) continue;
          const rel = relative(dir, p).replace(/\.gz$/, '');
          root.files.push({ rel, text: buf.toString('utf8') });
        } catch {
          continue;
        }
      }
    }
  };
  walk(dir, 0);
  return root;
}

/** Synthetic "source code" when the machine has no usable corpus (keeps the generator working anywhere). */
export function syntheticSource(rng: Rng, n: number): CorpusRoot {
  const files: CorpusFile[] = [];
  for (let i = 0; i < n; i++) {
    const lines: string[] = [`// ${sentence(rng)}`, `'use strict';`, ''];
    const fns = rng.range(2, 12);
    for (let f = 0; f < fns; f++) {
      const name = `${word(rng)}${word(rng).replace(/^./, (c) => c.toUpperCase())}`;
      lines.push(`/** ${sentence(rng)} */`, `export function ${name}(${word(rng)}, ${word(rng)}) {`);
      const body = rng.range(2, 15);
      for (let b = 0; b < body; b++) lines.push(`  const ${word(rng)}${b} = ${rng.int(1000)} + ${word(rng)}.length; // ${words(rng, 4)}`);
      lines.push(`  return ${word(rng)};`, '}', '');
    }
    files.push({ rel: `src/${word(rng)}/${word(rng)}-${i}.js`, text: lines.join('\n') });
  }
  return { name: 'synthetic', dir: '', files };
}
