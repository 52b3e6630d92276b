import { useEffect, useRef, useState } from 'preact/hooks';
import { api, authHeader, API, qs, type Page, type UploadRecord, type Workspace } from './api';
import { CopyField, ErrorNote, Modal } from './components';
import { bytes, randomId } from './format';
import { t } from './i18n';

type Phase = 'idle' | 'sending' | 'processing' | 'done' | 'failed' | 'cancelled';
const PHASES: UploadRecord['state'][] = ['receiving', 'verifying', 'pushing', 'succeeded'];

/**
 * Upload dialog: the archive is the raw request body of POST /workspaces/{ws}/uploads (XMLHttpRequest, for its
 * upload progress events: bytes sent); once the body is sent, hubgate's phases come from GET /uploads/{id}
 * (the id is chosen here). Cancel aborts the request: hubgate stops and tags nothing.
 */
export function UploadDialog(props: { workspace?: string; onClose: () => void }) {
  const [workspaces, setWorkspaces] = useState<Workspace[]>([]);
  const [ws, setWs] = useState(props.workspace ?? '');
  const [file, setFile] = useState<File | null>(null);
  const [image, setImage] = useState('');
  const [tag, setTag] = useState('');
  const [phase, setPhase] = useState<Phase>('idle');
  const [sent, setSent] = useState(0);
  const [record, setRecord] = useState<UploadRecord | null>(null);
  const [error, setError] = useState<unknown>(null);
  const xhr = useRef<XMLHttpRequest | null>(null);
  const poll = useRef<number | undefined>(undefined);

  useEffect(() => {
    api<Page<Workspace>>('GET', `/workspaces${qs({ page_size: 100 })}`)
      .then((r) => {
        const mine = r.data.items.filter((w) => w.relation === 'manage');
        setWorkspaces(mine);
        if (!ws && mine[0]) setWs(mine[0].name);
      })
      .catch(setError);
    return () => {
      window.clearTimeout(poll.current);
      xhr.current?.abort();
    };
  }, []);

  const watch = (id: string) => {
    // The body can sit in socket buffers before hubgate has accepted the upload and created its record (a GET
    // that early is a 404): the first look comes a moment after the last byte left.
    const tick = async () => {
      try {
        const r = await api<UploadRecord>('GET', `/uploads/${id}`);
        setRecord(r.data);
        if (r.data.state === 'succeeded' || r.data.state === 'failed') return;
      } catch {
        // the final answer of the POST settles it
      }
      poll.current = window.setTimeout(tick, 400);
    };
    poll.current = window.setTimeout(tick, 750);
  };

  const start = async (e: Event) => {
    e.preventDefault();
    if (!file || !ws) return;
    const id = randomId();
    setError(null);
    setRecord(null);
    setSent(0);
    setPhase('sending');
    const req = new XMLHttpRequest();
    xhr.current = req;
    req.open('POST', `${API}/workspaces/${encodeURIComponent(ws)}/uploads${qs({ uploadId: id, image: image.trim(), tag: tag.trim() })}`);
    for (const [k, v] of Object.entries(await authHeader())) req.setRequestHeader(k, v);
    req.setRequestHeader('Content-Type', 'application/octet-stream');
    req.upload.onprogress = (ev) => setSent(ev.loaded);
    req.upload.onload = () => {
      setSent(file.size);
      setPhase('processing');
      watch(id);
    };
    req.onload = () => {
      window.clearTimeout(poll.current);
      const body = req.responseText ? (JSON.parse(req.responseText) as UploadRecord & { errors?: { message: string }[] }) : null;
      if (req.status === 201 && body) {
        setRecord(body);
        setPhase('done');
      } else {
        setPhase('failed');
        setError(new Error(body?.errors?.[0]?.message ?? body?.error?.message ?? `HTTP ${req.status}`));
      }
    };
    req.onerror = () => {
      window.clearTimeout(poll.current);
      setPhase('failed');
      setError(new Error(t('networkError')));
    };
    req.send(file);
  };

  const cancel = () => {
    xhr.current?.abort();
    window.clearTimeout(poll.current);
    setPhase('cancelled');
  };

  const busy = phase === 'sending' || phase === 'processing';
  const state = record?.state;
  const stepIndex = phase === 'done' ? PHASES.length - 1 : state ? PHASES.indexOf(state) : phase === 'sending' ? 0 : -1;
  const pushed = record?.layers.reduce((s, l) => s + (l.state === 'skipped' ? l.size : l.bytesSent), 0) ?? 0;
  const total = record?.layers.reduce((s, l) => s + l.size, 0) ?? 0;
  return (
    <Modal title={t('uploadTitle')} onClose={() => (busy ? cancel() : props.onClose())} wide id="upload">
      <form onSubmit={start} class="stack">
        <label for="up-ws">{t('workspace')}</label>
        <select id="up-ws" required disabled={busy} value={ws} onChange={(e) => setWs(e.currentTarget.value)}>
          {workspaces.map((w) => (
            <option value={w.name}>{w.name}</option>
          ))}
        </select>
        {workspaces.length === 0 ? <small>{t('uploadNoWorkspace')}</small> : null}
        <label for="up-file">{t('archive')}</label>
        <input id="up-file" type="file" required disabled={busy} accept=".tar,.tar.gz,.tgz,application/x-tar,application/gzip" aria-describedby="up-file-hint" onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)} />
        <small id="up-file-hint">{t('archiveHint')}</small>
        <label for="up-image">{t('imageOptional')}</label>
        <input id="up-image" disabled={busy} value={image} onInput={(e) => setImage(e.currentTarget.value)} />
        <label for="up-tag">{t('tagOptional')}</label>
        <input id="up-tag" disabled={busy} value={tag} onInput={(e) => setTag(e.currentTarget.value)} />
        <div class="actions">
          {busy ? (
            <button type="button" class="danger" id="up-cancel" onClick={cancel}>
              {t('cancelUpload')}
            </button>
          ) : (
            <button type="button" onClick={props.onClose}>
              {t('close')}
            </button>
          )}
          <button type="submit" class="primary" id="up-start" disabled={busy || !file || !ws}>
            {t('startUpload')}
          </button>
        </div>
      </form>
      {phase !== 'idle' ? (
        <div class="progress-block" aria-live="polite">
          <label for="up-bytes">{t('bytesSent', { sent: bytes(sent), total: bytes(file?.size ?? 0) })}</label>
          <progress id="up-bytes" max={file?.size || 1} value={sent} />
          <ol class="phases" id="up-phases">
            {PHASES.map((p, i) => (
              <li class={i < stepIndex || phase === 'done' ? 'done' : i === stepIndex && busy ? 'current' : ''} data-phase={p}>
                {t(`phase_${p}`)}
              </li>
            ))}
          </ol>
          {total > 0 ? (
            <>
              <label for="up-push">{t('pushedToRegistry', { sent: bytes(pushed), total: bytes(total) })}</label>
              <progress id="up-push" max={total} value={pushed} />
            </>
          ) : null}
          <p id="up-status" role="status" data-phase={phase}>
            {t(`uploadPhase_${phase}`)}
          </p>
        </div>
      ) : null}
      <ErrorNote error={error} />
      {phase === 'done' && record ? (
        <div id="up-result">
          <h3>{t('pullAddresses')}</h3>
          {record.images.map((im, i) => (
            <CopyField label={`${im.repository}:${im.tag}`} value={`docker pull ${im.pullAddress}`} id={`up-pull-${i}`} />
          ))}
        </div>
      ) : null}
    </Modal>
  );
}
