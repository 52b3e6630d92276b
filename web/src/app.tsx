import { useEffect, useState } from 'preact/hooks';
import { api, type Me } from './api';
import { onAuthChange, signIn, signOut, signedIn } from './auth';
import { CredentialsDialog } from './credentials';
import { ErrorNote } from './components';
import { GcPage } from './gc';
import { LANGS, lang, setLang, t, type Lang } from './i18n';
import { ImageDetailPage, ImagesPage } from './images';
import { href, useRoute } from './router';
import { UploadDialog } from './upload';
import { WorkspaceDetailPage, WorkspacesPage } from './workspaces';

function LangSwitch(props: { onChange: () => void }) {
  return (
    <label class="lang">
      <span class="sr-only">{t('language')}</span>
      <select
        id="lang"
        aria-label={t('language')}
        value={lang()}
        onChange={(e) => {
          setLang(e.currentTarget.value as Lang);
          props.onChange();
        }}
      >
        {LANGS.map((l) => (
          <option value={l.id}>{l.label}</option>
        ))}
      </select>
    </label>
  );
}

export function App(props: { signInError?: string }) {
  const [, rerender] = useState(0);
  const [authed, setAuthed] = useState(signedIn());
  const [me, setMe] = useState<Me | null>(null);
  const [error, setError] = useState<unknown>(props.signInError ? new Error(props.signInError) : null);
  const [upload, setUpload] = useState<{ workspace?: string } | null>(null);
  const [creds, setCreds] = useState(false);
  const [refresh, setRefresh] = useState(0);
  const route = useRoute();

  useEffect(() => onAuthChange(setAuthed), []);
  useEffect(() => {
    if (!authed) return setMe(null);
    api<Me>('GET', '/me')
      .then((r) => setMe(r.data))
      .catch(setError);
  }, [authed]);
  useEffect(() => {
    document.documentElement.lang = lang() === 'zh' ? 'zh-CN' : 'en';
    document.title = t('title');
  });

  if (!authed) {
    return (
      <main class="signin" id="main">
        <LangSwitch onChange={() => rerender((n) => n + 1)} />
        <h1>{t('title')}</h1>
        <p>{t('signInIntro')}</p>
        <ErrorNote error={error} />
        <button type="button" class="primary" id="sign-in" onClick={() => void signIn()}>
          {t('signIn')}
        </button>
      </main>
    );
  }
  if (!me) return <main id="main">{error ? <ErrorNote error={error} /> : <p>{t('loading')}</p>}</main>;

  const [section, ...rest] = route.parts;
  let page;
  if (section === 'workspaces') page = <WorkspacesPage me={me} />;
  else if (section === 'workspace' && rest[0]) page = <WorkspaceDetailPage me={me} name={rest[0]} onUpload={(ws) => setUpload({ workspace: ws })} key={rest[0]} />;
  else if (section === 'image' && rest.length >= 2) page = <ImageDetailPage workspace={rest[0]} image={rest.slice(1).join('/')} key={rest.join('/')} />;
  else if (section === 'gc') page = <GcPage me={me} />;
  else {
    const view = rest[0] === 'shared' || (rest[0] === 'all' && me.cloudAdmin) ? (rest[0] as 'shared' | 'all') : 'own';
    page = <ImagesPage me={me} view={view} onUpload={() => setUpload({})} />;
  }
  const nav = [
    { id: 'images', href: href('images', 'own'), label: t('images'), active: !section || section === 'images' || section === 'image' },
    { id: 'workspaces', href: href('workspaces'), label: t('workspaces'), active: section === 'workspaces' || section === 'workspace' },
    ...(me.mayRunGc ? [{ id: 'gc', href: href('gc'), label: t('gc'), active: section === 'gc' }] : []),
  ];
  return (
    <>
      <a class="skip" href="#main">
        {t('skipToContent')}
      </a>
      <header class="top">
        <strong class="brand">{t('title')}</strong>
        <nav aria-label={t('mainNav')}>
          {nav.map((n) => (
            <a href={n.href} id={`nav-${n.id}`} aria-current={n.active ? 'page' : undefined}>
              {n.label}
            </a>
          ))}
        </nav>
        <button type="button" id="creds-open" onClick={() => setCreds(true)}>
          {t('pushCredentials')}
        </button>
        <LangSwitch onChange={() => rerender((n) => n + 1)} />
        <span class="user" id="user">
          {me.username}
          {me.cloudAdmin ? ` · ${t('cloudAdmin')}` : ''}
        </span>
        <button type="button" id="sign-out" onClick={signOut}>
          {t('signOut')}
        </button>
      </header>
      <main id="main" tabIndex={-1} key={refresh}>
        <ErrorNote error={error} />
        {page}
      </main>
      {upload ? <UploadDialog workspace={upload.workspace} onClose={() => (setUpload(null), setRefresh(refresh + 1))} /> : null}
      {creds ? <CredentialsDialog me={me} onClose={() => setCreds(false)} /> : null}
    </>
  );
}
