// Lint rules that catch what the type checker does not: promises nobody awaits or handles (a floating
// promise in a handler is an unhandled rejection waiting to happen), `any` leaking through, dead code.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "tests/bench/peers/**", "tests/.tmp/**", "**/*.mjs", "**/*.js", "**/*.d.mts"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["src/**/*.ts", "tests/**/*.ts", "vitest.config.ts"],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: { arguments: false, attributes: false } }],
      "@typescript-eslint/await-thenable": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none", ignoreRestSiblings: true }],
      "@typescript-eslint/no-explicit-any": "error",
      "no-empty": ["error", { allowEmptyCatch: true }],
    },
  },
  // Rendered manifests and rule files are parsed YAML walked by path: typing every Kubernetes object is not worth it there.
  { files: ["tests/deploy/**/*.ts"], rules: { "@typescript-eslint/no-explicit-any": "off" } },
);
