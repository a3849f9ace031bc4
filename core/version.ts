// eslint-disable-next-line @typescript-eslint/no-require-imports
const pkg = require('../package.json') as { version: string };

/** valor-stream's version, stamped into every record's lineage. */
export const VERSION: string = pkg.version;
