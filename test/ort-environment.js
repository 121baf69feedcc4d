'use strict';
const { TestEnvironment } = require('jest-environment-node');

const SHARED_CONSTRUCTORS = [
  'ArrayBuffer', 'SharedArrayBuffer', 'DataView',
  'Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array',
  'Int32Array', 'Uint32Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array',
];

/** Node test environment whose typed-array constructors are those of Node's main realm. */
class OrtEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED_CONSTRUCTORS) this.global[name] = globalThis[name];
  }
}

module.exports = OrtEnvironment;
