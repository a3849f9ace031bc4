import * as fs from 'node:fs';
import * as path from 'node:path';

// package.json sits one level up from source and two from the compiled dist/ tree.
function readVersion(): string {
  for (const dir of [path.join(__dirname, '..'), path.join(__dirname, '..', '..')]) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return '0.0.0-unknown';
}

/** valor-stream's version, stamped into every record's lineage. */
export const VERSION: string = readVersion();
