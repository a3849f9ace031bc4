// Two projects: unit tests run in parallel with no services; integration tests need the
// real broker + registry that `make test` starts (scripts/services.sh) and run in band.
// Transpile only: `make test` type-checks the whole tree once with tsc before jest runs.
const tsJest = ['ts-jest', { diagnostics: false }];
// Generous per-test bound: a busy 2-core machine can run a test several times slower than an
// idle one, and a test must fail on what it asserts, not on how fast it ran.
const testTimeout = 120_000;
module.exports = {
  testTimeout,
  projects: [
    {
      displayName: 'unit',
      testEnvironment: '<rootDir>/test/harness/node-environment.js',
      transform: { '^.+\\.ts$': tsJest },
      testMatch: ['<rootDir>/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '/dist/', '<rootDir>/test/integration/'],
    },
    {
      displayName: 'integration',
      testEnvironment: '<rootDir>/test/harness/node-environment.js',
      transform: { '^.+\\.ts$': tsJest },
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
    },
  ],
};
