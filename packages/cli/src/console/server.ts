/**
 * The web console: server-rendered pages (Hono's `html` template escapes every value) with a few
 * lines of plain script for live updates over Server-Sent Events. Everything it shows comes from
 * the SDK's public API: `Transport.health()` and `inspect()`, an ephemeral `subscribe` for the
 * tail, the CLI's dead-letter runner (a `Bus` dead-letter view) and the `ConfigStore`.
 *
 * Safety:
 * - It listens on 127.0.0.1 only, and answers only requests whose `Host` is that address or
 *   `localhost` (a DNS-rebinding page cannot reach it).
 * - Reading needs nothing; every POST needs the console token, given once at `/login` and kept in
 *   an `HttpOnly`, `SameSite=Strict` cookie, compared in constant time.
 * - Every POST must come from the console's own origin (`hono/csrf` checks `Origin`), so another
 *   site cannot submit a form with the operator's cookie.
 * - Secret configuration values show as `[secret]` and cannot be edited here (use the CLI with
 *   `--secret`); nothing can reveal them.
 */
import { timingSafeEqual } from 'node:crypto'
import type { ConfigStore } from '@switchyard/config'
import { Secret } from '@switchyard/config'
import type { Transport } from '@switchyard/core'
import { type Context, Hono } from 'hono'
import { getCookie, setCookie } from 'hono/cookie'
import { csrf } from 'hono/csrf'
import { html, raw } from 'hono/html'
import { secureHeaders } from 'hono/secure-headers'
import { streamSSE } from 'hono/streaming'
import type { HtmlEscapedString } from 'hono/utils/html'
import { shown } from '../config-command.js'
import { diffValues } from '../config-diff.js'
import type { DlqResult } from '../dlq-command.js'
import { isoTime, truncate } from '../output.js'
import { payloadText, showPayload } from '../payload.js'
import { type LagSampler, lagChart } from './lag-history.js'

type Page = HtmlEscapedString | Promise<HtmlEscapedString>

/** What the console runs on; `console-command.ts` builds it. */
export interface ConsoleDeps {
  readonly transport: Transport
  readonly store?: ConfigStore
  /** Needed by every mutating action. */
  readonly token: string
  /** The port it listens on (for the `Host` check). */
  readonly port: () => number
  /** Runs a dead-letter action (`runDlq` of the CLI). */
  readonly dlq: (
    action: 'list' | 'replay' | 'purge',
    topic: string,
    ids: readonly string[],
  ) => Promise<DlqResult>
  /** Lag samples for the table and chart, fed by the console's sampling loop. */
  readonly lag: LagSampler
}

const cookieName = 'switchyard_console'

function sameToken(given: string | undefined, token: string): boolean {
  if (given === undefined) return false
  const a = Buffer.from(given)
  const b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}

const style = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:.6em 1em;display:flex;gap:1.2em;align-items:center}
header a{color:#cfd8ff;text-decoration:none}header b{margin-right:1em}
main{padding:1em 1.5em;max-width:1100px}
table{border-collapse:collapse;background:#fff;margin:.5em 0 1em}
td,th{border:1px solid #dde1e8;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#eef1f6}code,pre{font:12px ui-monospace,monospace}pre{margin:0;white-space:pre-wrap;word-break:break-all;max-width:32em}
.up{color:#167a3a}.degraded{color:#a56a00}.down{color:#b3261e}.note{color:#555}
.flash{background:#e8f4ea;border:1px solid #9ccfa8;padding:.5em}.error{background:#fbeaea;border:1px solid #e4a3a0;padding:.5em}
.chart{color:#3157d5;background:#fff;border:1px solid #dde1e8}
form.inline{display:inline}input[type=text],textarea{font:12px ui-monospace,monospace}
`

/** Live updates: `data-sse` elements take their HTML from the named event stream. */
const script = `
for (const el of document.querySelectorAll('[data-sse]')) {
  const source = new EventSource(el.dataset.sse)
  source.addEventListener('html', (e) => { el.innerHTML = e.data })
  source.addEventListener('ready', () => { el.dataset.ready = 'true' })
  source.addEventListener('append', (e) => {
    el.insertAdjacentHTML('afterbegin', e.data)
    while (el.children.length > 200) el.lastElementChild.remove()
  })
}
`

function layout(
  title: string,
  body: Page,
  flash?: { ok?: string | undefined; error?: string | undefined },
): Page {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title} · switchyard console</title>
<style>${raw(style)}</style></head>
<body><header><b>switchyard console</b><a href="/">Status</a><a href="/lag">Lag</a><a href="/tail">Tail</a>
<a href="/dlq">Dead letters</a><a href="/config">Configuration</a><a href="/login">Token</a></header>
<main><h1>${title}</h1>
${flash?.ok ? html`<p class="flash" role="status">${flash.ok}</p>` : ''}
${flash?.error ? html`<p class="error" role="alert">${flash.error}</p>` : ''}
${body}</main><script type="module">${raw(script)}</script></body></html>`
}

function json(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? 'null'
}

function hasSecret(value: unknown): boolean {
  if (Secret.is(value)) return true
  if (Array.isArray(value)) return value.some(hasSecret)
  if (value !== null && typeof value === 'object') return Object.values(value).some(hasSecret)
  return false
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** Builds the console's Hono app. */
export function consoleApp(deps: ConsoleDeps): Hono {
  const app = new Hono()
  const { transport, store } = deps

  // Host check first: a page on another name (DNS rebinding) gets nothing.
  app.use('*', async (c, next) => {
    const host = c.req.header('host') ?? ''
    const port = deps.port()
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) {
      return c.text('This console answers only on 127.0.0.1.', 421)
    }
    await next()
  })
  app.use(
    '*',
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'", "'unsafe-inline'"],
        styleSrc: ["'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        frameAncestors: ["'none'"],
      },
    }),
  )
  app.use('*', csrf({ origin: (origin, c) => origin === new URL(c.req.url).origin }))
  // Every POST but the login itself needs the token.
  app.use('*', async (c, next) => {
    if (c.req.method === 'POST' && c.req.path !== '/login') {
      if (!sameToken(getCookie(c, cookieName), deps.token)) {
        return c.html(
          layout(
            'Token needed',
            html`<p><a href="/login">Enter the console token</a> to change anything.</p>`,
            {
              error: 'This action needs the console token (printed when the console started).',
            },
          ),
          401,
        )
      }
    }
    await next()
  })

  const loggedIn = (c: Context): boolean => sameToken(getCookie(c, cookieName), deps.token)

  const login = (c: Context, given: string | undefined) => {
    if (!sameToken(given, deps.token)) {
      return c.html(layout('Token', loginForm(), { error: 'Wrong token.' }), 401)
    }
    setCookie(c, cookieName, deps.token, { httpOnly: true, sameSite: 'Strict', path: '/' })
    return c.redirect('/?ok=token+accepted', 303)
  }
  const loginForm = (): Page => html`<form method="post" action="/login">
<label>Console token <input type="password" name="token" autocomplete="off"></label> <button>Use token</button></form>
<p class="note">Reading needs no token; replay, purge, configuration changes and rollbacks do.</p>`
  app.get('/login', (c) => {
    const token = c.req.query('token')
    if (token !== undefined) return login(c, token)
    return c.html(layout('Token', loginForm()))
  })
  app.post('/login', async (c) => {
    const form = await c.req.parseBody()
    return login(c, typeof form.token === 'string' ? form.token : undefined)
  })

  const flashOf = (c: Context) => ({
    ...(c.req.query('ok') ? { ok: c.req.query('ok') } : {}),
    ...(c.req.query('error') ? { error: c.req.query('error') } : {}),
  })

  // ---- status
  const statusHtml = async (): Promise<HtmlEscapedString> => {
    const report = await transport.health()
    const caps = Object.entries(transport.capabilities)
      .filter(([, v]) => v === true)
      .map(([k]) => k)
    return html`<table><tr><th>transport</th><td>${report.kind}</td></tr>
<tr><th>status</th><td class="${report.status}" data-testid="status">${report.status} (${report.state})${report.error ? ` — ${report.error}` : ''}</td></tr>
<tr><th>capabilities</th><td>${caps.join(', ') || '-'}</td></tr>
${Object.entries(report.details).map(([k, v]) => html`<tr><th>${k}</th><td><code>${typeof v === 'string' ? v : JSON.stringify(v)}</code></td></tr>`)}
<tr><th>configuration store</th><td>${store ? `etcd, namespace "${store.namespace}"` : 'none (start with --etcd)'}</td></tr>
</table><p class="note">Updated ${isoTime(Date.now())}</p>`
  }
  app.get('/', async (c) =>
    c.html(
      layout(
        'Status',
        html`<div data-sse="/events/status">${await statusHtml()}</div>
<p class="note">${loggedIn(c) ? 'Token accepted: actions are enabled.' : html`Read-only until you <a href="/login">enter the token</a>.`}</p>`,
        flashOf(c),
      ),
    ),
  )

  // ---- lag
  const lagHtml = (): HtmlEscapedString | Promise<HtmlEscapedString> => {
    const { inspection, error } = deps.lag.latest()
    if (inspection === undefined) return html`<p class="note">${error ?? 'sampling…'}</p>`
    return html`<table data-testid="lag-table"><tr><th>topic</th><th>group</th><th>lag / depth</th><th>consumers</th><th>partitions</th><th>over time</th></tr>
${inspection.groups.map(
  (g) => html`<tr><td>${g.topic}</td><td>${g.group}</td><td>${g.lag ?? '-'}</td><td>${g.consumers ?? '-'}</td>
<td>${g.partitions?.map((p) => `${p.partition}:${p.lag}`).join(' ') ?? '-'}</td>
<td>${raw(lagChart(deps.lag.history.of(g.topic, g.group), `${g.topic} / ${g.group}`))}</td></tr>`,
)}</table>
<p class="note">${inspection.groups.length} groups, sampled ${isoTime(inspection.at)}${inspection.complete ? '' : ' (only the groups named with --group: this broker cannot list them)'}${error ? ` — last sample failed: ${error}` : ''}</p>
${
  inspection.topics.length === 0
    ? ''
    : html`<h2>Topics</h2><table><tr><th>topic</th><th>partitions</th><th>messages retained</th></tr>
${inspection.topics.map((t) => html`<tr><td><a href="/tail?topic=${encodeURIComponent(t.name)}">${t.name}</a></td><td>${t.partitions ?? '-'}</td><td>${t.messages ?? '-'}</td></tr>`)}</table>`
}`
  }
  app.get('/lag', async (c) =>
    c.html(layout('Groups and lag', html`<div data-sse="/events/lag">${await lagHtml()}</div>`)),
  )

  app.get('/events/status', (c) =>
    streamSSE(c, async (stream) => {
      while (!stream.aborted) {
        await stream.sleep(2_000)
        await stream.writeSSE({ event: 'html', data: String(await statusHtml()) })
      }
    }),
  )
  app.get('/events/lag', (c) =>
    streamSSE(c, async (stream) => {
      const stop = deps.lag.onSample(() => {
        void (async () => stream.writeSSE({ event: 'html', data: String(await lagHtml()) }))()
      })
      await new Promise<void>((resolve) => stream.onAbort(resolve))
      stop()
    }),
  )

  // ---- tail
  app.get('/tail', (c) => {
    const topic = c.req.query('topic') ?? ''
    return c.html(
      layout(
        'Live tail',
        html`<form method="get" action="/tail"><label>Topic <input type="text" name="topic" value="${topic}"></label> <button>Tail</button></form>
${
  topic
    ? html`<p class="note">New messages of <b>${topic}</b> as they arrive (an ephemeral subscription: it takes nothing from any group).</p>
<table><thead><tr><th>time</th><th>id</th><th>key</th><th>attempt</th><th>headers</th><th>payload</th></tr></thead>
<tbody data-testid="tail" data-sse="/events/tail?topic=${encodeURIComponent(topic)}"></tbody></table>`
    : ''
}`,
      ),
    )
  })
  app.get('/events/tail', (c) => {
    const topic = c.req.query('topic') ?? ''
    return streamSSE(c, async (stream) => {
      await new Promise<void>((resolve) => {
        const subscription = transport
          .subscribe(topic, { onReady: () => void stream.writeSSE({ event: 'ready', data: topic }) })
          .subscribe({
            next: (delivery) => {
              const m = delivery.message
              delivery.ack().catch(() => undefined)
              const row = html`<tr><td>${isoTime(m.timestamp)}</td><td><code>${m.id}</code></td><td>${m.key ?? '-'}</td><td>${m.attempt}</td>
<td><code>${Object.entries(m.headers)
                .map(([k, v]) => `${k}=${v}`)
                .join(
                  ' ',
                )}</code></td><td><pre>${truncate(payloadText(showPayload(m.payload, m.headers)), 2_000)}</pre></td></tr>`
              void stream.writeSSE({ event: 'append', data: String(row).replace(/\n/g, ' ') })
            },
            error: (error: unknown) => {
              void stream.writeSSE({
                event: 'append',
                data: `<tr><td colspan="6">stopped: ${message(error)}</td></tr>`,
              })
              resolve()
            },
            complete: resolve,
          })
        stream.onAbort(() => {
          subscription.unsubscribe()
          resolve()
        })
      })
    })
  })

  // ---- dead letters
  app.get('/dlq', async (c) => {
    const topic = c.req.query('topic') ?? ''
    let body: Page = html``
    if (topic) {
      try {
        const result = await deps.dlq('list', topic, [])
        body = html`<p class="note">${result.matched.length} dead letters of <b>${topic}</b> (read without removing them).</p>
<table data-testid="dead-letters"><tr><th>id</th><th>key</th><th>error</th><th>attempts</th><th>group</th><th>dead-lettered</th><th>payload</th><th></th></tr>
${result.matched.map(
  (l) => html`<tr><td><code>${l.message.id}</code></td><td>${l.message.key ?? '-'}</td>
<td><b>${l.errorName ?? '-'}</b> ${l.errorMessage ?? ''}</td><td>${l.attempts ?? '-'}</td><td>${l.originalGroup ?? '-'}</td>
<td>${isoTime(l.deadLetteredAt)}</td><td><pre>${truncate(payloadText(showPayload(l.message.payload, l.message.headers)), 400)}</pre></td>
<td><form class="inline" method="post" action="/dlq/replay"><input type="hidden" name="topic" value="${topic}"><input type="hidden" name="id" value="${l.message.id}"><button>Replay</button></form>
<form class="inline" method="post" action="/dlq/purge"><input type="hidden" name="topic" value="${topic}"><input type="hidden" name="id" value="${l.message.id}"><button>Purge</button></form></td></tr>`,
)}</table>`
      } catch (error) {
        body = html`<p class="error" role="alert">${message(error)}</p>`
      }
    }
    return c.html(
      layout(
        'Dead letters',
        html`<form method="get" action="/dlq"><label>Topic <input type="text" name="topic" value="${topic}"></label> <button>Show dead letters</button></form>${body}`,
        flashOf(c),
      ),
    )
  })
  for (const action of ['replay', 'purge'] as const) {
    app.post(`/dlq/${action}`, async (c) => {
      const form = await c.req.parseBody()
      const topic = String(form.topic ?? '')
      const id = String(form.id ?? '')
      const back = (flash: string, kind: 'ok' | 'error'): Response =>
        c.redirect(`/dlq?topic=${encodeURIComponent(topic)}&${kind}=${encodeURIComponent(flash)}`, 303)
      if (!topic || !id) return back('Choose a dead letter first.', 'error')
      try {
        const result = await deps.dlq(action, topic, [id])
        if (result.settled === 0)
          return back(`Dead letter ${id} is no longer in the DLQ of ${topic}.`, 'error')
        return back(`${action === 'replay' ? 'Replayed' : 'Purged'} ${id}.`, 'ok')
      } catch (error) {
        return back(message(error), 'error')
      }
    })
  }

  // ---- configuration
  const noStore = (): Page =>
    html`<p class="error">No configuration store: start the console with --etcd (or SWITCHYARD_ETCD_ENDPOINTS).</p>`
  app.get('/config', async (c) => {
    if (store === undefined) return c.html(layout('Configuration', noStore()))
    const prefix = c.req.query('prefix') ?? ''
    try {
      const entries = await store.list(prefix)
      return c.html(
        layout(
          'Configuration',
          html`<form method="get" action="/config"><label>Prefix <input type="text" name="prefix" value="${prefix}"></label> <button>List</button></form>
<table data-testid="config-keys"><tr><th>key</th><th>revision</th><th>value</th></tr>
${entries.map(
  (
    e,
  ) => html`<tr><td><a href="/config/key?key=${encodeURIComponent(e.key)}">${e.key}</a></td><td>${e.revision}</td>
<td><code>${truncate(JSON.stringify(shown(e.value, false)), 120)}</code></td></tr>`,
)}</table><p class="note" data-sse="/events/config?prefix=${encodeURIComponent(prefix)}"></p>`,
          flashOf(c),
        ),
      )
    } catch (error) {
      return c.html(layout('Configuration', html`<p class="error">${message(error)}</p>`), 502)
    }
  })
  app.get('/config/key', async (c) => {
    if (store === undefined) return c.html(layout('Configuration', noStore()))
    const key = c.req.query('key') ?? ''
    try {
      const [entry, history] = await Promise.all([store.get(key), store.history(key)])
      const from = c.req.query('from')
      const to = c.req.query('to') ?? entry?.revision
      const valueAt = (revision: string | undefined): unknown => {
        const h = history.find((e) => e.revision === revision)
        return h?.action === 'put' ? shown(h.value, false) : undefined
      }
      const changes = from === undefined ? [] : diffValues(valueAt(from), valueAt(to))
      const secret = entry !== undefined && hasSecret(entry.value)
      return c.html(
        layout(
          key,
          html`${
            entry === undefined
              ? html`<p class="note">No value now.</p>`
              : html`<p>Revision <b data-testid="revision">${entry.revision}</b></p>
<pre data-testid="value">${json(shown(entry.value, false))}</pre>
${
  secret
    ? html`<p class="note">This value holds secrets: it is shown redacted and cannot be edited here (use <code>switchyard config put --secret</code>).</p>`
    : html`<h2>Edit</h2><form method="post" action="/config/put"><input type="hidden" name="key" value="${key}">
<input type="hidden" name="revision" value="${entry.revision}">
<textarea name="value" rows="6" cols="80" data-testid="editor">${json(entry.value)}</textarea><br>
<label>Comment <input type="text" name="comment" size="50"></label> <button>Save</button></form>`
}`
          }
<h2>History</h2>
<form method="get" action="/config/key"><input type="hidden" name="key" value="${key}">
<table data-testid="history"><tr><th>diff from</th><th>revision</th><th>action</th><th>time</th><th>author</th><th>comment</th><th>value</th><th></th></tr>
${[...history].reverse().map(
  (
    h,
  ) => html`<tr><td><input type="radio" name="from" value="${h.revision}"${from === h.revision ? raw(' checked') : ''}></td>
<td>${h.revision}</td><td>${h.action}</td><td>${h.audit ? isoTime(h.audit.time) : '-'}</td><td>${h.audit?.author ?? '-'}</td>
<td>${h.audit?.comment ?? ''}</td><td><code>${truncate(JSON.stringify(h.action === 'put' ? shown(h.value, false) : null), 100)}</code></td>
<td>${
    h.action === 'put' && h.revision !== entry?.revision
      ? html`<button formmethod="post" formaction="/config/rollback" name="to" value="${h.revision}">Roll back to this</button>`
      : ''
  }</td></tr>`,
)}</table><button>Diff with the current value</button></form>
${
  from === undefined
    ? ''
    : html`<h2>Changes ${from} → ${to ?? '-'}</h2><ul data-testid="diff">${
        changes.length === 0
          ? html`<li>(no changes)</li>`
          : changes.map(
              (ch) =>
                html`<li><code>${ch.kind === 'added' ? '+' : ch.kind === 'removed' ? '-' : '~'} ${ch.path}: ${
                  ch.kind === 'added'
                    ? JSON.stringify(ch.after)
                    : ch.kind === 'removed'
                      ? JSON.stringify(ch.before)
                      : `${JSON.stringify(ch.before)} → ${JSON.stringify(ch.after)}`
                }</code></li>`,
            )
      }</ul>`
}
<p class="note" data-sse="/events/config?key=${encodeURIComponent(key)}"></p>`,
          flashOf(c),
        ),
      )
    } catch (error) {
      return c.html(layout(key, html`<p class="error">${message(error)}</p>`), 502)
    }
  })
  app.post('/config/put', async (c) => {
    if (store === undefined) return c.html(layout('Configuration', noStore()), 400)
    const form = await c.req.parseBody()
    const key = String(form.key ?? '')
    const back = (kind: 'ok' | 'error', text: string): Response =>
      c.redirect(`/config/key?key=${encodeURIComponent(key)}&${kind}=${encodeURIComponent(text)}`, 303)
    let value: unknown
    try {
      value = JSON.parse(String(form.value ?? ''))
    } catch (error) {
      return back('error', `Not JSON: ${message(error)}. Nothing was written.`)
    }
    try {
      const current = await store.get(key)
      if (current !== undefined && hasSecret(current.value)) {
        return back('error', 'This value holds secrets; change it with switchyard config put --secret.')
      }
      const comment = String(form.comment ?? '')
      const result = await store.put(key, value, {
        author: 'switchyard console',
        expectedRevision: String(form.revision ?? '0'),
        ...(comment ? { comment } : {}),
      })
      return back('ok', `Saved at revision ${result.revision}.`)
    } catch (error) {
      return back('error', message(error))
    }
  })
  app.post('/config/rollback', async (c) => {
    if (store === undefined) return c.html(layout('Configuration', noStore()), 400)
    const form = await c.req.parseBody()
    const key = String(form.key ?? '')
    const to = String(form.to ?? '')
    const back = (kind: 'ok' | 'error', text: string): Response =>
      c.redirect(`/config/key?key=${encodeURIComponent(key)}&${kind}=${encodeURIComponent(text)}`, 303)
    try {
      const result = await store.rollback(key, to, {
        author: 'switchyard console',
        comment: `rollback to ${to}`,
      })
      return back('ok', `Rolled back to revision ${to}: now revision ${result.revision}.`)
    } catch (error) {
      return back('error', message(error))
    }
  })
  app.get('/events/config', (c) => {
    const key = c.req.query('key')
    const prefix = c.req.query('prefix') ?? ''
    return streamSSE(c, async (stream) => {
      if (store === undefined) return
      await new Promise<void>((resolve) => {
        const subscription = store.watch$(key === undefined ? { prefix } : key).subscribe({
          next: (event) => {
            if (event.type === 'snapshot') return
            const what =
              event.type === 'put'
                ? `${event.entry.key} changed: revision ${event.entry.revision} (reload to see it)`
                : `${event.key} deleted at revision ${event.revision}`
            void stream.writeSSE({ event: 'html', data: String(html`${what}`) })
          },
          error: () => resolve(),
          complete: resolve,
        })
        stream.onAbort(() => {
          subscription.unsubscribe()
          resolve()
        })
      })
    })
  })

  return app
}
