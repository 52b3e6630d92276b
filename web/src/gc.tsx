import { useEffect, useState } from 'preact/hooks';
import { API, api, authHeader, qs, type GcRun, type Me, type Page } from './api';
import { ErrorNote, Modal, Pager, Why } from './components';
import { bytes, when } from './format';
import { t } from './i18n';

export function GcPage(props: { me: Me }) {
  const [page, setPage] = useState(1);
  const [data, setData] = useState<(Page<GcRun> & { running: boolean }) | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [dryRun, setDryRun] = useState(false);
  const [deleteUntagged, setDeleteUntagged] = useState(true);
  const [version, setVersion] = useState(0);
  const [log, setLog] = useState<{ id: number; text: string } | null>(null);
  const [started, setStarted] = useState<GcRun | null>(null);

  useEffect(() => {
    if (!props.me.mayRunGc) return;
    let live = true;
    let timer: number | undefined;
    const load = () =>
      api<Page<GcRun> & { running: boolean }>('GET', `/gc${qs({ page, page_size: 10 })}`)
        .then((r) => {
          if (!live) return;
          setData(r.data);
          setError(null);
          if (r.data.running) timer = window.setTimeout(load, 1000);
        })
        .catch((e) => live && setError(e));
    void load();
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
  }, [page, version]);

  const run = async (e: Event) => {
    e.preventDefault();
    try {
      const r = await api<GcRun>('POST', '/gc', { dryRun, deleteUntagged });
      setStarted(r.data);
      setVersion(version + 1);
    } catch (err) {
      setError(err);
    }
  };
  const showLog = async (id: number) => {
    try {
      const res = await fetch(`${API}/gc/${id}/log`, { headers: await authHeader() });
      setLog({ id, text: await res.text() });
    } catch (err) {
      setError(err);
    }
  };
  const why = props.me.mayRunGc ? null : t('whyGc');
  return (
    <section aria-labelledby="gc-title">
      <h1 id="gc-title">{t('gc')}</h1>
      <p>{t('gcIntro')}</p>
      <form class="filters" onSubmit={run}>
        <label class="inline">
          <input type="checkbox" id="gc-dry" checked={dryRun} onChange={() => setDryRun(!dryRun)} /> {t('dryRun')}
        </label>
        <label class="inline">
          <input type="checkbox" id="gc-untagged" checked={deleteUntagged} onChange={() => setDeleteUntagged(!deleteUntagged)} /> {t('deleteUntagged')}
        </label>
        <button type="submit" class="primary" id="gc-run" disabled={!props.me.mayRunGc || !!data?.running} aria-describedby="gc-why">
          {data?.running ? t('gcRunning') : t('runGc')}
        </button>
        <Why id="gc-why" reason={why} />
      </form>
      {started?.note ? <p class="notice">{started.note}</p> : null}
      <ErrorNote error={error} />
      {data ? (
        <>
          <table>
            <caption class="sr-only">{t('gcHistory')}</caption>
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">{t('status')}</th>
                <th scope="col">{t('dryRun')}</th>
                <th scope="col">{t('started')}</th>
                <th scope="col">{t('finished')}</th>
                <th scope="col">{t('freed')}</th>
                <th scope="col">{t('log')}</th>
              </tr>
            </thead>
            <tbody id="gc-rows">
              {data.items.map((r) => (
                <tr data-status={r.status}>
                  <td>{r.id}</td>
                  <td>{t(`gc_${r.status}`)}</td>
                  <td>{r.dryRun ? t('yes') : t('no')}</td>
                  <td>{when(r.startedAt)}</td>
                  <td>{when(r.finishedAt)}</td>
                  <td>{r.result?.freedBytes !== undefined ? bytes(r.result?.freedBytes ?? null) : '—'}</td>
                  <td>
                    <button type="button" onClick={() => void showLog(r.id)} aria-label={`${t('log')} #${r.id}`}>
                      {t('log')}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager page={data.page} pageSize={data.pageSize} total={data.total} onPage={setPage} />
        </>
      ) : null}
      {log ? (
        <Modal title={`${t('log')} #${log.id}`} onClose={() => setLog(null)} wide id="gc-log">
          <pre class="log">{log.text}</pre>
        </Modal>
      ) : null}
    </section>
  );
}
