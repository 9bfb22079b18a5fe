import { describe, expect, it } from 'vitest';
import { createResources, StartAborted } from '../../src/platform/lifecycle.js';

describe('resources of a start', () => {
  it('are released in reverse order, every one even when one fails, and the failures are reported', async () => {
    const released: string[] = [];
    const resources = createResources();
    resources.own('database', 'db', (v) => void released.push(v));
    resources.own('redis', 'redis', async () => {
      released.push('redis');
      throw new Error('quit failed');
    });
    const server = resources.own('server', { name: 'server' }, (s) => void released.push(s.name));
    expect(server).toEqual({ name: 'server' });

    const failures = await resources.stop();
    expect(released).toEqual(['server', 'redis', 'db']);
    expect(failures.map((f) => f.name)).toEqual(['redis']);
    expect(await resources.stop()).toBe(failures); // once only
    expect(released).toHaveLength(3);
  });

  it('release what arrives after the stop began at once, and tell the start to give up', async () => {
    const released: string[] = [];
    const resources = createResources();
    const stopped = resources.stop();
    expect(resources.stopping).toBe(true);
    expect(() => resources.own('late', 'late', (v) => void released.push(v))).toThrow(StartAborted);
    expect(await stopped).toEqual([]);
    expect(released).toEqual(['late']);
  });
});
