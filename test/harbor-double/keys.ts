/**
 * Token-signing key material shared by the Harbor double (signs registry tokens) and the docker-registry
 * started by test/support/registry.ts (verifies them through `auth.token.rootcertbundle`).
 *
 * One RSA key + self-signed certificate per process, made with the `openssl` CLI. The JWT `kid` is the
 * libtrust key id of the public key, which is how distribution 2.8 matches a token to a trusted key.
 */
import { createHash, createPublicKey, generateKeyPairSync, KeyObject, createPrivateKey } from 'crypto';
import { execFileSync } from 'child_process';
import fs from 'fs';
import os from 'os';
import path from 'path';

export interface SigningMaterial {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** PEM of the self-signed certificate (the registry's rootcertbundle). */
  certPem: string;
  /** libtrust key id, e.g. `6M6X:73SP:...` (12 groups of 4). */
  kid: string;
}

let cached: SigningMaterial | null = null;

/** libtrust KeyID: base32 of the first 240 bits of SHA-256(DER SubjectPublicKeyInfo), in groups of 4. */
export function libtrustKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const sum = createHash('sha256').update(der).digest().subarray(0, 30);
  const b32 = base32(sum);
  return b32.match(/.{1,4}/g)!.join(':');
}

function base32(buf: Buffer): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

/** Generates (once per process) the signing key and its self-signed certificate. */
export function signingMaterial(): SigningMaterial {
  if (cached) return cached;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'harbor-double-key-'));
  try {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const keyFile = path.join(dir, 'token.key');
    const certFile = path.join(dir, 'token.crt');
    fs.writeFileSync(keyFile, keyPem, { mode: 0o600 });
    execFileSync('openssl', ['req', '-new', '-x509', '-key', keyFile, '-out', certFile, '-days', '3650',
      '-subj', '/CN=harbor-token-issuer'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const certPem = fs.readFileSync(certFile, 'utf8');
    const priv = createPrivateKey(keyPem);
    const pub = createPublicKey(priv);
    cached = { privateKey: priv, publicKey: pub, certPem, kid: libtrustKeyId(pub) };
    return cached;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
