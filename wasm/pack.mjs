// `npm run pack [-- npm pack's options, e.g. --pack-destination DIR]`: the package as
// it is published. `npm pack` at the repository root would ship the root README (the
// C++ project's), since npm always packs the README of the package's root; so this
// stages the package in build/package/ with wasm/README.md as its README.md and packs
// it there.
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

// Writes the package into `dir`: package.json, its "files" and README.md. Returns `dir`.
export function stage(dir) {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  // Scripts and devDependencies are for working in this repository, not for users.
  const { scripts, devDependencies, ...published } = pkg;
  rmSync(dir, { recursive: true, force: true });
  for (const f of pkg.files) cpSync(join(ROOT, f), join(dir, f), { recursive: true });
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(published, null, 2)}\n`);
  // Relative links point into the repository (../docs/...), which the tarball does not
  // hold: they become links to the repository's files. The packed wasm/README.md gets
  // the same text, so its links work too.
  const repo = pkg.repository.url.replace(/^git\+/, '').replace(/\.git$/, '');
  const readme = readFileSync(join(ROOT, 'wasm/README.md'), 'utf8').replace(/\]\((?![a-z]+:|#)([^)\s]+)\)/g,
    (_, to) => `](${repo}/blob/main/${posix.normalize(posix.join('wasm', to))})`);
  for (const f of ['README.md', 'wasm/README.md']) writeFileSync(join(dir, f), readme);
  return dir;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  // Run from where npm was run (npm runs scripts at the root), so the tarball and a
  // relative --pack-destination land where `npm pack` would put them.
  execFileSync('npm', ['pack', stage(join(ROOT, 'build/package')), ...process.argv.slice(2)],
    { cwd: process.env.INIT_CWD ?? process.cwd(), stdio: 'inherit' });
}
