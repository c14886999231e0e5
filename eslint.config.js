// ESLint for the whole TypeScript tree: typescript-eslint's type-checked recommended rules, a line length
// and a complexity limit (issue 17). `npm run lint` runs it and `npm test` runs that.
import js from '@eslint/js';
import stylistic from '@stylistic/eslint-plugin';
import tseslint from 'typescript-eslint';

/** The longest line, in characters (the house wraps long SQL and argument lists before this). */
const LINE_LENGTH_MAX = 180;
/** The most independent paths through one function (ESLint's cyclomatic `complexity`). */
const COMPLEXITY_MAX = 20;

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'docs/', 'deploy/', '.ci/', 'coverage/', '**/*.js', '**/*.cjs', '**/*.mjs'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { '@stylistic': stylistic },
    rules: {
      '@stylistic/max-len': ['error', { code: LINE_LENGTH_MAX, ignoreUrls: true, ignoreRegExpLiterals: true }],
      complexity: ['error', COMPLEXITY_MAX],
      // `_name` marks a binding kept on purpose (a destructured field left out, an unused parameter).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
);
