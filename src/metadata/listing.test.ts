/** `list --json` copied from the index: the same bytes as printing the parsed records, and only from a file that checks. */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { indexRecord } from '../../test/helpers/backups.js';
import { jsonArrayPieces } from '../json-output.js';
import { copyListing } from './listing.js';
import { olderFirst, type BackupRecord } from './record.js';
import { bodyChecksumOf, parseIndex, serializeIndex } from './store.js';

/** Record `n`: its id and time sort as `n` does, its size is 10 + n. */
function record(n: number, extra: Partial<BackupRecord> = {}): BackupRecord {
  const id = `20260301T02${String(n).padStart(4, '0')}Z-full-${n.toString(16).padStart(4, '0')}`;
  return indexRecord(id, { createdAt: new Date(Date.UTC(2026, 2, 1, 2, 0, n)).toISOString(), size: 10 + n, ...extra });
}

/** Collects what is written, copying each chunk: copyListing reuses its buffer once a write has called back. */
function collector(): { out: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(Buffer.from(chunk));
      done();
    },
  });
  return { out, text: () => Buffer.concat(chunks).toString('utf8') };
}

const made: string[] = [];
afterAll(() => Promise.all(made.map((dir) => fs.rm(dir, { recursive: true, force: true }))));

async function indexFile(text: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mcp-listing-'));
  made.push(dir);
  const file = path.join(dir, 'metadata.json');
  await fs.writeFile(file, text);
  return file;
}

async function copied(file: string, chunkBytes?: number): Promise<{ copied: boolean; text: string }> {
  const { out, text } = collector();
  const result = await copyListing(file, out, chunkBytes);
  return { copied: result, text: text() };
}

/** What `list --json` prints from parsed records: the bytes the copy must give. */
function printed(records: BackupRecord[]): string {
  return [...jsonArrayPieces([...records].sort((a, b) => olderFirst(b, a)))].join('');
}

// Records out of order, with text that is more than one byte a character, and a long description.
const RECORDS = [record(3), record(1, { description: 'nächtlich ✓ 夜間' }), record(7), record(2, { description: 'x'.repeat(3000) }), record(5)];

describe('copyListing', () => {
  it.each([1, 2, 7, 64, 1000, undefined])('gives what printing the parsed records gives, byte for byte (chunks of %s bytes)', async (chunkBytes) => {
    const file = await indexFile(serializeIndex(RECORDS, ['old.tar.gz']));
    const expected = printed(RECORDS);
    expect((JSON.parse(expected) as BackupRecord[]).map((r) => r.id)).toEqual([7, 5, 3, 2, 1].map((n) => record(n).id));
    expect(await copied(file, chunkBytes)).toEqual({ copied: true, text: expected });
  });

  it('gives an empty array for an index without records', async () => {
    for (const chunkBytes of [1, undefined]) {
      expect(await copied(await indexFile(serializeIndex([])), chunkBytes)).toEqual({ copied: true, text: '[]\n' });
      expect(await copied(await indexFile(serializeIndex([], ['old.tar.gz'])), chunkBytes)).toEqual({ copied: true, text: '[]\n' });
    }
  });

  it('writes nothing, and says so, for a file it cannot vouch for', async () => {
    const text = serializeIndex(RECORDS);
    const edited = text.replace('"size":13,', '"size":14,');
    expect(edited).not.toBe(text);
    const older = `{"schemaVersion": 1, "backups": [\n${RECORDS.map((r) => JSON.stringify(r)).join(',\n')}\n]}\n`;
    const cases = {
      'a record edited by hand': edited,
      'a header edited by hand': text.replace('{"schemaVersion": 1, ', '{"schemaVersion":1, '),
      'the file of a writer before the checksum': older,
      'a truncated file': text.slice(0, text.length - 3),
      'a header alone': text.slice(0, text.indexOf('\n')),
      'an empty file': '',
    };
    for (const [what, content] of Object.entries(cases)) {
      expect(await copied(await indexFile(content)), what).toEqual({ copied: false, text: '' });
    }
    // A forged file whose checksum holds, with a terminal escape written raw (JSON.stringify would have escaped it).
    const body = serializeIndex([record(1, { description: 'ESC' })]).split('\n').slice(1).join('\n').replace('ESC', '\u001b[2J');
    const forged = `{"schemaVersion": 1, "bodySha256": "${createHash('sha256').update(body).digest('hex')}", "backups": [\n${body}`;
    expect(bodyChecksumOf(forged.slice(0, forged.indexOf('\n')))).toBeDefined();
    expect(await copied(await indexFile(forged))).toEqual({ copied: false, text: '' });
    const missing = path.join(os.tmpdir(), `mcp-listing-missing-${process.pid}`, 'metadata.json');
    expect(await copied(missing)).toEqual({ copied: false, text: '' });
  });
});

describe('the index as serializeIndex writes it', () => {
  it('holds its records newest first under a checksum of the rest, and reads back oldest first', () => {
    const text = serializeIndex(RECORDS, ['old.tar.gz']);
    const newline = text.indexOf('\n');
    const body = text.slice(newline + 1);
    expect(bodyChecksumOf(text.slice(0, newline))).toBe(createHash('sha256').update(body).digest('hex'));
    expect(body.split('\n').slice(0, 5).map((line) => (JSON.parse(line.replace(/,$/, '')) as BackupRecord).id)).toEqual(
      [7, 5, 3, 2, 1].map((n) => record(n).id),
    );
    expect(parseIndex(text, 'metadata.json').backups.map((r) => r.id)).toEqual([1, 2, 3, 5, 7].map((n) => record(n).id));
  });
});
