// The project's boundaries, enforced (`npm run lint`, part of `npm test`). Style is left to tsc and
// review; these rules only keep the architecture as README's "Layout" describes it.
import tseslint from 'typescript-eslint';

const ENGINES = ['node-llama-cpp', 'onnxruntime-node', 'koffi'];
// Node built-ins by bare name (`fs`, `path` …) as well as `node:*`
const NODE_BUILTINS = [
  'fs',
  'fs/promises',
  'path',
  'os',
  'crypto',
  'module',
  'url',
  'child_process',
  'worker_threads',
  'stream',
  'util',
  'readline',
  'http',
  'zlib',
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'web/**', '**/*.wasm.ts'] },
  { linterOptions: { reportUnusedDisableDirectives: 'off' } },
  {
    files: ['src/**/*.ts'],
    languageOptions: { parser: tseslint.parser },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      // engines are optional peers: loaded only through src/node/engines.ts (type imports are fine)
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: ENGINES.map((name) => ({
            name,
            allowTypeImports: true,
            message: 'load engines with loadEngine() from src/node/engines.ts',
          })),
        },
      ],
    },
  },
  {
    // the browser-safe core: everything but src/node/, src/cli/, src/eval/ and src/node.ts
    files: ['src/**/*.ts'],
    ignores: ['src/node/**', 'src/cli/**', 'src/eval/**', 'src/node.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [...ENGINES, ...NODE_BUILTINS].map((name) => ({
            name,
            allowTypeImports: true,
            message: 'the core runs in the browser: Node-only code goes under src/node/',
          })),
          patterns: [
            {
              group: ['node:*'],
              allowTypeImports: true,
              message: 'the core runs in the browser: Node-only code goes under src/node/',
            },
          ],
        },
      ],
    },
  },
  {
    // a command is a thin layer over library modules: shared code goes to a library module
    files: ['src/cli/commands/*.ts'],
    ignores: ['src/cli/commands/index.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^\\./[^/]+\\.js$',
              message: 'no command imports another command: move the shared code to a library module',
            },
          ],
        },
      ],
    },
  },
);
