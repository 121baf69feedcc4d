/** @type {import('jest').Config} */
module.exports = {
  // NOTE: jestjs/jest#11864: typed arrays made by onnxruntime-node's native addon belong to Node's
  // main realm and fail `instanceof Float32Array` inside jest's VM context; this environment shares
  // the main realm's typed-array constructors with the tests.
  testEnvironment: '<rootDir>/test/ort-environment.js',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  // ORT sessions and spawned CLIs are heavier than unit tests; keep them one at a time on 2 cores.
  maxWorkers: 1,
  // e2e tests spawn bin/durian.js, which runs dist/: build it once before any test.
  globalSetup: '<rootDir>/test/build-dist.js',
};
