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
});
