import { loadConfig } from '../config';
import { knownTopics, parseWhere, toJsonLine } from './tail';

describe('tail', () => {
  it('knows every topic of the topology plus the verdict store and the label log, with their types', () => {
    const t = knownTopics(loadConfig({ env: {} }));
    expect(t.get('valor.pseudo-labels')).toBe('PseudoLabel');
    expect(t.get('valor.human-verdicts')).toBe('HumanVerdict');
    expect(t.get('valor.store.verdicts')).toBe('VerdictCacheEntry');
    expect(t.get('valor.labels')).toBe('LabelLogEntry');
    expect(t.get('valor.dead-letters')).toBe('DeadLetter');
  });

  it('filters on dot paths, every condition at once', () => {
    const keep = parseWhere(['node=verify', 'source.partition=2']);
    expect(keep({ node: 'verify', source: { partition: 2 } })).toBe(true);
    expect(keep({ node: 'verify', source: { partition: 1 } })).toBe(false);
    expect(keep({ node: 'plan' })).toBe(false);
    expect(() => parseWhere(['novalue'])).toThrow(/expected field.path=value/);
  });

  it('prints bytes as base64 so a record stays one line', () => {
    expect(toJsonLine({ payload: Buffer.from('hi\n') })).toBe('{"payload":{"base64":"aGkK"}}');
  });
});
