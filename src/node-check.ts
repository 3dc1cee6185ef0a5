import { NODE_REQUIREMENT, supportsNode } from './node-version.ts';

// Imported first by the command, so it runs before any other module: on an older Node nothing else starts.
if (!supportsNode(process.versions.node)) {
  process.stderr.write(
    [
      `ERROR: trusted-publish needs ${NODE_REQUIREMENT}; this is Node ${process.versions.node}.`,
      'Fix: run it with a supported Node, e.g. in a GitLab job `image: node:24`, or install Node 24 LTS.',
      '',
    ].join('\n'),
  );
  process.exit(1);
}
