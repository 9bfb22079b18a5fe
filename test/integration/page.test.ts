import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPageAssets } from '../../src/modules/page/page.assets.js';
import { createTestApp, expectProblem, type TestApp } from '../support/harness.js';
import { scrape } from '../support/metrics.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const assetUrls = (html: string) => [...html.matchAll(/"(\/(?:assets|vendor)\/[^"]+)"/g)].map((m) => m[1]!);

describe('the booking page’s routes', () => {
  it('serves the page at / with a Content-Security-Policy that allows its one inline script by hash', async () => {
    const res = await t.app.inject({ url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-cache');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    const inline = [...res.body.matchAll(/<script([^>]*)>([^<]*)<\/script>/g)].filter(([, attrs]) => !/\bsrc=/.test(attrs!));
    expect(inline).toHaveLength(1);
    const hash = createHash('sha256').update(inline[0]![2]!).digest('base64');
    expect(csp).toContain(`script-src 'self' 'sha256-${hash}'`);
    expect(res.body).not.toMatch(/\sstyle=|\son[a-z]+=/i);
  });

  it('serves every file the page names: its own revalidated, the vendor modules immutable, each with an ETag', async () => {
    const html = (await t.app.inject({ url: '/' })).body;
    const urls = assetUrls(html);
    expect(urls).toEqual(expect.arrayContaining(['/assets/style.css', '/assets/main.js', expect.stringMatching(/^\/vendor\/preact-/)]));
    for (const url of urls) {
      const res = await t.app.inject({ url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['cache-control'], url).toBe(url.startsWith('/vendor/') ? 'public, max-age=31536000, immutable' : 'no-cache');
      const again = await t.app.inject({ url, headers: { 'if-none-match': String(res.headers.etag) } });
      expect(again.statusCode, url).toBe(304);
    }
  });

  it('sends gzip to a client that accepts it, under an ETag of its own', async () => {
    const res = await t.app.inject({ url: '/assets/main.js', headers: { 'accept-encoding': 'gzip, br' } });
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(res.headers.vary).toBe('accept-encoding');
    const plain = await t.app.inject({ url: '/assets/main.js' });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers.etag).not.toBe(res.headers.etag);
    // A cache holding the plain body may not be told its copy is the gzipped one, nor the reverse.
    const crossed = await t.app.inject({ url: '/assets/main.js', headers: { 'if-none-match': String(res.headers.etag) } });
    expect(crossed.statusCode).toBe(200);
    expect(crossed.body).toBe(plain.body);
  });

  it('revalidates with If-None-Match as RFC 9110 reads it: a list, weak tags, *', async () => {
    const url = '/assets/main.js';
    const etag = String((await t.app.inject({ url })).headers.etag);
    for (const header of [`"other", ${etag}`, `W/${etag}`, '*']) {
      expect((await t.app.inject({ url, headers: { 'if-none-match': header } })).statusCode, header).toBe(304);
    }
    expect((await t.app.inject({ url, headers: { 'if-none-match': '"other", W/"another"' } })).statusCode).toBe(200);
  });

  it('keeps the page’s JavaScript within 60 kB gzipped', () => {
    const assets = loadPageAssets();
    const scripts = [...assets.own].filter(([name]) => name.endsWith('.js')).map(([, a]) => a);
    const total = [...scripts, ...assets.vendor.values()].reduce((sum, a) => sum + gzipSync(a.body).length, 0);
    expect(total).toBeLessThanOrEqual(60 * 1024);
  });

  it('answers an unknown file, and any unknown route, with problem+json 404', async () => {
    expectProblem(await t.app.inject({ url: '/assets/nope.js' }), 404, 'NOT_FOUND');
    expectProblem(await t.app.inject({ url: '/vendor/preact.mjs' }), 404, 'NOT_FOUND');
    expectProblem(await t.app.inject({ url: '/assets/../src/main.ts' }), 404, 'NOT_FOUND');
    expectProblem(await t.app.inject({ url: '/no/such/route' }), 404, 'NOT_FOUND');
    expectProblem(await t.app.inject({ method: 'POST', url: '/' }), 404, 'NOT_FOUND');
  });

  it('stays out of the OpenAPI document, and its files share one metrics label', async () => {
    const doc = (await t.app.inject({ url: '/docs/json' })).json() as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).filter((p) => p === '/' || p.startsWith('/assets') || p.startsWith('/vendor'))).toEqual([]);
    await t.app.inject({ url: '/assets/style.css' });
    await t.app.inject({ url: '/assets/main.js' });
    const routes = (await scrape(t.app)).series('http_requests_total').map((labels) => labels.route);
    expect(routes).toContain('/assets/:file');
    expect(routes.some((r) => r?.includes('main.js'))).toBe(false);
  });
});
