import type { Ci, CiId } from './ci.ts';

import { circleCi } from './circleci.ts';
import { githubActions } from './github.ts';
import { gitlabCi } from './gitlab.ts';
import { localMachine } from './local.ts';

type Env = Record<string, string | undefined>;

/** Where this process runs, from the variables each CI system sets in every job. */
export function detectCi(env: Env): CiId {
  if (env.GITHUB_ACTIONS === 'true') return 'github';
  if (env.GITLAB_CI === 'true') return 'gitlab';
  if (env.CIRCLECI === 'true') return 'circleci';
  return 'local';
}

/** The CI system of this run; the entry points choose it once and hand it down. */
export function ciFor(env: Env): Ci {
  const id = detectCi(env);
  if (id === 'github') return githubActions(env);
  if (id === 'gitlab') return gitlabCi(env);
  if (id === 'circleci') return circleCi(env);
  return localMachine(env);
}
