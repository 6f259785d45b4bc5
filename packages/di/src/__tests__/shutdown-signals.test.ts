/** SIGTERM/SIGINT call `app.stop()`; listeners are installable and removable; exit only on opt-in. */
import 'reflect-metadata'
import { EventEmitter } from 'node:events'
import { container } from 'tsyringe'
import { expect, it } from 'vitest'
import { configure, installShutdownSignals } from '../index.js'

const tick = () => new Promise((resolve) => setImmediate(resolve))

it('stops the app on SIGTERM from the real process, then removes its listeners', async () => {
  const before = process.listenerCount('SIGTERM')
  const app = await configure(container.createChildContainer(), { transport: { kind: 'memory' } })
  await app.start()
  app.installShutdownSignals()
  expect(process.listenerCount('SIGTERM')).toBe(before + 1)
  process.emit('SIGTERM', 'SIGTERM')
  for (let i = 0; i < 200 && app.state !== 'stopped'; i++) await tick()
  expect(app.state).toBe('stopped')
  expect(process.listenerCount('SIGTERM')).toBe(before)
})

it('calls stop once per signal burst and exits only when asked', async () => {
  const source = new EventEmitter()
  const stops: unknown[] = []
  const exits: number[] = []
  const app = { stop: async (options?: unknown) => void stops.push(options ?? {}) }
  installShutdownSignals(app, { source, timeoutMs: 500, exit: true, exitProcess: (code) => exits.push(code) })
  source.emit('SIGINT')
  await tick()
  expect(stops).toEqual([{ timeoutMs: 500 }])
  expect(exits).toEqual([0])
  expect(source.listenerCount('SIGINT')).toBe(0)
  expect(source.listenerCount('SIGTERM')).toBe(0)
})

it('never exits without the opt-in, reports a failed stop, and can be removed before any signal', async () => {
  const source = new EventEmitter()
  const errors: unknown[] = []
  const failing = { stop: () => Promise.reject(new Error('drain failed')) }
  installShutdownSignals(failing, { source, onError: (e) => errors.push(e) })
  source.emit('SIGTERM')
  await tick()
  expect(errors.map(String)).toEqual(['Error: drain failed'])

  let stopped = 0
  const remove = installShutdownSignals({ stop: async () => void stopped++ }, { source })
  expect(source.listenerCount('SIGTERM')).toBe(1)
  remove()
  source.emit('SIGTERM')
  await tick()
  expect(stopped).toBe(0)
})
