/**
 * platform.yaml: parsing and validation. Errors name the file, the line and the field, because the person fixing
 * them has the file open in an editor.
 */
import { promises as fs } from 'node:fs';
import YAML, { LineCounter, isMap, isNode, isScalar, type Document } from 'yaml';
import { z } from 'zod';
import { BackupError } from '../errors.js';

const pathList = z.array(z.string().min(1, 'must not be empty')).default([]);

const hookCommand = z.string().min(1, 'must not be empty');

const serviceSchema = z.strictObject({
  config: pathList,
  volumes: pathList,
  logs: pathList,
  exclude: z.array(z.string().min(1)).default([]),
  hooks: z
    .strictObject({
      pre_backup: hookCommand.optional(),
      post_backup: hookCommand.optional(),
      pre_restore: hookCommand.optional(),
      post_restore: hookCommand.optional(),
    })
    .default({}),
});

const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export const platformFileSchema = z.strictObject({
  name: z.string().min(1).optional(),
  services: z
    .record(z.string().regex(SERVICE_NAME, 'service names use letters, digits, ".", "_" and "-"'), serviceSchema.nullable())
    .refine((services) => Object.keys(services).length > 0, 'must name at least one service'),
  backup: z
    .strictObject({
      dir: z.string().min(1).optional(),
      retention: z
        .strictObject({ keep: z.number().int().min(0).optional(), days: z.number().int().min(0).optional() })
        .optional(),
      compression: z.strictObject({ level: z.number().int().min(0).max(9).optional() }).optional(),
      encryption: z
        .strictObject({
          recipients: z.array(z.string().startsWith('age1', 'must be age public keys (age1...)')).optional(),
          recipients_file: z.string().min(1).optional(),
        })
        .optional(),
    })
    .optional(),
});

export type PlatformFile = z.infer<typeof platformFileSchema>;

function invalid(file: string, line: number | undefined, message: string): BackupError {
  const where = line === undefined ? file : `${file}:${line}`;
  return new BackupError('PLATFORM_INVALID', `${where}: ${message}`, { file, line });
}

/**
 * The line of the node at `path`: its key's line, or its value's (falling back to the key when the value is empty),
 * or the deepest ancestor that exists, so every message can point somewhere in the file.
 */
function lineOf(doc: Document, lineCounter: LineCounter, path: (string | number)[], prefer: 'key' | 'value'): number | undefined {
  for (let depth = path.length; depth > 0; depth--) {
    const parent = doc.getIn(path.slice(0, depth - 1), true);
    if (!isMap(parent)) continue;
    const pair = parent.items.find((item) => isScalar(item.key) && String(item.key.value) === String(path[depth - 1]));
    if (!pair) continue;
    const value = depth === path.length && prefer === 'value' && isNode(pair.value) ? pair.value : undefined;
    const node = value ?? (isNode(pair.key) ? pair.key : undefined);
    if (node?.range) return lineCounter.linePos(node.range[0]).line;
  }
  const root = doc.contents;
  return isNode(root) && root.range ? lineCounter.linePos(root.range[0]).line : undefined;
}

export async function readPlatformFile(file: string): Promise<PlatformFile> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    throw new BackupError('PLATFORM_INVALID', `cannot read ${file}: ${(error as Error).message}`, { file }, { cause: error });
  }
  return parsePlatformFile(text, file);
}

/** Parses and validates the text of a platform.yaml; `file` is only used in messages. */
export function parsePlatformFile(text: string, file: string): PlatformFile {
  const lineCounter = new LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter, uniqueKeys: true });
  const syntax = doc.errors[0];
  if (syntax) {
    const firstLine = syntax.message.split('\n')[0] ?? syntax.message;
    const reason = firstLine.replace(/ at line \d+, column \d+:?$/, '');
    throw invalid(file, syntax.linePos?.[0].line, `invalid YAML: ${reason}`);
  }
  const result = platformFileSchema.safeParse(doc.toJS() ?? {});
  if (result.success) return result.data;

  const issue = result.error.issues[0]!;
  const path = issue.path as (string | number)[];
  let message = issue.message;
  let line: number | undefined;
  if (issue.code === 'unrecognized_keys') {
    message = `unknown field ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    line = lineOf(doc, lineCounter, [...path, issue.keys[0]!], 'key');
  } else if (issue.code === 'invalid_key') {
    // zod reports "Invalid key in record"; the inner issue says what is wrong with the key.
    message = issue.issues[0]?.message ?? message;
    line = lineOf(doc, lineCounter, path, 'key');
  } else {
    line = lineOf(doc, lineCounter, path, 'value');
  }
  const field = path.length > 0 ? path.join('.') : 'top level';
  throw invalid(file, line, `${field}: ${message}`);
}
