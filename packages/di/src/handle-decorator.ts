/**
 * `@Handle(topic, options)`: binds a method of a tsyringe-managed class to a topic and group.
 *
 * The decorator only records the binding; nothing subscribes until `SwitchyardApp.start()`
 * resolves the class from the container and calls `bus.handle(topic, options, method)` for each
 * binding. This module holds the decorator and the lookup of bindings, no lifecycle.
 */
import type { HandleOptions, HandlerContext, Message } from '@switchyard/core'

/** One `@Handle` on one method. */
export interface HandlerBinding {
  readonly topic: string
  readonly options: HandleOptions
  /** The decorated method's name. */
  readonly method: string | symbol
}

/** A method that can be bound: it receives the decoded message and the handler context. */
export type HandlerMethod = (message: Message<never>, context: HandlerContext) => unknown

const bindings = new WeakMap<object, HandlerBinding[]>()

/**
 * Marks a method as the handler of `topic`. When the app starts, the method is subscribed with
 * `bus.handle(topic, options, …)` on the instance the container resolves, so the Bus settles each
 * delivery from the method's outcome: resolve to acknowledge, throw to fail the attempt (then
 * retry and dead-letter per `options.retry`).
 *
 * **When to use**: in a service class listed in `configure(container, { services })`.
 * **Details**: `options` are the Bus's `HandleOptions` (group, concurrency, retry, timeoutMs,
 * inFlight, ordered, deadLetterTopic, codec). A class may bind several methods, and one method
 * several topics. Bindings are inherited by subclasses.
 *
 * @example
 * ```ts
 * @injectable()
 * class Notifications {
 *   @Handle('talent.registered', { group: 'notifications', retry: { attempts: 5 } })
 *   async onRegistered(message: Message<TalentRegistered>) { await this.mailer.send(message.payload) }
 * }
 * ```
 */
export function Handle(topic: string, options: HandleOptions = {}) {
  return <M extends HandlerMethod>(
    target: object,
    method: string | symbol,
    _descriptor: TypedPropertyDescriptor<M>,
  ): void => {
    const list = bindings.get(target) ?? []
    list.push({ topic, options, method })
    bindings.set(target, list)
  }
}

/**
 * Every `@Handle` binding of a class, including those inherited from its base classes
 * (base class first, then in declaration order).
 */
export function handlersOf(type: abstract new (...args: never[]) => unknown): readonly HandlerBinding[] {
  const chain: object[] = []
  for (let proto: unknown = type.prototype; proto && proto !== Object.prototype; ) {
    chain.unshift(proto)
    proto = Object.getPrototypeOf(proto)
  }
  return chain.flatMap((proto) => bindings.get(proto) ?? [])
}
