// typescript-eslint's recommended rules, without type information (fast enough for every
// `make test`); the few rules turned down say why.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const node = Object.fromEntries(
  ['process', 'console', 'Buffer', '__dirname', 'require', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'URL', 'fetch']
    .map((g) => [g, 'readonly'])
    .concat([['module', 'writable']]),
);

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'out/', '.local/', 'docker/local/target/', 'schemas/generated/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: node },
    rules: {
      // `_`-prefixed names are deliberate (positional parameters an interface requires).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // The launcher, the type generator and the jest environment are plain CommonJS.
    files: ['**/*.js'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Tests and fakes read arbitrary JSON bodies from the SDKs they answer.
    files: ['**/*.test.ts', 'test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
