/** Test layers: unit (domain, adapters with nock, HTTP through the app factory) and e2e (real processes). */
const tsJest = ['ts-jest', { isolatedModules: true, diagnostics: false }];
module.exports = {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': tsJest },
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
    },
    {
      displayName: 'e2e',
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': tsJest },
      testMatch: ['<rootDir>/test/e2e/**/*.test.ts'],
    },
  ],
  testTimeout: 60000,
};
