/**
 * The change feed of one replica (no REDIS_URL): answers that mean what the Redis feed's mean
 * (test/e2e/change.feed.test.ts) — a cursor is `<epoch>:<seq>`, every name published after it comes back once and
 * in order, a reader further behind than the retention (or at a cursor this feed never gave) is told to reset.
 */
import { createChangeFeed, createInProcessChangeFeed } from '../../../adapters/redis/change.feed';

const epochOf = (cursor: string) => cursor.slice(0, cursor.lastIndexOf(':'));

describe('in-process change feed', () => {
  it('a first read answers the current position, not a reset; publish answers true', async () => {
    const f = createInProcessChangeFeed();
    expect(await f.read(undefined)).toEqual({ cursor: expect.stringMatching(/^[0-9a-f-]{36}:0$/), names: [], reset: false });
    expect(await f.publish(['a', 'b'])).toBe(true);
    expect(await f.read(undefined)).toEqual({ cursor: expect.stringMatching(/:2$/), names: [], reset: false });
  });

  it('keeps exactly the retention: a reader that far behind gets every name, one further is reset', async () => {
    const f = createInProcessChangeFeed(3);
    const start = (await f.read(undefined)).cursor;
    await f.publish(['n1', 'n2', 'n3']);
    expect(await f.read(start)).toEqual({ cursor: start.replace(/:0$/, ':3'), names: ['n1', 'n2', 'n3'], reset: false });
    const one = start.replace(/:0$/, ':1');
    await f.publish(['n4']);
    expect(await f.read(one)).toEqual({ cursor: start.replace(/:0$/, ':4'), names: ['n2', 'n3', 'n4'], reset: false });
    expect(await f.read(start)).toEqual({ cursor: start.replace(/:0$/, ':4'), names: [], reset: true });
  });

  it('a reader gets only the names after its cursor, older ones still kept; at the current position, none and no reset', async () => {
    const f = createInProcessChangeFeed();
    const start = (await f.read(undefined)).cursor;
    await f.publish(['a', 'b', 'c']);
    const now = start.replace(/:0$/, ':3');
    expect(await f.read(start.replace(/:0$/, ':1'))).toEqual({ cursor: now, names: ['b', 'c'], reset: false });
    expect(await f.read(start.replace(/:0$/, ':2'))).toEqual({ cursor: now, names: ['c'], reset: false });
    expect(await f.read(now)).toEqual({ cursor: now, names: [], reset: false });
  });

  it('one publish past the retention keeps its newest names', async () => {
    const f = createInProcessChangeFeed(2);
    const start = (await f.read(undefined)).cursor;
    await f.publish(['a', 'b', 'c']);
    expect(await f.read(start.replace(/:0$/, ':1'))).toEqual({ cursor: start.replace(/:0$/, ':3'), names: ['b', 'c'], reset: false });
  });

  it('a cursor of another epoch, from the future, not an integer, or without an epoch: reset, with the current position', async () => {
    const f = createInProcessChangeFeed();
    const start = (await f.read(undefined)).cursor;
    await f.publish(['a', 'b', 'c']);
    const now = start.replace(/:0$/, ':3');
    const epoch = epochOf(start);
    for (const cursor of [`${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}:1`, `${epoch}:4`, `${epoch}:1.5`, `${epoch}:x`, ':1', 'junk']) {
      expect(await f.read(cursor)).toEqual({ cursor: now, names: [], reset: true });
    }
  });

  it('createChangeFeed without a Redis URL is this feed, with its retention', async () => {
    const f = createChangeFeed({ name: 'local', retain: 1 });
    const start = (await f.read(undefined)).cursor;
    await f.publish(['a', 'b']);
    expect((await f.read(start)).reset).toBe(true);
    expect((await f.read(start.replace(/:0$/, ':1'))).names).toEqual(['b']);
    await f.close();
  });
});
