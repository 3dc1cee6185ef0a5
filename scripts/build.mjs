// Bundles the action (main.js) and the command (cli.js, package.json's bin) into dist/ (or the folder given as the first argument, used by the staleness
// test): ESM with code splitting, so registry modules a run does not use are never loaded. The banner
// gives bundled CommonJS dependencies the `require` that ESM lacks.
import { chmodSync, rmSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join } from 'node:path';
import { build } from 'esbuild';

/**
 * Start-up cost on Node 24 (npm run bench; times are for a dry run, ~190 ms in all): what the action does
 * not use must not be evaluated.
 * - @actions/core imports its OIDC client, which evaluates @actions/http-client and the undici package
 *   (~70 ms, ~6 MiB) although the action only issues workflow commands. @actions/* declare no
 *   sideEffects, so esbuild keeps every module they import; they are marked side-effect free here, which
 *   lets tree-shaking drop what is not used.
 * - An ESM import of a Node built-in reads every export, running lazy getters: `node:http` then loads
 *   Node's internal undici for WebSocket/MessageEvent, `node:crypto` loads WebCrypto (~20 ms, ~2.5 MiB).
 *   Built-ins are therefore taken with `require`, whose exports are only read where they are used.
 */
const startupCost = {
  name: 'startup-cost',
  setup(build) {
    build.onResolve({ filter: /^[a-z_:/]+$/ }, (args) => {
      if (!isBuiltin(args.path)) return undefined;
      // The shim's own require, and the require calls of bundled CommonJS code, stay plain requires.
      if (args.kind === 'require-call') return { path: args.path, external: true };
      return { path: args.path, namespace: 'builtin' };
    });
    build.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
    // Their own modules too (core's summary reads fs.promises when it is evaluated, loading readline).
    build.onResolve({ filter: /^(@actions\/|\.)/ }, async (args) => {
      if (args.pluginData?.resolving) return undefined;
      if (args.path.startsWith('.') && !/[\\/]node_modules[\\/]@actions[\\/]/.test(args.importer))
        return undefined;
      const resolved = await build.resolve(args.path, {
        kind: args.kind,
        resolveDir: args.resolveDir,
        importer: args.importer,
        pluginData: { resolving: true },
      });
      return resolved.errors.length ? undefined : { ...resolved, sideEffects: false };
    });
  },
};

const outdir = process.argv[2] ?? 'dist';
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { main: 'src/main.ts', cli: 'src/cli.ts' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  legalComments: 'linked',
  chunkNames: 'chunks/[name]-[hash]',
  // hash-wasm's package main is a UMD bundle of every algorithm; its ES build lets only BLAKE2b in.
  alias: { 'hash-wasm': 'hash-wasm/dist/index.esm.js' },
  plugins: [startupCost],
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
  logLevel: 'warning',
});
// package.json's bin: npm links it as an executable only when the file is one.
chmodSync(join(outdir, 'cli.js'), 0o755);
