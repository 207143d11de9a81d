#!/usr/bin/env node
// Makes the example platform at examples/acme/ ready to back up.
//
// The static content (platform.yaml, mcp.json, configs, documents, the memory store, logs) is committed. This script
// only creates what a git checkout cannot carry:
//   - services/filesystem/documents/inbox/      an empty folder
//   - services/filesystem/documents/latest.md   a symlink to the newest monthly report
//   - services/git/repos/website and tools      real git repositories with a fixed history
//
// It is idempotent: whatever already exists is left alone, so a second run changes nothing. A repository is built
// in a `.<name>.partial` folder beside its final place and renamed only once complete, so an interrupted run never
// leaves a half-made repository that later runs would skip. Authors, e-mails and dates are fixed, and the user's
// git configuration is not read, so every machine gets the same commit ids.
//
// Needs Node 20 and the `git` command. Usage: node examples/setup.mjs (also run by `npm run example`).

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, 'acme');
const documents = path.join(root, 'services', 'filesystem', 'documents');
const reposDir = path.join(root, 'services', 'git', 'repos');

const LATEST_TARGET = 'reports/2026-11-status.md';

// ---------------------------------------------------------------------------------------------------------------
// People and the git history of the two repositories.

const DANA = { name: 'Dana Whitfield', email: 'dana.whitfield@acme.example' };
const LUIS = { name: 'Luis Ortega', email: 'luis.ortega@acme.example' };
const SOFIA = { name: 'Sofia Keller', email: 'sofia.keller@acme.example' };
const TOMAS = { name: 'Tomás Silva', email: 'tomas.silva@acme.example' };

// A history is a list of steps, applied in order on a fresh repository:
//   { commit, by, date, write?: {path: text}, edit?: {path: [[old, new], ...]}, remove?: [path], exec?: [path] }
//   { branch }         create a branch at HEAD and switch to it
//   { checkout }       switch to an existing branch
//   { tag, message, by, date }                 annotated tag at HEAD
//   { merge, message, by, date }               merge a branch into the current one, always with a merge commit
//   { deleteBranch }

const websiteHistory = [
  {
    commit: 'Initial landing page',
    by: LUIS,
    date: '2026-05-04T09:12:00+02:00',
    write: {
      'README.md': `# acme-website

The public website of Acme Assistants: plain HTML, CSS and a little JavaScript, no build step.

Open \`index.html\` in a browser to preview. Deploys happen on every push to \`main\`.
`,
      'index.html': `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Acme Assistants</title>
</head>
<body>
  <header>
    <h1>Acme Assitants</h1>
    <p class="tagline">Support assistants that remember your customers.</p>
  </header>
  <main>
    <section id="features">
      <h2>What we do</h2>
      <ul>
        <li>Answers in seconds, day and night, in English and French.</li>
        <li>Reads your documents, your release notes and what it learnt last time.</li>
        <li>Hands over to a human, with a summary, when it is not sure.</li>
      </ul>
    </section>
  </main>
  <footer>
    <p>&copy; 2026 Acme Assistants SAS, Paris</p>
  </footer>
</body>
</html>
`,
    },
  },
  {
    commit: 'Add base stylesheet',
    by: LUIS,
    date: '2026-05-06T14:40:00+02:00',
    write: {
      'css/style.css': `/* Acme Assistants — base styles */
:root {
  --fg: #1f2937;
  --bg: #ffffff;
  --accent: #1d4ed8;
  --muted: #6b7280;
  --radius: 6px;
}

* { box-sizing: border-box; }

body {
  margin: 0 auto;
  max-width: 60rem;
  padding: 0 1rem;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  line-height: 1.6;
  color: var(--fg);
  background: var(--bg);
}

header { padding: 3rem 0 1rem; }
h1 { color: var(--accent); margin: 0; }
.tagline { color: var(--muted); font-size: 1.25rem; }

nav a { margin-right: 1rem; color: var(--accent); text-decoration: none; }
nav a:hover { text-decoration: underline; }

footer { margin-top: 4rem; padding: 1rem 0; color: var(--muted); border-top: 1px solid #e5e7eb; }
`,
    },
    edit: {
      'index.html': [['  <title>Acme Assistants</title>\n', '  <title>Acme Assistants</title>\n  <link rel="stylesheet" href="css/style.css">\n']],
    },
  },
  {
    commit: 'Add contact page with client-side validation',
    by: LUIS,
    date: '2026-06-22T10:05:00+02:00',
    write: {
      'contact.html': `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Contact — Acme Assistants</title>
  <link rel="stylesheet" href="css/style.css">
  <script src="js/contact.js" defer></script>
</head>
<body>
  <header>
    <nav><a href="index.html">Home</a><a href="contact.html">Contact</a></nav>
    <h1>Contact us</h1>
  </header>
  <main>
    <form id="contact" action="/api/contact" method="post" novalidate>
      <label>Name <input name="name" required></label>
      <label>E-mail <input name="email" type="email" required></label>
      <label>Company <input name="company"></label>
      <label>Message <textarea name="message" rows="6" required></textarea></label>
      <p class="error" hidden></p>
      <button type="submit">Send</button>
    </form>
  </main>
  <footer>
    <p>&copy; 2026 Acme Assistants SAS, Paris</p>
  </footer>
</body>
</html>
`,
      'js/contact.js': `// Client-side checks for the contact form. The server checks again; this only saves a round trip.
'use strict';

const EMAIL = /^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$/;

function validate(form) {
  const errors = [];
  const data = new FormData(form);
  if (!String(data.get('name') || '').trim()) errors.push('Please tell us your name.');
  if (!EMAIL.test(String(data.get('email') || ''))) errors.push('Please enter a valid e-mail address.');
  if (String(data.get('message') || '').trim().length < 10) errors.push('Your message is a little short.');
  return errors;
}

document.addEventListener('DOMContentLoaded', () => {
  const form = document.getElementById('contact');
  const box = form.querySelector('.error');
  form.addEventListener('submit', (event) => {
    const errors = validate(form);
    if (errors.length > 0) {
      event.preventDefault();
      box.textContent = errors.join(' ');
      box.hidden = false;
    }
  });
});
`,
    },
    edit: {
      'index.html': [['  <header>\n    <h1>', '  <header>\n    <nav><a href="index.html">Home</a><a href="contact.html">Contact</a></nav>\n    <h1>']],
      'css/style.css': [['footer {', 'form label { display: block; margin-bottom: 1rem; }\nform input, form textarea { display: block; width: 100%; padding: .5rem; border: 1px solid #d1d5db; border-radius: var(--radius); }\nform button { padding: .6rem 1.4rem; border: 0; border-radius: var(--radius); color: #fff; background: var(--accent); cursor: pointer; }\n.error { color: #b91c1c; }\n\nfooter {']],
    },
  },
  {
    commit: 'Fix typo in landing page headline',
    by: DANA,
    date: '2026-06-23T16:31:00+02:00',
    edit: { 'index.html': [['<h1>Acme Assitants</h1>', '<h1>Acme Assistants</h1>']] },
  },
  {
    commit: 'Add about page',
    by: LUIS,
    date: '2026-09-25T11:18:00+02:00',
    write: {
      'about.html': `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>About — Acme Assistants</title>
  <link rel="stylesheet" href="css/style.css">
</head>
<body>
  <header>
    <nav><a href="index.html">Home</a><a href="about.html">About</a><a href="contact.html">Contact</a></nav>
    <h1>About us</h1>
  </header>
  <main>
    <p>Acme Assistants was founded in Paris in 2025 to build support assistants that actually remember.</p>
    <h2>The team</h2>
    <ul class="team">
      <li><strong>Marc Dubois</strong> — CEO</li>
      <li><strong>Dana Whitfield</strong> — CTO</li>
      <li><strong>Luis Ortega</strong> — frontend</li>
      <li><strong>Priya Raman</strong> — customer support</li>
      <li><strong>Sofia Keller</strong> — data</li>
    </ul>
  </main>
  <footer>
    <p>&copy; 2026 Acme Assistants SAS, Paris</p>
  </footer>
</body>
</html>
`,
    },
    edit: {
      'index.html': [['<a href="index.html">Home</a><a href="contact.html">', '<a href="index.html">Home</a><a href="about.html">About</a><a href="contact.html">']],
      'contact.html': [['<a href="index.html">Home</a><a href="contact.html">', '<a href="index.html">Home</a><a href="about.html">About</a><a href="contact.html">']],
    },
  },
  {
    commit: 'Release v1.0.0',
    by: DANA,
    date: '2026-09-28T17:02:00+02:00',
    write: {
      'CHANGELOG.md': `# Changelog

## 1.0.0 — 2026-09-28
- Landing page, about page and contact page.
- Base stylesheet with CSS variables.
- Client-side validation of the contact form.
`,
    },
  },
  { tag: 'v1.0.0', message: 'Website 1.0.0: landing, about and contact pages', by: DANA, date: '2026-09-28T17:05:00+02:00' },
  {
    commit: 'Add robots.txt and sitemap',
    by: DANA,
    date: '2026-10-14T09:47:00+02:00',
    write: {
      'robots.txt': 'User-agent: *\nDisallow: /api/\nSitemap: https://www.acme.example/sitemap.xml\n',
      'sitemap.xml': `<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>https://www.acme.example/</loc><lastmod>2026-10-14</lastmod></url>
  <url><loc>https://www.acme.example/about.html</loc><lastmod>2026-09-25</lastmod></url>
  <url><loc>https://www.acme.example/contact.html</loc><lastmod>2026-06-22</lastmod></url>
</urlset>
`,
    },
  },
  {
    commit: 'About page: welcome Tomás to the team',
    by: LUIS,
    date: '2026-11-03T15:20:00+01:00',
    edit: {
      'about.html': [['      <li><strong>Sofia Keller</strong> — data</li>\n', '      <li><strong>Sofia Keller</strong> — data</li>\n      <li><strong>Tomás Silva</strong> — operations</li>\n']],
    },
  },
  { branch: 'feature/dark-mode' },
  {
    commit: 'Dark mode: follow the system colour scheme',
    by: LUIS,
    date: '2026-11-12T10:30:00+01:00',
    edit: {
      'css/style.css': [['\n* { box-sizing: border-box; }', `
@media (prefers-color-scheme: dark) {
  :root:not([data-theme="light"]) { --fg: #e5e7eb; --bg: #111827; --accent: #93c5fd; --muted: #9ca3af; }
}
:root[data-theme="dark"] { --fg: #e5e7eb; --bg: #111827; --accent: #93c5fd; --muted: #9ca3af; }

* { box-sizing: border-box; }`]],
    },
  },
  {
    commit: 'Dark mode: add a theme toggle button',
    by: LUIS,
    date: '2026-11-13T16:55:00+01:00',
    write: {
      'js/theme-toggle.js': `// Lets the visitor override the system colour scheme; the choice is kept in localStorage.
'use strict';

const KEY = 'acme-theme';

function apply(theme) {
  if (theme) document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
}

apply(localStorage.getItem(KEY));

document.addEventListener('DOMContentLoaded', () => {
  const button = document.getElementById('theme-toggle');
  button.addEventListener('click', () => {
    const dark = document.documentElement.dataset.theme === 'dark' ||
      (!document.documentElement.dataset.theme && matchMedia('(prefers-color-scheme: dark)').matches);
    const next = dark ? 'light' : 'dark';
    localStorage.setItem(KEY, next);
    apply(next);
  });
});
`,
    },
    edit: {
      'index.html': [
        ['  <link rel="stylesheet" href="css/style.css">\n', '  <link rel="stylesheet" href="css/style.css">\n  <script src="js/theme-toggle.js"></script>\n'],
        ['<a href="contact.html">Contact</a></nav>', '<a href="contact.html">Contact</a><button id="theme-toggle" type="button">Theme</button></nav>'],
      ],
    },
  },
  { checkout: 'main' },
];

const toolsHistory = [
  {
    commit: 'Initial commit',
    by: DANA,
    date: '2026-04-20T18:03:00+02:00',
    write: {
      'README.md': `# tools

Small internal scripts used by the Acme Assistants team.

| Script | What it does |
|---|---|
| \`csv2json.py\` | converts a CRM export (CSV) into the JSON the support bot reads |
`,
      '.gitignore': 'node_modules/\n__pycache__/\n*.pyc\n.venv/\n',
    },
  },
  {
    commit: 'Add csv2json converter',
    by: DANA,
    date: '2026-04-21T09:26:00+02:00',
    write: {
      'csv2json.py': `#!/usr/bin/env python3
"""Convert a CSV export into a JSON array of objects (one per row)."""
import json
import sys


def convert(lines):
    header = lines[0].rstrip("\\n").split(",")
    return [dict(zip(header, line.rstrip("\\n").split(","))) for line in lines[1:] if line.strip()]


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        print(json.dumps(convert(f.readlines()), indent=2, ensure_ascii=False))
`,
    },
    exec: ['csv2json.py'],
  },
  {
    commit: 'Add link checker for the website',
    by: DANA,
    date: '2026-05-12T13:51:00+02:00',
    write: {
      'linkcheck.mjs': `#!/usr/bin/env node
// Checks that every local link (href/src) in the website's HTML files points to an existing file.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';

const site = process.argv[2] ?? '../website';
let broken = 0;
for (const name of readdirSync(site).filter((n) => n.endsWith('.html'))) {
  const html = readFileSync(join(site, name), 'utf8');
  for (const [, link] of html.matchAll(/(?:href|src)="([^"#:]+)"/g)) {
    if (link.startsWith('/')) continue;
    if (!existsSync(join(dirname(join(site, name)), link))) {
      console.error(name + ': broken link ' + link);
      broken++;
    }
  }
}
console.log(broken === 0 ? 'all links ok' : broken + ' broken link(s)');
process.exitCode = broken === 0 ? 0 : 1;
`,
      'package.json': `{
  "name": "acme-tools",
  "version": "0.3.0",
  "private": true,
  "type": "module",
  "scripts": {
    "linkcheck": "node linkcheck.mjs ../website",
    "test": "python3 -m unittest discover -s tests"
  }
}
`,
    },
    edit: { 'README.md': [['CRM export (CSV) into the JSON the support bot reads |\n', 'CRM export (CSV) into the JSON the support bot reads |\n| `linkcheck.mjs` | finds broken local links in the website before a release |\n']] },
    exec: ['linkcheck.mjs'],
  },
  {
    commit: 'Add release script',
    by: DANA,
    date: '2026-07-02T11:40:00+02:00',
    write: {
      'bin/release.sh': `#!/bin/sh
# Tags the website and pushes it: ./bin/release.sh 1.0.0
set -eu
version="\${1:?usage: release.sh VERSION}"
cd "$(dirname "$0")/../../website"
node ../tools/linkcheck.mjs .
git tag -a "v$version" -m "Website $version"
git push origin main "v$version"
`,
    },
    edit: { 'README.md': [['before a release |\n', 'before a release |\n| `bin/release.sh` | checks links, tags and pushes a website release |\n']] },
    exec: ['bin/release.sh'],
  },
  { branch: 'fix/quoted-fields' },
  {
    commit: 'csv2json: use the csv module so quoted fields work',
    by: SOFIA,
    date: '2026-09-22T10:14:00+02:00',
    write: {
      'csv2json.py': `#!/usr/bin/env python3
"""Convert a CSV export into a JSON array of objects (one per row).

Uses the csv module, so quoted fields such as "Soylent Foods, Inc." stay in one column.
"""
import csv
import json
import sys


def convert(lines):
    return [row for row in csv.DictReader(lines) if any(value.strip() for value in row.values())]


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8", newline="") as f:
        print(json.dumps(convert(f), indent=2, ensure_ascii=False))
`,
    },
  },
  {
    commit: 'Add tests for csv2json',
    by: SOFIA,
    date: '2026-09-22T11:02:00+02:00',
    write: {
      'tests/test_csv2json.py': `import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from csv2json import convert  # noqa: E402


class ConvertTest(unittest.TestCase):
    def test_plain_rows(self):
        rows = convert(["id,name\\n", "1,Initech\\n", "2,Globex\\n"])
        self.assertEqual(rows, [{"id": "1", "name": "Initech"}, {"id": "2", "name": "Globex"}])

    def test_quoted_comma(self):
        rows = convert(["id,name\\n", '5,"Soylent Foods, Inc."\\n'])
        self.assertEqual(rows[0]["name"], "Soylent Foods, Inc.")

    def test_blank_lines_are_skipped(self):
        self.assertEqual(convert(["id,name\\n", ",\\n"]), [])


if __name__ == "__main__":
    unittest.main()
`,
    },
  },
  { checkout: 'main' },
  { merge: 'fix/quoted-fields', message: "Merge branch 'fix/quoted-fields'", by: DANA, date: '2026-09-23T09:30:00+02:00' },
  { deleteBranch: 'fix/quoted-fields' },
  {
    commit: 'Add platform inventory script',
    by: TOMAS,
    date: '2026-10-06T16:12:00+02:00',
    write: {
      'inventory.py': `#!/usr/bin/env python3
"""Print the MCP servers of a platform from its mcp.json, as the inventory JSON in data/inventory.json."""
import json
import sys
from datetime import datetime, timezone


def inventory(mcp_config):
    servers = []
    for name, spec in sorted(mcp_config.get("mcpServers", {}).items()):
        args = spec.get("args", [])
        package = next((a for a in args if not a.startswith("-")), spec.get("command"))
        servers.append({"name": name, "package": package, "command": spec.get("command"), "transport": "stdio"})
    return {"generated": datetime.now(timezone.utc).isoformat(timespec="seconds"), "servers": servers}


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "mcp.json"
    with open(path, encoding="utf-8") as f:
        print(json.dumps(inventory(json.load(f)), indent=2))
`,
    },
    edit: { 'README.md': [['tags and pushes a website release |\n', 'tags and pushes a website release |\n| `inventory.py` | lists the MCP servers of a platform from its `mcp.json` |\n']] },
    exec: ['inventory.py'],
  },
];

// ---------------------------------------------------------------------------------------------------------------
// Git plumbing.

/** Environment for git: nothing inherited from a surrounding git command, no global or system config. */
function gitEnv() {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('GIT_')) env[key] = value;
  }
  return { ...env, GIT_CONFIG_GLOBAL: os.devNull, GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' };
}

const BASE_CONFIG = [
  '-c', 'init.defaultBranch=main',
  '-c', 'commit.gpgsign=false',
  '-c', 'tag.gpgsign=false',
  '-c', 'core.autocrlf=false',
  '-c', 'core.safecrlf=false',
  '-c', 'advice.detachedHead=false',
];

/** Runs git in `cwd`; `who` and `date` fix the author, committer and tagger. */
function git(cwd, args, who = DANA, date = '2026-01-01T00:00:00+00:00') {
  const env = {
    ...gitEnv(),
    GIT_AUTHOR_NAME: who.name,
    GIT_AUTHOR_EMAIL: who.email,
    GIT_AUTHOR_DATE: date,
    GIT_COMMITTER_NAME: who.name,
    GIT_COMMITTER_EMAIL: who.email,
    GIT_COMMITTER_DATE: date,
  };
  const config = [...BASE_CONFIG, '-c', `user.name=${who.name}`, '-c', `user.email=${who.email}`];
  return execFileSync('git', [...config, ...args], { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function applyCommit(dir, step) {
  for (const [file, text] of Object.entries(step.write ?? {})) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), text);
  }
  for (const [file, replacements] of Object.entries(step.edit ?? {})) {
    let text = fs.readFileSync(path.join(dir, file), 'utf8');
    for (const [from, to] of replacements) {
      if (!text.includes(from)) throw new Error(`setup: cannot edit ${file} for "${step.commit}": text not found`);
      text = text.replace(from, to);
    }
    fs.writeFileSync(path.join(dir, file), text);
  }
  for (const file of step.remove ?? []) git(dir, ['rm', '-q', '--', file]);
  git(dir, ['add', '-A']);
  for (const file of step.exec ?? []) {
    fs.chmodSync(path.join(dir, file), 0o755);
    git(dir, ['update-index', '--chmod=+x', '--', file]); // also right where core.fileMode is false
  }
  git(dir, ['commit', '-q', '--no-verify', '-m', step.commit], step.by, step.date);
}

function buildRepository(dir, history) {
  git(dir, ['init', '-q']);
  for (const step of history) {
    if ('commit' in step) applyCommit(dir, step);
    else if ('branch' in step) git(dir, ['checkout', '-q', '-b', step.branch]);
    else if ('checkout' in step) git(dir, ['checkout', '-q', step.checkout]);
    else if ('tag' in step) git(dir, ['tag', '-a', step.tag, '-m', step.message], step.by, step.date);
    else if ('merge' in step) git(dir, ['merge', '-q', '--no-ff', '--no-verify', '-m', step.message, step.merge], step.by, step.date);
    else if ('deleteBranch' in step) git(dir, ['branch', '-q', '-d', step.deleteBranch]);
    else throw new Error(`setup: unknown history step ${JSON.stringify(step)}`);
  }
}

/** Creates repos/<name> unless it exists. Returns true when it was created. */
function ensureRepository(name, history) {
  const finalDir = path.join(reposDir, name);
  if (fs.existsSync(finalDir)) return false;
  const partial = path.join(reposDir, `.${name}.partial`);
  fs.rmSync(partial, { recursive: true, force: true }); // leftovers of an interrupted run
  fs.mkdirSync(partial, { recursive: true });
  buildRepository(partial, history);
  fs.renameSync(partial, finalDir);
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// The filesystem service's uncommittable parts.

function ensureLatestSymlink() {
  const link = path.join(documents, 'latest.md');
  let existing = null;
  try {
    existing = fs.lstatSync(link);
  } catch (error) {
    if (error.code !== 'ENOENT') throw error;
  }
  if (existing) {
    // Leave a correct link, or anything that is not a link (someone's own file), alone; repair a stale link.
    if (!existing.isSymbolicLink() || fs.readlinkSync(link) === LATEST_TARGET) return;
    fs.unlinkSync(link);
  }
  try {
    fs.symlinkSync(LATEST_TARGET, link, 'file');
  } catch (error) {
    if (error.code !== 'EPERM') throw error;
    // Windows without Developer Mode cannot make symlinks; the platform works without this one.
    process.stderr.write(`setup: could not create the symlink documents/latest.md (${error.code}); skipped\n`);
  }
}

// ---------------------------------------------------------------------------------------------------------------

function main() {
  if (!fs.existsSync(path.join(root, 'platform.yaml')) || !fs.existsSync(documents)) {
    process.stderr.write(`setup: ${root} is incomplete: run this script from a checkout of the repository\n`);
    return 1;
  }
  try {
    execFileSync('git', ['--version'], { env: gitEnv(), stdio: 'ignore' });
  } catch {
    process.stderr.write('setup: the `git` command is needed to create the example repositories\n');
    return 1;
  }

  fs.mkdirSync(path.join(documents, 'inbox'), { recursive: true });
  ensureLatestSymlink();

  fs.mkdirSync(reposDir, { recursive: true });
  ensureRepository('website', websiteHistory);
  ensureRepository('tools', toolsHistory);

  const shown = path.relative(process.cwd(), root) || '.';
  process.stdout.write(`example platform ready: ${shown.split(path.sep).join('/')}\n`);
  return 0;
}

process.exitCode = main();
