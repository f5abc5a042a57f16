// The package as a user gets it: `npm run pack` (wasm/pack.mjs), then the tarball
// installed into a fresh app (package.json only) in a temporary directory.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stage } from '../../pack.mjs';

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

export const npm = (args, cwd) => execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'],
  { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120000 });

// Packs the package into `dir` (staged in `dir`/package, not build/package, since test
// files run in parallel) and installs the tarball into `dir`/app. Returns the app's
// path and npm's report on the tarball ({ filename, files: [{ path, size }], ... }).
export function packAndInstall(dir) {
  const [tarball] = JSON.parse(npm(['pack', '--json', '--pack-destination', dir, stage(join(dir, 'package'))], ROOT));
  const app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  npm(['install', join(dir, tarball.filename)], app);
  return { app, tarball };
}
