import type { Artifact, Registry } from './registry.ts';

export const REGISTRY_IDS = ['pypi', 'testpypi', 'rubygems'] as const;
export type RegistryId = (typeof REGISTRY_IDS)[number];

interface RegistryEntry {
  ids: readonly RegistryId[];
  /** Recognises the registry's files by name, for `registry: auto` and for discovery. */
  accepts(file: string): boolean;
  /** Loaded only when the release needs it, so unused registries cost nothing at start-up. */
  load(): Promise<Registry<Artifact>>;
}

const ENTRIES: RegistryEntry[] = [
  {
    ids: ['pypi', 'testpypi'],
    accepts: (file) => file.endsWith('.whl') || file.endsWith('.tar.gz'),
    load: async () => (await import('./pypi.ts')).pypi,
  },
  {
    ids: ['rubygems'],
    accepts: (file) => file.endsWith('.gem'),
    load: async () => (await import('./rubygems.ts')).rubygems,
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
