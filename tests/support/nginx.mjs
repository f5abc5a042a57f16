// A real static web server for the tests of published databases: Debian's nginx
// (nginx-light, .ci/install-deps.sh) in the foreground on 127.0.0.1, serving `root`
// with the cache headers docs/format.md §6 recommends (blobs immutable, heads
// revalidated), CORS for pages of other origins, and optionally TLS with a
// self-signed certificate made here. (A slow link is Chromium's network emulation in
// bench/published.mjs, not this server's.)
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NGINX = process.env.NGINX ?? '/usr/sbin/nginx';

// A port free right now on 127.0.0.1 (nginx cannot report one it picked).
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

// Starts nginx serving `root`; resolves with { url, port, stop(), log() }. `tls: true`
// serves https with a fresh self-signed certificate for 127.0.0.1 (`cert` is its path,
// for SSL_CERT_FILE / NODE_EXTRA_CA_CERTS).
export async function startNginx(root, { tls = false } = {}) {
  if (!existsSync(NGINX)) throw new Error(`${NGINX} is missing (apt-get install nginx-light)`);
  const dir = mkdtempSync(join(tmpdir(), 'datalith-nginx-'));
  let cert = null;
  if (tls) {
    cert = join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', cert], { stdio: 'ignore' });
  }
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const headers = `add_header Access-Control-Allow-Origin * always;
        add_header Access-Control-Expose-Headers ETag always;`;
    writeFileSync(join(dir, 'nginx.conf'), `
daemon off;
user root;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  default_type application/octet-stream;
  types { text/html html; text/javascript js mjs; application/wasm wasm; application/json json; }
  sendfile on;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:${port}${tls ? ' ssl' : ''};
    ${tls ? `ssl_certificate ${cert}; ssl_certificate_key ${dir}/key.pem;` : ''}
    root ${root};
    location ~ /blobs/ { ${headers} add_header Cache-Control "public, max-age=31536000, immutable" always; }
    location ~ /heads/ { ${headers} add_header Cache-Control "no-cache" always; default_type application/json; }
    location / { ${headers} }
  }
}
`);
    const proc = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (d) => { stderr += d; });
    const exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
    // Up once it accepts connections (or failed: a port taken meanwhile → try another).
    const up = await Promise.race([waitForPort(port), exited.then(() => false)]);
    if (up) {
      const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
      return {
        url, port, cert, proc,
        log: () => stderr,
        async stop() {
          if (proc.exitCode === null) proc.kill('SIGTERM');
          await exited;
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    if (attempt >= 3) throw new Error(`nginx did not start: ${stderr}`);
  }
}

async function waitForPort(port) {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
