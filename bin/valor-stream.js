#!/usr/bin/env node
// Entry point for `npx valor-stream`: runs the compiled CLI (npm run build / make setup).
const path = require('node:path');
const fs = require('node:fs');
const main = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
if (!fs.existsSync(main)) {
  console.error('valor-stream is not built yet: run `make setup` (or `npm run build`) first.');
  process.exit(2);
}
require(main)
  .main(process.argv)
  .catch((err) => {
    console.error(err && err.message ? err.message : err);
    process.exit(1);
  });
