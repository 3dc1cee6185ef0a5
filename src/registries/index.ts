import type { Artifact, Registry } from './registry.ts';

export const REGISTRY_IDS = ['pypi', 'testpypi', 'rubygems', 'crates-io', 'npm', 'nuget', 'prefix'] as const;
export type RegistryId = (typeof REGISTRY_IDS)[number];

interface RegistryEntry {
  ids: readonly RegistryId[];
  /** Recognises the registry's files by name, for `registry: auto` and for discovery. */
  accepts(file: string): boolean;
  /** The files, in words, for messages. */
  files: string;
  /** Loaded only when the release needs it, so unused registries cost nothing at start-up. */
  load(): Promise<Registry<Artifact>>;
}

const ENTRIES: RegistryEntry[] = [
  {
    ids: ['pypi', 'testpypi'],
    files: 'wheels (.whl) and sdists (.tar.gz)',
    accepts: (file) => file.endsWith('.whl') || file.endsWith('.tar.gz'),
    load: async () => (await import('./pypi.ts')).pypi,
  },
  {
    ids: ['rubygems'],
    files: 'gems (.gem)',
    accepts: (file) => file.endsWith('.gem'),
    load: async () => (await import('./rubygems.ts')).rubygems,
  },
  {
    ids: ['crates-io'],
    files: 'crates (.crate)',
    accepts: (file) => file.endsWith('.crate'),
    load: async () => (await import('./crates.ts')).cratesIo,
  },
  {
    ids: ['npm'],
    files: 'npm tarballs (.tgz)',
    accepts: (file) => file.endsWith('.tgz'),
    load: async () => (await import('./npm.ts')).npm,
  },
  {
    ids: ['nuget'],
    files: 'NuGet packages (.nupkg, .snupkg)',
    // NuGet compares extensions without case; .symbols.nupkg is taken here so its reader can explain the refusal.
    accepts: (file) => /\.s?nupkg$/i.test(file),
    load: async () => (await import('./nuget.ts')).nuget,
  },
  {
    ids: ['prefix'],
    files: 'conda packages (.conda, .tar.bz2)',
    accepts: (file) => file.endsWith('.conda') || file.endsWith('.tar.bz2'),
    load: async () => (await import('./prefix.ts')).prefix,
  },
];

export function entryFor(id: RegistryId): RegistryEntry {
  const entry = ENTRIES.find((e) => e.ids.includes(id));
  if (!entry) throw new Error(`no registry module for ${id}`);
  return entry;
}

/** The registry whose files these are, by name; testpypi is chosen by repository-url, not by file. */
export function registryForFile(file: string, repositoryUrl: URL | undefined): RegistryId | undefined {
  const entry = ENTRIES.find((e) => e.accepts(file));
  if (!entry) return undefined;
  if (entry.ids.includes('testpypi') && repositoryUrl?.hostname === 'test.pypi.org') return 'testpypi';
  return entry.ids[0];
}

/** Every kind of file the action publishes, in words. */
export const PUBLISHABLE_FILES = ENTRIES.map((e) => e.files).join(', ');
