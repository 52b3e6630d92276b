/**
 * Harbor 2.5.5's answer to a failed password login (core/auth/authenticator.go, seen on the real Harbor: recording 011
 * and test/fixtures/harbor/issue12/): the request sleeps 1.5 s, and the username is locked for those 1.5 s — any
 * login under that name meanwhile (even with the right password) fails at once, without the sleep. Robots are
 * checked before the password login, so a robot with its right secret is never locked out; a wrong robot secret
 * falls through to the password login and is delayed and locked like any other name. Each name has its own lock:
 * other users are never held up.
 */
export class LoginLocks {
  private failures = new Map<string, number>();

  constructor(private readonly freezeMs: () => number) {}

  /** A password login under `username` now: 'locked' (fail at once), or the caller checks the password. */
  locked(username: string): boolean {
    const ms = this.freezeMs();
    const at = this.failures.get(username);
    return ms > 0 && at !== undefined && Date.now() - at <= ms;
  }

  /** Records a failed password login; resolves after Harbor's sleep (at once when the delay is 0). */
  async failed(username: string): Promise<void> {
    const ms = this.freezeMs();
    if (ms <= 0) return;
    this.failures.set(username, Date.now());
    await new Promise((r) => setTimeout(r, ms));
  }

  clear(): void {
    this.failures.clear();
  }
}
