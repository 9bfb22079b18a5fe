import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/**
 * The booking page's files, read once at start and kept in memory with their gzip and ETag: the
 * page's own files from web/, and the few browser modules it imports from node_modules (Preact, its
 * hooks, htm), which the browser finds through the import map written into index.html. No build
 * step: the files are served as they are.
 */
export interface Asset {
  body: Buffer;
  gzipped: Buffer;
  etag: string;
  contentType: string;
  cacheControl: string;
}

export interface PageAssets {
  index: Asset;
  /** The SHA-256 of the inline import map, for the Content-Security-Policy. */
  importMapHash: string;
  /** web/<name> by name (index.html excluded). */
  own: Map<string, Asset>;
  /** node_modules files by their versioned name, e.g. `preact-1a2b3c4d.mjs`. */
  vendor: Map<string, Asset>;
}

/** Where the page's files are: the repository's web/ (from src/modules/page or dist/modules/page). */
export const WEB_DIR = fileURLToPath(new URL('../../../web/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Own files may change with any deploy: revalidated on every use (a 304 costs nothing). */
const REVALIDATE = 'no-cache';
/** Vendor files are named by their content hash, so a new version is a new name. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest();

function asset(body: Buffer, name: string, cacheControl: string): Asset {
  return {
    body,
    gzipped: gzipSync(body, { level: 9 }),
    etag: `"${sha256(body).toString('base64url').slice(0, 22)}"`,
    contentType: TYPES[extname(name)] ?? 'application/octet-stream',
    cacheControl,
  };
}

/** The browser modules the page imports by bare name, and the file each name resolves to. */
function vendorFiles(): Record<string, string> {
  const require = createRequire(import.meta.url);
  return {
    preact: require.resolve('preact'),
    'preact/hooks': require.resolve('preact/hooks'),
    // htm's "require" entry is CommonJS; its ES module sits beside it.
    htm: join(dirname(require.resolve('htm')), 'htm.mjs'),
  };
}

export function loadPageAssets(webDir = WEB_DIR): PageAssets {
  const vendor = new Map<string, Asset>();
  const imports: Record<string, string> = {};
  for (const [specifier, file] of Object.entries(vendorFiles())) {
    const body = readFileSync(file);
    const name = `${specifier.replace('/', '-')}-${sha256(body).toString('hex').slice(0, 12)}.mjs`;
    vendor.set(name, asset(body, name, IMMUTABLE));
    imports[specifier] = `/vendor/${name}`;
  }
  const own = new Map<string, Asset>();
  for (const name of readdirSync(webDir)) {
    if (name !== 'index.html' && TYPES[extname(name)]) own.set(name, asset(readFileSync(join(webDir, name)), name, REVALIDATE));
  }

  // Every module is preloaded at once, rather than found one import level at a time.
  const modules = [...Object.values(imports), ...[...own.keys()].filter((n) => n.endsWith('.js')).map((n) => `/assets/${n}`)];
  const importMap = JSON.stringify({ imports });
  const html = readFileSync(join(webDir, 'index.html'), 'utf8');
  if (!html.includes('<!--importmap-->')) throw new Error('web/index.html lacks the <!--importmap--> placeholder');
  const head = [`<script type="importmap">${importMap}</script>`, ...modules.map((m) => `<link rel="modulepreload" href="${m}">`)];
  const index = asset(Buffer.from(html.replace('<!--importmap-->', head.join('\n  '))), 'index.html', REVALIDATE);
  return { index, importMapHash: sha256(importMap).toString('base64'), own, vendor };
}

let loaded: PageAssets | undefined;
/** The page's files from WEB_DIR, read on first use and kept for the process. */
export const pageAssets = (): PageAssets => (loaded ??= loadPageAssets());
