/**
 * Markdown descriptions rendered safely, in two layers: marked turns Markdown into HTML with raw HTML in the
 * source escaped (shown as text, never parsed as markup), then DOMPurify keeps only harmless markup (no scripts,
 * event handlers, iframes, forms, images, javascript: URLs), and every link opens in a new tab with
 * rel="noopener noreferrer".
 */
import { Marked } from 'marked';
import DOMPurify from 'dompurify';

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const marked = new Marked({
  gfm: true,
  breaks: false,
  renderer: {
    html: ({ text }) => escapeHtml(text),
  },
});

DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
});

export function renderMarkdown(source: string): string {
  const html = marked.parse(source, { async: false }) as string;
  return DOMPurify.sanitize(html, {
    USE_PROFILES: { html: true },
    FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'img'],
    FORBID_ATTR: ['style'],
    ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#|\/)/i,
  });
}
