import { invalid } from './errors';

/**
 * Storage sizes as people write them. IEC units are powers of 1024 (`KiB`, `MiB`, `GiB`, `TiB`, `PiB`), SI units
 * powers of 1000 (`KB`/`kB`, `MB`, `GB`, `TB`, `PB`), `B` or no unit means bytes; decimals are allowed when the
 * result is a whole number of bytes (`1.5GiB`). A library was considered (`bytes`): it reads `GB` as 1024³,
 * which is exactly the ambiguity a quota must not have, so the few lines below state the rule instead.
 */
const UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  pb: 1e15,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
  pib: 1024 ** 5,
};
const SIZE_RE = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/;

/** Bytes of a size given as a number (bytes) or a string with a unit; invalid for anything else or < 1 byte. */
export function parseSize(value: number | string, what = 'size'): number {
  let bytes: number;
  if (typeof value === 'number') bytes = value;
  else {
    const m = SIZE_RE.exec(value);
    const unit = m ? UNITS[(m[2] || 'b').toLowerCase()] : undefined;
    if (!m || unit === undefined) {
      throw invalid(`${what} "${value}" is not a size: use bytes or a number with KiB, MiB, GiB, TiB (1024) or KB, MB, GB, TB (1000)`);
    }
    bytes = Number(m[1]) * unit;
    // Stryker disable next-line EqualityOperator: '<=' is equivalent (the difference is exact, and only 1e-6 itself lies exactly 1e-6 from a whole number: refused either way); '>=' is killed by limits.test.ts, applied by hand
    if (Math.abs(bytes - Math.round(bytes)) < 1e-6) bytes = Math.round(bytes);
  }
  if (!Number.isSafeInteger(bytes) || bytes < 1) throw invalid(`${what} must be a whole number of bytes, at least 1 (got ${JSON.stringify(value)})`);
  return bytes;
}

/** `4.0 KiB`, `1.5 GiB`, `796 B`: binary units with one decimal, as Harbor's quota messages write them. */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let v = bytes;
  let i = -1;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}
