import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CliContext } from './context.js';

/** A context printing JSON to a pipe-like stdout (not a terminal), and what it wrote, write by write. */
function jsonContext(): { ctx: CliContext; writes: string[] } {
  const writes: string[] = [];
  const sink = (): Writable => new Writable({ write: (chunk: Buffer, _encoding, done) => (writes.push(chunk.toString()), done()) });
  const ctx = new CliContext({ stdout: sink(), stderr: new Writable({ write: (_c, _e, done) => done() }), stdinIsTTY: false, env: {}, cwd: '/' }, () => ({ json: true }));
  return { ctx, writes };
}

describe('CliContext.result with --json', () => {
  it('writes a long array in pieces that join into one item per line, each as JSON.stringify gives it', () => {
    const records = Array.from({ length: 3000 }, (_, i) => ({ id: `20261202T0000${i}Z-full-abcd`, size: i * 1024, services: ['git', 'notes'], note: i % 7 === 0 ? 'ünïcode "quoted"\n' : undefined }));
    const { ctx, writes } = jsonContext();
    ctx.result(records, () => 'unused');
    expect(writes.length).toBeGreaterThan(1);
    expect(writes.join('')).toBe(`[\n${records.map((r) => JSON.stringify(r)).join(',\n')}\n]\n`);
    expect(JSON.parse(writes.join(''))).toEqual(JSON.parse(JSON.stringify(records)));
  });

  it('writes an empty array, and a value that is not an array, as JSON.stringify does', () => {
    for (const value of [[], { backups: [1, 2] }, 'text', null]) {
      const { ctx, writes } = jsonContext();
      ctx.result(value, () => 'unused');
      expect(writes.join('')).toBe(`${JSON.stringify(value)}\n`);
    }
  });
});
