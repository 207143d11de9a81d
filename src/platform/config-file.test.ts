import { describe, expect, it } from 'vitest';
import { parsePlatformFile } from './config-file.js';

function message(text: string): string {
  try {
    parsePlatformFile(text, 'platform.yaml');
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected the file to be refused');
}

describe('platform.yaml', () => {
  it('accepts the documented shape and fills defaults', () => {
    const parsed = parsePlatformFile(
      `name: acme
services:
  filesystem:
    config:  [services/filesystem/config]
    volumes: [/srv/shared-docs]
    logs:    [services/filesystem/logs]
    exclude: ["**/*.tmp", "cache/**"]
    hooks:
      pre_backup:  "sqlite3 data/app.db '.backup data/app.snapshot.db'"
      post_backup: "rm -f data/app.snapshot.db"
  git:
    config:  [services/git/config.json]
    volumes: [services/git/repos]
backup:
  dir: backup
  retention: { keep: 10, days: 30 }
  compression: { level: 6 }
  encryption: { recipients_file: keys/backup.pub }
`,
      'platform.yaml',
    );
    expect(parsed.services.git).toEqual({ config: ['services/git/config.json'], volumes: ['services/git/repos'], logs: [], exclude: [], hooks: {} });
    expect(parsed.services.filesystem?.hooks.post_backup).toBe('rm -f data/app.snapshot.db');
    expect(parsed.backup?.retention).toEqual({ keep: 10, days: 30 });
  });

  it('accepts a service with no parts listed', () => {
    expect(parsePlatformFile('services:\n  empty:\n', 'p').services.empty).toBeNull();
  });

  it.each([
    ['a misspelt field', 'services:\n  git:\n    volume: [repos]\n', 'platform.yaml:3: services.git: unknown field "volume"'],
    ['a misspelt hook', 'services:\n  git:\n    hooks:\n      before_backup: x\n', 'platform.yaml:4: services.git.hooks: unknown field "before_backup"'],
    ['a string instead of a list', 'services:\n  git:\n    config: repos\n', 'platform.yaml:3: services.git.config: Invalid input: expected array, received string'],
    ['a bad service name', 'services:\n  "my service":\n    config: [a]\n', 'platform.yaml:2: services.my service: service names use letters, digits, ".", "_" and "-"'],
    ['a level out of range', 'services:\n  a: {}\nbackup:\n  compression: { level: 12 }\n', 'platform.yaml:4: backup.compression.level: Too big: expected number to be <=9'],
    ['a recipient that is not an age key', 'services:\n  a: {}\nbackup:\n  encryption: { recipients: [ssh-rsa AAA] }\n', 'platform.yaml:4: backup.encryption.recipients.0: must be age public keys (age1...)'],
    ['a duplicate key', 'services:\n  a: {}\n  a: {}\n', 'platform.yaml:3: invalid YAML: Map keys must be unique'],
    ['an empty file', '', 'platform.yaml: services: Invalid input: expected record, received undefined'],
  ])('refuses %s with file, line and field', (_name, text, expected) => {
    expect(message(text)).toBe(expected);
  });
});
