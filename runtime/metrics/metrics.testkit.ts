// Fakes for the metrics tests: a kafkajs consumer's instrumentation events.
import { EventEmitter } from 'node:events';
import type { WatchedConsumer } from './group-watch';

const EVENTS = { GROUP_JOIN: 'group-join', REBALANCING: 'rebalancing', CRASH: 'crash', STOP: 'stop', END_BATCH_PROCESS: 'end-batch' };

/** The instrumentation-event side of a kafkajs consumer: `emit(name, payload)` fires its listeners. */
export function fakeConsumer(): WatchedConsumer & { emit(event: keyof typeof EVENTS, payload?: unknown): void; listeners(): number } {
  const bus = new EventEmitter();
  return {
    events: EVENTS as unknown as WatchedConsumer['events'],
    on: ((event: string, fn: (e: unknown) => void) => {
      bus.on(event, fn);
      return () => bus.off(event, fn);
    }) as WatchedConsumer['on'],
    emit: (event, payload = {}) => void bus.emit(EVENTS[event], { payload }),
    listeners: () => bus.eventNames().reduce((n, e) => n + bus.listenerCount(e), 0),
  };
}
