/** `app.stop()` closes the app's config store, and with it every watch: nothing is left running. */
import 'reflect-metadata'
import { MemoryConfigStore } from '@switchyard/config'
import { container } from 'tsyringe'
import { describe, expect, it } from 'vitest'
import { configure } from '../index.js'

describe('stopping the app', () => {
  it('completes the watches and section streams of its config store', async () => {
    const store = new MemoryConfigStore()
    await store.put('limits', { max: 1 })
    const app = await configure(container.createChildContainer(), {
      configStore: store,
      transport: { kind: 'memory' },
    })
    await app.start()
    const ended: string[] = []
    store.watch$({ prefix: '' }).subscribe({ complete: () => ended.push('watch') })
    const section = store.section('limits', {
      '~standard': { version: 1, vendor: 'test', validate: (value) => ({ value }) },
    })
    section.value$.subscribe({ complete: () => ended.push('section') })
    await app.stop()
    expect(ended.sort()).toEqual(['section', 'watch'])
  })
})
