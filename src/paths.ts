import fs from 'node:fs';
import path from 'node:path';

/**
 * The file system as the containment checks see it. The runner passes Node's own; tests pass `path.win32`
 * with a made-up realpath, so Windows workspaces, drives and junctions are checked on any machine.
 */
export interface FileSystemView {
  path: path.PlatformPath;
  /** The path with every symlink and junction resolved; throws when nothing is there. */
  realpath(location: string): string;
  isDirectory(location: string): boolean;
}

export const NATIVE_FILE_SYSTEM: FileSystemView = {
  path,
  realpath: (location) => fs.realpathSync(location),
  isDirectory: (location) => fs.statSync(location).isDirectory(),
};

/**
 * True when `target` is `base` or lies beneath it; both must be resolved paths of the same flavour. A name
 * that merely begins with '..' ('..cache') is inside; on Windows another drive is outside, which
 * `relative` reports as an absolute path rather than one starting with '..'.
 */
export function isInside(flavour: path.PlatformPath, base: string, target: string): boolean {
  const relative = flavour.relative(base, target);
  if (flavour.isAbsolute(relative)) return false;
  return relative.split(flavour.sep)[0] !== '..';
}
