/**
 * Starts a real Debian `docker-registry` (distribution 2.8.2) on 127.0.0.1 with a random free port, filesystem
 * storage in a temp dir, token auth (service `harbor-registry`, issuer `harbor-token-issuer`, certificate of the
 * Harbor double's signing key) and deletes enabled. `stop()` kills the process and removes the temp dir.
 */
import { ChildProcess, spawn } from 'child_process';
import fs from 'fs';
import http from 'http';
import net from 'net';
import os from 'os';
import path from 'path';
import { randomBytes } from 'crypto';
import { signingMaterial } from '../harbor-double/keys';

export interface StartRegistryOptions {
  /** Token realm written into the registry config (the double's `/service/token`); only the double talks to the registry, so any URL works. */
  realm?: string;
  /** PEM certificate bundle trusted for tokens; default: the Harbor double's signing certificate. */
  rootCertPem?: string;
  /** docker-registry binary (default /usr/bin/docker-registry). */
  binary?: string;
  /** Max wait for the registry to answer (ms, default 15000). */
  startTimeoutMs?: number;
  /** Pipe the registry's output to this process' stderr. */
  verbose?: boolean;
  /** Token auth as behind Harbor (default true); false serves /v2 without auth (benchmarks measure raw throughput). */
  tokenAuth?: boolean;
}

export interface RunningRegistry {
  url: string;
  storageDir: string;
  /** The registry process (benchmarks read its CPU time). */
  pid: number;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of live) {
      try {
        p.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address() as net.AddressInfo;
      srv.close(() => resolve(addr.port));
    });
  });
}

function probe(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.setTimeout(1000, () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

export async function startRegistry(opts: StartRegistryOptions = {}): Promise<RunningRegistry> {
  const binary = opts.binary ?? '/usr/bin/docker-registry';
  if (!fs.existsSync(binary)) throw new Error(`docker-registry not found at ${binary}`);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hubgate-registry-'));
  const storageDir = path.join(root, 'storage');
  fs.mkdirSync(storageDir);
  const certFile = path.join(root, 'token.crt');
  fs.writeFileSync(certFile, opts.rootCertPem ?? signingMaterial().certPem);
  const port = await freePort();
  const config = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storageDir}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
    ...(opts.tokenAuth === false
      ? []
      : [
          'auth:',
          '  token:',
          `    realm: ${JSON.stringify(opts.realm ?? 'http://127.0.0.1/service/token')}`,
          '    service: harbor-registry',
          '    issuer: harbor-token-issuer',
          `    rootcertbundle: ${certFile}`,
        ]),
    '',
  ].join('\n');
  const configFile = path.join(root, 'config.yml');
  fs.writeFileSync(configFile, config);

  installExitHook();
  const child = spawn(binary, ['serve', configFile], {
    stdio: ['ignore', opts.verbose ? 'inherit' : 'ignore', opts.verbose ? 'inherit' : 'pipe'],
  });
  live.add(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => {
    child.on('exit', () => {
      exited = true;
      live.delete(child);
      resolve();
    });
  });

  const cleanup = () => fs.rmSync(root, { recursive: true, force: true });
  const stop = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exitPromise;
      clearTimeout(t);
    }
    cleanup();
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 15000);
  for (;;) {
    if (exited) {
      cleanup();
      throw new Error(`docker-registry exited during start-up: ${stderr.trim()}`);
    }
    const status = await probe(`${url}/v2/`);
    if (status === 401 || status === 200) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not answer on ${url} within the timeout: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, storageDir, pid: child.pid ?? 0, stop };
}
