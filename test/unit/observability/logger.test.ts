/**
 * The logger's free-text masking: configured secrets are masked for good, per-project secrets (derived passwords,
 * one per project and generation) only while they are among the most recent — the table walked for every log line
 * stays bounded however many projects and rotations a replica sees.
 */
import { createLogger, MAX_RECENT_SECRETS, redactText, registerSecret, registeredSecretCount } from '../../../src/observability/logger';

describe('logger secret masking', () => {
  it('masks a configured secret inside free text, and a Basic/Bearer credential quoted in an error', () => {
    registerSecret('Admin-Password-1234');
    expect(redactText('login as admin:Admin-Password-1234 failed')).toBe('login as admin:[redacted] failed');
    expect(redactText('header was Basic YWRtaW46SGFyYm9yMTIzNDU=')).toBe('header was Basic [redacted]');
    const lines: string[] = [];
    createLogger('info', (l) => lines.push(l)).warn('harbor said: Admin-Password-1234 is wrong', { note: 'Admin-Password-1234' });
    expect(lines.join('\n')).not.toContain('Admin-Password-1234');
  });

  it('keeps the table bounded under 10,000 derived passwords; the configured secret stays masked, recent ones too', () => {
    registerSecret('Configured-Key-abcdef');
    const before = registeredSecretCount();
    let last = '';
    for (let i = 0; i < 10_000; i++) {
      last = `derived-password-${i.toString().padStart(6, '0')}`;
      registerSecret(last, { pinned: false });
    }
    expect(registeredSecretCount()).toBeLessThanOrEqual(before + MAX_RECENT_SECRETS);
    expect(MAX_RECENT_SECRETS).toBe(256);
    expect(redactText('key Configured-Key-abcdef')).toBe('key [redacted]');
    expect(redactText(`password ${last}`)).toBe('password [redacted]');
    // Re-registering moves a value to the recent end instead of adding it twice.
    registerSecret(last, { pinned: false });
    expect(registeredSecretCount()).toBeLessThanOrEqual(before + MAX_RECENT_SECRETS);
  });
});
