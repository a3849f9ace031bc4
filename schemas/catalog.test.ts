import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { INTERNAL_RECORD_TYPES, loadSchema, RECORD_TYPE_NAMES } from './catalog';
import { valorTopology } from '../topology/valor-topology';

describe('schemas', () => {
  it('every .avsc parses and names its record type', () => {
    for (const name of RECORD_TYPE_NAMES) expect(loadSchema(name).type.name).toBe(`io.valor.v1.${name}`);
  });

  it('generated TypeScript types are up to date with the .avsc files', () => {
    // Fails (non-zero exit) when someone edits a schema without regenerating the types.
    execFileSync(process.execPath, [path.join(__dirname, '..', 'scripts', 'gen-types.js'), '--check'], { stdio: 'pipe' });
  });

  it('every record but dead letters and internal state carries the same lineage definition', () => {
    const lineages = RECORD_TYPE_NAMES.filter((n) => n !== 'DeadLetter' && !INTERNAL_RECORD_TYPES.includes(n)).map((n) => {
      const f = JSON.parse(loadSchema(n).json).fields.find((x: { name: string }) => x.name === 'lineage');
      expect(f).toBeDefined();
      return JSON.stringify(f.type);
    });
    expect(new Set(lineages).size).toBe(1);
  });

  it('every topic of the main topology has a schema', () => {
    for (const t of valorTopology().topics) expect(() => loadSchema(t.type)).not.toThrow();
  });
});
