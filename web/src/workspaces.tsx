import { useEffect, useState } from 'preact/hooks';
import { api, qs, type Me, type Page, type Workspace } from './api';
import { Confirm, ErrorNote, Modal, Pager, SortHeader, Why } from './components';
import { bytes, when } from './format';
import { t } from './i18n';
import { href } from './router';
import { ImagesTable } from './images';

const PAGE_SIZE = 20;

export function WorkspacesPage(props: { me: Me }) {
  const [q, setQ] = useState('');
  const [access, setAccess] = useState('');
  const [projectId, setProjectId] = useState('');
  const [sort, setSort] = useState('name');
  const [page, setPage] = useState(1);
  const [data, setData] = useState<Page<Workspace> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [creating, setCreating] = useState(false);
  const [version, setVersion] = useState(0);

  useEffect(() => {
    let live = true;
    api<Page<Workspace>>('GET', `/workspaces${qs({ q: q.trim().toLowerCase(), access, projectId, sort, page, page_size: PAGE_SIZE })}`)
      .then((r) => live && (setData(r.data), setError(null)))
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [q, access, projectId, sort, page, version]);

  const mayCreate = props.me.cloudAdmin || props.me.projects.length > 0;
  return (
    <section aria-labelledby="ws-title">
      <div class="toolbar">
        <h1 id="ws-title">{t('workspaces')}</h1>
        <button type="button" class="primary" id="ws-create-open" disabled={!mayCreate} aria-describedby="ws-create-why" onClick={() => setCreating(true)}>
          {t('createWorkspace')}
        </button>
        <Why id="ws-create-why" reason={mayCreate ? null : t('whyNoProject')} />
      </div>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          {t('search')}
          <input type="search" id="ws-q" value={q} onInput={(e) => (setQ(e.currentTarget.value), setPage(1))} />
        </label>
        <label>
          {t('access')}
          <select id="ws-access" value={access} onChange={(e) => (setAccess(e.currentTarget.value), setPage(1))}>
            <option value="">{t('any')}</option>
            <option value="private">{t('private')}</option>
            <option value="public">{t('public')}</option>
          </select>
        </label>
        <label>
          {t('project')}
          <select id="ws-project" value={projectId} onChange={(e) => (setProjectId(e.currentTarget.value), setPage(1))}>
            <option value="">{t('any')}</option>
            {props.me.projects.map((p) => (
              <option value={p.id}>{p.name || p.id}</option>
            ))}
          </select>
        </label>
      </form>
      <ErrorNote error={error} />
      <table>
        <caption class="sr-only">{t('workspaces')}</caption>
        <thead>
          <tr>
            <SortHeader label={t('name')} field="name" sort={sort} onSort={setSort} />
            <th scope="col">{t('project')}</th>
            <th scope="col">{t('department')}</th>
            <th scope="col">{t('access')}</th>
            <th scope="col">{t('yourRole')}</th>
            <SortHeader label={t('created')} field="created" sort={sort} onSort={setSort} />
          </tr>
        </thead>
        <tbody>
          {data?.items.map((w) => (
            <tr>
              <td>
                <a href={href('workspace', w.name)}>{w.name}</a>
              </td>
              <td>{w.project ? w.project.name || w.project.id : '—'}</td>
              <td>{w.project?.department ?? '—'}</td>
              <td>{t(w.access)}</td>
              <td>
                <span class={`badge ${w.relation}`}>{w.relation === 'manage' ? t('roleManage') : t('roleView')}</span>
              </td>
              <td>{when(w.createdAt)}</td>
            </tr>
          ))}
          {data && data.items.length === 0 ? (
            <tr>
              <td colSpan={6}>{t('empty')}</td>
            </tr>
          ) : null}
        </tbody>
      </table>
      {data ? <Pager page={data.page} pageSize={data.pageSize} total={data.total} onPage={setPage} /> : null}
      {creating ? (
        <CreateWorkspace
          me={props.me}
          onClose={() => setCreating(false)}
          onCreated={(name) => {
            setCreating(false);
            setVersion(version + 1);
            location.hash = href('workspace', name);
          }}
        />
      ) : null}
    </section>
  );
}

function CreateWorkspace(props: { me: Me; onClose: () => void; onCreated: (name: string) => void }) {
  const own = props.me.projects;
  const [projectId, setProjectId] = useState(own[0]?.id ?? '');
  const [department, setDepartment] = useState('');
  const [name, setName] = useState('');
  const [access, setAccess] = useState<'private' | 'public'>('private');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const joined = own.some((p) => p.id === projectId);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      const body: Record<string, string> = { name: name.trim(), projectId, access };
      if (!joined && department) body.department = department;
      await api('POST', '/workspaces', body);
      props.onCreated(body.name);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal title={t('createWorkspace')} onClose={props.onClose} id="ws-create">
      <form onSubmit={submit} class="stack">
        <label for="ws-new-project">{t('project')}</label>
        {props.me.cloudAdmin ? (
          <>
            <input id="ws-new-project" list="ws-projects" required value={projectId} onInput={(e) => setProjectId(e.currentTarget.value)} />
            <datalist id="ws-projects">
              {own.map((p) => (
                <option value={p.id}>{p.name}</option>
              ))}
            </datalist>
          </>
        ) : (
          <select id="ws-new-project" required value={projectId} onChange={(e) => setProjectId(e.currentTarget.value)}>
            {own.map((p) => (
              <option value={p.id}>
                {p.name || p.id} ({p.department})
              </option>
            ))}
          </select>
        )}
        {props.me.cloudAdmin && !joined ? (
          <>
            <label for="ws-new-department">{t('department')}</label>
            <input id="ws-new-department" required value={department} onInput={(e) => setDepartment(e.currentTarget.value)} />
          </>
        ) : null}
        <label for="ws-new-name">{t('name')}</label>
        <input
          id="ws-new-name"
          required
          minLength={1}
          maxLength={255}
          pattern="[a-z0-9]+(?:[._\-][a-z0-9]+)*"
          aria-describedby="ws-new-name-hint"
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
        />
        <small id="ws-new-name-hint">{t('nameRule')}</small>
        <fieldset>
          <legend>{t('access')}</legend>
          <label class="inline">
            <input type="radio" name="ws-new-access" value="private" checked={access === 'private'} onChange={() => setAccess('private')} /> {t('private')}
          </label>
          <label class="inline">
            <input type="radio" name="ws-new-access" value="public" checked={access === 'public'} onChange={() => setAccess('public')} /> {t('public')}
          </label>
        </fieldset>
        <ErrorNote error={error} />
        <div class="actions">
          <button type="button" onClick={props.onClose}>
            {t('cancel')}
          </button>
          <button type="submit" class="primary" id="ws-new-submit" disabled={busy}>
            {t('create')}
          </button>
        </div>
      </form>
    </Modal>
  );
}

export function WorkspaceDetailPage(props: { me: Me; name: string; onUpload: (ws: string) => void }) {
  const [ws, setWs] = useState<Workspace | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [confirm, setConfirm] = useState(false);
  useEffect(() => {
    api<Workspace>('GET', `/workspaces/${encodeURIComponent(props.name)}`)
      .then((r) => (setWs(r.data), setError(null)))
      .catch(setError);
  }, [props.name]);
  const manage = ws?.relation === 'manage';
  const why = manage ? null : t('whyShared');
  const toggle = async () => {
    if (!ws) return;
    try {
      const r = await api<Workspace>('PATCH', `/workspaces/${encodeURIComponent(ws.name)}`, { access: ws.access === 'private' ? 'public' : 'private' });
      setWs(r.data);
    } catch (e) {
      setError(e);
    }
  };
  const remove = async () => {
    try {
      await api('DELETE', `/workspaces/${encodeURIComponent(props.name)}`);
      location.hash = href('workspaces');
    } catch (e) {
      setConfirm(false);
      setError(e);
    }
  };
  return (
    <section aria-labelledby="wsd-title">
      <p>
        <a href={href('workspaces')}>← {t('workspaces')}</a>
      </p>
      <div class="toolbar">
        <h1 id="wsd-title">{props.name}</h1>
        <button type="button" class="primary" disabled={!manage} aria-describedby="wsd-why" onClick={() => props.onUpload(props.name)}>
          {t('upload')}
        </button>
        <button type="button" id="wsd-access" disabled={!manage} aria-describedby="wsd-why" onClick={toggle}>
          {ws?.access === 'public' ? t('makePrivate') : t('makePublic')}
        </button>
        <button type="button" class="danger" id="wsd-delete" disabled={!manage} aria-describedby="wsd-why" onClick={() => setConfirm(true)}>
          {t('deleteWorkspace')}
        </button>
        <Why id="wsd-why" reason={ws ? why : null} />
      </div>
      <ErrorNote error={error} />
      {ws ? (
        <dl class="facts">
          <dt>{t('project')}</dt>
          <dd>{ws.project ? `${ws.project.name || ws.project.id} (${ws.project.department})` : '—'}</dd>
          <dt>{t('access')}</dt>
          <dd id="wsd-access-value">{t(ws.access)}</dd>
          <dt>{t('images')}</dt>
          <dd>{ws.imageCount ?? '—'}</dd>
          <dt>{t('storage')}</dt>
          <dd>{bytes(ws.storageUsedBytes)}</dd>
          <dt>{t('pushAddress')}</dt>
          <dd>
            <code>{ws.pullAddressPrefix}/IMAGE:VERSION</code>
          </dd>
        </dl>
      ) : null}
      {ws ? <ImagesTable me={props.me} view="all" workspace={ws.name} key={ws.name} /> : null}
      {confirm ? (
        <Confirm title={t('deleteWorkspace')} id="wsd-confirm" action={t('delete')} actionId="delete" onConfirm={remove} onCancel={() => setConfirm(false)}>
          <p>{t('confirmDeleteWorkspace', { name: props.name })}</p>
        </Confirm>
      ) : null}
    </section>
  );
}
