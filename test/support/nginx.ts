/**
 * Debian's nginx set up as Harbor's own front door (the routing part of Harbor 2.5.5's nginx.http.conf template:
 * `/v2/`, `/api/`, `/service/` and `/c/` proxied to core with a URI, which makes nginx normalise the path —
 * resolve dot segments and decode `%2F` — before it is passed on). Started on a random loopback port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { freePort } from './registry';

export const NGINX_BIN = '/usr/sbin/nginx';

export interface RunningNginx {
  url: string;
  stop(): Promise<void>;
}

/**
 * One `location` of Harbor's nginx front, proxied to the `core` upstream with a URI (so nginx normalises the path
 * first), no buffering either way — as Harbor 2.5.5's nginx.http.conf template routes `/v2/`, `/api/`, `/service/`.
 */
export function harborLocation(p: string): string {
  return `
    location ${p} {
      proxy_pass http://core${p};
      proxy_set_header Host $http_host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
    }`;
}

export async function startHarborNginx(dir: string, coreUrl: string): Promise<RunningNginx> {
  const port = await freePort();
  const u = new URL(coreUrl);
  const prefix = path.join(dir, 'nginx');
  fs.mkdirSync(path.join(prefix, 'logs'), { recursive: true });
  const conf = path.join(prefix, 'nginx.conf');
  const location = harborLocation;
  fs.writeFileSync(
    conf,
    `worker_processes 1;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path ${prefix}/client_body_temp;
  proxy_temp_path ${prefix}/proxy_temp;
  fastcgi_temp_path ${prefix}/fastcgi_temp;
  uwsgi_temp_path ${prefix}/uwsgi_temp;
  scgi_temp_path ${prefix}/scgi_temp;
  upstream core { server ${u.hostname}:${u.port}; keepalive 16; }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 0;
    chunked_transfer_encoding on;
    ${['/v2/', '/api/', '/service/', '/c/'].map(location).join('\n')}
    location / { return 200 "portal stub"; }
  }
}
`,
  );
  const child: ChildProcess = spawn(NGINX_BIN, ['-p', prefix, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      http.get(`${url}/`, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      }).on('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`nginx did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGQUIT');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
}
