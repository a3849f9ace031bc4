import type { Kafka } from 'kafkajs';
import { ConfigError } from '../../core/errors';
import { MemoryRegistry } from '../../runtime/registry/memory-registry';
import { TrainingConsumer } from './training-consumer';

describe('TrainingConsumer options', () => {
  it('names the bad option', () => {
    const kafka = {} as Kafka;
    const registry = new MemoryRegistry();
    expect(() => new TrainingConsumer({ kafka, registry, type: 'PseudoLabel', topic: 't', groupId: 'g', batchSize: 0 })).toThrow(ConfigError);
    expect(() => new TrainingConsumer({ kafka, registry, type: 'PseudoLabel', topic: 't', groupId: 'g', batchSize: 0 })).toThrow(/batchSize: Too small/);
    expect(() => new TrainingConsumer({ kafka, registry, type: 'PseudoLabel', topic: 't', groupId: '' })).toThrow(/groupId/);
    expect(() => new TrainingConsumer({ kafka, registry, topic: 't', groupId: 'g' })).toThrow(/give serdes, or registry together with type/);
    expect(() => new TrainingConsumer({ kafka, registry, type: 'PseudoLabel', topic: 't', groupId: 'g', readUncommitted: true } as never)).toThrow(
      /readUncommitted/,
    );
  });
});
