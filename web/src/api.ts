/** The public API (/api/v1) with the signed-in user's bearer token; errors in Harbor's envelope become ApiError. */
import { accessToken, refresh } from './auth';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const API = '/api/v1';

export async function authHeader(): Promise<Record<string, string>> {
  const t = await accessToken();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<{ data: T; total: number | null }> {
  const send = async () =>
    fetch(`${API}${path}`, {
      method,
      headers: { ...(await authHeader()), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), Accept: 'application/json' },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  let res = await send();
  if (res.status === 401 && (await refresh())) res = await send();
  const text = await res.text();
  const json = text ? (JSON.parse(text) as unknown) : null;
  if (!res.ok) {
    const e = (json as { errors?: { code: string; message: string }[] } | null)?.errors?.[0];
    throw new ApiError(res.status, e?.code ?? String(res.status), e?.message ?? res.statusText);
  }
  const total = res.headers.get('X-Total-Count');
  return { data: json as T, total: total === null ? null : Number(total) };
}

export const qs = (params: Record<string, string | number | undefined | null>): string => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
};

/** Image names may contain '/': each segment encoded, slashes kept (the API takes them raw). */
export const imagePath = (workspace: string, image: string): string =>
  `/workspaces/${encodeURIComponent(workspace)}/images/${image.split('/').map(encodeURIComponent).join('/')}`;

export interface Project {
  id: string;
  name: string;
  department: string;
}
export interface Me {
  userId: string;
  username: string;
  cloudAdmin: boolean;
  projects: Project[];
  mayRunGc: boolean;
}
export type Relation = 'manage' | 'view';
export interface Workspace {
  name: string;
  access: 'private' | 'public';
  project: Project | null;
  relation: Relation;
  createdAt: string;
  updatedAt: string;
  pullAddressPrefix: string;
  imageCount?: number;
  storageUsedBytes?: number;
  storageLimitBytes?: number | null;
}
export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  pageSize: number;
}
export interface ImageRow {
  workspace: string;
  image: string;
  pullAddress: string;
  versionCount: number;
  latestPushAt: string | null;
  pullCount: number;
  sizeBytes: number;
  access: 'private' | 'public';
  project: Project | null;
  relation: Relation;
  shared: boolean;
}
export interface ImageVersion {
  tag: string;
  digest: string;
  sizeBytes: number;
  pushedAt: string | null;
  os: string | null;
  architecture: string | null;
  kind: 'image' | 'index';
  pullAddress: string;
  pullAddressByDigest: string;
}
export interface ImageDetail extends ImageRow {
  description: string;
  storageUsedBytes: number;
  versions: ImageVersion[];
  untagged: { digest: string; sizeBytes: number }[];
}
export interface Credentials {
  registry: string;
  username: string;
  password: string;
  workspaces: string[];
  docker: Record<string, string>;
  containerd: Record<string, string>;
  troubleshooting: Record<string, string>;
}
export interface UploadRecord {
  id: string;
  state: 'receiving' | 'verifying' | 'pushing' | 'succeeded' | 'failed';
  bytesReceived: number;
  layers: { label: string; size: number; state: string; bytesSent: number }[];
  images: { repository: string; tag: string; pullAddress: string }[];
  error?: { status: number; code: string; reason: string; message: string };
}
export interface GcRun {
  id: number;
  status: 'Pending' | 'Running' | 'Success' | 'Error' | 'Stopped';
  dryRun: boolean;
  deleteUntagged: boolean;
  trigger: string;
  startedAt: string;
  finishedAt: string | null;
  result?: { kind: string; freedBytes: number | null } | null;
  note?: string;
}
