/**
 * The index for the `list` row: 10,000 records cloned from the real ones the tool wrote, whatever the index's exact
 * shape (an array of records, or an object holding one), so the benchmark does not depend on its schema.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isRecordArray(v: Json | undefined): v is Array<{ [key: string]: Json }> {
  return Array.isArray(v) && v.length > 0 && v.every((r) => r !== null && typeof r === 'object' && !Array.isArray(r) && typeof r.id === 'string');
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

function mapStrings(v: Json, f: (s: string) => string): Json {
  if (typeof v === 'string') return f(v);
  if (Array.isArray(v)) return v.map((x) => mapStrings(x, f));
  if (v !== null && typeof v === 'object') {
    const out: { [key: string]: Json } = {};
    for (const [k, x] of Object.entries(v)) out[k] = mapStrings(x, f);
    return out;
  }
  return v;
}

/**
 * Builds an index of `count` records by cloning the real records of `index` (a full every 10th, incrementals
 * chained on it in between), with new ids and times 10 minutes apart, keeping every other field and the file's
 * shape. Returns a reason instead when the shape is not recognised.
 */
export function cloneIndex(index: Json, count: number, now = Date.now()): { index: Json } | { skip: string } {
  let records: Array<{ [key: string]: Json }>;
  let put: (recs: Json[]) => Json;
  if (isRecordArray(index)) {
    records = index;
    put = (recs) => recs;
  } else if (index !== null && typeof index === 'object' && !Array.isArray(index)) {
    const key = Object.keys(index).find((k) => isRecordArray(index[k]));
    if (key === undefined) return { skip: 'metadata.json: no array of records with string ids found' };
    records = index[key] as Array<{ [key: string]: Json }>;
    put = (recs) => ({ ...index, [key]: recs });
  } else {
    return { skip: 'metadata.json is neither an array nor an object' };
  }
  const full = records.find((r) => r.type === 'full') ?? records[0];
  const inc = records.find((r) => r.type === 'incremental' && typeof r.parent === 'string');
  if (full === undefined) return { skip: 'metadata.json holds no record' };
  const timeOf = (r: { [key: string]: Json }): number | null => {
    for (const k of ['createdAt', 'created', 'time', 'timestamp', 'date']) {
      const v = r[k];
      if (typeof v === 'string' && ISO.test(v)) return Date.parse(v);
    }
    return null;
  };
  const out: Json[] = [];
  let prevId = '';
  for (let i = 0; i < count; i++) {
    const isFull = inc === undefined || i % 10 === 0;
    const t = isFull ? full : inc;
    const tId = t.id as string;
    const tTime = timeOf(t) ?? now;
    const when = now - (count - i) * 600_000;
    const delta = when - tTime;
    const stamp = new Date(when).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    const m = /^\d{8}T\d{6}Z-([a-z]+)-([0-9a-z]+)$/.exec(tId);
    const newId = m ? `${stamp}-${m[1]}-${i.toString(16).padStart(Math.max(4, m[2]?.length ?? 4), '0')}` : `${tId}-c${i}`;
    const tParent = typeof t.parent === 'string' ? t.parent : null;
    const clone = mapStrings(t, (s) => {
      let r = s;
      if (tParent !== null && !isFull) r = r.split(tParent).join(prevId);
      r = r.split(tId).join(newId);
      if (ISO.test(r)) r = new Date(Date.parse(r) + delta).toISOString();
      return r;
    });
    out.push(clone);
    prevId = newId;
  }
  return { index: put(out) };
}


/** The indentation of a JSON text (0 when compact), to write the clone in the same style. */
export function indentOf(text: string): number {
  return /\n( +)["{[\]}]/.exec(text)?.[1]?.length ?? 0;
}
