// Jest runs tests in a separate VM context with its own typed-array constructors, and
// onnxruntime-node checks tensor data with instanceof against the host's. Sharing the
// host's constructors makes a Float32Array made in a test a Float32Array to onnxruntime.
//
// It also names a suite that leaves handles open (sockets, servers, child processes,
// timers): those keep the process alive after the last test. `make test` runs jest with
// --forceExit, so the run still ends; this says which suite to fix.
const { TestEnvironment } = require('jest-environment-node');

const SHARED = [
  'Float32Array',
  'Float64Array',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'BigInt64Array',
  'BigUint64Array',
  'ArrayBuffer',
];
// Handles that a suite opens and must close; others (stdio, the worker's own channel) are jest's.
const WATCHED = new Set(['TCPSocketWrap', 'TCPServerWrap', 'ProcessWrap', 'PipeServerWrap', 'Timeout', 'UDPWrap', 'FSEventWrap', 'StatWatcher']);
// How long a suite's handles get to close after its last test (sockets close asynchronously).
const GRACE_MS = 3_000;

function counts() {
  const c = new Map();
  for (const r of process.getActiveResourcesInfo()) if (WATCHED.has(r)) c.set(r, (c.get(r) ?? 0) + 1);
  return c;
}

function extra(now, before) {
  return [...now].filter(([k, n]) => n > (before.get(k) ?? 0)).map(([k, n]) => `${k} x${n - (before.get(k) ?? 0)}`);
}

class ValorTestEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    this.testPath = context.testPath;
    for (const name of SHARED) this.global[name] = globalThis[name];
  }

  async setup() {
    await super.setup();
    this.before = counts();
  }

  async teardown() {
    const deadline = Date.now() + GRACE_MS;
    let left = extra(counts(), this.before);
    while (left.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100).unref());
      left = extra(counts(), this.before);
    }
    // Straight to fd 2: jest may have replaced process.stderr's write while a suite runs.
    if (left.length) require('node:fs').writeSync(2, `[open handles] ${this.testPath} left open after its tests: ${left.join(', ')}\n`);
    await super.teardown();
  }
}

module.exports = ValorTestEnvironment;
