import * as fs from 'node:fs';
import * as path from 'node:path';

// The contract says processors never see Kafka: they must run unchanged on the embedded log.
describe('processors', () => {
  it('import neither kafkajs nor the Kafka connectors', () => {
    const files = fs.readdirSync(__dirname).filter((f) => f.endsWith('.ts'));
    for (const f of files) {
      const src = fs.readFileSync(path.join(__dirname, f), 'utf8');
      expect({ file: f, kafka: /from ['"](kafkajs|[./]*connectors\/kafka[^'"]*)['"]/.test(src) }).toEqual({ file: f, kafka: false });
    }
  });
});
