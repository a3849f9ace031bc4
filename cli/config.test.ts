import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from './config';
import { ConfigError } from '../core/errors';

describe('loadConfig', () => {
  it('gives working defaults with no file', () => {
    const c = loadConfig({ env: {} });
    expect(c.runtime).toBe('embedded');
    expect(c.delivery.delivery).toBe('exactly-once');
    expect(c.kafka.brokers).toEqual(['127.0.0.1:39092']);
  });

  it('takes the broker and registry from the environment', () => {
    const c = loadConfig({ env: { KAFKA_BOOTSTRAP: 'a:1,b:2', SCHEMA_REGISTRY_URL: 'http://r:8080/apis/ccompat/v7' } });
    expect(c.kafka.brokers).toEqual(['a:1', 'b:2']);
    expect(c.registry.url).toBe('http://r:8080/apis/ccompat/v7');
  });

  it('names the bad field', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-')), 'c.json');
    fs.writeFileSync(file, JSON.stringify({ delivery: { maxInFlight: 0 }, topics: { pseudoLabels: 'bad name!' } }));
    expect(() => loadConfig({ file, env: {} })).toThrow(ConfigError);
    try {
      loadConfig({ file, env: {} });
    } catch (e) {
      expect((e as Error).message).toMatch(/delivery\.maxInFlight/);
      expect((e as Error).message).toMatch(/topics\.pseudoLabels/);
    }
  });

  it('rejects unknown keys and broken JSON', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
    fs.writeFileSync(path.join(dir, 'a.json'), JSON.stringify({ runtim: 'kafka' }));
    expect(() => loadConfig({ file: path.join(dir, 'a.json'), env: {} })).toThrow(/runtim/);
    fs.writeFileSync(path.join(dir, 'b.json'), '{nope');
    expect(() => loadConfig({ file: path.join(dir, 'b.json'), env: {} })).toThrow(/not valid JSON/);
  });

  it('suggests the key meant by a misspelt one, at the top level and inside a node config', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-')), 'c.json');
    fs.writeFileSync(file, JSON.stringify({ runtim: 'kafka', nodes: { detect: { boxTreshold: 0.3 } } }));
    expect(() => loadConfig({ file, env: {} })).toThrow(/runtim: unknown key; did you mean `runtime`\?/);
    expect(() => loadConfig({ file, env: {} })).toThrow(/nodes\.detect\.boxTreshold: unknown key; did you mean `boxThreshold`\?/);
  });

  it('reports every problem of the file at once, each at its full path', () => {
    const error = (() => {
      try {
        loadConfig({
          env: {},
          overrides: [
            [['kafka'], { brokers: ['no-port'] }],
            [['delivery', 'maxInFlight'], 0],
            [['nodes'], { detet: {}, detect: { boxThreshold: 2 }, verify: { concurency: 4 } }],
          ],
        });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    const lines = error!.message.split('\n').slice(1);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^ {2}- kafka\.brokers\.0: host:port$/),
        expect.stringMatching(/^ {2}- delivery\.maxInFlight: /),
        "  - nodes.detet: topology 'valor' has no such node; did you mean `detect`?",
        expect.stringMatching(/^ {2}- nodes\.detect\.boxThreshold: Too big/),
        '  - nodes.verify.concurency: unknown key; did you mean `concurrency`?',
      ]),
    );
    expect(lines).toHaveLength(5);
  });

  it('checks node names against the configured topology', () => {
    expect(() =>
      loadConfig({
        env: {},
        overrides: [
          [['topology'], 'passthrough'],
          [['nodes'], { detect: {} }],
        ],
      }),
    ).toThrow(/nodes\.detect: topology 'passthrough' has no such node \(known: passthrough\)/);
  });

  it('takes nodes.answer (an optional node the config switches on) and checks it like the others', () => {
    const c = loadConfig({ env: {}, overrides: [[['nodes'], { answer: { maxToolCalls: 4 } }]] });
    expect(c.nodes.answer).toEqual({ maxToolCalls: 4 });
    expect(() => loadConfig({ env: {}, overrides: [[['nodes'], { answer: { maxToolCals: 4 } }]] })).toThrow(
      /nodes\.answer\.maxToolCals: unknown key; did you mean `maxToolCalls`\?/,
    );
  });

  it('keeps the default broker when a kafka block gives only sasl', () => {
    const c = loadConfig({ env: {}, overrides: [[['kafka'], { sasl: { mechanism: 'plain', username: 'u', password: 'p' } }]] });
    expect(c.kafka.brokers).toEqual(['127.0.0.1:39092']);
    expect(c.kafka.sasl?.username).toBe('u');
    expect(loadConfig({ env: { KAFKA_BOOTSTRAP: 'k:9092' }, overrides: [[['kafka', 'ssl'], true]] }).kafka.brokers).toEqual(['k:9092']);
  });

  it('refuses a file that is not a JSON object', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-')), 'c.json');
    fs.writeFileSync(file, '[1]');
    expect(() => loadConfig({ file, env: {} })).toThrow(/must hold a JSON object/);
  });
});
