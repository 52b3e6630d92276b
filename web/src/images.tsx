import { useEffect, useState } from 'preact/hooks';
import { api, imagePath, qs, type ImageDetail, type ImageRow, type Me, type Page } from './api';
import { Confirm, CopyField, ErrorNote, Pager, SortHeader, Why } from './components';
import { bytes, when } from './format';
import { t } from './i18n';
import { renderMarkdown } from './markdown';
import { href, imageHref } from './router';

const PAGE_SIZE = 20;
type View = 'own' | 'shared' | 'all';

export function ImagesPage(props: { me: Me; view: View; onUpload: () => void }) {
  const views: View[] = props.me.cloudAdmin ? ['own', 'shared', 'all'] : ['own', 'shared'];
  return (
    <section aria-labelledby="img-title">
      <div class="toolbar">
        <h1 id="img-title">{t('images')}</h1>
        <button type="button" class="primary" id="upload-open" onClick={props.onUpload}>
          {t('upload')}
        </button>
      </div>
      <nav class="tabs" aria-label={t('imageViews')}>
        {views.map((v) => (
          <a href={href('images', v)} aria-current={props.view === v ? 'page' : undefined} id={`tab-${v}`}>
            {t(`view_${v}`)}
          </a>
        ))}
      </nav>
      <ImagesTable me={props.me} view={props.view} key={props.view} />
    </section>
  );
}

export function ImagesTable(props: { me: Me; view: View; workspace?: string }) {
  const [q, setQ] = useState('');
  const [sort, setSort] = useState('name');
  const [page, setPage] = useState(1);
  const [data, setData] = useState<Page<ImageRow> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [confirm, setConfirm] = useState(false);
  const [result, setResult] = useState<string | null>(null);
  const [version, setVersion] = useState(0);

  useEffect(() => {
    let live = true;
    api<Page<ImageRow>>('GET', `/images${qs({ view: props.view, workspace: props.workspace, q: q.trim(), sort, page, page_size: PAGE_SIZE })}`)
      .then((r) => live && (setData(r.data), setError(null)))
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [props.view, props.workspace, q, sort, page, version]);

  const key = (r: ImageRow) => `${r.workspace}/${r.image}`;
  const toggle = (k: string) => {
    const s = new Set(selected);
    if (s.has(k)) s.delete(k);
    else s.add(k);
    setSelected(s);
  };
  const manageable = data?.items.filter((r) => r.relation === 'manage') ?? [];
  const remove = async () => {
    const items = manageable.filter((r) => selected.has(key(r))).map((r) => ({ workspace: r.workspace, image: r.image }));
    try {
      const r = await api<{ deleted: unknown[]; failed: { image: string; reason: string }[]; note: string }>('DELETE', '/images', { items });
      setResult(t('deletedCount', { deleted: r.data.deleted.length, failed: r.data.failed.length }) + ' ' + r.data.note);
      setSelected(new Set());
      setVersion(version + 1);
    } catch (e) {
      setError(e);
    }
    setConfirm(false);
  };
  const readOnly = props.view === 'shared';
  return (
    <div class="table-block">
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          {t('search')}
          <input type="search" id="img-q" value={q} onInput={(e) => (setQ(e.currentTarget.value), setPage(1))} />
        </label>
        <button type="button" class="danger" id="img-delete" disabled={readOnly || selected.size === 0} aria-describedby="img-delete-why" onClick={() => setConfirm(true)}>
          {t('deleteSelected', { n: selected.size })}
        </button>
        <Why id="img-delete-why" reason={readOnly ? t('whySharedImages') : null} />
      </form>
      {result ? (
        <p class="notice" role="status">
          {result}
        </p>
      ) : null}
      <ErrorNote error={error} />
      <table>
        <caption class="sr-only">{t('images')}</caption>
        <thead>
          <tr>
            <th scope="col">
              <span class="sr-only">{t('select')}</span>
            </th>
            <SortHeader label={t('image')} field="name" sort={sort} onSort={setSort} />
            <th scope="col">{t('workspace')}</th>
            <th scope="col">{t('versions')}</th>
            <th scope="col">{t('size')}</th>
            <SortHeader label={t('pulls')} field="pulls" sort={sort} onSort={setSort} />
            <SortHeader label={t('updated')} field="updated" sort={sort} onSort={setSort} />
            <th scope="col">{t('yourRole')}</th>
          </tr>
        </thead>
        <tbody>
          {data?.items.map((r) => (
            <tr>
              <td>
                <input
                  type="checkbox"
                  aria-label={`${t('select')} ${key(r)}`}
                  title={r.relation === 'manage' ? undefined : t('whySharedImages')}
                  disabled={r.relation !== 'manage'}
                  checked={selected.has(key(r))}
                  onChange={() => toggle(key(r))}
                />
              </td>
              <td>
                <a href={imageHref(r.workspace, r.image)}>{r.image}</a>
              </td>
              <td>{r.workspace}</td>
              <td>{r.versionCount}</td>
              <td>{bytes(r.sizeBytes)}</td>
              <td>{r.pullCount}</td>
              <td>{when(r.latestPushAt)}</td>
              <td>
                <span class={`badge ${r.relation}`}>{r.shared ? t('sharedReadOnly') : t('roleManage')}</span>
              </td>
            </tr>
          ))}
          {data && data.items.length === 0 ? (
            <tr>
              <td colSpan={8}>{t('empty')}</td>
            </tr>
          ) : null}
        </tbody>
      </table>
      {data ? <Pager page={data.page} pageSize={data.pageSize} total={data.total} onPage={setPage} /> : null}
      {confirm ? (
        <Confirm title={t('deleteImages')} id="img-confirm" action={t('delete')} actionId="delete" onConfirm={remove} onCancel={() => setConfirm(false)}>
          <p>{t('confirmDeleteImages', { n: selected.size })}</p>
          <ul>
            {[...selected].map((k) => (
              <li>{k}</li>
            ))}
          </ul>
        </Confirm>
      ) : null}
    </div>
  );
}

export function ImageDetailPage(props: { workspace: string; image: string }) {
  const [img, setImg] = useState<ImageDetail | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState('');
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [confirm, setConfirm] = useState(false);
  const [result, setResult] = useState<string | null>(null);
  const [version, setVersion] = useState(0);
  const path = imagePath(props.workspace, props.image);

  useEffect(() => {
    api<ImageDetail>('GET', path)
      .then((r) => (setImg(r.data), setError(null)))
      .catch(setError);
  }, [path, version]);

  const manage = img?.relation === 'manage';
  const why = img && !manage ? t('whySharedImages') : null;
  const save = async (e: Event) => {
    e.preventDefault();
    try {
      const r = await api<ImageDetail>('PATCH', path, { description: draft });
      setImg({ ...img!, description: r.data.description ?? draft });
      setEditing(false);
    } catch (err) {
      setError(err);
    }
  };
  const toggle = (tag: string) => {
    const s = new Set(selected);
    if (s.has(tag)) s.delete(tag);
    else s.add(tag);
    setSelected(s);
  };
  const removeVersions = async () => {
    try {
      const r = await api<{ deleted: unknown[]; failed: unknown[]; note: string }>(
        'DELETE',
        `/workspaces/${encodeURIComponent(props.workspace)}/images/${encodeURIComponent(props.image)}/versions`,
        { tags: [...selected] },
      );
      setResult(t('deletedCount', { deleted: r.data.deleted.length, failed: r.data.failed.length }) + ' ' + r.data.note);
      setSelected(new Set());
      setVersion(version + 1);
    } catch (e) {
      setError(e);
    }
    setConfirm(false);
  };

  return (
    <section aria-labelledby="imgd-title">
      <p>
        <a href={href('images', img?.shared ? 'shared' : 'own')}>← {t('images')}</a>
      </p>
      <h1 id="imgd-title">
        {props.workspace}/{props.image}
      </h1>
      <ErrorNote error={error} />
      {img ? (
        <>
          {img.shared ? (
            <p class="notice" id="imgd-shared">
              {t('sharedNotice')}
            </p>
          ) : null}
          <dl class="facts">
            <dt>{t('storage')}</dt>
            <dd>{bytes(img.storageUsedBytes)}</dd>
            <dt>{t('pulls')}</dt>
            <dd>{img.pullCount}</dd>
            <dt>{t('versions')}</dt>
            <dd>{img.versions.length}</dd>
            <dt>{t('project')}</dt>
            <dd>{img.project ? `${img.project.name || img.project.id} (${img.project.department})` : '—'}</dd>
          </dl>
          <CopyField label={t('pullAddress')} value={`${img.pullAddress}:${img.versions[0]?.tag ?? 'latest'}`} id="imgd-pull" />
          <h2>{t('description')}</h2>
          {editing ? (
            <form onSubmit={save} class="stack">
              <label for="imgd-desc">{t('descriptionMarkdown')}</label>
              <textarea id="imgd-desc" rows={8} maxLength={10000} value={draft} onInput={(e) => setDraft(e.currentTarget.value)} />
              <p class="preview-title">{t('preview')}</p>
              <div class="markdown preview" dangerouslySetInnerHTML={{ __html: renderMarkdown(draft) }} />
              <div class="actions">
                <button type="button" onClick={() => setEditing(false)}>
                  {t('cancel')}
                </button>
                <button type="submit" class="primary" id="imgd-desc-save">
                  {t('save')}
                </button>
              </div>
            </form>
          ) : (
            <>
              <div class="markdown" id="imgd-desc-view" dangerouslySetInnerHTML={{ __html: img.description ? renderMarkdown(img.description) : `<p>${t('noDescription')}</p>` }} />
              <div class="toolbar">
                <button type="button" id="imgd-edit" disabled={!manage} aria-describedby="imgd-why" onClick={() => (setDraft(img.description ?? ''), setEditing(true))}>
                  {t('editDescription')}
                </button>
                <Why id="imgd-why" reason={why} />
              </div>
            </>
          )}
          <h2>{t('versions')}</h2>
          {result ? (
            <p class="notice" role="status">
              {result}
            </p>
          ) : null}
          <div class="toolbar">
            <button type="button" class="danger" id="imgd-delete-versions" disabled={!manage || selected.size === 0} aria-describedby="imgd-why" onClick={() => setConfirm(true)}>
              {t('deleteSelected', { n: selected.size })}
            </button>
          </div>
          <table>
            <caption class="sr-only">{t('versions')}</caption>
            <thead>
              <tr>
                <th scope="col">
                  <span class="sr-only">{t('select')}</span>
                </th>
                <th scope="col">{t('version')}</th>
                <th scope="col">{t('size')}</th>
                <th scope="col">{t('platform')}</th>
                <th scope="col">{t('pushed')}</th>
                <th scope="col">{t('pullCommand')}</th>
              </tr>
            </thead>
            <tbody>
              {img.versions.map((v) => (
                <tr>
                  <td>
                    <input type="checkbox" aria-label={`${t('select')} ${v.tag}`} disabled={!manage} checked={selected.has(v.tag)} onChange={() => toggle(v.tag)} />
                  </td>
                  <td>{v.tag}</td>
                  <td>{bytes(v.sizeBytes)}</td>
                  <td>{v.kind === 'index' ? t('multiArch') : [v.os, v.architecture].filter(Boolean).join('/') || '—'}</td>
                  <td>{when(v.pushedAt)}</td>
                  <td>
                    <CopyField label={`docker pull ${v.tag}`} value={`docker pull ${v.pullAddress}`} id={`pull-${v.tag}`} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {img.untagged.length ? <p>{t('untaggedNote', { n: img.untagged.length })}</p> : null}
        </>
      ) : null}
      {confirm ? (
        <Confirm title={t('deleteVersions')} id="imgd-confirm" action={t('delete')} actionId="delete" onConfirm={removeVersions} onCancel={() => setConfirm(false)}>
          <p>{t('confirmDeleteVersions', { tags: [...selected].join(', ') })}</p>
        </Confirm>
      ) : null}
    </section>
  );
}
