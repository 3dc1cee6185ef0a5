import fs from 'node:fs';
import path from 'node:path';

/**
 * The file system as the containment checks see it. The runner passes Node's own; tests pass `path.win32`
 * with a made-up realpath, so Windows workspaces, drives and junctions are checked on any machine.
 */
export interface FileSystemView {
  path: path.PlatformPath;
  /** The path with every symlink and junction resolved; throws when nothing is there. */
  realpath(p: string): string;
  isDirectory(p: string): boolean;
}

export const NATIVE_FILE_SYSTEM: FileSystemView = {
  path,
  realpath: (p) => fs.realpathSync(p),
  isDirectory: (p) => fs.statSync(p).isDirectory(),
};

/**
 * True when `target` is `base` or lies beneath it; both must be resolved paths of the same flavour. A name
 * that merely begins with '..' ('..cache') is inside; on Windows another drive is outside, which
 * `relative` reports as an absolute path rather than one starting with '..'.
 */
export function isInside(p: path.PlatformPath, base: string, target: string): boolean {
  const relative = p.relative(base, target);
  if (p.isAbsolute(relative)) return false;
  return relative.split(p.sep)[0] !== '..';
}
