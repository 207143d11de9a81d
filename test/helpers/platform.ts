/** Temporary platforms made of real files, for end-to-end tests. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir, writeTree, type TreeNode } from './tree.js';

export const GIT_ENV = {
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@example.com',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
};

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'init.defaultBranch=main', '-c', 'commit.gpgsign=false', ...args], {
    cwd,
    env: { ...process.env, ...GIT_ENV },
    encoding: 'utf8',
  });
}

/** A real git repository with a few commits. */
export function makeGitRepo(dir: string, commits = 3): void {
  fs.mkdirSync(dir, { recursive: true });
  git(dir, 'init', '-q');
  for (let i = 1; i <= commits; i++) {
    fs.writeFileSync(path.join(dir, `file${i}.txt`), `content of commit ${i}\n`.repeat(i * 10));
    git(dir, 'add', '.');
    git(dir, 'commit', '-q', '-m', `commit ${i}`);
  }
}

export const STANDARD_YAML = `name: test-platform
services:
  filesystem:
    config:  [services/filesystem/config]
    volumes: [services/filesystem/data]
    logs:    [services/filesystem/logs]
    exclude: ["**/*.tmp", "cache/**"]
  git:
    config:  [services/git/config.json]
    volumes: [services/git/repos]
  memory:
    config:  [services/memory/config]
    volumes: [services/memory/data]
`;

export const STANDARD_TREE: { [name: string]: TreeNode } = {
  services: {
    filesystem: {
      config: { 'server.json': '{"root": "/data"}\n', '.env': 'MODE=ro\n' },
      data: {
        'README.md': '# Documents\n',
        notes: { 'café.md': 'unicode name\n', 'a.txt': 'alpha\n', 'run.sh': { content: '#!/bin/sh\necho hi\n', mode: 0o750 } },
        'report.pdf': Buffer.alloc(200_000, 7),
        'latest.md': { symlink: 'README.md' },
        cache: { 'junk.bin': 'cached\n' },
        'draft.tmp': 'temporary\n',
        ['d'.repeat(60)]: { ['e'.repeat(60)]: { ['long-name-' + 'f'.repeat(80) + '.txt']: 'a path well over 100 bytes\n' } },
      },
      logs: { 'server.log': 'log line\n'.repeat(100) },
    },
    git: { 'config.json': '{"repos": "repos"}\n', repos: {} },
    memory: { config: { 'server.json': '{}\n' }, data: { 'memory.json': '{"type":"entity","name":"Ada"}\n' } },
  },
};

/** A platform with three services (one holding a real git repository), an empty folder and a hard link. */
export function makePlatform(options: { yaml?: string | null; tree?: { [name: string]: TreeNode } } = {}): string {
  const root = tempDir('mcp-platform-');
  writeTree(root, options.tree ?? STANDARD_TREE);
  if (options.yaml !== null) fs.writeFileSync(path.join(root, 'platform.yaml'), options.yaml ?? STANDARD_YAML);
  if (!options.tree) {
    makeGitRepo(path.join(root, 'services/git/repos/website'));
    fs.mkdirSync(path.join(root, 'services/filesystem/data/empty-folder'));
    fs.linkSync(path.join(root, 'services/filesystem/data/notes/a.txt'), path.join(root, 'services/filesystem/data/hardlink-to-a.txt'));
  }
  return root;
}
