import type NockDefault from 'nock';

/**
 * nock, loaded so that it works under jest 29 (CommonJS) on Node 20.
 *
 * nock 15 is an ES module and jest's module registry cannot load it (`Cannot use import statement outside a
 * module`); Node 20.19+ itself can `require()` it, so we ask Node's own loader, reached through
 * `process.getBuiltinModule` (jest does not intercept that). nock then patches the real `http` module, the
 * same one axios uses inside jest. Its dependency @mswjs/interceptors also calls `Promise.withResolvers`
 * (Node 22+), which Node 20 lacks: a spec-conforming shim is installed on the realm nock runs in.
 */
type GetBuiltin = (id: string) => unknown;
const getBuiltin = (process as unknown as { getBuiltinModule?: GetBuiltin }).getBuiltinModule;
if (!getBuiltin) throw new Error('nock under jest needs Node >= 20.16 (process.getBuiltinModule)');

const vm = getBuiltin('node:vm') as typeof import('node:vm');
const outerPromise = vm.runInThisContext('Promise') as PromiseConstructor & { withResolvers?: unknown };
for (const P of [outerPromise, Promise as PromiseConstructor & { withResolvers?: unknown }]) {
  if (typeof P.withResolvers !== 'function') {
    Object.defineProperty(P, 'withResolvers', {
      configurable: true,
      writable: true,
      value: function withResolvers<T>(this: PromiseConstructor) {
        let resolve!: (v: T | PromiseLike<T>) => void;
        let reject!: (e?: unknown) => void;
        const promise = new this<T>((res, rej) => {
          resolve = res;
          reject = rej;
        });
        return { promise, resolve, reject };
      },
    });
  }
}

const nodeRequire = (getBuiltin('node:module') as typeof import('node:module')).createRequire(__filename);
const loaded = nodeRequire('nock') as { default?: typeof NockDefault } & typeof NockDefault;
const nock: typeof NockDefault = loaded.default ?? loaded;
export default nock;

export type Scope = NockDefault.Scope;
export type NockOptions = NockDefault.Options;
/** A recorded JSON body as nock's request-body matcher (deep equality). */
export const bodyMatcher = (body: unknown): NockDefault.DataMatcherMap => body as NockDefault.DataMatcherMap;
