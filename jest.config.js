/** Tests are TypeScript, compiled per file by ts-jest (type checking is the build's job: npm test runs tsc first). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] },
  testTimeout: 180000,
  setupFiles: ['<rootDir>/test/helpers/env.ts'],
};
