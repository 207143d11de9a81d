/** The index file: parsing every schema version, migration on write, the pending-removal note. */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { indexRecord } from '../../test/helpers/backups.js';
import { backupLayout } from '../repository/layout.js';
import { INDEX_SCHEMA_VERSION, parseIndex, readIndex, serializeIndex, updateIndex, writeIndex } from './store.js';

const record = indexRecord;

const ID = '20260301T020000Z-full-0001';

describe('parseIndex', () => {
  it('reads version 0, a bare array of records without origin, as manual backups', () => {
    const { origin: _origin, ...old } = record(ID);
    const parsed = parseIndex(JSON.stringify([old]), 'metadata.json');
    expect(parsed).toEqual({ schemaVersion: 0, backups: [record(ID)], pendingRemoval: [] });
  });

  it('keeps an origin a version-0 record already has', () => {
    const parsed = parseIndex(JSON.stringify([record(ID, { origin: { kind: 'schedule', scheduleId: 'sch-1' } })]), 'metadata.json');
    expect(parsed.backups[0]!.origin).toEqual({ kind: 'schedule', scheduleId: 'sch-1' });
  });

  it('reads the current version with its pending removals, as serializeIndex writes it', () => {
    const text = serializeIndex([record(ID)], ['x.tar.gz', 'x.tar.gz', 'y.manifest.json.gz']);
    expect(parseIndex(text, 'metadata.json')).toEqual({ schemaVersion: INDEX_SCHEMA_VERSION, backups: [record(ID)], pendingRemoval: ['x.tar.gz', 'y.manifest.json.gz'] });
    expect(serializeIndex([record(ID)])).not.toContain('pendingRemoval');
  });

  it.each([
    ['{"schemaVersion": 1, "backups": [], "pendingRemoval": "x"}', 'pendingRemoval is not a list of file names'],
    ['{"schemaVersion": 1, "backups": [], "pendingRemoval": [3]}', 'pendingRemoval is not a list of file names'],
    ['{"schemaVersion": -1, "backups": []}', 'schemaVersion -1 is not a version number'],
    ['{"schemaVersion": 0.5, "backups": []}', 'schemaVersion 0.5 is not a version number'],
    ['[{"id": "x"}]', 'record 1 is incomplete'],
    ['"metadata"', 'no schemaVersion and backups list'],
  ])('refuses %s as corrupt', (text, why) => {
    expect(() => parseIndex(text, 'metadata.json')).toThrow(`metadata.json is corrupt (${why}); it was left as it is: run \`mcp backup index rebuild\``);
  });

  it('refuses a newer version', () => {
    expect(() => parseIndex('{"schemaVersion": 2, "backups": []}', 'metadata.json')).toThrow('newer than this mcp backup knows');
  });
});

describe('writing the index', () => {
  async function layoutWith(text?: string) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mcp-store-'));
    const layout = backupLayout(dir);
    if (text !== undefined) await fs.writeFile(layout.metadata, text);
    return layout;
  }

  it('migrates version 0 on the first write, keeping a copy of the old file once', async () => {
    const { origin: _origin, ...old } = record(ID);
    const text = JSON.stringify([old]);
    const layout = await layoutWith(text);
    expect(await fs.readFile(layout.metadata, 'utf8')).toBe(text);
    await updateIndex(layout, (records) => ({ records: [...records, record('20260302T020000Z-full-0002')], result: undefined }));
    expect(await fs.readFile(`${layout.metadata}.v0.bak`, 'utf8')).toBe(text);
    const after = await readIndex(layout);
    expect(after).toMatchObject({ schemaVersion: 1, exists: true, pendingRemoval: [] });
    expect(after.backups.map((r) => r.origin)).toEqual([{ kind: 'manual' }, { kind: 'manual' }]);
    await updateIndex(layout, (records) => ({ records: records.slice(1), result: undefined }));
    expect(await fs.readFile(`${layout.metadata}.v0.bak`, 'utf8')).toBe(text);
  });

  it('keeps the pending removals through ordinary writes', async () => {
    const layout = await layoutWith();
    await writeIndex(layout, { exists: false, schemaVersion: 0 }, [record(ID)], ['old.tar.gz']);
    await updateIndex(layout, (records) => ({ records: [...records, record('20260302T020000Z-full-0002')], result: undefined }));
    expect((await readIndex(layout)).pendingRemoval).toEqual(['old.tar.gz']);
  });

  it('reads a missing file as empty, and says it is missing', async () => {
    const layout = await layoutWith();
    expect(await readIndex(layout)).toEqual({ backups: [], schemaVersion: 0, exists: false, pendingRemoval: [] });
  });
});
