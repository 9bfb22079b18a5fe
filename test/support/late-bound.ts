/**
 * An object read at each use from `current()`: a contract suite declares its tests before its
 * beforeAll makes the adapter under test, so the parts of the suite get this stand-in for it.
 */
export function lateBound<T extends object>(current: () => T): T {
  return new Proxy({} as T, {
    get: (_, key) => {
      const target = current();
      const value = Reflect.get(target, key) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
