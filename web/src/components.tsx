import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { t } from './i18n';

/** A modal <dialog>: focus is kept inside, Escape closes it. */
export function Modal(props: { title: string; onClose: () => void; children: ComponentChildren; wide?: boolean; id?: string }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    const onCancel = (e: Event) => {
      e.preventDefault();
      props.onClose();
    };
    d?.addEventListener('cancel', onCancel);
    return () => d?.removeEventListener('cancel', onCancel);
  }, []);
  const titleId = `${props.id ?? 'dialog'}-title`;
  return (
    <dialog ref={ref} class={props.wide ? 'wide' : ''} aria-labelledby={titleId} id={props.id}>
      <header class="dialog-head">
        <h2 id={titleId}>{props.title}</h2>
        <button type="button" class="icon" onClick={props.onClose} aria-label={t('close')}>
          ×
        </button>
      </header>
      {props.children}
    </dialog>
  );
}

/**
 * A confirmation of a destructive action: the question (`children`), Cancel, and the action's button (`danger`,
 * id `<id>-<actionId>` for the browser test). Closing the dialog cancels.
 */
export function Confirm(props: { title: string; id: string; action: string; actionId: string; onConfirm: () => void; onCancel: () => void; children: ComponentChildren }) {
  return (
    <Modal title={props.title} onClose={props.onCancel} id={props.id}>
      {props.children}
      <div class="actions">
        <button type="button" onClick={props.onCancel}>
          {t('cancel')}
        </button>
        <button type="button" class="danger" id={`${props.id}-${props.actionId}`} onClick={props.onConfirm}>
          {props.action}
        </button>
      </div>
    </Modal>
  );
}

/** A command (or secret) with a copy button. */
export function CopyField(props: { label: string; value: string; multiline?: boolean; id?: string; masked?: boolean }) {
  const [copied, setCopied] = useState(false);
  const shown = props.masked ? '•'.repeat(12) : props.value;
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.value);
    } catch {
      // clipboard refused (permissions): select the text so that Ctrl+C works
      const el = document.getElementById(props.id ?? '') as HTMLTextAreaElement | null;
      el?.select();
    }
    setCopied(true);
    window.setTimeout(() => setCopied(false), 1500);
  };
  return (
    <div class="copy-field">
      <label for={props.id}>{props.label}</label>
      <div class="copy-row">
        {props.multiline ? (
          <textarea id={props.id} readOnly rows={Math.min(6, props.value.split('\n').length)} value={shown} />
        ) : (
          <input id={props.id} readOnly value={shown} />
        )}
        <button type="button" onClick={copy} aria-label={`${t('copy')}: ${props.label}`} data-copy={props.id}>
          {copied ? t('copied') : t('copy')}
        </button>
      </div>
    </div>
  );
}

export function Pager(props: { page: number; pageSize: number; total: number; onPage: (p: number) => void }) {
  const pages = Math.max(1, Math.ceil(props.total / props.pageSize));
  return (
    <nav class="pager" aria-label={t('pagination')}>
      <button type="button" disabled={props.page <= 1} onClick={() => props.onPage(props.page - 1)}>
        {t('prev')}
      </button>
      <span>{t('pageOf', { page: props.page, pages, total: props.total })}</span>
      <button type="button" disabled={props.page >= pages} onClick={() => props.onPage(props.page + 1)}>
        {t('next')}
      </button>
    </nav>
  );
}

/** A sortable column header: the server sorts (sort=name | -name …). */
export function SortHeader(props: { label: string; field: string; sort: string; onSort: (s: string) => void }) {
  const active = props.sort.replace(/^-/, '') === props.field;
  const desc = props.sort.startsWith('-');
  const next = active && !desc ? `-${props.field}` : props.field;
  return (
    <th scope="col" aria-sort={active ? (desc ? 'descending' : 'ascending') : 'none'}>
      <button type="button" class="sort" onClick={() => props.onSort(next)}>
        {props.label} {active ? (desc ? '▼' : '▲') : ''}
      </button>
    </th>
  );
}

export function ErrorNote(props: { error: unknown }) {
  if (!props.error) return null;
  const msg = props.error instanceof Error ? props.error.message : String(props.error);
  return (
    <p class="error" role="alert">
      {msg}
    </p>
  );
}

/** A disabled action says why (permission matrix): as a tooltip and as text read by screen readers. */
export function Why(props: { id: string; reason: string | null }) {
  return props.reason ? (
    <span id={props.id} class="why">
      {props.reason}
    </span>
  ) : null;
}
