// A ProcessorContext for driving one processor's operator directly (no runtime), for tests
// that must hand it values a serde would have changed (e.g. lone surrogates).
import { queueScheduler } from 'rxjs';
import { systemClock } from '../../core/clock';
import { ChangelogState } from '../../core/keyed-state';
import { silentLogger } from '../../core/logger';
import type { ProcessorContext } from '../../core/processor';
import { Resources } from '../../core/resources';
import { MemoryStoreProvider } from '../../core/store';
import { SimpleFlowControl } from '../../runtime/node-worker';

export function testProcessorContext(node: string): ProcessorContext {
  return {
    node,
    logger: silentLogger,
    clock: systemClock,
    scheduler: queueScheduler,
    flow: new SimpleFlowControl(),
    signal: new AbortController().signal,
    stores: new MemoryStoreProvider(),
    state: new ChangelogState(),
    schedule: () => undefined,
    resources: new Resources(),
    onClose: () => undefined,
  };
}
