// Jest runs tests in a separate VM context with its own typed-array constructors, and
// onnxruntime-node checks tensor data with instanceof against the host's. Sharing the
// host's constructors makes a Float32Array made in a test a Float32Array to onnxruntime.
const { TestEnvironment } = require('jest-environment-node');

const SHARED = ['Float32Array', 'Float64Array', 'Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array',
  'Int32Array', 'Uint32Array', 'BigInt64Array', 'BigUint64Array', 'ArrayBuffer'];

class SharedTypedArraysEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) this.global[name] = globalThis[name];
  }
}

module.exports = SharedTypedArraysEnvironment;
