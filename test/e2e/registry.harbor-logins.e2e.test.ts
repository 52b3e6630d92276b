/**
 * Registry logins against Harbor 2.5.5's failed-login behaviour (the Harbor double with `wrongCredentialsDelayMs:
 * 1500`, as recorded in test/fixtures/harbor/issue12 R07–R10): a failed password login sleeps 1.5 s in Harbor and
 * locks that name for as long — a login under it meanwhile fails even with the right password.
 *
 * 1. Harbor's admin name, Harbor users and `robot$…` names sent to hubgate's registry front never reach Harbor: were
 *    one `admin:<guess>` passed on, Harbor would lock `admin` and every admin call hubgate makes would fail for 1.5 s
 *    (a denial of service for all tenants). hubgate's own admin calls keep working through a flood of such guesses.
 * 2. A login Harbor refuses (the robot's secret changed in Harbor behind hubgate's back) costs that client Harbor's
 *    1.5 s, but hubgate serialises login checks per (username, address) only: other users' logins and the same
 *    user's other requests are answered meanwhile, not queued behind it.
 *
 * Ordering, not timing, is asserted (which answer came first).
 */
import http from 'node:http';
import { startStack, type ProjectCredentials, type Stack } from '../support/clients';
import { requireTools } from '../support/tools';
import { REAL_HARBOR } from '../support/real-harbor';

jest.setTimeout(120_000);

const tools = requireTools('registry logins vs. Harbor failed-login lock', ['docker-registry']);
// the double's failed-login model and state are needed (secrets changed behind hubgate's back)
const d = tools.available && !REAL_HARBOR ? describe : describe.skip;
if (REAL_HARBOR) console.warn('[real Harbor] registry.harbor-logins: needs the Harbor double (changes a robot secret in its state)');

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

function get(base: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

d('registry logins and Harbor 2.5.5 failed-login sleep and lock', () => {
  let stack: Stack;
  let a: ProjectCredentials;
  let b: ProjectCredentials;
  const token = (c: { username: string; password: string }, ws: string, extra: Record<string, string> = {}) =>
    get(stack.url, `/service/token?service=harbor-registry&scope=repository:${ws}/app:pull,push`, { Authorization: basic(c.username, c.password), ...extra });

  beforeAll(async () => {
    stack = await startStack({ HUBGATE_LOGIN_MAX_FAILURES: '1000', HUBGATE_LOGIN_MAX_FAILURES_PER_ADDRESS: '1000' }, { wrongCredentialsDelayMs: 1500 });
    a = await stack.project('hl-a', [{ name: 'hl-a-ws', access: 'private' }]);
    b = await stack.project('hl-b', [{ name: 'hl-b-ws', access: 'private' }]);
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("guesses at Harbor's admin and other non-hubgate names never reach Harbor, so hubgate's admin calls are not locked out", async () => {
    stack.harbor.clearCalls();
    const guesses = ['admin', 'robot$' + a.username, 'some-harbor-user'].flatMap((user) => [
      get(stack.url, '/v2/', { Authorization: basic(user, 'guess-1') }),
      token({ username: user, password: 'guess-2' }, 'hl-a-ws'),
    ]);
    // meanwhile hubgate works with Harbor as admin (a workspace created, credentials read)
    const admin = stack.project('hl-c', [{ name: 'hl-c-ws', access: 'private' }]);
    const answers = await Promise.all(guesses);
    expect(answers.map((r) => r.status)).toEqual(Array(6).fill(401));
    for (const r of answers) expect(r.body).toContain("log in with your project's registry credentials");
    await expect(admin).resolves.toMatchObject({ username: expect.any(String) });
    // Harbor saw hubgate's admin only: no client credentials were passed on, no name got locked
    expect(stack.harbor.calls.filter((c) => c.principal !== 'admin')).toEqual([]);
    expect((await token(a, 'hl-a-ws')).status).toBe(200);
  });

  it("a login Harbor refuses costs that client Harbor's 1.5 s but holds up no other login", async () => {
    const robot = [...stack.harbor.state.robots.values()].find((r) => r.name === b.username)!;
    const original = robot.secret;
    robot.secret = 'Changed-in-Harbor-1'; // behind hubgate's back: hubgate still accepts b's password, Harbor does not
    try {
      const order: string[] = [];
      const track = (name: string, p: Promise<{ status: number }>) => p.then((r) => (order.push(name), r));
      const refused = track('b refused by Harbor', token(b, 'hl-b-ws'));
      await new Promise((r) => setTimeout(r, 200));
      const others = [
        track('a', token(a, 'hl-a-ws')),
        track('a /v2', get(stack.url, '/v2/', { Authorization: basic(a.username, a.password) })),
      ];
      const [rb, ra, rv] = await Promise.all([refused, ...others]);
      expect(rb.status).toBe(401);
      expect([ra.status, rv.status]).toEqual([200, 200]);
      expect(order[order.length - 1]).toBe('b refused by Harbor');
      // Harbor did take b's robot for a failed login (an anonymous token, which hubgate refused to pass on)
      expect(stack.harbor.calls.some((c) => c.url.startsWith('/service/token') && c.principal === '')).toBe(true);
    } finally {
      robot.secret = original;
    }
  });
});
