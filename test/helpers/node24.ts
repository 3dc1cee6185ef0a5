/**
 * GitHub runs the action on Node 24 (`runs.using: node24`), so the tests run the bundle there too, wherever
 * one can be had: TP_NODE24 (a path) when set, else the binary of this platform's `node-<os>-<cpu>` package
 * (an optional dependency: npm installs the one that fits and skips the others), else this process's own
 * Node when it is 24. Failing all three, the bundle runs on this Node and `runtimeNote` says so.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const WANTED_MAJOR = 24;

function major(node: string): number | undefined {
  try {
    const version = execFileSync(node, ['--version'], { encoding: 'utf8', timeout: 30_000 });
    return Number(/^v(\d+)\./.exec(version.trim())?.[1]);
  } catch {
    return undefined;
  }
}

/** Where this platform's Node package puts its binary (the packages name Windows `win`). */
export function packagedNode(root: string, platform = process.platform, arch = process.arch): string {
  const os = platform === 'win32' ? 'win' : platform;
  const binary = platform === 'win32' ? 'node.exe' : 'node';
  return path.join(root, 'node_modules', `node-${os}-${arch}`, 'bin', binary);
}

export interface Runtime {
  node: string;
  /** Which Node runs the bundle and why, for the test log. */
  note: string;
}

export function findNode24(root: string): Runtime {
  const explicit = process.env.TP_NODE24;
  if (explicit) return { node: explicit, note: `the bundle runs on ${explicit} (TP_NODE24)` };
  const packaged = packagedNode(root);
  if (fs.existsSync(packaged) && major(packaged) === WANTED_MAJOR) {
    return { node: packaged, note: `the bundle runs on Node 24 from ${path.relative(root, packaged)}` };
  }
  if (major(process.execPath) === WANTED_MAJOR) {
    return { node: process.execPath, note: `the bundle runs on this Node 24 (${process.execPath})` };
  }
  return {
    node: process.execPath,
    note: `Node 24 not found (no ${path.relative(root, packaged)}, and this is Node ${process.versions.node}): the bundle runs on Node ${process.versions.node}; install Node 24 or set TP_NODE24 to test on GitHub's runtime`,
  };
}
