/*
 * The operations console (issue 16): server-rendered pages on the admin port, mounted at `/` by admin.ts. Read-only
 * pages work without JavaScript; htmx (served from here) only refreshes the live parts in place.
 *
 * Who: a login form exchanges a named credential for a session (session.ts). With no credential configured
 * (development and test only; production refuses to start without one) the caller is `development`, an operator,
 * as on the rest of the admin port.
 * State changes: POST forms only, each with the session's CSRF token, from this origin (Origin, else Referer, must
 * name this host: a browser always sends one of them on a form post), by the role the action needs.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type NextFunction, type Request, type Response } from 'express';
import { credentialFor } from '../ops/admin-auth.js';
import { html } from './html.js';
import { page, type Viewer } from './layout.js';
import { clearedCookie, cookieValue, createSession, csrfMatches, deleteSession, readSession, SESSION_COOKIE, sessionCookie } from './session.js';
import { field, type ConsoleContext } from './context.js';
import { registerDestinations } from './destinations.js';
import { registerMessages } from './messages.js';
import { registerDeadLetters } from './dead-letter-pages.js';
import { registerEvents } from './events.js';
import { registerMappings } from './mappings.js';
import { registerAlerts } from './alerts.js';
import { registerDiary } from './diary.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
/** htmx from the npm package, served from this port. */
const HTMX = path.join(path.dirname(require.resolve('htmx.org/package.json')), 'dist', 'htmx.min.js');
/** The console's CSS: beside this file in src/, copied beside the build in dist/ (bin/build-if-changed.mjs). */
const CSS = path.join(here, 'static', 'console.css');

function sameOrigin(req: Request): boolean {
  const from = req.headers.origin ?? req.headers.referer;
  if (!from) {
    return false;
  }
  try {
    return new URL(from).host === req.headers.host;
  } catch {
    return false;
  }
}

const secure = (req: Request): boolean => req.secure;

export function consoleRouter(ctx: ConsoleContext): express.Router {
  const router = express.Router();
  const devCsrf = randomBytes(24).toString('base64url');
  const loginRequired = ctx.credentials.length > 0;

  router.get('/', (_req, res) => res.redirect(302, '/console/'));
  router.get('/console/static/htmx.min.js', (_req, res) => res.setHeader('Cache-Control', 'max-age=3600').sendFile(HTMX));
  router.get('/console/static/console.css', (_req, res) => res.setHeader('Cache-Control', 'max-age=300').sendFile(CSS));

  const form = express.urlencoded({ extended: false, limit: '2mb', parameterLimit: 50 });

  // Every state change: this origin only (the cookie is SameSite=Strict too).
  router.post(/^\/console\//, (req, res, next) => {
    if (!sameOrigin(req)) {
      res.status(403).type('text').send('cross-origin or origin-less form post refused');
      return;
    }
    next();
  }, form);

  router.get('/console/login', (req, res) => {
    if (!loginRequired) {
      res.redirect(302, '/console/');
      return;
    }
    res.type('html').setHeader('Cache-Control', 'no-store');
    res.send(loginPage(field(req.query, 'error')));
  });

  router.post('/console/login', async (req, res) => {
    const c = credentialFor(ctx.credentials, `Bearer ${field(req.body, 'token', 4096) ?? ''}`);
    if (!c) {
      ctx.log.warn('console login refused: no credential matches');
      res.status(401).type('html').send(loginPage('That credential is not one of ADMIN_TOKEN / ADMIN_TOKENS.'));
      return;
    }
    await deleteSession(ctx.redis, ctx.prefix, cookieValue(req.headers.cookie, SESSION_COOKIE));
    const { id } = await createSession(ctx.redis, ctx.prefix, { actor: c.name, role: c.role });
    ctx.log.info({ actor: c.name, role: c.role }, 'console login');
    res.setHeader('Set-Cookie', sessionCookie(id, secure(req)));
    res.redirect(303, '/console/');
  });

  // Who is asking, for every other console path.
  router.use('/console', async (req: Request, res: Response, next: NextFunction) => {
    let viewer: Viewer | undefined;
    if (!loginRequired) {
      viewer = { actor: 'development', role: 'operator', csrf: devCsrf, loggedIn: false };
    } else {
      const session = await readSession(ctx.redis, ctx.prefix, cookieValue(req.headers.cookie, SESSION_COOKIE));
      if (session) {
        viewer = { actor: session.actor, role: session.role, csrf: session.csrf, loggedIn: true };
      }
    }
    if (!viewer) {
      if (req.method === 'GET' && !req.headers['hx-request']) {
        res.redirect(302, '/console/login');
      } else {
        res.status(401).type('text').send('log in first (/console/login)');
      }
      return;
    }
    if (req.method === 'POST' && !csrfMatches({ ...viewer, createdAt: 0 }, (req.body as Record<string, unknown> | undefined)?._csrf)) {
      res.status(403).type('text').send('missing or stale CSRF token: reload the page and try again');
      return;
    }
    res.locals.console = viewer;
    next();
  });

  router.post('/console/logout', async (req, res) => {
    await deleteSession(ctx.redis, ctx.prefix, cookieValue(req.headers.cookie, SESSION_COOKIE));
    res.setHeader('Set-Cookie', clearedCookie(secure(req)));
    res.redirect(303, '/console/login');
  });

  registerDestinations(router, ctx);
  registerMessages(router, ctx);
  registerDeadLetters(router, ctx);
  registerEvents(router, ctx);
  registerMappings(router, ctx);
  registerAlerts(router, ctx);
  registerDiary(router, ctx);

  // A page that could not be read (typically Redis slower than REDIS_COMMAND_TIMEOUT_MS under load) says so in the
  // console's own layout and retries, instead of express's bare 500.
  router.use('/console', (err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    ctx.log.warn({ path: req.path, err: { message: err instanceof Error ? err.message : String(err) } }, 'console page failed');
    const viewer = res.locals.console as Viewer | undefined;
    res.status(503).type('html').setHeader('Cache-Control', 'no-store').setHeader('Retry-After', '2');
    const body = html`<p class="notice error">This page could not be read just now (${err instanceof Error ? err.message : 'error'}). It retries in a few seconds.</p>`;
    res.send(req.headers['hx-request'] ? body.text : page(viewer, 'Temporarily unavailable', '', body, { refreshSeconds: 3 }));
  });
  return router;
}

function loginPage(error: string | undefined): string {
  return page(
    undefined,
    'Log in',
    '',
    html`<form method="post" action="/console/login" class="login card">
  <p>Use your named admin credential (one entry of <code>ADMIN_TOKENS</code>). Your actions are audited under its name.</p>
  ${error ? html`<p class="notice error">${error}</p>` : ''}
  <label>Credential <input type="password" name="token" autocomplete="current-password" required autofocus></label>
  <button>Log in</button>
</form>`,
  );
}
