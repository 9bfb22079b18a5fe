import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { notFound } from '../../platform/errors.js';
import type { Asset, PageAssets } from './page.assets.js';

/**
 * What the page may load: its own scripts, styles and API calls, and the one inline script (the
 * import map) by its hash. No inline code, no other origin, no framing.
 */
export function contentSecurityPolicy(importMapHash: string): string {
  return [
    "default-src 'none'",
    `script-src 'self' 'sha256-${importMapHash}'`,
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * Whether If-None-Match names `etag`: a list, `*`, or weak tags (W/"…") compared weakly, as RFC 9110
 * has it for If-None-Match.
 */
function noneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t.replace(/^W\//, '') === etag;
  });
}

function send(request: FastifyRequest, reply: FastifyReply, asset: Asset): FastifyReply {
  // The gzipped body is another representation: it has a tag of its own (RFC 9110, 8.8.3).
  const gzip = /\bgzip\b/.test(request.headers['accept-encoding'] ?? '');
  const etag = gzip ? `${asset.etag.slice(0, -1)}-gzip"` : asset.etag;
  reply
    .header('content-type', asset.contentType)
    .header('cache-control', asset.cacheControl)
    .header('etag', etag)
    .header('vary', 'accept-encoding')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer');
  if (noneMatch(request.headers['if-none-match'], etag)) return reply.code(304).send();
  if (gzip) return reply.header('content-encoding', 'gzip').send(asset.gzipped);
  return reply.send(asset.body);
}

const File = Type.Object({ file: Type.String({ maxLength: 100 }) });
/** Not part of the API: left out of the OpenAPI document. */
const hide = { hide: true };

/** The booking page at `/`, its files under /assets/ and its browser modules under /vendor/. */
export function pageRoutes(assets: PageAssets): FastifyPluginAsyncTypebox {
  const csp = contentSecurityPolicy(assets.importMapHash);
  return async (app) => {
    app.get('/', { schema: hide }, async (request, reply) =>
      send(request, reply.header('content-security-policy', csp), assets.index),
    );
    for (const [prefix, files] of [['/assets/', assets.own], ['/vendor/', assets.vendor]] as const) {
      app.get(`${prefix}:file`, { schema: { ...hide, params: File } }, async (request, reply) => {
        const asset = files.get(request.params.file);
        if (!asset) throw notFound(`${prefix}${request.params.file}`);
        return send(request, reply, asset);
      });
    }
  };
}
