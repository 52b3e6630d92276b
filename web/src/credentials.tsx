import { useEffect, useState } from 'preact/hooks';
import { api, qs, type Credentials, type Me, type Page, type Workspace } from './api';
import { Confirm, CopyField, ErrorNote, Modal } from './components';
import { t } from './i18n';

/** The push dialog (manual §3.3): the project's generated credentials, copyable docker and containerd commands, x509 fixes. */
export function CredentialsDialog(props: { me: Me; onClose: () => void }) {
  const [projectId, setProjectId] = useState(props.me.projects[0]?.id ?? '');
  const [creds, setCreds] = useState<Credentials | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [noWorkspace, setNoWorkspace] = useState(false);
  const [confirm, setConfirm] = useState(false);
  const [rotated, setRotated] = useState(false);
  const [show, setShow] = useState(false);

  useEffect(() => {
    if (!projectId) return;
    let live = true;
    setCreds(null);
    setError(null);
    setNoWorkspace(false);
    setRotated(false);
    // Credentials exist once the project has a workspace: ask first instead of provoking a 409.
    api<Page<Workspace>>('GET', `/workspaces${qs({ projectId, page_size: 1 })}`)
      .then(async (w) => {
        if (!live) return;
        if (w.data.total === 0) return setNoWorkspace(true);
        const r = await api<Credentials>('GET', `/projects/${encodeURIComponent(projectId)}/credentials`);
        if (live) setCreds(r.data);
      })
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [projectId]);

  const rotate = async () => {
    setConfirm(false);
    try {
      const r = await api<Credentials>('POST', `/projects/${encodeURIComponent(projectId)}/credentials/rotate`);
      setCreds(r.data);
      setRotated(true);
    } catch (e) {
      setError(e);
    }
  };

  return (
    <Modal title={t('pushCredentials')} onClose={props.onClose} wide id="creds">
      <div class="stack">
        <label for="creds-project">{t('project')}</label>
        {props.me.projects.length ? (
          <select id="creds-project" value={projectId} onChange={(e) => setProjectId(e.currentTarget.value)}>
            {props.me.projects.map((p) => (
              <option value={p.id}>
                {p.name || p.id} ({p.department})
              </option>
            ))}
          </select>
        ) : (
          <input id="creds-project" value={projectId} onChange={(e) => setProjectId(e.currentTarget.value.trim())} />
        )}
      </div>
      {noWorkspace ? <p class="notice">{t('credsNeedWorkspace')}</p> : null}
      <ErrorNote error={error} />
      {rotated ? (
        <p class="notice" role="status" id="creds-rotated">
          {t('rotatedNotice')}
        </p>
      ) : null}
      {creds ? (
        <div class="creds">
          <CopyField label={t('registry')} value={creds.registry} id="creds-registry" />
          <CopyField label={t('username')} value={creds.username} id="creds-username" />
          <div class="copy-field">
            <CopyField label={t('password')} value={creds.password} masked={!show} id="creds-password" />
            <label class="inline">
              <input type="checkbox" checked={show} onChange={() => setShow(!show)} /> {t('showPassword')}
            </label>
          </div>
          <h3>Docker</h3>
          {Object.entries(creds.docker).map(([k, v]) => (
            <CopyField label={`docker ${k}`} value={v} id={`creds-docker-${k}`} />
          ))}
          <h3>containerd (ctr)</h3>
          {Object.entries(creds.containerd).map(([k, v]) => (
            <CopyField label={`ctr ${k}`} value={v} id={`creds-ctr-${k}`} />
          ))}
          <details>
            <summary>{t('x509Title')}</summary>
            <p>{creds.troubleshooting.summary}</p>
            {Object.entries(creds.troubleshooting)
              .filter(([k]) => k !== 'summary')
              .map(([k, v]) => (
                <CopyField label={k} value={v} multiline id={`creds-x509-${k}`} />
              ))}
          </details>
          <div class="actions">
            <button type="button" class="danger" id="creds-rotate" onClick={() => setConfirm(true)}>
              {t('rotate')}
            </button>
          </div>
        </div>
      ) : null}
      {confirm ? (
        <Confirm title={t('rotate')} id="creds-confirm" action={t('rotate')} actionId="rotate" onConfirm={rotate} onCancel={() => setConfirm(false)}>
          <p>{t('confirmRotate')}</p>
        </Confirm>
      ) : null}
    </Modal>
  );
}
