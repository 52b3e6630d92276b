import { mapClaims, readClaim, type ClaimsConfig } from '../../../adapters/identity/claims.mapper';
import { AppError } from '../../../src/domain/errors';
import { createLogger } from '../../../src/observability/logger';

const claims: ClaimsConfig = {
  userId: 'sub',
  username: 'preferred_username',
  projects: 'projects',
  adminRole: 'cloud-admin',
  adminRoleSource: 'realm',
};

const base = { sub: 'u-1', preferred_username: 'alice' };

describe('readClaim', () => {
  it('prefers an exact key, then walks a dot path', () => {
    expect(readClaim({ 'a.b': 1, a: { b: 2 } }, 'a.b')).toBe(1);
    expect(readClaim({ a: { b: { c: 3 } } }, 'a.b.c')).toBe(3);
    expect(readClaim({ a: { b: 2 } }, 'a.x')).toBeUndefined();
    expect(readClaim({ a: 'str' }, 'a.length')).toBeUndefined();
    expect(readClaim({}, 'constructor')).toBeUndefined();
    expect(readClaim({}, 'a.constructor')).toBeUndefined();
  });
});

describe('mapClaims', () => {
  it('maps user id and username; username falls back to the user id', () => {
    expect(mapClaims(base, claims)).toEqual({ userId: 'u-1', username: 'alice', isCloudAdmin: false, projects: [] });
    expect(mapClaims({ sub: 'u-2' }, claims).username).toBe('u-2');
    expect(mapClaims({ sub: 'u-2', preferred_username: '  ' }, claims).username).toBe('u-2');
  });

  it('uses configured claim names', () => {
    const p = mapClaims({ uid: 'x', login: { name: 'bob' } }, { ...claims, userId: 'uid', username: 'login.name' });
    expect([p.userId, p.username]).toEqual(['x', 'bob']);
  });

  it.each([[{}], [{ sub: '' }], [{ sub: 42 }], [{ sub: ['a'] }]])('refuses a missing or non-string user id %j', (payload) => {
    expect(() => mapClaims(payload, claims)).toThrow(AppError);
    expect(() => mapClaims(payload, claims)).toThrow('missing claim sub');
  });

  describe('cloud admin', () => {
    it('from realm roles only when the source is realm', () => {
      expect(mapClaims({ ...base, realm_access: { roles: ['x', 'cloud-admin'] } }, claims).isCloudAdmin).toBe(true);
      expect(mapClaims({ ...base, resource_access: { hubgate: { roles: ['cloud-admin'] } } }, claims).isCloudAdmin).toBe(false);
      expect(mapClaims({ ...base, roles: ['cloud-admin'] }, claims).isCloudAdmin).toBe(false);
    });

    it('from the named client only when the source is client:<id>', () => {
      const c = { ...claims, adminRoleSource: 'client:hubgate' };
      expect(mapClaims({ ...base, resource_access: { hubgate: { roles: ['cloud-admin'] } } }, c).isCloudAdmin).toBe(true);
      expect(mapClaims({ ...base, resource_access: { console: { roles: ['cloud-admin'] } } }, c).isCloudAdmin).toBe(false);
      expect(mapClaims({ ...base, realm_access: { roles: ['cloud-admin'] } }, c).isCloudAdmin).toBe(false);
    });

    it.each([
      [{ realm_access: { roles: 'cloud-admin' } }],
      [{ realm_access: ['cloud-admin'] }],
      [{ realm_access: { roles: ['Cloud-Admin', 'cloud-admin-x'] } }],
      [{ realm_access: null }],
    ])('is false for near misses %j', (extra) => {
      expect(mapClaims({ ...base, ...extra }, claims).isCloudAdmin).toBe(false);
    });
  });

  describe('projects', () => {
    const p = (id: string, department = 'd1', name = `N ${id}`) => ({ id, name, department });

    it('reads objects; name defaults to the id; numeric ids become strings', () => {
      const out = mapClaims({ ...base, projects: [p('a'), { id: 'b', department: 'd2' }, { id: 7, name: 'Seven', department: 'd3' }] }, claims);
      expect(out.projects).toEqual([p('a'), { id: 'b', name: 'b', department: 'd2' }, { id: '7', name: 'Seven', department: 'd3' }]);
    });

    it('reads "<department>/<projectId>" strings and JSON object strings', () => {
      const out = mapClaims({ ...base, projects: ['d1/p1', ' d2 / p2 ', JSON.stringify(p('p3'))] }, claims);
      expect(out.projects).toEqual([
        { id: 'p1', name: 'p1', department: 'd1' },
        { id: 'p2', name: 'p2', department: 'd2' },
        p('p3'),
      ]);
    });

    it('reads a JSON string holding the array, and a single string as one entry', () => {
      expect(mapClaims({ ...base, projects: JSON.stringify([p('a')]) }, claims).projects).toEqual([p('a')]);
      expect(mapClaims({ ...base, projects: 'd9/z' }, claims).projects).toEqual([{ id: 'z', name: 'z', department: 'd9' }]);
      expect(mapClaims({ ...base, projects: '[not json' }, claims).projects).toEqual([]);
    });

    it('ignores invalid entries and keeps the first of repeated ids', () => {
      const entries = [
        p('ok'),
        { id: 'no-dept' },
        { department: 'no-id' },
        { id: '', department: 'd' },
        { id: 'x'.repeat(256), department: 'd' },
        { id: 'ctl\u0007', department: 'd' },
        { id: 'bad-name', name: 5, department: 'd' },
        { id: 1.5, department: 'd' },
        'no-slash',
        '/leading',
        'a/b/c',
        null,
        ['nested'],
        p('ok', 'other-dept'),
      ];
      expect(mapClaims({ ...base, projects: entries }, claims).projects).toEqual([p('ok')]);
    });

    it('is empty when the claim is missing or not a list', () => {
      expect(mapClaims(base, claims).projects).toEqual([]);
      expect(mapClaims({ ...base, projects: { id: 'a', department: 'd' } }, claims).projects).toEqual([]);
      expect(mapClaims({ ...base, projects: 3 }, claims).projects).toEqual([]);
    });
  });

  describe('edges that decide who is a member of what', () => {
    const p = (id: string, department = 'd1') => ({ id, name: id, department });
    /** mapClaims with a debug logger: the principal and the debug lines (message and fields). */
    const mapped = (payload: Record<string, unknown>, c: ClaimsConfig = claims) => {
      const lines: string[] = [];
      const principal = mapClaims({ ...base, ...payload }, c, createLogger('debug', (l) => lines.push(l)));
      return { principal, debug: lines.map((l) => JSON.parse(l) as Record<string, unknown>).map(({ msg, claim, invalid, duplicates, type }) => ({ msg, claim, invalid, duplicates, type })) };
    };

    it('a user id of blanks is no user id', () => {
      expect(() => mapClaims({ ...base, sub: '   ' }, claims)).toThrow(new AppError('unauthorized', 'missing claim sub'));
    });

    it('an admin role source that is neither realm nor client:<id> grants nothing (fail closed), whatever the token holds', () => {
      const token = { realm_access: { roles: ['cloud-admin'] }, resource_access: { '': { roles: ['cloud-admin'] }, x: { roles: ['cloud-admin'] } } };
      expect(mapClaims({ ...base, ...token }, { ...claims, adminRoleSource: 'bogus' }).isCloudAdmin).toBe(false);
      expect(mapClaims({ ...base, ...token }, { ...claims, adminRoleSource: 'client:x' }).isCloudAdmin).toBe(true);
    });

    it('a JSON array or object string with blanks before it is still JSON', () => {
      expect(mapped({ projects: '  [{"id":"p1","department":"d"}]' }).principal.projects).toEqual([{ id: 'p1', name: 'p1', department: 'd' }]);
      expect(mapped({ projects: ['  {"id":"p2","department":"d"}'] }).principal.projects).toEqual([{ id: 'p2', name: 'p2', department: 'd' }]);
    });

    it('an id that is neither a string nor a safe integer is refused, not turned into text', () => {
      const out = mapped({ projects: [{ id: { x: 1 }, department: 'd' }, { id: true, department: 'd' }, { id: 2 ** 53, department: 'd' }, { id: 12, department: 'd' }] });
      expect(out.principal.projects).toEqual([{ id: '12', name: '12', department: 'd' }]);
    });

    it('a null name is no name (the id is used); an empty or blank one is an invalid entry', () => {
      expect(mapped({ projects: [{ id: 'p1', name: null, department: 'd' }, { id: 'p2', name: ' ', department: 'd' }, { id: 'p3', name: '', department: 'd' }] }).principal.projects).toEqual([
        { id: 'p1', name: 'p1', department: 'd' },
      ]);
    });

    it('a field of exactly 255 characters is kept, 256 is refused; blanks around a field are trimmed', () => {
      const id255 = 'i'.repeat(255);
      expect(mapped({ projects: [{ id: id255, department: 'd' }, { id: `${id255}j`, department: 'd' }, { id: ' p ', department: ' d ' }] }).principal.projects).toEqual([
        { id: id255, name: id255, department: 'd' },
        { id: 'p', name: 'p', department: 'd' },
      ]);
    });

    it('debug log: one line naming the counts of invalid and repeated entries; none when every entry is fine or the claim is absent', () => {
      expect(mapped({ projects: [p('a'), 'no-slash', p('a'), p('b')] }).debug).toEqual([{ msg: 'token project entries ignored', claim: 'projects', invalid: 1, duplicates: 1, type: undefined }]);
      expect(mapped({ projects: [p('a'), p('a')] }).debug).toEqual([{ msg: 'token project entries ignored', claim: 'projects', invalid: 0, duplicates: 1, type: undefined }]);
      expect(mapped({ projects: [p('a'), 'x'] }).debug).toEqual([{ msg: 'token project entries ignored', claim: 'projects', invalid: 1, duplicates: 0, type: undefined }]);
      expect(mapped({ projects: [p('a'), p('b')] }).debug).toEqual([]);
      expect(mapped({}).debug).toEqual([]);
      expect(mapped({ projects: null }).debug).toEqual([]);
      expect(mapped({ projects: 3 }).debug).toEqual([{ msg: 'token projects claim ignored: not a list', claim: 'projects', invalid: undefined, duplicates: undefined, type: 'number' }]);
    });
  });
});
