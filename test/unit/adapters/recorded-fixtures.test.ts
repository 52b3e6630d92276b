import * as fs from 'node:fs';
import * as path from 'node:path';
import { artifactPath, idFromLocation, repositoryPath, tagPath } from '../../../adapters/harbor/paths';
import { FIXTURES_DIR, SHARED_EXCHANGES_DIR, recorded } from '../../support/recorded';
import { requireFiles } from '../../support/tools';

const fixtures = fs.readdirSync(FIXTURES_DIR).filter((f) => f.endsWith('.json'));

describe('committed Harbor fixtures', () => {
  test('every fixture parses as a recorded exchange against /api/v2.0', () => {
    expect(fixtures.length).toBeGreaterThan(50);
    for (const f of fixtures) {
      const ex = recorded(Number(f.slice(0, 3)));
      expect(ex.file).toBe(f);
      expect(typeof ex.response.status).toBe('number');
    }
  });

  // Only where ../shared sits beside the clone (developer machines); CI has the committed copies alone.
  const shared = requireFiles('recorded fixtures (comparison with the shared recording)', [SHARED_EXCHANGES_DIR]).available;
  (shared ? test : test.skip)('each fixture is a verbatim copy of the shared recording', () => {
    for (const f of fixtures) {
      expect(fs.readFileSync(path.join(FIXTURES_DIR, f), 'utf8')).toBe(fs.readFileSync(path.join(SHARED_EXCHANGES_DIR, f), 'utf8'));
    }
  });
});

describe('Harbor REST paths', () => {
  test('repository paths are the ones Harbor answered 200 to (160, 180; not 158/159)', () => {
    expect(repositoryPath('beta', 'team/app')).toBe(recorded(160).request.apiPath);
    expect(repositoryPath('beta', 'team/app')).toBe(recorded(180).request.apiPath);
    expect(repositoryPath('alpha', 'app')).toBe(recorded(141).request.apiPath);
  });

  test('tag paths keep the digest readable (154)', () => {
    const ex = recorded(154);
    const [, , , , , , digest, , tag] = ex.request.apiPath.split('/');
    expect(tagPath('alpha', 'app', digest, tag)).toBe(ex.request.apiPath);
  });

  test('digest references stay literal `sha256:<hex>` in artifact paths (147): core would read `%3A` literally', () => {
    const ex = recorded(147);
    const digest = ex.request.apiPath.split('/').pop()!;
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(artifactPath('alpha', 'app', digest)).toBe(ex.request.apiPath);
    expect(artifactPath('beta', 'team/app', digest)).toBe(`/projects/beta/repositories/team%252Fapp/artifacts/${digest}`);
    expect(tagPath('beta', 'team/app', digest, 'v1')).toBe(`/projects/beta/repositories/team%252Fapp/artifacts/${digest}/tags/v1`);
  });

  test('ids from Location headers (013, 185)', () => {
    expect(idFromLocation(recorded(13).response.headers.Location)).toBe(2);
    expect(idFromLocation(recorded(185).response.headers.Location)).toBe(1);
    expect(idFromLocation(undefined)).toBeUndefined();
    expect(idFromLocation('/api/v2.0/projects/x')).toBeUndefined();
  });
});
