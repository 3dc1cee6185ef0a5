// The layers of src/ (src/README.md draws them), checked by `npm run lint`.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      comment: 'Imports point one way, down the layers: a module never reaches itself again.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'ci-systems-only-from-entry-points',
      comment:
        'The CI system is a value the entry points choose and pass down: below them, modules know the CI seam (src/ci/ci.ts) alone.',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/(main|cli)\\.ts$', '^src/ci/'] },
      to: { path: '^src/ci/', pathNot: '^src/ci/ci\\.ts$' },
    },
    {
      name: 'entry-points-are-not-imported',
      comment: 'main.ts and cli.ts run on import: nothing may import them.',
      severity: 'error',
      from: {},
      to: { path: '^src/(main|cli)\\.ts$' },
    },
    {
      name: 'registries-apart',
      comment:
        'One file per registry: a registry does not reach into another (registry.ts and index.ts are shared).',
      severity: 'error',
      from: { path: '^src/registries/([^/]+)\\.ts$', pathNot: '^src/registries/index\\.ts$' },
      to: {
        path: '^src/registries/(pypi|rubygems|crates|npm|nuget)\\.ts$',
        pathNot: '^src/registries/$1\\.ts$',
      },
    },
    {
      name: 'below-the-flow',
      comment: 'Registries, artifacts and the CI systems are below the flow: they never import a step of it.',
      severity: 'error',
      from: { path: '^src/(registries|artifacts|ci)/' },
      to: { path: '^src/(flow/|publish\\.ts|run\\.ts|report\\.ts)' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    exclude: { path: '^(node_modules|dist|test)/' },
  },
};
